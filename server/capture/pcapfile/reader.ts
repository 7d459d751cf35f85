// Streaming reader of classic pcap files: a push parser over chunks of any size, with bounded memory.
//
// Bytes go into one work buffer (1 MiB by default) and are parsed in place; what is left of a record split
// across chunks moves to the front and waits for the next chunk. A record is handed to the callback as
// (buffer, offset, caplen) inside that work buffer, valid only during the call: copy out what you keep.
//
// Damage is counted, not thrown:
//  - a file that ends inside a record (a capture that was killed) counts one `truncated` record;
//  - a record header claiming more than 262144 bytes (libpcap's limit) is `garbled`: libpcap stops there;
//    we scan forward for the next plausible record header (sane lengths and timestamp, and the header
//    after it sane too) and go on, counting the bytes skipped.
// Only a file that is not classic Ethernet pcap at all throws (PcapFormatError).

import { createReadStream } from "node:fs";
import {
  LINKTYPE_ETHERNET, MAX_CAPLEN, PCAPNG_MAGIC, PCAP_FILE_HEADER_LENGTH, PCAP_MAGIC_NS, PCAP_MAGIC_US,
  PCAP_RECORD_HEADER_LENGTH, PcapFormatError, linktypeName, type PcapHeader,
} from "./format";

export interface PcapRecord {
  /** 0-based position in the file (Wireshark's frame number is index + 1). */
  index: number;
  tsSec: number;
  /** The fraction of the second in nanoseconds, whatever the file's resolution. */
  tsNsec: number;
  caplen: number;
  origLen: number;
  /** The packet is buf[offset, offset + caplen). */
  buf: Uint8Array;
  offset: number;
}

export interface PcapStats {
  /** Records handed to the callback. */
  records: number;
  bytes: number;
  /** Records cut by the snaplen (caplen < origLen): normal, but their tails are missing. */
  snapped: number;
  /** A record the file ended inside (0 or 1). */
  truncated: number;
  /** Record headers that made no sense; each starts a resynchronisation. */
  garbled: number;
  skippedBytes: number;
}

export interface PcapReaderOptions {
  /** Work buffer size; at least twice the largest record. Default 1 MiB. */
  bufferSize?: number;
}

/** Largest plausible wire length while resynchronising (GSO packets seen on a host can exceed 64 KiB). */
const MAX_ORIG_LEN = 1 << 20;
/** A resynchronised record must lie within a day of the last good one. */
const MAX_TIME_JUMP = 86_400;

export class PcapParser {
  header: PcapHeader | null = null;
  readonly stats: PcapStats = { records: 0, bytes: 0, snapped: 0, truncated: 0, garbled: 0, skippedBytes: 0 };
  private readonly work: Uint8Array;
  private ws = 0;
  private we = 0;
  private resyncing = false;
  private lastTsSec = -1;
  private readonly rec: PcapRecord;
  private le = true;
  private fracLimit = 1e6;
  private fracScale = 1000;

  constructor(
    private readonly onRecord: (r: PcapRecord) => void,
    options: PcapReaderOptions = {},
  ) {
    const size = Math.max(options.bufferSize ?? 1 << 20, 2 * (MAX_CAPLEN + 2 * PCAP_RECORD_HEADER_LENGTH));
    this.work = new Uint8Array(size);
    this.rec = { index: 0, tsSec: 0, tsNsec: 0, caplen: 0, origLen: 0, buf: this.work, offset: 0 };
  }

  push(chunk: Uint8Array): void {
    let c = 0;
    while (c < chunk.length) {
      if (this.we === this.work.length) this.compact();
      const n = Math.min(chunk.length - c, this.work.length - this.we);
      this.work.set(chunk.subarray(c, c + n), this.we);
      this.we += n;
      c += n;
      this.parse(false);
    }
  }

  /** No more bytes: settles what is left and returns the counts. */
  finish(): { header: PcapHeader; stats: PcapStats } {
    this.parse(true);
    if (this.header === null) throw new PcapFormatError("short-header", "not a pcap file: shorter than the 24-byte pcap header");
    return { header: this.header, stats: this.stats };
  }

  private compact(): void {
    this.work.copyWithin(0, this.ws, this.we);
    this.we -= this.ws;
    this.ws = 0;
  }

