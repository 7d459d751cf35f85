// The history store: every virtual service and real server, every second for the last hour and every minute
// for seven days, in one SQLite file (better-sqlite3, WAL) in the data directory.
//
//   const history = HistoryStore.open(historyDir());        // LVSDASH_DATA_DIR, else /var/lib/lvs-dashboard
//   history.record(Date.now(), snapshot.services, snapshot.counters);   // once per tick: gauges, and rates from the last one
//   history.query("tcp/192.0.2.100:80/192.0.2.11:80", ["active", "conns"], from, to);
//   history.close();                                        // flushes the open chunks
//
// Layout. Samples are not rows: each series has an open head chunk in memory (chunk.ts, 1-2 bytes per value)
// that is written as one BLOB row when its window ends:
//
//   raw     one row per series per 60 s window: time, rate interval, 4 gauges, 5 counter increases
//   rollup  one row per series per 15 min window: one point per minute (see ROLLUP_COLUMNS)
//
// Keys put time first: k = windowStartSeconds * 2^20 + seriesId, the table's INTEGER PRIMARY KEY (its rowid),
// so new rows append at the right edge of the B-tree, retention is one range delete at the left edge, and a
// series' windows are point lookups (its window starts are known: nothing scans other series). Each series'
// windows are shifted by a phase (id mod 60 s, id mod 15 min) so that about 1/60 of the series flush per tick
// instead of all at once; a tick's writes go in one transaction.
//
// Rollups keep, per minute and metric, the sum and the max (gauges: sum of values and sample count; rates:
// sum of counter increases and of interval ms, and the highest 1-second rate). Average and max are what a
// 7-day chart draws (the mean line and the peak a minute hid); a min would add a third of the size and is 0
// for any bursty service. Sums rather than averages keep merging exact: any step is recomputed from them.
//
// Durability. A series' raw chunk is written when its 60 s window ends; its rollup chunk is written (again,
// replacing the partial one) at each of those raw flushes, so a stored rollup is never more than a minute
// behind. close() writes every open chunk. After kill -9 (or a crash) what is lost is what was not written:
// per series at most the last 60 s of 1-second samples and the minutes not yet in its rollup (at most the
// last 1-2 minutes). Committed transactions survive a process crash in WAL mode (synchronous=NORMAL: a
// power loss can also lose the last transactions since the WAL was synced).
import { mkdirSync } from "node:fs";
import { join } from "node:path";

import Database from "better-sqlite3";

import type { ServiceWithDestinations } from "@/server/ipvs/netlink/types";

import { BufferSlab, ChunkWriter, decodeChunk, type DecodedChunk } from "./chunk";
import { destKey, serviceKey, seriesKey } from "./keys";
import { COUNTER_WORDS, DEFAULT_MAX_GAP_MS, counterBlockOf, increasesInto, type CounterBlock, type GapReason } from "./rates";

// ---------------------------------------------------------------------------------------------------------
// 1. Metrics and columns
// ---------------------------------------------------------------------------------------------------------

export const GAUGES = ["active", "inactive", "persistent", "weight"] as const;
/** Per-second rates of the five IPVS counters (conns/s, packets/s, bytes/s). */
export const RATES = ["conns", "inPkts", "outPkts", "inBytes", "outBytes"] as const;
export const METRICS = [...GAUGES, ...RATES] as const;
export type Gauge = (typeof GAUGES)[number];
export type Rate = (typeof RATES)[number];
export type Metric = (typeof METRICS)[number];

/** Raw chunk columns (after the time): the rate interval (ms, null on a gap), the gauges, the increases. */
const RAW_DT = 0;
const RAW_GAUGE = 1;
const RAW_INC = RAW_GAUGE + GAUGES.length;
const RAW_COLUMNS = RAW_INC + RATES.length;

