// The site plans (lab/site/plan.ts) for every mode and fault: what the scripts set, node by node.
import { describe, expect, it } from "vitest";
import { ADDR, planHost, planSite, type SitePlan } from "@/lab/site/plan";
import { faultKey, faultsFor, FAULTS_BY_MODE, MODES, resolveSpec, type Fault, type SiteSpec } from "@/lab/site/spec";

/** Effective sysctls of a namespace after running `script`: every `ip netns exec NS sysctl -qw k=v...`, in order. */
function sysctls(script: string, netns: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = new RegExp(`^ip netns exec ${netns} sysctl -qw (.*)$`, "gm");
  for (const m of script.matchAll(re)) {
    for (const kv of m[1]!.split(" ")) {
      const [k, v] = kv.split("=");
      out[k!] = v!;
    }
  }
  return out;
}

/** The commands `ip -n NS -b -` runs in a namespace (heredoc bodies), plus single `ip -n NS ...` commands. */
function ipCommands(script: string, netns: string): string[] {
  const out: string[] = [];
  const batch = new RegExp(`^ip -n ${netns} -b - <<'EOF'\\n([\\s\\S]*?)\\nEOF$`, "gm");
  for (const m of script.matchAll(batch)) out.push(...m[1]!.split("\n"));
  const single = new RegExp(`^ip -n ${netns} (?!-b)(.*)$`, "gm");
  for (const m of script.matchAll(single)) out.push(m[1]!);
  return out;
}

function heredoc(script: string, command: string): string[] {
  const start = `${command} <<'EOF'\n`;
  const i = script.indexOf(start);
  if (i < 0) return [];
  const body = script.slice(i + start.length);
  return body.slice(0, body.indexOf("\nEOF")).split("\n");
}

const plan = (spec: Partial<SiteSpec> & Pick<SiteSpec, "mode">) => planSite({ name: "s1", ...spec });
const fault = (p: SitePlan, f: Fault) => p.faults[faultKey(f)]!;

const ARP_ON = {
  "net.ipv4.conf.all.arp_ignore": "1",
  "net.ipv4.conf.all.arp_announce": "2",
  "net.ipv4.conf.eth0.arp_ignore": "1",
  "net.ipv4.conf.eth0.arp_announce": "2",
};

describe("site addressing", () => {
  it("follows the DR case's addresses and MACs, one namespace per node", () => {
    const p = plan({ mode: "dr", realServers: [{ name: "rs1", weight: 1 }, { name: "rs2", weight: 2 }, { name: "rs3", weight: 3 }] });
    const lan = (node: string) => planHost(p, node).interfaces.find((i) => i.segment === "lan")!;
    expect(p.hosts.map((h) => h.netns)).toEqual(["s1-client", "s1-router", "s1-dir", "s1-rs1", "s1-rs2", "s1-rs3"]);
    expect([lan("router").address, lan("router").mac]).toEqual(["192.0.2.254", "02:00:00:00:00:fe"]);
    expect([lan("dir").address, lan("dir").mac]).toEqual(["192.0.2.1", "02:00:00:00:00:01"]);
    expect([lan("rs1").address, lan("rs1").mac]).toEqual(["192.0.2.11", "02:00:00:00:00:11"]);
    expect([lan("rs3").address, lan("rs3").mac]).toEqual(["192.0.2.13", "02:00:00:00:00:13"]);
    expect(planHost(p, "client").interfaces[0]).toMatchObject({ address: "203.0.113.50", bridge: "s1-cnet" });
    expect(planHost(p, "client").defaultGateway).toBe("203.0.113.1");
    expect(p.lanBridge).toBe("s1-lan");
    expect(p.service).toBe("192.0.2.100:80");
    // The veth peers are created inside the namespaces with their fixed MACs, the other ends join the bridges.
    expect(p.up).toContain("link add s1-rs2-l type veth peer name eth0 address 02:00:00:00:00:12 netns s1-rs2");
    expect(p.up).toContain("link set dev s1-rs2-l master s1-lan up");
  });

  it("puts NAT and FULLNAT real servers on the inner net behind the director", () => {
    for (const mode of ["nat", "fullnat"] as const) {
      const p = plan({ mode });
      expect(p.bridges.inner).toBe("s1-inner");
      expect(planHost(p, "dir").interfaces.map((i) => [i.ifname, i.address, i.segment])).toEqual([
        ["eth0", "192.0.2.1", "lan"],
        ["eth1", "198.51.100.1", "inner"],
      ]);
      expect(planHost(p, "rs2").interfaces[0]).toMatchObject({ address: "198.51.100.12", mac: "02:00:00:00:02:12", bridge: "s1-inner" });
      expect(planHost(p, "rs2").realServer?.rip).toBe("198.51.100.12");
    }
    expect(plan({ mode: "dr" }).bridges.inner).toBeUndefined();
  });

  it("keeps every interface name within 15 characters, even with the longest names", () => {
    const p = planSite({ name: "abcdef", mode: "fullnat", realServers: [{ name: "webzzz", weight: 1 }] });
    const names = [...Object.values(p.bridges), ...p.hosts.flatMap((h) => h.interfaces.map((i) => i.bridgePort))];
    expect(names).toContain("abcdef-router-c");
    for (const n of names) expect(n.length, n).toBeLessThanOrEqual(15);
  });

  it("lets two sites coexist: no shared namespace, bridge or port name", () => {
    const a = plan({ mode: "nat" });
    const b = planSite({ name: "s2", mode: "nat" });
    const names = (p: SitePlan) => [
      ...p.hosts.map((h) => h.netns), ...Object.values(p.bridges), ...p.hosts.flatMap((h) => h.interfaces.map((i) => i.bridgePort)),
    ];
    const shared = names(a).filter((n) => names(b).includes(n));
    expect(shared).toEqual([]);
  });
});

