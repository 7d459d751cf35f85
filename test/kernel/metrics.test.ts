// /metrics on the real kernel (lab guest only: npx tsx lab/host/cli.ts test test/kernel/metrics.test.ts).
// A DR site with steady traffic; the agent runs in the director's namespace as in production (agent-only), the
// test asks it for ipvs.metrics over its socket, formats the exposition, parses it back with a Prometheus
// text-format parser, and compares node_ipvs_* with /proc read in the director's namespace at the same moment
// (through /proc/<agent pid>/net: the agent's own namespace, without starting a process under emulation).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import parsePrometheusTextFormat, { type ParsedFamily } from "parse-prometheus-text-format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { Site } from "@/lab/site/site";
import { serviceKey } from "@/server/history/keys";
import { HistoryStore } from "@/server/history/store";
import type { AgentClient } from "@/server/agent/client";
import { parseProcIpVs } from "@/server/ipvs/proc/services";
import { parseProcIpVsStats, type IpVsCounters } from "@/server/ipvs/proc/stats";
import { formatMetrics } from "@/server/metrics/format";

import { openSiteWithAgent, type SiteWithAgent } from "./agent-process";

let site: Site;
let lab: SiteWithAgent;
let agent: AgentClient;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  lab = await openSiteWithAgent({ name: "mx", mode: "dr" });
  ({ site, agent } = lab);
});

afterAll(async () => {
  await lab?.close();
});

/** The director's /proc files, read in its namespace (`ip netns exec` execs: the agent's pid is node's). */
const proc = (file: string) => readFileSync(`/proc/${lab.agentPid}/net/${file}`, "utf8");
const procTotals = () => parseProcIpVsStats(proc("ip_vs_stats")).totals;

async function scrape(): Promise<ParsedFamily[]> {
  const data = await agent.call("ipvs.metrics", {});
  if (!data.available) throw new Error(data.reason);
  return parsePrometheusTextFormat(formatMetrics(data.services, data.totals));
}

const TOTALS: [keyof IpVsCounters, string][] = [
  ["conns", "node_ipvs_connections_total"],
  ["inPackets", "node_ipvs_incoming_packets_total"],
  ["outPackets", "node_ipvs_outgoing_packets_total"],
  ["inBytes", "node_ipvs_incoming_bytes_total"],
  ["outBytes", "node_ipvs_outgoing_bytes_total"],
];

const value = (parsed: ParsedFamily[], name: string, labels: Record<string, string> = {}) => {
  const m = parsed.find((f) => f.name === name)?.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  if (!m) throw new Error(`no ${name} ${JSON.stringify(labels)}`);
  return BigInt(m.value);
};

