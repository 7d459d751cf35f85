// What the diagnostics take in (a picture of the LVS site, as the director's IPVS table and neighbour
// table give it) and what they give back (findings an admin can act on).

export type VipMode = "dr" | "nat" | "tun" | "fullnat";

export interface SiteHost {
  ip: string;
  /** "02:00:00:00:00:12". A director knows its own MAC (ip link) and, once it has forwarded to them, its
   *  real servers' MACs (ip neigh). When absent, the capture's own ARP traffic may tell. */
  mac?: string;
  /** The interface that faces the LAN, for the commands in a fix ("eth0" when not known). */
  lanInterface?: string;
}

export interface SiteContext {
  vips: { address: string; mode: VipMode }[];
  /** The director(s) that hold the VIPs now. */
  directors: SiteHost[];
  realServers: SiteHost[];
  /** Directors that may take the VIPs over (keepalived backups): their announcements are failovers. */
  declaredBackupDirectors?: SiteHost[];
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
  fix: { summary: string; commands: string[] };
}