describe("LVS-DR plan", () => {
  const p = plan({ mode: "dr" });

  it("suppresses ARP for the VIP on every real server (all and the LAN interface) and puts the VIP on lo", () => {
    for (const rs of ["rs1", "rs2"]) {
      expect(sysctls(p.up, `s1-${rs}`)).toMatchObject(ARP_ON);
      expect(ipCommands(p.up, `s1-${rs}`)).toContain("addr add 192.0.2.100/32 dev lo");
      expect(ipCommands(p.up, `s1-${rs}`)).toContain("route add default via 192.0.2.254");
    }
  });

  it("gives the director the VIP on eth0 and a direct-routing service with the weights", () => {
    expect(ipCommands(p.up, "s1-dir")).toContain("addr add 192.0.2.100/32 dev eth0");
    expect(sysctls(p.up, "s1-dir")["net.ipv4.ip_forward"]).toBe("0");
    expect(heredoc(p.up, "ip netns exec s1-dir ipvsadm -R")).toEqual([
      "-A -t 192.0.2.100:80 -s wrr",
      "-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1",
      "-a -t 192.0.2.100:80 -r 192.0.2.12:80 -g -w 2",
    ]);
    expect(sysctls(p.up, "s1-router")["net.ipv4.ip_forward"]).toBe("1");
  });

  it("rs-arp turns the suppression off on all and the LAN interface, and back on; both forget the router's VIP entry", () => {
    const f = fault(p, { kind: "rs-arp", rs: "rs2" });
    expect(sysctls(f.on, "s1-rs2")).toEqual({
      "net.ipv4.conf.all.arp_ignore": "0",
      "net.ipv4.conf.all.arp_announce": "0",
      "net.ipv4.conf.eth0.arp_ignore": "0",
      "net.ipv4.conf.eth0.arp_announce": "0",
    });
    expect(sysctls(f.off, "s1-rs2")).toEqual(ARP_ON);
    expect(sysctls(f.on, "s1-rs1")).toEqual({});
    for (const s of [f.on, f.off]) expect(s).toContain("ip -n s1-router neigh flush to 192.0.2.100");
  });

  it("rs-gw-director points the real server's default route at the DIP, and back at the router", () => {
    const f = fault(p, { kind: "rs-gw-director", rs: "rs1" });
    expect(ipCommands(f.on, "s1-rs1")).toEqual(["route replace default via 192.0.2.1"]);
    expect(ipCommands(f.off, "s1-rs1")).toEqual(["route replace default via 192.0.2.254"]);
  });

  it("builds a site with its faults on: their on-scripts end the up script", () => {
    const faulty = plan({ mode: "dr", faults: [{ kind: "rs-arp", rs: "rs2" }] });
    expect(faulty.steps.at(-1)!.title).toBe("fault rs-arp:rs2: on");
    expect(sysctls(faulty.up, "s1-rs2")["net.ipv4.conf.eth0.arp_ignore"]).toBe("0");
    expect(sysctls(faulty.up, "s1-rs1")["net.ipv4.conf.eth0.arp_ignore"]).toBe("1");
  });
});

