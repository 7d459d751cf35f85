// A rules file (server/ipvs/rules: RuleTable, what ipvsadm-save writes and ipvsadm-restore reads) and a
// snapshot's table (TableState) in each other's terms, so that "what the kernel has" and "what the file says"
// are compared and diffed in one vocabulary: diffSnapshots(snapshot, tableStateFromRules(table)). PURE.
//
// What does not cross: counters (a rules file has none); the "local" forwarding method, which only netlink
// can set and which ipvsadm-save writes as -g (so it comes back as "route"); and a timeout left at 0 in
// --set, which means "keep the kernel's" (it becomes an absent field).
import { IP_VS_SVC_F } from "@/server/ipvs/netlink/constants";
import {
  isFwmarkService,
  type Destination,
  type ForwardMethod,
  type Netmask,
  type Service,
  type ServiceExtended,
  type ServiceFlags,
  type ServiceWithDestinations,
} from "@/server/ipvs/netlink/types";
import {
  GENERIC_SCHED_FLAG_NAMES,
  SCHED_FLAG_NAMES,
  type ForwardOption,
  type RealServer,
  type RuleTable,
  type ServiceKey,
  type VirtualService,
} from "@/server/ipvs/rules/model";
import { emitIpvsadmSave, type EmitOptions } from "@/server/ipvs/rules/emit";
import type { TableState } from "./model";

const FORWARD: Readonly<Record<ForwardOption, ForwardMethod>> = { gatewaying: "route", masquerading: "masq", ipip: "tunnel" };
const FORWARD_OPTION: Readonly<Record<ForwardMethod, ForwardOption>> = { route: "gatewaying", local: "gatewaying", bypass: "gatewaying", masq: "masquerading", tunnel: "ipip" };

const schedFlagNames = (scheduler: string) => SCHED_FLAG_NAMES[scheduler] ?? GENERIC_SCHED_FLAG_NAMES;

/** The service's key in the netlink model. */
export function serviceFromKey(key: ServiceKey, netmask?: Netmask): Service {
  const family = key.family === 4 ? "inet" : "inet6";
  const base = key.kind === "fwmark" ? { family, fwmark: key.fwmark } : { family, protocol: key.protocol.toLowerCase() as "tcp" | "udp" | "sctp", address: key.address, port: key.port };
  return netmask ? ({ ...base, netmask } as Service) : (base as Service);
}

export function keyFromService(s: Service): ServiceKey {
  const family = s.family === "inet" ? 4 : 6;
  if (isFwmarkService(s)) return { kind: "fwmark", fwmark: s.fwmark, family };
  return { kind: "address", protocol: s.protocol.toUpperCase() as "TCP" | "UDP" | "SCTP", family, address: s.address, port: s.port };
}

function netmaskOf(svc: VirtualService): Netmask {
  const text = svc.persistent?.netmask;
  if (svc.key.family === 6) return { kind: "prefix", prefix: text ? Number(text) : 128 };
  return { kind: "mask", mask: text ?? "255.255.255.255" };
}

function flagsOf(svc: VirtualService): ServiceFlags {
  const names = schedFlagNames(svc.scheduler);
  const on = (i: number) => svc.schedFlags.includes(names[i]!) || svc.schedFlags.includes(GENERIC_SCHED_FLAG_NAMES[i]!);
  const f = { persistent: svc.persistent !== undefined, hashed: false, onePacket: svc.onePacket, sched1: on(0), sched2: on(1), sched3: on(2) };
  const raw =
    (f.persistent ? IP_VS_SVC_F.PERSISTENT : 0) |
    (f.onePacket ? IP_VS_SVC_F.ONEPACKET : 0) |
    (f.sched1 ? IP_VS_SVC_F.SCHED1 : 0) |
    (f.sched2 ? IP_VS_SVC_F.SCHED2 : 0) |
    (f.sched3 ? IP_VS_SVC_F.SCHED3 : 0);
  return { ...f, raw };
}

