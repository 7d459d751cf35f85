// A chunk: the samples of one series over one time window, as one BLOB (Prometheus/Gorilla's idea, with
// byte-aligned varints instead of bit packing: simpler, and well under the 4 bytes per sample budget).
//
//   blob = version u8 (1) | columns varint | count varint | start varint (ms since the epoch)
//        | sample 0 | sample 1 | ...                                              (row-major: append-only)
//   sample = time token | one token per value column
//
//   time token  zigzag((t - tPrev) - dPrev) + 1     delta of delta against the previous sample (first: start,
//                                                   delta 0): 1 s ticks with a few ms of jitter take 1 byte
//   value token 0 for no value (a rate gap), else zigzag(v - vPrev) + 1, vPrev = the column's last value
//               (initially 0): an idle gauge or a steady counter increase takes 1 byte
//
// Tokens are unsigned LEB128 varints computed with arithmetic, not 32-bit bit operations: byte counters
// reach 2^32 per second on fast links. Values must be integers with |v| < 2^50 (checked).
//
// The writer is the open head chunk of a series: appending is O(1) and the bytes are the stored form, so
// flushing writes them as they are and a read of the head decodes them like a stored chunk.

const VERSION = 1;
const LIMIT = 2 ** 50;

export class ChunkFormatError extends Error {
  override name = "ChunkFormatError";
}

export class ChunkWriter {
  private buf: Uint8Array;
  private len = 0;
  private n = 0;
  private tPrev: number;
  private dPrev = 0;
  private readonly prev: Float64Array;
  private from: number;

  /** `capacity`: the buffer's first size in bytes (it doubles when full), or the buffer itself (a view of a
   *  slab the caller carves many writers' buffers from). */
  constructor(
    readonly columns: number,
    start: number,
    capacity: number | Uint8Array = 64,
  ) {
    this.buf = typeof capacity === "number" ? new Uint8Array(Math.max(16, capacity)) : capacity;
    if (this.buf.length < 16) throw new RangeError(`a chunk buffer of ${this.buf.length} bytes: at least 16`);
    this.from = start;
    this.tPrev = start;
    this.prev = new Float64Array(columns);
  }

  get start(): number {
    return this.from;
  }

  /** Empties the writer for a new chunk at `start`, keeping its buffer: a series' head chunk is reused window
   *  after window instead of 11,000 new writers a minute that each live a minute (old-space fragmentation). */
  reset(start: number): void {
    this.from = start;
    this.len = 0;
    this.n = 0;
    this.tPrev = start;
    this.dPrev = 0;
    this.prev.fill(0);
  }

  get count(): number {
    return this.n;
  }

  get lastTime(): number {
    return this.tPrev;
  }

  /** Appends one sample; `values[c]` null or NaN for no value. Times must not go backwards. */
  append(t: number, values: ArrayLike<number | null>): void {
    if (values.length !== this.columns) throw new RangeError(`expected ${this.columns} values, got ${values.length}`);
    if (!Number.isSafeInteger(t) || t < this.tPrev) throw new RangeError(`time ${t} is before the chunk's last ${this.tPrev}`);
    for (let c = 0; c < this.columns; c++) {
      const v = values[c];
      // Checked before anything is written, so that a refused sample leaves the chunk as it was.
      if (v !== null && v !== undefined && !Number.isNaN(v) && (!Number.isInteger(v) || Math.abs(v) >= LIMIT)) {
        throw new RangeError(`column ${c}: ${v} is not an integer below 2^50`);
      }
    }
    const d = t - this.tPrev;
    this.token(zigzag(d - this.dPrev) + 1);
    this.tPrev = t;
    this.dPrev = d;
    for (let c = 0; c < this.columns; c++) {
      const v = values[c];
      if (v === null || v === undefined || Number.isNaN(v)) {
        this.token(0);
        continue;
      }
      this.token(zigzag(v - (this.prev[c] as number)) + 1);
      this.prev[c] = v;
    }
    this.n++;
  }

