// The return-path checks on small built captures, one per mode and fault, with the lab's addresses (the
// recordings of the real kernel are in recordings.test.ts), and the site context built from IPVS tables.

import { describe, expect, it } from "vitest";
import { decodePacket, newDecodedPacket } from "@/server/capture/decode/packet";
import { SiteDetectors, findingKind } from "@/server/diagnostics/analyze";
import { siteContextFromRules, siteContextFromTable } from "@/server/diagnostics/context";
import { loadIpvsadmRules } from "@/server/ipvs/rules/table";
import type { TableState } from "@/server/ipvs/snapshot/model";
import type { Finding, SiteContext } from "@/server/diagnostics/types";
import { arpFrame } from "./arp-frames";
import { CLIENT, M, SYN, SYN_ACK, VIP, drConnection, tcpFrame, type Frame } from "./ip-frames";

const DR: SiteContext = {
  vips: [{ address: VIP, mode: "dr", ports: [80] }],
  directors: [{ ip: "192.0.2.1", mac: M.dir }],
  realServers: [{ ip: "192.0.2.11", mac: M.rs1, name: "rs1" }, { ip: "192.0.2.12", mac: M.rs2, name: "rs2" }],
  gateways: [{ ip: "192.0.2.254", mac: M.router }],
};
const TUN: SiteContext = { ...DR, vips: [{ address: VIP, mode: "tun", ports: [80] }] };
const NAT: SiteContext = {
  vips: [{ address: VIP, mode: "nat", ports: [80], realServers: [{ ip: "198.51.100.11", port: 80 }, { ip: "198.51.100.12", port: 80 }] }],
  directors: [{ ip: "192.0.2.1", mac: M.dir }, { ip: "198.51.100.1", mac: M.dirIn }],
  realServers: [{ ip: "198.51.100.11", mac: M.nrs1, name: "rs1" }, { ip: "198.51.100.12", mac: M.nrs2, name: "rs2" }],
  gateways: [{ ip: "192.0.2.254", mac: M.router }],
};
const FULLNAT: SiteContext = {
  ...NAT,
  vips: [{ ...NAT.vips[0]!, mode: "fullnat" }],
  gateways: [...NAT.gateways!, { ip: "198.51.100.254", mac: M.gw }],
};

function findings(site: SiteContext, frames: Frame[], now?: number): Finding[] {
  const d = new SiteDetectors(site);
  const p = newDecodedPacket();
  frames.forEach(([t, f], i) => {
    decodePacket(f, 0, f.length, p);
    d.observe(p, i, t);
  });
  return d.findings(now);
}

const kinds = (fs: Finding[]) => fs.map((f) => `${findingKind(f)} ${f.hosts[0]?.ip} ${f.hosts[0]?.mac}`);

describe("DR", () => {
  it("a healthy site, each client packet seen twice on the director's segment: nothing", () => {
    const frames = [0, 1, 2, 3, 4, 5].flatMap((i) => drConnection(i, 40000 + i, i % 3 === 0 ? "rs1" : "rs2"));
    expect(findings(DR, frames)).toEqual([]);
  });

  it("replies with the VIP as source reaching the director's MAC: the real server's gateway is the director", () => {
    const frames = [0, 1, 2, 3, 4, 5].flatMap((i) => drConnection(i, 40000 + i, i % 3 === 0 ? "rs1" : "rs2", i % 3 === 0 ? M.router : M.dir));
    const fs = findings(DR, frames);
    expect(kinds(fs)).toEqual(["reply-via-director 192.0.2.12 02:00:00:00:00:12"]);
    const f = fs[0]!;
    expect(f.hosts[1]).toEqual({ ip: "192.0.2.1", mac: M.dir, role: "director" });
    expect(f.evidence.map((e) => e.packetIndex)).toEqual([5, 8, 14, 17]);
    expect(f.fix.commands).toContain("ip route replace default via 192.0.2.254");
    expect(f.explanation).toMatch(/drops packets that claim to come from its own address/);
  });

  it("the director's MAC learned from its ARP, even after the packets: still found", () => {
    const site = { ...DR, directors: [{ ip: "192.0.2.1" }] };
    const frames = [...drConnection(0, 40001, "rs2", M.dir), [5, arpFrame({ op: "request", sha: M.dir, spa: "192.0.2.1", tpa: "192.0.2.12" })] as Frame];
    expect(kinds(findings(site, frames))).toEqual(["reply-via-director 192.0.2.12 02:00:00:00:00:12"]);
    // Without any way to know the director's MAC, nothing is claimed.
    expect(findings(site, drConnection(0, 40001, "rs2", M.dir))).toEqual([]);
  });

  it("the VIP's traffic delivered by the router straight to a real server is named, once", () => {
    const direct: Frame[] = [0, 1, 2].map((i) => [i, tcpFrame({ from: M.router, to: M.rs2, src: CLIENT, sport: 41000 + i, dst: VIP, dport: 80, flags: SYN })]);
    const fs = findings(DR, direct);
    expect(kinds(fs)).toEqual(["vip-traffic-bypasses-director 192.0.2.12 02:00:00:00:00:12"]);
    expect(fs[0]!.hosts[1]!.mac).toBe(M.router);
    // With rs2's ARP answer for the VIP in the same capture, the ARP check explains it: one finding.
    const claim: Frame = [0, arpFrame({ op: "reply", sha: M.rs2, spa: VIP, tha: M.router, tpa: "192.0.2.254" })];
    expect(kinds(findings(DR, [claim, ...direct]))).toEqual(["arp-real-server-claims-vip 192.0.2.12 02:00:00:00:00:12"]);
  });
});