/** Rollup chunk columns per minute: samples, rate ms, gauge sums, gauge maxes, increases, max rate (x1000). */
const RU_N = 0;
const RU_RMS = 1;
const RU_GSUM = 2;
const RU_GMAX = RU_GSUM + GAUGES.length;
const RU_INC = RU_GMAX + GAUGES.length;
const RU_RMAX = RU_INC + RATES.length;
const ROLLUP_COLUMNS = RU_RMAX + RATES.length;

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const RAW_WINDOW = 60 * SECOND;
// A head's buffer, sized for a whole window at about 2 bytes per value (raw: 60 samples) and 3 (rollup: 15
// points of sums and maxima), so that 11,000 heads do not grow by doubling through their first window: the
// store's memory is what it is from the first minute on (bench/dashboard). A busier series still grows its own.
const RAW_HEAD_BYTES = 2048;
const ROLLUP_HEAD_BYTES = 1024;
const ROLLUP_WINDOW = 15 * MINUTE;
/** Series ids fit in the low 20 bits of a row key. */
const MAX_SERIES = 2 ** 20;

// ---------------------------------------------------------------------------------------------------------
// 2. Options, results
// ---------------------------------------------------------------------------------------------------------

export interface HistoryOptions {
  /** How long 1-second samples are kept (default 1 hour). */
  rawRetentionMs?: number;
  /** How long 1-minute rollups are kept (default 7 days). */
  rollupRetentionMs?: number;
  /** Longest pause between two snapshots that still gives a rate (rates.ts; default 10 s). */
  maxGapMs?: number;
}

export const DEFAULT_RAW_RETENTION_MS = 60 * MINUTE;
export const DEFAULT_ROLLUP_RETENTION_MS = 7 * 24 * 60 * MINUTE;
export const DEFAULT_DATA_DIR = "/var/lib/lvs-dashboard";

/** LVSDASH_DATA_DIR, else /var/lib/lvs-dashboard. */
export function dataDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.LVSDASH_DATA_DIR || DEFAULT_DATA_DIR;
}

export interface SeriesInfo {
  key: string;
  /** The virtual service's key (serviceKey). */
  service: string;
  /** The real server's key (destKey); absent for a service's own series. */
  dest?: string;
}

export interface HistoryQueryResult {
  key: string;
  /** Which data answered: 1-second samples or 1-minute rollups. */
  resolution: "1s" | "1m";
  stepMs: number;
  /** Start of each step that has data, ascending (ms). */
  t: number[];
  /** Mean over each step: gauges as the mean value, rates per second over the step; null where only gaps. */
  avg: Partial<Record<Metric, (number | null)[]>>;
  /** Highest value in each step (rates: the highest 1-second rate). */
  max: Partial<Record<Metric, (number | null)[]>>;
}

/** One series' values at one tick, as stored: what a live view can push as it is. */
export type TickValues = { key: string } & Record<Gauge, number> &
  Record<Rate, number | null> & {
    /** Why the rates are null (rates.ts); absent when they are not. */
    gap?: GapReason;
  };

// ---------------------------------------------------------------------------------------------------------
// 3. The store
// ---------------------------------------------------------------------------------------------------------

/** One service's series in memory: its own, and its real servers' by address and port. */
interface LiveIndex {
  own?: SeriesState;
  dests: Map<string, Map<number, SeriesState>>;
}

interface Head {
  start: number;
  w: ChunkWriter;
}

interface SeriesState {
  id: number;
  key: string;
  service: string;
  /** A real server's address and port as the snapshot gives them; undefined for a service's own series. */
  at: { address: string; port: number } | undefined;
  /** The last snapshot's counters of this series as words (rates.ts), its width (0: none), when it was taken. */
  prev: Float64Array | undefined;
  prevWidth: number;
  prevT: number;
  raw?: Head;
  /** The open minute: ROLLUP_COLUMNS accumulators. */
  minute?: { t: number; acc: Float64Array };
  /** The last closed minute's and written heads' objects, reused for the next ones (see ChunkWriter.reset). */
  spareMinute?: { t: number; acc: Float64Array };
  spareRaw?: ChunkWriter;
  spareRollup?: ChunkWriter;
  rollup?: Head;
  /** Complete rollup chunks not written yet (written with the next raw flush), as their stored bytes: the
   *  writer goes on with the next window at once (one rollup writer per series, not a second one a window). */
  pending: { start: number; bytes: Uint8Array }[];
  rollupDirty: boolean;
  /** Stored chunks for the current windows may exist (after a restart): look before opening the first head. */
  resume: { raw: boolean; rollup: boolean };
  lastSeen: number;
}

