// The pcap reader and writer: both byte orders and timestamp resolutions, records split across chunks of
// any size, damaged files (cut short, garbled record headers), files that are not classic Ethernet pcap,
// and files we write read back by tcpdump exactly like the original.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { PcapFormatError } from "@/server/capture/pcapfile/format";
import { PcapParser, readPcap, type PcapRecord } from "@/server/capture/pcapfile/reader";
import { encodePcap, type PcapPacket, type PcapWriterOptions } from "@/server/capture/pcapfile/writer";
import { CAPTURES, hasTool, run, tcpdumpLines } from "./tcpdump-text";

const tmp = mkdtempSync(join(tmpdir(), "pcapfile-test-"));
const conflict = readFileSync(CAPTURES["dr-arp-conflict"]);

/** Every record, copied out (the reader's buffer is reused). */
function collect(into: PcapPacket[]) {
  return (r: PcapRecord) =>
    into.push({ data: r.buf.slice(r.offset, r.offset + r.caplen), tsSec: r.tsSec, tsNsec: r.tsNsec, origLen: r.origLen });
}

/** Parses `bytes` pushed in chunks of the sizes `size()` returns. */
function parseInChunks(bytes: Uint8Array, size: () => number) {
  const packets: PcapPacket[] = [];
  const parser = new PcapParser(collect(packets));
  for (let o = 0; o < bytes.length; ) {
    const n = Math.max(1, size());
    parser.push(bytes.subarray(o, o + n));
    o += n;
  }
  return { packets, ...parser.finish() };
}

function writeTmp(name: string, bytes: Uint8Array): string {
  const path = join(tmp, name);
  writeFileSync(path, bytes);
  return path;
}

describe("reading the real captures", () => {
  it.each(Object.keys(CAPTURES) as (keyof typeof CAPTURES)[])("%s: as many packets as tcpdump -r shows", async (name) => {
    const { header, stats } = await readPcap(CAPTURES[name], () => {});
    expect(stats.records).toBe(tcpdumpLines(name).length);
    expect(header).toMatchObject({ littleEndian: true, nanosecond: false, versionMajor: 2, versionMinor: 4, linktype: 1 });
  });

  it("reads a stream the same as the path, and any chunking (1 byte, random, 1 MiB) the same", async () => {
    const fromPath: PcapPacket[] = [];
    await readPcap(CAPTURES["dr-arp-conflict"], collect(fromPath));
    const fromStream: PcapPacket[] = [];
    await readPcap(Readable.from([conflict.subarray(0, 1000), conflict.subarray(1000)]), collect(fromStream));
    expect(fromStream).toEqual(fromPath);
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), 1 + (seed % 200));
    for (const size of [() => 1, random, () => 1 << 20]) {
      const r = parseInChunks(conflict, size);
      expect(r.packets).toEqual(fromPath);
      expect(r.stats).toMatchObject({ records: fromPath.length, truncated: 0, garbled: 0 });
    }
  }, 20_000);
});

describe("writing", () => {
  const original: PcapPacket[] = [];
  new PcapParser(collect(original)).push(conflict);

  it.each<[string, PcapWriterOptions]>([
    ["little-endian µs", {}],
    ["big-endian µs", { bigEndian: true }],
    ["little-endian ns", { nanosecond: true }],
    ["big-endian ns", { bigEndian: true, nanosecond: true }],
  ])("%s: reads back the same packets, and tcpdump prints it as the original", async (label, options) => {
    const bytes = encodePcap(original, options);
    const back = parseInChunks(bytes, () => 4096);
    expect(back.header).toMatchObject({ littleEndian: !options.bigEndian, nanosecond: options.nanosecond === true });
    expect(back.packets).toEqual(original);
    if (hasTool("tcpdump")) {
      const path = writeTmp(`${label.replace(/\W/g, "-")}.pcap`, bytes);
      expect(run("tcpdump", ["-nn", "-e", "-tt", "-r", path])).toBe(run("tcpdump", ["-nn", "-e", "-tt", "-r", CAPTURES["dr-arp-conflict"]]));
    }
  }, 20_000);

  it("a snaplen cuts records and keeps their wire length; the reader counts them as snapped", () => {
    const bytes = encodePcap(original, { snaplen: 60 });
    const back = parseInChunks(bytes, () => 333);
    expect(back.header.snaplen).toBe(60);
    expect(back.packets.map((p) => p.data.length)).toEqual(original.map((p) => Math.min(60, p.data.length)));
    expect(back.packets.map((p) => p.origLen)).toEqual(original.map((p) => p.data.length));
    expect(back.stats.snapped).toBe(original.filter((p) => p.data.length > 60).length);
    if (hasTool("tcpdump")) expect(run("tcpdump", ["-r", writeTmp("snap.pcap", bytes)]).split("\n").length - 1).toBe(original.length);
  });
});