/** A TUN connection on the LAN: the director's IPIP packet to the RS; the RS's reply (VIP -> client) if `answered`. */
function tunConnection(t: number, port: number, rs: "rs1" | "rs2", answered: boolean): Frame[] {
  const rip = rs === "rs1" ? "192.0.2.11" : "192.0.2.12";
  const out: Frame[] = [
    [t, tcpFrame({ from: M.router, to: M.dir, src: CLIENT, sport: port, dst: VIP, dport: 80, flags: SYN })],
    [t + 0.001, tcpFrame({ from: M.dir, to: M[rs], src: CLIENT, sport: port, dst: VIP, dport: 80, flags: SYN, tunnel: { src: "192.0.2.1", dst: rip } })],
  ];
  if (answered) out.push([t + 0.002, tcpFrame({ from: M[rs], to: M.router, src: VIP, sport: 80, dst: CLIENT, dport: port, flags: SYN_ACK })]);
  return out;
}

describe("TUN", () => {
  const mixed = (rs2Answers: boolean, rs1Answers = true) =>
    [0, 1, 2, 3, 4, 5, 6, 7, 8].flatMap((i) => (i % 3 === 0 ? tunConnection(i, 42000 + i, "rs1", rs1Answers) : tunConnection(i, 42000 + i, "rs2", rs2Answers)));

  it("healthy: nothing", () => expect(findings(TUN, mixed(true))).toEqual([]));

  it("tunnelled SYNs to rs2 without a reply: rs2, with both causes and how to tell them apart", () => {
    const fs = findings(TUN, mixed(false));
    expect(kinds(fs)).toEqual(["tun-syn-unanswered 192.0.2.12 02:00:00:00:00:12"]);
    const f = fs[0]!;
    expect(f.explanation).toMatch(/look exactly the same/);
    expect(f.explanation).toMatch(/rp_filter/);
    expect(f.explanation).toMatch(/not on tunl0/);
    expect(f.fix.commands.join("\n")).toMatch(/nstat -az TcpExtIPReversePathFilter/);
    expect(f.fix.commands.join("\n")).toMatch(/ip addr show tunl0/);
    expect(f.evidence).toHaveLength(4); // t = 1, 2, 4, 5: those at 7 and 8 are younger than 1 s at the end
    expect(f.evidence[0]!.packetIndex).toBe(4); // the IPIP packet, not the client's copy before it
  });

  it("where no real server's reply is visible (the director's own interface), silence proves nothing", () => {
    expect(findings(TUN, mixed(false, false))).toEqual([]);
    // On the director's interface with rs2's gateway wrong: rs2's replies reach it, rs1's healthy ones do
    // not; rs1 is not silent, the capture just cannot see it (the lab's tun-rs-gw-director, director-eth0).
    const frames = [0, 1, 2, 3, 4, 5, 6, 7, 8].flatMap((i) => {
      const rs = i % 3 === 0 ? "rs1" : "rs2";
      const out = tunConnection(i, 47000 + i, rs, false);
      if (rs === "rs2") out.push([i + 0.002, tcpFrame({ from: M.rs2, to: M.dir, src: VIP, sport: 80, dst: CLIENT, dport: 47000 + i, flags: SYN_ACK })]);
      return out;
    });
    expect(kinds(findings(TUN, frames.sort((a, b) => a[0] - b[0])))).toEqual(["reply-via-director 192.0.2.12 02:00:00:00:00:12"]);
  });

  it("a SYN younger than the answer wait, and a retransmitted SYN, are not unanswered connections", () => {
    const frames = [...tunConnection(0, 43000, "rs1", true), ...[0, 1, 3].flatMap((t) => tunConnection(t, 43001, "rs2", false))];
    expect(findings(TUN, frames)).toEqual([]); // one connection to rs2, retried three times
    const young = [...mixed(false)];
    expect(findings(TUN, young, 8.5).map(findingKind)).toEqual(["tun-syn-unanswered"]);
    expect(findings(TUN, young, 8.5)[0]!.evidence).toHaveLength(5); // the one at t=8 is 0.5 s old
  });

  it("the reply going to the director's MAC is found as in DR", () => {
    const frames = tunConnection(0, 44000, "rs2", false);
    frames.push([0.01, tcpFrame({ from: M.rs2, to: M.dir, src: VIP, sport: 80, dst: CLIENT, dport: 44000, flags: SYN_ACK })]);
    expect(kinds(findings(TUN, frames))).toEqual(["reply-via-director 192.0.2.12 02:00:00:00:00:12"]);
  });
});

