// The effective-sysctl checks (server/diagnostics/sysctls.ts): over the facts recorded from the real kernel
// for every mode x fault (test/fixtures/sysctls/, lab/recorder/sysctls.ts: each host read in its own network
// namespace), and over hand-made facts for the rules the lab's faults do not cover. The site context is built
// the way the product builds it (the recording's ipvsadm-save + site.json, test/fixtures/lab/<case>/).

import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { analyzePcap, findingKind } from "@/server/diagnostics/analyze";
import { siteContextFromRecording, type RecordedSite } from "@/server/diagnostics/context";
import {
  SYSCTL_CONF, SYSCTL_KINDS, confName, evaluateHostSysctls, roleInSite, sysctlFindings, type HostFacts, type HostRoleSpec,
} from "@/server/diagnostics/sysctls";
import type { Finding } from "@/server/diagnostics/types";
import { parseIpAddrJson } from "@/server/kernel/sysctl";
import { root } from "../capture/tcpdump-text";

const K = SYSCTL_KINDS;

/** Which findings (kinds, severity critical or warning) each fault must give, and on whom. Faults that are not
 *  a setting of a host (routes) must give none: the capture's detectors find those. */
const EXPECTED: Record<string, { kinds: string[]; culprit: "rs2" | "dir" | null }> = {
  healthy: { kinds: [], culprit: null },
  "rs-arp": { kinds: [K.arpIgnore, K.arpAnnounce], culprit: "rs2" },
  "rs-gw-director": { kinds: [], culprit: null },
  "nat-gw-wrong": { kinds: [], culprit: null },
  "nat-gw-missing": { kinds: [], culprit: null },
  "tun-rp-filter": { kinds: [K.rpFilter], culprit: "rs2" },
  "tun-no-vip": { kinds: [K.vipNotOnTunl0], culprit: "rs2" },
  "fullnat-no-conntrack": { kinds: [K.vsConntrack], culprit: "dir" },
};

interface SysctlRecording {
  mode: string;
  fault: { kind: string; rs?: string } | null;
  vip: string;
  hosts: { node: string; role: string; facts: HostFacts }[];
}

const FIXTURES = join(root, "test/fixtures/sysctls");
const recordings = existsSync(FIXTURES) ? readdirSync(FIXTURES).filter((f) => f.endsWith(".json")).sort() : [];

function load(file: string) {
  const rec = JSON.parse(readFileSync(join(FIXTURES, file), "utf8")) as SysctlRecording;
  const id = file.replace(/\.json$/, "");
  const lab = join(root, "test/fixtures/lab", id);
  const siteJson = JSON.parse(readFileSync(join(lab, "site.json"), "utf8")) as RecordedSite & { hosts: { node: string; interfaces: { address: string; mac: string }[] }[] };
  const site = siteContextFromRecording(readFileSync(join(lab, "ipvsadm-save.txt"), "utf8"), siteJson);
  site.hostFacts = rec.hosts.map((h) => h.facts);
  const nodeOf = (ip: string) => siteJson.hosts.find((h) => h.interfaces.some((i) => i.address === ip))?.node;
  const primary = (node: string) => siteJson.hosts.find((h) => h.node === node)!.interfaces[0]!;
  return { rec, id, lab, site, nodeOf, primary };
}

const serious = (fs: Finding[]) => fs.filter((f) => f.severity !== "info");

