// What the diagnostics take in (a picture of the LVS site, as the director's IPVS table and neighbour
// table give it) and what they give back (findings an admin can act on).

import type { HostFacts } from "./sysctls";

export type VipMode = "dr" | "nat" | "tun" | "fullnat";

export interface SiteHost {
  ip: string;
  /** "02:00:00:00:00:12". A director knows its own MAC (ip link) and, once it has forwarded to them, its
   *  real servers' MACs (ip neigh). When absent, the capture's own ARP traffic may tell. */
  mac?: string;
  /** The interface that faces the LAN, for the commands in a fix ("eth0" when not known). */
  lanInterface?: string;
  /** What the admin calls it ("rs2", a hostname), for the explanations. */
  name?: string;
}

/** A VIP and how the director forwards its traffic. The service ports and real servers are optional: the
 *  return-path checks use them to tell which real server serves which mode (a real server in no VIP's list
 *  takes the site's only mode, when there is one). */
export interface SiteVip {
  address: string;
  mode: VipMode;
  /** The service's ports at the VIP (empty or absent: any). */
  ports?: number[];
  /** The real servers of this VIP's services, by address, with the port each listens on. */
  realServers?: { ip: string; port: number }[];
  /** FULLNAT: the addresses the director's SNAT gives forwarded packets (default: the directors' addresses). */
  snatAddresses?: string[];
}

export interface SiteContext {
  vips: SiteVip[];
  /** The director(s) that hold the VIPs now. */
  directors: SiteHost[];
  realServers: SiteHost[];
  /** Directors that may take the VIPs over (keepalived backups): their announcements are failovers. */
  declaredBackupDirectors?: SiteHost[];
  /** The routers on the real servers' segment: their default gateway in DR and TUN (for the fixes). */
  gateways?: SiteHost[];
  /** What the directors' and reachable real servers' kernels say (server/kernel/sysctl.ts readHostFacts, one per
   *  host): the effective-sysctl checks (sysctls.ts) run on them, each host in the role its addresses give it. */
  hostFacts?: HostFacts[];
}

export type Severity = "critical" | "warning" | "info";
export type HostRole = "director" | "backup-director" | "real-server" | "unknown";

export interface Finding {
  /** Stable for the same problem on the same hosts: "<check>:<address>:<mac>". */
  id: string;
  severity: Severity;
  title: string;
  explanation: string;
  hosts: { ip: string; mac: string; role: HostRole }[];
  /** Packets that show it (the first few): index in the capture (Wireshark frame = index + 1), time in s. */
  evidence: { packetIndex: number; time: number }[];
  /** How many offending packets (or connections) there were, and when the first and the last were seen: all
   *  of them, where `evidence` keeps only the first few. Absent: the evidence is all there is. */
  activity?: { count: number; first: number; last: number };
  fix: { summary: string; commands: string[] };
}
