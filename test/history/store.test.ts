// HistoryStore on a real SQLite file in a temporary directory: what goes in comes out, at both resolutions,
// across restarts and a simulated kill -9, within the 4 bytes per sample budget.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";

import { HistoryStore, METRICS, type TickValues } from "@/server/history/store";

import { dest, service, trafficTable, type Traffic } from "./helpers";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "lvsdash-history-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The current whole hour: within the 1-second retention for a store opened again without new ticks (which
 *  measures it from the clock), and a multiple of every step the tests ask for. */
const T0 = Math.floor(Date.now() / 3_600_000) * 3_600_000;
const SVC = "tcp/192.0.2.100:80";
const RS1 = `${SVC}/198.51.100.11:80`;
const RS2 = `${SVC}/198.51.100.12:80`;
const tr = (conns: number, inPkts = conns * 10, inBytes = inPkts * 100): Traffic => ({
  conns: BigInt(conns),
  inPkts: BigInt(inPkts),
  outPkts: 0n,
  inBytes: BigInt(inBytes),
  outBytes: 0n,
});
/** Records a tick and returns what the store says it stored, per series (null: the tick was ignored). */
const recordValues = (h: HistoryStore, t: number, snap: Parameters<HistoryStore["record"]>[1]): TickValues[] | null => {
  const values: TickValues[] = [];
  const n = h.record(t, snap, undefined, values);
  if (n !== null) expect(values).toHaveLength(n);
  return n === null ? null : values;
};
/** One service with rs1 (and rs2 unless left out), counters at `n1`/`n2` connections. */
const table = (n1: number, n2: number | null, active = 3) =>
  [
    service(
      "192.0.2.100",
      80,
      [dest("198.51.100.11", 80, tr(n1), { active, inactive: 7, persistent: 1, weight: 2 }), ...(n2 === null ? [] : [dest("198.51.100.12", 80, tr(n2), { active: 1, weight: 1 })])],
    ),
  ];

