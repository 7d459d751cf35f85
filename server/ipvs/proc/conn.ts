// /proc/net/ip_vs_conn and /proc/net/ip_vs_conn_sync: the connection table, one entry a line, read as a
// stream of bytes. The kernel prints (net/netfilter/ipvs/ip_vs_conn.c, Linux 4.x-6.x):
//
// ip_vs_conn_seq_show():
//   Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
//   TCP CB007132 83AA C0000264 0050 C000020C 0050 FIN_WAIT        107
//   UDP 2001:0db8:0000:0000:0000:0000:0000:0032 A1B2 2001:...:0064 0035 2001:...:000b 0035 UDP             299
//   UDP CB007132 13C4 C0000264 13C4 C000020B 13C4 UDP              42 sip 1-2@192.0.2.5
//       "%-3s %08X %04X %08X %04X %s %04X %-11s %7u%s\n"
//        proto, ntohl(caddr), ntohs(cport), vaddr, vport, dbuf, dport, state, expires (s), pe_data
//       IPv6 (cp->af): "%-3s %pI6 %04X %pI6 %04X %s %04X %-11s %7u%s\n"
//       dbuf: "%08X" or "%pI6" by cp->daf, which may differ from cp->af (a tunnel to the other family).
//       pe_data: "" or " " + PE name + " " + the engine's show_pe_data() (sip: the Call-ID).
// ip_vs_conn_sync_seq_show():
//   Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires
//   TCP CB007132 83AA C0000264 0050 C000020C 0050 FIN_WAIT    LOCAL      107
//       "%-3s %08X %04X %08X %04X %s %04X %-11s %-6s %7u\n"   (origin: ip_vs_origin_name(), LOCAL or SYNC)
//
// %pI6 is the full form: 8 groups of 4 lower-case hex digits (39 characters), so the printed text is
// already a unique key and we only turn it into RFC 5952 text for display.
//
// Protocol names are ip_vs_proto_name(): TCP, UDP, SCTP, ICMP, ICMPv6, IP (persistence templates of
// fwmark services), else "IP_<n>" (AH is IP_51, ESP IP_50). State names are ip_vs_state_name():
// templates print ip_vs_ctpl_state_name_table (NONE, ASSURED); IPPROTO_IP entries NONE; protocols without
// state names ERR!; otherwise the protocol's table (tcp_state_name_table, udp_state_name_table,
// sctp_state_name_table); a state beyond the table prints ERR!, a hole "?".
//
// Persistence templates are not marked in /proc. A template is what ip_vs_sched_persist() builds: for a
// fwmark service protocol IP with the fwmark as virtual address ("IP  C0000201 0000 00000005 0000 ..."),
// otherwise the service's protocol with client port 0 and the client address masked by the persistence
// netmask ("TCP 2001:0db8:0000:0000:0000:0000:0000:0000 0000 ..." for -M 64), in state NONE until a
// connection through it is established, then ASSURED (all seen in the lab: test/fixtures/cases/rules-rich).
// We count an entry as a template when its protocol is IP, or its client port is 0 and its state is a
// template state.
//
// Why bytes and not lines of text: a busy director has millions of entries, and the reader must fold
// them into counts without holding them. Splitting into strings and matching a regular expression costs
// about 10x the time of walking the bytes once: about 0.15 s of CPU for 1,000,000 entries here, against
// 1.5 s (test/ipvs/proc/conn-bench.ts). The fixed-width fields are read at their offsets, the rest
// scanned once, and each line's own parse finds its newline.

import { displayIPv6, formatIPv4 } from "./addr";

