// One measured run of `lvsdash analyze` (bench/capture/run.ts starts it under /usr/bin/time -v): the command
// line's own entry point, runCli (what bin/lvsdash calls), on the benchmark's capture. Its output goes to
// stdout as the command prints it; the time spent inside runCli (after node and tsx have started) goes to
// stderr as one line "BENCH {json}".
//   node --import tsx bench/capture/measure.ts FILE RULES
import { runCli } from "@/server/cli/main";
import { DIRECTOR_ARGS } from "./generate";

const [file, rules] = process.argv.slice(2);
if (!file || !rules) throw new Error("usage: measure.ts FILE RULES");
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const code = await runCli(["analyze", file, "--rules", rules, ...DIRECTOR_ARGS, "--json"]);
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
// What the analysis keeps (its bounded per-host and per-connection state) is what is still reachable now:
// with --expose-gc, the heap after a full collection. Peak RSS also holds garbage V8 had not collected yet.
(globalThis as { gc?: () => void }).gc?.();
const retainedMiB = process.memoryUsage().heapUsed / 2 ** 20;
process.stderr.write(`BENCH ${JSON.stringify({ code, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, startupSeconds: t0 / 1000, retainedMiB })}\n`);
process.exitCode = code;