describe("LVS-NAT plan", () => {
  const p = plan({ mode: "nat", realServers: [{ name: "rs1", weight: 1 }, { name: "rs2", weight: 2, port: 8080 }] });

  it("routes the real servers through the director (gateway = DIP), which forwards", () => {
    for (const rs of ["rs1", "rs2"]) expect(ipCommands(p.up, `s1-${rs}`)).toContain("route add default via 198.51.100.1");
    expect(sysctls(p.up, "s1-dir")["net.ipv4.ip_forward"]).toBe("1");
    expect(sysctls(p.up, "s1-rs1")).not.toHaveProperty("net.ipv4.conf.all.arp_ignore");
  });

  it("masquerades to the inner addresses, mapping ports", () => {
    expect(heredoc(p.up, "ip netns exec s1-dir ipvsadm -R")).toEqual([
      "-A -t 192.0.2.100:80 -s wrr",
      "-a -t 192.0.2.100:80 -r 198.51.100.11:80 -m -w 1",
      "-a -t 192.0.2.100:80 -r 198.51.100.12:8080 -m -w 2",
    ]);
    expect(p.up).toContain("ip netns exec s1-rs2 busybox httpd -p 0.0.0.0:8080 ");
  });

  it("nat-gw-wrong sends replies to an address nobody owns; nat-gw-missing removes the default route", () => {
    const wrong = fault(p, { kind: "nat-gw-wrong", rs: "rs1" });
    expect(ipCommands(wrong.on, "s1-rs1")).toEqual([`route replace default via ${ADDR.nobody}`]);
    expect(ipCommands(wrong.off, "s1-rs1")).toEqual(["route replace default via 198.51.100.1"]);
    expect(p.hosts.flatMap((h) => h.interfaces.map((i) => i.address))).not.toContain(ADDR.nobody);
    const missing = fault(p, { kind: "nat-gw-missing", rs: "rs2" });
    expect(ipCommands(missing.on, "s1-rs2")).toEqual(["route flush exact 0.0.0.0/0"]);
    expect(ipCommands(missing.off, "s1-rs2")).toEqual(["route replace default via 198.51.100.1"]);
  });
});

describe("LVS-TUN plan", () => {
  const p = plan({ mode: "tun" });

  it("terminates the tunnel on the real servers: ipip, tunl0 up with the VIP, rp_filter 0 on all and tunl0", () => {
    expect(p.up).toContain("modprobe -q ipip");
    for (const rs of ["rs1", "rs2"]) {
      expect(ipCommands(p.up, `s1-${rs}`)).toEqual(expect.arrayContaining(["link set tunl0 up", "addr add 192.0.2.100/32 dev tunl0"]));
      expect(sysctls(p.up, `s1-${rs}`)).toMatchObject({
        "net.ipv4.conf.all.rp_filter": "0",
        "net.ipv4.conf.tunl0.rp_filter": "0",
        ...ARP_ON,
      });
      expect(ipCommands(p.up, `s1-${rs}`)).toContain("route add default via 192.0.2.254");
    }
    expect(heredoc(p.up, "ip netns exec s1-dir ipvsadm -R")).toContain("-a -t 192.0.2.100:80 -r 192.0.2.12:80 -i -w 2");
    expect(p.steps.find((s) => s.script.includes("tunl0"))!.needs).toBe("ipip");
  });

  it("tun-rp-filter makes rp_filter strict on all and tunl0; tun-no-vip takes the VIP off tunl0", () => {
    const rp = fault(p, { kind: "tun-rp-filter", rs: "rs1" });
    expect(sysctls(rp.on, "s1-rs1")).toEqual({ "net.ipv4.conf.all.rp_filter": "1", "net.ipv4.conf.tunl0.rp_filter": "1" });
    expect(sysctls(rp.off, "s1-rs1")).toEqual({ "net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.tunl0.rp_filter": "0" });
    const vip = fault(p, { kind: "tun-no-vip", rs: "rs2" });
    expect(ipCommands(vip.on, "s1-rs2")).toEqual(["addr flush dev tunl0"]);
    expect(ipCommands(vip.off, "s1-rs2")).toEqual(["addr replace 192.0.2.100/32 dev tunl0"]);
  });
});

describe("FULLNAT plan", () => {
  const p = plan({ mode: "fullnat" });

  it("adds source NAT to the director's inner address and turns IPVS conntrack on", () => {
    expect(heredoc(p.up, "ip netns exec s1-dir nft -f -")).toContain(
      '    oifname "eth1" ip daddr 198.51.100.0/24 snat to 198.51.100.1',
    );
    expect(sysctls(p.up, "s1-dir")["net.ipv4.vs.conntrack"]).toBe("1");
    expect(heredoc(p.up, "ip netns exec s1-dir ipvsadm -R")).toContain("-a -t 192.0.2.100:80 -r 198.51.100.11:80 -m -w 1");
    // The SNAT rule exists before IPVS forwards anything.
    expect(p.up.indexOf("nft -f -")).toBeLessThan(p.up.indexOf("ipvsadm -R"));
  });

  it("routes the real servers NOT through the director but to their own, non-forwarding gateway", () => {
    for (const rs of ["rs1", "rs2"]) expect(ipCommands(p.up, `s1-${rs}`)).toContain("route add default via 198.51.100.254");
    expect(planHost(p, "gw").interfaces[0]).toMatchObject({ address: "198.51.100.254", segment: "inner" });
    expect(sysctls(p.up, "s1-gw")["net.ipv4.ip_forward"]).toBe("0");
  });

  it("fullnat-no-conntrack turns net.ipv4.vs.conntrack off in the director, and on again", () => {
    const f = fault(p, { kind: "fullnat-no-conntrack" });
    expect(sysctls(f.on, "s1-dir")).toEqual({ "net.ipv4.vs.conntrack": "0" });
    expect(sysctls(f.off, "s1-dir")).toEqual({ "net.ipv4.vs.conntrack": "1" });
  });
});

