// The ARP ownership check on the real DR captures (a real server with arp_ignore=0 answering for the VIP,
// and a healthy site), on small captures built for the cases the real ones lack (failover, split brain,
// arp_announce, NAT), and Wireshark's duplicate-address check compared with tshark itself.

import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { PcapParser } from "@/server/capture/pcapfile/reader";
import { encodePcap, type PcapPacket } from "@/server/capture/pcapfile/writer";
import { analyzePcap } from "@/server/diagnostics/analyze";
import type { SiteContext } from "@/server/diagnostics/types";
import { CAPTURES, hasTool, root, run, tcpdumpLines } from "../capture/tcpdump-text";
import { IP, MAC, capture, whoHasVip, type ArpSpec } from "./arp-frames";

const tmp = mkdtempSync(join(tmpdir(), "arp-ownership-test-"));
const writeTmp = (name: string, packets: PcapPacket[]) => {
  const path = join(tmp, name);
  writeFileSync(path, encodePcap(packets));
  return path;
};

/** The DR site of the captures: ipvsadm -Ln (VIP, real servers) and the director's ip link / ip neigh (MACs). */
const DR_SITE: SiteContext = {
  vips: [{ address: IP.vip, mode: "dr" }],
  directors: [{ ip: IP.director, mac: MAC.director }],
  realServers: [
    { ip: IP.rs1, mac: MAC.rs1 },
    { ip: IP.rs2, mac: MAC.rs2 },
  ],
};
/** The same site known only from ipvsadm: no MACs. */
const DR_SITE_NO_MACS: SiteContext = {
  vips: DR_SITE.vips,
  directors: [{ ip: IP.director }],
  realServers: [{ ip: IP.rs1 }, { ip: IP.rs2 }],
};

const SYSCTL_ALL = "sysctl -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2";

describe("the real DR captures", () => {
  it("dr-arp-conflict: names rs2 (192.0.2.12, 02:00:00:00:00:12) answering ARP for the VIP, with the fix", async () => {
    const { findings } = await analyzePcap(CAPTURES["dr-arp-conflict"], DR_SITE);
    expect(findings).toHaveLength(1);
    const f = findings[0]!;
    expect(f.id).toBe("arp-real-server-claims-vip:192.0.2.100:02:00:00:00:00:12");
    expect(f.severity).toBe("critical");
    expect(f.title).toBe("Real server 192.0.2.12 (02:00:00:00:00:12) answers ARP for VIP 192.0.2.100");
    expect(f.hosts).toEqual([
      { ip: "192.0.2.12", mac: "02:00:00:00:00:12", role: "real-server" },
      { ip: "192.0.2.1", mac: "02:00:00:00:00:01", role: "director" },
    ]);
    expect(f.explanation).toMatch(/arp_ignore=0/);
    expect(f.explanation).toMatch(/on lo alone changes nothing/);
    expect(f.fix.commands).toContain(SYSCTL_ALL);
    expect(f.fix.commands).toContain("sysctl -w net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2");
    // The evidence is exactly the frames tcpdump shows as rs2's answers.
    const answers = tcpdumpLines("dr-arp-conflict")
      .map((line, i) => (line.includes("Reply 192.0.2.100 is-at 02:00:00:00:00:12") ? i : -1))
      .filter((i) => i >= 0);
    expect(answers.length).toBeGreaterThan(0);
    expect(f.evidence.map((e) => e.packetIndex)).toEqual(answers);
  });

  it("dr-arp-conflict: the LAN interface given for the real server goes into the commands", async () => {
    const site = { ...DR_SITE, realServers: [{ ip: IP.rs2, mac: MAC.rs2, lanInterface: "ens3" }] };
    const [f] = (await analyzePcap(CAPTURES["dr-arp-conflict"], site)).findings;
    expect(f!.fix.commands).toContain("sysctl -w net.ipv4.conf.ens3.arp_ignore=1 net.ipv4.conf.ens3.arp_announce=2");
    expect(f!.fix.summary).not.toMatch(/replace eth0/);
  });

  it("dr-healthy: nothing wrong, with or without MACs", async () => {
    expect((await analyzePcap(CAPTURES["dr-healthy"], DR_SITE)).findings).toEqual([]);
    expect((await analyzePcap(CAPTURES["dr-healthy"], DR_SITE_NO_MACS)).findings).toEqual([]);
  });

  it("without MACs, rs2 is still named when the capture shows it ARPing with its own RIP", async () => {
    const both: PcapPacket[] = [];
    const keep = (r: { buf: Uint8Array; offset: number; caplen: number; tsSec: number; tsNsec: number }) =>
      both.push({ data: r.buf.slice(r.offset, r.offset + r.caplen), tsSec: r.tsSec, tsNsec: r.tsNsec });
    for (const name of ["dr-healthy", "dr-arp-conflict"] as const) {
      const parser = new PcapParser(keep);
      parser.push(readFileSync(CAPTURES[name]));
      parser.finish();
    }
    const { findings } = await analyzePcap(writeTmp("healthy-then-conflict.pcap", both), DR_SITE_NO_MACS);
    expect(findings.map((f) => f.id)).toEqual(["arp-real-server-claims-vip:192.0.2.100:02:00:00:00:00:12"]);
    expect(findings[0]!.evidence[0]!.packetIndex).toBe(490 + 1);
  });

  it("without any MAC to go by, two MACs answering for the VIP is still a finding", async () => {
    const { findings } = await analyzePcap(CAPTURES["dr-arp-conflict"], DR_SITE_NO_MACS);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ id: "arp-vip-claimed-by-several-macs:192.0.2.100", severity: "critical" });
    expect(findings[0]!.hosts.map((h) => h.mac).sort()).toEqual([MAC.director, MAC.rs2]);
  });

  it("with the real servers' MACs but not the director's, rs2 is named and the other claimant taken for the director", async () => {
    const site = { ...DR_SITE, directors: [{ ip: IP.director }] };
    const { findings } = await analyzePcap(CAPTURES["dr-arp-conflict"], site);
    expect(findings.map((f) => f.id)).toEqual(["arp-real-server-claims-vip:192.0.2.100:02:00:00:00:00:12"]);
  });

  it("analyzePcap counts what it decoded, from a path or a stream alike", async () => {
    const lines = tcpdumpLines("dr-arp-conflict");
    const fromPath = await analyzePcap(CAPTURES["dr-arp-conflict"], DR_SITE);
    expect(fromPath.stats).toMatchObject({
      packets: lines.length,
      decoded: lines.length,
      truncated: 0,
      malformed: 0,
      byProtocol: {
        ethernet: lines.length,
        arp: lines.filter((l) => l.includes("ethertype ARP")).length,
        ipv4: lines.filter((l) => l.includes("ethertype IPv4")).length,
        tcp: lines.filter((l) => l.includes("Flags [")).length,
        udp: 0,
        vlan: 0,
      },
    });
    const fromStream = await analyzePcap(Readable.from([readFileSync(CAPTURES["dr-arp-conflict"])]), DR_SITE);
    expect(fromStream).toEqual(fromPath);
  });
});

