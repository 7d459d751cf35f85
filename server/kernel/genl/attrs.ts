// Netlink attributes (struct nlattr, include/uapi/linux/netlink.h): a cursor that decodes them with a length
// check on every step, and an encoder. Pure code over byte arrays: no socket, no `netlink` package, so the
// IPVS codecs and the unit tests use it directly.
//
// One attribute on the wire, followed by padding up to the next multiple of 4:
//
//    0        2        4                        nla_len     NLA_ALIGN(nla_len)
//    +--------+--------+------------------------+-----------+
//    | nla_len| nla_type| payload (nla_len - 4) | padding   |
//    +--------+--------+------------------------+-----------+
//
// nla_len counts the 4-byte header and the payload, not the padding. The top two bits of nla_type are flags:
// NLA_F_NESTED (0x8000) and NLA_F_NET_BYTEORDER (0x4000). Integers are in host byte order unless the family
// says otherwise (IPVS ports and IPv4 masks are big-endian). Following mdlayher/netlink's AttributeDecoder,
// a decoding problem does not throw: the cursor stops, remembers the first problem (shared with every nested
// cursor), and the typed getters return a zero value, so a caller decodes a whole object and checks `problem`
// once at the end.

export const NLA_HDRLEN = 4;
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

export const align4 = (n: number): number => (n + 3) & ~3;

/** Netlink integers are in the host's byte order; every platform node runs Linux on here is little-endian,
 *  but the check keeps a big-endian host honest. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Why decoding stopped: `truncated` = the bytes end before a length says they should; `malformed` = a length
 *  or value that cannot be right whatever follows (nla_len < 4, a u32 attribute of 2 bytes, a bad enum). */
export interface DecodeProblem {
  kind: "truncated" | "malformed";
  /** Where, as a path of attribute names, e.g. "IPVS_CMD_ATTR_SERVICE > IPVS_SVC_ATTR_STATS64 > ...". */
  path: string;
  /** Byte offset inside the attribute stream being decoded at that level. */
  offset: number;
  message: string;
}

/** An attribute kept as it came: its type (flags removed) and a view of its payload (no copy). */
export interface RawAttr {
  type: number;
  nested: boolean;
  value: Uint8Array;
}

/**
 * Walks one level of attributes. Usage:
 *
 *     const c = new AttrCursor(bytes, "IPVS_CMD_ATTR_SERVICE");
 *     while (c.next()) switch (c.type) { case 1: af = c.u16(); break; default: unknown.push(c.raw()); }
 *     if (c.problem) ...
 *
 * Problem paths name attributes with `c.names(type => name)` (once per level; called only when a problem is
 * recorded) or `c.label(name)` for the current one, else the numeric type stands. Nothing is spelled out on the
 * good path: a snapshot of 10,000 services walks over a million attributes, so descending into a nest costs
 * one object (the nested cursor: it keeps its parent and the nest's type as data, and the first problem lives
 * in the outermost cursor), and no view, subarray or closure.
 */
export class AttrCursor {
  // Every field is assigned in the constructor, in one order, and none is a class field initializer: class
  // fields (ES2022) are defined one by one when an object is made, and a snapshot makes over 50,000 cursors.
  /** The bytes walked (a nested cursor's are its parent's); positions are indexes into them. */
  private declare readonly buf: Uint8Array;
  /** One view over `buf` for every header and integer read, shared with nested cursors. */
  private declare readonly view: DataView;
  /** This level spans [base, end); `offset` is where the next attribute starts. */
  private declare offset: number;
  private declare readonly base: number;
  private declare readonly end: number;
  /** The current attribute: its payload [start, start + len), type, flags and label. */
  private declare start: number;
  private declare len: number;
  private declare currentType: number;
  private declare currentFlags: number;
  private declare currentLabel: string | undefined;
  private declare namer: ((type: number) => string) | undefined;
  /** The outermost cursor: it holds the first problem of the whole tree. */
  private declare readonly root: AttrCursor;
  private declare firstProblem: DecodeProblem | undefined;
  /** The enclosing attributes' names, or what makes them (a function; for a nested cursor, its parent), so
   *  the path is only spelled out when a problem is recorded. */
  private declare readonly path: PathSource;
  /** For a nested cursor: the enclosing attribute's type, label and namer when nested() was called (the parent
   *  moves on; these are what its path is spelled from). -1: none. */
  private declare readonly nestType: number;
  private declare readonly nestLabel: string | undefined;
  private declare readonly nestNamer: ((type: number) => string) | undefined;

