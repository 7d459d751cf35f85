// The sampler's compact read of the director: the `ipvs.counters` agent op, both halves.
//
//   agent  readIpvsCountersData(open, known)   one netlink snapshot -> CountersFrame
//   web    createCountersSource(agent)          calls the op every tick, keeps the last table, -> SourceSnapshot
//
// Why not `ipvs.snapshot`: at 1,000 services x 10 real servers its reply is about 5.3 MB of JSON with 110,000
// counters tagged {"$bigint": "..."}, so the agent runs a replacer and the web a reviver on every value (most
// of a 31.7 s tick under emulation, bench/dashboard). Here a tick carries only what moves, in arrays that
// JSON.parse reads without a reviver, and the table itself (what the pages show) only when it changed:
//
//   { takenAt, readMs, version,    version: hash of `table` (below); the web sends back the one it holds;
//                                  readMs: how long the agent's netlink read took
//     table: {...} | null,          null when the web's version is the current one
//     counters: [hi, lo, ...],      per series, in table order (each service, then its real servers):
//                                   conns, inPkts, outPkts, inBytes, outBytes; each u64 as two u32 numbers
//                                   (value = hi * 2^32 + lo), so 10 numbers per series, no precision lost
//     conns: [a, i, p, ...],        per real server, in table order: active, inactive, persistent connections
//     narrow: [series index, ...],  series read from the kernel's 32-bit STATS nest (Linux < 4.0; usually [])
//     missing: [series index, ...]} series the kernel sent no stats for (usually [])
//
// The table is the identity part of the snapshot: services (address, scheduler, flags, timeout, netmask, pe)
// with their real servers (address, forward, weight, thresholds, tunnel), and info, timeouts, daemons. A
// weight change or a real server added makes a new version, and that tick carries the table again.
//
// u64 counters: 64-bit byte counters pass 2^53 on a busy director within days, so they never travel as one
// JSON number. The web turns each [hi, lo] back into the bigint the rate rule (server/history/rates.ts) and
// the history store take; below 2^53 that is one BigInt() of an exact number, no bigint arithmetic.
// The kernel's own estimator rates (cps ... outBps) are not carried: nothing on the live path uses them
// (rates come from counter deltas), and they read 0n in the snapshot this makes.
import { createHash } from "node:crypto";

import type { AgentClient } from "@/server/agent/client";
import type { Destination, IpvsInfo, ServiceWithDestinations, Stats, SyncDaemon, Timeouts } from "@/server/ipvs/netlink/types";
import type { IpvsClient } from "@/server/ipvs/netlink/client";
import { readIpvsSnapshotData } from "@/server/ipvs/snapshot/agent";

import type { SourceResult } from "./sampler";
import type { SourceSnapshot } from "./step";

// ---------------------------------------------------------------------------------------------------------
// 1. The wire shape
// ---------------------------------------------------------------------------------------------------------

export type TableDestination = Omit<Destination, "stats" | "unknown" | "activeConns" | "inactiveConns" | "persistentConns">;
export type TableService = Omit<ServiceWithDestinations, "stats" | "unknown" | "destinations"> & { destinations: TableDestination[] };

/** What does not change from tick to tick (the pages' table); `version` is its hash. */
export interface CountersTable {
  info: IpvsInfo;
  timeouts: Timeouts;
  daemons: Omit<SyncDaemon, "unknown">[];
  services: TableService[];
}

export interface CountersFrame {
  /** When the read started, ms since the epoch. */
  takenAt: number;
  /** How long the agent's netlink read took, ms (the rest of a call is encoding, the socket and parsing). */
  readMs: number;
  version: string;
  /** The table, when the caller's version is not `version`; else null. */
  table: CountersTable | null;
  /** 10 numbers per series (5 counters as [hi, lo] u32 pairs), series in table order. */
  counters: number[];
  /** 3 numbers per real server: active, inactive, persistent connections. */
  conns: number[];
  /** Series indices whose counters came from the 32-bit STATS nest. */
  narrow: number[];
  /** Series indices without stats. */
  missing: number[];
}

/** `ipvs.counters`' output. */
export type IpvsCountersData = { available: true; frame: CountersFrame } | { available: false; reason: string };

