// Writes a rule table in the exact text `ipvsadm-save -n` (ipvsadm -S -n) prints for the same kernel
// table, so that the two can be compared byte for byte. The project's one ipvsadm-save emitter: a netlink
// snapshot goes through ruleTableFromState (server/ipvs/snapshot/rules.ts), single lines of the netlink model
// through server/ipvs/netlink/save.ts. From ipvsadm 1.31's print_service_entry() and
// print_tunnel_rule() with FMT_RULE|FMT_NUMERIC:
//
//   -A <svc> -s <sched>[ -p <timeout>[ -M <mask>]][ --pe <engine>][ -o][ -b <flags>]
//   -a <svc> -r <host:port> -g|-m|-i -w <weight>[ --tun-type ipip
//                                               | --tun-type gue --tun-port <p> --tun-<sum>
//                                               | --tun-type gre --tun-<sum>]
//   <svc>: -t|-u|--sctp-service <host:port> or -f <mark>[ -6]; IPv6 hosts in [..].
//   -M only when not all-ones (IPv4) / not 128 (IPv6). Thresholds (-x, -y) are not written.
//
// Order: services sorted by ipvs_cmp_services() and each one's real servers by ipvs_cmp_dests()
// (libipvs.c), which compare with a *signed* 32-bit difference of the host-order addresses: we replicate
// it, wrap-around included (0xC0000001 - 0x0A000001 is negative as an int, so 192.0.0.1 sorts before
// 10.0.0.1), to stay byte-identical.

import { parseIPv4, parseIPv6Groups } from "../proc/addr";
import { type RealServer, type RuleTable, type ServiceKey, type VirtualService, hostPort, serviceOption } from "./model";

const AF = { 4: 2, 6: 10 } as const; // AF_INET, AF_INET6
const PROTO = { TCP: 6, UDP: 17, SCTP: 132 } as const; // IPPROTO_*

/** The four host-order 32-bit words of an address as libipvs sees union nf_inet_addr (IPv4 in the first). */
function words(family: 4 | 6, address: string): [number, number, number, number] {
  if (family === 4) return [parseIPv4(address) ?? 0, 0, 0, 0];
  const g = parseIPv6Groups(address) ?? [0, 0, 0, 0, 0, 0, 0, 0];
  const w = (i: number) => (((g[2 * i] as number) << 16) | (g[2 * i + 1] as number)) >>> 0;
  return [w(0), w(1), w(2), w(3)];
}

/** C's "int r = a - b" for unsigned 32-bit a and b. */
const signedDiff = (a: number, b: number) => (a - b) | 0;

/**
 * A service's or real server's place in ipvsadm's order as numbers, made once per entry: a sort compares
 * these (no address is parsed per comparison; at 1,000 services x 10 real servers that was a fifth of a
 * snapshot's CPU in the lab). fwmark and proto are 0 for a real server; proto is 0 for a fwmark service.
 */
export interface OrderKey {
  readonly fwmark: number;
  readonly family: 4 | 6;
  readonly proto: number;
  readonly words: readonly [number, number, number, number];
  readonly port: number;
}

export const serviceOrderKey = (k: ServiceKey): OrderKey =>
  k.kind === "fwmark"
    ? { fwmark: k.fwmark, family: k.family, proto: 0, words: [0, 0, 0, 0], port: 0 }
    : { fwmark: 0, family: k.family, proto: PROTO[k.protocol], words: words(k.family, k.address), port: k.port };

export const realServerOrderKey = (r: Pick<RealServer, "family" | "address" | "port">): OrderKey => ({
  fwmark: 0,
  family: r.family,
  proto: 0,
  words: words(r.family, r.address),
  port: r.port,
});

/** ipvs_cmp_addr part of ipvs_cmp_services / ipvs_cmp_dests: the first operand's family decides. */
function cmpAddr(a: OrderKey, b: OrderKey): number {
  const wa = a.words;
  const wb = b.words;
  if (a.family === 6) {
    for (let i = 0; i < 4; i++) {
      const r = signedDiff(wa[i] as number, wb[i] as number);
      if (r !== 0) return r;
    }
    return 0;
  }
  return signedDiff(wa[0], wb[0]);
}

