// The rules of a snapshot as `ipvsadm-save -n` prints them (ipvsadm 1.31, FMT_RULE in print_service_entry):
// services and destinations in ipvsadm's order (libipvs ipvs_cmp_services / ipvs_cmp_dests), one line each.
// Used to export a table in the administrator's own language, and by the tests as the bridge to ipvsadm:
// the same table read by this code and by ipvsadm must print the same text.
import { parseIPv4, parseIPv6 } from "./addr";
import { IPPROTO } from "./constants";
import { isFwmarkService, type Destination, type ServiceExtended, type ServiceWithDestinations } from "./types";

const i32 = (n: number) => n | 0;

function addrWords(family: string, address: string): number[] {
  const b = family === "inet" ? parseIPv4(address) : parseIPv6(address);
  if (!b) return [0];
  const words: number[] = [];
  for (let i = 0; i < b.length; i += 4) words.push(((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0);
  return words;
}

/** ipvs_cmp_services: fwmark, family, protocol, address, port, each as a (wrapping) C int difference. */
export function compareServices(a: ServiceExtended, b: ServiceExtended): number {
  const fa = isFwmarkService(a.service) ? a.service.fwmark : 0;
  const fb = isFwmarkService(b.service) ? b.service.fwmark : 0;
  const af = (s: ServiceExtended) => (s.service.family === "inet" ? 2 : 10);
  const proto = (s: ServiceExtended) => (isFwmarkService(s.service) ? IPPROTO.tcp : IPPROTO[s.service.protocol]);
  let r = i32(fa - fb) || af(a) - af(b) || proto(a) - proto(b);
  if (r) return r;
  if (isFwmarkService(a.service) || isFwmarkService(b.service)) return 0;
  const wa = addrWords(a.service.family, a.service.address);
  const wb = addrWords(b.service.family, b.service.address);
  for (let i = 0; !r && i < wa.length; i++) r = i32(wa[i]! - (wb[i] ?? 0));
  return r || a.service.port - b.service.port;
}

/** ipvs_cmp_dests: address, then port. */
export function compareDests(a: Destination, b: Destination): number {
  const wa = addrWords(a.family, a.address);
  const wb = addrWords(b.family, b.address);
  let r = 0;
  for (let i = 0; !r && i < wa.length; i++) r = i32(wa[i]! - (wb[i] ?? 0));
  return r || a.port - b.port;
}

const PROTO_SWITCH = { tcp: "-t", udp: "-u", sctp: "--sctp-service" } as const;

function hostPort(family: string, address: string, port: number): string {
  return family === "inet6" ? `[${address}]:${port}` : `${address}:${port}`;
}

/** "-t 192.0.2.1:80", "-f 42 -6": how ipvsadm names a service in a rule. */
export function serviceSwitch(s: ServiceExtended["service"]): string {
  if (isFwmarkService(s)) return `-f ${s.fwmark}${s.family === "inet6" ? " -6" : ""}`;
  return `${PROTO_SWITCH[s.protocol]} ${hostPort(s.family, s.address, s.port)}`;
}

function schedFlagNames(s: ServiceExtended): string[] {
  const names = s.scheduler === "sh" || s.scheduler === "mh" ? [`${s.scheduler}-fallback`, `${s.scheduler}-port`, "flag-3"] : ["flag-1", "flag-2", "flag-3"];
  return [s.flags.sched1, s.flags.sched2, s.flags.sched3].flatMap((on, i) => (on ? [names[i]!] : []));
}

export function serviceRule(s: ServiceExtended): string {
  let line = `-A ${serviceSwitch(s.service)} -s ${s.scheduler}`;
  if (s.flags.persistent) {
    line += ` -p ${s.timeout}`;
    const m = s.service.netmask;
    if (m.kind === "mask" && m.mask !== "255.255.255.255") line += ` -M ${m.mask}`;
    if (m.kind === "prefix" && m.prefix !== 128) line += ` -M ${m.prefix}`;
  }
  if (s.persistenceEngine) line += ` --pe ${s.persistenceEngine}`;
  if (s.flags.onePacket) line += " -o";
  const flags = schedFlagNames(s);
  if (flags.length) line += ` -b ${flags.join(",")}`;
  return line;
}

const FWD_SWITCH = { masq: "-m", local: "-g", tunnel: "-i", route: "-g", bypass: "-?" } as const;

export function destRule(s: ServiceExtended, d: Destination): string {
  let line = `-a ${serviceSwitch(s.service)} -r ${hostPort(d.family, d.address, d.port)} ${FWD_SWITCH[d.forward]} -w ${d.weight}`;
  if (d.forward === "tunnel" && d.tunnel) {
    line += ` --tun-type ${d.tunnel.type}`;
    if (d.tunnel.type === "gue") line += ` --tun-port ${d.tunnel.port}`;
    if (d.tunnel.type !== "ipip") line += d.tunnel.remcsum ? " --tun-remcsum" : d.tunnel.csum ? " --tun-csum" : " --tun-nocsum";
  }
  return line;
}

/** The whole table as `ipvsadm-save -n` prints it, newline-terminated lines. */
export function formatIpvsadmSave(table: ServiceWithDestinations[]): string {
  const lines: string[] = [];
  for (const s of [...table].sort(compareServices)) {
    lines.push(serviceRule(s));
    for (const d of [...s.destinations].sort(compareDests)) lines.push(destRule(s, d));
  }
  return lines.map((l) => l + "\n").join("");
}
