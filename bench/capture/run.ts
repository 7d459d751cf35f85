// The capture analysis benchmark (`npm run bench:capture`, not part of the test suite), on this machine (no
// IPVS needed):
//
//   npx tsx bench/capture/run.ts [--packets 1000000] [--runs 3] [--skip-2x] [--skip-tshark]
//
// 1. Generates (once, cached under ~/.cache/lvs-dashboard/bench) a capture of `--packets` packets of mixed ARP,
//    DR and NAT traffic from many clients with faults (generate.ts), and one twice that size.
// 2. Times, in ONE run, each as its own process under /usr/bin/time -v (wall time, CPU time, peak RSS):
//      ours      `lvsdash analyze F --rules R --director ... --json`: the command line itself, process start
//                included: the pcap reader, the decoders, flow tracking, every detector (bin/lvsdash)
//      tshark    `tshark -r F -q -z expert`
//      tcpdump   `tcpdump -S -nn -r F > /dev/null`
//    ours `--runs` times (median), the tools once (tshark takes about 20 s and 2 GB at 1M packets). On the 2x
//    file: ours and tcpdump only, to show that our peak memory does not grow with the file.
// 3. Prints packets/s, peak RSS, and the ratios against the targets: >= 20x tshark, faster than tcpdump's
//    printing, peak RSS < 300 MB.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { RULES, generateCapture } from "./generate";

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const PACKETS = opt("--packets", 1_000_000);
const RUNS = opt("--runs", 3);
const VERSION = "v3"; // bump when generate.ts changes what it writes
const CACHE = join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "lvs-dashboard", "bench");
const MEASURE = fileURLToPath(new URL("./measure.ts", import.meta.url));
/** What the capture's faults must make the analysis report (the ids' kinds). */
const EXPECTED_KINDS = ["arp-real-server-claims-vip", "reply-via-director", "nat-syn-unanswered", "gateway-arp-unanswered"];

