// Writes classic pcap (layout in ./format.ts): evidence as a small file any tool opens
// (tcpdump -r, Wireshark), and synthetic captures for tests and benchmarks.

import {
  LINKTYPE_ETHERNET, PCAP_FILE_HEADER_LENGTH, PCAP_MAGIC_NS, PCAP_MAGIC_US, PCAP_RECORD_HEADER_LENGTH,
} from "./format";

export interface PcapWriterOptions {
  snaplen?: number;
  /** Nanosecond timestamps (magic 0xa1b23c4d); default microseconds, which every tool reads. */
  nanosecond?: boolean;
  /** Big-endian file (as a SPARC or s390 host writes); default little-endian. */
  bigEndian?: boolean;
  linktype?: number;
  /** Bytes gathered before one call of the sink. Default 1 MiB. */
  chunkSize?: number;
}

export interface PcapPacket {
  data: Uint8Array;
  tsSec: number;
  /** Fraction of the second in nanoseconds (rounded down to µs in a µs file). */
  tsNsec: number;
  /** Length on the wire, if more than `data` holds. */
  origLen?: number;
}

/** Streams records to `sink` in chunks; each chunk is a fresh array the sink may keep. */
export class PcapWriter {
  private chunk: Uint8Array;
  private dv: DataView;
  private used = 0;
  private readonly le: boolean;
  private readonly nano: boolean;
  private readonly snaplen: number;

  constructor(
    private readonly sink: (bytes: Uint8Array) => void,
    options: PcapWriterOptions = {},
  ) {
    this.le = !options.bigEndian;
    this.nano = options.nanosecond === true;
    this.snaplen = options.snaplen ?? 262144;
    this.chunk = new Uint8Array(Math.max(options.chunkSize ?? 1 << 20, PCAP_FILE_HEADER_LENGTH));
    this.dv = new DataView(this.chunk.buffer);
    const dv = this.dv;
    dv.setUint32(0, this.nano ? PCAP_MAGIC_NS : PCAP_MAGIC_US, this.le);
    dv.setUint16(4, 2, this.le);
    dv.setUint16(6, 4, this.le);
    dv.setInt32(8, 0, this.le);
    dv.setUint32(12, 0, this.le);
    dv.setUint32(16, this.snaplen, this.le);
    dv.setUint32(20, options.linktype ?? LINKTYPE_ETHERNET, this.le);
    this.used = PCAP_FILE_HEADER_LENGTH;
  }

  write(p: PcapPacket): void {
    const caplen = Math.min(p.data.length, this.snaplen);
    const need = PCAP_RECORD_HEADER_LENGTH + caplen;
    if (this.used + need > this.chunk.length) {
      this.flush();
      if (need > this.chunk.length) {
        this.chunk = new Uint8Array(need);
        this.dv = new DataView(this.chunk.buffer);
      }
    }
    const o = this.used;
    this.dv.setUint32(o, p.tsSec, this.le);
    this.dv.setUint32(o + 4, this.nano ? p.tsNsec : Math.floor(p.tsNsec / 1000), this.le);
    this.dv.setUint32(o + 8, caplen, this.le);
    this.dv.setUint32(o + 12, Math.max(p.origLen ?? 0, p.data.length), this.le);
    this.chunk.set(caplen === p.data.length ? p.data : p.data.subarray(0, caplen), o + PCAP_RECORD_HEADER_LENGTH);
    this.used += need;
  }

  /** Hands what is gathered to the sink (call once at the end). */
  flush(): void {
    if (this.used === 0) return;
    this.sink(this.chunk.slice(0, this.used));
    this.used = 0;
  }
}

/** A whole pcap file in memory. */
export function encodePcap(packets: Iterable<PcapPacket>, options: PcapWriterOptions = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  const w = new PcapWriter((bytes) => parts.push(bytes), options);
  for (const p of packets) w.write(p);
  w.flush();
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let o = 0;
  for (const part of parts) {
    out.set(part, o);
    o += part.length;
  }
  return out;
}
