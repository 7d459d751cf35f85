// The live sampler's web half on this host, without the kernel or the agent: what the web process does in
// one tick of bench/dashboard/run.ts (decode the agent's ipvs.counters reply, step, history, push), fed
// synthetic frames of a 1,000 x 10 table (test/history/helpers: steady, noisy traffic) encoded by the agent's
// own encoder and parsed from JSON text as the socket client does. Ticks advance a fake clock by 1 s, so a
// 900-tick run is 15 minutes of history written in a few minutes.
//
//   npx tsx bench/dashboard/host.ts [--ticks 120] [--services 1000] [--reals 10] [--mem-every 60] [--pace 1000]
//   --pace MS: start a tick every MS of wall time, as the web server does (default 0: back to back). The
//   collector's choices depend on the pace: a sample that lives one second between ticks is not one that
//   lives 40 ms, so memory figures meant to stand for the lab's 10-minute run need --pace 1000.
//   NODE_OPTIONS=--cpu-prof npx tsx bench/dashboard/host.ts --ticks 60       (then bench/ipvs/profile-summary.ts)
//
// Prints the median per part (decode, step, history, push) and process.memoryUsage() every --mem-every ticks
// (rss, heapTotal, heapUsed, external, arrayBuffers) with the history store's SQLite file sizes.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { HistoryStore } from "@/server/history/store";
import { createCountersSource, encodeCountersFrame, wordsFromBase64, wordsToBase64 } from "@/server/live/counters";
import { LiveSampler } from "@/server/live/sampler";
import { overviewView, serviceView } from "@/server/live/views";
import { trafficTable } from "@/test/history/helpers";

import { median } from "../ipvs/measure";
import { numberOption } from "../options";

const TICKS = numberOption("ticks", 120);
const SERVICES = numberOption("services", 1000);
const REALS = numberOption("reals", 10);
const MEM_EVERY = numberOption("mem-every", 60);
const PACE_MS = numberOption("pace", 0);

const mb = (b: number) => (b / 2 ** 20).toFixed(0);
const fileMb = (p: string) => {
  try {
    return mb(statSync(p).size);
  } catch {
    return "-";
  }
};

const dir = mkdtempSync(join(tmpdir(), "lvsdash-bench-host-"));
let clock = Date.UTC(2026, 10, 21, 12, 0, 0);
// The table and the first counters from the agent's encoder; then each tick's counters grow by numbers
// (about (s % 7 + 1) * 20 conns/s per real server, 8 packets and 6 kB each, with noise), so that making the
// frames costs little next to the tick (and adds no garbage of its own to the memory figures).
const first = encodeCountersFrame(
  { takenAt: clock, info: { versionCode: 0x010201, version: "1.2.1", connTableSize: 4096 }, timeouts: { tcp: 900, tcpFin: 120, udp: 300 }, daemons: [], services: trafficTable(SERVICES, REALS, 3).next() },
  null,
);
const SERIES = SERVICES * (REALS + 1);
const values = new Float64Array(SERIES * 5);
const counters = new Uint32Array(SERIES * 10);
const conns = wordsFromBase64(first.conns, SERVICES * REALS * 3, "conns");
let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
/** The next reply's JSON text, made before the tick (not timed), as the agent would send it. */
let replyText = "";
const prepare = (known: string | null) => {
  for (let s = 0; s < SERVICES; s++) {
    const own = s * (REALS + 1);
    const sum = [0, 0, 0, 0, 0];
    for (let r = 1; r <= REALS; r++) {
      const v = (own + r) * 5;
      const c = Math.round((s % 7 + 1) * 20 * (0.8 + 0.4 * rnd()));
      values[v] = values[v]! + c;
      values[v + 1] = values[v + 1]! + c * 8 + Math.round(rnd() * 10);
      values[v + 3] = values[v + 3]! + c * 6000 + Math.round(rnd() * 5000);
      for (let k = 0; k < 5; k++) sum[k] = sum[k]! + values[v + k]!;
      const g = (s * REALS + r - 1) * 3;
      conns[g] = Math.max(0, conns[g]! + Math.round((rnd() - 0.5) * 4));
    }
    for (let k = 0; k < 5; k++) values[own * 5 + k] = sum[k]!;
  }
  for (let i = 0; i < SERIES * 5; i++) {
    const hi = Math.floor(values[i]! / 2 ** 32);
    counters[2 * i] = hi;
    counters[2 * i + 1] = values[i]! - hi * 2 ** 32;
  }
  const frame = { ...first, takenAt: clock, table: known === first.version ? null : first.table, counters: wordsToBase64(counters), conns: wordsToBase64(conns) };
  replyText = JSON.stringify({ available: true, frame });
};
const phase = { callMs: 0, readMs: 0, recordMs: 0, pushMs: 0, callB: 0, readB: 0, recordB: 0, pushB: 0 };
/** Bytes allocated on the V8 heap, as heapUsed grows: exact only while no GC runs in between (run with
 *  --max-semi-space-size=1024 to see what each part allocates; the harness prints it per tick). */
