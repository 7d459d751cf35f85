// Fuzzing: 100,000+ damaged and random inputs through every decoder and the pcap reader. Nothing may throw
// (the reader: only PcapFormatError, for a file that is not Ethernet pcap at all) or hang (each test has a
// time bound well under vitest's timeout), every "OK" must point inside the bytes it was given, and the tally
// (printed) shows what could not be decoded. Seeded, so a failure replays.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { decodeArp, newArp } from "@/server/capture/decode/arp";
import { MALFORMED, OK, STATUS_NAMES, TRUNCATED, UNSUPPORTED, type DecodeStatus } from "@/server/capture/decode/bytes";
import { decodeEthernet, newEthernet } from "@/server/capture/decode/ethernet";
import { decodeIpip } from "@/server/capture/decode/ipip";
import { decodeIPv4, newIPv4 } from "@/server/capture/decode/ipv4";
import { decodeIPv6, newIPv6 } from "@/server/capture/decode/ipv6";
import { LAYER_NAMES, L_ARP, L_IPV4, L_IPV6, L_TCP, L_UDP, decodePacket, newDecodedPacket } from "@/server/capture/decode/packet";
import { decodeTcp, newTcp } from "@/server/capture/decode/tcp";
import { decodeUdp, newUdp } from "@/server/capture/decode/udp";
import { MAX_CAPLEN, PCAPNG_MAGIC, PCAP_MAGIC_NS, PCAP_MAGIC_US, PcapFormatError } from "@/server/capture/pcapfile/format";
import { PcapParser, type PcapRecord, type PcapStats } from "@/server/capture/pcapfile/reader";
import { ArpOwnershipDetector, DuplicateAddressDetector } from "@/server/diagnostics/arp-ownership";
import { CAPTURES, root } from "./tcpdump-text";

let seed = 0x2545f491;
function rand(n: number): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
}

// The capture tests' files, and a TUN recording of the lab (IPIP).
const files = [...Object.values(CAPTURES), `${root}test/fixtures/lab/tun-healthy/lan.pcap`].map((p) => new Uint8Array(readFileSync(p)));
/** Real frames grouped by the layers they decode to (ARP, VLAN+IPv4+UDP, IPIP, ...): a mutation starts from a
 *  group picked uniformly, so that rare kinds (IPv6, UDP, IPIP) are fuzzed as much as the TCP bulk. */
const groups = new Map<number, Uint8Array[]>();
for (const f of files) {
  const d = newDecodedPacket();
  const parser = new PcapParser((r) => {
    decodePacket(r.buf, r.offset, r.offset + r.caplen, d);
    let g = groups.get(d.layers);
    if (g === undefined) groups.set(d.layers, (g = []));
    g.push(r.buf.slice(r.offset, r.offset + r.caplen));
  });
  parser.push(f);
  parser.finish();
}
const kinds = [...groups.values()];
const corpus = kinds.flat();

/** A real frame with 1-4 bytes changed (mostly in the headers) and, half the time, cut short. */
function mutatedFrame(): Uint8Array {
  const kind = kinds[rand(kinds.length)]!;
  const f = Uint8Array.from(kind[rand(kind.length)]!);
  for (let k = 1 + rand(4); k > 0; k--) {
    const at = rand(4) === 0 ? rand(f.length) : rand(Math.min(f.length, 80));
    f[at] = rand(256);
  }
  return rand(2) === 0 ? f.subarray(0, rand(f.length + 1)) : f;
}

/** A new reader fed `bytes` in random chunks of 1 to maxChunk bytes: its counts, or the PcapFormatError it
 *  threw (anything else thrown fails the test). */
function feed(bytes: Uint8Array, maxChunk: number, onRecord: (r: PcapRecord) => void): PcapStats | PcapFormatError {
  const parser = new PcapParser(onRecord);
  try {
    for (let o = 0; o < bytes.length; ) {
      const n = 1 + rand(maxChunk);
      parser.push(bytes.subarray(o, o + n));
      o += n;
    }
    return parser.finish().stats;
  } catch (e) {
    if (e instanceof PcapFormatError) return e;
    throw e;
  }
}