/** Every state name the 6.1 kernel can print (see the header comment). */
export const TCP_STATES = [
  "NONE",
  "ESTABLISHED",
  "SYN_SENT",
  "SYN_RECV",
  "FIN_WAIT",
  "TIME_WAIT",
  "CLOSE",
  "CLOSE_WAIT",
  "LAST_ACK",
  "LISTEN",
  "SYNACK",
] as const; // tcp_state_name_table, ip_vs_proto_tcp.c
export const UDP_STATES = ["UDP"] as const; // udp_state_name_table, ip_vs_proto_udp.c
export const SCTP_STATES = [
  "NONE",
  "INIT1",
  "INIT",
  "C-SENT",
  "C-REPLIED",
  "C-WAIT",
  "COOKIE",
  "C-ECHOED",
  "ESTABLISHED",
  "S-SENT",
  "S-RECEIVED",
  "S-ACK-SENT",
  "REJECTED",
  "CLOSED",
] as const; // sctp_state_name_table, ip_vs_proto_sctp.c
export const TEMPLATE_STATES = ["NONE", "ASSURED"] as const; // ip_vs_ctpl_state_name_table, ip_vs_proto.c
/** What ip_vs_state_name() and the protocols' state_name() print for an impossible state. */
export const ERROR_STATES = ["ERR!", "?"] as const;
export const CONN_PROTOCOLS = ["TCP", "UDP", "SCTP", "IP", "ICMP", "ICMPv6"] as const; // ip_vs_proto_name()

export type ConnFile = "ip_vs_conn" | "ip_vs_conn_sync";

/**
 * One entry as the streaming parser sees it. The parser reuses ONE object for every line: read what you
 * need inside the callback and copy it out (toConnEntry does), never keep the object.
 */
export interface ConnRow {
  lineNo: number;
  protocol: string;
  /** Index of protocol in the parser's table: stable for a parser, cheap to count by. */
  protocolId: number;
  /** Family of the client and virtual addresses (cp->af). */
  family: 4 | 6;
  /** Family of the destination (cp->daf); differs from family only for a tunnel to the other family. */
  destFamily: 4 | 6;
  /** IPv4 addresses as unsigned 32-bit numbers (valid when the family is 4). */
  client4: number;
  virtual4: number;
  dest4: number;
  /** IPv6 addresses in the kernel's full %pI6 form (valid when the family is 6, else ""). */
  client6: string;
  virtual6: string;
  dest6: string;
  clientPort: number;
  virtualPort: number;
  destPort: number;
  state: string;
  stateId: number;
  /** Seconds until the entry expires. */
  expires: number;
  /** ip_vs_conn_sync only: LOCAL or SYNC; "" in ip_vs_conn. */
  origin: string;
  /** ip_vs_conn only: persistence engine name and data, "" when none. */
  peName: string;
  peData: string;
  template: boolean;
}

/** One entry with display addresses: what the paging reader and the small-file parser return. */
export interface ConnEntry {
  protocol: string;
  family: 4 | 6;
  clientAddress: string;
  clientPort: number;
  virtualAddress: string;
  virtualPort: number;
  destAddress: string;
  destFamily: 4 | 6;
  destPort: number;
  state: string;
  expires: number;
  template: boolean;
  origin?: string;
  peName?: string;
  peData?: string;
}

export interface MalformedLine {
  line: number;
  reason: string;
  text: string;
}

/** Copies the reused row into a plain object with display addresses. */
export function toConnEntry(row: ConnRow): ConnEntry {
  const entry: ConnEntry = {
    protocol: row.protocol,
    family: row.family,
    clientAddress: row.family === 4 ? formatIPv4(row.client4) : displayIPv6(row.client6),
    clientPort: row.clientPort,
    virtualAddress: row.family === 4 ? formatIPv4(row.virtual4) : displayIPv6(row.virtual6),
    virtualPort: row.virtualPort,
    destAddress: row.destFamily === 4 ? formatIPv4(row.dest4) : displayIPv6(row.dest6),
    destFamily: row.destFamily,
    destPort: row.destPort,
    state: row.state,
    expires: row.expires,
    template: row.template,
  };
  if (row.origin !== "") entry.origin = row.origin;
  if (row.peName !== "") {
    entry.peName = row.peName;
    entry.peData = row.peData;
  }
  return entry;
}

// ---------------------------------------------------------------------------------------------------
// 1. Byte-level helpers

