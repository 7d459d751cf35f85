// npm run bench:ipvs — the host side of the IPVS benchmark:
//   1. runs bench/ipvs/run.ts in the lab guest (one run: snapshot, connection table, parse), streaming its output;
//   2. runs the parse part (c) again here, on this machine, over the same recorded table's lines: the 0.15 s
//      target is for this machine, not for the emulated guest;
//   3. writes the merged results next to the guest's, in the run's artifacts folder (bench-ipvs.json).
// Arguments after `--` go to run.ts (e.g. -- --conns 50000,150000 --runs 7).
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { benchParse, entryLines, expandRecorded, fixtureConnLines } from "./parse";
import { fmtMs, ratio } from "./measure";

const root = join(import.meta.dirname, "../..");
const dash = process.argv.indexOf("--");
const guestArgs = dash >= 0 ? process.argv.slice(dash + 1) : [];
const hostOnly = process.argv.includes("--host-only");

function runGuest(): Promise<{ code: number; artifacts: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["node_modules/tsx/dist/cli.mjs", "lab/host/cli.ts", "run", "--timeout", "1800", "--", "node", "--import", "tsx", "bench/ipvs/run.ts", ...guestArgs],
      { cwd: root, stdio: ["ignore", "inherit", "pipe"] },
    );
    let artifacts: string | null = null;
    let tail = "";
    child.stderr.on("data", (b: Buffer) => {
      process.stderr.write(b);
      tail = (tail + b.toString()).slice(-8192);
      const m = /artifacts: (\S+)/.exec(tail);
      if (m) artifacts = m[1] ?? null;
    });
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code: code ?? 1, artifacts }));
  });
}

let artifacts: string | null = null;
if (!hostOnly) {
  const g = await runGuest();
  artifacts = g.artifacts;
  if (g.code !== 0) console.error(`the guest run failed (exit ${g.code})`);
} else {
  const i = process.argv.indexOf("--host-only");
  artifacts = process.argv[i + 1] ?? null;
}

const recordedPath = artifacts ? join(artifacts, "ip_vs_conn.recorded.txt") : null;
const recorded = recordedPath && existsSync(recordedPath) ? entryLines(readFileSync(recordedPath, "latin1")) : [];
if (recorded.length === 0) console.error("no recorded table from the guest: the host parse uses the fixtures' lines only");
const pool = [...recorded, ...fixtureConnLines()];
console.log(`\n[c, host] parse alone, 1,000,000 lines from ${recorded.length} recorded + ${pool.length - recorded.length} fixture lines`);
const p = await benchParse(expandRecorded(pool, 1_000_000), pool.length, 5);
console.log(`  byte parser   wall ${fmtMs(p.parse.wallMs)} cpu ${fmtMs(p.parse.cpuMs)}   (target < 150 ms: ${p.parse.cpuMs < 150 ? "MET" : "NOT MET"} by CPU, ${p.parse.wallMs < 150 ? "MET" : "NOT MET"} by wall)`);
console.log(`  full summary  wall ${fmtMs(p.summary.wallMs)} cpu ${fmtMs(p.summary.cpuMs)}`);
console.log(`  naive         wall ${fmtMs(p.naive.wallMs)} cpu ${fmtMs(p.naive.cpuMs)}   ratio parse/naive ${ratio(p.parse.cpuMs, p.naive.cpuMs)} (CPU)`);
console.log(`  machine: ${JSON.stringify(p.machine)}`);

if (artifacts) {
  const file = join(artifacts, "bench-ipvs.json");
  const merged = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>) : {};
  merged.host = { parse: p };
  writeFileSync(file, `${JSON.stringify(merged, null, 1)}\n`);
  console.log(`results: ${file}`);
}