describe("damaged files are counted, not thrown", () => {
  const n = tcpdumpLines("dr-arp-conflict").length;

  it("a file that ends inside a record: one truncated record, the rest read", async () => {
    for (const cut of [conflict.length - 1, conflict.length - 50, conflict.length - 80]) {
      const r = parseInChunks(conflict.subarray(0, cut), () => 512);
      expect(r.stats).toMatchObject({ records: n - 1, truncated: 1, garbled: 0 });
    }
  });

  it("a garbled record header (caplen beyond 262144): counted, skipped, reading goes on after it", () => {
    const bad = Uint8Array.from(conflict);
    const dv = new DataView(bad.buffer);
    // The 11th record header: 24-byte file header, then records of 16 + caplen bytes.
    let o = 24;
    for (let i = 0; i < 10; i++) o += 16 + dv.getUint32(o + 8, true);
    const lost = 16 + dv.getUint32(o + 8, true);
    dv.setUint32(o + 8, 0xfffffff0, true);
    const r = parseInChunks(bad, () => 700);
    expect(r.stats).toMatchObject({ records: n - 1, garbled: 1, skippedBytes: lost, truncated: 0 });
  });

  it("junk between records: one resynchronisation, nothing lost", () => {
    const junk = new Uint8Array(333).fill(0xff);
    const o = 24 + 16 + 42; // after the first record (an ARP request, 42 bytes)
    const bad = Uint8Array.from([...conflict.subarray(0, o), ...junk, ...conflict.subarray(o)]);
    const r = parseInChunks(bad, () => 64);
    expect(r.stats).toMatchObject({ records: n, garbled: 1, skippedBytes: 333 });
  });

  it("a file with only a header has no records; fewer than 24 bytes is not a pcap file", () => {
    expect(parseInChunks(conflict.subarray(0, 24), () => 5).stats.records).toBe(0);
    expect(() => parseInChunks(conflict.subarray(0, 23), () => 5)).toThrow(PcapFormatError);
    expect(() => new PcapParser(() => {}).finish()).toThrow(/shorter than the 24-byte/);
  });
});

describe("files that are not classic Ethernet pcap", () => {
  const problem = (bytes: Uint8Array) => {
    try {
      parseInChunks(bytes, () => 1000);
    } catch (e) {
      if (e instanceof PcapFormatError) return [e.problem, e.message];
      throw e;
    }
    return null;
  };

  it("pcapng is recognised and refused with a way out", () => {
    const shb = Uint8Array.from(Buffer.from("0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000", "hex"));
    expect(problem(shb)).toEqual(["pcapng", expect.stringMatching(/pcapng.*not supported yet.*editcap -F pcap/)]);
  });

  it.runIf(hasTool("editcap"))("a pcapng written by editcap is refused the same way", () => {
    const ng = join(tmp, "conflict.pcapng");
    execFileSync("editcap", ["-F", "pcapng", CAPTURES["dr-arp-conflict"], ng]);
    expect(problem(readFileSync(ng))?.[0]).toBe("pcapng");
  });

  it("another link type (Linux cooked, from tcpdump -i any) is refused by name", () => {
    const sll = Uint8Array.from(conflict.subarray(0, 24));
    new DataView(sll.buffer).setUint32(20, 113, true);
    expect(problem(sll)).toEqual(["linktype", expect.stringContaining("LINUX_SLL")]);
  });

  it("an unknown magic or version is refused", () => {
    expect(problem(Uint8Array.from(Buffer.from("this is not a capture file at all")))?.[0]).toBe("not-pcap");
    const v3 = Uint8Array.from(conflict.subarray(0, 24));
    v3[4] = 3;
    expect(problem(v3)?.[0]).toBe("version");
  });
});