function randomBytes(): Uint8Array {
  const b = new Uint8Array(rand(129));
  for (let i = 0; i < b.length; i++) b[i] = rand(256);
  return b;
}

describe("fuzz", () => {
  it("100,000 mutated and random frames through every decoder and the ARP checks: no throw, OK stays in bounds", () => {
    const started = performance.now();
    const tally = { calls: 0, byStatus: [0, 0, 0, 0], inputs: 0 };
    const count = (s: DecodeStatus) => {
      tally.calls++;
      tally.byStatus[s]!++;
    };
    const p = newDecodedPacket();
    const e = newEthernet();
    const a = newArp();
    const v4 = newIPv4();
    const inner = newIPv4();
    const v6 = newIPv6();
    const t = newTcp();
    const u = newUdp();
    const ownership = new ArpOwnershipDetector({
      vips: [{ address: "192.0.2.100", mode: "dr" }],
      directors: [{ ip: "192.0.2.1", mac: "02:00:00:00:00:01" }],
      realServers: [{ ip: "192.0.2.12" }],
    });
    const duplicates = new DuplicateAddressDetector();
    const outOfBounds: string[] = [];
    /** Packets in which the whole-packet decoder reached each layer (whatever the status). */
    const reached: Record<string, number> = {};
    let input = 0;
    const within = (lo: number, x: number, hi: number) => {
      if (!(lo <= x && x <= hi) && outOfBounds.length < 10) outOfBounds.push(`input ${input}: ${lo} <= ${x} <= ${hi}`);
    };
    for (let i = 0; i < 100_000; i++) {
      const b = i % 5 < 3 ? mutatedFrame() : randomBytes();
      const end = b.length;
      input = i;
      tally.inputs++;
      const s = decodePacket(b, 0, end, p);
      count(s);
      for (const [bit, name] of LAYER_NAMES) if (p.layers & bit) reached[name] = (reached[name] ?? 0) + 1;
      if (s === OK) {
        if (p.layers & L_IPV4) within(p.ip4.payloadOffset, p.ip4.payloadEnd, end);
        if (p.layers & L_IPV6) within(p.ip6.payloadOffset, p.ip6.payloadEnd, end);
        if (p.layers & L_TCP) within(p.tcp.payloadOffset, p.tcp.payloadEnd, end);
        if (p.layers & L_UDP) within(p.udp.payloadOffset, p.udp.payloadEnd, end);
        if (p.layers & L_ARP) {
          ownership.observe(p.arp, i, i / 1000);
          duplicates.observe(p.arp, i, i / 1000);
        }
      }
      // Each decoder on its own, where its header would be and at a random offset.
      const off = rand(end + 1);
      count(decodeEthernet(b, off, end, e));
      count(decodeArp(b, 14 <= end ? 14 : off, end, a));
      count(decodeArp(b, off, end, a));
      const s4 = decodeIPv4(b, 14 <= end ? 14 : off, end, v4);
      count(s4);
      if (s4 === OK) count(decodeIpip(b, v4, inner));
      count(decodeIPv4(b, off, end, v4));
      count(decodeIPv6(b, 14 <= end ? 14 : off, end, v6));
      count(decodeIPv6(b, off, end, v6));
      count(decodeTcp(b, 34 <= end ? 34 : off, end, t));
      count(decodeTcp(b, off, end, t));
      count(decodeUdp(b, 34 <= end ? 34 : off, end, u));
      count(decodeUdp(b, off, end, u));
    }
    console.log(
      `fuzz decoders: ${tally.inputs} inputs, ${tally.calls} decoder calls: ` +
        STATUS_NAMES.map((n, i) => `${n} ${tally.byStatus[i]}`).join(", "),
    );
    console.log(`fuzz decoders: layers reached ${JSON.stringify(reached)}`);
    for (const [, name] of LAYER_NAMES) expect(reached[name], name).toBeGreaterThan(100);
    expect(tally.byStatus.reduce((x, y) => x + y)).toBe(tally.calls);
    expect(ownership.findings().length).toBeGreaterThan(0); // mutated ARP claims the VIP from many MACs
    for (const s of [OK, TRUNCATED, MALFORMED, UNSUPPORTED]) expect(tally.byStatus[s]).toBeGreaterThan(0);
    expect(outOfBounds).toEqual([]);
    expect(performance.now() - started).toBeLessThan(15_000); // no hang: about 0.3 s here
  }, 30_000);

  it("400 damaged pcap files, fed in random chunks: no throw but PcapFormatError, every record in bounds", () => {
    const tally = { files: 0, refused: 0, records: 0, truncated: 0, garbled: 0, skippedBytes: 0, outOfBounds: 0 };
    for (let i = 0; i < 400; i++) {
      const base = files[rand(files.length)]!;
      let bytes: Uint8Array;
      if (i % 4 === 3) {
        // A valid header, then noise.
        bytes = new Uint8Array(24 + rand(20_000));
        bytes.set(base.subarray(0, 24));
        for (let k = 24; k < bytes.length; k++) bytes[k] = rand(256);
      } else {
        bytes = Uint8Array.from(base);
        for (let k = rand(8); k > 0; k--) bytes[rand(bytes.length)] = rand(256); // anywhere, header included
        if (rand(2) === 0) bytes = bytes.subarray(0, rand(bytes.length + 1));
        if (rand(3) === 0) {
          const at = rand(bytes.length + 1);
          const junk = Uint8Array.from({ length: rand(600) }, () => rand(256));
          const joined = new Uint8Array(bytes.length + junk.length);
          joined.set(bytes.subarray(0, at));
          joined.set(junk, at);
          joined.set(bytes.subarray(at), at + junk.length);
          bytes = joined;
        }
      }
      tally.files++;
      const stats = feed(bytes, 3000, (r) => {
        if (r.offset + r.caplen > r.buf.length) tally.outOfBounds++;
      });
      if (stats instanceof PcapFormatError) tally.refused++;
      else {
        tally.records += stats.records;
        tally.truncated += stats.truncated;
        tally.garbled += stats.garbled;
        tally.skippedBytes += stats.skippedBytes;
      }
    }
    console.log(`fuzz pcap reader: ${JSON.stringify(tally)}`);
    expect(tally.garbled).toBeGreaterThan(0);
    expect(tally.truncated).toBeGreaterThan(0);
    expect(tally.records).toBeGreaterThan(0);
    expect(tally.outOfBounds).toBe(0);
  }, 30_000);

  it("3,000 crafted pcap files (short headers, wrong magic, huge caplen, snaplen mismatch): refused or read, never thrown otherwise", () => {
    const started = performance.now();
    const tally = {
      files: 0, refused: {} as Record<string, number>, records: 0, truncated: 0, garbled: 0, snapped: 0,
      beyondSnaplen: 0, outOfBounds: 0,
    };
    const frame = () => corpus[rand(corpus.length)]!;
    /** A file: header fields, then records (caplen/origLen may lie), little- or big-endian. */
    const file = (h: { magic: number; major: number; snaplen: number; linktype: number; le: boolean }, recs: { caplen: number; origLen: number; data: Uint8Array; tsSec: number; frac: number }[]) => {
      const size = 24 + recs.reduce((n, r) => n + 16 + r.data.length, 0);
      const b = new Uint8Array(size);
      const dv = new DataView(b.buffer);
      dv.setUint32(0, h.magic, h.le);
      dv.setUint16(4, h.major, h.le);
      dv.setUint16(6, 4, h.le);
      dv.setUint32(16, h.snaplen, h.le);
      dv.setUint32(20, h.linktype, h.le);
      let o = 24;
      for (const r of recs) {
        dv.setUint32(o, r.tsSec, h.le);
        dv.setUint32(o + 4, r.frac, h.le);
        dv.setUint32(o + 8, r.caplen, h.le);
        dv.setUint32(o + 12, r.origLen, h.le);
        b.set(r.data, o + 16);
        o += 16 + r.data.length;
      }
      return b;
    };
    const good = (data = frame()) => ({ caplen: data.length, origLen: data.length, data, tsSec: 1_795_253_400 + rand(3), frac: rand(1_000_000) });
    const HUGE = [MAX_CAPLEN + 1, MAX_CAPLEN + 1 + rand(1_000_000), 0x7fffffff, 0xffffffff];
    let snaplen = 0;
    for (let i = 0; i < 3000; i++) {
      const le = rand(4) !== 0;
      const header = { magic: rand(2) ? PCAP_MAGIC_US : PCAP_MAGIC_NS, major: 2, snaplen: 262144, linktype: 1, le };
      const recs = Array.from({ length: 1 + rand(6) }, () => good());
      let bytes: Uint8Array;
      switch (i % 6) {
        case 0: // a file cut anywhere in its first 60 bytes: inside the file header or the first record
          bytes = file(header, recs).subarray(0, rand(61));
          break;
        case 1: // wrong magic: random, pcapng's, or a byte of the right one changed; wrong version or link type
          switch (rand(3)) {
            case 0: header.magic = [rand(2 ** 32), PCAPNG_MAGIC, header.magic ^ (1 << rand(32))][rand(3)]! >>> 0; break;
            case 1: header.major = [0, 1, 3, 4, rand(65536)][rand(5)]!; break;
            default: header.linktype = [0, 101, 113, 276, rand(2 ** 32)][rand(5)]! >>> 0;
          }
          bytes = file(header, recs);
          break;
        case 2: { // a record whose caplen is beyond libpcap's limit, among good ones
          const at = rand(recs.length);
          recs[at] = { ...recs[at]!, caplen: HUGE[rand(HUGE.length)]! };
          bytes = file(header, recs);
          break;
        }
        case 3: // snaplen mismatch: records longer than the header's snaplen, or caplen > origLen
          header.snaplen = rand(100);
          snaplen = header.snaplen;
          for (const r of recs) if (rand(2)) r.origLen = rand(r.caplen);
          bytes = file(header, recs);
          break;
        case 4: { // caplen shorter or longer than the bytes that follow (the next header starts mid-frame)
          const at = rand(recs.length);
          recs[at] = { ...recs[at]!, caplen: Math.max(0, recs[at]!.caplen + rand(200) - 100) };
          bytes = file(header, recs);
          if (rand(2)) bytes = bytes.subarray(0, rand(bytes.length + 1));
          break;
        }
        default: { // a good header, then records with random bytes in their headers
          const b = file(header, recs);
          for (let k = 1 + rand(6); k > 0; k--) b[24 + rand(b.length - 24)] = rand(256);
          bytes = b;
        }
      }
      tally.files++;
      const stats = feed(bytes, bytes.length, (r) => {
        if (r.offset < 0 || r.offset + r.caplen > r.buf.length) tally.outOfBounds++;
        if (i % 6 === 3 && r.caplen > snaplen) tally.beyondSnaplen++;
        decodePacket(r.buf, r.offset, r.offset + r.caplen, newDecodedPacketOnce);
      });
      if (stats instanceof PcapFormatError) tally.refused[stats.problem] = (tally.refused[stats.problem] ?? 0) + 1;
      else {
        tally.records += stats.records;
        tally.truncated += stats.truncated;
        tally.garbled += stats.garbled;
        tally.snapped += stats.snapped;
      }
    }
    console.log(`fuzz pcap headers: ${JSON.stringify(tally)}`);
    for (const problem of ["short-header", "not-pcap", "pcapng", "version", "linktype"]) expect(tally.refused[problem], problem).toBeGreaterThan(0);
    expect(tally.garbled).toBeGreaterThan(0); // the huge caplens, each skipped over
    expect(tally.truncated).toBeGreaterThan(0);
    expect(tally.beyondSnaplen).toBeGreaterThan(0); // read as they are: the bytes are there
    expect(tally.outOfBounds).toBe(0);
    expect(performance.now() - started).toBeLessThan(15_000);
  }, 30_000);
});

const newDecodedPacketOnce = newDecodedPacket();