function destinationOf(r: RealServer): Destination {
  const d: Destination = {
    address: r.address,
    port: r.port,
    family: r.family === 4 ? "inet" : "inet6",
    forward: FORWARD[r.forward],
    weight: r.weight,
    upperThreshold: r.upperThreshold,
    lowerThreshold: r.lowerThreshold,
    activeConns: 0,
    inactiveConns: 0,
    persistentConns: 0,
    unknown: [],
  };
  if (r.forward === "ipip") {
    const t = r.tunnel ?? { type: "ipip", port: 0, checksum: "nocsum" };
    const csum = t.checksum === "csum";
    const remcsum = t.checksum === "remcsum";
    d.tunnel = { type: t.type, port: t.port, csum, remcsum, rawFlags: (csum ? 1 : 0) | (remcsum ? 2 : 0) };
  }
  return d;
}

/** A rule table as the table the kernel would hold after it is applied (no counters). */
export function tableStateFromRules(table: RuleTable): TableState {
  const services: ServiceWithDestinations[] = table.services.map((svc) => {
    const s: ServiceWithDestinations = {
      service: serviceFromKey(svc.key, netmaskOf(svc)) as ServiceWithDestinations["service"],
      scheduler: svc.scheduler,
      flags: flagsOf(svc),
      timeout: svc.persistent?.timeout ?? 0,
      unknown: [],
      destinations: svc.realServers.map(destinationOf),
    };
    if (svc.persistenceEngine) s.persistenceEngine = svc.persistenceEngine;
    return s;
  });
  const t = table.timeouts;
  const timeouts = t ? { ...(t.tcp ? { tcp: t.tcp } : {}), ...(t.tcpFin ? { tcpFin: t.tcpFin } : {}), ...(t.udp ? { udp: t.udp } : {}) } : {};
  return { services, timeouts, daemons: table.daemons.map((d) => ({ ...d, unknown: [] })) };
}

/** A destination of the netlink model as a rule table's real server. */
export function realServerOf(d: Destination): RealServer {
  const r: RealServer = {
    family: d.family === "inet" ? 4 : 6,
    address: d.address,
    port: d.port,
    forward: FORWARD_OPTION[d.forward],
    weight: d.weight,
    upperThreshold: d.upperThreshold,
    lowerThreshold: d.lowerThreshold,
  };
  if (d.forward === "tunnel") {
    const t = d.tunnel ?? { type: "ipip" as const, port: 0, csum: false, remcsum: false };
    r.tunnel = { type: t.type, port: t.port, checksum: t.remcsum ? "remcsum" : t.csum ? "csum" : "nocsum" };
  }
  return r;
}

/** A service of the netlink model (with `destinations`, none by default) as a rule table's virtual service. */
export function virtualServiceOf(s: ServiceExtended, destinations: readonly Destination[] = []): VirtualService {
  const names = schedFlagNames(s.scheduler);
  const svc: VirtualService = {
    key: keyFromService(s.service),
    scheduler: s.scheduler,
    schedFlags: [s.flags.sched1, s.flags.sched2, s.flags.sched3].flatMap((on, i) => (on ? [names[i]!] : [])),
    onePacket: s.flags.onePacket,
    realServers: destinations.map(realServerOf),
  };
  if (s.flags.persistent) {
    const m = s.service.netmask;
    svc.persistent = { timeout: s.timeout, netmask: m.kind === "mask" ? m.mask : String(m.prefix) };
  }
  if (s.persistenceEngine) svc.persistenceEngine = s.persistenceEngine;
  return svc;
}

/** A table (a snapshot's) as a rule table: emitIpvsadmSave() of it prints what ipvsadm-save -n prints. */
export function ruleTableFromState(state: TableState): RuleTable {
  const services: VirtualService[] = state.services.map((s) => virtualServiceOf(s, s.destinations));
  const { tcp, tcpFin, udp } = state.timeouts;
  const table: RuleTable = {
    services,
    daemons: state.daemons.map(({ unknown: _unknown, ...d }) => d),
  };
  if (tcp !== undefined || tcpFin !== undefined || udp !== undefined) table.timeouts = { tcp: tcp ?? 0, tcpFin: tcpFin ?? 0, udp: udp ?? 0 };
  return table;
}

/** Services (with their real servers) as `ipvsadm-save -n` prints them: emitIpvsadmSave over ruleTableFromState. */
export function ipvsadmSaveText(services: readonly ServiceWithDestinations[], options: EmitOptions = {}): string {
  return emitIpvsadmSave(ruleTableFromState({ services: [...services], timeouts: {}, daemons: [] }), options);
}
