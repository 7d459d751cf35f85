// Every recording of the real kernel (test/fixtures/lab/<mode>-<case>/ from lab/recorder, and the captures of
// test/fixtures/cases/) through analyzePcap, with the site context built the way the product builds it
// (the director's ipvsadm-save + the hosts' MACs). The list of cases comes from the directories: a new
// recording is picked up, and one whose fault has no expectation below fails.
//
// Which captures: lan.pcap always (ARP ownership, DR/TUN return paths: the real servers and the director meet
// there), and inner.pcap where there is one (NAT/FULLNAT: the forwarded connections and the real servers'
// replies are only on the director's inner side). Their findings are taken together. The director's own
// interface captures (director-IF.pcap) see less (in DR/TUN never the real servers' healthy replies; in
// DR rs-arp nothing of the bypassing traffic): on them, a finding may be missing but never wrong (only
// expected kinds, naming the culprit; nothing when healthy).
//
// For each case: the findings are exactly the expected kinds for its fault (none when healthy), each naming
// the faulty host first (rs2 by IP and MAC; the director for FULLNAT's conntrack), and every address that
// `tshark -q -z expert` flags as a duplicate IP (tshark-expert.txt) is reported the same number of times
// and named in a finding.

import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { analyzePcap, findingKind, type AnalyzeResult } from "@/server/diagnostics/analyze";
import { siteContextFromRecording, type RecordedSite } from "@/server/diagnostics/context";
import type { Finding, SiteContext } from "@/server/diagnostics/types";
import { root } from "../capture/tcpdump-text";

/** What each fault must produce. `culprit`: who the findings name first. */
const EXPECTED: Record<string, { kinds: string[]; culprit: "faulty-rs" | "director" | null }> = {
  healthy: { kinds: [], culprit: null },
  "rs-arp": { kinds: ["arp-real-server-claims-vip"], culprit: "faulty-rs" },
  "rs-gw-director": { kinds: ["reply-via-director"], culprit: "faulty-rs" },
  "nat-gw-wrong": { kinds: ["gateway-arp-unanswered", "nat-syn-unanswered"], culprit: "faulty-rs" },
  "nat-gw-missing": { kinds: ["nat-syn-unanswered"], culprit: "faulty-rs" },
  "tun-rp-filter": { kinds: ["tun-syn-unanswered"], culprit: "faulty-rs" },
  "tun-no-vip": { kinds: ["tun-syn-unanswered"], culprit: "faulty-rs" },
  "fullnat-no-conntrack": { kinds: ["fullnat-snat-missing"], culprit: "director" },
};

/** Recorded site.json: RecordedSite plus the fault and each host's segment and gateway. */
interface SiteJson extends RecordedSite {
  fault: { kind: string; rs?: string } | null;
  hosts: {
    node: string;
    role: string;
    interfaces: { ifname: string; address: string; mac: string; segment: string }[];
    realServer?: { rip: string };
  }[];
}

/** test/fixtures/cases/ holds captures without a site.json: what each one is (from the folder's README). */
const CASES: Record<string, { fault: SiteJson["fault"]; siteFrom: string; ipvsadmSave: string }> = {
  // "Same topology as the lab's DR site" (test/fixtures/cases/dr/README.md): rs2 with arp_ignore=0.
  "dr/dr-healthy": { fault: null, siteFrom: "test/fixtures/lab/dr-healthy/site.json", ipvsadmSave: "test/fixtures/cases/dr/dr-healthy.ipvsadm-save.txt" },
  "dr/dr-arp-conflict": { fault: { kind: "rs-arp", rs: "rs2" }, siteFrom: "test/fixtures/lab/dr-healthy/site.json", ipvsadmSave: "test/fixtures/cases/dr/dr-healthy.ipvsadm-save.txt" },
};

interface Recording {
  name: string;
  fault: string;
  site: SiteContext;
  json: SiteJson;
  faultyRs: string | null;
  captures: string[];
  /** Captures on the director's own interfaces. */
  directorCaptures: string[];
  expert: string | null;
}

function recordings(): Recording[] {
  const out: Recording[] = [];
  const lab = join(root, "test/fixtures/lab");
  for (const name of existsSync(lab) ? readdirSync(lab).sort() : []) {
    const dir = join(lab, name);
    if (!statSync(dir).isDirectory()) continue;
    const json = JSON.parse(readFileSync(join(dir, "site.json"), "utf8")) as SiteJson;
    out.push({
      name: `lab/${name}`,
      fault: json.fault?.kind ?? "healthy",
      json,
      site: siteContextFromRecording(readFileSync(join(dir, "ipvsadm-save.txt"), "utf8"), json),
      faultyRs: json.fault?.rs ?? null,
      captures: ["lan.pcap", "inner.pcap"].map((f) => join(dir, f)).filter(existsSync),
      directorCaptures: readdirSync(dir).filter((f) => /^director-.*\.pcap$/.test(f)).map((f) => join(dir, f)),
      expert: existsSync(join(dir, "tshark-expert.txt")) ? readFileSync(join(dir, "tshark-expert.txt"), "utf8") : null,
    });
  }
  const cases = join(root, "test/fixtures/cases");
  for (const sub of readdirSync(cases).sort()) {
    for (const file of readdirSync(join(cases, sub)).filter((f) => f.endsWith(".pcap")).sort()) {
      const name = `${sub}/${file.slice(0, -".pcap".length)}`;
      const c = CASES[name];
      if (c === undefined) throw new Error(`test/fixtures/cases/${sub}/${file}: no description in CASES (recordings.test.ts)`);
      const json = { ...(JSON.parse(readFileSync(join(root, c.siteFrom), "utf8")) as SiteJson), fault: c.fault };
      const expertFile = join(root, "test/diagnostics/fixtures/tshark", `${file.slice(0, -".pcap".length)}.expert.txt`);
      out.push({
        name: `cases/${name}`,
        fault: c.fault?.kind ?? "healthy",
        json,
        site: siteContextFromRecording(readFileSync(join(root, c.ipvsadmSave), "utf8"), json),
        faultyRs: c.fault?.rs ?? null,
        captures: [join(cases, sub, file)],
        directorCaptures: [],
        expert: existsSync(expertFile) ? readFileSync(expertFile, "utf8") : null,
      });
    }
  }
  return out;
}

