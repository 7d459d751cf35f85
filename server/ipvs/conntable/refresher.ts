// The connection table, refreshed in the background: what the agent shows instead of reading
// /proc/net/ip_vs_conn inside a request.
//
// Why: before Linux 6.14 every read() of ip_vs_conn walks the table from bucket 0 again, so one full read is
// quadratic in the table's size (in the emulated lab: 0.1 s at 8k entries, 31 s at 131k, 145 s at 262k; see
// shared/kernel-lab.md). A request cannot wait for that. So:
//
//   - one pass at a time: a pass streams the table through the summarizer (server/ipvs/proc/conn-summary.ts,
//     memory bounded whatever the table's size) and, up to `retainEntries`, into a packed store (./store.ts);
//   - on its own schedule: the next pass starts `max(intervalMs, backoff x last pass's duration)` after the
//     last one ended, so a table that takes 60 s to read is read at most once every 4 minutes (k = 4) and the
//     kernel spends at most 1/(k+1) of its time on it; refreshNow() joins the pass in flight, never starts a
//     second one;
//   - what it shows says how old it is: the last completed pass's summary with its startedAt/finishedAt/ageMs,
//     the pass in flight's progress (bytes, rows), and the last pass's error (the summary before it stays);
//   - paged and filtered queries are answered from the last completed pass's store, never by a re-read: a page
//     deep in the table would cost the kernel a walk over everything before it, on every read() of it. A pass
//     over a table larger than the store says so (`complete: false`), and the summary stays exact.
//
// The reader is injected (server/kernel/ipvs-conn.ts in the agent, chunks from a test), so this file never
// touches /proc itself.
import type { ConnFile } from "@/server/ipvs/proc/conn";
import { ConnStreamParser } from "@/server/ipvs/proc/conn";
import type { ConnFilter } from "@/server/ipvs/proc/conn-filter";
import { ConnSummarizer, type ConnSummary, type ConnSummaryOptions } from "@/server/ipvs/proc/conn-summary";
import { ConnStore, type ConnStorePage } from "./store";

/** Streams the whole table once; stops (throwing) when the signal aborts. Chunks may reuse one buffer. */
export type ConnTableReader = (signal: AbortSignal) => AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export interface ConnTableClock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export interface ConnTableOptions {
  read: ConnTableReader;
  file?: ConnFile;
  /** The shortest wait between the end of one pass and the start of the next. Default 30 s. */
  intervalMs?: number;
  /** k: the wait is at least k x the last pass's duration. Default 4. */
  backoff?: number;
  /** The longest wait, whatever the last pass took. Default 30 minutes. */
  maxIntervalMs?: number;
  /** Summary options (top-N, sketch size). A filter is not one: a summary covers the whole table. */
  summary?: Omit<ConnSummaryOptions, "filter">;
  /** Entries kept for paged queries (25 bytes each); default 200,000; 0 keeps none. */
  retainEntries?: number;
  clock?: ConnTableClock;
}

export interface ConnTableError {
  name: string;
  message: string;
  /** errno code (ENOENT when ip_vs is not loaded, EACCES), when the reader's error had one. */
  code?: string;
  at: number;
}

export interface ConnTableStatus {
  /** The last completed pass's summary; null before the first completes. */
  summary: ConnSummary | null;
  /** When the last completed pass started and finished (ms since the epoch). */
  startedAt: number | null;
  finishedAt: number | null;
  /** now - finishedAt. */
  ageMs: number | null;
  /** How long the last completed pass took. */
  durationMs: number | null;
  /** The pass in flight, or the last one when none is. */
  progress: { bytes: number; rows: number; inFlight: boolean; startedAt: number | null };
  /** Why the last pass failed; null once a pass succeeds. */
  error: ConnTableError | null;
  /** When the next scheduled pass starts; null when stopped. */
  nextAt: number | null;
}

export interface ConnTableQuery {
  filter?: ConnFilter;
  offset?: number;
  limit?: number;
}

export interface ConnTablePage extends ConnStorePage {
  /** The pass the page comes from. */
  finishedAt: number;
  ageMs: number;
}

const systemClock: ConnTableClock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
};

interface Completed {
  summary: ConnSummary;
  store: ConnStore | null;
  startedAt: number;
  finishedAt: number;
}

export class ConnTableRefresher {
  private readonly clock: ConnTableClock;
  private readonly intervalMs: number;
  private readonly backoff: number;
  private readonly maxIntervalMs: number;
  private readonly retain: number;
  private last: Completed | null = null;
  private lastDurationMs: number | null = null;
  private error: ConnTableError | null = null;
  private inFlight: Promise<void> | null = null;
  private abort: AbortController | null = null;
  private progress = { bytes: 0, rows: 0, startedAt: null as number | null };
  private timer: unknown = null;
  private nextAt: number | null = null;
  private running = false;

