// The IPVS objects as the rest of the project sees them: plain data, no wire details. A service's identity
// (Service) is kept apart from what the kernel reports about it (ServiceExtended), as cloudflare/ipvs does;
// counters are bigint (the kernel's u64), never truncated.
import type { RawAttr } from "@/server/kernel/genl/attrs";
import type { AddressFamily } from "./addr";
import type { ForwardMethod, TunnelType } from "./constants";

export type { AddressFamily } from "./addr";
export type { ForwardMethod, TunnelType } from "./constants";
export type Protocol = "tcp" | "udp" | "sctp";

/** Persistence granularity: an IPv4 mask ("255.255.255.0") or an IPv6 prefix length (64). */
export type Netmask = { kind: "mask"; mask: string } | { kind: "prefix"; prefix: number };

/** A virtual service addressed by protocol, address and port. */
export interface AddressedService {
  family: AddressFamily;
  protocol: Protocol;
  address: string;
  port: number;
  /** Absent in a key; always present in what the kernel reports. */
  netmask?: Netmask;
}

/** A virtual service addressed by a firewall mark (ipvsadm -f). */
export interface FwmarkService {
  family: AddressFamily;
  fwmark: number;
  netmask?: Netmask;
}

export type Service = AddressedService | FwmarkService;

export const isFwmarkService = (s: Service): s is FwmarkService => "fwmark" in s;

/** IP_VS_SVC_F_*, decoded. `raw` keeps the whole word, including bits this code has no name for. */
export interface ServiceFlags {
  persistent: boolean;
  /** Set by the kernel on every service in its table. */
  hashed: boolean;
  onePacket: boolean;
  /** Scheduler flags; sh and mh read flag 1 as "fallback" and flag 2 as "port". */
  sched1: boolean;
  sched2: boolean;
  sched3: boolean;
  raw: number;
}

/** IPVS_STATS_ATTR_*, from IPVS_*_ATTR_STATS64 when the kernel sends it (Linux >= 4.0), else from _STATS
 *  (u32 counters widened). Rates are per second as the kernel's estimator computes them. */
export interface Stats {
  conns: bigint;
  inPkts: bigint;
  outPkts: bigint;
  inBytes: bigint;
  outBytes: bigint;
  cps: bigint;
  inPps: bigint;
  outPps: bigint;
  inBps: bigint;
  outBps: bigint;
  /** 64 = read from STATS64; 32 = fell back to STATS. */
  width: 64 | 32;
}

export interface ServiceExtended {
  service: Service & { netmask: Netmask };
  scheduler: string;
  /** Persistence engine (ipvsadm --pe), e.g. "sip". */
  persistenceEngine?: string;
  flags: ServiceFlags;
  /** Persistence timeout in seconds. */
  timeout: number;
  stats?: Stats;
  /** Attributes this code does not know, kept as they came. */
  unknown: RawAttr[];
}

/** What NEW_SERVICE / SET_SERVICE send. */
export interface ServiceConfig {
  service: Service;
  scheduler: string;
  persistent?: boolean;
  onePacket?: boolean;
  sched1?: boolean;
  sched2?: boolean;
  sched3?: boolean;
  /** Persistence timeout in seconds (ipvsadm -p; its default is 300). Default: 300 if persistent, else 0. */
  timeout?: number;
  persistenceEngine?: string;
}

export interface TunnelConfig {
  type: TunnelType;
  /** GUE's UDP port (required by the kernel for GUE). */
  port?: number;
  csum?: boolean;
  remcsum?: boolean;
}

/** What NEW_DEST / SET_DEST send. */
export interface DestinationConfig {
  address: string;
  port: number;
  /** Defaults to the service's family; a different one is allowed for tunnel only. */
  family?: AddressFamily;
  forward: ForwardMethod;
  /** u32 on the wire; the kernel stores an int and answers ERANGE above 2147483647. */
  weight: number;
  upperThreshold?: number;
  lowerThreshold?: number;
  tunnel?: TunnelConfig;
}

export interface Destination {
  address: string;
  port: number;
  family: AddressFamily;
  forward: ForwardMethod;
  weight: number;
  upperThreshold: number;
  lowerThreshold: number;
  activeConns: number;
  inactiveConns: number;
  persistentConns: number;
  /** Reported by Linux >= 5.2 for every destination (type ipip, port 0 when not tunnelling). */
  tunnel?: { type: TunnelType; port: number; csum: boolean; remcsum: boolean; rawFlags: number };
  stats?: Stats;
  unknown: RawAttr[];
}

/** A real server's identity and settings, without its numbers (connections, stats) or tunnel details. */
export type DestinationIdentity = Pick<Destination, "address" | "port" | "family" | "forward" | "weight" | "upperThreshold" | "lowerThreshold">;

/** The DestinationIdentity fields of `d`, as a new object of one shape. */
export const destinationIdentity = (d: DestinationIdentity): DestinationIdentity => ({
  address: d.address,
  port: d.port,
  family: d.family,
  forward: d.forward,
  weight: d.weight,
  upperThreshold: d.upperThreshold,
  lowerThreshold: d.lowerThreshold,
});

/** True when `a` and `b` have the same DestinationIdentity fields. */
export const sameDestinationIdentity = (a: DestinationIdentity, b: DestinationIdentity): boolean =>
  a.address === b.address &&
  a.port === b.port &&
  a.family === b.family &&
  a.forward === b.forward &&
  a.weight === b.weight &&
  a.upperThreshold === b.upperThreshold &&
  a.lowerThreshold === b.lowerThreshold;

export type SyncState = "master" | "backup";

/** What NEW_DAEMON sends (and what a rules file's --start-daemon says). */
export interface SyncDaemonConfig {
  state: SyncState;
  mcastInterface: string;
  syncId: number;
  /** The newer sync attributes (Linux >= 4.3); the kernel reports its defaults when none were given. */
  syncMaxLen?: number;
  /** IPv4 or IPv6 multicast group. */
  mcastGroup?: string;
  mcastPort?: number;
  mcastTtl?: number;
}

export interface SyncDaemon extends SyncDaemonConfig {
  unknown: RawAttr[];
}

/** Connection timeouts in seconds (ipvsadm --set tcp tcpfin udp). */
export interface Timeouts {
  tcp?: number;
  tcpFin?: number;
  udp?: number;
}

export interface IpvsInfo {
  /** IP_VS_VERSION_CODE, e.g. 0x010201. */
  versionCode: number;
  /** "1.2.1" */
  version: string;
  /** Size of the connection hash table (ipvsadm: "size=4096"). */
  connTableSize: number;
}

export interface ServiceWithDestinations extends ServiceExtended {
  destinations: Destination[];
}
