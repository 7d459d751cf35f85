// Plans an LVS lab site: every namespace, link, address, sysctl, IPVS rule and HTTP server, as POSIX sh scripts.
// PURE: no I/O here. lab/site/site.ts runs the scripts (each with ONE `sh -e`: process starts are slow under TCG).
//
// Topology (all addresses are documentation ranges; MACs are fixed so captures read like shared/cases/dr):
//
//   client 203.0.113.50 ──[br <site>-cnet]── 203.0.113.1 router 192.0.2.254 ──[br <site>-lan]──┬── dir 192.0.2.1 (+VIP .100)
//                                                                                            └── rsN 192.0.2.1N   (DR, TUN)
//   NAT / FULLNAT: dir 198.51.100.1 ──[br <site>-inner]── rsN 198.51.100.1N (+ FULLNAT: gw 198.51.100.254)
//
// Every node is a network namespace `${site}-${node}`; inside it the interfaces are eth0 (and eth1 for the router
// and a NAT/FULLNAT director). The bridges and the bridge-side veth ends (`${site}-${node}-{c,l,i}`) live in the
// namespace the scripts run in (the lab guest's root namespace), so `tcpdump -i <site>-lan` captures the LAN.
import {
  checkFault, faultKey, faultsFor, isRsFault, resolveSpec,
  type Fault, type Mode, type ResolvedSpec, type SiteSpec,
} from "./spec";

export type Segment = "client" | "lan" | "inner";
export type Role = "client" | "router" | "director" | "real-server" | "gateway";
/** What a step needs from the kernel: the lab guest has all; a plain host has only "base" (netns, veth, bridge). */
export type Needs = "base" | "nft" | "ipvs" | "ipip";

export const ADDR = {
  clientNet: "203.0.113.0/24",
  client: "203.0.113.50",
  routerClientSide: "203.0.113.1",
  lan: "192.0.2.0/24",
  router: "192.0.2.254",
  dip: "192.0.2.1",
  vip: "192.0.2.100",
  inner: "198.51.100.0/24",
  dirInner: "198.51.100.1",
  /** FULLNAT real servers' own default gateway: a namespace that does not forward (see README). */
  innerGateway: "198.51.100.254",
  /** Fault nat-gw-wrong: an inner-net address nobody owns. */
  nobody: "198.51.100.253",
} as const;

/** MAC 02:00:00:00:SS:HH: SS = 00 LAN, 01 client net, 02 inner net; HH = the address' last octet, read as hex digits. */
function mac(segment: Segment, lastOctet: string): string {
  const ss = { lan: "00", client: "01", inner: "02" }[segment];
  return `02:00:00:00:${ss}:${lastOctet}`;
}
const SEGMENT_LETTER: Record<Segment, string> = { client: "c", lan: "l", inner: "i" };

export interface InterfacePlan {
  /** Name inside the node's namespace. */
  ifname: string;
  segment: Segment;
  address: string;
  prefixLen: number;
  mac: string;
  /** Bridge (in the scripts' namespace) this interface is plugged into, and the name of the veth end there. */
  bridge: string;
  bridgePort: string;
}

export interface HostPlan {
  /** "client", "router", "dir", "gw" or a real server's name. */
  node: string;
  netns: string;
  role: Role;
  interfaces: InterfacePlan[];
  /** Addresses beside the interfaces' own: the VIP on the director's eth0, a DR RS's lo or a TUN RS's tunl0. */
  extraAddresses: { address: string; prefixLen: number; ifname: string }[];
  defaultGateway: string | null;
  /** The healthy values the node step sets (faults change some of them). Besides: IPv6 off everywhere,
   *  tunl0's rp_filter in the TUN step, the director's net.ipv4.vs.conntrack in the FULLNAT IPVS step. */
  sysctls: Record<string, string>;
  /** Real servers only. */
  realServer?: { weight: number; port: number; /** address the director forwards to */ rip: string };
}

export interface Step {
  title: string;
  needs: Needs;
  script: string;
}

export interface FaultPlan {
  fault: Fault;
  on: string;
  off: string;
}