  constructor(
    buf: Uint8Array,
    path: PathSource = "",
    /** The rest is for nested() and firstNest(): the parent, the span in `buf` and the nest's name. */
    parent?: AttrCursor,
    start = 0,
    end = buf.length,
    nestType = -1,
    nestLabel?: string,
    nestNamer?: (type: number) => string,
  ) {
    if (parent) {
      this.buf = buf;
      this.view = parent.view;
    } else {
      // An outermost cursor walks the whole ArrayBuffer under `buf` (positions shifted by its byteOffset), so
      // the replies of one dump, views into one buffer, share one DataView instead of making one each.
      const whole = wholeBuffer(buf);
      this.buf = whole.bytes;
      this.view = whole.view;
      start += buf.byteOffset;
      end += buf.byteOffset;
    }
    this.offset = start;
    this.base = start;
    this.end = end;
    this.start = 0;
    this.len = 0;
    this.currentType = -1;
    this.currentFlags = 0;
    this.currentLabel = undefined;
    this.namer = undefined;
    this.root = parent ? parent.root : this;
    this.firstProblem = undefined;
    this.path = path;
    this.nestType = nestType;
    this.nestLabel = nestLabel;
    this.nestNamer = nestNamer;
  }

  /**
   * A cursor over the payload of the first attribute of `type` in `buf` (or in buf[start, end)), as
   * `new AttrCursor(buf).names(namer)` walked to it would give with nested(), provided the whole level is well formed (every nla_len checked as
   * next() checks it); undefined when it is not, or has no such attribute, for the caller to walk it with a
   * cursor and meet the problem there. For a reply that is one nest (a dump's service or destination): the
   * level's own cursor is never made.
   */
  static firstNest(buf: Uint8Array, type: number, namer?: (type: number) => string, start = 0, end = buf.length): AttrCursor | undefined {
    if (start < 0 || end > buf.length || start > end) throw new RangeError(`attribute span ${start}..${end} is outside the ${buf.length}-byte buffer`);
    let found = -1;
    let foundLen = 0;
    for (let at = start; at < end; ) {
      if (end - at < NLA_HDRLEN) return undefined;
      const nlaLen = HOST_LITTLE_ENDIAN ? buf[at]! | (buf[at + 1]! << 8) : (buf[at]! << 8) | buf[at + 1]!;
      if (nlaLen < NLA_HDRLEN || nlaLen > end - at) return undefined;
      if (found < 0) {
        const rawType = HOST_LITTLE_ENDIAN ? buf[at + 2]! | (buf[at + 3]! << 8) : (buf[at + 2]! << 8) | buf[at + 3]!;
        if ((rawType & NLA_TYPE_MASK) === type) {
          found = at + NLA_HDRLEN;
          foundLen = nlaLen - NLA_HDRLEN;
        }
      }
      at += (nlaLen + 3) & ~3;
    }
    return found < 0 ? undefined : new AttrCursor(buf, "", undefined, found, found + foundLen, type, undefined, namer);
  }

  /** The first problem met by this cursor or any cursor nested under it (or over it). */
  get problem(): DecodeProblem | undefined {
    return this.root.firstProblem;
  }