const SITE_WITH_BACKUP: SiteContext = { ...DR_SITE, declaredBackupDirectors: [{ ip: IP.backup, mac: MAC.backup }] };

async function findingsFor(name: string, frames: [number, ArpSpec][], site: SiteContext = SITE_WITH_BACKUP) {
  return (await analyzePcap(writeTmp(name, capture(frames)), site)).findings;
}

describe("built captures", () => {
  it("a declared backup director's failover announcement is not a conflict", async () => {
    const findings = await findingsFor("failover.pcap", [
      ...whoHasVip(0, "director"),
      [10, { op: "request", sha: MAC.backup, spa: IP.vip, tpa: IP.vip }], // gratuitous: the VIP moved
      [10.5, { op: "reply", sha: MAC.backup, spa: IP.vip, tpa: IP.vip }],
      ...whoHasVip(40, "backup"),
    ]);
    expect(findings.map((f) => [f.id, f.severity])).toEqual([["arp-vip-failover:192.0.2.100", "info"]]);
    expect(findings[0]!.explanation).toMatch(/02:00:00:00:00:01 -> 02:00:00:00:00:02/);
  });

  it("the same announcement from a host that is not declared is a conflict", async () => {
    const findings = await findingsFor(
      "undeclared.pcap",
      [...whoHasVip(0, "director"), [10, { op: "request", sha: MAC.backup, spa: IP.vip, tpa: IP.vip }]],
      DR_SITE,
    );
    expect(findings.map((f) => [f.id, f.severity])).toEqual([["arp-unknown-host-claims-vip:192.0.2.100:02:00:00:00:00:02", "critical"]]);
    expect(findings[0]!.explanation).toMatch(/announced 192.0.2.100 by gratuitous ARP 1 time/);
  });

  it("both directors answering the same requests is split brain", async () => {
    const findings = await findingsFor("split-brain.pcap", [...whoHasVip(0, "director", "backup"), ...whoHasVip(5, "backup", "director")]);
    expect(findings.map((f) => [f.id, f.severity])).toEqual([["arp-directors-both-claim-vip:192.0.2.100", "critical"]]);
  });

  it("a real server using the VIP as the sender of its own ARP requests (arp_announce=0) is named", async () => {
    const findings = await findingsFor("announce.pcap", [
      ...whoHasVip(0, "director"),
      [1, { op: "request", sha: MAC.rs1, spa: IP.vip, tpa: IP.router }],
    ]);
    expect(findings).toHaveLength(1);
    expect(findings[0]!.title).toBe("Real server 192.0.2.11 sends ARP requests from VIP 192.0.2.100 (arp_announce)");
    expect(findings[0]!.fix.commands).toContain(SYSCTL_ALL);
  });

  it("in LVS-NAT a real server answering for the VIP should not hold it at all", async () => {
    const site: SiteContext = { ...DR_SITE, vips: [{ address: IP.vip, mode: "nat" }] };
    const findings = await findingsFor("nat.pcap", whoHasVip(0, "rs1", "director"), site);
    expect(findings).toHaveLength(1);
    expect(findings[0]!.fix.commands.some((c) => c.startsWith("ip addr del 192.0.2.100/32"))).toBe(true);
    expect(findings[0]!.fix.commands).not.toContain(SYSCTL_ALL);
  });

  it("a duplicate address that is not a VIP is reported as tshark would", async () => {
    const findings = await findingsFor("dup-rip.pcap", [
      [0, { op: "request", sha: MAC.director, spa: IP.director, tpa: IP.rs1 }],
      [0.1, { op: "reply", sha: MAC.rs1, spa: IP.rs1, tha: MAC.director, tpa: IP.director }],
      [0.2, { op: "reply", sha: "02:00:00:00:00:99", spa: IP.rs1, tha: MAC.director, tpa: IP.director }],
    ]);
    expect(findings.map((f) => [f.id, f.severity])).toEqual([["arp-duplicate-ip:192.0.2.11", "warning"]]);
    expect(findings[0]!.evidence.map((e) => e.packetIndex)).toEqual([2]);
  });
});