const rawPhase = (id: number) => (id % 60) * SECOND;
const rollupPhase = (id: number) => (id % 15) * MINUTE;
const windowStart = (t: number, size: number, phase: number) => Math.floor((t - phase) / size) * size + phase;
const rowKey = (start: number, id: number) => (start / SECOND) * MAX_SERIES + id;

export class HistoryStore {
  private readonly ids = new Map<string, SeriesInfo & { id: number }>();
  private readonly states = new Map<number, SeriesState>();
  /** The series in memory by the snapshot's fields: service key, then a real server's address and port. */
  private readonly live = new Map<string, LiveIndex>();
  /** The last tick's series in its counter block's order, when the block named its layout. */
  private order: { layout: string; states: SeriesState[] } | null = null;
  private lastTick = -Infinity;
  /** The newest stored sample's time when opened: "now" for queries until the first tick. */
  private newestStored: number | undefined;
  private lastRetention = -Infinity;
  private readonly stmt;

  private constructor(
    private readonly db: Database.Database,
    private readonly opts: Required<HistoryOptions>,
  ) {
    this.stmt = {
      addSeries: db.prepare<[string, string, string | null]>("INSERT INTO series (key, service, dest) VALUES (?, ?, ?)"),
      putRaw: db.prepare<[number, Uint8Array]>("INSERT OR REPLACE INTO raw (k, data) VALUES (?, ?)"),
      putRollup: db.prepare<[number, Uint8Array]>("INSERT OR REPLACE INTO rollup (k, data) VALUES (?, ?)"),
      getRaw: db.prepare<[number], { data: Buffer }>("SELECT data FROM raw WHERE k = ?"),
      getRollup: db.prepare<[number], { data: Buffer }>("SELECT data FROM rollup WHERE k = ?"),
      expireRaw: db.prepare<[number]>("DELETE FROM raw WHERE k < ?"),
      expireRollup: db.prepare<[number]>("DELETE FROM rollup WHERE k < ?"),
    };
    const newest = db.prepare("SELECT data FROM raw ORDER BY k DESC LIMIT 1").get() as { data: Buffer } | undefined;
    if (newest) this.newestStored = decodeChunk(newest.data).t.at(-1);
    for (const row of db.prepare("SELECT id, key, service, dest FROM series").all() as { id: number; key: string; service: string; dest: string | null }[]) {
      this.ids.set(row.key, { id: row.id, key: row.key, service: row.service, ...(row.dest === null ? {} : { dest: row.dest }) });
    }
  }

  /** Opens (creating if needed) `dir`/history.sqlite. */
  static open(dir: string, options: HistoryOptions = {}): HistoryStore {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    const db = new Database(join(dir, "history.sqlite"));
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    // A bounded page cache: 2 MiB (SQLite's own default; better-sqlite3 builds with 16 MB). Writes append at the
    // right edge of two B-trees and a query is point lookups, so a small cache holds what is hot; a 16 MB one
    // filled as the file grew and was a good part of the web server's RSS growth over its first minutes.
    db.pragma("cache_size = -2000");
    db.exec(`
      CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, service TEXT NOT NULL, dest TEXT);
      -- k = window start (s) * 2^20 + series id: time first
      CREATE TABLE IF NOT EXISTS raw (k INTEGER PRIMARY KEY, data BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS rollup (k INTEGER PRIMARY KEY, data BLOB NOT NULL);
    `);
    return new HistoryStore(db, {
      rawRetentionMs: options.rawRetentionMs ?? DEFAULT_RAW_RETENTION_MS,
      rollupRetentionMs: options.rollupRetentionMs ?? DEFAULT_ROLLUP_RETENTION_MS,
      maxGapMs: options.maxGapMs ?? DEFAULT_MAX_GAP_MS,
    });
  }

  // ---- writing ------------------------------------------------------------------------------------------