describe("/metrics on a real IPVS director", () => {
  it("during steady traffic: node_ipvs_* totals lie between /proc readings taken just before and after", async () => {
    const traffic = await site.startTraffic({ intervalMs: 200 });
    try {
      await sleep(6_000);
      for (let i = 0; i < 3; i++) {
        const before = procTotals();
        const parsed = await scrape();
        const after = procTotals();
        for (const [k, name] of TOTALS) {
          const v = value(parsed, name);
          expect(v, name).toBeGreaterThanOrEqual(before[k]);
          expect(v, name).toBeLessThanOrEqual(after[k]);
        }
        expect(after.conns).toBeGreaterThan(0n);
        await sleep(1_500);
      }
    } finally {
      const result = await traffic.stop();
      expect(result.failureReasons).toEqual({});
    }
  });

  it("at rest: every node_ipvs_* series equals /proc/net/ip_vs_stats and /proc/net/ip_vs read at the same moment", async () => {
    // The kernel folds its per-CPU counters into the totals every 2 s: wait for the last fold, then read the
    // files before and after the scrape until both readings agree (nothing moved in between).
    await sleep(2_500);
    let compared = false;
    for (let attempt = 0; attempt < 10 && !compared; attempt++) {
      const before = { stats: proc("ip_vs_stats"), table: proc("ip_vs") };
      const parsed = await scrape();
      const after = { stats: proc("ip_vs_stats"), table: proc("ip_vs") };
      if (before.stats !== after.stats || before.table !== after.table) {
        await sleep(500);
        continue;
      }
      const totals = parseProcIpVsStats(before.stats).totals;
      for (const [k, name] of TOTALS) expect(value(parsed, name), name).toBe(totals[k]);
      expect(totals.conns).toBeGreaterThan(10n);

      const table = parseProcIpVs(before.table);
      let backends = 0;
      for (const svc of table.services) {
        for (const rs of svc.realServers) {
          const labels = { local_address: svc.address, local_port: String(svc.port), proto: svc.protocol, remote_address: rs.address, remote_port: String(rs.port) };
          expect(value(parsed, "node_ipvs_backend_connections_active", labels)).toBe(BigInt(rs.activeConns));
          expect(value(parsed, "node_ipvs_backend_connections_inactive", labels)).toBe(BigInt(rs.inactiveConns));
          expect(value(parsed, "node_ipvs_backend_weight", labels)).toBe(BigInt(rs.weight));
          backends++;
        }
      }
      expect(backends).toBe(2);
      const weights = parsed.find((f) => f.name === "node_ipvs_backend_weight")?.metrics ?? [];
      expect(weights).toHaveLength(backends);
      // the per-real-server 64-bit counters equal ipvsadm --stats --exact's
      const stats = await site.realServerStats();
      for (const [name, s] of Object.entries(stats)) {
        const rip = site.host(name).realServer?.rip;
        const conns = parsed.find((f) => f.name === "lvs_backend_connections_total")?.metrics.find((m) => m.labels?.remote_address === rip);
        expect(conns, name).toBeDefined();
        expect(Number(conns!.value), name).toBe(s.conns);
      }
      compared = true;
    }
    expect(compared, "/proc kept changing during every scrape").toBe(true);
  });

  it("history: 1-second rates from the real 64-bit counters add up exactly to the counters' increase", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lvsdash-history-"));
    const history = HistoryStore.open(dir);
    const snapshot = async () => {
      const data = await agent.call("ipvs.metrics", {});
      if (!data.available) throw new Error(data.reason);
      return { t: Date.now(), services: data.services };
    };
    const traffic = await site.startTraffic({ intervalMs: 100 });
    const taken: Awaited<ReturnType<typeof snapshot>>[] = [];
    try {
      for (let i = 0; i < 16; i++) {
        const s = await snapshot();
        history.record(s.t, s.services);
        taken.push(s);
        await sleep(1000 - ((Date.now() - s.t) % 1000));
      }
    } finally {
      await traffic.stop();
    }
    const first = taken[0]!;
    const last = taken.at(-1)!;
    const key = serviceKey(first.services[0]!.service);
    const conns = (x: typeof first) => x.services[0]!.stats!.conns;
    const q = history.query(key, ["conns", "inPkts"], first.t, last.t);
    // one point per snapshot; the first has no rate. On 6.1 the rest alternate around 0 and twice the rate:
    // the kernel folds per-CPU counters into the netlink totals every 2 s (printed below for the record).
    expect(q.t).toHaveLength(taken.length);
    expect(q.avg.conns?.[0]).toBeNull();
    console.log(`1-s conns/s from counter deltas: ${q.avg.conns?.map((v) => (v === null ? "-" : v.toFixed(1))).join(" ")}`);
    const whole = history.query(key, "conns", first.t, last.t, 1e13); // one step holding everything
    const expected = (Number(conns(last) - conns(first)) * 1000) / (last.t - first.t);
    expect(whole.avg.conns?.[0]).toBeCloseTo(expected, 9);
    expect(expected).toBeGreaterThan(2);
    history.close();
    // and after a restart the same history is there
    const again = HistoryStore.open(dir);
    expect(again.query(key, "conns", first.t, last.t).avg.conns).toEqual(q.avg.conns);
    again.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
