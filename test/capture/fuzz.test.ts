// Fuzzing: 100,000+ damaged and random inputs through every decoder and the pcap reader. Nothing may throw
// or hang, every "OK" must point inside the bytes it was given, and the tally shows what could not be
// decoded. Seeded, so a failure replays.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { decodeArp, newArp } from "@/server/capture/decode/arp";
import { MALFORMED, OK, STATUS_NAMES, TRUNCATED, UNSUPPORTED, type DecodeStatus } from "@/server/capture/decode/bytes";
import { decodeEthernet, newEthernet } from "@/server/capture/decode/ethernet";
import { decodeIpip } from "@/server/capture/decode/ipip";
import { decodeIPv4, newIPv4 } from "@/server/capture/decode/ipv4";
import { decodeIPv6, newIPv6 } from "@/server/capture/decode/ipv6";
import { L_ARP, L_IPV4, L_IPV6, L_TCP, L_UDP, decodePacket, newDecodedPacket } from "@/server/capture/decode/packet";
import { decodeTcp, newTcp } from "@/server/capture/decode/tcp";
import { decodeUdp, newUdp } from "@/server/capture/decode/udp";
import { PcapFormatError } from "@/server/capture/pcapfile/format";
import { PcapParser } from "@/server/capture/pcapfile/reader";
import { ArpOwnershipDetector, DuplicateAddressDetector } from "@/server/diagnostics/arp-ownership";
import { CAPTURES } from "./tcpdump-text";

let seed = 0x2545f491;
function rand(n: number): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
}

const files = Object.values(CAPTURES).map((p) => new Uint8Array(readFileSync(p)));
const corpus: Uint8Array[] = [];
for (const f of files) {
  const parser = new PcapParser((r) => corpus.push(r.buf.slice(r.offset, r.offset + r.caplen)));
  parser.push(f);
  parser.finish();
}

/** A real frame with 1-4 bytes changed (mostly in the headers) and, half the time, cut short. */
function mutatedFrame(): Uint8Array {
  const f = Uint8Array.from(corpus[rand(corpus.length)]!);
  for (let k = 1 + rand(4); k > 0; k--) {
    const at = rand(4) === 0 ? rand(f.length) : rand(Math.min(f.length, 80));
    f[at] = rand(256);
  }
  return rand(2) === 0 ? f.subarray(0, rand(f.length + 1)) : f;
}

function randomBytes(): Uint8Array {
  const b = new Uint8Array(rand(129));
  for (let i = 0; i < b.length; i++) b[i] = rand(256);
  return b;
}

describe("fuzz", () => {
  it("100,000 mutated and random frames through every decoder and the ARP checks: no throw, OK stays in bounds", () => {
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
    expect(tally.byStatus.reduce((x, y) => x + y)).toBe(tally.calls);
    expect(ownership.findings().length).toBeGreaterThan(0); // mutated ARP claims the VIP from many MACs
    for (const s of [OK, TRUNCATED, MALFORMED, UNSUPPORTED]) expect(tally.byStatus[s]).toBeGreaterThan(0);
    expect(outOfBounds).toEqual([]);
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
      const parser = new PcapParser((r) => {
        if (r.offset + r.caplen > r.buf.length) tally.outOfBounds++;
      });
      try {
        for (let o = 0; o < bytes.length; ) {
          const n = 1 + rand(3000);
          parser.push(bytes.subarray(o, o + n));
          o += n;
        }
        const { stats } = parser.finish();
        tally.records += stats.records;
        tally.truncated += stats.truncated;
        tally.garbled += stats.garbled;
        tally.skippedBytes += stats.skippedBytes;
      } catch (e) {
        expect(e).toBeInstanceOf(PcapFormatError);
        tally.refused++;
      }
    }
    console.log(`fuzz pcap reader: ${JSON.stringify(tally)}`);
    expect(tally.garbled).toBeGreaterThan(0);
    expect(tally.truncated).toBeGreaterThan(0);
    expect(tally.records).toBeGreaterThan(0);
    expect(tally.outOfBounds).toBe(0);
  }, 30_000);
});