describe("faults and specs", () => {
  it("offers exactly the faults valid for each mode, for each real server", () => {
    for (const mode of MODES) {
      const p = plan({ mode });
      const kinds = new Set(Object.values(p.faults).map((f) => f.fault.kind));
      expect([...kinds].sort()).toEqual([...FAULTS_BY_MODE[mode]].sort());
      expect(Object.keys(p.faults)).toEqual(faultsFor(resolveSpec({ name: "s1", mode })).map(faultKey));
    }
    expect(Object.keys(plan({ mode: "dr" }).faults)).toEqual(["rs-arp:rs1", "rs-arp:rs2", "rs-gw-director:rs1", "rs-gw-director:rs2"]);
  });

  it("rejects a fault that does not apply to the mode, naming the valid ones", () => {
    expect(() => plan({ mode: "dr", faults: [{ kind: "tun-no-vip", rs: "rs1" }] })).toThrow(
      'fault "tun-no-vip" does not apply to mode dr (valid: rs-arp, rs-gw-director)',
    );
    expect(() => plan({ mode: "nat", faults: [{ kind: "rs-arp", rs: "rs1" }] })).toThrow(/does not apply to mode nat/);
    expect(() => plan({ mode: "dr", faults: [{ kind: "fullnat-no-conntrack" }] })).toThrow(/does not apply to mode dr/);
    expect(() => plan({ mode: "fullnat", faults: [{ kind: "nat-gw-wrong", rs: "rs1" }] })).toThrow(/does not apply/);
  });

  it("rejects faults on unknown real servers, duplicate faults and bad specs", () => {
    expect(() => plan({ mode: "dr", faults: [{ kind: "rs-arp", rs: "rs9" }] })).toThrow(/real server "rs9", which the site does not have/);
    expect(() => plan({ mode: "dr", faults: [{ kind: "rs-arp", rs: "rs1" }, { kind: "rs-arp", rs: "rs1" }] })).toThrow(/twice/);
    expect(() => planSite({ name: "toolong1", mode: "dr" })).toThrow(/site name/);
    expect(() => plan({ mode: "dr", realServers: [{ name: "rs1", weight: 1, port: 8080 }] })).toThrow(/its port must be 80/);
    expect(() => plan({ mode: "nat", realServers: [{ name: "dir", weight: 1 }] })).toThrow(/not be a node name/);
    expect(() => plan({ mode: "nat", realServers: [{ name: "a", weight: 1 }, { name: "a", weight: 2 }] })).toThrow(/twice/);
    expect(() => plan({ mode: "nat", realServers: [{ name: "a", weight: 1.5 }] })).toThrow(/weight/);
    expect(() => plan({ mode: "nat", realServers: [] })).toThrow(/1 to 9 real servers/);
  });

  it("defaults to two real servers weighted 1:2, wrr, TCP port 80", () => {
    const s = resolveSpec({ name: "s1", mode: "dr" });
    expect(s).toMatchObject({ scheduler: "wrr", protocol: "tcp", vipPort: 80, faults: [] });
    expect(s.realServers).toEqual([{ name: "rs1", weight: 1, port: 80 }, { name: "rs2", weight: 2, port: 80 }]);
  });
});

describe("down script", () => {
  it("kills only the processes in the site's namespaces, deletes bridge ports, namespaces and bridges", () => {
    const p = plan({ mode: "fullnat" });
    expect(p.down).toContain("for ns in s1-client s1-router s1-dir s1-rs1 s1-rs2 s1-gw; do");
    expect(p.down).toContain("pids=$(ip netns pids $ns 2>/dev/null)");
    // Ports before namespaces: a namespace's veths are freed asynchronously, a deleted veth at once.
    expect(heredoc(p.down, "ip -force -b - 2>/dev/null")).toEqual([
      "link del s1-client-c", "link del s1-router-c", "link del s1-router-l", "link del s1-dir-l",
      "link del s1-dir-i", "link del s1-rs1-i", "link del s1-rs2-i", "link del s1-gw-i",
      "netns del s1-client", "netns del s1-router", "netns del s1-dir", "netns del s1-rs1", "netns del s1-rs2",
      "netns del s1-gw", "link del s1-cnet", "link del s1-lan", "link del s1-inner",
    ]);
    expect(p.down).toMatch(/exit 0\n$/);
  });
});
