// Benchmark: the byte-level ip_vs_conn reader against a naive split/regex reader, on the same synthetic
// 1,000,000-line file in the kernel's format, in the same process.
//   npx tsx test/ipvs/proc/conn-bench.ts [lines] [runs]
// Prints lines/s for each and the ratio. The file is fed to the byte reader in 64 KiB chunks, as a stream
// would deliver it; the naive reader gets the whole text at once (its best case).

import { loadavg } from "node:os";
import { ConnStreamParser } from "@/server/ipvs/proc/conn";
import { ConnSummarizer } from "@/server/ipvs/proc/conn-summary";
import { chunks, generateConnFile, naiveSummarize } from "./conn-generator";

const lines = Number(process.argv[2] ?? 1_000_000);
const runs = Number(process.argv[3] ?? 7);
const file = generateConnFile({ lines, seed: 42 });
console.log(`file: ${lines} entries, ${(file.length / 1e6).toFixed(1)} MB; best of ${runs} runs; load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);

/**
 * Best of `runs`, by wall time and by CPU time (user + system) of this process: on a shared machine the
 * CPU time is what the parser itself costs, the wall time also what other processes took from it.
 */
function best(label: string, runs: number, fn: () => void): number {
  let wall = Number.POSITIVE_INFINITY;
  let cpu = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    fn();
    wall = Math.min(wall, Number(process.hrtime.bigint() - t0) / 1e6);
    const c = process.cpuUsage(c0);
    cpu = Math.min(cpu, (c.user + c.system) / 1000);
  }
  const rate = (ms: number) => `${((lines / ms) * 1000 / 1e6).toFixed(2)} M lines/s`;
  console.log(`${label.padEnd(44)} wall ${wall.toFixed(1).padStart(7)} ms (${rate(wall)})  cpu ${cpu.toFixed(1).padStart(7)} ms (${rate(cpu)})`);
  return cpu;
}

let sink = 0;
const parseOnly = best("byte parser, parse + count by state", runs, () => {
  const byState = new Float64Array(64);
  const p = new ConnStreamParser((row) => {
    byState[row.stateId] = (byState[row.stateId] as number) + 1;
  });
  for (const c of chunks(file, 65536)) p.write(c);
  p.end();
  sink += p.entries + (byState[1] as number);
});
const summary = best("byte parser, full summary (sketches, maps)", runs, () => {
  const s = new ConnSummarizer("ip_vs_conn");
  for (const c of chunks(file, 65536)) s.write(c);
  sink += s.end().matched;
});
const naive = best("naive split/regex, same counts (string keys)", Math.max(1, Math.ceil(runs / 2)), () => {
  sink += naiveSummarize(file).entries;
});
console.log(`ratio naive / byte parser (CPU time): parse-only ${(naive / parseOnly).toFixed(1)}x, full summary ${(naive / summary).toFixed(1)}x`);
if (sink < 0) console.log(sink);