describe("HistoryStore", () => {
  it("stores gauges and 1-second rates from counter deltas, with gaps for first readings and resets", () => {
    const h = HistoryStore.open(tempDir());
    h.record(T0, table(100, 50));
    const tick = recordValues(h, T0 + 1000, table(110, 55));
    expect(tick?.find((v) => v.key === RS1)).toEqual({
      key: RS1,
      ...{ active: 3, inactive: 7, persistent: 1, weight: 2 },
      ...{ conns: 10, inPkts: 100, outPkts: 0, inBytes: 10_000, outBytes: 0 },
    });
    expect(recordValues(h, T0 + 1500, table(0, 0))?.find((v) => v.key === RS1)).toMatchObject({ conns: null, gap: "reset" });
    // (T0 + 1500: ipvsadm -Z)
    h.record(T0 + 2500, table(4, 2));
    const q = h.query(RS1, ["conns", "inBytes", "active"], T0, T0 + 3000, 500);
    expect(q.resolution).toBe("1s");
    expect(q.t).toEqual([T0, T0 + 1000, T0 + 1500, T0 + 2500]);
    expect(q.avg.conns).toEqual([null, 10, null, 4]);
    expect(q.avg.inBytes).toEqual([null, 10_000, null, 4000]);
    expect(q.avg.active).toEqual([3, 3, 3, 3]);
    // the service's own series: its counters, and the sums of its real servers' gauges
    const s = h.query(SVC, ["conns", "active", "weight"], T0, T0 + 3000, 500);
    expect(s.avg).toEqual({ conns: [null, 15, null, 6], active: [4, 4, 4, 4], weight: [3, 3, 3, 3] });
    h.close();
  });

  it("handles a real server removed and re-added: a hole while it is gone, then a gap, never a spike", () => {
    const h = HistoryStore.open(tempDir());
    h.record(T0, table(100, 50));
    h.record(T0 + 1000, table(110, 60));
    h.record(T0 + 2000, table(120, null)); // rs2 removed
    h.record(T0 + 3000, table(130, null));
    h.record(T0 + 4000, table(140, 5)); // re-added: counters from 0
    h.record(T0 + 5000, table(150, 9));
    const q = h.query(RS2, "conns", T0, T0 + 5000);
    expect(q.t).toEqual([T0, T0 + 1000, T0 + 4000, T0 + 5000]);
    expect(q.avg.conns).toEqual([null, 10, null, 4]);
    expect(q.max.conns).toEqual([null, 10, null, 4]);
    expect(h.listSeries().map((s) => s.key)).toEqual([SVC, RS1, RS2]);
    expect(h.listSeries()[2]).toEqual({ key: RS2, service: SVC, dest: "198.51.100.12:80" });
    h.close();
  });

  it("ignores a tick whose time is not after the last one (clock stepped back)", () => {
    const h = HistoryStore.open(tempDir());
    expect(h.record(T0 + 5000, table(100, 50))).toBe(3);
    expect(h.record(T0 + 4000, table(200, 50))).toBeNull();
    expect(recordValues(h, T0 + 6000, table(110, 50))?.find((v) => v.key === RS1)?.conns).toBe(10);
    h.close();
  });

  it("answers long ranges from 1-minute rollups: mean and max per minute, any coarser step merged exactly", () => {
    const h = HistoryStore.open(tempDir());
    // 3 minutes; in minute 1 rs1 gets 10 conns/s for 30 s then 40 conns/s for 30 s
    let n = 0;
    for (let i = 0; i < 180; i++) {
      n += i >= 60 && i < 90 ? 10 : i >= 90 && i < 120 ? 40 : 1;
      h.record(T0 + i * 1000, table(n, 0, i < 120 ? 2 : 6));
    }
    const q = h.query(RS1, ["conns", "active"], T0, T0 + 179_000, 60_000);
    expect(q.resolution).toBe("1m");
    expect(q.t).toEqual([T0, T0 + 60_000, T0 + 120_000]);
    // minute 0 has 59 rates (the first reading is a gap)
    expect(q.avg.conns).toEqual([1, 25, 1]);
    expect(q.max.conns).toEqual([1, 40, 1]);
    expect(q.avg.active).toEqual([2, 2, 6]);
    const all = h.query(RS1, "conns", T0, T0 + 179_000, 180_000);
    expect(all.avg.conns?.[0]).toBeCloseTo((59 + 30 * 10 + 30 * 40 + 60) / 179, 10);
    expect(all.max.conns).toEqual([40]);
    // and the same from 1-second data with a 10 s step
    const fine = h.query(RS1, "conns", T0 + 60_000, T0 + 119_999, 10_000);
    expect(fine.resolution).toBe("1s");
    expect(fine.avg.conns).toEqual([10, 10, 10, 40, 40, 40]);
    h.close();
  });

  it("answers every minute while 15-minute rollup windows turn over (one writer per series, reused), and after a restart", () => {
    const dir = tempDir();
    const h = HistoryStore.open(dir);
    const minutes = 40;
    // rs1's active connections are the minute's number: each minute's mean says which minute it is
    for (let i = 0; i < minutes * 60; i++) {
      const minute = Math.floor(i / 60);
      h.record(T0 + i * 1000, table(i, i, minute));
      // one second into each minute: the minute before has just closed
      if (i % 60 === 1) {
        const q = h.query(RS1, "active", T0, T0 + i * 1000, 60_000);
        expect(q.resolution).toBe("1m");
        expect(q.avg.active, `at minute ${minute}`).toEqual(Array.from({ length: minute + 1 }, (_, m) => m));
      }
    }
    h.close();
    const again = HistoryStore.open(dir);
    expect(again.query(RS1, "active", T0, T0 + minutes * 60_000 - 1, 60_000).avg.active).toEqual(Array.from({ length: minutes }, (_, m) => m));
    again.close();
  });

  it("keeps history across a restart, and continues the open chunk it was in", () => {
    const dir = tempDir();
    let h = HistoryStore.open(dir);
    for (let i = 0; i < 30; i++) h.record(T0 + i * 1000, table(i * 5, i));
    expect(h.isOpen).toBe(true);
    h.close();
    // The server's stop closes it, then process exit again: the second close writes nothing and does not throw.
    expect(h.isOpen).toBe(false);
    h.close();
    h = HistoryStore.open(dir);
    for (let i = 30; i < 90; i++) h.record(T0 + i * 1000, table(i * 5, i));
    const q = h.query(RS1, "conns", T0, T0 + 89_000);
    expect(q.t).toHaveLength(90);
    // rates: a gap at each start (no earlier snapshot in memory), 5/s elsewhere
    expect(q.avg.conns?.filter((v) => v === null)).toHaveLength(2);
    expect(q.avg.conns?.[30]).toBeNull();
    expect(q.avg.conns?.[31]).toBe(5);
    h.close();
    h = HistoryStore.open(dir);
    expect(h.query(RS1, "conns", T0, T0 + 89_000).t).toHaveLength(90);
    expect(h.query(RS1, "conns", T0, T0 + 89_000, 60_000).avg.conns).toEqual([5, 5]);
    expect(h.listSeries()).toHaveLength(3);
    h.close();
  });

  it("after a kill -9 keeps everything up to each series' last flush: at most 60 s of samples are lost", () => {
    const dir = tempDir();
    const h = HistoryStore.open(dir);
    for (let i = 0; i < 600; i++) h.record(T0 + i * 1000, table(i * 5, i));
    // A second connection sees exactly what is committed, as a process started after a crash would.
    const after = HistoryStore.open(dir);
    const q = after.query(RS1, "conns", T0, T0 + 599_000);
    expect(q.t.length).toBeGreaterThan(600 - 60);
    expect(q.t.length).toBeLessThanOrEqual(600);
    expect(q.t[0]).toBe(T0);
    expect(q.avg.conns?.slice(1).every((v) => v === 5)).toBe(true);
    // rollups: the minutes stored with the last raw flush
    const r = after.query(RS1, "conns", T0, T0 + 599_000, 60_000);
    expect(r.t.length).toBeGreaterThanOrEqual(8);
    h.close();
    after.close();
  });

  it("forgets 1-second samples after their retention and answers from rollups instead", () => {
    const h = HistoryStore.open(tempDir(), { rawRetentionMs: 5 * 60_000 });
    for (let i = 0; i < 900; i++) h.record(T0 + i * 1000, table(i * 2, i));
    const recent = h.query(RS1, "conns", T0 + 700_000, T0 + 899_000);
    expect(recent.resolution).toBe("1s");
    expect(recent.t).toHaveLength(200);
    const old = h.query(RS1, "conns", T0, T0 + 899_000);
    expect(old.resolution).toBe("1m");
    expect(old.t).toHaveLength(15);
    expect(old.avg.conns?.every((v) => v === 2)).toBe(true);
    h.close();
  });

  it("stores at most 4 bytes per sample on disk (page_count * page_size after a checkpoint and VACUUM)", () => {
    const dir = tempDir();
    const h = HistoryStore.open(dir);
    const services = 24;
    const perService = 5;
    const traffic = trafficTable(services, perService);
    const ticks = 3600;
    for (let i = 0; i < ticks; i++) h.record(T0 + i * 1000 + (i % 4), traffic.next());
    h.close();
    const db = new Database(join(dir, "history.sqlite"));
    db.exec("VACUUM");
    const bytes = (db.pragma("page_count", { simple: true }) as number) * (db.pragma("page_size", { simple: true }) as number);
    db.close();
    const series = services * (perService + 1);
    const samples = ticks * series * METRICS.length;
    const perSample = bytes / samples;
    console.log(`history: ${samples} samples (${series} series x ${METRICS.length} metrics x ${ticks} s), ${bytes} bytes on disk with rollups: ${perSample.toFixed(3)} bytes/sample`);
    expect(perSample).toBeLessThanOrEqual(4);
    expect(perSample).toBeGreaterThan(0.1);
  }, 300_000);
});