function capture(packets: number): string {
  mkdirSync(CACHE, { recursive: true });
  const path = join(CACHE, `capture-${packets}-${VERSION}.pcap`);
  if (!existsSync(path)) {
    const t0 = performance.now();
    generateCapture(`${path}.tmp`, packets);
    renameSync(`${path}.tmp`, path);
    console.log(`generated ${path} (${mib(statSync(path).size)}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  return path;
}

interface Measured {
  wall: number;
  cpu: number;
  rssKiB: number;
  stdout: string;
  stderr: string;
}

/** One process under /usr/bin/time -v. */
function timed(cmd: string, argv: string[], stdout: "pipe" | "ignore" = "pipe"): Measured {
  const r = spawnSync("/usr/bin/time", ["-v", cmd, ...argv], {
    encoding: "utf8", maxBuffer: 256 * 1024 * 1024, stdio: ["ignore", stdout, "pipe"],
  });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(" ")}: exit ${r.status}\n${r.stderr.slice(-2000)}`);
  const field = (name: string) => {
    const m = new RegExp(`${name}: (.*)`).exec(r.stderr);
    if (!m) throw new Error(`/usr/bin/time printed no "${name}"`);
    return m[1]!.trim();
  };
  // "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:01.23"
  const wall = field("Elapsed \\(wall clock\\) time \\(h:mm:ss or m:ss\\)").split(":").reduce((s, part) => s * 60 + Number(part), 0);
  const cpu = Number(field("User time \\(seconds\\)")) + Number(field("System time \\(seconds\\)"));
  return { wall, cpu, rssKiB: Number(field("Maximum resident set size \\(kbytes\\)")), stdout: r.stdout ?? "", stderr: r.stderr };
}

function median(xs: Measured[]): Measured {
  return [...xs].sort((a, b) => a.wall - b.wall)[Math.floor(xs.length / 2)]!;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

interface Row {
  what: string;
  packets: number;
  m: Measured;
  note?: string;
}

interface Inside {
  /** Wall and CPU time inside runCli: the analysis itself, without node's and tsx's start. */
  seconds: number;
  cpuSeconds: number;
  /** Heap still reachable after the analysis and a full GC (MiB). */
  retainedMiB: number;
}

function ours(file: string, rules: string, runs: number): { m: Measured; inside: Inside; note: string; kinds: string[] } {
  const all: Measured[] = [];
  for (let i = 0; i < runs; i++) all.push(timed(process.execPath, ["--expose-gc", "--import", "tsx", MEASURE, file, rules]));
  const m = median(all);
  const inside = JSON.parse(/BENCH (.*)/.exec(m.stderr)![1]!) as Inside;
  const result = JSON.parse(m.stdout) as { findings: { id: string; severity: string }[]; stats: { packets: number; decoded: number } };
  const kinds = [...new Set(result.findings.map((f) => f.id.slice(0, f.id.indexOf(":"))))].sort();
  const spread = all.map((x) => x.wall.toFixed(2)).join(", ");
  return {
    m, inside, kinds,
    note: `inside runCli ${inside.seconds.toFixed(2)} s wall, ${inside.cpuSeconds.toFixed(2)} s CPU ` +
      `(${Math.round(result.stats.packets / inside.seconds).toLocaleString("en")} packets/s), heap retained ${inside.retainedMiB.toFixed(0)} MiB; ` +
      `${result.stats.decoded}/${result.stats.packets} decoded, ${result.findings.length} findings (${kinds.join(", ")}); runs ${spread} s`,
  };
}

function print(rows: Row[]): void {
  const pad = (s: string, n: number) => s.padEnd(n);
  console.log(pad("", 40) + pad("wall", 10) + pad("CPU", 10) + pad("packets/s", 14) + "peak RSS");
  for (const r of rows) {
    console.log(
      pad(r.what, 40) + pad(`${r.m.wall.toFixed(2)} s`, 10) + pad(`${r.m.cpu.toFixed(2)} s`, 10) +
        pad(`${Math.round(r.packets / r.m.wall).toLocaleString("en")}`, 14) + `${(r.m.rssKiB / 1024).toFixed(0)} MiB`,
    );
    if (r.note) console.log(`    ${r.note}`);
  }
}

function main(): void {
  const rules = join(CACHE, `rules-${VERSION}.txt`);
  mkdirSync(CACHE, { recursive: true });
  writeFileSync(rules, RULES);
  const f1 = capture(PACKETS);
  const f2 = args.includes("--skip-2x") ? null : capture(PACKETS * 2);
  console.log(`\nnode ${process.version}, ${PACKETS.toLocaleString("en")} packets (${mib(statSync(f1).size)}), load ${(
    spawnSync("cat", ["/proc/loadavg"], { encoding: "utf8" }).stdout.split(" ").slice(0, 3).join(" "))}\n`);

  const o1 = ours(f1, rules, RUNS);
  const rows: Row[] = [{ what: "ours: lvsdash analyze --json", packets: PACKETS, m: o1.m, note: o1.note }];
  const tcpdump = timed("tcpdump", ["-S", "-nn", "-r", f1], "ignore");
  rows.push({ what: "tcpdump -S -nn -r F > /dev/null", packets: PACKETS, m: tcpdump });
  let tshark: Measured | null = null;
  if (!args.includes("--skip-tshark")) {
    tshark = timed("tshark", ["-r", f1, "-q", "-z", "expert"]);
    const dup = /(\d+)\s+Sequence\s+ARP\/RARP\s+Duplicate IP address configured \((192\.0\.2\.\d+)\)/.exec(tshark.stdout);
    rows.push({ what: "tshark -r F -q -z expert", packets: PACKETS, m: tshark, note: dup ? `${dup[1]} x "Duplicate IP address configured (${dup[2]})"` : undefined });
  }
  let o2: ReturnType<typeof ours> | null = null;
  if (f2 !== null) {
    o2 = ours(f2, rules, 1);
    rows.push({ what: "ours on the 2x file", packets: PACKETS * 2, m: o2.m, note: o2.note });
    rows.push({ what: "tcpdump on the 2x file", packets: PACKETS * 2, m: timed("tcpdump", ["-S", "-nn", "-r", f2], "ignore") });
  }
  print(rows);

  const missing = EXPECTED_KINDS.filter((k) => !o1.kinds.includes(k));
  console.log("\nratios: whole process (node + tsx start included) wall [CPU]; the analysis inside runCli wall [CPU]:");
  const ratio = (name: string, t: Measured, met: (x: number) => boolean, targetText: string) => {
    const whole = t.wall / o1.m.wall;
    const inside = t.wall / o1.inside.seconds;
    console.log(
      `  ${name.padEnd(16)}whole ${whole.toFixed(1)}x [${(t.cpu / o1.m.cpu).toFixed(1)}x]   analysis ${inside.toFixed(1)}x [${(t.cpu / o1.inside.cpuSeconds).toFixed(1)}x]` +
        `   target ${targetText}: whole ${met(whole) ? "met" : "MISSED"}, analysis ${met(inside) ? "met" : "MISSED"}`,
    );
  };
  if (tshark) ratio("tshark / ours", tshark, (x) => x >= 20, ">= 20x");
  ratio("tcpdump / ours", tcpdump, (x) => x > 1, "> 1x");
  const peak = Math.max(o1.m.rssKiB, o2?.m.rssKiB ?? 0) / 1024;
  console.log(`  peak RSS ours   ${(o1.m.rssKiB / 1024).toFixed(0)} MiB` + (o2 ? ` (2x file: ${(o2.m.rssKiB / 1024).toFixed(0)} MiB, ratio ${(o2.m.rssKiB / o1.m.rssKiB).toFixed(2)})` : "") +
    `   target < 300 MB: ${peak * 1.048576 < 300 ? "met" : "MISSED"}`);
  if (o2) console.log(`  heap retained after the analysis: ${o1.inside.retainedMiB.toFixed(1)} MiB, 2x file ${o2.inside.retainedMiB.toFixed(1)} MiB (the state is bounded; RSS above it is garbage not yet collected)`);
  if (tshark) console.log(`  peak RSS tshark / ours ${(tshark.rssKiB / o1.m.rssKiB).toFixed(1)}x`);
  console.log(`  findings: ${missing.length === 0 ? "every planted fault found" : `MISSING ${missing.join(", ")}`}`);
  if (missing.length > 0) process.exitCode = 1;
}

main();
