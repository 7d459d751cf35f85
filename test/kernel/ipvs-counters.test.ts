// The project's counters against ipvsadm's after real traffic through a real site (lab guest only:
// npx tsx lab/host/cli.ts test test/kernel/ipvs-counters.test.ts). For a DR and a NAT site (lab/site): 30
// requests from the client, then, with the traffic stopped and the kernel's 2 s estimator settled, one sh in
// the director's namespace reads `ipvsadm -Ln --stats --exact`, the project's snapshot (`lvsdash status
// --json`, a process of its own in that namespace) and ipvsadm again: the two ipvsadm reads must agree (the
// counters stood still) and every counter of the service and of each real server must equal the snapshot's.
import { afterAll, describe, expect, it } from "vitest";
import { parseIpvsadmStats, type DestStats } from "@/lab/site/ipvsadm";
import { buildSite, type Site } from "@/lab/site/site";
import type { Mode } from "@/lab/site/spec";
import type { CliKernel } from "@/server/cli/context";
import { realKernel, runCli } from "@/server/cli/main";
import type { SnapshotJson } from "@/server/ipvs/snapshot/json";
import { captureIo } from "../cli/io";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REQUESTS = 30;
const sites: Site[] = [];

afterAll(async () => {
  for (const s of sites) await s.destroy();
});

/** Waits until ipvsadm shows every request's connection (Linux 6.1 folds per-CPU counters in every 2 s). */
async function settled(site: Site, conns: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const stats = Object.values(await site.realServerStats()).reduce((a, s) => a + s.conns, 0);
    if (stats >= conns || Date.now() > deadline) break;
    await sleep(500);
  }
  await sleep(2_200); // one more estimator run after the last packet (FIN/ACKs counted late)
}

const counters = (s: { conns: string; inPkts: string; outPkts: string; inBytes: string; outBytes: string }): DestStats => ({
  conns: Number(s.conns),
  inPkts: Number(s.inPkts),
  outPkts: Number(s.outPkts),
  inBytes: Number(s.inBytes),
  outBytes: Number(s.outBytes),
});

describe.each(["dr", "nat"] as Mode[])("counters after real traffic, %s site", (mode) => {
  it("the snapshot's per-service and per-real-server counters equal ipvsadm --stats --exact", async () => {
    const site = await buildSite({ name: `cnt${mode}`, mode });
    sites.push(site);
    const r = await site.request(REQUESTS);
    expect(r.failureReasons).toEqual({});
    await settled(site, REQUESTS);
    const out = (await site.sh("dir", `cd ${process.cwd()} && ipvsadm -Ln --stats --exact && echo @@ && node bin/lvsdash.js status --json && echo @@ && ipvsadm -Ln --stats --exact`)).stdout;
    const [before, json, after] = out.split("@@\n") as [string, string, string];
    expect(after).toBe(before);
    const theirs = parseIpvsadmStats(before);
    const mine = (JSON.parse(json) as SnapshotJson).services;
    expect(mine.length).toBe(theirs.length);
    const svc = mine.find((s) => "address" in s.service && s.service.address === site.vip && s.service.port === site.vipPort)!;
    const ref = theirs.find((s) => s.service === `${site.vip}:${site.vipPort}`)!;
    const { dests, protocol: _p, service: _s, ...refCounters } = ref;
    expect(counters(svc.stats!)).toEqual(refCounters);
    expect(refCounters.conns).toBe(REQUESTS);
    expect(refCounters.inPkts).toBeGreaterThan(REQUESTS);
    if (mode === "nat") expect(refCounters.outPkts).toBeGreaterThan(REQUESTS);
    expect(Object.fromEntries(svc.destinations.map((d) => [`${d.address}:${d.port}`, counters(d.stats!)]))).toEqual(dests);

    // the connection table of the same site: lvsdash conns lists it as ipvsadm -Lnc does (read a moment
    // apart, so the expiry column may differ by a second)
    const [lnc, proc] = (await site.sh("dir", "ipvsadm -Lnc && echo @@ && cat /proc/net/ip_vs_conn")).stdout.split("@@\n") as [string, string];
    const io = captureIo();
    const k: CliKernel = { ...realKernel(), connTable: () => [Buffer.from(proc)] as unknown as AsyncIterable<Uint8Array> };
    expect(await runCli(["conns"], { io, kernel: k })).toBe(0);
    const noExpiry = (t: string) => t.split("\n").map((l) => l.slice(0, 4) + l.slice(11));
    expect(noExpiry(io.out)).toEqual(noExpiry(lnc));
    expect(io.out.split("\n").length).toBeGreaterThan(REQUESTS);

    console.log(`${mode}: ${ref.protocol} ${ref.service} ${JSON.stringify(refCounters)}; real servers ${JSON.stringify(dests)} (snapshot = ipvsadm --stats --exact)`);
  });
});