/** A NAT connection on the director's inner side: the rewritten SYN, and the RS's SYN-ACK to `replyTo` ("" = none). */
function natConnection(t: number, port: number, rs: "rs1" | "rs2", replyTo: string, src = CLIENT): Frame[] {
  const rip = rs === "rs1" ? "198.51.100.11" : "198.51.100.12";
  const mac = rs === "rs1" ? M.nrs1 : M.nrs2;
  const out: Frame[] = [[t, tcpFrame({ from: M.dirIn, to: mac, src, sport: port, dst: rip, dport: 80, flags: SYN })]];
  if (replyTo !== "") out.push([t + 0.002, tcpFrame({ from: mac, to: replyTo, src: rip, sport: 80, dst: src, dport: port, flags: SYN_ACK })]);
  return out;
}

describe("NAT", () => {
  const site = (rs2ReplyTo: string, src = CLIENT) =>
    [0, 1, 2, 3, 4, 5, 6, 7, 8].flatMap((i) => natConnection(i, 45000 + i, i % 3 === 0 ? "rs1" : "rs2", i % 3 === 0 ? M.dirIn : rs2ReplyTo, src));

  it("healthy: nothing", () => expect(findings(NAT, site(M.dirIn))).toEqual([]));

  it("no SYN-ACK from rs2 (no default route): rs2, and its gateway should be the DIP", () => {
    const fs = findings(NAT, site(""));
    expect(kinds(fs)).toEqual(["nat-syn-unanswered 198.51.100.12 02:00:00:00:02:12"]);
    expect(fs[0]!.hosts[1]).toEqual({ ip: "198.51.100.1", mac: M.dirIn, role: "director" });
    expect(fs[0]!.fix.commands).toContain("ip route replace default via 198.51.100.1");
    expect(fs[0]!.explanation).toMatch(/no default route/);
  });

  it("rs2 asking ARP for a gateway nobody answers: named with the gateway it should have", () => {
    const asks: Frame[] = [0.5, 1.5, 2.5].map((t) => [t, arpFrame({ op: "request", sha: M.nrs2, spa: "198.51.100.12", tpa: "198.51.100.253" })]);
    const fs = findings(NAT, [...site(""), ...asks].sort((a, b) => a[0] - b[0]));
    expect(kinds(fs).sort()).toEqual(["gateway-arp-unanswered 198.51.100.12 02:00:00:00:02:12", "nat-syn-unanswered 198.51.100.12 02:00:00:00:02:12"]);
    const gw = fs.find((f) => findingKind(f) === "gateway-arp-unanswered")!;
    expect(gw.title).toBe("Real server rs2 (198.51.100.12, 02:00:00:00:02:12) asks ARP for 198.51.100.253 and nobody answers");
    expect(gw.fix.commands).toContain("ip route replace default via 198.51.100.1");
    expect(fs.find((f) => findingKind(f) === "nat-syn-unanswered")!.explanation).toMatch(/keeps asking ARP for 198.51.100.253/);
    // Answered ARP (the director answering for its DIP) is no finding.
    const answered: Frame[] = [
      [0, arpFrame({ op: "request", sha: M.nrs1, spa: "198.51.100.11", tpa: "198.51.100.1" })],
      [0.1, arpFrame({ op: "request", sha: M.nrs1, spa: "198.51.100.11", tpa: "198.51.100.1" })],
      [0.2, arpFrame({ op: "reply", sha: M.dirIn, spa: "198.51.100.1", tha: M.nrs1, tpa: "198.51.100.11" })],
    ];
    expect(findings(NAT, [...answered, ...site(M.dirIn)])).toEqual([]);
  });

  it("rs2's SYN-ACKs going to another MAC: replies bypass the director", () => {
    const fs = findings(NAT, site(M.gw));
    expect(kinds(fs)).toEqual(["nat-reply-bypasses-director 198.51.100.12 02:00:00:00:02:12"]);
    expect(fs[0]!.explanation).toMatch(/02:00:00:00:02:fe, which is not the director/);
  });
});