  private r32(o: number): number {
    const b = this.work;
    return this.le
      ? (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0
      : ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }

  private r16(o: number): number {
    const b = this.work;
    return this.le ? b[o]! | (b[o + 1]! << 8) : (b[o]! << 8) | b[o + 1]!;
  }

  private parseHeader(eof: boolean): boolean {
    const avail = this.we - this.ws;
    if (avail >= 4) {
      this.le = true;
      const magic = this.r32(this.ws);
      if (magic === PCAPNG_MAGIC) {
        throw new PcapFormatError(
          "pcapng",
          "this is a pcapng file, which is not supported yet; convert it with `editcap -F pcap IN.pcapng OUT.pcap` or capture with `tcpdump -w` (classic pcap)",
        );
      }
      const known = [PCAP_MAGIC_US, PCAP_MAGIC_NS];
      if (known.includes(magic)) this.le = true;
      else if (known.includes(swap32(magic))) this.le = false;
      else throw new PcapFormatError("not-pcap", `not a pcap file (magic 0x${magic.toString(16).padStart(8, "0")})`);
      const nano = (this.le ? magic : swap32(magic)) === PCAP_MAGIC_NS;
      this.fracLimit = nano ? 1e9 : 1e6;
      this.fracScale = nano ? 1 : 1000;
    }
    if (avail < PCAP_FILE_HEADER_LENGTH) {
      if (eof) throw new PcapFormatError("short-header", "not a pcap file: shorter than the 24-byte pcap header");
      return false;
    }
    const o = this.ws;
    const versionMajor = this.r16(o + 4);
    const versionMinor = this.r16(o + 6);
    if (versionMajor !== 2) {
      throw new PcapFormatError("version", `pcap version ${versionMajor}.${versionMinor} is not supported (only 2.x)`);
    }
    const linktype = this.r32(o + 20) & 0x03ff_ffff;
    if (linktype !== LINKTYPE_ETHERNET) {
      throw new PcapFormatError(
        "linktype",
        `the capture's link type is ${linktypeName(linktype)}; only Ethernet (EN10MB, 1) is supported: capture on the LAN interface (tcpdump -i eth0), not on "any"`,
      );
    }
    this.header = {
      littleEndian: this.le,
      nanosecond: this.fracLimit === 1e9,
      versionMajor,
      versionMinor,
      snaplen: this.r32(o + 16),
      linktype,
    };
    this.ws += PCAP_FILE_HEADER_LENGTH;
    return true;
  }

  private plausible(q: number): boolean {
    const caplen = this.r32(q + 8);
    const origLen = this.r32(q + 12);
    if (caplen > MAX_CAPLEN || caplen > origLen || origLen > MAX_ORIG_LEN) return false;
    if (this.r32(q + 4) >= this.fracLimit) return false;
    return this.lastTsSec < 0 || Math.abs(this.r32(q) - this.lastTsSec) <= MAX_TIME_JUMP;
  }

  /** Skips from `p` to the next good record header, or as far as the bytes at hand allow. */
  private resync(p: number, eof: boolean): number {
    const q = this.findRecordHeader(p, eof);
    this.stats.skippedBytes += q - p;
    return q;
  }

  private findRecordHeader(p: number, eof: boolean): number {
    const we = this.we;
    for (let q = p; q + PCAP_RECORD_HEADER_LENGTH <= we; q++) {
      if (!this.plausible(q)) continue;
      const next = q + PCAP_RECORD_HEADER_LENGTH + this.r32(q + 8);
      const confirmed = next + PCAP_RECORD_HEADER_LENGTH <= we ? this.plausible(next) : eof ? next <= we : null;
      if (confirmed === null) return q; // the header after it is not here yet: wait for more bytes
      if (confirmed) {
        this.resyncing = false;
        return q;
      }
    }
    return eof ? we : Math.max(p, we - PCAP_RECORD_HEADER_LENGTH + 1);
  }

  private parse(eof: boolean): void {
    if (this.header === null && !this.parseHeader(eof)) return;
    const b = this.work;
    const rec = this.rec;
    const stats = this.stats;
    let p = this.ws;
    for (;;) {
      if (this.resyncing) {
        p = this.resync(p, eof);
        if (this.resyncing) break;
      }
      if (this.we - p < PCAP_RECORD_HEADER_LENGTH) break;
      const caplen = this.r32(p + 8);
      if (caplen > MAX_CAPLEN) {
        stats.garbled++;
        stats.skippedBytes++;
        this.resyncing = true;
        p++;
        continue;
      }
      if (this.we - p < PCAP_RECORD_HEADER_LENGTH + caplen) break;
      rec.index = stats.records++;
      rec.tsSec = this.r32(p);
      rec.tsNsec = this.r32(p + 4) * this.fracScale;
      rec.caplen = caplen;
      rec.origLen = this.r32(p + 12);
      rec.buf = b;
      rec.offset = p + PCAP_RECORD_HEADER_LENGTH;
      stats.bytes += caplen;
      if (caplen < rec.origLen) stats.snapped++;
      this.lastTsSec = rec.tsSec;
      this.onRecord(rec);
      p += PCAP_RECORD_HEADER_LENGTH + caplen;
    }
    if (eof && p < this.we) {
      stats.truncated++; // the file ends inside a record
      p = this.we;
    }
    this.ws = p;
  }
}

function swap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

/** A path, or any stream of byte chunks (a Node Readable, a fetch body, ...). */
export type PcapSource = string | AsyncIterable<Uint8Array>;

/** Reads a whole pcap, calling `onRecord` for each record (synchronously, with a reused object). */
export async function readPcap(
  source: PcapSource,
  onRecord: (r: PcapRecord) => void,
  options: PcapReaderOptions = {},
): Promise<{ header: PcapHeader; stats: PcapStats }> {
  const parser = new PcapParser(onRecord, options);
  const chunks = typeof source === "string" ? createReadStream(source, { highWaterMark: 256 * 1024 }) : source;
  for await (const chunk of chunks) parser.push(chunk as Uint8Array);
  return parser.finish();
}

/** Seconds since the epoch as a number (µs-exact for today's dates; ns are rounded). */
export function recordTime(r: Pick<PcapRecord, "tsSec" | "tsNsec">): number {
  return r.tsSec + r.tsNsec / 1e9;
}
