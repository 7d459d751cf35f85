// Bounded counting for the connection table reader: the top clients of a table with millions of entries,
// in memory that does not grow with the table.
//
// Space-Saving (Metwally, Agrawal, El Abbadi, "Efficient computation of frequent and top-k elements in
// data streams", 2005). Why this sketch:
// - it keeps at most `capacity` counters whatever the number of distinct clients;
// - each kept count over-estimates the true one by at most the `error` it carries (the evicted minimum it
//   took over), and any client with more than total/capacity entries is guaranteed to be kept, so the
//   top of the list is right whenever it matters (a few clients owning the table);
// - while the distinct keys fit in the capacity nothing is evicted and every count is exact
//   (`exact: true`): the common case of a table with a few thousand clients gives exact answers.
// Count-Min needs a separate candidate list for top-N and is never exact; Misra-Gries under-counts and
// loses the bound on individual counts we want to show.
//
// Speed: the min-heap over the counters is only built once the sketch is full, so the exact phase costs
// one index look-up an entry. IPv4 keys (u32) use an open-addressing index on typed arrays, because a
// JS Map boxes every number above 2^30 (most addresses) and is several times slower on them.

/** key -> slot. get() returns -1 when absent. */
export interface SlotIndex<K> {
  get(key: K): number;
  set(key: K, slot: number): void;
  delete(key: K): void;
}

/** For any key (IPv6 text): a Map. */
export class MapSlotIndex<K> implements SlotIndex<K> {
  private readonly map = new Map<K, number>();
  get(key: K): number {
    return this.map.get(key) ?? -1;
  }
  set(key: K, slot: number): void {
    this.map.set(key, slot);
  }
  delete(key: K): void {
    this.map.delete(key);
  }
}

/**
 * For unsigned 32-bit keys: linear probing on typed arrays, deletion by backward shift (no tombstones),
 * growing by doubling so that a small table stays small.
 */
export class U32SlotIndex implements SlotIndex<number> {
  private keys = new Uint32Array(64);
  private slots = new Int32Array(64).fill(-1);
  private mask = 63;
  private shift = 26;
  private size = 0;

  private home(key: number): number {
    return Math.imul(key, 0x9e3779b1) >>> this.shift;
  }

  get(key: number): number {
    for (let i = this.home(key); ; i = (i + 1) & this.mask) {
      const slot = this.slots[i] as number;
      if (slot === -1 || this.keys[i] === key) return slot;
    }
  }

  set(key: number, slot: number): void {
    let i = this.home(key);
    while (this.slots[i] !== -1 && this.keys[i] !== key) i = (i + 1) & this.mask;
    if (this.slots[i] === -1) this.size++;
    this.keys[i] = key;
    this.slots[i] = slot;
    if (this.size * 2 > this.mask) this.grow();
  }

  delete(key: number): void {
    let i = this.home(key);
    for (;;) {
      if (this.slots[i] === -1) return;
      if (this.keys[i] === key) break;
      i = (i + 1) & this.mask;
    }
    this.size--;
    // Move later entries of the probe run back into the hole when their home allows it.
    for (let j = (i + 1) & this.mask; this.slots[j] !== -1; j = (j + 1) & this.mask) {
      const h = this.home(this.keys[j] as number);
      const between = i <= j ? i < h && h <= j : i < h || h <= j;
      if (!between) {
        this.keys[i] = this.keys[j] as number;
        this.slots[i] = this.slots[j] as number;
        i = j;
      }
    }
    this.slots[i] = -1;
  }

  private grow(): void {
    const { keys, slots } = this;
    const size = keys.length * 2;
    this.keys = new Uint32Array(size);
    this.slots = new Int32Array(size).fill(-1);
    this.mask = size - 1;
    this.shift--;
    this.size = 0;
    for (let i = 0; i < keys.length; i++) if (slots[i] !== -1) this.set(keys[i] as number, slots[i] as number);
  }
}

export interface HeavyHitter<K> {
  key: K;
  /** Upper bound of the true count (exact when error is 0). */
  count: number;
  /** count - error is a lower bound of the true count. */
  error: number;
}

export class SpaceSaving<K> {
  private readonly keys: K[] = [];
  // Grown by doubling up to the capacity, so a sketch of a small table stays small.
  private counts = new Float64Array(64);
  private errors = new Float64Array(64);
  private heap: Int32Array | null = null;
  private heapPos: Int32Array | null = null;
  evictions = 0;
  total = 0;

  constructor(
    readonly capacity: number,
    private readonly index: SlotIndex<K>,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be a positive integer");
  }

  /** True while every count is exact (nothing was ever evicted). */
  get exact(): boolean {
    return this.evictions === 0;
  }

  /** Keys held. */
  get size(): number {
    return this.keys.length;
  }

