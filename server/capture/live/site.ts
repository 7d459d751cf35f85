// The site as the agent sees it from inside the director, for live diagnostics: the VIPs and real servers from
// its IPVS table (a netlink snapshot), its own addresses and MACs (the director), and the real servers' MACs
// from its neighbour table (/proc/net/arp: in DR and TUN the director resolves every RIP before forwarding).
//
//   const { site, interfaces, problem } = await readAgentSite();
//
// The parsers are pure and exported for tests; readAgentSite is the only part that reads the kernel.
import { hostname, networkInterfaces } from "node:os";

import { siteContextFromTable } from "@/server/diagnostics/context";
import type { SiteContext, SiteHost } from "@/server/diagnostics/types";
import type { InterfaceView } from "@/server/diagnostics/live";
import { IpvsError } from "@/server/ipvs/netlink/client";
import { isFwmarkService } from "@/server/ipvs/netlink/types";
import type { TableState } from "@/server/ipvs/snapshot/model";
import { readSnapshot } from "@/server/ipvs/snapshot/model";
import { openIpvsClient } from "@/server/kernel/genl/ipvs";
import { listTables } from "@/server/kernel/nft";
import { readProcFile } from "@/server/kernel/procfs";
import { readHostFacts } from "@/server/kernel/sysctl";
import { fullnatTableVip } from "@/server/wizards/plan";

/** ATF_COM (include/uapi/linux/if_arp.h): the entry has a MAC. */
const ATF_COM = 0x2;

/**
 * /proc/net/arp, as the kernel prints it (net/ipv4/arp.c arp_format_neigh_entry):
 *   IP address       HW type     Flags       HW address            Mask     Device
 *   192.0.2.12       0x1         0x2         02:00:00:00:00:12     *        eth0
 * Complete entries only (incomplete ones carry 00:00:00:00:00:00).
 */
export function parseProcNetArp(text: string): Map<string, string> {
  const macs = new Map<string, string>();
  for (const line of text.split("\n").slice(1)) {
    const [ip, hwType, flags, mac] = line.trim().split(/\s+/);
    if (ip === undefined || mac === undefined || hwType !== "0x1") continue;
    if ((Number.parseInt(flags ?? "0", 16) & ATF_COM) === 0) continue;
    if (/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac)) macs.set(ip, mac);
  }
  return macs;
}

type Interfaces = ReturnType<typeof networkInterfaces>;

/** The agent's interfaces (IPv4 addresses, MAC), loopback left out. */
export function interfaceViews(ifaces: Interfaces): InterfaceView[] {
  const out: InterfaceView[] = [];
  for (const [name, addrs] of Object.entries(ifaces)) {
    if (addrs === undefined || addrs.some((a) => a.internal)) continue;
    const mac = addrs.find((a) => a.mac !== "00:00:00:00:00:00")?.mac ?? null;
    out.push({ name, addresses: addrs.filter((a) => a.family === "IPv4").map((a) => a.address), mac });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** The director's own addresses (not the VIPs it holds), each with its MAC and interface. */
export function directorHosts(interfaces: readonly InterfaceView[], vips: ReadonlySet<string>): SiteHost[] {
  const hosts: SiteHost[] = [];
  for (const i of interfaces) {
    for (const ip of i.addresses) {
      if (vips.has(ip)) continue;
      hosts.push(i.mac === null ? { ip, lanInterface: i.name } : { ip, mac: i.mac, lanInterface: i.name });
    }
  }
  return hosts;
}

/**
 * The site from the IPVS table and what the director knows of the hosts. PURE. IPVS itself cannot tell FULLNAT
 * from NAT (both are masquerading): `nftTables` ("family name") name the VIPs whose SNAT table the wizard made.
 */
export function agentSiteContext(table: TableState, interfaces: readonly InterfaceView[], neighbours: ReadonlyMap<string, string>, nftTables: readonly string[] = []): SiteContext {
  const vips = new Set(table.services.flatMap(({ service: s }) => (isFwmarkService(s) ? [] : [s.address])));
  const fullnatVips = nftTables.map(fullnatTableVip).filter((v): v is string => v !== null);
  return siteContextFromTable(table, { directors: directorHosts(interfaces, vips), macs: neighbours, fullnatVips });
}

export interface AgentSite {
  site: SiteContext;
  interfaces: InterfaceView[];
  /** Why the table is empty: IPVS not loaded, or the snapshot failed. */
  problem: string | null;
}

const EMPTY_TABLE: TableState = { services: [], timeouts: {}, daemons: [] };

/** Reads the IPVS table, the interfaces and the neighbour table of the agent's network namespace. */
export async function readAgentSite(): Promise<AgentSite> {
  const interfaces = interfaceViews(networkInterfaces());
  let table = EMPTY_TABLE;
  let problem: string | null = null;
  const ipvs = openIpvsClient();
  try {
    table = await readSnapshot(ipvs);
  } catch (error) {
    problem =
      error instanceof IpvsError && error.kind === "not-loaded"
        ? "IPVS is not loaded in this kernel: only ARP is watched (load it with modprobe ip_vs)"
        : `the IPVS table could not be read: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    ipvs.close();
  }
  let neighbours = new Map<string, string>();
  try {
    neighbours = parseProcNetArp(await readProcFile("net/arp"));
  } catch {
    // No neighbour table (no IPv4): the detectors learn MACs from the ARP they see.
  }
  // Only a masquerading service can be FULLNAT: the nft process is spawned only when there is one.
  let nftTables: string[] = [];
  try {
    if (table.services.some((s) => s.destinations.some((d) => d.forward === "masq"))) nftTables = await listTables();
  } catch {
    // No nft (or no nf_tables): no FULLNAT table either; its VIPs are judged as NAT.
  }
  const site = agentSiteContext(table, interfaces, neighbours, nftTables);
  // The director's own settings as its kernel applies them (arp_*, rp_filter, forwarding, vs.conntrack...):
  // the sysctl checks run on them with the packet detectors. Real servers' come from their agents.
  try {
    site.hostFacts = [await readHostFacts(hostname())];
  } catch (error) {
    // The packet detectors still run; the agent's log says why the sysctl checks do not.
    console.error(`lvs-dashboard: the director's sysctls could not be read: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { site, interfaces, problem };
}
