// The IPVS data layer's benchmark, one run in the lab guest (Debian's 6.1 kernel under qemu): every number is
// printed as a ratio against the reference tool measured in the same run, on the same table.
//
//   a. snapshot: IpvsClient.snapshot() (one GET_SERVICE dump + one GET_DEST dump per service) against
//      `ipvsadm -Ln --stats`, at 1,000 and 10,000 services x 4 real servers loaded with ipvsadm-restore;
//   b. connection table: one pass of the background refresher over /proc/net/ip_vs_conn (4 KiB reads into the
//      streaming summary) against `ipvsadm -Lnc > /dev/null`, with peak RSS, at two table sizes filled by
//      hping3 UDP floods (long UDP timeout); `dd bs=4096` of the same file shows the kernel's own cost;
//   c. parse alone: a 1,000,000-line ip_vs_conn built from the recorded table's lines, byte-level parser
//      against the naive split/regex reader.
//
// Started from the host by bench/ipvs/launch.ts (npm run bench:ipvs). Options: --services 1000,10000
// --conns 50000,100000 --runs 5 --conn-runs 2,1 --sockets 16,n4 --parse-lines 1000000 --parse-runs 3 --skip a,b,c
// Results: a table on stdout, JSON in $LAB_ARTIFACTS/bench-ipvs.json.
import { spawn, spawnSync, execFileSync, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openIpvsClient, type IpvsTransportOptions } from "@/server/kernel/genl/ipvs";
import { loadNativeGenl } from "@/server/kernel/genl/native";
import { type UdpSiteSpec, buildUdpSite, sh, udpFloodArgs } from "./conn-site";
import { option } from "../options";
import { servicesRules } from "./tables";
import { benchParse, entryLines, expandRecorded, fixtureConnLines, type ParseBench } from "./parse";
import {
  type Sample,
  type Timing,
  cpuBusy,
  fmtMs,
  machine,
  median,
  ratio,
  runTool,
  spawnBaseline,
  summarize,
  timeCall,
} from "./measure";

// ---------------------------------------------------------------------------------------------------------
// Options

const list = (s: string) => s.split(",").filter(Boolean).map(Number);
const SERVICE_SIZES = list(option("services", "1000,10000"));
const CONN_SIZES = list(option("conns", "50000,100000"));
const RUNS = Number(option("runs", "5"));
/** Runs at each table size (the last one repeats for larger sizes): a read of 100k entries takes minutes. */
const CONN_RUNS = list(option("conn-runs", "2,1"));
const PARSE_LINES = Number(option("parse-lines", "1000000"));
const PARSE_RUNS = Number(option("parse-runs", "3"));
const SKIP = new Set(option("skip", "").split(","));
/** Transports to time the snapshot with: "16" = 16 sockets of the main thread; "8+1w" = 8 of them and one
 *  worker thread with its own 8 (openIpvsClient({ sockets, workers })); "0+1w" = the worker's alone; "n4" = the
 *  native dump engine (native/genl) with 4 sockets (openIpvsClient({ native: { sockets: 4 } })). */
const SOCKETS = option("sockets", "16,n4").split(",").filter(Boolean);
function variantOf(spec: string): SnapshotVariant {
  const n = /^n(\d+)$/.exec(spec);
  if (n) {
    const loaded = loadNativeGenl();
    if (!loaded.ok) throw new Error(`--sockets ${spec}: the native engine is not available (${loaded.reason})`);
    return { label: `snapshot, native engine, ${n[1]} sockets`, transport: { native: { sockets: Number(n[1]) } } };
  }
  const m = /^(\d+)(?:\+(\d+)w)?$/.exec(spec);
  if (!m) throw new Error(`--sockets: "${spec}" is not N, N+Mw or nN`);
  const sockets = Number(m[1]);
  const workers = Number(m[2] ?? 0);
  const label = `snapshot, ${sockets} socket${sockets === 1 ? "" : "s"}${workers ? ` + ${workers} worker${workers === 1 ? "" : "s"}` : ""}`;
  return { label, transport: { sockets, workers } };
}
const ARTIFACTS = process.env.LAB_ARTIFACTS ?? "/tmp/bench-ipvs";
mkdirSync(ARTIFACTS, { recursive: true });