export interface SitePlan {
  spec: ResolvedSpec;
  vip: string;
  vipPort: number;
  /** "192.0.2.100:80", as ipvsadm prints it. */
  service: string;
  hosts: HostPlan[];
  bridges: Partial<Record<Segment, string>>;
  /** Where to capture the LAN: the bridge in the scripts' namespace. */
  lanBridge: string;
  /** Scratch directory of the site (web roots). */
  workDir: string;
  steps: Step[];
  /** All steps in one script, for `sh -e`. */
  up: string;
  /** Best effort, idempotent: kills the site's processes, deletes its namespaces, bridges and workDir. */
  down: string;
  /** Every fault the site can toggle, by faultKey(). The `on` scripts of spec.faults are also the last steps of up. */
  faults: Record<string, FaultPlan>;
}

export interface PlanOptions {
  /** Parent of the site's scratch directory (default /tmp/lab-site). */
  workRoot?: string;
}

export function planSite(input: SiteSpec, opts: PlanOptions = {}): SitePlan {
  const spec = resolveSpec(input);
  const s = spec.name;
  const workDir = `${opts.workRoot ?? "/tmp/lab-site"}/${s}`;
  const natLike = spec.mode === "nat" || spec.mode === "fullnat";
  const bridges: Partial<Record<Segment, string>> = { client: `${s}-cnet`, lan: `${s}-lan` };
  if (natLike) bridges.inner = `${s}-inner`;

  const iface = (node: string, ifname: string, segment: Segment, address: string, lastOctet: string): InterfacePlan => ({
    ifname, segment, address, prefixLen: 24, mac: mac(segment, lastOctet),
    bridge: bridges[segment] ?? `${s}-${segment}`, bridgePort: `${s}-${node}-${SEGMENT_LETTER[segment]}`,
  });
  const host = (node: string, role: Role, rest: Omit<HostPlan, "node" | "netns" | "role">): HostPlan => ({
    node, netns: `${s}-${node}`, role, ...rest,
  });
  const base = { "net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.default.rp_filter": "0" };

  const hosts: HostPlan[] = [
    host("client", "client", {
      interfaces: [iface("client", "eth0", "client", ADDR.client, "50")],
      extraAddresses: [], defaultGateway: ADDR.routerClientSide,
      sysctls: { ...base, "net.ipv4.ip_forward": "0" },
    }),
    host("router", "router", {
      interfaces: [
        iface("router", "eth0", "client", ADDR.routerClientSide, "01"),
        iface("router", "eth1", "lan", ADDR.router, "fe"),
      ],
      extraAddresses: [], defaultGateway: null,
      sysctls: { ...base, "net.ipv4.ip_forward": "1" },
    }),
    host("dir", "director", {
      interfaces: [
        iface("dir", "eth0", "lan", ADDR.dip, "01"),
        ...(natLike ? [iface("dir", "eth1", "inner", ADDR.dirInner, "01")] : []),
      ],
      extraAddresses: spec.bare ? [] : [{ address: ADDR.vip, prefixLen: 32, ifname: "eth0" }],
      defaultGateway: ADDR.router,
      // DR and TUN directors only receive: they need no forwarding. NAT and FULLNAT route the replies back.
      sysctls: { ...base, "net.ipv4.ip_forward": natLike && !spec.bare ? "1" : "0" },
    }),
  ];
  spec.realServers.forEach((rs, i) => {
    const octet = `1${i + 1}`;
    const rip = natLike ? `198.51.100.${octet}` : `192.0.2.${octet}`;
    const sysctls: Record<string, string> = { ...base, "net.ipv4.ip_forward": "0" };
    if (!natLike && !spec.bare) Object.assign(sysctls, arpSysctls("eth0", true));
    const extra =
      spec.bare ? []
      : spec.mode === "dr" ? [{ address: ADDR.vip, prefixLen: 32, ifname: "lo" }]
      : spec.mode === "tun" ? [{ address: ADDR.vip, prefixLen: 32, ifname: "tunl0" }]
      : [];
    hosts.push(host(rs.name, "real-server", {
      interfaces: [iface(rs.name, "eth0", natLike ? "inner" : "lan", rip, octet)],
      extraAddresses: extra,
      // Bare NAT real servers have no default route: the wizard's real-server script points it at the DIP.
      defaultGateway: spec.bare && spec.mode === "nat" ? null : healthyRsGateway(spec.mode),
      sysctls,
      realServer: { weight: rs.weight, port: rs.port, rip },
    }));
  });
  if (spec.mode === "fullnat") {
    hosts.push(host("gw", "gateway", {
      interfaces: [iface("gw", "eth0", "inner", ADDR.innerGateway, "fe")],
      extraAddresses: [], defaultGateway: null,
      sysctls: { ...base, "net.ipv4.ip_forward": "0" },
    }));
  }

  const byNode = new Map(hosts.map((h) => [h.node, h]));
  const faults: Record<string, FaultPlan> = {};
  for (const fault of faultsFor(spec)) faults[faultKey(fault)] = planFault(spec, byNode, fault);

  const steps: Step[] = [
    { title: "namespaces, bridges and links", needs: "base", script: linksScript(hosts, bridges) },
    ...hosts.map((h) => ({ title: `${h.node}: sysctls, addresses, routes`, needs: "base" as const, script: nodeScript(h) })),
  ];
  if (spec.mode === "tun" && !spec.bare) {
    steps.push({
      title: "real servers: ipip tunnel endpoint (tunl0 with the VIP)",
      needs: "ipip",
      script: [
        "modprobe -q ipip || true",
        ...hosts.filter((h) => h.role === "real-server").map((h) => [
          `ip -n ${h.netns} -b - <<'EOF'\nlink set tunl0 up\naddr add ${ADDR.vip}/32 dev tunl0\nEOF`,
          `ip netns exec ${h.netns} sysctl -qw net.ipv4.conf.tunl0.rp_filter=0`,
        ].join("\n")),
      ].join("\n"),
    });
  }
  steps.push({ title: "real servers: HTTP", needs: "base", script: httpScript(hosts, workDir) });
  const dir = byNode.get("dir")!;
  if (spec.mode === "fullnat" && !spec.bare) {
    steps.push({ title: "director: FULLNAT source NAT towards the real servers", needs: "nft", script: snatScript(dir) });
  }
  if (!spec.bare) steps.push({ title: "director: IPVS service", needs: "ipvs", script: ipvsScript(spec, dir, hosts) });
  for (const fault of spec.faults) {
    steps.push({ title: `fault ${faultKey(fault)}: on`, needs: faultNeeds(fault), script: faults[faultKey(fault)]!.on });
  }

  return {
    spec,
    vip: ADDR.vip,
    vipPort: spec.vipPort,
    service: `${ADDR.vip}:${spec.vipPort}`,
    hosts,
    bridges,
    lanBridge: bridges.lan!,
    workDir,
    steps,
    up: joinSteps(steps),
    down: downScript(hosts, bridges, workDir),
    faults,
  };
}

