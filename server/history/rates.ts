// Per-second rates from two readings of the kernel's 64-bit IPVS counters (pure: no clock, no I/O).
//
// Why not the kernel's own rates (IPVS_STATS_ATTR_CPS, ...): its estimator (ip_vs_est.c) runs every 2 s and
// smooths over about 8 s, so a 1-second chart drawn from it lags and flattens every step. A rate here is the
// counter's increase between two consecutive snapshots divided by the real time between them:
//
//     rate = (counter[t1] - counter[t0]) / (t1 - t0)          counters as bigint, t in ms
//
// A reading gives no rate (a gap), never a spike or a negative value, when:
//   first   there is no earlier reading of this series (new, re-added after removal, after a restart)
//   clock   t1 <= t0: the wall clock was stepped back (NTP) or the same tick came twice
//   stale   t1 - t0 > maxGapMs: an average over a long pause is not a 1-second rate
//   reset   a counter went backwards: `ipvsadm -Z`, ip_vs reloaded, or a real server removed and re-added
//           between two readings (its counters restart at 0). The increase since the reset is unknown (the
//           reset time is), so the reading starts a new baseline instead of guessing.
// A u64 counter does not wrap in practice (bytes at 100 Gbit/s take 46 years), so going backwards is a reset.
// Counters read from the kernel's old 32-bit STATS nest (Stats.width 32, Linux < 4.0) do wrap: conns and
// packets are u32 there (bytes stay u64), and a u32 counter that was in its upper half and is now lower is
// taken as one wrap (the increase is cur + 2^32 - prev); from the lower half it is a reset.

/** The five IPVS counters (Stats / ip_vs_stats' totals), u64 kept as bigint. */
export interface Counters {
  conns: bigint;
  inPkts: bigint;
  outPkts: bigint;
  inBytes: bigint;
  outBytes: bigint;
}

export const COUNTER_NAMES = ["conns", "inPkts", "outPkts", "inBytes", "outBytes"] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];

export interface CounterReading {
  /** Wall-clock time of the snapshot, ms since the epoch. */
  t: number;
  counters: Counters;
  /** 64 (STATS64) unless the kernel only sent the 32-bit STATS nest. */
  width?: 64 | 32;
}

export type GapReason = "first" | "clock" | "stale" | "reset";

export type RateResult =
  | {
      kind: "rate";
      /** t1 - t0, ms (> 0). */
      elapsedMs: number;
      /** Counter increases over elapsedMs: exact non-negative integers. */
      increments: Record<CounterName, number>;
      /** increments / elapsed seconds. */
      perSecond: Record<CounterName, number>;
    }
  | { kind: "gap"; reason: GapReason };

export interface RateOptions {
  /** Longest pause between two readings that still gives a rate (default 10 s). */
  maxGapMs?: number;
}

export const DEFAULT_MAX_GAP_MS = 10_000;

const U32 = 1n << 32n;
const U32_HALF = 1n << 31n;

/** The increase of one counter, or null for a reset. `bits32`: the counter is a u32 that can wrap. */
export function counterIncrease(prev: bigint, cur: bigint, bits32: boolean): bigint | null {
  if (cur >= prev) return cur - prev;
  if (bits32 && prev >= U32_HALF && prev < U32 && cur < U32) return cur + U32 - prev;
  return null;
}

/** counterIncrease as a number (exact: an increase is far below 2^53), -1 for a reset; no bigint arithmetic
 *  (which allocates) while both values are below 2^53, as they are on all but the longest-running directors. */
function increase(prev: bigint, cur: bigint, bits32: boolean): number {
  const a = Number(prev);
  const b = Number(cur);
  if (b <= Number.MAX_SAFE_INTEGER && b >= a) return b - a;
  const inc = counterIncrease(prev, cur, bits32);
  return inc === null ? -1 : Number(inc);
}

/**
 * The same decision as computeRates without allocating (the store runs it for every series every tick):
 * writes the five increases, in COUNTER_NAMES order, to out[at..at+5) and returns the elapsed ms, or returns
 * the gap's reason (`out` may then hold partial values).
 */
export function increasesInto(
  prevT: number,
  prev: Counters | undefined,
  prevWidth: 64 | 32 | undefined,
  cur: CounterReading,
  maxGapMs: number,
  out: Float64Array,
  at: number,
): number | GapReason {
  if (!prev) return "first";
  const elapsedMs = cur.t - prevT;
  if (!(elapsedMs > 0)) return "clock";
  if (elapsedMs > maxGapMs) return "stale";
  const narrow = prevWidth === 32 || cur.width === 32;
  const c = cur.counters;
  // In the 32-bit nest only conns and packets are u32 (ip_vs_genl_fill_stats puts bytes as u64).
  if ((out[at] = increase(prev.conns, c.conns, narrow)) < 0) return "reset";
  if ((out[at + 1] = increase(prev.inPkts, c.inPkts, narrow)) < 0) return "reset";
  if ((out[at + 2] = increase(prev.outPkts, c.outPkts, narrow)) < 0) return "reset";
  if ((out[at + 3] = increase(prev.inBytes, c.inBytes, false)) < 0) return "reset";
  if ((out[at + 4] = increase(prev.outBytes, c.outBytes, false)) < 0) return "reset";
  return elapsedMs;
}

/** The rates between `prev` and `cur` of the same series; `prev` undefined when there is no earlier reading. */
export function computeRates(prev: CounterReading | undefined, cur: CounterReading, opts: RateOptions = {}): RateResult {
  const inc = new Float64Array(COUNTER_NAMES.length);
  const r = increasesInto(prev?.t ?? 0, prev?.counters, prev?.width, cur, opts.maxGapMs ?? DEFAULT_MAX_GAP_MS, inc, 0);
  if (typeof r === "string") return { kind: "gap", reason: r };
  const increments = {} as Record<CounterName, number>;
  const perSecond = {} as Record<CounterName, number>;
  COUNTER_NAMES.forEach((name, i) => {
    increments[name] = inc[i] as number;
    perSecond[name] = ((inc[i] as number) * 1000) / r;
  });
  return { kind: "rate", elapsedMs: r, increments, perSecond };
}