const log = (s: string) => process.stdout.write(`${s}\n`);
const shIn = (script: string, input: string) => execFileSync("sh", ["-ec", script], { encoding: "utf8", input, maxBuffer: 256 << 20 });

// ---------------------------------------------------------------------------------------------------------
// a. Snapshot against ipvsadm -Ln --stats

interface SnapshotVariant {
  label: string;
  transport: IpvsTransportOptions;
}

interface SnapshotResult {
  services: number;
  reals: number;
  loadMs: number;
  ipvsadm: Timing;
  ours: Record<string, Timing>;
  /** ours / ipvsadm, wall and CPU, per variant. */
  ratios: Record<string, { wall: number; cpu: number }>;
  busyShare: number;
}

async function benchSnapshot(n: number, variants: SnapshotVariant[]): Promise<SnapshotResult> {
  const t0 = Date.now();
  shIn("ipvsadm -C; ipvsadm-restore", servicesRules(n));
  const loadMs = Date.now() - t0;
  const clients = variants.map((v) => ({ v, client: openIpvsClient(v.transport) }));
  const busy = cpuBusy();
  const ours: Record<string, Sample[]> = Object.fromEntries(variants.map((v) => [v.label, []]));
  const tool: Sample[] = [];
  let rss = 0;
  try {
    for (let r = 0; r <= RUNS; r++) {
      // A different variant first in every round: whichever runs first after the reference tool was seen to be
      // slower, whatever it was.
      for (const { v, client } of clients.map((_, k) => clients[(k + r) % clients.length]!)) {
        const { sample, value } = await timeCall(() => client.snapshot());
        const dests = value.reduce((a, s) => a + s.destinations.length, 0);
        if (value.length !== n || dests !== 4 * n) throw new Error(`${v.label}: snapshot has ${value.length} services, ${dests} real servers; expected ${n}, ${4 * n}`);
        if (r > 0) ours[v.label]!.push(sample);
      }
      const t = runTool(["ipvsadm", "-Ln", "--stats"]);
      if (t.status !== 0) throw new Error(`ipvsadm -Ln --stats failed: ${t.stderr}`);
      if (r > 0) tool.push(t);
      rss = Math.max(rss, t.maxRssKb);
    }
  } finally {
    for (const { client } of clients) client.close();
  }
  const ipvsadm = summarize(tool, rss);
  const oursT = Object.fromEntries(Object.entries(ours).map(([k, s]) => [k, summarize(s)]));
  const ratios = Object.fromEntries(
    Object.entries(oursT).map(([k, t]) => [k, { wall: t.wallMs / ipvsadm.wallMs, cpu: t.cpuMs / Math.max(ipvsadm.cpuMs, 1e-9) }]),
  );
  return { services: n, reals: 4, loadMs, ipvsadm, ours: oursT, ratios, busyShare: busy().busyShare };
}

// ---------------------------------------------------------------------------------------------------------
// b. The connection table against ipvsadm -Lnc

const CONN_SITE: UdpSiteSpec = {
  prefix: "lvsb",
  clients: 8,
  services: [{ vip: "192.0.2.100", port: 53, reals: ["198.51.100.11", "198.51.100.12", "198.51.100.13", "198.51.100.14"] }],
};

/** Connections IPVS holds, from /proc/net/ip_vs (ActiveConn + InActConn of every real server): cheap to read,
 *  unlike ip_vs_conn. */
function connCount(): number {
  let n = 0;
  for (const line of readFileSync("/proc/net/ip_vs", "utf8").split("\n")) {
    const m = /^\s+->\s+\S+\s+\S+\s+\d+\s+(\d+)\s+(\d+)/.exec(line);
    if (m) n += Number(m[1]) + Number(m[2]);
  }
  return n;
}

/** Floods from as many client addresses as the target needs (hping3 walks the source ports: at most 65,536
 *  entries an address) until IPVS holds `target` connections, or the count stops growing. */