describe("recorded facts of every mode x fault", () => {
  it("has a recording for every mode x fault of the lab", () => {
    expect(recordings.map((r) => r.replace(/\.json$/, ""))).toEqual(
      readdirSync(join(root, "test/fixtures/lab")).filter((d) => existsSync(join(root, "test/fixtures/lab", d, "site.json"))).sort(),
    );
  });

  for (const file of recordings) {
    it(`${file}: the fault's setting found on the right host; nothing else`, () => {
      const { rec, site, nodeOf, primary } = load(file);
      const expected = EXPECTED[rec.fault?.kind ?? "healthy"];
      expect(expected, `no expectation for ${rec.fault?.kind}`).toBeDefined();
      // Every recorded host takes a role from the site's own description.
      for (const h of rec.hosts) expect(roleInSite(h.facts, site)?.role, h.node).toBe(h.role);
      const found = serious(sysctlFindings(site));
      expect([...new Set(found.map(findingKind))].sort()).toEqual([...expected!.kinds].sort());
      for (const f of found) {
        expect(f.severity).toBe("critical");
        expect(nodeOf(f.hosts[0]!.ip), f.id).toBe(expected!.culprit);
        expect(f.hosts[0]!.mac).toBe(primary(expected!.culprit!).mac);
        expect(f.fix.commands.length).toBeGreaterThan(0);
      }
    });
  }

  it("rs-arp: both settings, on eth0, with the sysctl and the persistent line as the fix", () => {
    const { site } = load("dr-rs-arp.json");
    const f = sysctlFindings(site).find((x) => findingKind(x) === K.arpIgnore)!;
    expect(f.id).toBe(`${K.arpIgnore}:192.0.2.12:eth0`);
    expect(f.explanation).toContain("effective arp_ignore on eth0 is 0 (all=0, eth0=0)");
    expect(f.fix.commands).toEqual([
      "sysctl -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.eth0.arp_ignore=1",
      `printf '%s\\n' 'net.ipv4.conf.all.arp_ignore = 1' 'net.ipv4.conf.eth0.arp_ignore = 1' >> ${SYSCTL_CONF}`,
    ]);
  });

  it("tun-rp-filter: all=1 makes tunl0 strict although tunl0's own value is what was set", () => {
    const { site } = load("tun-tun-rp-filter.json");
    const f = sysctlFindings(site).find((x) => findingKind(x) === K.rpFilter)!;
    expect(f.explanation).toContain("all=1, tunl0=1");
  });

  it("runs inside analyzePcap (SiteDetectors) when the site carries host facts", async () => {
    const { site, lab } = load("tun-tun-no-vip.json");
    const r = await analyzePcap(join(lab, "lan.pcap"), site);
    const kinds = r.findings.map(findingKind);
    expect(kinds).toContain(K.vipNotOnTunl0);
    expect(kinds).toContain("tun-syn-unanswered"); // the same fault, seen on the wire
  });
});

// ---------------------------------------------------------------------------------------------------------
// Hand-made facts: a DR real server (eth0 192.0.2.12, VIP 192.0.2.100 on lo) and a NAT director.

const VIP = "192.0.2.100";
const DR_RS: HostRoleSpec = { role: "real-server", vips: [{ address: VIP, mode: "dr" }] };

function rsFacts(sysctls: Record<string, number>, vipOn: { ifname: string; prefixLen: number } | null = { ifname: "lo", prefixLen: 32 }): HostFacts {
  const lo = { name: "lo", up: true, linkType: "loopback", addresses: [{ address: "127.0.0.1", prefixLen: 8 }] };
  const eth0 = { name: "eth0", up: true, linkType: "ether", mac: "02:00:00:00:00:12", addresses: [{ address: "192.0.2.12", prefixLen: 24 }] };
  if (vipOn) (vipOn.ifname === "lo" ? lo : eth0).addresses.push({ address: VIP, prefixLen: vipOn.prefixLen });
  return { name: "rs2", sysctls, interfaces: [lo, eth0] };
}

const GOOD_ARP = {
  [confName("all", "arp_ignore")]: 1, [confName("eth0", "arp_ignore")]: 1,
  [confName("all", "arp_announce")]: 2, [confName("eth0", "arp_announce")]: 2,
};

const kinds = (fs: Finding[]) => fs.map((f) => f.id);

