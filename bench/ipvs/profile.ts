// Where a snapshot's time goes, in the lab guest: user and system CPU of each variant beside ipvsadm's, the
// transport alone (no decoding), and a CPU profile of one variant (V8's sampling profiler, in-process).
//   node --import tsx bench/ipvs/profile.ts [--services 2000] [--runs 2] [--variants a,b] [--profile LABEL]
// (variants: the labels below, e.g. "client native=4,engine only native=4,decode only"; default all)
// Results on stdout; the profile as $LAB_ARTIFACTS/snapshot-LABEL.cpuprofile (open in Chrome DevTools, or
// summarize with bench/ipvs/profile-summary.ts).
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { PerformanceObserver } from "node:perf_hooks";
import { join } from "node:path";
import { AttrEncoder } from "@/server/kernel/genl/attrs";
import { openIpvsClient, openIpvsTransport, type IpvsTransportOptions } from "@/server/kernel/genl/ipvs";
import { runDumps, type GenlReply } from "@/server/kernel/genl/transport";
import { decodeDest, decodeNest, decodeService, encodeService, serviceKeyFromReply } from "@/server/ipvs/netlink/codec";
import { IPVS_CMD, IPVS_CMD_ATTR, IPVS_GENL_NAME, IPVS_GENL_VERSION } from "@/server/ipvs/netlink/constants";
import { openGenlTransport } from "@/server/kernel/genl/linux";
import { loadNativeGenl } from "@/server/kernel/genl/native";
import { option } from "../options";
import { runTool } from "./measure";
import { servicesRules } from "./tables";

const N = Number(option("services", "2000"));
const RUNS = Number(option("runs", "2"));
const ARTIFACTS = process.env.LAB_ARTIFACTS ?? "/tmp/bench-ipvs";
mkdirSync(ARTIFACTS, { recursive: true });

interface Variant {
  label: string;
  run: () => Promise<number>;
  close: () => void;
}

function clientVariant(label: string, opts: IpvsTransportOptions): Variant {
  const c = openIpvsClient(opts);
  return {
    label,
    run: async () => {
      const s = await c.snapshot();
      return s.reduce((a, x) => a + x.destinations.length, 0);
    },
    close: () => c.close(),
  };
}

/** One GET_DEST request per service of the table, as snapshot() sends them. */
async function getDestRequests(): Promise<Uint8Array[]> {
  const c = openIpvsClient();
  try {
    return (await c.listServices()).map((s) => {
      const e = new AttrEncoder();
      encodeService(e, { service: s.service });
      return e.finish();
    });
  } finally {
    c.close();
  }
}

/** The same requests through the transport, replies counted, never decoded. */
async function transportVariant(label: string, opts: IpvsTransportOptions): Promise<Variant> {
  const keys = await getDestRequests();
  const t = openIpvsTransport(opts);
  return {
    label,
    run: async () => {
      const svc = await t.request(IPVS_CMD.GET_SERVICE.id, new Uint8Array(), { dump: true });
      let replies = svc.length;
      await runDumps(t, IPVS_CMD.GET_DEST.id, keys, (_i, r) => {
        replies += r.length;
      });
      return replies;
    },
    close: () => t.close(),
  };
}

/** The native engine alone: the GET_SERVICE dump and the GET_DEST dumps as two engine calls, replies neither
 *  cut into views nor decoded (what the libuv thread and the kernel cost). */
async function engineVariant(label: string, sockets: number): Promise<Variant> {
  const loaded = loadNativeGenl();
  if (!loaded.ok) throw new Error(loaded.reason);
  const keys = await getDestRequests();
  const ctrl = openGenlTransport({ family: IPVS_GENL_NAME, version: IPVS_GENL_VERSION });
  const family = await ctrl.resolveFamily();
  ctrl.close();
  const many = new loaded.addon.Engine(sockets, 8192, 2);
  const bulk = new loaded.addon.Engine(1, 32768, 16);
  return {
    label,
    run: async () => {
      const svc = await bulk.dump(family, IPVS_CMD.GET_SERVICE.id, IPVS_GENL_VERSION, [new Uint8Array()], 10_000, 3);
      const dests = await many.dump(family, IPVS_CMD.GET_DEST.id, IPVS_GENL_VERSION, keys, 10_000, 3);
      return svc.messages.length / 2 + dests.messages.length / 2;
    },
    close: () => {
      many.close();
      bulk.close();
    },
  };
}