async function fillConnTable(target: number): Promise<{ entries: number; ms: number }> {
  const t0 = Date.now();
  const addresses = Math.min(8, Math.ceil(target / 60_000));
  const floods: ChildProcess[] = [];
  for (let i = 1; i <= addresses; i++) {
    floods.push(spawn("ip", udpFloodArgs(CONN_SITE, i, CONN_SITE.services[0]!, ["--flood"]), { stdio: "ignore" }));
  }
  let last = -1;
  let still = 0;
  try {
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      const n = connCount();
      if (n >= target) break;
      still = n === last ? still + 1 : 0;
      last = n;
      if (still >= 15) {
        log(`  (the table stopped growing at ${n} entries)`);
        break;
      }
    }
  } finally {
    for (const f of floods) if (f.pid !== undefined && f.exitCode === null) process.kill(f.pid, "SIGTERM");
    await Promise.all(floods.map((f) => (f.exitCode === null ? new Promise((r) => f.once("exit", r)) : undefined)));
  }
  await new Promise((r) => setTimeout(r, 1000));
  return { entries: connCount(), ms: Date.now() - t0 };
}

interface ChildResult extends Sample {
  userMs: number;
  systemMs: number;
  maxRssKb: number;
  rssBeforeKb: number;
  heapUsedKb: number;
  bytes: number;
  rows: number;
  entries: number;
  byState: { key: string; count: number }[];
}

function runConnChild(): ChildResult {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(import.meta.dirname, "conn-child.ts")], {
    encoding: "utf8",
    maxBuffer: 16 << 20,
  });
  if (r.status !== 0) throw new Error(`conn-child failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const line = r.stdout.trim().split("\n").pop() ?? "";
  return JSON.parse(line) as ChildResult;
}

interface ConnResult {
  entries: number;
  fillMs: number;
  bytes: number;
  ours: Timing & { rssBeforeKb: number; heapUsedKb: number; userMs: number; systemMs: number };
  ipvsadm: Timing & { userMs: number; systemMs: number };
  dd: Timing;
  ratios: { oursVsIpvsadmWall: number; oursVsIpvsadmCpu: number; ipvsadmVsDdWall: number; oursVsDdWall: number };
  busyShare: number;
}

async function benchConn(target: number, runs: number, record: string | null): Promise<ConnResult> {
  const fill = await fillConnTable(target);
  log(`  table filled: ${fill.entries} entries in ${fmtMs(fill.ms)}`);
  const busy = cpuBusy();
  const ours: ChildResult[] = [];
  const tool: ReturnType<typeof runTool>[] = [];
  const dd: ReturnType<typeof runTool>[] = [];
  for (let r = 0; r < runs; r++) {
    ours.push(runConnChild());
    const o = ours.at(-1)!;
    log(`  ours    run ${r + 1}: wall ${fmtMs(o.wallMs)} cpu ${fmtMs(o.cpuMs)} (user ${fmtMs(o.userMs)}, system ${fmtMs(o.systemMs)}) rss ${o.maxRssKb} KiB`);
    const t = runTool(["ipvsadm", "-Lnc"]); // -n is in -Lnc already: this ipvsadm refuses a second one
    if (t.status !== 0) throw new Error(`ipvsadm -Lnc failed: ${t.stderr}`);
    tool.push(t);
    log(`  ipvsadm run ${r + 1}: wall ${fmtMs(t.wallMs)} cpu ${fmtMs(t.cpuMs)} (user ${fmtMs(t.userMs)}, system ${fmtMs(t.systemMs)}) rss ${t.maxRssKb} KiB`);
  }
  const of = record ?? "/dev/null";
  const d = runTool(["dd", "if=/proc/net/ip_vs_conn", `of=${of}`, "bs=4096"]);
  dd.push(d);
  log(`  dd bs=4096: wall ${fmtMs(d.wallMs)} cpu ${fmtMs(d.cpuMs)}`);
  const oursT = {
    ...summarize(ours, Math.max(...ours.map((o) => o.maxRssKb))),
    rssBeforeKb: Math.max(...ours.map((o) => o.rssBeforeKb)),
    heapUsedKb: median(ours.map((o) => o.heapUsedKb)),
    userMs: median(ours.map((o) => o.userMs)),
    systemMs: median(ours.map((o) => o.systemMs)),
  };
  const ipvsadm = {
    ...summarize(tool, Math.max(...tool.map((t) => t.maxRssKb))),
    userMs: median(tool.map((t) => t.userMs)),
    systemMs: median(tool.map((t) => t.systemMs)),
  };
  const ddT = summarize(dd, d.maxRssKb);
  return {
    entries: ours[0]?.entries ?? 0,
    fillMs: fill.ms,
    bytes: ours[0]?.bytes ?? 0,
    ours: oursT,
    ipvsadm,
    dd: ddT,
    ratios: {
      oursVsIpvsadmWall: oursT.wallMs / ipvsadm.wallMs,
      oursVsIpvsadmCpu: oursT.cpuMs / Math.max(ipvsadm.cpuMs, 1e-9),
      ipvsadmVsDdWall: ipvsadm.wallMs / ddT.wallMs,
      oursVsDdWall: oursT.wallMs / ddT.wallMs,
    },
    busyShare: busy().busyShare,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Main

const results: {
  machine: ReturnType<typeof machine> & { where: string; kernel: string };
  spawnBaseline?: Timing;
  snapshot: SnapshotResult[];
  conn: ConnResult[];
  parse?: ParseBench;
  targets: Record<string, { met: boolean; detail: string }>;
} = {
  machine: { ...machine(), where: "lab guest (qemu TCG, 2 vCPUs)", kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim() },
  snapshot: [],
  conn: [],
  targets: {},
};
const save = () => writeFileSync(join(ARTIFACTS, "bench-ipvs.json"), `${JSON.stringify(results, null, 1)}\n`);

log(`IPVS benchmark on ${results.machine.kernel}, ${results.machine.cpus} CPUs, load ${results.machine.loadavg.join(" ")}`);
results.spawnBaseline = spawnBaseline(5);
log(`process start through busybox time (true): wall ${fmtMs(results.spawnBaseline.wallMs)}`);

const VARIANTS: SnapshotVariant[] = SOCKETS.map(variantOf);

if (!SKIP.has("a")) {
  for (const n of SERVICE_SIZES) {
    log(`\n[a] ${n} services x 4 real servers`);
    const r = await benchSnapshot(n, VARIANTS);
    results.snapshot.push(r);
    log(`  ipvsadm -Ln --stats: wall ${fmtMs(r.ipvsadm.wallMs)} cpu ${fmtMs(r.ipvsadm.cpuMs)} (load ${fmtMs(r.loadMs)} with ipvsadm-restore)`);
    for (const [k, t] of Object.entries(r.ours)) {
      log(`  ${k}: wall ${fmtMs(t.wallMs)} cpu ${fmtMs(t.cpuMs)}  = ${ratio(t.wallMs, r.ipvsadm.wallMs)} of ipvsadm's wall time`);
    }
    save();
  }
  sh("ipvsadm -C");
}