const COUNTERS = ["conns", "inPkts", "outPkts", "inBytes", "outBytes"] as const;
/** Numbers per series in `counters`. */
export const COUNTER_WORDS = COUNTERS.length * 2;
const U32 = 2 ** 32;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const U64_MAX = (1n << 64n) - 1n;
/** hi below this: hi * 2^32 + lo < 2^53, exact as a double. */
const HI_SAFE = 2 ** 21;

// ---------------------------------------------------------------------------------------------------------
// 2. u64 <-> [hi, lo]
// ---------------------------------------------------------------------------------------------------------

/** Writes v (0 <= v < 2^64) as two u32 numbers at out[at], out[at + 1]. */
export function putU64(out: number[], at: number, v: bigint): void {
  if (v >= 0n && v <= MAX_SAFE) {
    const n = Number(v);
    const hi = Math.floor(n / U32);
    out[at] = hi;
    out[at + 1] = n - hi * U32;
    return;
  }
  if (v < 0n || v > U64_MAX) throw new RangeError(`not a u64: ${v}`);
  out[at] = Number(v >> 32n);
  out[at + 1] = Number(v & 0xffff_ffffn);
}

const isU32 = (x: unknown): x is number => typeof x === "number" && Number.isInteger(x) && x >= 0 && x < U32;

/** The u64 at words[at], words[at + 1]; throws on anything that is not two u32 numbers. */
export function getU64(words: readonly unknown[], at: number): bigint {
  const hi = words[at];
  const lo = words[at + 1];
  if (!isU32(hi) || !isU32(lo)) throw new TypeError(`counter words ${at}, ${at + 1} are not u32 numbers: ${String(hi)}, ${String(lo)}`);
  return hi < HI_SAFE ? BigInt(hi * U32 + lo) : (BigInt(hi) << 32n) | BigInt(lo);
}

// ---------------------------------------------------------------------------------------------------------
// 3. Agent side: snapshot -> frame
// ---------------------------------------------------------------------------------------------------------

/** The frame of one snapshot; `known`: the table version the caller holds (the table is left out if current). */
export function encodeCountersFrame(
  snap: { takenAt: number; info: IpvsInfo; timeouts: Timeouts; daemons: readonly SyncDaemon[]; services: readonly ServiceWithDestinations[] },
  known: string | null,
  readMs = 0,
): CountersFrame {
  let series = 0;
  let dests = 0;
  for (const s of snap.services) {
    series += 1 + s.destinations.length;
    dests += s.destinations.length;
  }
  const counters = new Array<number>(series * COUNTER_WORDS);
  const conns = new Array<number>(dests * 3);
  const narrow: number[] = [];
  const missing: number[] = [];
  let i = 0;
  let di = 0;
  const put = (stats: Stats | undefined) => {
    const at = i * COUNTER_WORDS;
    if (!stats) {
      missing.push(i);
      counters.fill(0, at, at + COUNTER_WORDS);
    } else {
      if (stats.width === 32) narrow.push(i);
      for (let k = 0; k < COUNTERS.length; k++) putU64(counters, at + 2 * k, stats[COUNTERS[k]!]);
    }
    i++;
  };
  const services: TableService[] = snap.services.map((svc) => {
    put(svc.stats);
    const destinations = svc.destinations.map((d): TableDestination => {
      put(d.stats);
      conns[di++] = d.activeConns;
      conns[di++] = d.inactiveConns;
      conns[di++] = d.persistentConns;
      // Field by field, not a rest spread (which copies key by key, ten times slower at this count).
      const identity: TableDestination = {
        address: d.address,
        port: d.port,
        family: d.family,
        forward: d.forward,
        weight: d.weight,
        upperThreshold: d.upperThreshold,
        lowerThreshold: d.lowerThreshold,
      };
      if (d.tunnel) identity.tunnel = d.tunnel;
      return identity;
    });
    const { stats: _s, unknown: _u, destinations: _d, ...identity } = svc;
    return { ...identity, destinations };
  });
  const table: CountersTable = {
    info: snap.info,
    timeouts: snap.timeouts,
    daemons: snap.daemons.map(({ unknown: _u, ...d }) => d),
    services,
  };
  // The table has no bigint: plain JSON.stringify (no replacer) is its canonical text.
  const version = createHash("sha256").update(JSON.stringify(table)).digest("hex").slice(0, 32);
  return { takenAt: snap.takenAt, readMs, version, table: version === known ? null : table, counters, conns, narrow, missing };
}

