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
// JSON number. The web keeps them as these words to the end: the rate rule (server/history/rates.ts), which
// the step and the history store run, computes each increase from two [hi, lo] pairs exactly, with no bigint
// (building 55,000 bigints a tick and converting them back was a quarter of the web's CPU and much garbage).
// The kernel's own estimator rates (cps ... outBps) are not carried: nothing on the live path uses them
// (rates come from counter deltas).
import { createHash } from "node:crypto";
import { isDeepStrictEqual } from "node:util";

import type { AgentClient } from "@/server/agent/client";
import { destinationIdentity, sameDestinationIdentity, type Destination, type IpvsInfo, type ServiceWithDestinations, type Stats, type SyncDaemon, type Timeouts } from "@/server/ipvs/netlink/types";
import type { IpvsClient } from "@/server/ipvs/netlink/client";
import { readIpvsSnapshotData } from "@/server/ipvs/snapshot/agent";

import { COUNTER_NAMES, COUNTER_WORDS, putU64, type CounterBlock } from "@/server/history/rates";

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

const COUNTERS = COUNTER_NAMES;
export { COUNTER_WORDS, putU64 };

// ---------------------------------------------------------------------------------------------------------
// 2. u64 <-> [hi, lo] (putU64, in server/history/rates.ts with the rule that reads the words)
// ---------------------------------------------------------------------------------------------------------

/** The frame's counter words, checked: every one a u32 number, whole [hi, lo] pairs (else a TypeError). */
export function checkCounterWords(words: readonly unknown[]): readonly number[] {
  if (words.length % 2 !== 0) throw new TypeError(`${words.length} counter words: not whole [hi, lo] pairs`);
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    // (w >>> 0) === w: a number, an integer, 0 <= w < 2^32 (a string or 1.5 or -1 is not equal to it)
    if (typeof w !== "number" || w >>> 0 !== w) throw new TypeError(`counter word ${i} is not a u32 number: ${String(w)}`);
  }
  return words as readonly number[];
}

// ---------------------------------------------------------------------------------------------------------
// 3. Agent side: snapshot -> frame
// ---------------------------------------------------------------------------------------------------------

type SnapshotOfTable = { takenAt: number; info: IpvsInfo; timeouts: Timeouts; daemons: readonly SyncDaemon[]; services: readonly ServiceWithDestinations[] };

/** The table of a snapshot: what does not change from tick to tick. */
function tableOf(snap: SnapshotOfTable): CountersTable {
  return {
    info: snap.info,
    timeouts: snap.timeouts,
    daemons: snap.daemons.map(({ unknown: _u, ...d }) => d),
    services: snap.services.map((svc): TableService => {
      const destinations = svc.destinations.map((d): TableDestination => {
        const identity: TableDestination = destinationIdentity(d);
        if (d.tunnel) identity.tunnel = d.tunnel;
        return identity;
      });
      const { stats: _s, unknown: _u, destinations: _d, ...identity } = svc;
      return { ...identity, destinations };
    }),
  };
}

/** True when `snap`'s table is `table` (field by field: no table is built, nothing is serialized). */
function sameTable(table: CountersTable, snap: SnapshotOfTable): boolean {
  if (table.services.length !== snap.services.length) return false;
  if (!isDeepStrictEqual(table.info, snap.info) || !isDeepStrictEqual(table.timeouts, snap.timeouts)) return false;
  if (!isDeepStrictEqual(table.daemons, snap.daemons.map(({ unknown: _u, ...d }) => d))) return false;
  for (let i = 0; i < table.services.length; i++) {
    const had = table.services[i]!;
    const svc = snap.services[i]!;
    if (had.destinations.length !== svc.destinations.length) return false;
    for (let j = 0; j < svc.destinations.length; j++) {
      const x = had.destinations[j]!;
      const d = svc.destinations[j]!;
      if (!sameDestinationIdentity(x, d) || !isDeepStrictEqual(x.tunnel, d.tunnel)) return false;
    }
    const { destinations: _hd, ...hadIdentity } = had;
    const { stats: _s, unknown: _u, destinations: _d, ...identity } = svc;
    if (!isDeepStrictEqual(hadIdentity, identity)) return false;
  }
  return true;
}

/** The last table an agent sent and its version: a snapshot with the same table reuses both (no hash). */
export interface CountersTableCache {
  last: { table: CountersTable; version: string } | null;
}

/**
 * The frame of one snapshot; `known`: the table version the caller holds (the table is left out if current).
 * `cache`: the agent's last table; when the snapshot's is the same, its version is reused instead of hashing
 * the table's JSON (2.4 MB at 1,000 x 10) every tick.
 */