describe("FULLNAT", () => {
  const site = (src: string, replyTo: string) =>
    [0, 1, 2, 3, 4, 5].flatMap((i) => natConnection(i, 46000 + i, i % 3 === 0 ? "rs1" : "rs2", replyTo, src));

  it("healthy (SNAT to the director's inner address): nothing", () => expect(findings(FULLNAT, site("198.51.100.1", M.dirIn))).toEqual([]));

  it("SYNs forwarded with the client's address: the SNAT did not apply, one finding naming the director", () => {
    const fs = findings(FULLNAT, site(CLIENT, M.gw));
    expect(kinds(fs)).toEqual(["fullnat-snat-missing 198.51.100.1 02:00:00:00:02:01"]);
    expect(fs[0]!.hosts.map((h) => h.ip)).toEqual(["198.51.100.1", "198.51.100.11", "198.51.100.12"]);
    expect(fs[0]!.fix.commands).toContain("sysctl -w net.ipv4.vs.conntrack=1");
    expect(fs[0]!.explanation).toMatch(/203\.0\.113\.50/);
  });
});

describe("site context", () => {
  const rules = [
    "-A -t 192.0.2.100:80 -s wrr",
    "-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1",
    "-A -t 192.0.2.101:443 -s rr",
    "-a -t 192.0.2.101:443 -r 198.51.100.11:8443 -m -w 1",
    "-A -t 192.0.2.102:80 -s rr",
    "-a -t 192.0.2.102:80 -r 192.0.2.12:80 -i -w 1",
    "-A -t 192.0.2.103:80 -s rr",
    "-a -t 192.0.2.103:80 -r 198.51.100.12:80 -m -w 1",
    "-A -f 7 -s rr",
    "-a -f 7 -r 192.0.2.13:0 -g -w 1",
    "",
  ].join("\n");

  it("from ipvsadm rules: each VIP's mode from its real servers' forwarding, FULLNAT as named, MACs from ip neigh", () => {
    const { table, errors } = loadIpvsadmRules(rules);
    expect(errors).toEqual([]);
    const site = siteContextFromRules(table, {
      directors: [{ ip: "192.0.2.1", mac: M.dir }],
      macs: new Map([["192.0.2.11", M.rs1]]),
      names: { "192.0.2.11": "web1" },
      fullnatVips: ["192.0.2.103"],
    });
    expect(site.vips).toEqual([
      { address: "192.0.2.100", mode: "dr", ports: [80], realServers: [{ ip: "192.0.2.11", port: 80 }] },
      { address: "192.0.2.101", mode: "nat", ports: [443], realServers: [{ ip: "198.51.100.11", port: 8443 }] },
      { address: "192.0.2.102", mode: "tun", ports: [80], realServers: [{ ip: "192.0.2.12", port: 80 }] },
      { address: "192.0.2.103", mode: "fullnat", ports: [80], realServers: [{ ip: "198.51.100.12", port: 80 }] },
    ]);
    // The fwmark service has no address to watch: its real server is not in the context.
    expect(site.realServers).toEqual([
      { ip: "192.0.2.11", mac: M.rs1, name: "web1" }, { ip: "198.51.100.11" }, { ip: "192.0.2.12" }, { ip: "198.51.100.12" },
    ]);
  });

  it("from a snapshot: local and bypass destinations are not forwarded, IPv6 is left out", () => {
    const dest = (address: string, forward: "route" | "local" | "masq", family: "inet" | "inet6" = "inet") => ({
      address, port: 80, family, forward, weight: 1, upperThreshold: 0, lowerThreshold: 0, activeConns: 0, inactiveConns: 0, persistentConns: 0, unknown: [],
    });
    const svc = (address: string, family: "inet" | "inet6", destinations: ReturnType<typeof dest>[]) => ({
      service: { family, protocol: "tcp" as const, address, port: 80, netmask: { kind: "mask" as const, mask: "255.255.255.255" } },
      scheduler: "rr", flags: { persistent: false, hashed: true, onePacket: false, sched1: false, sched2: false, sched3: false, raw: 2 },
      timeout: 0, unknown: [], destinations,
    });
    const table: TableState = {
      services: [svc("192.0.2.100", "inet", [dest("192.0.2.11", "route"), dest("192.0.2.1", "local")]), svc("2001:db8::1", "inet6", [dest("2001:db8::11", "route", "inet6")])],
      timeouts: {}, daemons: [],
    };
    const site = siteContextFromTable(table, { directors: [{ ip: "192.0.2.1" }] });
    expect(site.vips.map((v) => [v.address, v.mode, v.realServers])).toEqual([["192.0.2.100", "dr", [{ ip: "192.0.2.11", port: 80 }]]]);
    expect(site.realServers.map((r) => r.ip)).toEqual(["192.0.2.11"]);
  });
});
