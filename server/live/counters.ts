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
//     counters: "base64",           per series, in table order (each service, then its real servers): conns,
//                                   inPkts, outPkts, inBytes, outBytes, each u64 as two u32 words [hi, lo]
//                                   (value = hi * 2^32 + lo): 10 words per series, no precision lost
//     conns: "base64",              per real server, in table order: active, inactive, persistent connections, u32
//     narrow: [series index, ...],  series read from the kernel's 32-bit STATS nest (Linux < 4.0; usually [])
//     missing: [series index, ...]} series the kernel sent no stats for (usually [])
//
// The two blocks are the bytes of Uint32Arrays in host byte order (the agent and the web are processes of one
// machine, over a Unix socket), base64 in the JSON line. As JSON arrays they were 110,000 numbers a tick at
// 1,000 x 10: the agent's JSON.stringify and the web's JSON.parse of them, and the web's check of every number,
// were a tenth of each side's CPU, and the parsed arrays (about 1 MB) went through V8's heap every second. As
// base64 each side makes one string and copies bytes; the web decodes into the same buffers every tick.
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
import {
  destinationIdentity,
  isFwmarkService,
  sameDestinationIdentity,
  type Destination,
  type IpvsInfo,
  type Netmask,
  type ServiceExtended,
  type ServiceFlags,
  type ServiceWithDestinations,
  type Stats,
  type SyncDaemon,
  type Timeouts,
} from "@/server/ipvs/netlink/types";
import type { IpvsClient } from "@/server/ipvs/netlink/client";
import { readDirector } from "@/server/ipvs/snapshot/agent";

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
  /** COUNTER_WORDS u32 words per series (5 counters as [hi, lo]), series in table order: base64 of their bytes. */
  counters: string;
  /** 3 u32 per real server (active, inactive, persistent connections): base64 of their bytes. */
  conns: string;
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
// 2. u32 blocks <-> base64 (u64 <-> [hi, lo]: putU64, in server/history/rates.ts with the rule that reads them)
// ---------------------------------------------------------------------------------------------------------

/** The first `n` words of a block as base64 of their bytes. */
export const wordsToBase64 = (words: Uint32Array, n = words.length): string => Buffer.from(words.buffer, words.byteOffset, n * 4).toString("base64");

/**
 * `n` u32 words from base64, written into `reuse` when it has that length (else into a new array); a TypeError
 * when the text is not base64 of exactly n words. The result is valid until `reuse` is passed again.
 */
