// Live diagnostics on the real kernel: libpcap on a DR site's LAN bridge, the BPF filter built from the site,
// the findings engine evaluating every second, steady client traffic; rs2's ARP fault switched on (reported
// within 10 s, and still open while it lasts) and off (resolved within 10 s).
// Run inside the lab: npx tsx lab/host/cli.ts test test/kernel/capture-live.test.ts
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSite, type Site, type Traffic } from "@/lab/site/site";
import { startLiveDiagnostics, type LiveDiagnostics } from "@/server/capture/live/runner";
import { siteContextFromRecording } from "@/server/diagnostics/context";
import type { EngineEvent } from "@/server/diagnostics/engine";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RS2 = { ip: "192.0.2.12", mac: "02:00:00:00:00:12" };

let site: Site;
let live: LiveDiagnostics;
let traffic: Traffic | null = null;
const events: { at: number; type: string; kind: string; hosts: string }[] = [];

const aboutRs2 = (l: LiveDiagnostics, status: "open" | "resolved") =>
  l.state()[status].filter((t) => t.finding.hosts[0]?.ip === RS2.ip && t.finding.hosts[0]?.mac === RS2.mac);

/** Polls every 100 ms until `done()`; returns the seconds it took, or null after `limitS`. */
async function within(limitS: number, done: () => boolean): Promise<number | null> {
  const t0 = Date.now();
  while (Date.now() - t0 < limitS * 1000) {
    if (done()) return (Date.now() - t0) / 1000;
    await sleep(100);
  }
  return null;
}

beforeAll(async () => {
  site = await buildSite({ name: "cl", mode: "dr" });
  const save = await site.ipvsadm(["-S", "-n"]);
  const context = siteContextFromRecording(save, { mode: "dr", vip: site.vip, hosts: site.hosts });
  live = startLiveDiagnostics({
    device: site.lanBridge,
    site: context,
    onEvents: (es: EngineEvent[]) => {
      for (const e of es) {
        events.push({ at: Date.now() / 1000, type: e.type, kind: e.finding.kind, hosts: e.finding.finding.hosts.map((h) => `${h.ip}/${h.mac}`).join(" ") });
      }
    },
  });
});

afterAll(async () => {
  await traffic?.stop();
  live?.stop();
  await site?.destroy();
});

describe("live diagnostics on a DR site (LAN bridge)", () => {
  it("finds rs2 answering ARP for the VIP within 10 s, keeps it open while it lasts, resolves it within 10 s of the fix", async () => {
    traffic = await site.startTraffic({ intervalMs: 200 });
    await sleep(5_000);
    const healthy = live.state();
    expect(healthy.filter).toMatch(/^arp or host 192\.0\.2\.1 or host 192\.0\.2\.11 or host 192\.0\.2\.12 or host 192\.0\.2\.100/);
    expect(healthy.window.pushed).toBeGreaterThan(20); // the capture sees the traffic
    expect(healthy.open).toEqual([]); // a healthy site: nothing

    const onAt = Date.now();
    await site.setFault({ kind: "rs-arp", rs: "rs2" }, true);
    const onScriptS = (Date.now() - onAt) / 1000;
    // The fault is in place when its script returns (the router's entry is flushed last); under TCG with other
    // guests on the host a script took from 0.9 to 8.3 s. Times are measured from there, and reported both ways.
    const detectS = await within(10, () => aboutRs2(live, "open").length > 0);
    expect(detectS, "no finding naming rs2 within 10 s of switching the fault on").not.toBeNull();
    const detectTotalS = onScriptS + detectS!;

    // The fault lasts longer than the engine's window (6 s): the finding must stay open.
    await sleep(9_000);
    const during = aboutRs2(live, "open");
    expect(during.length).toBeGreaterThan(0);
    expect(during.map((t) => t.kind)).toContain("arp-real-server-claims-vip");

    const offAt = Date.now();
    await site.setFault({ kind: "rs-arp", rs: "rs2" }, false);
    const offScriptS = (Date.now() - offAt) / 1000;
    const resolveS = await within(10, () => aboutRs2(live, "open").length === 0);
    const rel = (at: number) => `${(at - onAt / 1000).toFixed(1)} s after fault on`;
    process.stdout.write(
      `capture-live: fault on at 0 (script ${onScriptS.toFixed(1)} s), detected ${detectS!.toFixed(1)} s after the script (${detectTotalS.toFixed(1)} s after its start); ` +
        `fix at ${rel(offAt / 1000)} (script ${offScriptS.toFixed(1)} s), resolved ${resolveS === null ? "NOT within 10 s" : `${resolveS.toFixed(1)} s after the script (${(offScriptS + resolveS).toFixed(1)} s after its start)`}\n` +
        events.map((e) => `  ${rel(e.at)}: ${e.type} ${e.kind} ${e.hosts}`).join("\n") + "\n" +
        aboutRs2(live, "open").map((t) => `  still open: ${t.kind} last evidence ${rel(t.lastEvidenceAt)}, last reported ${rel(t.lastReportedAt)}: ${t.finding.title}`).join("\n") + "\n",
    );
    expect(resolveS, "findings naming rs2 still open 10 s after the fix").not.toBeNull();
    const resolveTotalS = offScriptS + resolveS!;
    const resolved = aboutRs2(live, "resolved");
    expect(resolved.map((t) => t.kind)).toContain("arp-real-server-claims-vip");
    for (const t of resolved) expect(t.resolvedAt! * 1000).toBeGreaterThanOrEqual(offAt);

    const result = await traffic.stop();
    traffic = null;
    const st = live.state();
    const report = {
      detect: { afterScriptSeconds: detectS, afterScriptStartSeconds: detectTotalS, faultScriptSeconds: onScriptS },
      resolve: { afterScriptSeconds: resolveS, afterScriptStartSeconds: resolveTotalS, fixScriptSeconds: offScriptS },
      findingsWhileOn: during.map((t) => ({ kind: t.kind, openedAt: t.openedAt, title: t.finding.title })),
      events,
      capture: st.capture,
      window: st.window,
      requests: { byServer: result.byServer, failures: result.failures },
    };
    process.stdout.write(`capture-live: ${JSON.stringify(report, null, 2)}\n`);
    const dir = process.env.LAB_ARTIFACTS;
    if (dir) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "capture-live.json"), `${JSON.stringify(report, null, 2)}\n`);
    }
    expect(st.capture.kernelDropped).toBe(0);
  });
});

