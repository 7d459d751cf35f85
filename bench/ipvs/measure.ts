// Timing helpers shared by the IPVS benchmark's parts: wall and CPU time side by side (the machine is shared,
// so wall time alone says as much about the neighbours as about the code), medians, and running a reference
// tool under busybox `time` for its CPU time and peak memory (ru_maxrss from wait4).
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";

export interface Sample {
  wallMs: number;
  cpuMs: number;
}

/** A measurement: every run's sample and the medians. */
export interface Timing {
  runs: Sample[];
  wallMs: number;
  cpuMs: number;
  /** Peak resident set (KiB), when measured. */
  maxRssKb?: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return Number.NaN;
  return n % 2 ? (s[(n - 1) / 2] as number) : ((s[n / 2 - 1] as number) + (s[n / 2] as number)) / 2;
}

export function summarize(runs: Sample[], maxRssKb?: number): Timing {
  const t: Timing = { runs, wallMs: median(runs.map((r) => r.wallMs)), cpuMs: median(runs.map((r) => r.cpuMs)) };
  if (maxRssKb !== undefined) t.maxRssKb = maxRssKb;
  return t;
}

/** Times one call in this process: wall (hrtime) and CPU (user + system of the whole process). */
export async function timeCall<T>(fn: () => Promise<T> | T): Promise<{ sample: Sample; value: T }> {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const value = await fn();
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = process.cpuUsage(c0);
  return { sample: { wallMs, cpuMs: (c.user + c.system) / 1000 }, value };
}

export interface ToolRun extends Sample {
  userMs: number;
  systemMs: number;
  maxRssKb: number;
  status: number;
  stderr: string;
}

/**
 * Runs a command with stdout to /dev/null under `busybox time`, which reports the child's user and system
 * time (10 ms resolution) and peak RSS from wait4(). Wall time is measured here around the whole spawn, so it
 * includes starting busybox and the tool: compare with spawnBaseline().
 */
export function runTool(argv: string[], opts: { input?: string } = {}): ToolRun {
  const devnull = openSync("/dev/null", "w");
  try {
    const t0 = process.hrtime.bigint();
    const r = spawnSync("busybox", ["time", "-f", "@@time %e %U %S %M", ...argv], {
      stdio: [opts.input === undefined ? "ignore" : "pipe", devnull, "pipe"],
      input: opts.input,
      encoding: "utf8",
      maxBuffer: 64 << 20,
    });
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const stderr = r.stderr ?? "";
    const m = /@@time (\S+) (\S+) (\S+) (\d+)/.exec(stderr);
    if (!m) throw new Error(`no timing from busybox time for ${argv.join(" ")}: ${stderr.slice(-400)}`);
    return {
      wallMs,
      cpuMs: (Number(m[2]) + Number(m[3])) * 1000,
      userMs: Number(m[2]) * 1000,
      systemMs: Number(m[3]) * 1000,
      maxRssKb: Number(m[4]),
      status: r.status ?? -1,
      stderr: stderr.replace(/@@time.*\n?/, ""),
    };
  } finally {
    closeSync(devnull);
  }
}

/** What starting a trivial process through the same path costs (the floor under every tool timing). */
export function spawnBaseline(runs: number): Timing {
  const samples = Array.from({ length: runs }, () => runTool(["true"]));
  return summarize(samples, Math.max(...samples.map((s) => s.maxRssKb)));
}

/** The machine's state, for the report: load averages and CPU count. */
export function machine(): { cpus: number; loadavg: number[]; node: string } {
  return { cpus: cpus().length, loadavg: loadavg().map((l) => Math.round(l * 100) / 100), node: process.version };
}

/** Reads the CPU-time counters of the whole machine (/proc/stat): how busy the CPUs were during a span. */
export function cpuBusy(): () => { busyShare: number } {
  const read = () => {
    const first = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    const v = first.trim().split(/\s+/).slice(1).map(Number);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const total = v.reduce((a, b) => a + b, 0);
    return { idle, total };
  };
  const a = read();
  return () => {
    const b = read();
    const total = b.total - a.total;
    return { busyShare: total > 0 ? 1 - (b.idle - a.idle) / total : 0 };
  };
}

export const fmtMs = (ms: number): string => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
export const ratio = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(2)}x` : "n/a");
