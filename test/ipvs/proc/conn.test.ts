import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { type ConnEntry, ConnStreamParser, SCTP_STATES, TCP_STATES, parseProcIpVsConn, toConnEntry } from "@/server/ipvs/proc/conn";
import { CONN_HEADER, CONN_SYNC_HEADER, chunks, generateConnFile } from "./conn-generator";

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/cases/${name}`, import.meta.url), "utf8");

/** ipvsadm -Lnc rows as "proto state client virtual dest". */
function ipvsadmLnc(text: string): string[] {
  return text
    .split("\n")
    .filter((l) => /^(TCP|UDP|SCTP|IP)\s/.test(l))
    .map((l) => {
      const [pro, , state, source, virtual, dest] = l.trim().split(/\s+/);
      return `${pro} ${state} ${source} ${virtual} ${dest}`;
    })
    .sort();
}

const asLnc = (e: ConnEntry) =>
  `${e.protocol} ${e.state} ${e.clientAddress}:${e.clientPort} ${e.virtualAddress}:${e.virtualPort} ${e.destAddress}:${e.destPort}`;

// A small file with every shape the kernel prints: IPv4, IPv6, IPv4 client with an IPv6 destination
// (tunnel to the other family), a SIP persistence engine column, templates (IP and port 0), SCTP
// (4-letter protocol), a long SCTP state, an unknown protocol number.
const RICH = [
  CONN_HEADER.trimEnd(),
  "TCP CB007132 83AA C0000264 0050 C000020C 0050 ESTABLISHED     899",
  "UDP 2001:0db8:000c:0000:0000:0000:0000:0032 A1B2 2001:0db8:0001:0000:0000:0000:0000:0064 0035 2001:0db8:0002:0000:0000:0000:0000:000b 0035 UDP             299",
  "TCP CB007133 1F90 C0000264 0050 2001:0db8:0002:0000:0000:0000:0000:000c 0050 SYN_RECV         59",
  "UDP CB007134 13C4 C0000264 13C4 C000020B 13C4 UDP             180 sip 1-2@192.0.2.5 with spaces",
  "IP  CB007100 0000 00000007 0000 C000020B 0000 NONE            300",
  "TCP CB007135 0000 C0000264 0050 C000020B 0050 ASSURED         360",
  "SCTP CB007136 0B59 C0000264 0B59 C000020B 0B59 S-ACK-SENT       60",
  "IP_51 CB007137 0000 C0000264 0000 C000020B 0000 ERR!              5",
  "",
].join("\n");

describe("ConnStreamParser (ip_vs_conn_seq_show)", () => {
  it("decodes the real DR snapshot to what ipvsadm -Lnc showed", () => {
    const parsed = parseProcIpVsConn(fixture("dr/dr-healthy.proc.ip_vs_conn.txt"));
    expect(parsed.malformed).toBe(0);
    expect(parsed.entries).toHaveLength(30);
    expect(parsed.entries.map(asLnc).sort()).toEqual(ipvsadmLnc(fixture("dr/dr-healthy.ipvsadm-Lnc.txt")));
    expect(parsed.entries[0]).toEqual({
      protocol: "TCP",
      family: 4,
      clientAddress: "203.0.113.50",
      clientPort: 0x83aa,
      virtualAddress: "192.0.2.100",
      virtualPort: 80,
      destAddress: "192.0.2.12",
      destFamily: 4,
      destPort: 80,
      state: "FIN_WAIT",
      expires: 107,
      template: false,
    });
  });

  it("decodes the real DR ip_vs_conn_sync snapshot with its origin column", () => {
    const sync = parseProcIpVsConn(fixture("dr/dr-healthy.proc.ip_vs_conn_sync.txt"), "ip_vs_conn_sync");
    const conn = parseProcIpVsConn(fixture("dr/dr-healthy.proc.ip_vs_conn.txt"));
    expect(sync.malformed).toBe(0);
    expect(sync.entries.every((e) => e.origin === "LOCAL")).toBe(true);
    expect(sync.entries.map(asLnc)).toEqual(conn.entries.map(asLnc));
  });

  it("reads IPv6, mixed-family, PE data, templates, SCTP and odd protocol lines", () => {
    const { entries, malformed } = parseProcIpVsConn(RICH);
    expect(malformed).toBe(0);
    expect(entries.map((e) => [e.protocol, e.state, e.template])).toEqual([
      ["TCP", "ESTABLISHED", false],
      ["UDP", "UDP", false],
      ["TCP", "SYN_RECV", false],
      ["UDP", "UDP", false],
      ["IP", "NONE", true],
      ["TCP", "ASSURED", true],
      ["SCTP", "S-ACK-SENT", false],
      ["IP_51", "ERR!", false],
    ]);
    expect(entries[1]).toMatchObject({
      family: 6,
      clientAddress: "2001:db8:c::32",
      clientPort: 0xa1b2,
      virtualAddress: "2001:db8:1::64",
      destAddress: "2001:db8:2::b",
      destFamily: 6,
      expires: 299,
    });
    expect(entries[2]).toMatchObject({ family: 4, destFamily: 6, destAddress: "2001:db8:2::c", virtualAddress: "192.0.2.100" });
    expect(entries[3]).toMatchObject({ peName: "sip", peData: "1-2@192.0.2.5 with spaces", expires: 180 });
    // A fwmark template carries the fwmark as its virtual address.
    expect(entries[4]).toMatchObject({ virtualAddress: "0.0.0.7", clientPort: 0, virtualPort: 0 });
  });

  it("knows every state name the kernel prints", () => {
    const states = [...TCP_STATES, ...SCTP_STATES, "UDP", "ASSURED", "ERR!", "?"];
    const text = states.map((s, i) => `TCP CB007132 ${(1000 + i).toString(16).toUpperCase().padStart(4, "0")} C0000264 0050 C000020C 0050 ${s.padEnd(11)} ${String(i).padStart(7)}\n`).join("");
    const p = new ConnStreamParser(() => {});
    p.write(Buffer.from(text));
    p.end();
    expect(p.malformed).toBe(0);
    // Known names are in the table from the start: none was added while reading.
    expect(p.states.names).toEqual(expect.arrayContaining(states));
    expect(p.states.names).toHaveLength(new Set(states.concat("NONE", "ASSURED")).size);
  });

  it("counts malformed lines with their numbers and goes on", () => {
    const text = [
      CONN_HEADER.trimEnd(),
      "TCP CB007132 83AA C0000264 0050 C000020C 0050 FIN_WAIT        107",
      "TCP CB00713 83AA C0000264 0050 C000020C 0050 FIN_WAIT        107",
      "TCP CB007132 83AA C0000264 0050 C000020C 0050 FIN_WAIT",
      "garbage",
      "TCP CB007132 83AZ C0000264 0050 C000020C 0050 FIN_WAIT        107",
      "TCP CB007132 83AA C0000264 0050 C000020C 0050 FIN_WAIT        107",
    ].join("\n");
    const r = parseProcIpVsConn(text);
    expect(r.entries).toHaveLength(2);
    expect(r.malformed).toBe(4);
    expect(r.malformedSamples.map((m) => [m.line, m.reason])).toEqual([
      [3, "bad client address"],
      [4, "no expiry"],
      [5, "no protocol"],
      [6, "bad client port"],
    ]);
    expect(r.lines).toBe(7);
  });

  it("skips an over-long line once and recovers at the next newline", () => {
    const p = new ConnStreamParser(() => {});
    p.write(Buffer.from("TCP "));
    for (let i = 0; i < 10; i++) p.write(Buffer.alloc(1000, 65));
    p.write(Buffer.from("\nTCP CB007132 83AA C0000264 0050 C000020C 0050 FIN_WAIT        107\n"));
    p.end();
    expect([p.entries, p.malformed, p.lines]).toEqual([1, 1, 2]);
  });
});

// Thousands of parses each: allow for a loaded machine.
describe("chunk boundaries", { timeout: 60_000 }, () => {
  const collect = (parts: Iterable<Uint8Array>, file: "ip_vs_conn" | "ip_vs_conn_sync" = "ip_vs_conn") => {
    const out: ConnEntry[] = [];
    const p = new ConnStreamParser((row) => out.push(toConnEntry(row)), file);
    for (const part of parts) p.write(part);
    p.end();
    return { out, malformed: p.malformed, lines: p.lines };
  };

  it("gives the same entries for a split at every byte offset", () => {
    const whole = Buffer.from(RICH);
    const expected = collect([whole]);
    expect(expected.out).toHaveLength(8);
    for (let i = 0; i <= whole.length; i++) {
      // The caller may reuse its buffer after write(): simulate it by overwriting the first part.
      const first = Buffer.from(whole.subarray(0, i));
      const second = Buffer.from(whole.subarray(i));
      const got = (() => {
        const out: ConnEntry[] = [];
        const p = new ConnStreamParser((row) => out.push(toConnEntry(row)));
        p.write(first);
        first.fill(0x58);
        p.write(second);
        p.end();
        return { out, malformed: p.malformed, lines: p.lines };
      })();
      expect(got, `split at ${i}`).toEqual(expected);
    }
  });

  it("gives the same entries for 1-byte and 3-way splits, and without a final newline", () => {
    const whole = Buffer.from(RICH);
    const expected = collect([whole]);
    expect(collect(chunks(whole, 1))).toEqual(expected);
    for (let i = 0; i < whole.length; i += 7) {
      for (let j = i; j < whole.length; j += 11) {
        expect(collect([whole.subarray(0, i), whole.subarray(i, j), whole.subarray(j)]).out).toEqual(expected.out);
      }
    }
    const noFinalNewline = whole.subarray(0, whole.length - 1);
    expect(collect(chunks(noFinalNewline, 5)).out).toEqual(expected.out);
  });

  it("does the same for ip_vs_conn_sync", () => {
    const sync = generateConnFile({ lines: 40, seed: 3, sync: true, ipv6Share: 0.3, templateShare: 0.2 });
    expect(sync.subarray(0, CONN_SYNC_HEADER.length).toString()).toBe(CONN_SYNC_HEADER);
    const expected = collect([sync], "ip_vs_conn_sync");
    expect(expected.malformed).toBe(0);
    expect(expected.out).toHaveLength(40);
    expect(new Set(expected.out.map((e) => e.origin))).toEqual(new Set(["LOCAL", "SYNC"]));
    for (let i = 0; i <= sync.length; i += 13) {
      expect(collect([sync.subarray(0, i), sync.subarray(i)], "ip_vs_conn_sync").out).toEqual(expected.out);
    }
  });
});
