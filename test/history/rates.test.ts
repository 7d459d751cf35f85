// rates.ts: per-second rates from 64-bit counter deltas, and every way two readings can fail to give one.
import { describe, expect, it } from "vitest";

import { computeRates, counterIncrease, type Counters, type CounterReading } from "@/server/history/rates";

const c = (conns: bigint, inPkts = 0n, outPkts = 0n, inBytes = 0n, outBytes = 0n): Counters => ({ conns, inPkts, outPkts, inBytes, outBytes });
const at = (t: number, counters: Counters, width?: 64 | 32): CounterReading => ({ t, counters, ...(width ? { width } : {}) });

describe("computeRates", () => {
  it("divides each counter's increase by the real elapsed time, not by one second", () => {
    const r = computeRates(at(1_000, c(10n, 100n, 0n, 6_000n, 0n)), at(2_250, c(15n, 150n, 0n, 9_000n, 0n)));
    expect(r).toEqual({
      kind: "rate",
      elapsedMs: 1250,
      increments: { conns: 5, inPkts: 50, outPkts: 0, inBytes: 3000, outBytes: 0 },
      perSecond: { conns: 4, inPkts: 40, outPkts: 0, inBytes: 2400, outBytes: 0 },
    });
  });

  it("keeps counters past 2^53 exact: the increase is taken from the [hi, lo] words, not from rounded numbers", () => {
    const big = 2n ** 60n + 1n;
    const r = computeRates(at(0, c(big, big, big, big, big)), at(1000, c(big + 3n, big + 7n, big, big + 1_000_000_007n, big + 1n)));
    expect(r.kind === "rate" && r.increments).toEqual({ conns: 3, inPkts: 7, outPkts: 0, inBytes: 1_000_000_007, outBytes: 1 });
  });

  it("is exact across a carry into the high word, at 2^53 and up to 2^64 - 1, and equals the bigint increase", () => {
    const pairs: [bigint, bigint][] = [
      [2n ** 32n - 1n, 2n ** 32n], // lo wraps, hi carries: +1
      [2n ** 32n - 5n, 2n ** 33n + 7n],
      [2n ** 53n - 1n, 2n ** 53n + 1n],
      [2n ** 53n + 1n, 2n ** 53n + 2n ** 32n + 3n],
      [2n ** 64n - 2n ** 32n - 1n, 2n ** 64n - 1n],
      [2n ** 64n - 2n, 2n ** 64n - 1n],
      [0n, 2n ** 49n - 1n],
    ];
    for (const [a, b] of pairs) {
      const r = computeRates(at(0, c(a, a, a, a, a)), at(1000, c(b, b, b, b, b)));
      const inc = Number(counterIncrease(a, b, false));
      expect(r.kind === "rate" && r.increments, `${a} -> ${b}`).toEqual({ conns: inc, inPkts: inc, outPkts: inc, inBytes: inc, outBytes: inc });
      // and the other way round, backwards: a reset, never a huge increase
      expect(computeRates(at(0, c(b)), at(1000, c(a))), `${b} -> ${a}`).toEqual({ kind: "gap", reason: "reset" });
    }
  });

  it("gives a gap, not a rate, for the first reading of a series (new, re-added, after a restart)", () => {
    expect(computeRates(undefined, at(1000, c(5n)))).toEqual({ kind: "gap", reason: "first" });
  });

  it("gives a gap when a counter goes backwards (ipvsadm -Z, module reload), never a negative or huge rate", () => {
    expect(computeRates(at(0, c(1000n, 5000n)), at(1000, c(0n, 0n)))).toEqual({ kind: "gap", reason: "reset" });
    // only one counter went back (the others look fine): still a reset of the whole reading
    expect(computeRates(at(0, c(10n, 10n, 10n, 10n, 10n)), at(1000, c(11n, 11n, 11n, 9n, 11n)))).toEqual({ kind: "gap", reason: "reset" });
    // and the next reading, against the reset one, is an ordinary zero-based rate
    expect(computeRates(at(1000, c(0n, 0n)), at(2000, c(3n, 30n)))).toMatchObject({ kind: "rate", perSecond: { conns: 3, inPkts: 30 } });
  });

  it("treats a real server removed and re-added between two readings as a reset (its counters restart at 0)", () => {
    const before = at(0, c(500n, 4000n, 0n, 300_000n));
    const readded = at(1000, c(2n, 12n, 0n, 800n));
    expect(computeRates(before, readded)).toEqual({ kind: "gap", reason: "reset" });
  });

  it("gives a gap when the clock goes backwards or the same tick comes twice", () => {
    expect(computeRates(at(5000, c(1n)), at(4000, c(2n)))).toEqual({ kind: "gap", reason: "clock" });
    expect(computeRates(at(5000, c(1n)), at(5000, c(2n)))).toEqual({ kind: "gap", reason: "clock" });
  });

  it("gives a gap after a long pause (default 10 s), and a rate up to it", () => {
    expect(computeRates(at(0, c(0n)), at(10_001, c(100n)))).toEqual({ kind: "gap", reason: "stale" });
    expect(computeRates(at(0, c(0n)), at(10_000, c(100n)))).toMatchObject({ kind: "rate", perSecond: { conns: 10 } });
    expect(computeRates(at(0, c(0n)), at(60_000, c(600n)), { maxGapMs: 120_000 })).toMatchObject({ kind: "rate", perSecond: { conns: 10 } });
  });

  it("unwraps u32 conns and packet counters from the kernel's 32-bit STATS nest, not its u64 bytes", () => {
    const top = 2n ** 32n - 10n;
    const r = computeRates(at(0, c(top, top, 0n, 100n), 32), at(1000, c(5n, 20n, 0n, 200n), 32));
    expect(r).toMatchObject({ kind: "rate", increments: { conns: 15, inPkts: 30, inBytes: 100 } });
    // bytes going back in the 32-bit nest are still a reset (they are u64 there too)
    expect(computeRates(at(0, c(0n, 0n, 0n, top), 32), at(1000, c(0n, 0n, 0n, 5n), 32))).toEqual({ kind: "gap", reason: "reset" });
    // a u32 counter in its lower half going back is a reset, not a wrap
    expect(computeRates(at(0, c(1000n), 32), at(1000, c(5n), 32))).toEqual({ kind: "gap", reason: "reset" });
    // a u64 counter never wraps: near 2^64 and back to small is a reset
    expect(computeRates(at(0, c(2n ** 64n - 1n)), at(1000, c(5n)))).toEqual({ kind: "gap", reason: "reset" });
  });
});

describe("counterIncrease", () => {
  it("is the difference, one u32 wrap, or null", () => {
    expect(counterIncrease(5n, 9n, false)).toBe(4n);
    expect(counterIncrease(9n, 9n, false)).toBe(0n);
    expect(counterIncrease(9n, 5n, false)).toBeNull();
    expect(counterIncrease(2n ** 32n - 1n, 0n, true)).toBe(1n);
    expect(counterIncrease(2n ** 31n - 1n, 0n, true)).toBeNull();
    // a value that is not a u32 at all cannot have wrapped as one
    expect(counterIncrease(2n ** 33n, 0n, true)).toBeNull();
  });
});