  /**
   * Stores one snapshot taken at `tickTime` (ms): each service and real server's gauges, and rates against
   * the previous snapshot (kept in memory). `counters`: the snapshot's counters as words when the caller has
   * them so (the sampler's ipvs.counters read, whose services carry no `stats`); else they are read from each
   * `stats`. `values`, when given, receives what was stored, per series (a caller that shows or checks them;
   * the sampler does not ask: 11,000 objects a tick). A tick not later than the last one (the clock stepped
   * back) is ignored and returns null; else the number of series recorded.
   */
  record(tickTime: number, snapshot: readonly ServiceWithDestinations[], counters: CounterBlock = counterBlockOf(snapshot), values?: TickValues[]): number | null {
    if (!(tickTime > this.lastTick)) return null;
    this.lastTick = tickTime;
    // The series in the block's order: the previous tick's when the block names the same layout (every one
    // of them was seen then, so none was forgotten since), else found by the snapshot's fields.
    const known = counters.layout !== undefined && this.order?.layout === counters.layout ? this.order.states : null;
    const order: SeriesState[] = known ?? new Array<SeriesState>(counters.widths.length);
    const row = this.row;
    let i = 0; // series index in `counters`: each service, then its real servers
    this.db.transaction(() => {
      for (const svc of snapshot) {
        const own = i++;
        let active = 0;
        let inactive = 0;
        let persistent = 0;
        let weight = 0;
        let live: LiveIndex | undefined;
        let sk = "";
        if (!known) {
          sk = serviceKey(svc.service);
          live = this.live.get(sk);
          if (!live) this.live.set(sk, (live = { dests: new Map() }));
        }
        for (const d of svc.destinations) {
          active += d.activeConns;
          inactive += d.inactiveConns;
          persistent += d.persistentConns;
          weight += d.weight;
          const at = i++;
          let s = known?.[at];
          if (!s) {
            // Found by the snapshot's own strings and numbers: no key text is built for a known real server.
            let byPort = live!.dests.get(d.address);
            s = byPort?.get(d.port);
            if (!s) {
              const dk = destKey(d);
              s = this.state(seriesKey(sk, dk), sk, dk, { address: d.address, port: d.port });
              if (!byPort) live!.dests.set(d.address, (byPort = new Map()));
              byPort.set(d.port, s);
            }
            order[at] = s;
          }
          row[RAW_GAUGE] = d.activeConns;
          row[RAW_GAUGE + 1] = d.inactiveConns;
          row[RAW_GAUGE + 2] = d.persistentConns;
          row[RAW_GAUGE + 3] = d.weight;
          this.sample(s, tickTime, counters, at, values);
        }
        let s = known?.[own];
        if (!s) s = order[own] = live!.own ??= this.state(sk, sk, undefined, undefined);
        row[RAW_GAUGE] = active;
        row[RAW_GAUGE + 1] = inactive;
        row[RAW_GAUGE + 2] = persistent;
        row[RAW_GAUGE + 3] = weight;
        this.sample(s, tickTime, counters, own, values);
      }
      // Series not in this snapshot (removed): close what their windows ended, forget their counters. (None
      // when every series in memory was in it.)
      if (this.states.size > i) {
        for (const s of this.states.values()) {
          if (s.lastSeen === tickTime) continue;
          s.prevWidth = 0;
          if (s.minute && s.minute.t + MINUTE <= tickTime) this.closeMinute(s);
          if (s.raw ? s.raw.start + RAW_WINDOW <= tickTime : s.rollupDirty || s.pending.length > 0) this.flushRaw(s);
          // Everything written: drop it from memory (if it comes back, its chunks are read back from the file).
          if (!s.raw && !s.minute) this.forget(s);
        }
      }
      if (tickTime - this.lastRetention >= MINUTE) this.expire(tickTime);
    })();
    this.order = counters.layout === undefined ? null : { layout: counters.layout, states: order };
    return i;
  }

  /** Where the series' head buffers come from (see BufferSlab). */
  private readonly slabs = { raw: new BufferSlab(RAW_HEAD_BYTES), rollup: new BufferSlab(ROLLUP_HEAD_BYTES) };

  /** Scratch rollup point for closeMinute(): ROLLUP_COLUMNS values, NaN for none. */
  private readonly point = new Float64Array(ROLLUP_COLUMNS);

  /** Scratch row for sample(): RAW_COLUMNS values, NaN for none. */
  private readonly row = new Float64Array(RAW_COLUMNS);