/** ipvs_cmp_services over order keys. */
export function compareServiceOrder(x: OrderKey, y: OrderKey): number {
  let r = signedDiff(x.fwmark, y.fwmark);
  if (r !== 0) return r;
  r = AF[x.family] - AF[y.family];
  if (r !== 0) return r;
  if (x.proto === 0 || y.proto === 0) return 0; // a fwmark service
  r = x.proto - y.proto;
  if (r !== 0) return r;
  r = cmpAddr(x, y);
  return r !== 0 ? r : x.port - y.port;
}

/** ipvs_cmp_dests over order keys. */
export function compareRealServerOrder(a: OrderKey, b: OrderKey): number {
  const r = cmpAddr(a, b);
  return r !== 0 ? r : a.port - b.port;
}

/** ipvs_cmp_services: ipvsadm's order of services. */
export const compareServiceKeys = (x: ServiceKey, y: ServiceKey): number => compareServiceOrder(serviceOrderKey(x), serviceOrderKey(y));

/** ipvs_cmp_dests: ipvsadm's order of a service's real servers. */
export const compareRealServers = (a: Pick<RealServer, "family" | "address" | "port">, b: Pick<RealServer, "family" | "address" | "port">): number =>
  compareRealServerOrder(realServerOrderKey(a), realServerOrderKey(b));

/** One service's -A line. */
export function serviceRuleLine(svc: VirtualService): string {
  let line = `-A ${serviceOption(svc.key)} -s ${svc.scheduler}`;
  if (svc.persistent) {
    line += ` -p ${svc.persistent.timeout}`;
    const full = svc.key.family === 6 ? "128" : "255.255.255.255";
    if (svc.persistent.netmask !== full) line += ` -M ${svc.persistent.netmask}`;
  }
  if (svc.persistenceEngine) line += ` --pe ${svc.persistenceEngine}`;
  if (svc.onePacket) line += " -o";
  if (svc.schedFlags.length > 0) line += ` -b ${svc.schedFlags.join(",")}`;
  return line;
}

/** One real server's -a line; -x/-y only `withThresholds`. */
export function realServerRuleLine(svc: VirtualService, r: RealServer, withThresholds: boolean): string {
  const fwd = r.forward === "masquerading" ? "-m" : r.forward === "ipip" ? "-i" : "-g";
  let line = `-a ${serviceOption(svc.key)} -r ${hostPort(r.family, r.address, r.port)} ${fwd} -w ${r.weight}`;
  if (r.forward === "ipip") {
    const t = r.tunnel ?? { type: "ipip", port: 0, checksum: "nocsum" };
    line += ` --tun-type ${t.type}`;
    if (t.type === "gue") line += ` --tun-port ${t.port}`;
    if (t.type !== "ipip") line += ` --tun-${t.checksum}`;
  }
  if (withThresholds) {
    if (r.upperThreshold) line += ` -x ${r.upperThreshold}`;
    if (r.lowerThreshold) line += ` -y ${r.lowerThreshold}`;
  }
  return line;
}

export interface EmitOptions {
  /**
   * Also write -x/-y, which ipvsadm-save leaves out (and so loses). Off by default: the output is then
   * byte-identical to ipvsadm-save -n.
   */
  thresholds?: boolean;
}

/** The table as `ipvsadm-save -n` prints it ("" for an empty table). */
export function emitIpvsadmSave(table: RuleTable, options: EmitOptions = {}): string {
  const services = [...table.services].sort((a, b) => compareServiceKeys(a.key, b.key));
  const lines: string[] = [];
  for (const svc of services) {
    lines.push(serviceRuleLine(svc));
    for (const r of [...svc.realServers].sort(compareRealServers)) lines.push(realServerRuleLine(svc, r, options.thresholds ?? false));
  }
  return lines.map((l) => `${l}\n`).join("");
}