describe("live diagnostics on a NAT site (the director's inner side)", () => {
  it("finds rs2 without a default route (no SYN-ACK through the director) within 10 s, resolves it within 10 s of the fix", async () => {
    const nat = await buildSite({ name: "cn", mode: "nat" });
    let natLive: LiveDiagnostics | null = null;
    let natTraffic: Traffic | null = null;
    try {
      const save = await nat.ipvsadm(["-S", "-n"]);
      const context = siteContextFromRecording(save, { mode: "nat", vip: nat.vip, hosts: nat.hosts });
      const rs2 = nat.host("rs2").interfaces[0]!;
      natLive = startLiveDiagnostics({ device: nat.plan.bridges.inner!, site: context });
      const l = natLive;
      const open = () => l.state().open.filter((t) => t.finding.hosts[0]?.ip === rs2.address && t.finding.hosts[0]?.mac === rs2.mac);
      // Failing requests cost the client its whole timeout: 1.5 s keeps failures coming.
      natTraffic = await nat.startTraffic({ intervalMs: 200, timeoutMs: 1_500 });
      await sleep(5_000);
      expect(l.state().open).toEqual([]);

      const onAt = Date.now();
      await nat.setFault({ kind: "nat-gw-missing", rs: "rs2" }, true);
      const onScriptS = (Date.now() - onAt) / 1000;
      const detectS = await within(10, () => open().length > 0);
      const kinds = open().map((t) => t.kind);
      await sleep(6_000);
      const stillOpen = open().length > 0;

      const offAt = Date.now();
      await nat.setFault({ kind: "nat-gw-missing", rs: "rs2" }, false);
      const offScriptS = (Date.now() - offAt) / 1000;
      const resolveS = await within(10, () => open().length === 0);
      process.stdout.write(
        `capture-live NAT: fault script ${onScriptS.toFixed(1)} s, detected ${detectS?.toFixed(1) ?? "NOT"} s after it (${kinds.join(", ")}); ` +
          `still open 6 s later: ${stillOpen}; fix script ${offScriptS.toFixed(1)} s, resolved ${resolveS?.toFixed(1) ?? "NOT"} s after it; ` +
          `capture ${JSON.stringify(l.state().capture)}\n`,
      );
      expect(detectS, "no finding naming rs2 within 10 s").not.toBeNull();
      expect(kinds).toEqual(["nat-syn-unanswered"]);
      expect(stillOpen).toBe(true);
      expect(resolveS, "still open 10 s after the fix").not.toBeNull();
      expect(l.state().resolved.map((t) => t.kind)).toEqual(["nat-syn-unanswered"]);
      expect(l.state().capture.kernelDropped).toBe(0);
    } finally {
      await natTraffic?.stop();
      natLive?.stop();
      await nat.destroy();
    }
  });
});