const SPACE = 32;
const NEWLINE = 10;
const COLON = 58;
/** Hex digit value of a byte, -1 for anything else. */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[65 + i] = 10 + i;
  HEX[97 + i] = 10 + i;
}

/**
 * Maps the bytes of a short token to a small id without making a string: a hash picks a candidate, the
 * bytes are compared to confirm it. Unknown tokens are added (up to a bound) so that odd names the kernel
 * may print ("IP_51", "ERR!") still count by id.
 */
class TokenTable {
  readonly names: string[] = [];
  /** The names' bytes back to back (at most 256 names of at most 64 bytes), their offsets and lengths. */
  private readonly flat = new Uint8Array(256 * 64);
  private readonly offsets = new Int32Array(257);
  private readonly lengths = new Uint8Array(256);
  /** Open addressing on the hash: slot -> id + 1 (0 = empty). 1024 slots for at most 256 names. */
  private readonly slots = new Int16Array(1024);

  constructor(known: readonly string[]) {
    for (const name of known) this.add(name);
  }

  /** The running hash of a token's bytes: h = h * 31 + byte, from 0 (callers may compute it as they scan). */
  static step(h: number, byte: number): number {
    return (Math.imul(h, 31) + byte) | 0;
  }

  private static slot(h: number, len: number): number {
    return (Math.imul(h ^ (len << 24), 0x9e3779b1) >>> 22) & 1023;
  }

  private static hash(buf: Uint8Array, s: number, e: number): number {
    let h = 0;
    for (let i = s; i < e; i++) h = TokenTable.step(h, buf[i] as number);
    return h;
  }

  private add(name: string): number {
    const bytes = Buffer.from(name, "latin1");
    const id = this.names.length;
    const at = this.offsets[id] as number;
    if (id >= 256 || bytes.length > 64) return -1;
    this.names.push(name);
    this.flat.set(bytes, at);
    this.lengths[id] = bytes.length;
    this.offsets[id + 1] = at + bytes.length;
    let slot = TokenTable.slot(TokenTable.hash(bytes, 0, bytes.length), bytes.length);
    while (this.slots[slot] !== 0) slot = (slot + 1) & 1023;
    this.slots[slot] = id + 1;
    return id;
  }

  /** Id of the token buf[s, e); -1 if it is unknown and the table is full (or it is absurdly long). */
  id(buf: Buffer, s: number, e: number): number {
    return this.idHashed(buf, s, e, TokenTable.hash(buf, s, e));
  }

  /** id() for a caller that computed the hash with step() while finding the token's end. */
  idHashed(buf: Buffer, s: number, e: number, h: number): number {
    const len = e - s;
    const flat = this.flat;
    for (let slot = TokenTable.slot(h, len); ; slot = (slot + 1) & 1023) {
      const v = this.slots[slot] as number;
      if (v === 0) break;
      if (this.lengths[v - 1] !== len) continue;
      const at = this.offsets[v - 1] as number;
      let i = 0;
      while (i < len && flat[at + i] === buf[s + i]) i++;
      if (i === len) return v - 1;
    }
    return this.add(buf.toString("latin1", s, e));
  }
}

// ---------------------------------------------------------------------------------------------------
// 2. The streaming parser

const MAX_LINE = 4096;
const MAX_SAMPLES = 5;

/**
 * Parses ip_vs_conn or ip_vs_conn_sync from Buffer chunks of any size (lines may be split anywhere) and
 * calls onRow for each entry, reusing one ConnRow. Malformed lines are counted (with the first few kept
 * as samples), never thrown.
 */