/** Decoding alone: the replies of one transport run kept, then decoded as snapshot() decodes them. */
async function decodeVariant(label: string): Promise<Variant> {
  const t = openIpvsTransport({ sockets: 16 });
  const svc = await t.request(IPVS_CMD.GET_SERVICE.id, new Uint8Array(), { dump: true });
  const keys = svc.map((r) => serviceKeyFromReply(r.attrs)!);
  const dests: GenlReply[][] = new Array(keys.length);
  await runDumps(t, IPVS_CMD.GET_DEST.id, keys, (i, r) => {
    dests[i] = r;
  });
  t.close();
  return {
    label,
    run: async () => {
      let n = 0;
      for (let i = 0; i < svc.length; i++) {
        const s = decodeNest(svc[i]!.attrs, IPVS_CMD_ATTR.SERVICE.id, decodeService);
        serviceKeyFromReply(svc[i]!.attrs);
        if (!s.ok) throw new Error(s.problem.message);
        for (const d of dests[i]!) if (decodeNest(d.attrs, IPVS_CMD_ATTR.DEST.id, (c) => decodeDest(c, s.value.service.family)).ok) n++;
      }
      return n;
    },
    close: () => undefined,
  };
}

// Garbage collection during each timed run (count and time), from the gc performance entries.
let gcCount = 0;
let gcMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcCount++;
    gcMs += e.duration;
  }
}).observe({ entryTypes: ["gc"] });

async function timed(fn: () => Promise<number>): Promise<{ wallMs: number; userMs: number; sysMs: number; count: number; gc: string }> {
  await new Promise((r) => setTimeout(r, 50)); // the previous run's gc entries are delivered
  const g0 = [gcCount, gcMs];
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const count = await fn();
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = process.cpuUsage(c0);
  await new Promise((r) => setTimeout(r, 50));
  return { wallMs, userMs: c.user / 1000, sysMs: c.system / 1000, count, gc: `  gc ${gcCount - g0[0]!} x, ${(gcMs - g0[1]!).toFixed(0)} ms` };
}

const fmt = (r: { wallMs: number; userMs: number; sysMs: number; gc?: string }) => `wall ${r.wallMs.toFixed(0)} ms  user ${r.userMs.toFixed(0)}  sys ${r.sysMs.toFixed(0)}${r.gc ?? ""}`;

const t0 = Date.now();
execFileSync("sh", ["-ec", "ipvsadm -C; ipvsadm-restore"], { input: servicesRules(N), maxBuffer: 256 << 20 });
console.log(`loaded ${N} services x 4 in ${Date.now() - t0} ms`);

const wanted = new Set(option("variants", "").split(",").filter(Boolean));
// Opened only when wanted: a worker thread takes seconds to start under emulation.
const factories: [string, () => Variant | Promise<Variant>][] = [
  ["client sockets=16", () => clientVariant("client sockets=16", { sockets: 16 })],
  ["client sockets=64", () => clientVariant("client sockets=64", { sockets: 64 })],
  ["client s=8 w=1x8", () => clientVariant("client s=8 w=1x8", { sockets: 8, workers: 1, workerSockets: 8 })],
  ["client s=0 w=1x16", () => clientVariant("client s=0 w=1x16", { sockets: 0, workers: 1, workerSockets: 16 })],
  ["client native=4", () => clientVariant("client native=4", { native: { sockets: 4 } })],
  ["client native=1", () => clientVariant("client native=1", { native: { sockets: 1 } })],
  ["transport only sockets=16", () => transportVariant("transport only sockets=16", { sockets: 16 })],
  ["transport only native=4", () => transportVariant("transport only native=4", { native: { sockets: 4 } })],
  ["engine only native=4", () => engineVariant("engine only native=4", 4)],
  ["decode only", () => decodeVariant("decode only")],
];
const all: Variant[] = [];
for (const [label, make] of factories) if (wanted.size === 0 || wanted.has(label) || option("profile", "") === label) all.push(await make());
const variants = all.filter((v) => wanted.size === 0 || wanted.has(v.label));
for (const v of variants) await v.run(); // warm-up
for (let r = 0; r < RUNS; r++) {
  for (const v of variants) {
    const x = await timed(v.run);
    console.log(`${v.label.padEnd(30)} ${fmt(x)}  (${x.count} replies)`);
  }
  const t = runTool(["ipvsadm", "-Ln", "--stats"]);
  console.log(`${"ipvsadm -Ln --stats".padEnd(30)} wall ${t.wallMs.toFixed(0)} ms  user ${t.userMs.toFixed(0)}  sys ${t.systemMs.toFixed(0)}`);
}
const t = runTool(["true"]);
console.log(`${"process start (true)".padEnd(30)} wall ${t.wallMs.toFixed(0)} ms  user ${t.userMs.toFixed(0)}  sys ${t.systemMs.toFixed(0)}`);

const profileLabel = option("profile", "");
const pv = all.find((v) => v.label === profileLabel);
if (pv) {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 500 });
  await session.post("Profiler.start");
  const x = await timed(pv.run);
  const { profile } = await session.post("Profiler.stop");
  const file = join(ARTIFACTS, `snapshot-${profileLabel.replace(/\W+/g, "_")}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  console.log(`profiled ${profileLabel}: ${fmt(x)} -> ${file}`);
  session.disconnect();
}
for (const v of all) v.close();