describe("HistoryStore: series that go away", () => {
  it("writes a removed series' chunks when their windows end and drops it from memory; a re-add reads them back", () => {
    const dir = tempDir();
    const h = HistoryStore.open(dir);
    for (let i = 0; i < 30; i++) h.record(T0 + i * 1000, table(i, i));
    for (let i = 30; i < 200; i++) h.record(T0 + i * 1000, table(i, null)); // rs2 gone after 30 s
    // what is on disk now (a second connection) has rs2's 30 samples and its rollup minute
    const other = HistoryStore.open(dir);
    expect(other.query(RS2, "conns", T0, T0 + 199_000).t).toHaveLength(30);
    expect(other.query(RS2, "active", T0, T0 + 199_000, 60_000).avg.active).toEqual([1]);
    other.close();
    for (let i = 200; i < 210; i++) h.record(T0 + i * 1000, table(i, i));
    const q = h.query(RS2, "conns", T0, T0 + 209_000);
    expect(q.t).toHaveLength(40);
    expect(q.avg.conns?.filter((v) => v !== null)).toEqual([...new Array(29).fill(1), ...new Array(9).fill(1)]);
    h.close();
  });

  it("does not store samples older than what a reopened chunk already holds (clock stepped back across a restart)", () => {
    const dir = tempDir();
    let h = HistoryStore.open(dir);
    for (let i = 0; i < 20; i++) h.record(T0 + i * 1000, table(i, i));
    h.close();
    h = HistoryStore.open(dir);
    expect(() => h.record(T0 + 5000, table(50, 50))).not.toThrow();
    h.record(T0 + 20_000, table(60, 60));
    expect(h.query(RS1, "conns", T0, T0 + 30_000).t).toHaveLength(21);
    h.close();
  });
});

describe("HistoryStore: rollup ranges", () => {
  it("counts a minute whose start is before `from` but which overlaps the range, stored or still open", () => {
    const h = HistoryStore.open(tempDir());
    for (let i = 0; i < 90; i++) h.record(T0 + i * 1000, table(i * 3, 0));
    // from mid-minute 0 to mid-minute 1: both minutes (the second still open in memory)
    const q = h.query(RS1, "conns", T0 + 30_000, T0 + 89_000, 60_000);
    expect(q.resolution).toBe("1m");
    expect(q.t).toEqual([T0, T0 + 60_000]);
    expect(q.avg.conns).toEqual([3, 3]);
    h.close();
  });
});
