// Effective sysctls: what a director's or a real server's kernel settings and addresses mean for its role in
// the LVS site, as the kernel applies them. PURE over HostFacts (server/kernel/sysctl.ts reads them from a
// host; test/fixtures/sysctls/ holds the lab's).
//
//   evaluateHostSysctls(facts, { role: "real-server", vips: [{ address: "192.0.2.100", mode: "dr" }] })
//   sysctlFindings(site)          // every host of a SiteContext that has `hostFacts`, its role taken from the site
//
// How the kernel combines "all" and the interface (include/linux/inetdevice.h):
//   IN_DEV_ARP_IGNORE(in_dev)    IN_DEV_MAXCONF(in_dev, ARP_IGNORE)      max(all, interface)
//   IN_DEV_ARP_ANNOUNCE(in_dev)  IN_DEV_MAXCONF(in_dev, ARP_ANNOUNCE)    max(all, interface)
//   IN_DEV_RPFILTER(in_dev)      IN_DEV_MAXCONF(in_dev, RP_FILTER)       max(all, interface)
//   IN_DEV_TX_REDIRECTS(in_dev)  IN_DEV_ORCONF(in_dev, SEND_REDIRECTS)   all || interface
//   IN_DEV_FORWARD(in_dev)       IN_DEV_CONF_GET(in_dev, FORWARDING)     the interface alone (net.ipv4.ip_forward
//                                                                         writes every interface's and all's)
// The interface that counts is the one the packet arrives on: an ARP request for the VIP arrives on the LAN
// interface, never on lo, so `net.ipv4.conf.lo.arp_ignore=1` alone changes nothing. A decapsulated IPIP packet
// arrives on tunl0, so tunl0's rp_filter (or all's) is the one that drops it.
//
// Checks, by role and mode (findings' ids are "sysctl-<check>:<host ip>[:<interface or VIP>]"):
//   real server, DR and TUN   arp_ignore >= 1 and arp_announce = 2 on every LAN interface; the VIP held, on lo
//                             as a /32 (DR) or on tunl0 (TUN), never on a LAN interface; TUN: tunl0 up,
//                             rp_filter on tunl0 not strict (1)
//   director, NAT and FULLNAT ip_forward and the interfaces' forwarding on; send_redirects off when clients and
//                             real servers share the interface (one-armed NAT); FULLNAT: net.ipv4.vs.conntrack=1
//   director, every mode      the VIP held; advice (info): expire_nodest_conn, conn_reuse_mode

import type { Finding, HostRole, Severity, SiteContext, VipMode } from "./types";

/** One interface, as `ip -j addr` shows it. */
export interface InterfaceFacts {
  name: string;
  /** Administratively up (flag UP). */
  up: boolean;
  /** Link type ("ether", "loopback", "ipip", ...). */
  linkType?: string;
  mac?: string;
  /** IPv4 addresses. */
  addresses: { address: string; prefixLen: number }[];
}

/** What a host's kernel says, read in the host's network namespace (net.ipv4.* sysctls are per namespace). */
export interface HostFacts {
  /** The node or host name (for explanations). */
  name?: string;
  /** /proc/sys/kernel/osrelease. */
  kernel?: string;
  /** By the name `sysctl` uses ("net.ipv4.conf.eth0.arp_ignore"; dots of an interface name as "/"). Absent:
   *  not readable (net.ipv4.vs.* exist only once ip_vs is loaded, conf.tunl0.* only with ipip). */
  sysctls: Record<string, number>;
  interfaces: InterfaceFacts[];
}

export interface HostRoleSpec {
  role: "director" | "real-server";
  /** The VIPs this host serves (real server) or holds (director), each with its forwarding mode. */
  vips: { address: string; mode: VipMode }[];
  /** Director: its real servers' addresses (to tell a one-armed NAT). */
  realServers?: string[];
  /** Give the advice findings (severity info). Default true. */
  advice?: boolean;
}