/** The faulty real server's address the director forwards to, and its MAC. */
function rsHost(json: SiteJson, node: string): { ip: string; mac: string } {
  const h = json.hosts.find((x) => x.node === node)!;
  const i = h.interfaces.find((x) => x.address === h.realServer?.rip)!;
  return { ip: i.address, mac: i.mac };
}

/** The director's interface on the real servers' segment (NAT/FULLNAT: inner; DR/TUN: lan). */
function directorOnRsSegment(json: SiteJson): { ip: string; mac: string } {
  const rs = json.hosts.find((h) => h.role === "real-server")!;
  const segment = rs.interfaces.find((x) => x.address === rs.realServer?.rip)!.segment;
  const i = json.hosts.find((h) => h.role === "director")!.interfaces.find((x) => x.segment === segment)!;
  return { ip: i.address, mac: i.mac };
}

/** `tshark -q -z expert`: "Duplicate IP address configured (IP)" -> frequency. */
function expertDuplicates(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^\s*(\d+)\s+Sequence\s+ARP\/RARP\s+Duplicate IP address configured \(([\d.]+)\)$/gm)) out[m[2]!] = Number(m[1]);
  return out;
}

const ALL = recordings();

describe("recordings of the real kernel", () => {
  it("there are recordings, and every fault has an expectation", () => {
    expect(ALL.length).toBeGreaterThanOrEqual(4);
    for (const r of ALL) expect(EXPECTED[r.fault], `${r.name}: no expectation for fault ${r.fault}`).toBeDefined();
  });

  it.each(ALL.map((r) => [r.name, r] as const))("%s", async (_name, r) => {
    const expected = EXPECTED[r.fault];
    expect(expected, `no expectation for fault "${r.fault}": add it to EXPECTED`).toBeDefined();
    const culprit = () => (expected!.culprit === "director" ? directorOnRsSegment(r.json) : rsHost(r.json, r.faultyRs!));
    const results: AnalyzeResult[] = [];
    for (const c of r.captures) results.push(await analyzePcap(c, r.site));
    const byId = new Map<string, Finding>();
    for (const res of results) for (const f of res.findings) if (!byId.has(f.id)) byId.set(f.id, f);
    const findings = [...byId.values()];
    const describe = findings.map((f) => `${f.id}: ${f.title}`).join("\n");

    expect([...new Set(findings.map(findingKind))].sort(), describe).toEqual([...expected!.kinds].sort());
    if (expected!.culprit !== null) {
      const who = culprit();
      for (const f of findings) expect({ ip: f.hosts[0]!.ip, mac: f.hosts[0]!.mac }, f.id).toEqual(who);
      for (const f of findings) expect(f.evidence.length, f.id).toBeGreaterThan(0);
    }
    if (r.fault === "nat-gw-wrong" || r.fault === "nat-gw-missing") {
      const dip = directorOnRsSegment(r.json).ip;
      for (const f of findings) expect(f.fix.commands, f.id).toContain(`ip route replace default via ${dip}`);
    }
    if (r.fault === "fullnat-no-conntrack") expect(findings[0]!.fix.commands).toContain("sysctl -w net.ipv4.vs.conntrack=1");

    // tshark's duplicate-address warnings on the LAN capture: same addresses, same counts, and named.
    if (r.expert !== null) {
      const theirs = expertDuplicates(r.expert);
      const ours: Record<string, number> = {};
      for (const d of results[0]!.duplicates) ours[d.ip] = (ours[d.ip] ?? 0) + 1;
      expect(ours).toEqual(theirs);
      for (const ip of Object.keys(theirs)) expect(findings.some((f) => f.title.includes(ip)), `no finding names ${ip}`).toBe(true);
    }

    for (const c of r.directorCaptures) {
      const { findings: there } = await analyzePcap(c, r.site);
      for (const f of there) {
        expect(expected!.kinds, `${c}: ${f.id}: ${f.title}`).toContain(findingKind(f));
        expect({ ip: f.hosts[0]!.ip, mac: f.hosts[0]!.mac }, `${c}: ${f.id}`).toEqual(culprit());
      }
    }
  }, 60_000);
});