describe("real server in DR", () => {
  it("a healthy one: nothing", () => {
    expect(evaluateHostSysctls(rsFacts(GOOD_ARP), DR_RS)).toEqual([]);
  });

  it("arp_ignore=1 and arp_announce=2 on lo only do nothing: max(all, eth0) is what eth0 applies", () => {
    const facts = rsFacts({
      [confName("all", "arp_ignore")]: 0, [confName("eth0", "arp_ignore")]: 0, [confName("lo", "arp_ignore")]: 1,
      [confName("all", "arp_announce")]: 0, [confName("eth0", "arp_announce")]: 0, [confName("lo", "arp_announce")]: 2,
    });
    const found = evaluateHostSysctls(facts, DR_RS);
    expect(kinds(found)).toEqual([`${K.arpIgnore}:192.0.2.12:eth0`, `${K.arpAnnounce}:192.0.2.12:eth0`]);
    expect(found[0]!.explanation).toContain("net.ipv4.conf.lo.arp_ignore=1 changes nothing");
    expect(found[0]!.hosts).toEqual([{ ip: "192.0.2.12", mac: "02:00:00:00:00:12", role: "real-server" }]);
  });

  it("all alone is enough (the maximum), and so is the interface alone", () => {
    const allOnly = { [confName("all", "arp_ignore")]: 1, [confName("eth0", "arp_ignore")]: 0, [confName("all", "arp_announce")]: 2, [confName("eth0", "arp_announce")]: 0 };
    const ifOnly = { [confName("all", "arp_ignore")]: 0, [confName("eth0", "arp_ignore")]: 2, [confName("all", "arp_announce")]: 0, [confName("eth0", "arp_announce")]: 2 };
    expect(evaluateHostSysctls(rsFacts(allOnly), DR_RS)).toEqual([]);
    expect(evaluateHostSysctls(rsFacts(ifOnly), DR_RS)).toEqual([]);
  });

  it("arp_announce=1 is not enough", () => {
    const f = evaluateHostSysctls(rsFacts({ ...GOOD_ARP, [confName("all", "arp_announce")]: 1, [confName("eth0", "arp_announce")]: 1 }), DR_RS);
    expect(kinds(f)).toEqual([`${K.arpAnnounce}:192.0.2.12:eth0`]);
  });

  it("the VIP on eth0: arp_ignore cannot help; the fix moves it to lo", () => {
    const f = evaluateHostSysctls(rsFacts(GOOD_ARP, { ifname: "eth0", prefixLen: 32 }), DR_RS);
    expect(kinds(f)).toEqual([`${K.vipOnLan}:192.0.2.12:${VIP}:eth0`]);
    expect(f[0]!.fix.commands).toEqual([`ip addr del ${VIP}/32 dev eth0`, `ip addr add ${VIP}/32 dev lo`]);
  });

  it("the VIP on lo as a /24 (warning), and no VIP at all (critical)", () => {
    expect(evaluateHostSysctls(rsFacts(GOOD_ARP, { ifname: "lo", prefixLen: 24 }), DR_RS).map((f) => [f.id, f.severity]))
      .toEqual([[`${K.vipNotHostRoute}:192.0.2.12:${VIP}`, "warning"]]);
    expect(kinds(evaluateHostSysctls(rsFacts(GOOD_ARP, null), DR_RS))).toEqual([`${K.vipMissing}:192.0.2.12:${VIP}`]);
  });

  it("an interface with dots is named as sysctl names it (eth0.10 -> eth0/10)", () => {
    expect(confName("eth0.10", "arp_ignore")).toBe("net.ipv4.conf.eth0/10.arp_ignore");
    const facts: HostFacts = {
      sysctls: {},
      interfaces: [{ name: "eth0.10", up: true, linkType: "ether", mac: "02:00:00:00:00:12", addresses: [{ address: "192.0.2.12", prefixLen: 24 }] },
        { name: "lo", up: true, linkType: "loopback", addresses: [{ address: VIP, prefixLen: 32 }] }],
    };
    const f = evaluateHostSysctls(facts, DR_RS).find((x) => findingKind(x) === K.arpIgnore)!;
    expect(f.fix.commands[0]).toBe("sysctl -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.eth0/10.arp_ignore=1");
  });
});

