// The detectors' picture of a site (SiteContext), built from what the director knows: its IPVS table (a
// netlink snapshot, or an ipvsadm rules file) says the VIPs, their forwarding mode and the real servers;
// its own interfaces and neighbour table say the MACs. PURE: the caller reads the kernel or the files.
//
//   siteContextFromTable(snapshot, { directors: [{ ip: "192.0.2.1", mac: "02:00:00:00:00:01" }], macs })
//   siteContextFromRules(loadIpvsadmRules(text).table, hosts)
//   siteContextFromRecording(ipvsadmSaveText, siteJson)     // a recording of test/fixtures/lab/<case>/
//
// What the IPVS table cannot say: FULLNAT. The mainline stand-in is an IPVS NAT service plus an SNAT rule,
// so ipvsadm shows -m; the caller names the FULLNAT VIPs (`fullnatVips`).

import type { ForwardMethod } from "@/server/ipvs/netlink/types";
import { isFwmarkService } from "@/server/ipvs/netlink/types";
import { loadIpvsadmRules } from "@/server/ipvs/rules/table";
import type { RuleTable } from "@/server/ipvs/rules/model";
import type { TableState } from "@/server/ipvs/snapshot/model";
import { tableStateFromRules } from "@/server/ipvs/snapshot/rules";
import type { SiteContext, SiteHost, SiteVip, VipMode } from "./types";

export interface KnownHosts {
  /** Every address of the director(s) (DIP, inner address), each with its MAC and interface where known. */
  directors: SiteHost[];
  declaredBackupDirectors?: SiteHost[];
  /** Routers on the real servers' segment (their default gateway in DR/TUN). */
  gateways?: SiteHost[];
  /** MACs by IP address (the director's `ip neigh`): used for the real servers. */
  macs?: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
  /** Names to show, by IP address ("rs2"). */
  names?: Readonly<Record<string, string>>;
  /** Interface facing the LAN on each real server, by IP address (default eth0). */
  lanInterfaces?: Readonly<Record<string, string>>;
  /** VIPs whose masquerading services are FULLNAT (IPVS NAT + SNAT on the director). */
  fullnatVips?: readonly string[];
}

const MODE_OF: Readonly<Record<ForwardMethod, VipMode | null>> = {
  route: "dr", tunnel: "tun", masq: "nat",
  // local: the director serves it itself; bypass: not forwarded by IPVS. No return path to check.
  local: null, bypass: null,
};

/** From the director's IPVS table (snapshot or rules) and what else is known of the hosts. */
export function siteContextFromTable(table: TableState, hosts: KnownHosts): SiteContext {
  const vips = new Map<string, SiteVip>();
  const realServers = new Map<string, SiteHost>();
  const fullnat = new Set(hosts.fullnatVips ?? []);
  const lookup = (map: KnownHosts["macs"], ip: string) =>
    map === undefined ? undefined : map instanceof Map ? map.get(ip) : (map as Readonly<Record<string, string>>)[ip];
  for (const svc of table.services) {
    const s = svc.service;
    if (isFwmarkService(s) || s.family !== "inet") continue; // no address to watch / IPv6: not yet checked
    for (const d of svc.destinations) {
      const forwardMode = MODE_OF[d.forward];
      if (forwardMode === null || d.family !== "inet") continue;
      const mode: VipMode = forwardMode === "nat" && fullnat.has(s.address) ? "fullnat" : forwardMode;
      let vip = vips.get(s.address);
      if (vip === undefined) vips.set(s.address, (vip = { address: s.address, mode, ports: [], realServers: [] }));
      if (!vip.ports!.includes(s.port)) vip.ports!.push(s.port);
      if (!vip.realServers!.some((r) => r.ip === d.address && r.port === d.port)) vip.realServers!.push({ ip: d.address, port: d.port });
      if (!realServers.has(d.address)) {
        const host: SiteHost = { ip: d.address };
        const mac = lookup(hosts.macs, d.address);
        if (mac !== undefined) host.mac = mac;
        const name = hosts.names?.[d.address];
        if (name !== undefined) host.name = name;
        const lan = hosts.lanInterfaces?.[d.address];
        if (lan !== undefined) host.lanInterface = lan;
        realServers.set(d.address, host);
      }
    }
  }
  const site: SiteContext = { vips: [...vips.values()], directors: hosts.directors, realServers: [...realServers.values()] };
  if (hosts.declaredBackupDirectors) site.declaredBackupDirectors = hosts.declaredBackupDirectors;
  if (hosts.gateways) site.gateways = hosts.gateways;
  return site;
}

export function siteContextFromRules(table: RuleTable, hosts: KnownHosts): SiteContext {
  return siteContextFromTable(tableStateFromRules(table), hosts);
}

/** The parts of a recording's site.json (lab/recorder: the lab site's hosts) that the context needs. */
export interface RecordedSite {
  mode: VipMode;
  vip: string;
  hosts: readonly {
    node: string;
    role: string;
    interfaces: readonly { ifname: string; address: string; mac: string }[];
    realServer?: { rip: string };
  }[];
}

/** A recording: its `ipvsadm-save -n` text and its site.json. Throws if the rules do not load. */
export function siteContextFromRecording(ipvsadmSave: string, recorded: RecordedSite): SiteContext {
  const { table, errors } = loadIpvsadmRules(ipvsadmSave);
  if (errors.length > 0) throw new Error(`ipvsadm-save does not load: ${errors.map((e) => `line ${e.line}: ${e.message}`).join("; ")}`);
  const hostsOf = (role: string): SiteHost[] =>
    recorded.hosts
      .filter((h) => h.role === role)
      .flatMap((h) => h.interfaces.map((i) => ({ ip: i.address, mac: i.mac, lanInterface: i.ifname, name: h.node })));
  const macs: Record<string, string> = {};
  const names: Record<string, string> = {};
  const lanInterfaces: Record<string, string> = {};
  for (const h of recorded.hosts) {
    if (h.role !== "real-server") continue;
    const i = h.interfaces.find((x) => x.address === h.realServer?.rip) ?? h.interfaces[0];
    if (i === undefined) continue;
    macs[i.address] = i.mac;
    names[i.address] = h.node;
    lanInterfaces[i.address] = i.ifname;
  }
  return siteContextFromRules(table, {
    directors: hostsOf("director"),
    gateways: [...hostsOf("router"), ...hostsOf("gateway")],
    macs, names, lanInterfaces,
    fullnatVips: recorded.mode === "fullnat" ? [recorded.vip] : [],
  });
}