  /** Advances to the next attribute; false at the end or once any problem was recorded. */
  next(): boolean {
    if (this.root.firstProblem !== undefined) return false;
    this.currentType = -1;
    const at = this.offset;
    const remaining = this.end - at;
    if (remaining === 0) return false;
    if (remaining < NLA_HDRLEN) {
      this.fail("truncated", `${remaining} trailing byte(s), less than an attribute header (4)`, at - this.base);
      return false;
    }
    const nlaLen = this.view.getUint16(at, HOST_LITTLE_ENDIAN);
    const rawType = this.view.getUint16(at + 2, HOST_LITTLE_ENDIAN);
    if (nlaLen < NLA_HDRLEN) {
      this.fail("malformed", `nla_len ${nlaLen} is less than the attribute header (4)`, at - this.base);
      return false;
    }
    if (nlaLen > remaining) {
      this.fail("truncated", `nla_len ${nlaLen} runs past the end (${remaining} bytes left)`, at - this.base);
      return false;
    }
    this.start = at + NLA_HDRLEN;
    this.len = nlaLen - NLA_HDRLEN;
    this.currentType = rawType & NLA_TYPE_MASK;
    this.currentFlags = rawType & ~NLA_TYPE_MASK;
    this.currentLabel = undefined;
    // The last attribute's padding may be missing from a stream that ends right after it.
    const next = at + ((nlaLen + 3) & ~3);
    this.offset = next < this.end ? next : this.end;
    return true;
  }

  get type(): number {
    return this.currentType;
  }

  /** Names the current attribute for problem paths (e.g. the kernel's constant name). */
  label(name: string): this {
    this.currentLabel = name;
    return this;
  }

  /** Names every attribute of this level for problem paths, lazily: `name` runs only when a path is spelled out. */
  names(name: (type: number) => string): this {
    this.namer = name;
    return this;
  }

  /** The current payload as a view into the original bytes (no copy). */
  bytes(): Uint8Array {
    return this.buf.subarray(this.start, this.start + this.len);
  }

  raw(): RawAttr {
    return { type: this.currentType, nested: (this.currentFlags & NLA_F_NESTED) !== 0, value: this.bytes() };
  }

  get length(): number {
    return this.len;
  }

  /** The bytes this cursor (and every cursor nested under it) walks: what payloadAt()/exactAt() index. */
  get source(): Uint8Array {
    return this.buf;
  }

  /** Where the current payload starts in `source` (for a decoder that reads it in place, e.g. an address
   *  formatted straight from the buffer, or a nest decoded later with nestedAt()). */
  get payloadAt(): number {
    return this.start;
  }

  u8(): number {
    return this.fixed(1) ? this.buf[this.start]! : 0;
  }

  u16(): number {
    return this.fixed(2) ? this.view.getUint16(this.start, HOST_LITTLE_ENDIAN) : 0;
  }

  be16(): number {
    return this.fixed(2) ? this.view.getUint16(this.start, false) : 0;
  }

  u32(): number {
    return this.fixed(4) ? this.view.getUint32(this.start, HOST_LITTLE_ENDIAN) : 0;
  }

  be32(): number {
    return this.fixed(4) ? this.view.getUint32(this.start, false) : 0;
  }

  u64(): bigint {
    if (!this.fixed(8)) return 0n;
    // A zero counter (idle rates, a direct-routing service's outgoing counters) is the one shared 0n, not a new
    // BigInt: a snapshot reads ten of these per service and per destination. Either half's byte order: zero.
    if (this.view.getUint32(this.start, true) === 0 && this.view.getUint32(this.start + 4, true) === 0) return 0n;
    return this.view.getBigUint64(this.start, HOST_LITTLE_ENDIAN);
  }

  /** A payload of exactly `n` bytes, as a view. */
  exact(n: number): Uint8Array {
    return this.fixed(n) ? this.bytes() : new Uint8Array(n);
  }

  /** Checks that the payload is exactly `n` bytes and returns where it starts in `source` (-1 after recording
   *  the problem): exact() without the view, for a decoder that reads the bytes in place. */
  exactAt(n: number): number {
    return this.fixed(n) ? this.start : -1;
  }