const used = () => process.memoryUsage().heapUsed;
const agent = {
  call: (async (_op: string, input: { table: string | null }) => {
    const t0 = performance.now();
    const b0 = used();
    void input;
    const out = JSON.parse(replyText);
    phase.callMs = performance.now() - t0;
    phase.callB = used() - b0;
    return out;
  }) as never,
};
const read = createCountersSource(agent);
const history = HistoryStore.open(dir);
const sampler = new LiveSampler({
  read: async () => {
    const t0 = performance.now();
    const b0 = used();
    const r = await read();
    phase.readMs = performance.now() - t0;
    phase.readB = used() - b0;
    return r;
  },
  history: {
    record: (t, services, counters) => {
      const t0 = performance.now();
      const b0 = used();
      history.record(t, services, counters);
      phase.recordMs = performance.now() - t0;
      phase.recordB = used() - b0;
    },
  },
  historyDir: dir,
  now: () => clock,
});
const describe = (e: unknown) => ({ message: String(e), agentCode: null });
let pushed = 0;
sampler.subscribe((e) => {
  const t0 = performance.now();
  const b0 = used();
  pushed = JSON.stringify(overviewView(e, describe)).length + JSON.stringify(serviceView(e, "tcp/192.0.2.1:80", describe)).length;
  phase.pushMs = performance.now() - t0;
  phase.pushB = used() - b0;
});

const alloc = { tick: [] as number[], parse: [] as number[], decode: [] as number[], step: [] as number[], record: [] as number[], push: [] as number[] };
const parts = { tick: [] as number[], parse: [] as number[], decode: [] as number[], step: [] as number[], record: [] as number[], push: [] as number[] };
let version: string | null = null;
console.log(`${SERVICES} services x ${REALS} real servers, ${TICKS} ticks; data in ${dir}`);
console.log("tick   rss heapTotal heapUsed external arrayBuffers  (MB)  sqlite db/wal");
for (let i = 0; i < TICKS; i++) {
  prepare(version);
  version = first.version;
  const t0 = performance.now();
  const b0 = used();
  await sampler.tick();
  const wall = performance.now() - t0;
  const bytes = used() - b0;
  const e = sampler.latest();
  if (e?.kind !== "sample") throw new Error(`no sample: ${JSON.stringify(e)}`);
  if (i >= 3) {
    parts.tick.push(wall);
    parts.parse.push(phase.callMs);
    parts.decode.push(phase.readMs - phase.callMs);
    parts.record.push(phase.recordMs);
    parts.push.push(phase.pushMs);
    parts.step.push(wall - phase.readMs - phase.recordMs - phase.pushMs);
    alloc.tick.push(bytes / 2 ** 20);
    alloc.parse.push(phase.callB / 2 ** 20);
    alloc.decode.push((phase.readB - phase.callB) / 2 ** 20);
    alloc.record.push(phase.recordB / 2 ** 20);
    alloc.push.push(phase.pushB / 2 ** 20);
    alloc.step.push((bytes - phase.readB - phase.recordB - phase.pushB) / 2 ** 20);
  }
  clock += 1000 + ((i * 7) % 13) - 6;
  if (PACE_MS > 0) await new Promise((r) => setTimeout(r, Math.max(0, PACE_MS - (performance.now() - t0))));
  if ((i + 1) % MEM_EVERY === 0) {
    // with --expose-gc: the live heap (after a full GC) rather than wherever the collector happens to be
    (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    console.log(
      `${String(i + 1).padStart(4)} ${mb(m.rss).padStart(5)} ${mb(m.heapTotal).padStart(9)} ${mb(m.heapUsed).padStart(8)} ${mb(m.external).padStart(8)} ${mb(m.arrayBuffers).padStart(12)}` +
        `        ${fileMb(join(dir, "history.sqlite"))}/${fileMb(join(dir, "history.sqlite-wal"))}`,
    );
  }
}
const f = (xs: number[]) => median(xs).toFixed(1);
console.log(
  `per tick (median of ${parts.tick.length}): ${f(parts.tick)} ms = JSON.parse ${f(parts.parse)} + decode ${f(parts.decode)} + step ${f(parts.step)} + history ${f(parts.record)} + push ${f(parts.push)} (${(pushed / 1024).toFixed(0)} KiB)`,
);
console.log(
  `allocated per tick (MB, median; exact only without a GC inside the tick): ${f(alloc.tick)} = JSON.parse ${f(alloc.parse)} + decode ${f(alloc.decode)} + step ${f(alloc.step)} + history ${f(alloc.record)} + push ${f(alloc.push)}`,
);
await sampler.stop();
history.close();
rmSync(dir, { recursive: true, force: true });
