// The 1 Hz sampler: the one loop in the web server process that reads the director, turns counters into rates
// (step.ts), stores the tick in the history store and pushes the sample to every open page.
//
//   const sampler = new LiveSampler({ read, history });   // read: the agent's ipvs.snapshot
//   sampler.start();                                       // ticks on whole seconds, never two at once
//   for await (const event of sampler.events(signal)) ...  // the latest event first, then each new one
//
// One tick: read -> step (pure) -> history.record (one transaction) -> publish. A tick that is still running
// when the next is due makes that one skip (a slow agent slows the rate of samples, it does not pile up
// reads). A failed read publishes an error event and keeps the state: rates resume after it, with a gap when
// the pause was longer than the rate rule's limit (10 s). A history store that fails (disk full, permissions)
// does not stop the live view: samples go on, and every event says that history is not being recorded.
//
// Subscribers never queue: each holds at most the newest event it has not taken yet, so a slow browser gets
// fewer samples, never a growing backlog in this process.
import { initialState, step, type LiveSample, type SamplerState, type SourceSnapshot, type StepOptions } from "./step";

export type SourceResult = { available: true; snapshot: SourceSnapshot } | { available: false; reason: string };

/** What the sampler needs of the history store (HistoryStore has it). */
export interface HistorySink {
  /** `counters`: the snapshot's counters as words when the source read them so (SourceSnapshot.counters). */
  record(tickTime: number, services: SourceSnapshot["services"], counters?: SourceSnapshot["counters"]): unknown;
}

export interface HistoryStatus {
  /** The last tick was written (or no tick has run yet and the store is open). */
  recording: boolean;
  /** Where (the data directory), when known. */
  dir: string | null;
  /** Why not, with what to do. */
  error: string | null;
}

export type LiveEvent =
  | { kind: "sample"; sample: LiveSample; history: HistoryStatus; tickMs: number }
  /** The agent answered, but this kernel has no IPVS. */
  | { kind: "unavailable"; t: number; reason: string; history: HistoryStatus }
  /** The read failed (agent down, timeout, ...). `code`: the agent's error code when it is an agent error. */
  | { kind: "error"; t: number; error: unknown; history: HistoryStatus };

export interface SamplerOptions extends StepOptions {
  read: () => Promise<SourceResult>;
  /** null: no history (with `historyError` saying why). */
  history: HistorySink | null;
  historyDir?: string | null;
  historyError?: string | null;
  intervalMs?: number;
  now?: () => number;
  /** Called with a history write's failure (the server log). */
  log?: (message: string, error?: unknown) => void;
}

export const DEFAULT_INTERVAL_MS = 1000;

export class LiveSampler {
  private state: SamplerState = initialState();
  /** The state before `state`: nothing reads it any more, so the next step may reuse its arrays. */
  private spare: SamplerState | undefined;
  private last: LiveEvent | null = null;
  private readonly listeners = new Set<(e: LiveEvent) => void>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private historyStatus: HistoryStatus;
  readonly intervalMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: SamplerOptions) {
    this.intervalMs = opts.intervalMs ?? DEFAULT_INTERVAL_MS;
    this.now = opts.now ?? Date.now;
    this.historyStatus = { recording: opts.history !== null, dir: opts.historyDir ?? null, error: opts.history ? null : (opts.historyError ?? "no history store") };
  }

  /** Starts ticking on whole multiples of the interval (idempotent). */
  start(): void {
    if (this.timer || this.stopped) return;
    const schedule = () => {
      const delay = this.intervalMs - (this.now() % this.intervalMs);
      this.timer = setTimeout(() => {
        // A timer can fire a few ms early by the wall clock (Node runs timers on a loop time that may lag
        // it): a tick read at xx.997 would belong to the previous interval, so wait for the boundary instead.
        if (this.intervalMs - (this.now() % this.intervalMs) <= this.intervalMs / 10) {
          schedule();
          return;
        }
        if (!this.running) void this.tick();
        schedule();
      }, delay);
      this.timer.unref?.();
    };
    schedule();
  }

  /** Stops ticking and waits for a running tick. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.stopped = true;
    await this.running;
  }

  /** The newest event, or null before the first tick ended. */
  latest(): LiveEvent | null {
    return this.last;
  }

  history(): HistoryStatus {
    return this.historyStatus;
  }

  /** One tick now (the timer calls it; a benchmark or a test may too). Resolves when it is published. */
  tick(): Promise<void> {
    this.running ??= this.runTick().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async runTick(): Promise<void> {
    const t = this.now();
    let result: SourceResult;
    try {
      result = await this.opts.read();
    } catch (error) {
      this.publish({ kind: "error", t, error, history: this.historyStatus });
      return;
    }
    if (!result.available) {
      this.publish({ kind: "unavailable", t, reason: result.reason, history: this.historyStatus });
      return;
    }
    const { state, sample } = step(this.state, result.snapshot, t, this.opts, this.spare);
    this.spare = this.state;
    this.state = state;
    this.recordHistory(t, result.snapshot);
    this.publish({ kind: "sample", sample, history: this.historyStatus, tickMs: this.now() - t });
  }

  private recordHistory(t: number, snap: SourceSnapshot): void {
    const sink = this.opts.history;
    if (!sink) return;
    try {
      sink.record(t, snap.services, snap.counters);
      if (!this.historyStatus.recording) this.historyStatus = { ...this.historyStatus, recording: true, error: null };
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      if (this.historyStatus.recording) this.opts.log?.("history: a tick could not be written", error);
      this.historyStatus = { ...this.historyStatus, recording: false, error: `the last tick could not be written: ${why}` };
    }
  }

  private publish(e: LiveEvent): void {
    this.last = e;
    for (const l of this.listeners) l(e);
  }

  /** Calls `listener` with each new event; returns the unsubscribe function. */
  subscribe(listener: (e: LiveEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The latest event (if any), then each new one, until `signal` aborts. A consumer slower than the ticks
   * skips to the newest event.
   */
  async *events(signal?: AbortSignal): AsyncGenerator<LiveEvent> {
    let pending: LiveEvent | null = this.last;
    let wake: (() => void) | null = null;
    const unsubscribe = this.subscribe((e) => {
      pending = e;
      wake?.();
    });
    const onAbort = () => wake?.();
    signal?.addEventListener("abort", onAbort);
    try {
      while (!signal?.aborted) {
        if (pending) {
          const e: LiveEvent = pending;
          pending = null;
          yield e;
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = null;
      }
    } finally {
      unsubscribe();
      signal?.removeEventListener("abort", onAbort);
    }
  }
}