  /** A NUL-terminated string (NLA_NUL_STRING / nla_put_string); a missing NUL is malformed. */
  string(): string {
    const b = this.buf;
    const end = this.start + this.len;
    // ASCII (every scheduler, persistence engine and interface name) is read in place; anything else is UTF-8.
    let text = "";
    let i = this.start;
    for (; i < end; i++) {
      const ch = b[i]!;
      if (ch === 0) return text;
      if (ch >= 0x80) break;
      text += String.fromCharCode(ch);
    }
    const nul = i < end ? b.indexOf(0, i) : -1;
    if (nul < 0 || nul >= end) {
      this.fail("malformed", `${this.len}-byte string has no terminating NUL`);
      return "";
    }
    return textDecoder.decode(b.subarray(this.start, nul));
  }

  /** A cursor over the current attribute's payload, sharing this cursor's problem slot. */
  nested(): AttrCursor {
    // The path as data, not a closure: tsx (esbuild's keepNames) names every closure it creates with a
    // defineProperty call, which cost a snapshot of 10,000 services over a tenth of its time.
    return new AttrCursor(this.buf, this, this, this.start, this.start + this.len, this.currentType, this.currentLabel, this.namer);
  }

  /** A cursor over a payload met earlier at this level (at payloadAt, `length` bytes), named `label` in problem
   *  paths: for a nest decoded only if needed (the 32-bit stats nest, read only when the kernel sent no
   *  STATS64). */
  nestedAt(at: number, length: number, label: string): AttrCursor {
    if (at < this.base || length < 0 || at + length > this.end) throw new RangeError(`nest at ${at} (+${length}) is outside this cursor's span`);
    return new AttrCursor(this.buf, this, this, at, at + length, 0, label, undefined);
  }

  /** Records a problem about the current attribute (e.g. a value out of the kernel's range). */
  fail(kind: DecodeProblem["kind"], message: string, offset = this.start - NLA_HDRLEN - this.base): void {
    const root = this.root;
    if (!root.firstProblem) root.firstProblem = { kind, path: this.here(), offset: Math.max(0, offset), message };
  }

  /** This level's path, without the current attribute. */
  private levelPath(): string {
    const outer = this.path;
    const p = typeof outer === "string" ? outer : typeof outer === "function" ? outer() : outer.levelPath();
    if (this.nestType < 0) return p;
    return joinPath(p, this.nestLabel ?? this.nestNamer?.(this.nestType) ?? String(this.nestType));
  }

  private here(): string {
    if (this.currentType < 0) return joinPath(this.levelPath(), "");
    return joinPath(this.levelPath(), this.currentLabel ?? this.namer?.(this.currentType) ?? String(this.currentType));
  }

  private fixed(n: number): boolean {
    if (this.len === n) return true;
    this.fail(this.len < n ? "truncated" : "malformed", `expected a ${n}-byte payload, got ${this.len}`);
    return false;
  }
}

const textDecoder = new TextDecoder();

/** Each ArrayBuffer an outermost cursor was made over, as bytes and a view. A WeakMap: an entry lives only as
 *  long as its buffer (its value's reference to the buffer does not keep it alive). */
const wholeBuffers = new WeakMap<ArrayBufferLike, { bytes: Uint8Array; view: DataView }>();

function wholeBuffer(buf: Uint8Array): { bytes: Uint8Array; view: DataView } {
  const ab = buf.buffer;
  let whole = wholeBuffers.get(ab);
  if (whole === undefined) {
    whole = { bytes: new Uint8Array(ab), view: new DataView(ab) };
    wholeBuffers.set(ab, whole);
  }
  return whole;
}

/** Where a cursor is, spelled out only when a problem is recorded: a string, a function that makes it, or (for
 *  a nested cursor) the cursor it was made from. */
type PathSource = string | (() => string) | AttrCursor;

