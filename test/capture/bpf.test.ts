// The live capture's BPF filter: the exact strings, that libpcap compiles them (`tcpdump -d`), and that they
// let through what the detectors need and nothing else (tcpdump -r FILE FILTER over built frames, VLAN-tagged
// and IPIP among them, and over a real DR recording, whose every packet belongs to the site).

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FilterError, MAX_HOSTS, buildCaptureFilter, scopeOfSite, type CaptureScope } from "@/server/capture/bpf";
import { encodePcap } from "@/server/capture/pcapfile/writer";
import type { SiteContext } from "@/server/diagnostics/types";
import { arpFrame } from "../diagnostics/arp-frames";
import { CLIENT, M, SYN, VIP, tcpFrame } from "../diagnostics/ip-frames";
import { hasTool, root, run } from "./tcpdump-text";

const DR_SCOPE: CaptureScope = { vips: [VIP], realServers: ["192.0.2.11", "192.0.2.12"], directors: ["192.0.2.1"], tunnel: false };
const TUN_SCOPE: CaptureScope = { ...DR_SCOPE, tunnel: true };
const compiles = (filter: string) => run("tcpdump", ["-y", "EN10MB", "-d", filter]).includes("ret");

describe("buildCaptureFilter", () => {
  it("ARP, every site address, IPIP for TUN, and the same behind a VLAN tag", () => {
    expect(buildCaptureFilter(DR_SCOPE)).toBe(
      "arp or host 192.0.2.1 or host 192.0.2.11 or host 192.0.2.12 or host 192.0.2.100 or " +
        "(vlan and (arp or host 192.0.2.1 or host 192.0.2.11 or host 192.0.2.12 or host 192.0.2.100))",
    );
    expect(buildCaptureFilter(TUN_SCOPE)).toMatch(/^arp or .* or ip proto 4 or \(vlan and \(.* or ip proto 4\)\)$/);
  });

  it("from a site context; IPv6 addresses in canonical form; duplicates once", () => {
    const site: SiteContext = {
      vips: [{ address: VIP, mode: "tun" }, { address: "2001:DB8:0:0::100", mode: "dr" }],
      directors: [{ ip: "192.0.2.1" }],
      realServers: [{ ip: "192.0.2.11" }, { ip: "192.0.2.11" }],
    };
    expect(scopeOfSite(site)).toEqual({ vips: [VIP, "2001:DB8:0:0::100"], realServers: ["192.0.2.11", "192.0.2.11"], directors: ["192.0.2.1"], tunnel: true });
    expect(buildCaptureFilter(scopeOfSite(site))).toBe(
      "arp or host 192.0.2.1 or host 192.0.2.11 or host 192.0.2.100 or host 2001:db8::100 or ip proto 4 or " +
        "(vlan and (arp or host 192.0.2.1 or host 192.0.2.11 or host 192.0.2.100 or host 2001:db8::100 or ip proto 4))",
    );
  });

  it("refuses anything that is not an address (no filter text smuggled in)", () => {
    expect(() => buildCaptureFilter({ ...DR_SCOPE, vips: ["192.0.2.100 or tcp"] })).toThrow(FilterError);
    expect(() => buildCaptureFilter({ ...DR_SCOPE, realServers: ["rs1.example"] })).toThrow(/not an IP address/);
  });

  it("many real servers fold into /24 networks", () => {
    const realServers = Array.from({ length: MAX_HOSTS + 10 }, (_, i) => `198.51.100.${i + 1}`);
    const f = buildCaptureFilter({ vips: [VIP], realServers, tunnel: false });
    expect(f).toBe("arp or net 192.0.2.0/24 or net 198.51.100.0/24 or (vlan and (arp or net 192.0.2.0/24 or net 198.51.100.0/24))");
  });
});

describe.skipIf(!hasTool("tcpdump"))("with libpcap (tcpdump)", () => {
  it("every filter compiles (tcpdump -d)", () => {
    const many = Array.from({ length: MAX_HOSTS }, (_, i) => `198.51.100.${i + 1}`);
    for (const scope of [DR_SCOPE, TUN_SCOPE, { vips: ["2001:db8::100"], realServers: ["2001:db8::11"], tunnel: true }, { vips: [VIP], realServers: many, tunnel: true }]) {
      expect(compiles(buildCaptureFilter(scope))).toBe(true);
    }
    expect(() => compiles("host 192.0.2.100 or or")).toThrow(); // the check can fail
  });

  it("lets through ARP, the VIP's and real servers' traffic, IPIP and VLAN-tagged frames; not the rest", () => {
    const tagged = (frame: Uint8Array, vid: number) => {
      const out = new Uint8Array(frame.length + 4);
      out.set(frame.subarray(0, 12), 0);
      out.set([0x81, 0x00, vid >> 8, vid & 0xff], 12);
      out.set(frame.subarray(12), 16);
      return out;
    };
    const toVip = tcpFrame({ from: M.router, to: M.dir, src: CLIENT, sport: 40000, dst: VIP, dport: 80, flags: SYN });
    const elsewhere = tcpFrame({ from: M.router, to: "02:00:00:00:00:99", src: CLIENT, sport: 40001, dst: "192.0.2.99", dport: 80, flags: SYN });
    const ipipToOther = tcpFrame({ from: M.dir, to: "02:00:00:00:00:13", src: CLIENT, sport: 40002, dst: VIP, dport: 80, flags: SYN, tunnel: { src: "192.0.2.2", dst: "192.0.2.13" } }); // from a director and to a real server the scope does not know
    const frames = [
      arpFrame({ op: "request", sha: M.router, spa: "192.0.2.254", tpa: VIP }), // pass
      toVip, // pass
      elsewhere, // drop
      ipipToOther, // pass only with TUN (the RS is not in the scope)
      tagged(toVip, 10), // pass
      tagged(elsewhere, 10), // drop
    ];
    const dir = mkdtempSync(join(tmpdir(), "bpf-test-"));
    const file = join(dir, "frames.pcap");
    writeFileSync(file, encodePcap(frames.map((data, i) => ({ data, tsSec: 1_795_253_400 + i, tsNsec: 0 }))));
    const matched = (scope: CaptureScope) => run("tcpdump", ["-nn", "-r", file, buildCaptureFilter(scope)]).split("\n").filter(Boolean).length;
    expect(matched(DR_SCOPE)).toBe(3);
    expect(matched(TUN_SCOPE)).toBe(4);
  });

  it("keeps every packet of a real DR recording (the capture holds only the site's traffic)", () => {
    const file = `${root}test/fixtures/lab/dr-healthy/lan.pcap`;
    const all = run("tcpdump", ["-nn", "-r", file]).split("\n").filter(Boolean).length;
    expect(all).toBeGreaterThan(100);
    expect(run("tcpdump", ["-nn", "-r", file, buildCaptureFilter(DR_SCOPE)]).split("\n").filter(Boolean).length).toBe(all);
  });
});
