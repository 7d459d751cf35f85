// The history store's benchmark (not part of the test suite): npx tsx bench/history/run.ts [--quick]
//
//   1. one tick's store cost with 1,000 services x 10 real servers (11,000 series), against a naive
//      row-per-sample SQLite table written in the same run (one row per series, metric and second, time first)
//   2. bytes per sample on disk for both, after the same ticks (checkpoint + VACUUM, page_count * page_size)
//   3. the 7-day query of one real server (target: under 50 ms) in a database holding 7 days of 1-minute
//      rollups and 1 hour of 1-second samples for all 11,000 series: one service's 11 series are recorded
//      through the store (a snapshot a minute for 7 days, then 1 Hz for the last hour), and their rows are
//      copied to the 10,989 other series ids, so that the B-trees have their full size
//
// Prints one line per measurement, ratios where there is a reference. Everything happens in a temporary
// directory, removed at the end. --quick: 1 day instead of 7 and fewer ticks (a smoke run); --query-only: 3 only.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import Database from "better-sqlite3";

import { HistoryStore, METRICS, type TickValues } from "@/server/history/store";
import { trafficTable } from "@/test/history/helpers";

const quick = process.argv.includes("--quick");
const queryOnly = process.argv.includes("--query-only");
const SERVICES = 1000;
const PER_SERVICE = 10;
const SERIES = SERVICES * (PER_SERVICE + 1);
const WARMUP_TICKS = quick ? 70 : 130;
const TIMED_TICKS = quick ? 30 : 120;
const DAYS = quick ? 1 : 7;

const root = mkdtempSync(join(tmpdir(), "lvsdash-bench-history-"));
const T0 = Math.floor(Date.now() / 60_000) * 60_000;
const ms = (x: number) => `${x.toFixed(1)} ms`;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const fileBytes = (path: string) => {
  const db = new Database(path);
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.exec("VACUUM");
  const b = (db.pragma("page_count", { simple: true }) as number) * (db.pragma("page_size", { simple: true }) as number);
  db.close();
  return b;
};

function tickCost(): void {
  const table = trafficTable(SERVICES, PER_SERVICE);
  const store = HistoryStore.open(join(root, "ticks"));
  const naive = new Database(join(root, "naive.sqlite"));
  naive.pragma("journal_mode = WAL");
  naive.pragma("synchronous = NORMAL");
  naive.exec("CREATE TABLE sample (t INTEGER NOT NULL, series INTEGER NOT NULL, metric INTEGER NOT NULL, value REAL, PRIMARY KEY (t, series, metric)) WITHOUT ROWID");
  const put = naive.prepare("INSERT INTO sample VALUES (?, ?, ?, ?)");
  const storeMs: number[] = [];
  const naiveMs: number[] = [];
  const storeCpu: number[] = [];
  for (let i = 0; i < WARMUP_TICKS + TIMED_TICKS; i++) {
    const t = T0 + i * 1000;
    const snap = table.next();
    let t1 = performance.now();
    const c1 = process.cpuUsage();
    const values: TickValues[] = [];
    store.record(t, snap, undefined, values);
    const storeTook = performance.now() - t1;
    const cpu = process.cpuUsage(c1);
    // The naive table stores exactly what the store computed (so only the storage differs).
    t1 = performance.now();
    naive.transaction(() => {
      values.forEach((v, s) => METRICS.forEach((m, k) => put.run(t, s, k, v[m])));
    })();
    const naiveTook = performance.now() - t1;
    if (i >= WARMUP_TICKS) {
      storeMs.push(storeTook);
      storeCpu.push((cpu.user + cpu.system) / 1000);
      naiveMs.push(naiveTook);
    }
  }
  store.close();
  naive.close();
  const ticks = WARMUP_TICKS + TIMED_TICKS;
  const samples = ticks * SERIES * METRICS.length;
  const storeBytes = fileBytes(join(root, "ticks", "history.sqlite"));
  const naiveBytes = fileBytes(join(root, "naive.sqlite"));
  const med = (x: number[]) => pct(x, 50);
  console.log(`tick (${SERVICES} services x ${PER_SERVICE} real servers = ${SERIES} series, ${TIMED_TICKS} ticks after ${WARMUP_TICKS}):`);
  console.log(`  history store   median ${ms(med(storeMs))}  p95 ${ms(pct(storeMs, 95))}  max ${ms(Math.max(...storeMs))}`);
  console.log(`  history store   CPU time median ${ms(med(storeCpu))} (wall time counts waiting for a CPU on a loaded machine)`);
  console.log(`  naive rows      median ${ms(med(naiveMs))}  p95 ${ms(pct(naiveMs, 95))}  max ${ms(Math.max(...naiveMs))}`);
  console.log(`  ratio store/naive (median): ${(med(storeMs) / med(naiveMs)).toFixed(2)}`);
  console.log(`disk after ${ticks} ticks (${samples} samples):`);
  console.log(`  history store   ${(storeBytes / samples).toFixed(2)} bytes/sample (${storeBytes} bytes, rollups included)`);
  console.log(`  naive rows      ${(naiveBytes / samples).toFixed(2)} bytes/sample (${naiveBytes} bytes)`);
  console.log(`  ratio naive/store: ${(naiveBytes / storeBytes).toFixed(1)}x`);
}