export function wordsFromBase64(text: unknown, n: number, what: string, reuse?: Uint32Array): Uint32Array {
  const out = reuse?.length === n ? reuse : new Uint32Array(n);
  const bytes = Buffer.from(out.buffer, out.byteOffset, n * 4);
  const got = typeof text === "string" ? Buffer.byteLength(text, "base64") : -1;
  if (got !== n * 4 || bytes.write(text as string, "base64") !== n * 4) {
    throw new TypeError(`ipvs.counters frame: ${what} is not base64 of ${n} u32 words (${got < 0 ? typeof text : `${got} bytes`})`);
  }
  return out;
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

const sameNetmask = (a: Netmask | undefined, b: Netmask | undefined): boolean =>
  a === b || (a !== undefined && b !== undefined && (a.kind === "mask" ? b.kind === "mask" && a.mask === b.mask : b.kind === "prefix" && a.prefix === b.prefix));

const sameTunnel = (a: Destination["tunnel"], b: Destination["tunnel"]): boolean =>
  a === b || (a !== undefined && b !== undefined && a.type === b.type && a.port === b.port && a.csum === b.csum && a.remcsum === b.remcsum && a.rawFlags === b.rawFlags);

/** The fields sameTable compares, by kind; a field added to the netlink types fails to compile here until it is
 *  placed (compared, or left out of the table as a number that moves). */
const COMPARED = {
  service: { service: "table", scheduler: "table", persistenceEngine: "table", flags: "table", timeout: "table", stats: "counters", unknown: "dropped" },
  destination: {
    address: "table", port: "table", family: "table", forward: "table", weight: "table", upperThreshold: "table", lowerThreshold: "table", tunnel: "table",
    activeConns: "counters", inactiveConns: "counters", persistentConns: "counters", stats: "counters", unknown: "dropped",
  },
} as const satisfies { service: Record<keyof ServiceExtended, string>; destination: Record<keyof Destination, string> };
void COMPARED;

const sameFlags = (a: ServiceFlags, b: ServiceFlags): boolean =>
  a.raw === b.raw && a.persistent === b.persistent && a.hashed === b.hashed && a.onePacket === b.onePacket && a.sched1 === b.sched1 && a.sched2 === b.sched2 && a.sched3 === b.sched3;

/** A table service and a snapshot's service have the same identity: every "table" field above. */
function sameServiceIdentity(a: TableService, b: ServiceExtended): boolean {
  const x = a.service;
  const y = b.service;
  if (a.scheduler !== b.scheduler || a.persistenceEngine !== b.persistenceEngine || a.timeout !== b.timeout || !sameFlags(a.flags, b.flags)) return false;
  if (x.family !== y.family || !sameNetmask(x.netmask, y.netmask)) return false;
  if (isFwmarkService(x)) return isFwmarkService(y) && x.fwmark === y.fwmark;
  return !isFwmarkService(y) && x.protocol === y.protocol && x.address === y.address && x.port === y.port;
}

/** True when `snap`'s table is `table`, compared field by field: no table is built, nothing is serialized, no
 *  generic deep comparison runs per real server (isDeepStrictEqual there was an eighth of the agent's CPU). */
function sameTable(table: CountersTable, snap: SnapshotOfTable): boolean {
  if (table.services.length !== snap.services.length) return false;
  if (!isDeepStrictEqual(table.info, snap.info) || !isDeepStrictEqual(table.timeouts, snap.timeouts)) return false;
  if (!isDeepStrictEqual(table.daemons, snap.daemons.map(({ unknown: _u, ...d }) => d))) return false;
  for (let i = 0; i < table.services.length; i++) {
    const had = table.services[i]!;
    const svc = snap.services[i]!;
    if (had.destinations.length !== svc.destinations.length || !sameServiceIdentity(had, svc)) return false;
    for (let j = 0; j < svc.destinations.length; j++) {
      const x = had.destinations[j]!;
      const d = svc.destinations[j]!;
      if (!sameDestinationIdentity(x, d) || !sameTunnel(x.tunnel, d.tunnel)) return false;
    }
  }
  return true;
}

/** What the agent keeps from frame to frame: its last table with that table's version (a snapshot with the same
 *  table reuses both, no hash), and the two word blocks it encodes into. */
export interface CountersAgentState {
  last: { table: CountersTable; version: string } | null;
  words?: Uint32Array;
  conns?: Uint32Array;
}

/** A block of at least n words: `had` when it is big enough (the agent's tables rarely grow), else a new one. */
const blockOf = (had: Uint32Array | undefined, n: number) => (had && had.length >= n ? had : new Uint32Array(n));

/**
 * The frame of one snapshot; `known`: the table version the caller holds (the table is left out if current).
 * `state`: the agent's (above); when the snapshot's table is the last one, its version is reused instead of
 * hashing the table's JSON (2.4 MB at 1,000 x 10) every tick.
 */
export function encodeCountersFrame(snap: SnapshotOfTable, known: string | null, readMs = 0, state: CountersAgentState = { last: null }): CountersFrame {
  let series = 0;
  let dests = 0;
  for (const s of snap.services) {
    series += 1 + s.destinations.length;
    dests += s.destinations.length;
  }
  const counters = (state.words = blockOf(state.words, series * COUNTER_WORDS));
  const conns = (state.conns = blockOf(state.conns, dests * 3));
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
  let last = state.last;
  if (!last || !sameTable(last.table, snap)) {
    const table = tableOf(snap);
    last = state.last = { table, version: createHash("sha256").update(JSON.stringify(table)).digest("hex").slice(0, 32) };
  }
  const { table, version } = last;
  return {
    takenAt: snap.takenAt,
    readMs,
    version,
    table: version === known ? null : table,
    counters: wordsToBase64(counters, series * COUNTER_WORDS),
    conns: wordsToBase64(conns, dests * 3),
    narrow,
    missing,
  };
}

/** The agent's state for ipvs.counters: one per agent process. */
const agentState: CountersAgentState = { last: null };

/** The op's body: one snapshot read (readDirector: client opened and closed there), as a frame. */
export async function readIpvsCountersData(open: () => IpvsClient, known: string | null, signal?: AbortSignal): Promise<IpvsCountersData> {
  const t0 = performance.now();
  const data = await readDirector(open, signal);
  return data.available ? { available: true, frame: encodeCountersFrame(data.snapshot, known, Math.round(performance.now() - t0), agentState) } : data;
}

// ---------------------------------------------------------------------------------------------------------
// 4. Web side: frame + table -> the snapshot the step and the history store read
// ---------------------------------------------------------------------------------------------------------

/** What the web side reuses from one frame of a table to the next (decodeCountersFrame fills it). */
export interface CountersDecodeState {
  services?: ServiceWithDestinations[];
  words?: Uint32Array;
  conns?: Uint32Array;
  widths?: Uint8Array;
}

/**
 * The snapshot of one frame over its table (the frame's own, or the one the caller kept for its version). The
 * counters stay words: `counters` (the rate rule reads them as they are, server/history/rates.ts), and the
 * services carry no `stats` (no bigint is made on this path).
 *
 * `state`: what this function kept from the previous frame of the same table. Its services are filled with this
 * frame's connection counts and returned again, and the words are decoded into the same buffers, instead of
 * 11,000 new objects and 0.6 MB of arrays a tick that live until the history store has read them (long enough,
 * at 1,000 x 10, for V8 to move them to the old generation each tick: bench/dashboard). Whoever passes a state
 * gives up the snapshot decoded with it before. A frame that does not fit its table is a TypeError.
 */
export function decodeCountersFrame(
  table: CountersTable,
  frame: CountersFrame,
  state: CountersDecodeState = {},
): SourceSnapshot & { services: ServiceWithDestinations[]; counters: CounterBlock } {
  let series = 0;
  let dests = 0;
  for (const s of table.services) {
    series += 1 + s.destinations.length;
    dests += s.destinations.length;
  }
  const words = (state.words = wordsFromBase64(frame.counters, series * COUNTER_WORDS, `counters (${series} series)`, state.words));
  const c = (state.conns = wordsFromBase64(frame.conns, dests * 3, `conns (${dests} real servers)`, state.conns));
  const widths = (state.widths = state.widths?.length === series ? state.widths : new Uint8Array(series)).fill(64);
  for (const i of frame.narrow) widths[i] = 32;
  for (const i of frame.missing) widths[i] = 0;
  const counters: CounterBlock = { words, widths, layout: frame.version };
  let di = 0;
  let services = state.services;
  if (services && services.length === table.services.length) {
    // The same table as the last frame's: its objects again, with this frame's connection counts.
    for (const svc of services) {
      for (const d of svc.destinations) {
        d.activeConns = c[di]!;
        d.inactiveConns = c[di + 1]!;
        d.persistentConns = c[di + 2]!;
        di += 3;
      }
    }
  } else {
    // Properties first, then the spread: V8 gives `{ ...x, more }` a map of its own per object, so that every
    // later read and write of these 11,000 objects would be megamorphic (filling the counts took 11 ms a tick
    // instead of 0.2).
    services = state.services = table.services.map(({ destinations: table, ...identity }): ServiceWithDestinations => {
      const destinations = table.map((d): Destination => {
        const out: Destination = { activeConns: c[di]!, inactiveConns: c[di + 1]!, persistentConns: c[di + 2]!, unknown: [], ...destinationIdentity(d) };
        di += 3;
        if (d.tunnel) out.tunnel = d.tunnel;
        return out;
      });
      return { unknown: [], destinations, ...identity };
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
 * the table is the same, the next call fills the same service objects and word buffers with the new numbers
 * (the sampler copies what it keeps out of each snapshot before it reads again).
 */
export function createCountersSource(agent: Pick<AgentClient, "call">): () => Promise<SourceResult> {
  let held: { version: string; table: CountersTable; state: CountersDecodeState } | null = null;
  return async () => {
    const data = await agent.call("ipvs.counters", { table: held?.version ?? null });
    if (!data.available) return data;
    const { frame } = data;
    if (frame.table) held = { version: frame.version, table: frame.table, state: {} };
    else if (held?.version !== frame.version) {
      // The agent leaves the table out only for the version we sent: a reply that does not fit is a bug.
      held = null;
      throw new Error(`ipvs.counters: the agent sent no table for version ${frame.version}, which this side does not hold`);
    }
    return { available: true, snapshot: decodeCountersFrame(held.table, frame, held.state) };
  };
}