  /** One series' sample: its gauges are in `row` already; its counters are series `i` of `counters`. */
  private sample(s: SeriesState, t: number, counters: CounterBlock, i: number, values: TickValues[] | undefined): void {
    const row = this.row;
    row[RAW_DT] = Number.NaN;
    let r: number | GapReason = "first";
    const width = counters.widths[i]!;
    if (width !== 0) {
      const at = i * COUNTER_WORDS;
      r = increasesInto(s.prevT, s.prev, 0, s.prevWidth, t, counters.words, at, width, this.opts.maxGapMs, row, RAW_INC);
      if (typeof r === "number") row[RAW_DT] = r;
      const prev = (s.prev ??= new Float64Array(COUNTER_WORDS));
      for (let k = 0; k < COUNTER_WORDS; k++) prev[k] = counters.words[at + k]!;
    }
    if (typeof r !== "number") row.fill(Number.NaN, RAW_INC);
    s.prevWidth = width;
    s.prevT = t;
    s.lastSeen = t;

    // Raw head: flush when the sample falls in a later window. A time not after the chunk's last (the clock
    // went back across a restart) is not stored.
    const ws = windowStart(t, RAW_WINDOW, rawPhase(s.id));
    if (s.raw && s.raw.start !== ws) this.flushRaw(s);
    s.raw ??= this.openHead(s, ws, "raw");
    if (s.raw.w.count === 0 || t > s.raw.w.lastTime) {
      s.raw.w.append(t, row);
      this.accumulate(s, t, row);
    }
    if (!values) return;

    const k = typeof r === "number" ? 1000 / r : Number.NaN;
    const v: TickValues = {
      key: s.key,
      active: row[RAW_GAUGE]!,
      inactive: row[RAW_GAUGE + 1]!,
      persistent: row[RAW_GAUGE + 2]!,
      weight: row[RAW_GAUGE + 3]!,
      conns: null,
      inPkts: null,
      outPkts: null,
      inBytes: null,
      outBytes: null,
    };
    if (typeof r === "string") v.gap = r;
    else {
      v.conns = row[RAW_INC]! * k;
      v.inPkts = row[RAW_INC + 1]! * k;
      v.outPkts = row[RAW_INC + 2]! * k;
      v.inBytes = row[RAW_INC + 3]! * k;
      v.outBytes = row[RAW_INC + 4]! * k;
    }
    values.push(v);
  }

  private state(key: string, service: string, dest: string | undefined, at: { address: string; port: number } | undefined): SeriesState {
    let info = this.ids.get(key);
    if (!info) {
      const id = Number(this.stmt.addSeries.run(key, service, dest ?? null).lastInsertRowid);
      if (id >= MAX_SERIES) throw new RangeError(`more than ${MAX_SERIES - 1} series ever recorded`);
      info = { id, key, service, ...(dest === undefined ? {} : { dest }) };
      this.ids.set(key, info);
    }
    let s = this.states.get(info.id);
    if (!s) {
      // Its rollup head's writer is made now, not when its first minute closes: a series needs it within a
      // minute anyway, and 11,000 of them (11 MB) arriving a minute after start made the dashboard's memory
      // climb after its first minute (bench/dashboard).
      s = {
        id: info.id,
        key,
        service,
        at,
        prev: undefined,
        prevWidth: 0,
        prevT: 0,
        pending: [],
        rollupDirty: false,
        resume: { raw: true, rollup: true },
        lastSeen: -Infinity,
        spareRollup: new ChunkWriter(ROLLUP_COLUMNS, 0, this.slabs.rollup.next()),
      };
      this.states.set(info.id, s);
    }
    return s;
  }

  /** Drops a series whose chunks are all written from memory (and from the snapshot index). */
  private forget(s: SeriesState): void {
    this.states.delete(s.id);
    const live = this.live.get(s.service);
    if (!live) return;
    if (s.at) live.dests.get(s.at.address)?.delete(s.at.port);
    else live.own = undefined;
  }

