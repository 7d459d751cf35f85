// Where the agent's ipvs.counters time goes, in the lab guest (needs IPVS): the parts of one read timed apart,
// beside `ipvsadm -Ln --stats` on the same table, and a CPU profile of the whole op.
//   node --import tsx bench/dashboard/agent-profile.ts [--services 1000] [--reals 10] [--runs 15]
import { writeFileSync, mkdirSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { join } from "node:path";

import { openIpvsSnapshotClient } from "@/server/kernel/genl/ipvs";
import { encodeCountersFrame, readIpvsCountersData, type CountersAgentState } from "@/server/live/counters";
import { readSnapshot } from "@/server/ipvs/snapshot/model";
import { encodeLine } from "@/server/agent/protocol";

import { median, runTool } from "../ipvs/measure";
import { servicesRules } from "../ipvs/tables";
import { numberOption } from "../options";

const SERVICES = numberOption("services", 1000);
const REALS = numberOption("reals", 10);
const RUNS = numberOption("runs", 15);
const ARTIFACTS = process.env.LAB_ARTIFACTS ?? "/tmp/bench-dashboard";
mkdirSync(ARTIFACTS, { recursive: true });

const load = runTool(["sh", "-c", "ipvsadm -C && ipvsadm-restore"], { input: servicesRules(SERVICES, REALS) });
if (load.status !== 0) throw new Error(`ipvsadm-restore failed: ${load.stderr}`);

const cpu = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const parts = { read: [] as number[], encode: [] as number[], line: [] as number[], op: [] as number[], opCpu: [] as number[], ipvsadm: [] as number[], ipvsadmCpu: [] as number[] };
const cache: CountersAgentState = { last: null };
let version: string | null = null;
for (let i = 0; i <= RUNS; i++) {
  const c = openIpvsSnapshotClient();
  let t0 = performance.now();
  const snap = await readSnapshot(c);
  c.close();
  const tRead = performance.now() - t0;
  t0 = performance.now();
  const frame = encodeCountersFrame(snap, version, 0, cache);
  const tEnc = performance.now() - t0;
  version = frame.version;
  t0 = performance.now();
  const line = encodeLine({ id: 1, ok: true, output: { available: true, frame } });
  const tLine = performance.now() - t0;
  t0 = performance.now();
  const c0 = cpu();
  const r = await readIpvsCountersData(openIpvsSnapshotClient, version);
  if (r.available) encodeLine({ id: 1, ok: true, output: r });
  const tOp = performance.now() - t0;
  const opCpu = cpu() - c0;
  const ipv = runTool(["ipvsadm", "-Ln", "--stats"]);
  if (i === 0) {
    console.log(`line ${(line.length / 1024).toFixed(0)} KiB`);
    continue;
  }
  parts.read.push(tRead);
  parts.encode.push(tEnc);
  parts.line.push(tLine);
  parts.op.push(tOp);
  parts.opCpu.push(opCpu);
  parts.ipvsadm.push(ipv.wallMs);
  parts.ipvsadmCpu.push(ipv.cpuMs);
}
for (const [k, v] of Object.entries(parts)) console.log(`${k}: median ${median(v).toFixed(1)} ms`);

const session = new Session();
session.connect();
await session.post("Profiler.enable");
await session.post("Profiler.setSamplingInterval", { interval: 500 });
await session.post("Profiler.start");
for (let i = 0; i < RUNS; i++) {
  const r = await readIpvsCountersData(openIpvsSnapshotClient, version);
  if (r.available) encodeLine({ id: 1, ok: true, output: r });
}
const { profile } = await session.post("Profiler.stop");
const file = join(ARTIFACTS, "agent-counters.cpuprofile");
writeFileSync(file, JSON.stringify(profile));
console.log(`profile: ${file}`);
runTool(["ipvsadm", "-C"]);
process.exit(0);