/** A node's plan by name ("client", "router", "dir", "gw" or a real server's name). */
export function planHost(plan: SitePlan, node: string): HostPlan {
  const h = plan.hosts.find((x) => x.node === node);
  if (!h) throw new Error(`site ${plan.spec.name} has no node "${node}" (${plan.hosts.map((x) => x.node).join(", ")})`);
  return h;
}

/** The fault-toggling scripts alone, after checking the fault applies to the plan's mode and real servers. */
export function faultScripts(plan: SitePlan, fault: Fault): FaultPlan {
  checkFault(plan.spec, fault);
  const found = plan.faults[faultKey(fault)];
  if (!found) throw new Error(`no plan for fault ${faultKey(fault)}`); // unreachable after checkFault
  return found;
}

/** Joins steps into one script; each starts with `: step TITLE`, which `sh -x` traces, so errors name the step. */
export function joinSteps(steps: readonly Step[]): string {
  return steps.map((st) => `: step ${shellWord(st.title)}\n${st.script}`).join("\n") + "\n";
}

function healthyRsGateway(mode: Mode): string {
  if (mode === "nat") return ADDR.dirInner;
  if (mode === "fullnat") return ADDR.innerGateway;
  return ADDR.router;
}

/** A DR/TUN real server holds the VIP but must not answer ARP for it (arp_ignore=1) nor use it as ARP source
 *  (arp_announce=2), on `all` and on the LAN interface (the kernel uses the max of the two). */
function arpSysctls(ifname: string, suppress: boolean): Record<string, string> {
  const ignore = suppress ? "1" : "0";
  const announce = suppress ? "2" : "0";
  return {
    "net.ipv4.conf.all.arp_ignore": ignore,
    "net.ipv4.conf.all.arp_announce": announce,
    [`net.ipv4.conf.${ifname}.arp_ignore`]: ignore,
    [`net.ipv4.conf.${ifname}.arp_announce`]: announce,
  };
}

function sysctlLine(netns: string, values: Record<string, string>): string {
  const args = Object.entries(values).map(([k, v]) => `${k}=${v}`).join(" ");
  return `ip netns exec ${netns} sysctl -qw ${args}`;
}