export function encodeCountersFrame(snap: SnapshotOfTable, known: string | null, readMs = 0, cache?: CountersTableCache): CountersFrame {
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
  for (const svc of snap.services) {
    put(svc.stats);
    for (const d of svc.destinations) {
      put(d.stats);
      conns[di++] = d.activeConns;
      conns[di++] = d.inactiveConns;
      conns[di++] = d.persistentConns;
    }
  }
  let last = cache?.last;
  if (!last || !sameTable(last.table, snap)) {
    const table = tableOf(snap);
    last = { table, version: createHash("sha256").update(JSON.stringify(table)).digest("hex").slice(0, 32) };
    if (cache) cache.last = last;
  }
  const { table, version } = last;
  return { takenAt: snap.takenAt, readMs, version, table: version === known ? null : table, counters, conns, narrow, missing };
}

/** The agent's last table (ipvs.counters): one per agent process. */
const agentTable: CountersTableCache = { last: null };

/** The op's body: one snapshot read (readIpvsSnapshotData: client opened and closed there), as a frame. */
export async function readIpvsCountersData(open: () => IpvsClient, known: string | null, signal?: AbortSignal): Promise<IpvsCountersData> {
  const t0 = performance.now();
  const data = await readIpvsSnapshotData(open, signal);
  return data.available ? { available: true, frame: encodeCountersFrame(data.snapshot, known, Math.round(performance.now() - t0), agentTable) } : data;
}

// ---------------------------------------------------------------------------------------------------------
// 4. Web side: frame + table -> the snapshot the step and the history store read
// ---------------------------------------------------------------------------------------------------------

/**
 * The snapshot of one frame over its table (the frame's own, or the one the caller kept for its version). The
 * counters stay words: `counters` (the rate rule reads them as they are, server/history/rates.ts), and the
 * services carry no `stats` (no bigint is made on this path).
 *
 * `into`: the services this function returned for the previous frame of the same table. They are filled with
 * this frame's connection counts and returned again, instead of 11,000 new objects a tick that live until the
 * history store has read them (long enough, at 1,000 x 10, for V8 to move them to the old generation each
 * tick: bench/dashboard). Whoever passes `into` gives up the previous snapshot.
 */
export function decodeCountersFrame(table: CountersTable, frame: CountersFrame, into?: ServiceWithDestinations[]): SourceSnapshot & { services: ServiceWithDestinations[]; counters: CounterBlock } {
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
  const widths = new Uint8Array(series).fill(64);
  for (const i of frame.narrow) widths[i] = 32;
  for (const i of frame.missing) widths[i] = 0;
  const counters: CounterBlock = { words: checkCounterWords(frame.counters), widths, layout: frame.version };
  const c = frame.conns;
  let di = 0;
  let services: ServiceWithDestinations[];
  if (into && into.length === table.services.length) {
    // The same table as the last frame's: its objects again, with this frame's connection counts.
    for (const svc of into) {
      for (const d of svc.destinations) {
        d.activeConns = c[di]!;
        d.inactiveConns = c[di + 1]!;
        d.persistentConns = c[di + 2]!;
        di += 3;
      }
    }
    services = into;
  } else {
    services = table.services.map((svc): ServiceWithDestinations => {
      const destinations = svc.destinations.map((d): Destination => {
        const out: Destination = { ...destinationIdentity(d), activeConns: c[di]!, inactiveConns: c[di + 1]!, persistentConns: c[di + 2]!, unknown: [] };
        di += 3;
        if (d.tunnel) out.tunnel = d.tunnel;
        return out;
      });
      return { ...svc, unknown: [], destinations };
    });
  }
  return {
    services,
    counters,
    info: table.info,
    timeouts: table.timeouts,
    daemons: table.daemons.map((d) => ({ ...d, unknown: [] })),
  };
}

/**
 * The sampler's `read` over the agent's ipvs.counters: sends the table version it holds, keeps the table a
 * reply carries, and decodes each frame against it. A snapshot it returns holds until the next call: while
 * the table is the same, the next call fills the same service objects with the new connection counts (the
 * sampler copies what it keeps out of each snapshot before it reads again).
 */
export function createCountersSource(agent: Pick<AgentClient, "call">): () => Promise<SourceResult> {
  let held: { version: string; table: CountersTable; services?: ServiceWithDestinations[] } | null = null;
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
    const snapshot = decodeCountersFrame(held.table, frame, held.services);
    held.services = snapshot.services;
    return { available: true, snapshot };
  };
}