  /** A new head for the window at `start`, continuing the stored chunk of that window if there is one. */
  private openHead(s: SeriesState, start: number, table: "raw" | "rollup"): Head {
    let w = table === "raw" ? s.spareRaw : s.spareRollup;
    if (w) {
      if (table === "raw") s.spareRaw = undefined;
      else s.spareRollup = undefined;
      w.reset(start);
    } else w = new ChunkWriter(table === "raw" ? RAW_COLUMNS : ROLLUP_COLUMNS, start, this.slabs[table].next());
    if (s.resume[table]) {
      s.resume[table] = false;
      const row = (table === "raw" ? this.stmt.getRaw : this.stmt.getRollup).get(rowKey(start, s.id));
      if (row) {
        const c = decodeChunk(row.data);
        c.t.forEach((t, i) => w.append(t, c.cols.map((col) => col[i] ?? null)));
      }
    }
    return { start, w };
  }

  /** Adds a raw row to the open minute; a sample in a later minute closes it first. */
  private accumulate(s: SeriesState, t: number, row: Float64Array): void {
    const m = Math.floor(t / MINUTE) * MINUTE;
    if (s.minute && s.minute.t !== m) this.closeMinute(s);
    if (!s.minute) {
      const open = s.spareMinute ?? { t: m, acc: new Float64Array(ROLLUP_COLUMNS) };
      s.spareMinute = undefined;
      open.t = m;
      open.acc.fill(0);
      open.acc.fill(-Infinity, RU_GMAX, RU_GMAX + GAUGES.length);
      open.acc.fill(-Infinity, RU_RMAX, RU_RMAX + RATES.length);
      s.minute = open;
    }
    const a = s.minute.acc;
    a[RU_N]! += 1;
    for (let i = 0; i < GAUGES.length; i++) {
      const v = row[RAW_GAUGE + i] as number;
      a[RU_GSUM + i]! += v;
      a[RU_GMAX + i] = Math.max(a[RU_GMAX + i]!, v);
    }
    const dt = row[RAW_DT] as number;
    if (!Number.isNaN(dt)) {
      a[RU_RMS]! += dt;
      for (let i = 0; i < RATES.length; i++) {
        const inc = row[RAW_INC + i] as number;
        a[RU_INC + i]! += inc;
        a[RU_RMAX + i] = Math.max(a[RU_RMAX + i]!, Math.round((inc * 1e6) / dt));
      }
    }
  }

  private closeMinute(s: SeriesState): void {
    const m = s.minute;
    if (!m) return;
    s.minute = undefined;
    const point = this.point;
    for (let i = 0; i < ROLLUP_COLUMNS; i++) point[i] = Number.isFinite(m.acc[i]) ? m.acc[i]! : Number.NaN; // NaN: none
    s.spareMinute = m;
    const ws = windowStart(m.t, ROLLUP_WINDOW, rollupPhase(s.id));
    if (s.rollup && s.rollup.start !== ws) {
      s.pending.push({ start: s.rollup.start, bytes: s.rollup.w.bytes() });
      s.spareRollup = s.rollup.w;
      s.rollup = undefined;
    }
    s.rollup ??= this.openHead(s, ws, "rollup");
    if (s.rollup.w.count > 0 && m.t < s.rollup.w.lastTime) return;
    s.rollup.w.append(m.t, point);
    s.rollupDirty = true;
  }

  /** Writes the raw head, and the series' rollup chunks (complete ones, and the open one as it is now). */
  private flushRaw(s: SeriesState): void {
    if (s.raw) {
      this.stmt.putRaw.run(rowKey(s.raw.start, s.id), s.raw.w.bytes());
      s.spareRaw = s.raw.w;
    }
    s.raw = undefined;
    for (const p of s.pending) this.stmt.putRollup.run(rowKey(p.start, s.id), p.bytes);
    s.pending.length = 0;
    if (s.rollup && s.rollupDirty) this.stmt.putRollup.run(rowKey(s.rollup.start, s.id), s.rollup.w.bytes());
    s.rollupDirty = false;
  }

  private expire(now: number): void {
    this.lastRetention = now;
    this.stmt.expireRaw.run(rowKey(Math.floor((now - this.opts.rawRetentionMs - RAW_WINDOW) / SECOND) * SECOND, 0));
    this.stmt.expireRollup.run(rowKey(Math.floor((now - this.opts.rollupRetentionMs - ROLLUP_WINDOW) / SECOND) * SECOND, 0));
  }