if (!SKIP.has("b")) {
  log(`\n[b] connection table`);
  buildUdpSite(CONN_SITE);
  for (const [i, n] of CONN_SIZES.entries()) {
    log(` target ${n} entries`);
    const r = await benchConn(n, CONN_RUNS[i] ?? CONN_RUNS.at(-1) ?? 1, i === 0 ? "/tmp/ip_vs_conn.recorded" : null);
    results.conn.push(r);
    save();
  }
  if (CONN_SIZES.length > 0) sh(`cp /tmp/ip_vs_conn.recorded ${ARTIFACTS}/ip_vs_conn.recorded.txt`);
}

if (!SKIP.has("c")) {
  log(`\n[c] parse alone, ${PARSE_LINES} lines`);
  let recorded: string[] = [];
  try {
    recorded = entryLines(readFileSync("/tmp/ip_vs_conn.recorded", "latin1"));
  } catch {
    log("  (no recorded table in this run: fixture lines only)");
  }
  const pool = [...recorded, ...fixtureConnLines()];
  results.parse = await benchParse(expandRecorded(pool, PARSE_LINES), pool.length, PARSE_RUNS);
  save();
}

// ---------------------------------------------------------------------------------------------------------
// Report

const lines: string[] = [];
const row = (...cols: string[]) => lines.push(cols.map((c, i) => (i === 0 ? c.padEnd(34) : c.padStart(14))).join(""));
lines.push("", "=== IPVS benchmark: medians; ratio = ours / reference (below 1 = ours faster) ===");
row("", "ours wall", "ref wall", "wall ratio", "ours cpu", "ref cpu", "cpu ratio");
for (const s of results.snapshot) {
  for (const [k, t] of Object.entries(s.ours)) {
    row(`a ${k} ${s.services}x4 vs ipvsadm -Ln --stats`, fmtMs(t.wallMs), fmtMs(s.ipvsadm.wallMs), ratio(t.wallMs, s.ipvsadm.wallMs), fmtMs(t.cpuMs), fmtMs(s.ipvsadm.cpuMs), ratio(t.cpuMs, s.ipvsadm.cpuMs));
  }
}
for (const c of results.conn) {
  row(`b summary ${c.entries} vs ipvsadm -Lnc`, fmtMs(c.ours.wallMs), fmtMs(c.ipvsadm.wallMs), ratio(c.ours.wallMs, c.ipvsadm.wallMs), fmtMs(c.ours.cpuMs), fmtMs(c.ipvsadm.cpuMs), ratio(c.ours.cpuMs, c.ipvsadm.cpuMs));
  row(`b   user CPU only`, "", "", "", fmtMs(c.ours.userMs), fmtMs(c.ipvsadm.userMs), ratio(c.ours.userMs, c.ipvsadm.userMs));
  row(`b summary ${c.entries} vs dd bs=4096`, fmtMs(c.ours.wallMs), fmtMs(c.dd.wallMs), ratio(c.ours.wallMs, c.dd.wallMs), fmtMs(c.ours.cpuMs), fmtMs(c.dd.cpuMs), ratio(c.ours.cpuMs, c.dd.cpuMs));
}
if (results.parse) {
  const p = results.parse;
  row(`c parse ${p.lines} lines vs naive`, fmtMs(p.parse.wallMs), fmtMs(p.naive.wallMs), ratio(p.parse.wallMs, p.naive.wallMs), fmtMs(p.parse.cpuMs), fmtMs(p.naive.cpuMs), ratio(p.parse.cpuMs, p.naive.cpuMs));
  row(`c full summary ${p.lines} vs naive`, fmtMs(p.summary.wallMs), fmtMs(p.naive.wallMs), ratio(p.summary.wallMs, p.naive.wallMs), fmtMs(p.summary.cpuMs), fmtMs(p.naive.cpuMs), ratio(p.summary.cpuMs, p.naive.cpuMs));
}
if (results.conn.length > 0) {
  lines.push("", "peak RSS (KiB)                       ours (node, whole process)   ipvsadm -Lnc   ours before the pass");
  for (const c of results.conn) lines.push(`  ${String(c.entries).padEnd(10)} entries ${String(c.ours.maxRssKb).padStart(24)} ${String(c.ipvsadm.maxRssKb).padStart(14)} ${String(c.ours.rssBeforeKb).padStart(22)}`);
}