export const SYSCTL_KINDS = {
  arpIgnore: "sysctl-arp-ignore",
  arpAnnounce: "sysctl-arp-announce",
  vipMissing: "sysctl-vip-missing",
  vipOnLan: "sysctl-vip-on-lan-interface",
  vipNotHostRoute: "sysctl-vip-not-host-route",
  tunl0: "sysctl-tunl0",
  vipNotOnTunl0: "sysctl-vip-not-on-tunl0",
  rpFilter: "sysctl-rp-filter",
  ipForward: "sysctl-ip-forward",
  sendRedirects: "sysctl-send-redirects",
  vsConntrack: "sysctl-vs-conntrack",
  expireNodestConn: "sysctl-expire-nodest-conn",
  connReuseMode: "sysctl-conn-reuse-mode",
} as const;

/** The persistent file the fixes write to. */
export const SYSCTL_CONF = "/etc/sysctl.d/90-lvs.conf";

/** `sysctl`'s name for an interface setting: dots in the interface name become "/" (eth0.10 -> eth0/10). */
export function confName(scope: string, key: string): string {
  return `net.ipv4.conf.${scope.replaceAll(".", "/")}.${key}`;
}

/** The value the kernel applies on `iface` for a MAXCONF setting, with both inputs. */
export function effectiveMax(facts: HostFacts, iface: string, key: string): { value: number | undefined; all?: number; iface?: number } {
  const all = facts.sysctls[confName("all", key)];
  const dev = facts.sysctls[confName(iface, key)];
  const value = all === undefined && dev === undefined ? undefined : Math.max(all ?? 0, dev ?? 0);
  return { value, all, iface: dev };
}

/** send_redirects: all || interface. */
export function effectiveOr(facts: HostFacts, iface: string, key: string): number | undefined {
  const all = facts.sysctls[confName("all", key)];
  const dev = facts.sysctls[confName(iface, key)];
  return all === undefined && dev === undefined ? undefined : (all ?? 0) !== 0 || (dev ?? 0) !== 0 ? 1 : 0;
}

const TUNNEL_TYPES = new Set(["ipip", "gre", "sit", "tunnel6", "ip6tnl", "none"]);

/** The interfaces that face a LAN: up, Ethernet-like, with an IPv4 address; not lo and not tunnels. */
function lanInterfaces(facts: HostFacts): InterfaceFacts[] {
  return facts.interfaces.filter(
    (i) => i.name !== "lo" && i.linkType !== "loopback" && !TUNNEL_TYPES.has(i.linkType ?? "") && i.name !== "tunl0" && i.up && i.addresses.length > 0,
  );
}

/** Where the VIP is configured on this host. */
function vipPlaces(facts: HostFacts, vip: string): { iface: InterfaceFacts; prefixLen: number }[] {
  return facts.interfaces.flatMap((iface) => iface.addresses.filter((a) => a.address === vip).map((a) => ({ iface, prefixLen: a.prefixLen })));
}

/** The host's own address and MAC for findings: the first LAN address that is not a VIP. */
function identity(facts: HostFacts, vips: ReadonlySet<string>): { ip: string; mac: string } {
  for (const i of lanInterfaces(facts)) {
    const a = i.addresses.find((x) => !vips.has(x.address));
    if (a) return { ip: a.address, mac: i.mac ?? "" };
  }
  return { ip: facts.name ?? "unknown", mac: "" };
}