  /** False once close() ran. */
  get isOpen(): boolean {
    return this.db.open;
  }

  /** Writes every open chunk (the open minute becomes a rollup point) and closes the database; again, nothing. */
  close(): void {
    if (!this.db.open) return;
    this.db.transaction(() => {
      for (const s of this.states.values()) {
        this.closeMinute(s);
        this.flushRaw(s);
      }
    })();
    this.states.clear();
    this.live.clear();
    this.order = null;
    this.db.pragma("wal_checkpoint(TRUNCATE)");
    this.db.close();
  }

  // ---- reading ------------------------------------------------------------------------------------------

  listSeries(): SeriesInfo[] {
    return [...this.ids.values()].map(({ id: _id, ...info }) => info).sort((a, b) => a.key.localeCompare(b.key));
  }

  /**
   * The series' `metrics` between `from` and `to` (ms, inclusive), in steps of `stepMs`. 1-second samples
   * answer when the range lies within their retention (counted back from the last tick, or from the newest
   * stored sample before the first) and the step is under a minute; 1-minute rollups otherwise (default
   * step: 1 s or 60 s). Stored chunks and the open ones in memory are merged.
   */
  query(key: string, metrics: Metric | readonly Metric[], from: number, to: number, stepMs?: number): HistoryQueryResult {
    const wanted = typeof metrics === "string" ? [metrics] : [...metrics];
    const now = Number.isFinite(this.lastTick) ? this.lastTick : (this.newestStored ?? Date.now());
    const raw = from >= now - this.opts.rawRetentionMs && (stepMs ?? SECOND) < MINUTE;
    const step = Math.max(stepMs ?? (raw ? SECOND : MINUTE), 1);
    const info = this.ids.get(key);
    const buckets = new Buckets(step);
    if (info) {
      const s = this.states.get(info.id);
      for (const chunk of raw ? this.rawChunks(info.id, s, from, to) : this.rollupChunks(info.id, s, from, to)) {
        for (let i = 0; i < chunk.t.length; i++) {
          const t = chunk.t[i]!;
          // A sample counts if it lies in the range; a rollup point (a minute) if its minute overlaps it.
          if (t > to || (raw ? t < from : t + MINUTE <= from)) continue;
          if (raw) addRawSample(buckets.at(t), chunk, i);
          else addRollupPoint(buckets.at(t), chunk, i);
        }
      }
      if (!raw && s?.minute && s.minute.t + MINUTE > from && s.minute.t <= to) {
        addRollupPoint(buckets.at(s.minute.t), { start: 0, t: [s.minute.t], cols: Array.from(s.minute.acc, (v) => [Number.isFinite(v) ? v : null]) }, 0);
      }
    }
    const t = buckets.keys;
    const result: HistoryQueryResult = { key, resolution: raw ? "1s" : "1m", stepMs: step, t, avg: {}, max: {} };
    for (const m of wanted) {
      const gi = (GAUGES as readonly string[]).indexOf(m);
      const ri = (RATES as readonly string[]).indexOf(m);
      const avg = new Array<number | null>(t.length);
      const max = new Array<number | null>(t.length);
      for (let j = 0; j < t.length; j++) {
        const a = buckets.row(j);
        let mx: number;
        if (gi >= 0) {
          avg[j] = a[RU_N]! > 0 ? a[RU_GSUM + gi]! / a[RU_N]! : null;
          mx = a[RU_GMAX + gi]!;
        } else {
          avg[j] = a[RU_RMS]! > 0 ? (a[RU_INC + ri]! * 1000) / a[RU_RMS]! : null;
          mx = a[RU_RMAX + ri]! / 1000;
        }
        max[j] = Number.isFinite(mx) ? mx : null;
      }
      result.avg[m] = avg;
      result.max[m] = max;
    }
    return result;
  }

  private *rawChunks(id: number, s: SeriesState | undefined, from: number, to: number): Generator<DecodedChunk> {
    const phase = rawPhase(id);
    for (let ws = windowStart(from, RAW_WINDOW, phase); ws <= to; ws += RAW_WINDOW) {
      if (s?.raw?.start === ws) yield decodeChunk(s.raw.w.bytes());
      else {
        const row = this.stmt.getRaw.get(rowKey(ws, id));
        if (row) yield decodeChunk(row.data);
      }
    }
  }

