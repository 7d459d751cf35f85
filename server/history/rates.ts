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

import type { ServiceWithDestinations, Stats } from "@/server/ipvs/netlink/types";

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

// ---- the same rule over counter words: what the sampler and the store run for every series every tick ----
//
// A series' five counters as 10 numbers, each u64 as two u32 words [hi, lo] (value = hi * 2^32 + lo), in
// COUNTER_NAMES order: the form the agent's ipvs.counters frame carries them in (server/live/counters.ts).
// The increase is computed from the words with exact double arithmetic, no bigint: (hi1 - hi0) * 2^32 is exact
// and adding (lo1 - lo0) rounds once, as Number() of the exact bigint difference does (increases are far
// below 2^53 anyway; the history store refuses values from 2^50). A word pair is ordered by hi, then lo.

/** Numbers per series: 5 counters x [hi, lo]. */
export const COUNTER_WORDS = COUNTER_NAMES.length * 2;
const W32 = 2 ** 32;
const W32_HALF = 2 ** 31;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const U64_MAX = (1n << 64n) - 1n;

/** Writes v (0 <= v < 2^64) as two u32 words at out[at], out[at + 1]. */
export function putU64(out: { [i: number]: number }, at: number, v: bigint): void {
  if (v >= 0n && v <= MAX_SAFE) {
    const n = Number(v);
    const hi = Math.floor(n / W32);
    out[at] = hi;
    out[at + 1] = n - hi * W32;
    return;
  }
  if (v < 0n || v > U64_MAX) throw new RangeError(`not a u64: ${v}`);
  out[at] = Number(v >> 32n);
  out[at + 1] = Number(v & 0xffff_ffffn);
}

/** The five counters as words at out[at .. at + COUNTER_WORDS). */
export function putCounterWords(out: { [i: number]: number }, at: number, c: Counters): void {
  putU64(out, at, c.conns);
  putU64(out, at + 2, c.inPkts);
  putU64(out, at + 4, c.outPkts);
  putU64(out, at + 6, c.inBytes);
  putU64(out, at + 8, c.outBytes);
}

/**
 * Every series' counters of one snapshot as words, series in table order: each service, then its real servers
 * (the order of ipvs.counters' frame, and of counterBlockOf).
 */
export interface CounterBlock {
  /** COUNTER_WORDS numbers per series, u32 each. */
  words: ArrayLike<number>;
  /** Per series: 64 (STATS64), 32 (the old 32-bit STATS nest) or 0 (the kernel sent no stats). */
  widths: ArrayLike<number>;
  /** Names the series order when the source knows it (ipvs.counters: the table's version): blocks with the
   *  same layout hold the same series in the same order, so a reader may keep its per-series lookups. */
  layout?: string;
}

/** The counter block of a snapshot whose counters are bigints (ipvs.snapshot, ipvs.metrics, tests). */
export function counterBlockOf(services: readonly ServiceWithDestinations[]): CounterBlock {
  let n = 0;
  for (const s of services) n += 1 + s.destinations.length;
  const words = new Float64Array(n * COUNTER_WORDS);
  const widths = new Uint8Array(n);
  let i = 0;
  const put = (stats: Stats | undefined) => {
    if (stats) {
      putCounterWords(words, i * COUNTER_WORDS, stats);
      widths[i] = stats.width;
    }
    i++;
  };
  for (const s of services) {
    put(s.stats);
    for (const d of s.destinations) put(d.stats);
  }
  return { words, widths };
}

/** The increase of the counter whose words are at p[i], c[j] as a number, -1 for a reset (counterIncrease). */
function wordsIncrease(p: ArrayLike<number>, i: number, c: ArrayLike<number>, j: number, bits32: boolean): number {
  const ph = p[i]!;
  const pl = p[i + 1]!;
  const ch = c[j]!;
  const cl = c[j + 1]!;
  if (ch > ph || (ch === ph && cl >= pl)) return (ch - ph) * W32 + (cl - pl);
  // went backwards: one wrap of a u32 counter that was in its upper half, else a reset
  if (bits32 && ph === 0 && pl >= W32_HALF && ch === 0) return cl + W32 - pl;
  return -1;
}

/**
 * The rate rule over counter words, without allocating: the previous reading's words at prev[prevAt..] (read
 * at prevT, `prevWidth` 64 or 32; 0 or prev undefined: none), the current one's at cur[curAt..] (read at t,
 * width `curWidth`). Writes the five increases, in COUNTER_NAMES order, to out[at..at+5) and returns the
 * elapsed ms, or returns the gap's reason (`out` may then hold partial values).
 */
export function increasesInto(
  prevT: number,
  prev: ArrayLike<number> | undefined,
  prevAt: number,
  prevWidth: number,
  t: number,
  cur: ArrayLike<number>,
  curAt: number,
  curWidth: number,
  maxGapMs: number,
  out: Float64Array,
  at: number,
): number | GapReason {
  if (!prev || prevWidth === 0) return "first";
  const elapsedMs = t - prevT;
  if (!(elapsedMs > 0)) return "clock";
  if (elapsedMs > maxGapMs) return "stale";
  const narrow = prevWidth === 32 || curWidth === 32;
  // In the 32-bit nest only conns and packets are u32 (ip_vs_genl_fill_stats puts bytes as u64).
  if ((out[at] = wordsIncrease(prev, prevAt, cur, curAt, narrow)) < 0) return "reset";
  if ((out[at + 1] = wordsIncrease(prev, prevAt + 2, cur, curAt + 2, narrow)) < 0) return "reset";
  if ((out[at + 2] = wordsIncrease(prev, prevAt + 4, cur, curAt + 4, narrow)) < 0) return "reset";
  if ((out[at + 3] = wordsIncrease(prev, prevAt + 6, cur, curAt + 6, false)) < 0) return "reset";
  if ((out[at + 4] = wordsIncrease(prev, prevAt + 8, cur, curAt + 8, false)) < 0) return "reset";
  return elapsedMs;
}

/** The rates between `prev` and `cur` of the same series; `prev` undefined when there is no earlier reading. */
export function computeRates(prev: CounterReading | undefined, cur: CounterReading, opts: RateOptions = {}): RateResult {
  const words = new Float64Array(2 * COUNTER_WORDS);
  if (prev) putCounterWords(words, 0, prev.counters);
  putCounterWords(words, COUNTER_WORDS, cur.counters);
  const inc = new Float64Array(COUNTER_NAMES.length);
  const r = increasesInto(prev?.t ?? 0, prev ? words : undefined, 0, prev?.width ?? 64, cur.t, words, COUNTER_WORDS, cur.width ?? 64, opts.maxGapMs ?? DEFAULT_MAX_GAP_MS, inc, 0);
  if (typeof r === "string") return { kind: "gap", reason: r };
  const increments = {} as Record<CounterName, number>;
  const perSecond = {} as Record<CounterName, number>;
  COUNTER_NAMES.forEach((name, i) => {
    increments[name] = inc[i] as number;
    perSecond[name] = ((inc[i] as number) * 1000) / r;
  });
  return { kind: "rate", elapsedMs: r, increments, perSecond };
}