  add(key: K): void {
    this.total++;
    const slot = this.index.get(key);
    if (slot !== -1) {
      this.counts[slot] = (this.counts[slot] as number) + 1;
      if (this.heap !== null) this.siftDown((this.heapPos as Int32Array)[slot] as number);
      return;
    }
    if (this.keys.length < this.capacity) {
      const s = this.keys.length;
      if (s === this.counts.length) {
        const size = Math.min(this.capacity, s * 2);
        const counts = new Float64Array(size);
        const errors = new Float64Array(size);
        counts.set(this.counts);
        errors.set(this.errors);
        this.counts = counts;
        this.errors = errors;
      }
      this.keys.push(key);
      this.counts[s] = 1;
      this.errors[s] = 0;
      this.index.set(key, s);
      if (this.keys.length === this.capacity) this.buildHeap();
      return;
    }
    // Full: the new key takes over the smallest counter and inherits its count as its error.
    const min = (this.heap as Int32Array)[0] as number;
    this.index.delete(this.keys[min] as K);
    this.keys[min] = key;
    this.index.set(key, min);
    this.errors[min] = this.counts[min] as number;
    this.counts[min] = (this.counts[min] as number) + 1;
    this.evictions++;
    this.siftDown(0);
  }

  /** The n largest counts, largest first (one pass, keeping a sorted list of n slots). */
  top(n: number): HeavyHitter<K>[] {
    const best: number[] = [];
    const counts = this.counts;
    for (let s = 0; s < this.keys.length; s++) {
      const c = counts[s] as number;
      if (best.length === n && c <= (counts[best[n - 1] as number] as number)) continue;
      let i = best.length < n ? best.length : n - 1;
      while (i > 0 && (counts[best[i - 1] as number] as number) < c) {
        best[i] = best[i - 1] as number;
        i--;
      }
      best[i] = s;
    }
    return best.map((s) => ({ key: this.keys[s] as K, count: counts[s] as number, error: this.errors[s] as number }));
  }

  private buildHeap(): void {
    const n = this.capacity;
    // Full: from now on the counters have exactly `capacity` slots.
    this.heap = new Int32Array(n);
    this.heapPos = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      this.heap[i] = i;
      this.heapPos[i] = i;
    }
    for (let i = (n >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  /** Restores the min-heap below position i after the count there grew. */
  private siftDown(i: number): void {
    const heap = this.heap as Int32Array;
    const pos = this.heapPos as Int32Array;
    const counts = this.counts;
    const n = heap.length;
    const slot = heap[i] as number;
    const c = counts[slot] as number;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let child = l;
      if (r < n && (counts[heap[r] as number] as number) < (counts[heap[l] as number] as number)) child = r;
      const childSlot = heap[child] as number;
      if ((counts[childSlot] as number) >= c) break;
      heap[i] = childSlot;
      pos[childSlot] = i;
      i = child;
    }
    heap[i] = slot;
    pos[slot] = i;
  }
}

/**
 * Exact counts by a pair of 32-bit words (an IPv4 address, and port | protocol << 16), open addressing on
 * typed arrays, growing as needed. For the few hundred services and real servers of a director.
 */
export class PairCounter {
  private keysA = new Uint32Array(64);
  private keysB = new Uint32Array(64);
  private counts = new Float64Array(64);
  private mask = 63;
  size = 0;

  add(a: number, b: number): void {
    let i = this.home(a, b);
    for (;;) {
      const c = this.counts[i] as number;
      if (c === 0) break;
      if (this.keysA[i] === a && this.keysB[i] === b) {
        this.counts[i] = c + 1;
        return;
      }
      i = (i + 1) & this.mask;
    }
    this.keysA[i] = a;
    this.keysB[i] = b;
    this.counts[i] = 1;
    if (++this.size * 2 > this.mask) this.grow();
  }

  private home(a: number, b: number): number {
    const h = Math.imul(a ^ Math.imul(b, 0x85ebca6b), 0x9e3779b1);
    return (h ^ (h >>> 15)) & this.mask;
  }

  /** [a, b, count] for every pair seen. */
  entries(): [number, number, number][] {
    const out: [number, number, number][] = [];
    for (let i = 0; i <= this.mask; i++) {
      const c = this.counts[i] as number;
      if (c > 0) out.push([this.keysA[i] as number, this.keysB[i] as number, c]);
    }
    return out;
  }

  private grow(): void {
    const old = this.entries();
    const size = (this.mask + 1) * 2;
    this.keysA = new Uint32Array(size);
    this.keysB = new Uint32Array(size);
    this.counts = new Float64Array(size);
    this.mask = size - 1;
    this.size = 0;
    for (const [a, b, c] of old) {
      this.add(a, b);
      // add() counted 1; set the real count on the slot it chose.
      this.bump(a, b, c - 1);
    }
  }

  private bump(a: number, b: number, by: number): void {
    let i = this.home(a, b);
    while (!(this.keysA[i] === a && this.keysB[i] === b)) i = (i + 1) & this.mask;
    this.counts[i] = (this.counts[i] as number) + by;
  }
}