export class ConnStreamParser {
  lines = 0;
  entries = 0;
  malformed = 0;
  readonly malformedSamples: MalformedLine[] = [];
  readonly protocols = new TokenTable(CONN_PROTOCOLS);
  readonly states = new TokenTable([
    ...new Set([...TCP_STATES, ...UDP_STATES, ...SCTP_STATES, ...TEMPLATE_STATES, ...ERROR_STATES]),
  ]);
  private readonly origins = new TokenTable(["LOCAL", "SYNC"]);
  private carry: Buffer | null = null;
  private readonly row: ConnRow = {
    lineNo: 0,
    protocol: "",
    protocolId: 0,
    family: 4,
    destFamily: 4,
    client4: 0,
    virtual4: 0,
    dest4: 0,
    client6: "",
    virtual6: "",
    dest6: "",
    clientPort: 0,
    virtualPort: 0,
    destPort: 0,
    state: "",
    stateId: 0,
    expires: 0,
    origin: "",
    peName: "",
    peData: "",
    template: false,
  };
  /** 1 at the ids of the template states (NONE, ASSURED). */
  private readonly isTemplateState = new Uint8Array(256);
  private readonly ipProtocolId: number;
  private readonly tcpId: number;
  private readonly udpId: number;
  private readonly sync: boolean;

  constructor(
    private readonly onRow: (row: ConnRow) => void,
    readonly file: ConnFile = "ip_vs_conn",
  ) {
    for (const name of TEMPLATE_STATES) this.isTemplateState[this.states.names.indexOf(name)] = 1;
    this.sync = file === "ip_vs_conn_sync";
    this.ipProtocolId = this.protocols.names.indexOf("IP");
    this.tcpId = this.protocols.names.indexOf("TCP");
    this.udpId = this.protocols.names.indexOf("UDP");
  }

  /** Feeds the next chunk. The chunk may be reused by the caller afterwards: a partial line is copied. */
  write(chunk: Uint8Array): void {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let pos = 0;
    if (this.carry !== null) {
      const nl = buf.indexOf(NEWLINE);
      if (nl < 0) {
        this.carry = Buffer.concat([this.carry, buf]);
        if (this.carry.length > MAX_LINE) this.dropLongCarry();
        return;
      }
      const line = Buffer.concat([this.carry, buf.subarray(0, nl + 1)]);
      this.carry = null;
      this.line(line, 0, line.length - 1);
      pos = nl + 1;
    }
    // Every line up to the chunk's last newline is whole: each one's parse finds its own end, so the
    // newlines are not searched for separately.
    const last = buf.lastIndexOf(NEWLINE);
    while (pos <= last) pos = this.line(buf, pos, last) + 1;
    if (pos < buf.length) {
      this.carry = Buffer.from(buf.subarray(pos));
      if (this.carry.length > MAX_LINE) this.dropLongCarry();
    }
  }

  /** Ends the input: a last line without a newline is parsed too. */
  end(): void {
    if (this.carry !== null && this.carry.length > 0) {
      const line = Buffer.concat([this.carry, Buffer.of(NEWLINE)]);
      this.carry = null;
      this.line(line, 0, line.length - 1);
    }
    this.carry = null;
  }

  /** Set while the rest of an over-long line is being skipped. */
  private skipping = false;

  private dropLongCarry(): void {
    // Not a line the kernel prints: skip to the next newline, counting it once.
    if (!this.skipping) this.bad(this.lines + 1, "line too long", (this.carry as Buffer).toString("latin1", 0, 80));
    this.carry = Buffer.alloc(0);
    this.skipping = true;
  }

  private bad(lineNo: number, reason: string, text: string): void {
    this.malformed++;
    if (this.malformedSamples.length < MAX_SAMPLES) this.malformedSamples.push({ line: lineNo, reason, text });
  }

  /**
   * The line that starts at s, given a newline at or before `last` (so every line does end in the buffer).
   * Returns the index of the newline that ends it.
   */
  private line(buf: Buffer, s: number, last: number): number {
    const lineNo = ++this.lines;
    if (this.skipping) {
      this.skipping = false;
      return buf.indexOf(NEWLINE, s);
    }
    if (buf[s] === NEWLINE) return s;
    // The header: "Pro FromIP ...".
    if (buf[s] === 80 && buf[s + 1] === 114 && buf[s + 2] === 111 && buf[s + 3] === SPACE) return buf.indexOf(NEWLINE, s);
    const reason = this.parse(buf, s, last, lineNo);
    if (reason === null) {
      this.entries++;
      this.onRow(this.row);
      return this.lineEnd;
    }
    const e = buf.indexOf(NEWLINE, s);
    this.bad(lineNo, reason, buf.toString("latin1", s, Math.min(e, s + 200)));
    return e;
  }