describe("real server in TUN", () => {
  const TUN_RS: HostRoleSpec = { role: "real-server", vips: [{ address: VIP, mode: "tun" }] };
  const facts = (rp: { all: number; tunl0: number; eth0?: number }, tunl0: { up: boolean; vip: boolean } | null): HostFacts => {
    const f = rsFacts({ ...GOOD_ARP, [confName("all", "rp_filter")]: rp.all, [confName("tunl0", "rp_filter")]: rp.tunl0, [confName("eth0", "rp_filter")]: rp.eth0 ?? 0 }, null);
    if (tunl0) f.interfaces.push({ name: "tunl0", up: tunl0.up, linkType: "ipip", addresses: tunl0.vip ? [{ address: VIP, prefixLen: 32 }] : [] });
    return f;
  };
  it("healthy: tunl0 up with the VIP, rp_filter 0 or loose (2)", () => {
    expect(evaluateHostSysctls(facts({ all: 0, tunl0: 0 }, { up: true, vip: true }), TUN_RS)).toEqual([]);
    expect(evaluateHostSysctls(facts({ all: 2, tunl0: 0 }, { up: true, vip: true }), TUN_RS)).toEqual([]);
  });
  it("rp_filter=1 on all makes tunl0 strict even with tunl0=0; the receiving interface's value does not drop it", () => {
    expect(kinds(evaluateHostSysctls(facts({ all: 1, tunl0: 0 }, { up: true, vip: true }), TUN_RS))).toEqual([`${K.rpFilter}:192.0.2.12:tunl0`]);
    expect(kinds(evaluateHostSysctls(facts({ all: 0, tunl0: 1 }, { up: true, vip: true }), TUN_RS))).toEqual([`${K.rpFilter}:192.0.2.12:tunl0`]);
    expect(evaluateHostSysctls(facts({ all: 0, tunl0: 0, eth0: 1 }, { up: true, vip: true }), TUN_RS)).toEqual([]);
  });
  it("tunl0 down, missing, or without the VIP", () => {
    expect(kinds(evaluateHostSysctls(facts({ all: 0, tunl0: 0 }, { up: false, vip: true }), TUN_RS))).toEqual([`${K.tunl0}:192.0.2.12`]);
    expect(kinds(evaluateHostSysctls(facts({ all: 0, tunl0: 0 }, null), TUN_RS))).toEqual([`${K.tunl0}:192.0.2.12`]);
    expect(kinds(evaluateHostSysctls(facts({ all: 0, tunl0: 0 }, { up: true, vip: false }), TUN_RS))).toEqual([`${K.vipNotOnTunl0}:192.0.2.12:${VIP}`]);
  });
});

