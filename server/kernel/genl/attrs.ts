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

interface SharedState {
  problem: DecodeProblem | undefined;
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
 * good path: a snapshot of 10,000 services walks over a million attributes.
 */
export class AttrCursor {
  /** Positions are indexes into `buf`; this level spans [base, end). A nested cursor shares its parent's buf
   *  and view over a narrower span, so descending into a nest allocates no view and no subarray. */
  private offset: number;
  private readonly base: number;
  private readonly end: number;
  private start = 0;
  private len = 0;
  private currentType = -1;
  private currentFlags = 0;
  private currentLabel: string | undefined;
  private namer: ((type: number) => string) | undefined;
  /** One view over the whole stream for every header and integer read (not one per read: a snapshot of
   *  10,000 services reads over a million attributes). */
  private readonly view: DataView;

  constructor(
    private readonly buf: Uint8Array,
    /** The enclosing attributes' names, or what makes them (a function; a nested cursor's NestPath), so the
     *  path is only spelled out when a problem is recorded. */
    private readonly path: PathSource = "",
    private readonly shared: SharedState = { problem: undefined },
    /** For nested(): the parent's view and the nest's span in `buf`. */
    within?: DataView,
    start = 0,
    end = buf.length,
  ) {
    this.view = within ?? new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.offset = start;
    this.base = start;
    this.end = end;
  }

  /** The first problem met by this cursor or any cursor nested under it. */
  get problem(): DecodeProblem | undefined {
    return this.shared.problem;
  }

  /** Advances to the next attribute; false at the end or once any problem was recorded. */
  next(): boolean {
    if (this.shared.problem) return false;
    this.currentType = -1;
    const remaining = this.end - this.offset;
    if (remaining === 0) return false;
    if (remaining < NLA_HDRLEN) {
      this.fail("truncated", `${remaining} trailing byte(s), less than an attribute header (4)`, this.offset - this.base);
      return false;
    }
    const nlaLen = this.view.getUint16(this.offset, HOST_LITTLE_ENDIAN);
    const rawType = this.view.getUint16(this.offset + 2, HOST_LITTLE_ENDIAN);
    if (nlaLen < NLA_HDRLEN) {
      this.fail("malformed", `nla_len ${nlaLen} is less than the attribute header (4)`, this.offset - this.base);
      return false;
    }
    if (nlaLen > remaining) {
      this.fail("truncated", `nla_len ${nlaLen} runs past the end (${remaining} bytes left)`, this.offset - this.base);
      return false;
    }
    this.start = this.offset + NLA_HDRLEN;
    this.len = nlaLen - NLA_HDRLEN;
    this.currentType = rawType & NLA_TYPE_MASK;
    this.currentFlags = rawType & ~NLA_TYPE_MASK;
    this.currentLabel = undefined;
    // The last attribute's padding may be missing from a stream that ends right after it.
    this.offset = Math.min(this.offset + align4(nlaLen), this.end);
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
    return this.fixed(8) ? this.view.getBigUint64(this.start, HOST_LITTLE_ENDIAN) : 0n;
  }

  /** A payload of exactly `n` bytes, as a view. */
  exact(n: number): Uint8Array {
    return this.fixed(n) ? this.bytes() : new Uint8Array(n);
  }

  /** A NUL-terminated string (NLA_NUL_STRING / nla_put_string); a missing NUL is malformed. */
  string(): string {
    const b = this.bytes();
    const nul = b.indexOf(0);
    if (nul < 0) {
      this.fail("malformed", `${this.len}-byte string has no terminating NUL`);
      return "";
    }
    return new TextDecoder().decode(b.subarray(0, nul));
  }

  /** A cursor over the current attribute's payload, sharing this cursor's problem slot. */
  nested(): AttrCursor {
    // The path as data, not a closure: tsx (esbuild's keepNames) names every closure it creates with a
    // defineProperty call, which cost a snapshot of 10,000 services over a tenth of its time.
    const path = new NestPath(this.path, this.currentType, this.currentLabel, this.namer);
    return new AttrCursor(this.buf, path, this.shared, this.view, this.start, this.start + this.len);
  }

  /** A cursor over a payload taken earlier at this level with bytes(), named `label` in problem paths: for a nest
   *  decoded only if needed (the 32-bit stats nest, read only when the kernel sent no STATS64). */
  nestedOver(payload: Uint8Array, label: string): AttrCursor {
    const parent = this.path;
    return new AttrCursor(payload, () => joinPath(parent, label), this.shared);
  }

  /** Records a problem about the current attribute (e.g. a value out of the kernel's range). */
  fail(kind: DecodeProblem["kind"], message: string, offset = this.start - NLA_HDRLEN - this.base): void {
    if (!this.shared.problem) this.shared.problem = { kind, path: this.here(), offset: Math.max(0, offset), message };
  }

  private here(): string {
    if (this.currentType < 0) return joinPath(this.path, "");
    return joinPath(this.path, this.currentLabel ?? this.namer?.(this.currentType) ?? String(this.currentType));
  }

  private fixed(n: number): boolean {
    if (this.len === n) return true;
    this.fail(this.len < n ? "truncated" : "malformed", `expected a ${n}-byte payload, got ${this.len}`);
    return false;
  }

}

/** Where a cursor is, spelled out only when a problem is recorded: a string, a function that makes it, or a
 *  nest's place under its parent (nested()). */
type PathSource = string | (() => string) | NestPath;

class NestPath {
  constructor(
    private readonly parent: PathSource,
    private readonly type: number,
    private readonly label: string | undefined,
    private readonly namer: ((type: number) => string) | undefined,
  ) {}

  spell(): string {
    return joinPath(this.parent, this.type < 0 ? "" : (this.label ?? this.namer?.(this.type) ?? String(this.type)));
  }
}

function joinPath(parent: PathSource, label: string): string {
  const p = typeof parent === "string" ? parent : typeof parent === "function" ? parent() : parent.spell();
  return [p, label].filter((s) => s !== "").join(" > ");
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