function joinPath(parent: string, label: string): string {
  return parent === "" ? label : label === "" ? parent : `${parent} > ${label}`;
}

/** Builds an attribute stream. Nested attributes are written without NLA_F_NESTED, as ipvsadm (libnl) does;
 *  the kernel's IPVS parser (nla_parse_nested_deprecated) accepts both. Everything is written in place into one
 *  growing buffer (a nest's length is patched in when its fill returns): a request costs one allocation and
 *  one copy however many attributes it has. */
export class AttrEncoder {
  private buf = new Uint8Array(128);
  private view = new DataView(this.buf.buffer);
  private size = 0;

  u8(type: number, v: number): this {
    this.header(type, 1).buf[this.size] = v & 0xff;
    return this.pad(1);
  }

  u16(type: number, v: number): this {
    this.header(type, 2).view.setUint16(this.size, v, HOST_LITTLE_ENDIAN);
    return this.pad(2);
  }

  be16(type: number, v: number): this {
    this.header(type, 2).view.setUint16(this.size, v, false);
    return this.pad(2);
  }

  u32(type: number, v: number): this {
    this.header(type, 4).view.setUint32(this.size, v >>> 0, HOST_LITTLE_ENDIAN);
    return this.pad(4);
  }

  be32(type: number, v: number): this {
    this.header(type, 4).view.setUint32(this.size, v >>> 0, false);
    return this.pad(4);
  }

  u64(type: number, v: bigint): this {
    this.header(type, 8).view.setBigUint64(this.size, BigInt.asUintN(64, v), HOST_LITTLE_ENDIAN);
    return this.pad(8);
  }

  /** A NUL-terminated string, like the kernel's nla_put_string. */
  string(type: number, s: string): this {
    const text = new TextEncoder().encode(s);
    this.header(type, text.length + 1).buf.set(text, this.size);
    this.buf[this.size + text.length] = 0;
    return this.pad(text.length + 1);
  }

  bytes(type: number, b: Uint8Array): this {
    return this.put(type, b);
  }

  nested(type: number, fill: (e: AttrEncoder) => void): this {
    const at = this.size;
    this.header(type, 0);
    fill(this);
    const nlaLen = this.size - at;
    if (nlaLen > 0xffff) throw new RangeError(`attribute ${type} is too long for nla_len (${nlaLen} bytes)`);
    this.view.setUint16(at, nlaLen, HOST_LITTLE_ENDIAN);
    return this;
  }

  /** Writes an attribute of any type with the given payload (also used to re-emit kept unknown ones). */
  put(type: number, payload: Uint8Array): this {
    this.header(type, payload.length).buf.set(payload, this.size);
    return this.pad(payload.length);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.size);
  }

  /** Writes the 4-byte header of an attribute with an n-byte payload (room for it and its padding made). */
  private header(type: number, n: number): this {
    const nlaLen = NLA_HDRLEN + n;
    if (nlaLen > 0xffff) throw new RangeError(`attribute ${type} is too long for nla_len (${nlaLen} bytes)`);
    const need = this.size + align4(nlaLen);
    if (need > this.buf.length) {
      const grown = new Uint8Array(Math.max(need, this.buf.length * 2));
      grown.set(this.buf.subarray(0, this.size));
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    }
    this.view.setUint16(this.size, nlaLen, HOST_LITTLE_ENDIAN);
    this.view.setUint16(this.size + 2, type, HOST_LITTLE_ENDIAN);
    this.size += NLA_HDRLEN;
    return this;
  }

  /** Moves past an n-byte payload and zeroes its padding. */
  private pad(n: number): this {
    const end = this.size + align4(n);
    this.buf.fill(0, this.size + n, end);
    this.size = end;
    return this;
  }
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString("hex");
}

export function fromHex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new Error(`not a hex string: ${clean.slice(0, 32)}...`);
  return new Uint8Array(Buffer.from(clean, "hex"));
}
