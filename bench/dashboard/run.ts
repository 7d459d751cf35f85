// The live dashboard's benchmark, guest half (run by bench/dashboard/launch.ts in the lab; needs IPVS):
//
//   a. one sampler tick (the agent's ipvs.counters over its socket, rates, the history store, the push to two
//      subscribers serialized as SSE would) against one `ipvsadm -Ln --stats` run on the same table, in the
//      same run, interleaved: ratio of wall times and of CPU times (target: at most 2x)
//   b. the web server process's RSS over a run at 1 Hz (default 10 minutes; target: flat after the first
//      minute, under 300 MB), with the agent's RSS beside it
//   c. the 7-day history query of one real server as the history router asks it (30-min steps, all 9 metrics;
//      target: under 50 ms) in the same store: 7 days of one 10-server service written first (a tick every
//      5 minutes by default), then the run's 1 Hz ticks of all 11,000 series
//
// Options: --services 1000 --reals 10 --runs 15 --duration 600 (seconds of part b) --backfill-step 300 (s) --skip a,b,c
//          --old-reads N (time N reads through the previous op, ipvs.snapshot, against ipvsadm too)
// Writes bench-dashboard.json to $LAB_ARTIFACTS when set.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { createAgentClient, createSocketExchange } from "@/server/agent/client";
import { destKey, seriesKey, serviceKey } from "@/server/history/keys";
import { HistoryStore, METRICS } from "@/server/history/store";
import { RANGES } from "@/server/api/routers/history";
import { createCountersSource } from "@/server/live/counters";
import { LiveSampler } from "@/server/live/sampler";
import { overviewView, serviceView } from "@/server/live/views";
import { trafficTable } from "@/test/history/helpers";

import { fmtMs, machine, median, ratio, runTool } from "../ipvs/measure";
import { servicesRules } from "../ipvs/tables";
import { numberOption } from "../options";

const skipArg = process.argv.indexOf("--skip");
const skip = new Set(skipArg >= 0 ? (process.argv[skipArg + 1] ?? "").split(",") : []);
const SERVICES = numberOption("services", 1000);
const REALS = numberOption("reals", 10);
const RUNS = numberOption("runs", 15);
const DURATION_S = numberOption("duration", 600);
/** Reads through the previous op (ipvs.snapshot), timed against ipvsadm, for comparison (default none). */
const OLD_READS = numberOption("old-reads", 0);
const DAY = 86_400_000;

const log = (s: string) => console.log(s);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = 100;

/** utime + stime of a process, ms (10 ms resolution). */
function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

function procRssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

