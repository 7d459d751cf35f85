// Part c of the IPVS benchmark: the user-space parse alone of a 1,000,000-line /proc/net/ip_vs_conn, built
// from lines the real kernel printed, against the naive split/regex reader, in the same process.
//
// The file: every entry line of a table recorded in the lab (the UDP flood of part b) and of the recorded
// fixtures (TCP states, persistence templates, IPv6: test/fixtures/), repeated until there are N lines. On
// each repetition an IPv4 client address is rewritten in place (its 8 hex digits are a fixed-width field), so
// the lines stay byte-for-byte in the kernel's format ("%-3s %08X %04X ...") while the clients differ as on a
// real director. Runnable on its own:  npx tsx bench/ipvs/parse.ts RECORDED_FILE [lines] [runs]
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ConnStreamParser } from "@/server/ipvs/proc/conn";
import { ConnSummarizer } from "@/server/ipvs/proc/conn-summary";
import { CONN_HEADER, chunks, naiveSummarize } from "@/test/ipvs/proc/conn-generator";
import { type Sample, type Timing, machine, summarize, timeCall } from "./measure";

const FIXTURES = join(import.meta.dirname, "../../test/fixtures");

/** Entry lines of every recorded ip_vs_conn fixture (not the _sync ones). */
export function fixtureConnLines(root = FIXTURES): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith("ip_vs_conn.txt")) out.push(...entryLines(readFileSync(p, "latin1")));
    }
  };
  walk(root);
  return out;
}

export function entryLines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "" && !l.startsWith("Pro "));
}

const HEX8 = /^[0-9A-F]{8}$/;

/** The recorded lines repeated to `lines` entries, IPv4 clients rewritten per repetition (see the header). */
export function expandRecorded(pool: string[], lines: number): Buffer {
  if (pool.length === 0) throw new Error("no recorded lines to expand");
  const bytes = pool.map((l) => Buffer.from(`${l}\n`, "latin1"));
  const ipv4Client = bytes.map((b) => HEX8.test(b.toString("latin1", 4, 12)));
  const size = bytes.reduce((a, b) => a + b.length, 0) * Math.ceil(lines / pool.length) + CONN_HEADER.length;
  const out = Buffer.allocUnsafe(size);
  let at = out.write(CONN_HEADER, 0, "latin1");
  for (let i = 0; i < lines; i++) {
    const k = i % pool.length;
    const line = bytes[k] as Buffer;
    line.copy(out, at);
    const round = Math.floor(i / pool.length);
    if (round > 0 && ipv4Client[k]) {
      // 203.0.113.0 and up by repetition (synthetic text only: nothing is ever sent to these addresses).
      const client = (0xcb007100 + (parseInt(line.toString("latin1", 4, 12), 16) & 0xff) + round * 256) >>> 0;
      out.write(client.toString(16).toUpperCase().padStart(8, "0"), at + 4, "latin1");
    }
    at += line.length;
  }
  return out.subarray(0, at);
}

export interface ParseBench {
  lines: number;
  megabytes: number;
  poolLines: number;
  chunkBytes: number;
  /** Byte-level parser, counting by state: the parse alone. */
  parse: Timing;
  /** Byte-level parser feeding the full summary (states, services, real servers, top clients). */
  summary: Timing;
  /** Naive toString/split/regex reader with the same counts, string keys. */
  naive: Timing;
  entries: { parse: number; naive: number };
  machine: ReturnType<typeof machine>;
}

const CHUNK = 65536;

export async function benchParse(file: Buffer, poolLines: number, runs: number): Promise<ParseBench> {
  const lines = countLines(file) - 1; // less the header
  let parsedEntries = 0;
  let naiveEntries = 0;
  const parseRuns: Sample[] = [];
  const summaryRuns: Sample[] = [];
  const naiveRuns: Sample[] = [];
  // Interleaved, so that a change in the machine's load hits all three alike; one warm-up each first.
  for (let i = 0; i <= runs; i++) {
    const p = await timeCall(() => {
      const byState = new Float64Array(256);
      const parser = new ConnStreamParser((row) => {
        byState[row.stateId] = (byState[row.stateId] as number) + 1;
      });
      for (const c of chunks(file, CHUNK)) parser.write(c);
      parser.end();
      return parser.entries;
    });
    const s = await timeCall(() => {
      const summarizer = new ConnSummarizer("ip_vs_conn");
      for (const c of chunks(file, CHUNK)) summarizer.write(c);
      return summarizer.end().entries;
    });
    const n = await timeCall(() => naiveSummarize(file).entries);
    parsedEntries = p.value;
    naiveEntries = n.value;
    if (s.value !== p.value) throw new Error(`summary saw ${s.value} entries, parser ${p.value}`);
    if (i === 0) continue;
    parseRuns.push(p.sample);
    summaryRuns.push(s.sample);
    naiveRuns.push(n.sample);
  }
  return {
    lines,
    megabytes: Math.round(file.length / 1e5) / 10,
    poolLines,
    chunkBytes: CHUNK,
    parse: summarize(parseRuns),
    summary: summarize(summaryRuns),
    naive: summarize(naiveRuns),
    entries: { parse: parsedEntries, naive: naiveEntries },
    machine: machine(),
  };
}

function countLines(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  return n;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const recorded = process.argv[2];
  if (!recorded) throw new Error("usage: parse.ts RECORDED_IP_VS_CONN [lines] [runs]");
  const pool = [...entryLines(readFileSync(recorded, "latin1")), ...fixtureConnLines()];
  const lines = Number(process.argv[3] ?? 1_000_000);
  const r = await benchParse(expandRecorded(pool, lines), pool.length, Number(process.argv[4] ?? 5));
  console.log(JSON.stringify(r, null, 1));
}