function linksScript(hosts: readonly HostPlan[], bridges: Partial<Record<Segment, string>>): string {
  const lines: string[] = [];
  for (const h of hosts) lines.push(`netns add ${h.netns}`);
  for (const br of Object.values(bridges)) {
    // No STP, no forwarding delay, no IGMP/MLD snooping, no IPv6 address: the bridge only switches frames,
    // so a capture on it shows the nodes' traffic and nothing of its own.
    lines.push(`link add ${br} type bridge forward_delay 0 stp_state 0 mcast_snooping 0`);
    lines.push(`link set dev ${br} addrgenmode none`);
    lines.push(`link set dev ${br} up`);
  }
  for (const h of hosts) {
    for (const i of h.interfaces) {
      lines.push(`link add ${i.bridgePort} type veth peer name ${i.ifname} address ${i.mac} netns ${h.netns}`);
      lines.push(`link set dev ${i.bridgePort} addrgenmode none`);
      lines.push(`link set dev ${i.bridgePort} master ${i.bridge} up`);
    }
  }
  return `ip -b - <<'EOF'\n${lines.join("\n")}\nEOF`;
}

function nodeScript(h: HostPlan): string {
  // IPv6 off (all and default) first: no router solicitations, DAD or MLD in the captures.
  const sysctls = { "net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1", ...h.sysctls };
  const ip: string[] = ["link set lo up"];
  for (const i of h.interfaces) {
    ip.push(`addr add ${i.address}/${i.prefixLen} dev ${i.ifname}`);
    ip.push(`link set dev ${i.ifname} up`);
  }
  // tunl0 exists only where ipip is loaded: it gets its address in the TUN step.
  for (const a of h.extraAddresses) if (a.ifname !== "tunl0") ip.push(`addr add ${a.address}/${a.prefixLen} dev ${a.ifname}`);
  if (h.defaultGateway) ip.push(`route add default via ${h.defaultGateway}`);
  return `${sysctlLine(h.netns, sysctls)}\nip -n ${h.netns} -b - <<'EOF'\n${ip.join("\n")}\nEOF`;
}

/** busybox httpd per real server: `/` is a page whose body is the server's name; `/cgi-bin/peer` answers
 *  "<name> <REMOTE_ADDR>", i.e. the address the real server sees the request coming from. */
function httpScript(hosts: readonly HostPlan[], workDir: string): string {
  const lines: string[] = [];
  for (const h of hosts) {
    if (!h.realServer) continue;
    const www = `${workDir}/${h.node}/www`;
    lines.push(`mkdir -p ${www}/cgi-bin`);
    lines.push(`printf '%s\\n' ${h.node} > ${www}/index.html`);
    lines.push(
      `printf '%s\\n' '#!/bin/sh' 'printf "Content-Type: text/plain\\r\\n\\r\\n%s %s\\n" ${h.node} "$REMOTE_ADDR"' > ${www}/cgi-bin/peer`,
    );
    lines.push(`chmod +x ${www}/cgi-bin/peer`);
    // Without -f busybox httpd forks into the background only after it listens: the next request finds it ready.
    lines.push(`ip netns exec ${h.netns} busybox httpd -p 0.0.0.0:${h.realServer.port} -h ${www} </dev/null`);
  }
  return lines.join("\n");
}

function snatScript(dir: HostPlan): string {
  const inner = dir.interfaces.find((i) => i.segment === "inner")!;
  // The mainline stand-in for FULLNAT: IPVS NAT, then source NAT to the director's inner address, so real servers
  // see the director as the client. It only works with net.ipv4.vs.conntrack=1 (set in the IPVS step).
  return [
    `ip netns exec ${dir.netns} nft -f - <<'EOF'`,
    "table ip lvs_fullnat {",
    "  chain postrouting {",
    "    type nat hook postrouting priority srcnat; policy accept;",
    `    oifname "${inner.ifname}" ip daddr ${ADDR.inner} snat to ${inner.address}`,
    "  }",
    "}",
    "EOF",
  ].join("\n");
}