/** tshark's expert info lines "Duplicate IP address configured (IP)" -> { IP: frequency }. */
function expertDuplicates(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^\s*(\d+)\s+Sequence\s+ARP\/RARP\s+Duplicate IP address configured \(([\d.]+)\)$/gm)) {
    out[m[2]!] = Number(m[1]);
  }
  return out;
}

describe("duplicate addresses agree with tshark -q -z expert", () => {
  const recorded = (name: string, kind: string) => readFileSync(`${root}test/diagnostics/fixtures/tshark/${name}.${kind}.txt`, "utf8");
  const cases: [string, () => string][] = [
    ["dr-arp-conflict", () => CAPTURES["dr-arp-conflict"]],
    ["dr-healthy", () => CAPTURES["dr-healthy"]],
    ["split-brain (built)", () => writeTmp("tshark-split.pcap", capture([...whoHasVip(0, "director", "backup"), ...whoHasVip(5, "backup", "director")]))],
    [
      "duplicate RIP (built)",
      () =>
        writeTmp(
          "tshark-rip.pcap",
          capture([
            [0, { op: "request", sha: MAC.director, spa: IP.director, tpa: IP.rs1 }],
            [0.1, { op: "reply", sha: MAC.rs1, spa: IP.rs1, tha: MAC.director, tpa: IP.director }],
            [0.2, { op: "reply", sha: "02:00:00:00:00:99", spa: IP.rs1, tha: MAC.director, tpa: IP.director }],
            [0.3, { op: "reply", sha: "02:00:00:00:00:99", spa: IP.rs1, tha: "02:00:00:00:00:98", tpa: IP.director }],
          ]),
        ),
    ],
  ];

  it.each(cases)("%s", async (name, path) => {
    const file = path();
    const real = name.startsWith("dr-");
    if (!hasTool("tshark") && !real) return; // built captures need tshark itself
    const expert = hasTool("tshark") ? run("tshark", ["-r", file, "-q", "-z", "expert"]) : recorded(name, "expert");
    const frames = hasTool("tshark")
      ? run("tshark", ["-r", file, "-Y", "arp.duplicate-address-detected", "-T", "fields", "-e", "frame.number", "-e", "arp.duplicate-address-frame"])
      : recorded(name, "duplicate-frames");
    if (real && hasTool("tshark")) {
      expect(expert).toBe(recorded(name, "expert"));
      expect(frames).toBe(recorded(name, "duplicate-frames"));
    }
    const { duplicates } = await analyzePcap(file, DR_SITE);
    const ours: Record<string, number> = {};
    for (const d of duplicates) ours[d.ip] = (ours[d.ip] ?? 0) + 1;
    expect(ours).toEqual(expertDuplicates(expert));
    // One line per flagged frame: "frame<TAB>earlier frame" (a frame flagged for two IPs lists both).
    const theirs = frames.split("\n").filter((l) => l !== "").map((l) => l.split("\t").map((x) => x.split(",")));
    const flagged = new Map<number, number[]>();
    for (const d of duplicates) flagged.set(d.packetIndex + 1, [...(flagged.get(d.packetIndex + 1) ?? []), d.earlierPacketIndex + 1]);
    expect([...flagged].map(([frame, earlier]) => [[String(frame)], earlier.map(String)])).toEqual(theirs);
  }, 30_000);
});