// Targets
const big = results.snapshot.find((s) => s.services === Math.max(...SERVICE_SIZES));
if (big) {
  const best = Math.min(...Object.values(big.ratios).map((r) => r.wall));
  results.targets.snapshot = { met: best <= 0.5, detail: `${big.services} services: best wall ratio ${best.toFixed(2)} (target <= 0.50)` };
}
if (results.conn.length > 0) {
  const worst = Math.max(...results.conn.map((c) => c.ratios.oursVsIpvsadmWall));
  const rss = results.conn.map((c) => c.ours.maxRssKb ?? 0);
  const growth = (Math.max(...rss) - Math.min(...rss)) / Math.min(...rss);
  results.targets.connTime = { met: worst <= 1, detail: `worst wall ratio vs ipvsadm -Lnc ${worst.toFixed(2)} (target <= 1)` };
  results.targets.connMemory = {
    met: growth < 0.1,
    detail: `peak RSS ${rss.join(" / ")} KiB at ${results.conn.map((c) => c.entries).join(" / ")} entries (${(growth * 100).toFixed(1)}% apart)`,
  };
}
if (results.parse) {
  results.targets.parseGuest = { met: results.parse.parse.cpuMs < 150, detail: `parse CPU ${fmtMs(results.parse.parse.cpuMs)} in the guest (the 0.15 s target is for the host: see the host run)` };
}
lines.push("", "targets:");
for (const [k, t] of Object.entries(results.targets)) lines.push(`  ${t.met ? "MET    " : "NOT MET"} ${k}: ${t.detail}`);
lines.push(`machine: ${JSON.stringify(results.machine)}; process start (busybox time true) ${fmtMs(results.spawnBaseline?.wallMs ?? 0)}`);
log(lines.join("\n"));
save();
log(`\nJSON: ${join(ARTIFACTS, "bench-ipvs.json")}`);