/** The op's body: one snapshot read (readIpvsSnapshotData: client opened and closed there), as a frame. */
export async function readIpvsCountersData(open: () => IpvsClient, known: string | null, signal?: AbortSignal): Promise<IpvsCountersData> {
  const t0 = performance.now();
  const data = await readIpvsSnapshotData(open, signal);
  return data.available ? { available: true, frame: encodeCountersFrame(data.snapshot, known, Math.round(performance.now() - t0)) } : data;
}

// ---------------------------------------------------------------------------------------------------------
// 4. Web side: frame + table -> the snapshot the step and the history store read
// ---------------------------------------------------------------------------------------------------------

/** The snapshot of one frame over its table (the frame's own, or the one the caller kept for its version). */
export function decodeCountersFrame(table: CountersTable, frame: CountersFrame): SourceSnapshot & { services: ServiceWithDestinations[] } {
  let series = 0;
  let dests = 0;
  for (const s of table.services) {
    series += 1 + s.destinations.length;
    dests += s.destinations.length;
  }
  if (frame.counters.length !== series * COUNTER_WORDS || frame.conns.length !== dests * 3) {
    throw new TypeError(
      `ipvs.counters frame does not fit its table: ${frame.counters.length} counter words and ${frame.conns.length} ` +
        `connection counts for ${series} series and ${dests} real servers`,
    );
  }
  const narrow = new Set(frame.narrow);
  const missing = new Set(frame.missing);
  const w = frame.counters;
  let i = 0;
  let di = 0;
  const stats = (): Stats | undefined => {
    const at = i * COUNTER_WORDS;
    const n = i++;
    if (missing.size > 0 && missing.has(n)) return undefined;
    return {
      conns: getU64(w, at),
      inPkts: getU64(w, at + 2),
      outPkts: getU64(w, at + 4),
      inBytes: getU64(w, at + 6),
      outBytes: getU64(w, at + 8),
      cps: 0n,
      inPps: 0n,
      outPps: 0n,
      inBps: 0n,
      outBps: 0n,
      width: narrow.size > 0 && narrow.has(n) ? 32 : 64,
    };
  };
  const c = frame.conns;
  const services = table.services.map((svc): ServiceWithDestinations => {
    const svcStats = stats();
    const destinations = svc.destinations.map((d): Destination => {
      const dStats = stats();
      const out: Destination = {
        address: d.address,
        port: d.port,
        family: d.family,
        forward: d.forward,
        weight: d.weight,
        upperThreshold: d.upperThreshold,
        lowerThreshold: d.lowerThreshold,
        activeConns: c[di]!,
        inactiveConns: c[di + 1]!,
        persistentConns: c[di + 2]!,
        unknown: [],
      };
      di += 3;
      if (d.tunnel) out.tunnel = d.tunnel;
      if (dStats) out.stats = dStats;
      return out;
    });
    const out: ServiceWithDestinations = { ...svc, unknown: [], destinations };
    if (svcStats) out.stats = svcStats;
    return out;
  });
  return { services, info: table.info, timeouts: table.timeouts, daemons: table.daemons.map((d) => ({ ...d, unknown: [] })) };
}

/**
 * The sampler's `read` over the agent's ipvs.counters: sends the table version it holds, keeps the table a
 * reply carries, and decodes each frame against it.
 */
export function createCountersSource(agent: Pick<AgentClient, "call">): () => Promise<SourceResult> {
  let held: { version: string; table: CountersTable } | null = null;
  return async () => {
    const data = await agent.call("ipvs.counters", { table: held?.version ?? null });
    if (!data.available) return data;
    const { frame } = data;
    if (frame.table) held = { version: frame.version, table: frame.table };
    else if (held?.version !== frame.version) {
      // The agent leaves the table out only for the version we sent: a reply that does not fit is a bug.
      held = null;
      throw new Error(`ipvs.counters: the agent sent no table for version ${frame.version}, which this side does not hold`);
    }
    return { available: true, snapshot: decodeCountersFrame(held.table, frame) };
  };
}