  /** The stored form of what was appended so far (a copy). */
  bytes(): Uint8Array {
    const head: number[] = [VERSION];
    for (const x of [this.columns, this.n, this.start]) pushVarint(head, x);
    const out = new Uint8Array(head.length + this.len);
    out.set(head, 0);
    out.set(this.buf.subarray(0, this.len), head.length);
    return out;
  }

  private token(x: number): void {
    if (this.len + 8 > this.buf.length) {
      const bigger = new Uint8Array(this.buf.length * 2);
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
    while (x >= 128) {
      this.buf[this.len++] = (x % 128) + 128;
      x = Math.floor(x / 128);
    }
    this.buf[this.len++] = x;
  }
}

export interface DecodedChunk {
  start: number;
  /** Sample times, ms. */
  t: number[];
  /** cols[c][i]: column c of sample i; null for no value. */
  cols: (number | null)[][];
}

export function decodeChunk(blob: Uint8Array): DecodedChunk {
  let at = 0;
  const varint = (): number => {
    let x = 0;
    let mul = 1;
    for (;;) {
      if (at >= blob.length) throw new ChunkFormatError(`truncated chunk at byte ${at} of ${blob.length}`);
      const b = blob[at++] as number;
      x += (b & 127) * mul;
      if (b < 128) return x;
      mul *= 128;
      if (mul > 2 ** 56) throw new ChunkFormatError(`varint too long at byte ${at}`);
    }
  };
  if (blob[0] !== VERSION) throw new ChunkFormatError(`unknown chunk version ${blob[0]}`);
  at = 1;
  const columns = varint();
  const n = varint();
  const start = varint();
  const t: number[] = new Array<number>(n);
  const cols: (number | null)[][] = Array.from({ length: columns }, () => new Array<number | null>(n));
  const prev = new Float64Array(columns);
  let tPrev = start;
  let dPrev = 0;
  for (let i = 0; i < n; i++) {
    const d = dPrev + unzigzag(varint() - 1);
    tPrev += d;
    dPrev = d;
    t[i] = tPrev;
    for (let c = 0; c < columns; c++) {
      const tok = varint();
      const col = cols[c] as (number | null)[];
      if (tok === 0) col[i] = null;
      else {
        const v = (prev[c] as number) + unzigzag(tok - 1);
        prev[c] = v;
        col[i] = v;
      }
    }
  }
  if (at !== blob.length) throw new ChunkFormatError(`${blob.length - at} bytes after ${n} samples`);
  return { start, t, cols };
}

const zigzag = (d: number): number => (d >= 0 ? 2 * d : -2 * d - 1);
const unzigzag = (z: number): number => (z % 2 === 0 ? z / 2 : -(z + 1) / 2);

function pushVarint(out: number[], x: number): void {
  while (x >= 128) {
    out.push((x % 128) + 128);
    x = Math.floor(x / 128);
  }
  out.push(x);
}

/**
 * Fixed-size buffers carved out of one allocation per `count`: a store's 11,000 series each keep a raw and a
 * rollup head buffer (2 KiB, 1 KiB) for as long as the series lives, and as 22,000 small allocations of their own
 * they cost the dashboard tens of MB of RSS in allocator overhead and fragmentation (bench/dashboard/host.ts).
 * A buffer outlives its series inside its slab (at most `count` - 1 neighbours' worth): series are rarely
 * forgotten.
 */
export class BufferSlab {
  private bytes = new Uint8Array(0);
  private used = 0;

  constructor(
    readonly size: number,
    readonly count = 256,
  ) {}

  next(): Uint8Array {
    if (this.used + this.size > this.bytes.length) {
      this.bytes = new Uint8Array(this.size * this.count);
      this.used = 0;
    }
    return this.bytes.subarray(this.used, (this.used += this.size));
  }
}