function startAgent(socket: string): Promise<ChildProcess> {
  const agent = spawn(process.execPath, ["--import", "tsx", "server/main.ts"], {
    env: { ...process.env, LVSDASH_AGENT_ONLY: "1", LVSDASH_AGENT_SOCKET: socket },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  return new Promise((resolve, reject) => {
    const on = (b: Buffer) => {
      out += b.toString();
      if (out.includes("agent listening on")) resolve(agent);
    };
    agent.stdout?.on("data", on);
    agent.stderr?.on("data", on);
    agent.once("exit", (code, signal) => reject(new Error(`agent exited (${code ?? signal}):\n${out}`)));
  });
}

/** 7 days of one service with `REALS` real servers, a tick every BACKFILL_STEP_MS (rates over each step: only
 *  the 1-minute rollups matter to a 7-day query), ending 15 minutes ago. A tick a minute would fill every
 *  rollup point but takes about 400 s in the emulated guest; every 5 minutes, a rollup chunk holds 3 points
 *  instead of 15, so the query decodes less than on a fully written week (bench/history measures that one). */
const BACKFILL_STEP_MS = numberOption("backfill-step", 300) * 1000;
function backfillWeek(dir: string, now: number): string {
  const store = HistoryStore.open(dir, { maxGapMs: 2 * BACKFILL_STEP_MS });
  const table = trafficTable(1, REALS, 7);
  const end = now - 15 * 60_000;
  let key = "";
  for (let t = end - 7 * DAY; t <= end; t += BACKFILL_STEP_MS) {
    const snap = table.next();
    store.record(t, snap);
    key ||= seriesKey(serviceKey(snap[0]!.service), destKey(snap[0]!.destinations[0]!));
  }
  store.close();
  return key;
}

const results: Record<string, unknown> = { machine: machine(), services: SERVICES, realsPerService: REALS };

const work = mkdtempSync(join(tmpdir(), "lvsdash-bench-dashboard-"));
const socket = join(work, "agent.sock");
const dataDir = join(work, "data");
mkdirSync(dataDir);

log(`loading ${SERVICES} services x ${REALS} real servers with ipvsadm-restore`);
const load = runTool(["sh", "-c", "ipvsadm -C && ipvsadm-restore"], { input: servicesRules(SERVICES, REALS) });
if (load.status !== 0) throw new Error(`ipvsadm-restore failed: ${load.stderr}`);

let weekKey = "";
if (!skip.has("c")) {
  const t0 = performance.now();
  weekKey = backfillWeek(dataDir, Date.now());
  log(`c. wrote 7 days of ${REALS + 1} series (a tick every ${BACKFILL_STEP_MS / 1000} s) in ${fmtMs(performance.now() - t0)}`);
}

log("starting the agent (as npm start does, agent only)");
const agentProcess = await startAgent(socket);
const exchange = createSocketExchange({ path: socket });
const agent = createAgentClient(exchange.exchange);
// The same sampler as production's (server/live/shared.ts: the agent's ipvs.counters through
// createCountersSource, the history store in the data directory), with its parts timed for the breakdown: the
// agent call (the agent's netlink read and encoding, the socket, JSON.parse here) and the decoding into the
// snapshot the step and the store read.
const history = HistoryStore.open(dataDir);
const phase = { readMs: 0, callMs: 0, netlinkMs: 0, recordMs: 0, pushMs: 0 };
const timedAgent = {
  call: (async (op, input) => {
    const t0 = performance.now();
    const out = await agent.call(op, input);
    phase.callMs = performance.now() - t0;
    const frame = (out as { frame?: { readMs: number } }).frame;
    phase.netlinkMs = frame?.readMs ?? Number.NaN;
    return out;
  }) as typeof agent.call,
};
const countersRead = createCountersSource(timedAgent);
const sampler = new LiveSampler({
  read: async () => {
    const t0 = performance.now();
    const r = await countersRead();
    phase.readMs = performance.now() - t0;
    return r;
  },
  history: {
    record: (t, services, counters) => {
      const t0 = performance.now();
      history.record(t, services, counters);
      phase.recordMs = performance.now() - t0;
    },
  },
  historyDir: dataDir,
});

// the push: two subscribers, serialized as the SSE stream would (an overview page and one service's page)
let pushedBytes = 0;
const oneKey = `tcp/198.51.100.1:1000`;
const describe = (e: unknown) => ({ message: String(e), agentCode: null });
sampler.subscribe((e) => {
  const t0 = performance.now();
  pushedBytes = JSON.stringify(overviewView(e, describe)).length + JSON.stringify(serviceView(e, oneKey, describe)).length;
  phase.pushMs = performance.now() - t0;
});

try {
  // warm-up: the first ticks compile code paths and open the history's series
  for (let i = 0; i < 3; i++) {
    await sampler.tick();
    await sleep(1000);
  }
  const first = sampler.latest();
  if (first?.kind !== "sample") throw new Error(`the sampler did not read the table: ${JSON.stringify(first)}`);
  log(`table read: ${first.sample.totals.services} services, ${first.sample.totals.realServers} real servers; push ${(pushedBytes / 1024).toFixed(0)} KiB per tick`);
  // The reply's size as JSON, with the table (first read) and without (every tick after)
  const full = await agent.call("ipvs.counters", {});
  if (full.available) {
    const steady = await agent.call("ipvs.counters", { table: full.frame.version });
    results.replyBytes = { withTable: JSON.stringify(full).length, steady: JSON.stringify(steady).length };
    log(`ipvs.counters reply: ${(JSON.stringify(full).length / 1024).toFixed(0)} KiB with the table, ${(JSON.stringify(steady).length / 1024).toFixed(0)} KiB per tick without`);
  }

  if (OLD_READS > 0) {
    // The previous path, for comparison in the same run: ipvs.snapshot (bigint-tagged JSON) read and decoded.
    const wall: number[] = [];
    const ipv: number[] = [];
    for (let i = 0; i < OLD_READS; i++) {
      const t0 = performance.now();
      await agent.call("ipvs.snapshot", {});
      wall.push(performance.now() - t0);
      ipv.push(runTool(["ipvsadm", "-Ln", "--stats"]).wallMs);
    }
    results.oldSnapshotRead = { runs: OLD_READS, wallMs: median(wall), ipvsadmWallMs: median(ipv) };
    log(`   (before) ipvs.snapshot read alone: wall ${fmtMs(median(wall))} (median of ${OLD_READS}) vs ipvsadm ${fmtMs(median(ipv))}: ${ratio(median(wall), median(ipv))}`);
  }

  if (!skip.has("a")) {
    const tick = { wall: [] as number[], cpu: 0, agentCpu: 0, read: [] as number[], call: [] as number[], netlink: [] as number[], record: [] as number[], push: [] as number[] };
    const ipv = { wall: [] as number[], cpu: 0 };
    for (let i = 0; i < RUNS; i++) {
      const c0 = process.cpuUsage();
      const a0 = procCpuMs(agentProcess.pid!);
      const t0 = performance.now();
      await sampler.tick();
      tick.wall.push(performance.now() - t0);
      tick.read.push(phase.readMs);
      tick.call.push(phase.callMs);
      tick.netlink.push(phase.netlinkMs);
      tick.record.push(phase.recordMs);
      tick.push.push(phase.pushMs);
      const c = process.cpuUsage(c0);
      tick.cpu += (c.user + c.system) / 1000;
      tick.agentCpu += procCpuMs(agentProcess.pid!) - a0;
      const r = runTool(["ipvsadm", "-Ln", "--stats"]);
      if (r.status !== 0) throw new Error(`ipvsadm -Ln --stats failed: ${r.stderr}`);
      ipv.wall.push(r.wallMs);
      ipv.cpu += r.cpuMs;
      // keep about 1 Hz, so that every tick has rates (as in production)
      await sleep(Math.max(0, 1000 - (performance.now() - t0)));
    }
    const tickWall = median(tick.wall);
    const ipvWall = median(ipv.wall);
    const tickCpu = (tick.cpu + tick.agentCpu) / RUNS;
    const ipvCpu = ipv.cpu / RUNS;
    const parts = { readMs: median(tick.read), callMs: median(tick.call), agentNetlinkMs: median(tick.netlink), recordMs: median(tick.record), pushMs: median(tick.push) };
    const stepMs = tickWall - parts.readMs - parts.recordMs - parts.pushMs;
    log(
      `   where the tick's wall time goes (medians): agent read ${fmtMs(parts.readMs)} (the agent call ${fmtMs(parts.callMs)}, of which its ` +
        `netlink read ${fmtMs(parts.agentNetlinkMs)}; decoding ${fmtMs(parts.readMs - parts.callMs)}), step ~${fmtMs(stepMs)}, history ${fmtMs(parts.recordMs)}, push ${fmtMs(parts.pushMs)}`,
    );
    results.a = { runs: RUNS, parts: { ...parts, stepMs }, tickWallMs: tickWall, tickCpuMs: tickCpu, webCpuMs: tick.cpu / RUNS, agentCpuMs: tick.agentCpu / RUNS, ipvsadmWallMs: ipvWall, ipvsadmCpuMs: ipvCpu, pushBytes: pushedBytes };
    log(`a. one tick (snapshot via the agent, rates, store, push): wall ${fmtMs(tickWall)} (median of ${RUNS}), cpu ${fmtMs(tickCpu)} (web ${fmtMs(tick.cpu / RUNS)} + agent ${fmtMs(tick.agentCpu / RUNS)})`);
    log(`   ipvsadm -Ln --stats, same table:                     wall ${fmtMs(ipvWall)} (median, incl. process start), cpu ${fmtMs(ipvCpu)}`);
    log(`   ratio tick / ipvsadm: wall ${ratio(tickWall, ipvWall)}, cpu ${ratio(tickCpu, ipvCpu)}   (target <= 2x: ${tickWall <= 2 * ipvWall ? "MET" : "NOT MET"} by wall, ${tickCpu <= 2 * ipvCpu ? "MET" : "NOT MET"} by CPU)`);
  }

  if (!skip.has("b")) {
    // RSS, and what it is made of: the V8 heap (committed, used), memory outside it (external, of which
    // ArrayBuffers) and the history store's files (db, WAL; page cache: SQLite's default, at most 2 MB)
    const rss: { s: number; web: number; agent: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number; dbMb: number; walMb: number }[] = [];
    const fileMb = (f: string) => {
      try {
        return statSync(join(dataDir, f)).size / 2 ** 20;
      } catch {
        return 0;
      }
    };
    const started = Date.now();
    sampler.start();
    let late = 0;
    let lastSeq = sampler.latest()?.kind === "sample" ? (sampler.latest() as { sample: { seq: number } }).sample.seq : 0;
    while (Date.now() - started < DURATION_S * 1000) {
      await sleep(1000);
      const m = process.memoryUsage();
      rss.push({
        s: Math.round((Date.now() - started) / 1000),
        web: m.rss / 2 ** 20,
        agent: procRssMb(agentProcess.pid!),
        heapTotal: m.heapTotal / 2 ** 20,
        heapUsed: m.heapUsed / 2 ** 20,
        external: m.external / 2 ** 20,
        arrayBuffers: m.arrayBuffers / 2 ** 20,
        dbMb: fileMb("history.sqlite"),
        walMb: fileMb("history.sqlite-wal"),
      });
      const e = sampler.latest();
      if (e?.kind === "sample") {
        if (e.sample.seq === lastSeq) late++;
        lastSeq = e.sample.seq;
      }
      if (rss.length % 30 === 0) {
        const x = rss.at(-1)!;
        log(
          `   b. ${x.s} s: web RSS ${x.web.toFixed(0)} MB (V8 heap ${x.heapTotal.toFixed(0)} committed, ${x.heapUsed.toFixed(0)} used; external ${x.external.toFixed(0)}, ` +
            `of which ArrayBuffers ${x.arrayBuffers.toFixed(0)}; history db ${x.dbMb.toFixed(0)} + WAL ${x.walMb.toFixed(0)} MB on disk), agent ${x.agent.toFixed(0)} MB`,
        );
      }
    }
    await sampler.stop();
    const after1 = rss.filter((x) => x.s >= 60);
    const peak = Math.max(...rss.map((x) => x.web));
    const span = after1.length ? Math.max(...after1.map((x) => x.web)) - Math.min(...after1.map((x) => x.web)) : Number.NaN;
    const at1 = after1[0]?.web ?? Number.NaN;
    const end = rss.at(-1)?.web ?? Number.NaN;
    results.b = { durationS: DURATION_S, peakWebMb: peak, webAt60sMb: at1, webEndMb: end, webSpanAfter60sMb: span, peakAgentMb: Math.max(...rss.map((x) => x.agent)), secondsWithoutNewSample: late, rss };
    log(`b. web server RSS over ${DURATION_S} s at 1 Hz: peak ${peak.toFixed(0)} MB, at 60 s ${at1.toFixed(0)} MB, at the end ${end.toFixed(0)} MB, range after the first minute ${span.toFixed(0)} MB`);
    log(`   (target: under 300 MB: ${peak < 300 ? "MET" : "NOT MET"}; flat after the first minute: end - 60 s = ${(end - at1).toFixed(0)} MB); agent peak ${Math.max(...rss.map((x) => x.agent)).toFixed(0)} MB; seconds without a new sample: ${late}`);
  }

  if (!skip.has("c")) {
    const { ms, stepMs } = RANGES["7d"];
    const times: number[] = [];
    let points = 0;
    for (let i = 0; i < 21; i++) {
      const to = Date.now();
      const t0 = performance.now();
      const q = history.query(weekKey, METRICS, to - ms, to, stepMs);
      times.push(performance.now() - t0);
      points = q.t.length;
    }
    times.shift(); // the first reads the pages from disk
    const fiveMin: number[] = [];
    const liveKey = seriesKey(oneKey, destKey({ family: "inet", address: "192.0.2.11", port: 1000 }));
    for (let i = 0; i < 20; i++) {
      const to = Date.now();
      const t0 = performance.now();
      history.query(liveKey, METRICS, to - RANGES["5m"].ms, to, RANGES["5m"].stepMs);
      fiveMin.push(performance.now() - t0);
    }
    results.c = { weekQueryMedianMs: median(times), weekQueryMaxMs: Math.max(...times), points, fiveMinQueryMedianMs: median(fiveMin), dbBytes: history.diskBytes() };
    log(`c. 7-day query of one real server (9 metrics, 30-min steps, ${points} points): median ${fmtMs(median(times))}, max ${fmtMs(Math.max(...times))} (target < 50 ms: ${median(times) < 50 ? "MET" : "NOT MET"}); 5-min query at 2 s: median ${fmtMs(median(fiveMin))}`);
  }
} finally {
  await sampler.stop();
  history.close();
  exchange.close();
  agentProcess.kill("SIGTERM");
  runTool(["ipvsadm", "-C"]);
  rmSync(work, { recursive: true, force: true });
}

if (process.env.LAB_ARTIFACTS) {
  const file = join(process.env.LAB_ARTIFACTS, "bench-dashboard.json");
  writeFileSync(file, `${JSON.stringify(results, null, 1)}\n`);
  log(`results: ${file}`);
}
process.exit(0);