function ipNumber(ip: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

function inSubnet(ip: string, net: string, prefixLen: number): boolean {
  const a = ipNumber(ip);
  const b = ipNumber(net);
  if (a === null || b === null) return false;
  const mask = prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}

/** `sysctl -w` now, and the same lines appended to the persistent file. */
function sysctlFix(values: readonly (readonly [string, number])[]): string[] {
  return [
    `sysctl -w ${values.map(([n, v]) => `${n}=${v}`).join(" ")}`,
    `printf '%s\\n' ${values.map(([n, v]) => `'${n} = ${v}'`).join(" ")} >> ${SYSCTL_CONF}`,
  ];
}

function shown(v: number | undefined): string {
  return v === undefined ? "unset" : String(v);
}

const ROLE_OF: Record<HostRoleSpec["role"], HostRole> = { director: "director", "real-server": "real-server" };

/** Every check that applies to this host in this role, most severe first. */
export function evaluateHostSysctls(facts: HostFacts, spec: HostRoleSpec): Finding[] {
  const vipSet = new Set(spec.vips.map((v) => v.address));
  const me = identity(facts, vipSet);
  const who = facts.name ? `${facts.name} (${me.ip})` : me.ip;
  const findings: Finding[] = [];
  const add = (kind: string, detail: string | null, severity: Severity, title: string, explanation: string, fix: Finding["fix"]) =>
    findings.push({
      id: detail === null ? `${kind}:${me.ip}` : `${kind}:${me.ip}:${detail}`,
      severity, title, explanation, fix,
      hosts: [{ ip: me.ip, mac: me.mac, role: ROLE_OF[spec.role] }],
      evidence: [],
    });
  const modes = new Set(spec.vips.map((v) => v.mode));
  if (spec.role === "real-server") checkRealServer(facts, spec, modes, who, add);
  else checkDirector(facts, spec, modes, who, add);
  const order = { critical: 0, warning: 1, info: 2 } as const;
  return findings.sort((a, b) => order[a.severity] - order[b.severity]);
}

type Add = (kind: string, detail: string | null, severity: Severity, title: string, explanation: string, fix: Finding["fix"]) => void;

function checkRealServer(facts: HostFacts, spec: HostRoleSpec, modes: ReadonlySet<VipMode>, who: string, add: Add): void {
  const holdsVip = spec.vips.filter((v) => v.mode === "dr" || v.mode === "tun");
  if (holdsVip.length === 0) return; // NAT/FULLNAT real servers do not hold the VIP: nothing here to check
  const lans = lanInterfaces(facts);

  // ARP: the VIP is local on this host, so every LAN interface must neither answer for it nor use it as the
  // source of its own requests.
  for (const lan of lans) {
    const ig = effectiveMax(facts, lan.name, "arp_ignore");
    if (ig.value === undefined || ig.value < 1) {
      const lo = facts.sysctls[confName("lo", "arp_ignore")];
      const loOnly = lo !== undefined && lo >= 1
        ? ` ${confName("lo", "arp_ignore")}=${lo} changes nothing: the kernel applies max(all, interface) of the interface the request arrives on, and requests for the VIP arrive on ${lan.name}, never on lo.`
        : "";
      add(SYSCTL_KINDS.arpIgnore, lan.name, "critical",
        `${who} answers ARP requests for the VIP on ${lan.name}`,
        `${who} holds the VIP ${holdsVip.map((v) => v.address).join(", ")} and its effective arp_ignore on ${lan.name} is ` +
          `${shown(ig.value)} (all=${shown(ig.all)}, ${lan.name}=${shown(ig.iface)}): it answers "who-has VIP" like the director does, ` +
          `and a router that keeps its answer sends the VIP's traffic straight to it, bypassing the director.${loOnly}`,
        {
          summary: `Set arp_ignore=1 on all and ${lan.name} (persistently in ${SYSCTL_CONF}).`,
          commands: sysctlFix([[confName("all", "arp_ignore"), 1], [confName(lan.name, "arp_ignore"), 1]]),
        });
    }
    const an = effectiveMax(facts, lan.name, "arp_announce");
    if (an.value === undefined || an.value < 2) {
      add(SYSCTL_KINDS.arpAnnounce, lan.name, "critical",
        `${who} may use the VIP as the source of its ARP requests on ${lan.name}`,
        `Effective arp_announce on ${lan.name} is ${shown(an.value)} (all=${shown(an.all)}, ${lan.name}=${shown(an.iface)}): when a ` +
          `reply leaves with the VIP as source, ${who} asks ARP for its gateway with the VIP as sender address, and every host ` +
          `that has the VIP in its neighbour table (the router) updates it to ${who}'s MAC.`,
        {
          summary: `Set arp_announce=2 on all and ${lan.name} (persistently in ${SYSCTL_CONF}).`,
          commands: sysctlFix([[confName("all", "arp_announce"), 2], [confName(lan.name, "arp_announce"), 2]]),
        });
    }
  }

  for (const vip of holdsVip) {
    const places = vipPlaces(facts, vip.address);
    const onLan = places.filter((p) => lans.includes(p.iface));
    for (const p of onLan) {
      add(SYSCTL_KINDS.vipOnLan, `${vip.address}:${p.iface.name}`, "critical",
        `${who} holds the VIP ${vip.address} on its LAN interface ${p.iface.name}`,
        `With the VIP on ${p.iface.name}, arp_ignore=1 does not help (the VIP is then configured on the interface the request ` +
          `arrives on): ${who} answers ARP for it and competes with the director. In ${vip.mode.toUpperCase()} the VIP belongs on ` +
          `${vip.mode === "dr" ? "lo as a /32" : "tunl0"}.`,
        {
          summary: `Move the VIP to ${vip.mode === "dr" ? "lo" : "tunl0"} as a /32.`,
          commands: [
            `ip addr del ${vip.address}/${p.prefixLen} dev ${p.iface.name}`,
            `ip addr add ${vip.address}/32 dev ${vip.mode === "dr" ? "lo" : "tunl0"}`,
          ],
        });
    }
    if (vip.mode === "dr") {
      if (places.length === 0) {
        add(SYSCTL_KINDS.vipMissing, vip.address, "critical",
          `${who} does not hold the VIP ${vip.address}`,
          `In DR the director forwards packets to ${who}'s MAC with the VIP still as destination: without the VIP on one of its ` +
            `interfaces ${who} drops them (Ip.InAddrErrors), and connections scheduled to it fail.`,
          { summary: "Add the VIP to lo as a /32.", commands: [`ip addr add ${vip.address}/32 dev lo`] });
      }
      for (const p of places.filter((x) => x.iface.name === "lo" && x.prefixLen < 32)) {
        add(SYSCTL_KINDS.vipNotHostRoute, vip.address, "warning",
          `${who} holds the VIP ${vip.address} on lo as /${p.prefixLen}, not /32`,
          `An address on lo with a /${p.prefixLen} makes the whole subnet local to ${who}: it can no longer reach the other ` +
            `hosts of ${vip.address}/${p.prefixLen} (their packets are delivered to itself).`,
          { summary: "Hold the VIP on lo as a /32.", commands: [`ip addr del ${vip.address}/${p.prefixLen} dev lo`, `ip addr add ${vip.address}/32 dev lo`] });
      }
    }
  }

  if (modes.has("tun")) {
    const tunVips = holdsVip.filter((v) => v.mode === "tun");
    const tunl0 = facts.interfaces.find((i) => i.name === "tunl0");
    if (tunl0 === undefined || !tunl0.up) {
      add(SYSCTL_KINDS.tunl0, null, "critical",
        tunl0 === undefined ? `${who} has no tunl0 (ipip not loaded)` : `${who}'s tunl0 is down`,
        `In TUN the director sends the client's packets to ${who} inside IPIP. ${tunl0 === undefined ? "Without the ipip module " : "With tunl0 down "}` +
          `${who} cannot decapsulate them and answers "protocol unreachable" or drops them: connections scheduled to it fail.`,
        {
          summary: "Load ipip and bring tunl0 up with the VIP.",
          commands: ["modprobe ipip", "ip link set tunl0 up", ...tunVips.map((v) => `ip addr add ${v.address}/32 dev tunl0`)],
        });
    }
    for (const v of tunVips) {
      const places = vipPlaces(facts, v.address);
      if (tunl0 !== undefined && !places.some((p) => p.iface.name === "tunl0")) {
        add(SYSCTL_KINDS.vipNotOnTunl0, v.address, "critical",
          `${who} does not hold the VIP ${v.address} on tunl0`,
          `The decapsulated packets are addressed to the VIP and arrive on tunl0: ` +
            (places.length === 0
              ? `${who} does not have the VIP at all, so it drops them (Ip.InAddrErrors).`
              : `${who} holds it only on ${places.map((p) => p.iface.name).join(", ")}.`) +
            " Connections scheduled to it fail.",
          { summary: "Add the VIP to tunl0 as a /32.", commands: [`ip addr add ${v.address}/32 dev tunl0`] });
      }
    }
    if (tunl0 !== undefined) {
      const rp = effectiveMax(facts, "tunl0", "rp_filter");
      if (rp.value === 1) {
        add(SYSCTL_KINDS.rpFilter, "tunl0", "critical",
          `${who} drops the decapsulated packets: strict rp_filter on tunl0`,
          `Effective rp_filter on tunl0 is 1 (all=${shown(rp.all)}, tunl0=${shown(rp.iface)}; the kernel applies the larger). The ` +
            `packet inside the tunnel comes from the client, whose route leaves by ${lans[0]?.name ?? "the LAN interface"}, not tunl0: ` +
            `the strict reverse-path check drops it (TcpExt.IPReversePathFilter) and connections scheduled to ${who} fail.`,
          {
            summary: `Set rp_filter to 0 (or 2, loose) on all and tunl0 (persistently in ${SYSCTL_CONF}).`,
            commands: sysctlFix([[confName("all", "rp_filter"), 0], [confName("tunl0", "rp_filter"), 0]]),
          });
      }
    }
  }
}

function checkDirector(facts: HostFacts, spec: HostRoleSpec, modes: ReadonlySet<VipMode>, who: string, add: Add): void {
  const lans = lanInterfaces(facts);
  for (const v of spec.vips) {
    if (vipPlaces(facts, v.address).length === 0) {
      add(SYSCTL_KINDS.vipMissing, v.address, "critical",
        `The director ${who} does not hold the VIP ${v.address}`,
        `No interface of ${who} has ${v.address}: it neither answers ARP for it nor accepts its packets, so IPVS never sees them.`,
        { summary: "Add the VIP to the director's LAN interface.", commands: [`ip addr add ${v.address}/32 dev ${lans[0]?.name ?? "eth0"}`] });
    }
  }
  const natLike = modes.has("nat") || modes.has("fullnat");
  if (natLike) {
    const global = facts.sysctls["net.ipv4.ip_forward"];
    const off = lans.filter((i) => facts.sysctls[confName(i.name, "forwarding")] === 0).map((i) => i.name);
    if (global === 0 || off.length > 0) {
      add(SYSCTL_KINDS.ipForward, null, "critical",
        `The NAT director ${who} does not forward`,
        `net.ipv4.ip_forward=${shown(global)}${off.length > 0 ? `, forwarding off on ${off.join(", ")}` : ""}: the real servers' ` +
          "replies come back through the director, which must route them to the client after IPVS rewrote their source; " +
          "without forwarding it drops them and every connection fails.",
        { summary: `Turn forwarding on (persistently in ${SYSCTL_CONF}).`, commands: sysctlFix([["net.ipv4.ip_forward", 1]]) });
    }
    // ICMP redirects are sent when a packet leaves by the interface it came in on: in a one-armed NAT the
    // director would tell the real servers to bypass it.
    for (const lan of lans) {
      const rsHere = (spec.realServers ?? []).filter((rs) => lan.addresses.some((a) => a.prefixLen < 32 && inSubnet(rs, a.address, a.prefixLen)));
      const vipHere = spec.vips.some((v) => lan.addresses.some((a) => a.address === v.address));
      if (rsHere.length === 0 || !vipHere || effectiveOr(facts, lan.name, "send_redirects") !== 1) continue;
      add(SYSCTL_KINDS.sendRedirects, lan.name, "warning",
        `The NAT director ${who} sends ICMP redirects on ${lan.name}`,
        `Clients (the VIP) and real servers (${rsHere.join(", ")}) share ${lan.name}: a reply that comes in and goes out on the ` +
          `same interface makes the kernel send the real server an ICMP redirect to the gateway, and a real server that accepts ` +
          `it then sends its replies around the director, un-NATed. send_redirects is on when all or ${lan.name} has it (OR).`,
        {
          summary: `Turn send_redirects off on all and ${lan.name} (persistently in ${SYSCTL_CONF}).`,
          commands: sysctlFix([[confName("all", "send_redirects"), 0], [confName(lan.name, "send_redirects"), 0]]),
        });
    }
  }
  if (modes.has("fullnat")) {
    const ct = facts.sysctls["net.ipv4.vs.conntrack"];
    if (ct !== 1) {
      add(SYSCTL_KINDS.vsConntrack, null, "critical",
        `The FULLNAT director ${who} runs with net.ipv4.vs.conntrack=${shown(ct)}`,
        "Without IPVS connection tracking, netfilter never sees IPVS's packets as a connection, so the SNAT rule that gives " +
          "them the director's inner address silently never matches: real servers see the client's address and answer " +
          "through their own gateway, and every connection fails. (The setting is per network namespace.)",
        { summary: `Set net.ipv4.vs.conntrack=1 (persistently in ${SYSCTL_CONF}).`, commands: sysctlFix([["net.ipv4.vs.conntrack", 1]]) });
    }
  }
  if (spec.advice === false) return;
  const nodest = facts.sysctls["net.ipv4.vs.expire_nodest_conn"];
  if (nodest === 0) {
    add(SYSCTL_KINDS.expireNodestConn, null, "info",
      "Connections to a removed real server are not expired",
      `net.ipv4.vs.expire_nodest_conn=0 on ${who}: when a health checker removes a real server, packets of its existing ` +
        "connections are dropped until each entry times out (up to 15 min for established TCP), so those clients hang instead " +
        "of reconnecting. With 1 the entry is expired at the next packet and the client's retransmission is scheduled anew.",
      { summary: `Set net.ipv4.vs.expire_nodest_conn=1 (persistently in ${SYSCTL_CONF}).`, commands: sysctlFix([["net.ipv4.vs.expire_nodest_conn", 1]]) });
  }
  const reuse = facts.sysctls["net.ipv4.vs.conn_reuse_mode"];
  const ct = facts.sysctls["net.ipv4.vs.conntrack"];
  if (reuse === 0) {
    add(SYSCTL_KINDS.connReuseMode, null, "info",
      "New connections that reuse a port stick to their old real server",
      `net.ipv4.vs.conn_reuse_mode=0 on ${who}: a client that opens a new connection from a port of a connection still in the ` +
        "table (busy clients and proxies do) goes to the same real server even when it was set to weight 0 or removed: draining " +
        "never finishes. The default, 1, reschedules them.",
      { summary: `Set net.ipv4.vs.conn_reuse_mode=1 (persistently in ${SYSCTL_CONF}).`, commands: sysctlFix([["net.ipv4.vs.conn_reuse_mode", 1]]) });
  } else if (reuse !== undefined && (reuse & 1) === 1 && ct === 1 && facts.kernel !== undefined && kernelBefore(facts.kernel, 5, 9)) {
    add(SYSCTL_KINDS.connReuseMode, null, "warning",
      "Reused ports wait a second with conntrack on this kernel",
      `${who} runs Linux ${facts.kernel} with net.ipv4.vs.conntrack=1 and conn_reuse_mode=${reuse}: before 5.9 IPVS drops the ` +
        "first SYN of a connection that reuses a port of a finished one and the client retransmits it 1 s later (fixed by " +
        "\"ipvs: allow connection reuse for unconfirmed conntrack\"). Busy clients see 1 s stalls.",
      { summary: "Upgrade the kernel to 5.9 or later, or accept conn_reuse_mode=0's stickiness.", commands: sysctlFix([["net.ipv4.vs.conn_reuse_mode", 0]]) });
  }
}

function kernelBefore(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a < major || (a === major && b < minor);
}

/** The role of a host in the site, from its addresses: a director when it holds a director address, a real
 *  server when one of its addresses is a real server's. Null: neither (a router, a client). */
export function roleInSite(facts: HostFacts, site: SiteContext): HostRoleSpec | null {
  const mine = new Set(facts.interfaces.flatMap((i) => i.addresses.map((a) => a.address)));
  const allVips = site.vips.map((v) => ({ address: v.address, mode: v.mode }));
  if (site.directors.some((d) => mine.has(d.ip))) {
    return { role: "director", vips: allVips, realServers: site.realServers.map((r) => r.ip) };
  }
  const rs = site.realServers.find((r) => mine.has(r.ip));
  if (rs === undefined) return null;
  const served = site.vips.filter((v) => v.realServers?.some((r) => r.ip === rs.ip));
  const modes = new Set(site.vips.map((v) => v.mode));
  // A real server in no VIP's list takes the site's only mode, when there is one (as the return-path checks do).
  const vips = served.length > 0 ? served : modes.size === 1 ? site.vips : [];
  return { role: "real-server", vips: vips.map((v) => ({ address: v.address, mode: v.mode })) };
}

/**
 * Every sysctl finding of the site: each host in `site.hostFacts` against the role the site gives it. Only
 * problems by default: the advice (severity info) is there when asked for, never as an open finding of a
 * healthy site.
 */
export function sysctlFindings(site: SiteContext, options: { advice?: boolean } = {}): Finding[] {
  const out: Finding[] = [];
  for (const facts of site.hostFacts ?? []) {
    const role = roleInSite(facts, site);
    if (role === null) continue;
    out.push(...evaluateHostSysctls(facts, { ...role, advice: options.advice ?? false }));
  }
  return out;
}