function weekQuery(): void {
  const dir = join(root, "week");
  // One service with 10 real servers through the real store: a snapshot a minute for DAYS days (rates over 60 s:
  // one sample per rollup point, whose blobs are about the size of a full minute's), then 1 Hz for the last hour.
  const start = T0 - DAYS * 86_400_000;
  const hourAgo = T0 - 3_600_000;
  const table = trafficTable(1, PER_SERVICE, 7);
  let store = HistoryStore.open(dir, { maxGapMs: 120_000 });
  let t1 = performance.now();
  for (let t = start; t < hourAgo; t += 60_000) store.record(t, table.next());
  store.close();
  store = HistoryStore.open(dir);
  for (let t = hourAgo; t < T0; t += 1000) store.record(t, table.next());
  store.close();
  const fillSeconds = (performance.now() - t1) / 1000;
  // Copy its rows to the other series ids (the blobs are real chunks; the keys are what other series'd have).
  t1 = performance.now();
  const db = new Database(join(dir, "history.sqlite"));
  db.pragma("journal_mode = WAL");
  const ids = (db.prepare("SELECT id FROM series ORDER BY id").all() as { id: number }[]).map((r) => r.id);
  db.exec("CREATE TEMP TABLE copies (id INTEGER PRIMARY KEY, source INTEGER NOT NULL); CREATE INDEX temp.copies_source ON copies (source)");
  const addCopy = db.prepare("INSERT INTO copies VALUES (?, ?)");
  const addSeries = db.prepare("INSERT INTO series (id, key, service, dest) VALUES (?, ?, ?, NULL)");
  db.transaction(() => {
    for (let id = ids.length + 1; id <= SERIES; id++) {
      addCopy.run(id, ids[(id - 1) % ids.length]!);
      addSeries.run(id, `copy/${id}`, "copy");
    }
  })();
  for (const t of ["rollup", "raw"]) {
    db.exec(`INSERT INTO ${t} (k, data) SELECT s.k - (s.k % 1048576) + c.id, s.data FROM ${t} s JOIN copies c ON c.source = s.k % 1048576 ORDER BY 1`);
  }
  const rows = (t: string) => (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
  const counts = { rollup: rows("rollup"), raw: rows("raw") };
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();
  const copySeconds = (performance.now() - t1) / 1000;
  const probe = new Database(join(dir, "history.sqlite"));
  const bytes = (probe.pragma("page_count", { simple: true }) as number) * (probe.pragma("page_size", { simple: true }) as number);
  probe.close();
  console.log(`${DAYS}-day database: ${counts.rollup} rollup rows, ${counts.raw} raw rows, ${(bytes / 2 ** 20).toFixed(0)} MiB ` +
    `(filled in ${fillSeconds.toFixed(0)} s through the store for 11 series: 1/min for the days, 1 Hz the last hour; ${copySeconds.toFixed(0)} s copying to ${SERIES})`);

  store = HistoryStore.open(dir);
  const key = store.listSeries().find((s) => s.dest !== undefined && !s.key.startsWith("copy"))!.key;
  const now = T0 - 1000;
  const time = (from: number, step?: number) => {
    const took: number[] = [];
    const cpu: number[] = [];
    let points = 0;
    for (let i = 0; i < 21; i++) {
      const t = performance.now();
      const c = process.cpuUsage();
      const q = store.query(key, METRICS, from, now, step);
      took.push(performance.now() - t);
      const used = process.cpuUsage(c);
      cpu.push((used.user + used.system) / 1000);
      points = q.t.length;
    }
    return { took: took.slice(1), cpu: cpu.slice(1), points };
  };
  const week = time(now - DAYS * 86_400_000);
  const weekStep = time(now - DAYS * 86_400_000, 600_000);
  const hour = time(now - 3_599_000);
  console.log(`query of one real server (${key}), all 9 metrics, 20 runs after one cold:`);
  const line = (label: string, r: typeof week) =>
    console.log(`  ${label}  median ${ms(pct(r.took, 50))}  max ${ms(Math.max(...r.took))}  CPU median ${ms(pct(r.cpu, 50))}  (${r.points} points)`);
  line(`${DAYS} days, 1-minute points (target < 50 ms)`, week);
  line(`${DAYS} days, 10-minute steps`, weekStep);
  line("1 hour, 1-second points", hour);
  store.close();
}

try {
  if (!queryOnly) tickCost();
  weekQuery();
} finally {
  rmSync(root, { recursive: true, force: true });
}