  /** Where the line parse() just read ends (its newline). */
  private lineEnd = 0;

  /**
   * Fills this.row from the line at s and sets lineEnd; returns null, or what is wrong. `e` bounds the
   * reads (the chunk's last newline): a field that would run past this line's newline fails its check on
   * the newline byte itself.
   */
  private parse(buf: Buffer, s: number, e: number, lineNo: number): string | null {
    // Every field but the protocol, the state, the expiry and the PE columns has a fixed width (%08X or
    // %pI6, %04X), so we read those at their offsets and only scan the variable ones.
    const row = this.row;
    row.lineNo = lineNo;

    // Protocol ("%-3s ": "IP" is followed by two spaces, "SCTP" takes four characters).
    let t = s;
    while (t < e && buf[t] !== SPACE && buf[t] !== NEWLINE) t++;
    if (t === s || buf[t] !== SPACE) return "no protocol";
    // TCP and UDP without a table look-up: they are nearly every line.
    const protocolId =
      t - s === 3 && buf[s + 1] === 67 && buf[s + 2] === 80 && buf[s] === 84
        ? this.tcpId
        : t - s === 3 && buf[s + 1] === 68 && buf[s + 2] === 80 && buf[s] === 85
          ? this.udpId
          : this.protocols.id(buf, s, t);
    if (protocolId < 0) return "too many protocol names";
    row.protocolId = protocolId;
    row.protocol = this.protocols.names[protocolId] as string;
    let p = t + 1;
    if (buf[p] === SPACE) p++;

    // Client address: 8 hex digits (IPv4) or 39 characters (%pI6); then the port.
    let v = hex8(buf, p, e);
    let family: 4 | 6;
    if (v >= 0) {
      family = 4;
      row.client4 = v;
      row.client6 = "";
      p += 9;
    } else if (isFull6(buf, p, e)) {
      family = 6;
      row.client6 = buf.toString("latin1", p, p + 39);
      row.client4 = 0;
      p += 40;
    } else return "bad client address";
    row.family = family;
    v = hex4(buf, p, e);
    if (v < 0) return "bad client port";
    row.clientPort = v;
    p += 5;

    // Virtual address (the client's family) and port.
    if (family === 4) {
      v = hex8(buf, p, e);
      if (v < 0) return "bad virtual address";
      row.virtual4 = v;
      row.virtual6 = "";
      p += 9;
    } else {
      if (!isFull6(buf, p, e)) return "bad virtual address";
      row.virtual6 = buf.toString("latin1", p, p + 39);
      row.virtual4 = 0;
      p += 40;
    }
    v = hex4(buf, p, e);
    if (v < 0) return "bad virtual port";
    row.virtualPort = v;
    p += 5;

    // Destination: its own family (cp->daf).
    v = hex8(buf, p, e);
    if (v >= 0) {
      row.destFamily = 4;
      row.dest4 = v;
      row.dest6 = "";
      p += 9;
    } else if (isFull6(buf, p, e)) {
      row.destFamily = 6;
      row.dest6 = buf.toString("latin1", p, p + 39);
      row.dest4 = 0;
      p += 40;
    } else return "bad destination address";
    v = hex4(buf, p, e);
    if (v < 0) return "bad destination port";
    row.destPort = v;
    p += 5;

    // State ("%-11s "), hashed as it is scanned.
    t = p;
    let h = 0;
    for (let c = buf[t] as number; t < e && c !== SPACE && c !== NEWLINE; c = buf[++t] as number) h = TokenTable.step(h, c);
    if (t === p) return "no state";
    if (buf[t] !== SPACE) return "no expiry";
    const stateId = this.states.idHashed(buf, p, t, h);
    if (stateId < 0) return "too many state names";
    row.stateId = stateId;
    row.state = this.states.names[stateId] as string;
    p = t;
    while (p < e && buf[p] === SPACE) p++;

    // ip_vs_conn_sync: origin ("%-6s ").
    if (this.sync) {
      t = p;
      while (t < e && buf[t] !== SPACE && buf[t] !== NEWLINE) t++;
      if (t === p) return "no origin";
      if (buf[t] !== SPACE) return "no expiry";
      const originId = this.origins.id(buf, p, t);
      if (originId < 0) return "bad origin";
      row.origin = this.origins.names[originId] as string;
      p = t;
      while (p < e && buf[p] === SPACE) p++;
    } else row.origin = "";

    // Expires ("%7u"), right-aligned: the spaces were skipped above.
    let expires = 0;
    t = p;
    while (t < e) {
      const c = buf[t] as number;
      if (c < 48 || c > 57) break;
      expires = expires * 10 + (c - 48);
      t++;
    }
    if (t === p) return "no expiry";
    row.expires = expires;

    // ip_vs_conn: optional " PEName PEData" up to the newline.
    row.peName = "";
    row.peData = "";
    if (buf[t] !== NEWLINE) {
      if (this.sync || buf[t] !== SPACE) return "unexpected text after the expiry";
      const nl = buf.indexOf(NEWLINE, t);
      p = t + 1;
      t = p;
      while (t < nl && buf[t] !== SPACE) t++;
      if (t === p) return "empty persistence engine name";
      row.peName = buf.toString("latin1", p, t);
      row.peData = t < nl ? buf.toString("latin1", t + 1, nl) : "";
      t = nl;
    }
    this.lineEnd = t;

    row.template = protocolId === this.ipProtocolId || (row.clientPort === 0 && this.isTemplateState[stateId] === 1);
    return null;
  }
}

