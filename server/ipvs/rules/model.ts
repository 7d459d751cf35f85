// The IPVS rule table as ipvsadm manages it: virtual services, their real servers, the connection
// timeouts and the sync daemons. Plain JSON-able data, built by table.ts from the commands parse.ts reads,
// written back by emit.ts in the exact text `ipvsadm-save -n` prints.
//
// Constants say where they come from: ipvsadm 1.31 (ipvsadm.c, libipvs) and include/uapi/linux/ip_vs.h.

import type { SyncDaemonConfig } from "../netlink/types";
import { SCHEDULERS, type TunnelType } from "../netlink/constants";

/** The scheduler names mainline Linux knows (one list for the project, in netlink/constants.ts). Whether this
 *  kernel has a scheduler's module is the kernel's question: server/ipvs/apply asks it before applying. */
export { SCHEDULERS };
export type Scheduler = (typeof SCHEDULERS)[number];
/** DEF_SCHED in ipvsadm.c: what -A and -E use without -s. */
export const DEFAULT_SCHEDULER: Scheduler = "wlc";
/** IPVS_SVC_PERSISTENT_TIMEOUT (ip_vs.h, 6*60): -p without a value. (The man page says 300; the lab shows 360.) */
export const DEFAULT_PERSISTENT_TIMEOUT = 360;
/** MAX_TIMEOUT in ipvsadm.c: 31 days, for -p and --set. */
export const MAX_TIMEOUT = 86400 * 31;
/** PE_LIST in ipvsadm: the persistence engines the kernel has (ip_vs_pe_sip.c). */
export const PERSISTENCE_ENGINES = ["sip"] as const;

/** Scheduler flag bits (ip_vs.h IP_VS_SVC_F_SCHED1..3) and the names ipvsadm gives them per scheduler. */
export const SCHED_FLAG_NAMES: Readonly<Record<string, readonly [string, string, string]>> = {
  sh: ["sh-fallback", "sh-port", "flag-3"], // IP_VS_SVC_F_SCHED_SH_FALLBACK = SCHED1, _SH_PORT = SCHED2
  mh: ["mh-fallback", "mh-port", "flag-3"], // IP_VS_SVC_F_SCHED_MH_FALLBACK = SCHED1, _MH_PORT = SCHED2
};
export const GENERIC_SCHED_FLAG_NAMES = ["flag-1", "flag-2", "flag-3"] as const;

export type ServiceProtocol = "TCP" | "UDP" | "SCTP";
/** ipvsadm's -g / -m / -i (IP_VS_CONN_F_DROUTE, _MASQ, _TUNNEL). */
export type ForwardOption = "gatewaying" | "masquerading" | "ipip";
/** IP_VS_CONN_F_TUNNEL_TYPE_*: one definition, in netlink/constants.ts. */
export type { TunnelType };
export type TunnelChecksum = "nocsum" | "csum" | "remcsum"; // IP_VS_TUNNEL_ENCAP_FLAG_*

export type ServiceKey =
  | { kind: "address"; protocol: ServiceProtocol; family: 4 | 6; address: string; port: number }
  | { kind: "fwmark"; fwmark: number; family: 4 | 6 };

export interface RealServer {
  family: 4 | 6;
  /** Dotted IPv4 or RFC 5952 IPv6. */
  address: string;
  port: number;
  forward: ForwardOption;
  /** 0 = quiescent. */
  weight: number;
  /** -x / -y; 0 = not set. ipvsadm-save does not write them. */
  upperThreshold: number;
  lowerThreshold: number;
  /** Only with forward "ipip". */
  tunnel?: { type: TunnelType; port: number; checksum: TunnelChecksum };
}

export interface VirtualService {
  key: ServiceKey;
  scheduler: string;
  /** Scheduler flags by their ipvsadm names for this scheduler ("sh-port", "flag-1"), in bit order. */
  schedFlags: string[];
  /** -p [timeout] -M netmask: netmask dotted for IPv4, a prefix length ("64") for IPv6. */
  persistent?: { timeout: number; netmask: string };
  /** --pe */
  persistenceEngine?: string;
  /** -o */
  onePacket: boolean;
  realServers: RealServer[];
}

/** --start-daemon and its options: the netlink model's daemon settings (one type for both). */
export type SyncDaemon = SyncDaemonConfig;

export interface RuleTable {
  services: VirtualService[];
  /** --set tcp tcpfin udp (0 = keep the current value). */
  timeouts?: { tcp: number; tcpFin: number; udp: number };
  daemons: SyncDaemon[];
}

/** "-t 192.0.2.1:80", "-f 7 -6": how ipvsadm names a service in a rule (print_service_entry, FMT_RULE). */
export function serviceOption(key: ServiceKey): string {
  if (key.kind === "fwmark") return key.family === 6 ? `-f ${key.fwmark} -6` : `-f ${key.fwmark}`;
  const flag = key.protocol === "TCP" ? "-t" : key.protocol === "UDP" ? "-u" : "--sctp-service";
  return `${flag} ${hostPort(key.family, key.address, key.port)}`;
}

/** addrport_to_anyname() with -n: "192.0.2.1:80", "[2001:db8::1]:80". */
export function hostPort(family: 4 | 6, address: string, port: number): string {
  return family === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

export function sameServiceKey(a: ServiceKey, b: ServiceKey): boolean {
  if (a.kind === "fwmark" || b.kind === "fwmark") {
    return a.kind === "fwmark" && b.kind === "fwmark" && a.fwmark === b.fwmark && a.family === b.family;
  }
  return a.protocol === b.protocol && a.family === b.family && a.address === b.address && a.port === b.port;
}
