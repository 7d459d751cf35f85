// chunk.ts: the head chunk's encoding round-trips every value it accepts, and stays small.
import { describe, expect, it } from "vitest";

import { BufferSlab, ChunkFormatError, ChunkWriter, decodeChunk } from "@/server/history/chunk";

describe("ChunkWriter / decodeChunk", () => {
  it("round-trips times, gaps (null), negatives and values up to 2^50", () => {
    const w = new ChunkWriter(3, 1_700_000_000_000);
    const rows: [number, (number | null)[]][] = [
      [1_700_000_000_120, [0, null, 5]],
      [1_700_000_001_118, [2 ** 50 - 1, 7, -3]],
      [1_700_000_002_125, [0, null, -(2 ** 49)]],
      [1_700_000_002_125, [1, 1, 1]],
      [1_700_000_060_000, [null, null, null]],
    ];
    for (const [t, v] of rows) w.append(t, v);
    const d = decodeChunk(w.bytes());
    expect(d.start).toBe(1_700_000_000_000);
    expect(d.t).toEqual(rows.map((r) => r[0]));
    expect(d.cols).toEqual([0, 1, 2].map((c) => rows.map((r) => r[1][c])));
    expect(w.count).toBe(5);
  });

  it("a writer reset for a new window writes what a new writer would (nothing of the previous chunk is left)", () => {
    const used = new ChunkWriter(3, 0);
    for (let i = 0; i < 100; i++) used.append(i * 1000, [i * 7, i % 2 ? null : -i, 2 ** 40 + i]);
    used.reset(60_000);
    const fresh = new ChunkWriter(3, 60_000);
    for (const w of [used, fresh]) {
      w.append(60_500, [3, null, 9]);
      w.append(61_500, [4, 5, 9]);
    }
    expect(used.start).toBe(60_000);
    expect(used.count).toBe(2);
    expect(used.bytes()).toEqual(fresh.bytes());
    expect(decodeChunk(used.bytes())).toEqual({ start: 60_000, t: [60_500, 61_500], cols: [[3, 4], [null, 5], [9, 9]] });
  });

  it("writers on buffers of one slab write what writers of their own would, past their buffer too, without touching a neighbour's", () => {
    const slab = new BufferSlab(32, 4);
    const onSlab = [0, 1, 2, 3, 4].map(() => new ChunkWriter(3, 0, slab.next()));
    const own = [0, 1, 2, 3, 4].map(() => new ChunkWriter(3, 0, 32));
    for (let i = 0; i < 40; i++) {
      // writer 1 outgrows its 32 bytes at once; the others stay inside theirs for a while
      for (const [k, w] of [...onSlab.entries(), ...own.entries()]) if (k === 1 || i < 3) w.append(i * 1000, [k * 1000 + i * 13, i % 3 ? null : -i, 2 ** 40 + k]);
    }
    onSlab.forEach((w, k) => expect(w.bytes(), `writer ${k}`).toEqual(own[k]!.bytes()));
    expect(() => new ChunkWriter(3, 0, new Uint8Array(8))).toThrow(RangeError);
  });

  it("takes about one byte per value for 1 s ticks with jitter and steady values", () => {
    const w = new ChunkWriter(10, 0);
    for (let i = 0; i < 60; i++) w.append(i * 1000 + (i % 3), [1000, 5, 100, 0, 1, 20, 160, 0, 120_000 + (i % 2), 0]);
    // 60 samples x 11 tokens, a few 2-3 byte ones at the start
    expect(w.bytes().length).toBeLessThan(60 * 11 + 40);
  });

  it("refuses what it cannot store, and leaves the chunk as it was", () => {
    const w = new ChunkWriter(2, 1000);
    w.append(2000, [1, 2]);
    expect(() => w.append(1500, [1, 2])).toThrow(RangeError);
    expect(() => w.append(3000, [1.5, 2])).toThrow(RangeError);
    expect(() => w.append(3000, [2 ** 50, 2])).toThrow(RangeError);
    expect(() => w.append(3000, [1])).toThrow(RangeError);
    expect(decodeChunk(w.bytes())).toEqual({ start: 1000, t: [2000], cols: [[1], [2]] });
  });

  it("tells a truncated or foreign blob from a chunk", () => {
    const w = new ChunkWriter(2, 0);
    w.append(1000, [300, 400]);
    const b = w.bytes();
    expect(() => decodeChunk(b.subarray(0, b.length - 1))).toThrow(ChunkFormatError);
    expect(() => decodeChunk(new Uint8Array([9, 0, 0, 0]))).toThrow(/version/);
    expect(() => decodeChunk(new Uint8Array([...b, 0]))).toThrow(/after 1 samples/);
  });
});