/** Four hex digits at p: their value, or -1. */
function hex16(buf: Buffer, p: number): number {
  const a = HEX[buf[p] as number] as number;
  const b = HEX[buf[p + 1] as number] as number;
  const c = HEX[buf[p + 2] as number] as number;
  const d = HEX[buf[p + 3] as number] as number;
  return (a | b | c | d) < 0 ? -1 : (a << 12) | (b << 8) | (c << 4) | d;
}

/** "%08X" followed by a space at p: the value, or -1. */
function hex8(buf: Buffer, p: number, e: number): number {
  if (p + 8 >= e || buf[p + 8] !== SPACE) return -1;
  const hi = hex16(buf, p);
  const lo = hex16(buf, p + 4);
  return (hi | lo) < 0 ? -1 : hi * 65536 + lo;
}

/** "%04X" followed by a space at p: the value, or -1. */
function hex4(buf: Buffer, p: number, e: number): number {
  return p + 4 >= e || buf[p + 4] !== SPACE ? -1 : hex16(buf, p);
}

/** "%pI6" (8 groups of 4 hex digits joined by colons) followed by a space at p. */
function isFull6(buf: Buffer, p: number, e: number): boolean {
  if (p + 39 >= e || buf[p + 39] !== SPACE) return false;
  for (let i = 0; i < 39; i++) {
    const c = buf[p + i] as number;
    if (i % 5 === 4 ? c !== COLON : HEX[c] === -1) return false;
  }
  return true;
}

/** Feeds every chunk of a source (a file or /proc read stream, an array of Buffers) into the parser. */
export async function feed(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  parser: ConnStreamParser,
): Promise<void> {
  for await (const chunk of source) parser.write(chunk);
  parser.end();
}

/** Parses a whole (small) ip_vs_conn or ip_vs_conn_sync text into entries. */
export function parseProcIpVsConn(text: string | Uint8Array, file: ConnFile = "ip_vs_conn") {
  const entries: ConnEntry[] = [];
  const parser = new ConnStreamParser((row) => entries.push(toConnEntry(row)), file);
  parser.write(typeof text === "string" ? Buffer.from(text, "latin1") : text);
  parser.end();
  return { entries, lines: parser.lines, malformed: parser.malformed, malformedSamples: parser.malformedSamples };
}