function ipvsScript(spec: ResolvedSpec, dir: HostPlan, hosts: readonly HostPlan[]): string {
  const fwd = { dr: "-g", tun: "-i", nat: "-m", fullnat: "-m" }[spec.mode];
  const svc = `-t ${ADDR.vip}:${spec.vipPort}`;
  const rules = [`-A ${svc} -s ${spec.scheduler}`];
  for (const h of hosts) {
    if (!h.realServer) continue;
    rules.push(`-a ${svc} -r ${h.realServer.rip}:${h.realServer.port} ${fwd} -w ${h.realServer.weight}`);
  }
  const lines: string[] = [];
  if (spec.mode === "fullnat") lines.push(sysctlLine(dir.netns, { "net.ipv4.vs.conntrack": "1" }));
  lines.push(`ip netns exec ${dir.netns} ipvsadm -R <<'EOF'\n${rules.join("\n")}\nEOF`);
  return lines.join("\n");
}

function faultNeeds(fault: Fault): Needs {
  if (fault.kind === "fullnat-no-conntrack") return "ipvs";
  if (fault.kind === "tun-rp-filter" || fault.kind === "tun-no-vip") return "ipip";
  return "base";
}

function planFault(spec: ResolvedSpec, byNode: ReadonlyMap<string, HostPlan>, fault: Fault): FaultPlan {
  const router = byNode.get("router")!;
  const dir = byNode.get("dir")!;
  // Forgetting the router's ARP entry for the VIP makes the next request ask "who-has VIP" again: the fault
  // (and its repair) shows at once instead of after the entry ages out.
  const flushVip = `ip -n ${router.netns} neigh flush to ${ADDR.vip}`;
  if (!isRsFault(fault)) {
    const conntrack = (v: string) => sysctlLine(dir.netns, { "net.ipv4.vs.conntrack": v });
    return { fault, on: conntrack("0"), off: conntrack("1") };
  }
  const rs = byNode.get(fault.rs)!;
  const lanIf = rs.interfaces[0]!.ifname;
  const route = (gw: string) => `ip -n ${rs.netns} route replace default via ${gw}`;
  const healthyGw = healthyRsGateway(spec.mode);
  switch (fault.kind) {
    case "rs-arp":
      return {
        fault,
        on: `${sysctlLine(rs.netns, arpSysctls(lanIf, false))}\n${flushVip}`,
        off: `${sysctlLine(rs.netns, arpSysctls(lanIf, true))}\n${flushVip}`,
      };
    case "rs-gw-director":
      return { fault, on: route(ADDR.dip), off: route(healthyGw) };
    case "nat-gw-wrong":
      return { fault, on: route(ADDR.nobody), off: route(healthyGw) };
    case "nat-gw-missing":
      return { fault, on: `ip -n ${rs.netns} route flush exact 0.0.0.0/0`, off: route(healthyGw) };
    case "tun-rp-filter": {
      const rp = (v: string) => sysctlLine(rs.netns, { "net.ipv4.conf.all.rp_filter": v, "net.ipv4.conf.tunl0.rp_filter": v });
      return { fault, on: rp("1"), off: rp("0") };
    }
    case "tun-no-vip":
      return {
        fault,
        on: `ip -n ${rs.netns} addr flush dev tunl0`,
        off: `ip -n ${rs.netns} addr replace ${ADDR.vip}/32 dev tunl0`,
      };
  }
}

function downScript(hosts: readonly HostPlan[], bridges: Partial<Record<Segment, string>>, workDir: string): string {
  const names = hosts.map((h) => h.netns).join(" ");
  // Bridge ports first: deleting a veth is synchronous and takes its peer with it, whereas a deleted
  // namespace frees its veths later, from a kernel work queue. Under load, a site rebuilt at once under the
  // same name then met the old ports ("RTNETLINK answers: File exists").
  const ports = hosts.flatMap((h) => h.interfaces.map((i) => `link del ${i.bridgePort}`));
  const del = [...ports, ...hosts.map((h) => `netns del ${h.netns}`), ...Object.values(bridges).map((b) => `link del ${b}`)];
  return [
    "set +e",
    // Only processes inside the site's own namespaces: the HTTP servers and the client.
    `for ns in ${names}; do`,
    `  [ -e /run/netns/$ns ] || continue`,
    `  pids=$(ip netns pids $ns 2>/dev/null)`,
    `  [ -z "$pids" ] || kill $pids 2>/dev/null`,
    "done",
    `ip -force -b - 2>/dev/null <<'EOF'\n${del.join("\n")}\nEOF`,
    `rm -rf ${workDir}`,
    "exit 0",
    "",
  ].join("\n");
}

/** Quotes a word for sh. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_.,:/=+@%-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