  constructor(private readonly opts: ConnTableOptions) {
    this.clock = opts.clock ?? systemClock;
    this.intervalMs = opts.intervalMs ?? 30_000;
    this.backoff = opts.backoff ?? 4;
    this.maxIntervalMs = opts.maxIntervalMs ?? 30 * 60_000;
    this.retain = opts.retainEntries ?? 200_000;
  }

  /** Starts the schedule: a pass now, then one after every wait. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops the schedule and the pass in flight (its partial result is dropped). */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    this.nextAt = null;
    this.abort?.abort(new Error("the connection table refresher was stopped"));
    await this.inFlight;
  }

  /** A pass now, or the one already in flight. Resolves when it ends (see status().error for how). */
  refreshNow(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    this.nextAt = null;
    const pass = this.pass().finally(() => {
      this.inFlight = null;
      this.abort = null;
      if (this.running) this.schedule(this.waitAfterPass());
    });
    this.inFlight = pass;
    return pass;
  }

  status(): ConnTableStatus {
    const now = this.clock.now();
    const l = this.last;
    return {
      summary: l?.summary ?? null,
      startedAt: l?.startedAt ?? null,
      finishedAt: l?.finishedAt ?? null,
      ageMs: l ? now - l.finishedAt : null,
      durationMs: l ? l.finishedAt - l.startedAt : null,
      progress: { ...this.progress, inFlight: this.inFlight !== null },
      error: this.error,
      nextAt: this.nextAt,
    };
  }

  /** A page of the last completed pass's entries; null before the first pass completes. Never reads. */
  query(q: ConnTableQuery = {}): ConnTablePage | null {
    const offset = q.offset ?? 0;
    const limit = q.limit ?? 100;
    if (!Number.isInteger(offset) || offset < 0) throw new RangeError("offset must be a whole number >= 0");
    if (!Number.isInteger(limit) || limit < 0 || limit > 10_000) throw new RangeError("limit must be a whole number from 0 to 10000");
    const l = this.last;
    if (!l) return null;
    const page: ConnStorePage = l.store
      ? l.store.page(q.filter ?? {}, offset, limit)
      : { entries: [], offset, matched: 0, complete: false, retained: 0, dropped: l.summary.entries };
    return { ...page, finishedAt: l.finishedAt, ageMs: this.clock.now() - l.finishedAt };
  }

  /** The wait before the next pass: at least intervalMs and k x the last pass's duration, at most the cap. */
  waitAfterPass(): number {
    const d = this.lastDurationMs ?? 0;
    return Math.min(this.maxIntervalMs, Math.max(this.intervalMs, this.backoff * d));
  }

  private schedule(ms: number): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.nextAt = this.clock.now() + ms;
    this.timer = this.clock.setTimer(() => {
      this.timer = null;
      void this.refreshNow();
    }, ms);
  }

  private async pass(): Promise<void> {
    const file = this.opts.file ?? "ip_vs_conn";
    const abort = new AbortController();
    this.abort = abort;
    const startedAt = this.clock.now();
    this.progress = { bytes: 0, rows: 0, startedAt };
    const summarizer = new ConnSummarizer(file, this.opts.summary);
    // The store needs each row, which the summarizer keeps to itself: a second parser over the same bytes
    // (about a third of the summary's CPU, small against the kernel's walk).
    let store: ConnStore | null = null;
    let keeper: ConnStreamParser | null = null;
    if (this.retain > 0) {
      keeper = new ConnStreamParser((row) => store?.add(row), file);
      store = new ConnStore(this.retain, { protocols: keeper.protocols.names, states: keeper.states.names });
    }
    try {
      for await (const chunk of this.opts.read(abort.signal)) {
        summarizer.write(chunk);
        keeper?.write(chunk);
        this.progress.bytes += chunk.length;
        this.progress.rows = summarizer.parser.entries;
      }
      abort.signal.throwIfAborted();
      keeper?.end();
      const summary = summarizer.end();
      this.progress.rows = summary.entries;
      const finishedAt = this.clock.now();
      this.last = { summary, store, startedAt, finishedAt };
      this.lastDurationMs = finishedAt - startedAt;
      this.error = null;
    } catch (e) {
      const at = this.clock.now();
      // A failed pass still cost its time: back off from it as from a completed one.
      this.lastDurationMs = at - startedAt;
      const err = e instanceof Error ? e : new Error(String(e));
      const code = (err as NodeJS.ErrnoException).code;
      this.error = { name: err.name, message: err.message, at, ...(typeof code === "string" ? { code } : {}) };
    }
  }
}