describe("NAT and FULLNAT director", () => {
  const NAT_VIP = "192.0.2.101";
  const director = (sysctls: Record<string, number>, oneArm: boolean): HostFacts => ({
    name: "dir",
    kernel: "6.1.0-56-amd64",
    sysctls,
    interfaces: [
      { name: "lo", up: true, linkType: "loopback", addresses: [{ address: "127.0.0.1", prefixLen: 8 }] },
      { name: "eth0", up: true, linkType: "ether", mac: "02:00:00:00:00:01", addresses: [{ address: "192.0.2.1", prefixLen: 24 }, { address: NAT_VIP, prefixLen: 32 }] },
      ...(oneArm ? [] : [{ name: "eth1", up: true, linkType: "ether", mac: "02:00:00:00:02:01", addresses: [{ address: "198.51.100.1", prefixLen: 24 }] }]),
    ],
  });
  const spec = (mode: "nat" | "fullnat", oneArm: boolean): HostRoleSpec => ({
    role: "director", vips: [{ address: NAT_VIP, mode }], realServers: oneArm ? ["192.0.2.11"] : ["198.51.100.11"],
  });
  const fwd = { "net.ipv4.ip_forward": 1, [confName("eth0", "forwarding")]: 1, [confName("eth1", "forwarding")]: 1 };
  const quiet = { [confName("all", "send_redirects")]: 0, [confName("eth0", "send_redirects")]: 0, "net.ipv4.vs.expire_nodest_conn": 1, "net.ipv4.vs.conn_reuse_mode": 1 };

  it("ip_forward off, or forwarding off on one interface", () => {
    expect(kinds(evaluateHostSysctls(director({ ...quiet, "net.ipv4.ip_forward": 0 }, false), spec("nat", false)))).toEqual([`${K.ipForward}:192.0.2.1`]);
    expect(evaluateHostSysctls(director({ ...quiet, ...fwd, [confName("eth1", "forwarding")]: 0 }, false), spec("nat", false))[0]!.explanation)
      .toContain("forwarding off on eth1");
    expect(evaluateHostSysctls(director({ ...quiet, ...fwd }, false), spec("nat", false))).toEqual([]);
  });

  it("send_redirects (all OR interface) matters only when clients and real servers share an interface", () => {
    const redirects = { ...quiet, ...fwd, [confName("all", "send_redirects")]: 1 };
    expect(kinds(evaluateHostSysctls(director(redirects, true), spec("nat", true)))).toEqual([`${K.sendRedirects}:192.0.2.1:eth0`]);
    expect(evaluateHostSysctls(director(redirects, false), spec("nat", false))).toEqual([]);
    const ifOnly = { ...quiet, ...fwd, [confName("eth0", "send_redirects")]: 1 };
    expect(kinds(evaluateHostSysctls(director(ifOnly, true), spec("nat", true)))).toEqual([`${K.sendRedirects}:192.0.2.1:eth0`]);
  });

  it("FULLNAT needs net.ipv4.vs.conntrack=1 (unset: ip_vs not loaded, also reported)", () => {
    expect(kinds(evaluateHostSysctls(director({ ...quiet, ...fwd, "net.ipv4.vs.conntrack": 0 }, false), spec("fullnat", false)))).toEqual([`${K.vsConntrack}:192.0.2.1`]);
    expect(kinds(evaluateHostSysctls(director({ ...quiet, ...fwd }, false), spec("fullnat", false)))).toEqual([`${K.vsConntrack}:192.0.2.1`]);
    expect(evaluateHostSysctls(director({ ...quiet, ...fwd, "net.ipv4.vs.conntrack": 1 }, false), spec("fullnat", false))).toEqual([]);
  });

  it("advice: expire_nodest_conn=0, conn_reuse_mode=0, and conntrack with port reuse before 5.9; none when asked not to", () => {
    const advice = evaluateHostSysctls(director({ ...fwd, ...quiet, "net.ipv4.vs.expire_nodest_conn": 0, "net.ipv4.vs.conn_reuse_mode": 0 }, false), spec("nat", false));
    expect(advice.map((f) => [f.id, f.severity])).toEqual([[`${K.expireNodestConn}:192.0.2.1`, "info"], [`${K.connReuseMode}:192.0.2.1`, "info"]]);
    const old = { ...director({ ...fwd, ...quiet, "net.ipv4.vs.conntrack": 1 }, false), kernel: "5.4.0-150-generic" };
    expect(evaluateHostSysctls(old, spec("fullnat", false)).map((f) => [f.id, f.severity])).toEqual([[`${K.connReuseMode}:192.0.2.1`, "warning"]]);
    expect(evaluateHostSysctls(old, { ...spec("fullnat", false), advice: false })).toEqual([]);
  });

  it("a director without its VIP", () => {
    const f = director({ ...fwd, ...quiet }, false);
    f.interfaces[1]!.addresses.pop();
    expect(kinds(evaluateHostSysctls(f, spec("nat", false)))).toEqual([`${K.vipMissing}:192.0.2.1:${NAT_VIP}`]);
  });
});

describe("parseIpAddrJson (ip -j addr show)", () => {
  it("keeps names before '@', the UP flag, Ethernet MACs and IPv4 addresses", () => {
    const text = JSON.stringify([
      { ifindex: 1, ifname: "lo", flags: ["LOOPBACK", "UP", "LOWER_UP"], link_type: "loopback", address: "00:00:00:00:00:00",
        addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8 }, { family: "inet", local: VIP, prefixlen: 32 }] },
      { ifindex: 2, ifname: "tunl0@NONE", flags: ["NOARP", "UP", "LOWER_UP"], link_type: "ipip", address: "0.0.0.0", addr_info: [{ family: "inet", local: VIP, prefixlen: 32 }] },
      { ifindex: 7, ifname: "eth0@if8", flags: ["BROADCAST", "MULTICAST"], link_type: "ether", address: "02:00:00:00:00:12",
        addr_info: [{ family: "inet6", local: "2001:db8::12", prefixlen: 64 }] },
    ]);
    expect(parseIpAddrJson(text)).toEqual([
      { name: "lo", up: true, linkType: "loopback", addresses: [{ address: "127.0.0.1", prefixLen: 8 }, { address: VIP, prefixLen: 32 }] },
      { name: "tunl0", up: true, linkType: "ipip", addresses: [{ address: VIP, prefixLen: 32 }] },
      { name: "eth0", up: false, linkType: "ether", mac: "02:00:00:00:00:12", addresses: [] },
    ]);
  });
});