  private *rollupChunks(id: number, s: SeriesState | undefined, from: number, to: number): Generator<DecodedChunk> {
    const phase = rollupPhase(id);
    const inMemory = new Map<number, Uint8Array>();
    for (const p of s?.pending ?? []) inMemory.set(p.start, p.bytes);
    if (s?.rollup) inMemory.set(s.rollup.start, s.rollup.w.bytes());
    for (let ws = windowStart(from, ROLLUP_WINDOW, phase); ws <= to; ws += ROLLUP_WINDOW) {
      const h = inMemory.get(ws);
      if (h) yield decodeChunk(h);
      else {
        const row = this.stmt.getRollup.get(rowKey(ws, id));
        if (row) yield decodeChunk(row.data);
      }
    }
  }

  /** Bytes the database file holds (pages in use after a checkpoint), for size measurements. */
  diskBytes(): number {
    this.db.pragma("wal_checkpoint(TRUNCATE)");
    const pages = this.db.pragma("page_count", { simple: true }) as number;
    const free = this.db.pragma("freelist_count", { simple: true }) as number;
    const size = this.db.pragma("page_size", { simple: true }) as number;
    return (pages - free) * size;
  }
}

// ---- step accumulators: the rollup columns, filled from raw samples or from rollup points -----------------

/** One accumulator row (ROLLUP_COLUMNS) per step, in one growing array; points mostly arrive in time order. */
class Buckets {
  readonly keys: number[] = [];
  private data = new Float64Array(64 * ROLLUP_COLUMNS);

  constructor(private readonly step: number) {}

  row(j: number): Float64Array {
    return this.data.subarray(j * ROLLUP_COLUMNS, (j + 1) * ROLLUP_COLUMNS);
  }

  /** The accumulator of the step holding `t`, created empty if needed. */
  at(t: number): Float64Array {
    const b = Math.floor(t / this.step) * this.step;
    const k = this.keys;
    let j = k.length - 1;
    if (j < 0 || b > k[j]!) j = k.length;
    else if (b !== k[j]) {
      j = lowerBound(k, b);
      if (k[j] === b) return this.row(j);
    } else return this.row(j);
    // a new step at index j
    if ((k.length + 1) * ROLLUP_COLUMNS > this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data.copyWithin((j + 1) * ROLLUP_COLUMNS, j * ROLLUP_COLUMNS, k.length * ROLLUP_COLUMNS);
    k.splice(j, 0, b);
    const a = this.row(j);
    a.fill(0);
    a.fill(-Infinity, RU_GMAX, RU_GMAX + GAUGES.length);
    a.fill(-Infinity, RU_RMAX, RU_RMAX + RATES.length);
    return a;
  }
}

function lowerBound(xs: number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function addRawSample(a: Float64Array, c: DecodedChunk, i: number): void {
  a[RU_N]! += 1;
  for (let g = 0; g < GAUGES.length; g++) {
    const v = c.cols[RAW_GAUGE + g]![i] ?? 0;
    a[RU_GSUM + g]! += v;
    a[RU_GMAX + g] = Math.max(a[RU_GMAX + g]!, v);
  }
  const dt = c.cols[RAW_DT]![i];
  if (dt === null || dt === undefined) return;
  a[RU_RMS]! += dt;
  for (let r = 0; r < RATES.length; r++) {
    const inc = c.cols[RAW_INC + r]![i] ?? 0;
    a[RU_INC + r]! += inc;
    a[RU_RMAX + r] = Math.max(a[RU_RMAX + r]!, (inc * 1e6) / dt);
  }
}

function addRollupPoint(a: Float64Array, c: DecodedChunk, i: number): void {
  // Sums add (no value: 0), maxes compare (no value: -Infinity).
  for (let k = 0; k < ROLLUP_COLUMNS; k++) {
    const v = c.cols[k]![i];
    const isMax = (k >= RU_GMAX && k < RU_GMAX + GAUGES.length) || k >= RU_RMAX;
    if (v === null || v === undefined) continue;
    if (isMax) a[k] = Math.max(a[k]!, v);
    else a[k]! += v;
  }
}
