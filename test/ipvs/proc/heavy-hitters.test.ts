import { describe, expect, it } from "vitest";
import { MapSlotIndex, PairCounter, SpaceSaving, U32SlotIndex } from "@/server/ipvs/proc/heavy-hitters";

function rng(seed: number) {
  let a = seed;
  return () => {
    a = (Math.imul(a, 1103515245) + 12345) >>> 0;
    return a / 4294967296;
  };
}

describe("U32SlotIndex", { timeout: 60_000 }, () => {
  it("behaves like a Map under random sets and deletes (backward-shift deletion)", () => {
    const index = new U32SlotIndex();
    const model = new Map<number, number>();
    const random = rng(1);
    for (let i = 0; i < 50_000; i++) {
      // Few distinct keys with high bits set, so probe runs collide and wrap.
      const key = (0xcb000000 + Math.floor(random() * 600)) >>> 0;
      if (model.size < 300 && random() < 0.6) {
        index.set(key, i);
        model.set(key, i);
      } else {
        index.delete(key);
        model.delete(key);
      }
      if (i % 97 === 0) for (const [k, v] of model) expect(index.get(k)).toBe(v);
    }
    for (let k = 0; k < 600; k++) expect(index.get((0xcb000000 + k) >>> 0)).toBe(model.get((0xcb000000 + k) >>> 0) ?? -1);
  });
});

describe("SpaceSaving", () => {
  it("is exact while the keys fit", () => {
    const s = new SpaceSaving<string>(3, new MapSlotIndex());
    for (const k of "aabacbaa") s.add(k);
    expect(s.exact).toBe(true);
    expect(s.top(5)).toEqual([
      { key: "a", count: 5, error: 0 },
      { key: "b", count: 2, error: 0 },
      { key: "c", count: 1, error: 0 },
    ]);
  });

  it("evicts the minimum, carries its count as the error, and keeps the bounds", () => {
    const s = new SpaceSaving<number>(2, new U32SlotIndex());
    for (const k of [1, 1, 1, 2, 3]) s.add(k);
    // 3 took over 2's counter (count 1): count 2, error 1.
    expect(s.exact).toBe(false);
    expect(s.top(2)).toEqual([
      { key: 1, count: 3, error: 0 },
      { key: 3, count: 2, error: 1 },
    ]);
    const big = new SpaceSaving<number>(50, new U32SlotIndex());
    const truth = new Map<number, number>();
    const random = rng(9);
    for (let i = 0; i < 20_000; i++) {
      const k = random() < 0.3 ? 7 : random() < 0.3 ? 8 : Math.floor(random() * 5000);
      truth.set(k, (truth.get(k) ?? 0) + 1);
      big.add(k);
    }
    const top = big.top(2);
    expect(top.map((t) => t.key).sort()).toEqual([7, 8]);
    for (const t of big.top(50)) {
      expect(truth.get(t.key) ?? 0).toBeLessThanOrEqual(t.count);
      expect(truth.get(t.key) ?? 0).toBeGreaterThanOrEqual(t.count - t.error);
    }
    expect(big.size).toBe(50);
  });
});

describe("PairCounter", () => {
  it("counts pairs exactly across growth", () => {
    const c = new PairCounter();
    for (let i = 0; i < 1000; i++) for (let r = 0; r <= i % 3; r++) c.add((0xc0000200 + i) >>> 0, 80 | (1 << 16));
    const entries = c.entries();
    expect(entries).toHaveLength(1000);
    expect(entries.reduce((a, [, , n]) => a + n, 0)).toBe(334 * 1 + 333 * 2 + 333 * 3);
    expect(entries.find(([a]) => a === 0xc0000200 + 5)).toEqual([0xc0000205, 80 | (1 << 16), 3]);
  });
});
