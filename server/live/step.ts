// The sampler's logic, as one PURE step: (previous state, snapshot, time) -> (next state, sample).
//
//   let state = initialState();
//   every second:  ({ state, sample } = step(state, snapshot, Date.now()));   // snapshot: counters.ts decodes
//                                                                              // the agent's ipvs.counters into it
//
// A sample is what the live pages draw: every virtual service and real server with its gauges (connections,
// weight) and its per-second rates, already in JSON-safe numbers (the kernel's u64 counters are read as
// [hi, lo] u32 words, exactly). Rates come from the 64-bit counter deltas between this snapshot and the previous one
// (server/history/rates.ts, the same rule the history store applies), so they never spike or go negative:
// a series that is new, re-added, reset (ipvsadm -Z, ip_vs reloaded) or silent for too long gets no rate (a
// gap, `null`) for one tick, then starts again from its new baseline.
//
// Two rates per series:
//   rate    over the last interval (about 1 s): exact, what adds up to the counters' increase.
//   rate2s  over the last two intervals (when both had a rate): what a page shows. Linux 6.1 folds its
//           per-CPU counters into the totals netlink reports only every 2 s (server/history/README.md), so
//           1-second rates alternate between 0 and twice the true rate under steady traffic; two intervals
//           always hold one fold.
// A series that vanished from the table is dropped from the state: if it comes back, it starts over.
import { destKey, seriesKey, serviceKey } from "@/server/history/keys";
import { COUNTER_WORDS, DEFAULT_MAX_GAP_MS, counterBlockOf, increasesInto, type CounterBlock, type GapReason } from "@/server/history/rates";
import type { ForwardMethod, IpvsInfo, Netmask, ServiceWithDestinations, SyncDaemon, Timeouts } from "@/server/ipvs/netlink/types";
import { isFwmarkService } from "@/server/ipvs/netlink/types";

// ---------------------------------------------------------------------------------------------------------
// 1. What a tick reads, and what it publishes
// ---------------------------------------------------------------------------------------------------------

/** One read of the director: what counters.ts decodes from the `ipvs.counters` agent op, or the `ipvs.snapshot`
 *  op's DirectorSnapshot. Only `services` is required, so that `ipvs.metrics` (services only) can feed it too. */
export interface SourceSnapshot {
  services: readonly ServiceWithDestinations[];
  /** The counters as words, series in table order, when the source reads them so (ipvs.counters: its services
   *  then carry no `stats`); else they are taken from each service's and real server's `stats`. */
  counters?: CounterBlock;
  info?: IpvsInfo;
  timeouts?: Timeouts;
  daemons?: readonly SyncDaemon[];
}

/** Per second: new connections, packets and bytes in and out. */
export interface Rates {
  conns: number;
  inPkts: number;
  outPkts: number;
  inBytes: number;
  outBytes: number;
}

export interface Gauges {
  active: number;
  inactive: number;
  persistent: number;
}

interface RateFields {
  /** Over the last interval; null on a gap (why: `gap`). */
  rate: Rates | null;
  /** Over the last two intervals (one interval when only one had a rate); null on a gap. */
  rate2s: Rates | null;
  gap?: GapReason;
}

export interface LiveRealServer extends Gauges, RateFields {
  /** destKey: "192.0.2.11:80", "[2001:db8::2]:80". */
  key: string;
  address: string;
  port: number;
  family: "inet" | "inet6";
  forward: ForwardMethod;
  weight: number;
  upperThreshold: number;
  lowerThreshold: number;
  /** Tunnel details (Linux >= 5.2 reports them for every real server; meaningful for forward "tunnel"). */
  tunnel?: { type: string; port: number };
}

export interface LiveService extends Gauges, RateFields {
  /** serviceKey: "tcp/192.0.2.100:80", "fwm/42": the key of its page and history. */
  key: string;
  family: "inet" | "inet6";
  /** "fwm" for a firewall-mark service. */
  protocol: "tcp" | "udp" | "sctp" | "fwm";
  address: string | null;
  port: number | null;
  fwmark: number | null;
  scheduler: string;
  persistenceEngine: string | null;
  flags: { persistent: boolean; onePacket: boolean; sched1: boolean; sched2: boolean; sched3: boolean };
  /** Persistence timeout, seconds (0 when not persistent). */
  timeout: number;
  /** Persistence granularity: "255.255.255.255" or "/128". */
  netmask: string;
  /** The forwarding methods its real servers use (the LVS "mode"), sorted; empty without real servers. */
  forward: ForwardMethod[];
  /** Real servers in rotation (weight > 0) and all of them. */
  realServers: { up: number; total: number };
  weight: number;
  destinations: LiveRealServer[];
}

export interface LiveTotals extends Gauges {
  services: number;
  realServers: number;
  realServersUp: number;
  /** Sums over the services that have a rate this tick (null when none has). */
  rate: Rates | null;
  rate2s: Rates | null;
}

export interface LiveSample {
  /** Tick time, ms since the epoch. */
  t: number;
  /** Counts ticks since the sampler started (a page tells a new sample from a repeated one). */
  seq: number;
  services: LiveService[];
  totals: LiveTotals;
  /** From the snapshot when it carries them (ipvs.snapshot does; ipvs.metrics does not). */
  info: IpvsInfo | null;
  timeouts: Timeouts | null;
  daemons: LiveDaemon[] | null;
}

/** A sync daemon without the attributes this code has no name for (bytes). */
export type LiveDaemon = Omit<SyncDaemon, "unknown">;

// ---------------------------------------------------------------------------------------------------------
// 2. State between ticks
// ---------------------------------------------------------------------------------------------------------

/** The series of one tick's snapshot, in its order (each service, then its real servers), with their keys. */
interface Layout {
  /** The counter block's layout when the source names it (ipvs.counters): the same layout, the same series. */
  layout: string | undefined;
  serviceKeys: readonly string[];
  /** Per real server, in order: destKey. */
  destKeys: readonly string[];
  /** Per series, in counter-block order: seriesKey. */
  seriesKeys: readonly string[];
}

/**
 * What the next tick needs of this one, per series in this tick's order: its counters (the block this tick
 * read: the baseline of the next rate; width 0 = no reading) and its last interval's increases (for rate2s).
 * Typed arrays, not an object per series: nothing here is built per series per tick but the sample itself.
 */
export interface SamplerState {
  seq: number;
  /** The last tick's time (-Infinity before the first). */
  t: number;
  layout: Layout | null;
  counters: CounterBlock | null;
  /** 5 increases per series (RATE_KEYS order), valid where lastMs is a number. */
  lastInc: Float64Array;
  /** Per series: the last interval's ms, NaN when it had no rate. */
  lastMs: Float64Array;
}

export function initialState(): SamplerState {
  return { seq: 0, t: -Infinity, layout: null, counters: null, lastInc: new Float64Array(0), lastMs: new Float64Array(0) };
}

export interface StepOptions {
  /** Longest pause between two snapshots that still gives a rate (default 10 s, as the history store). */
  maxGapMs?: number;
}

// ---------------------------------------------------------------------------------------------------------
// 3. The step
// ---------------------------------------------------------------------------------------------------------

const RATE_KEYS = ["conns", "inPkts", "outPkts", "inBytes", "outBytes"] as const;
const N = RATE_KEYS.length;

const ratesOf = (inc: Float64Array, at: number, elapsedMs: number): Rates => ({
  conns: (inc[at]! * 1000) / elapsedMs,
  inPkts: (inc[at + 1]! * 1000) / elapsedMs,
  outPkts: (inc[at + 2]! * 1000) / elapsedMs,
  inBytes: (inc[at + 3]! * 1000) / elapsedMs,
  outBytes: (inc[at + 4]! * 1000) / elapsedMs,
});

function addRates(a: Rates | null, b: Rates | null): Rates | null {
  if (!b) return a;
  if (!a) return { ...b };
  for (const k of RATE_KEYS) a[k] += b[k];
  return a;
}

/** The layout of `snap`: the previous one as it is when the source says the table did not change. */
function layoutOf(prev: Layout | null, snap: SourceSnapshot, name: string | undefined): Layout {
  if (prev && name !== undefined && prev.layout === name) return prev;
  const serviceKeys: string[] = [];
  const destKeys: string[] = [];
  const seriesKeys: string[] = [];
  for (const svc of snap.services) {
    const key = serviceKey(svc.service);
    serviceKeys.push(key);
    seriesKeys.push(key);
    for (const d of svc.destinations) {
      const dk = destKey(d);
      destKeys.push(dk);
      seriesKeys.push(seriesKey(key, dk));
    }
  }
  return { layout: name, serviceKeys, destKeys, seriesKeys };
}

const netmaskText = (n: Netmask | undefined): string => (!n ? "" : n.kind === "mask" ? n.mask : `/${n.prefix}`);

/**
 * Reads one snapshot taken at `t` (ms) against the state of the previous tick. A tick not later than the
 * previous one (the clock went back) still gives a sample, with gaps for every rate, and a state that starts
 * over from it. `prev` is never changed; `recycle`, when given, is a state the caller is done with: its
 * arrays may be overwritten and become the new state's.
 */
export function step(
  prev: SamplerState,
  snap: SourceSnapshot,
  t: number,
  opts: StepOptions = {},
  recycle?: SamplerState,
): { state: SamplerState; sample: LiveSample } {
  const maxGapMs = opts.maxGapMs ?? DEFAULT_MAX_GAP_MS;
  const counters = snap.counters ?? counterBlockOf(snap.services);
  const layout = layoutOf(prev.layout, snap, counters.layout);
  const n = layout.seriesKeys.length;
  if (counters.widths.length !== n) throw new TypeError(`the snapshot has ${n} series and counters for ${counters.widths.length}`);
  // Where each series was in the previous tick: the same place when the layout is the same, else by key.
  const before = prev.layout;
  let prevIndex: Map<string, number> | null = null;
  if (before && before !== layout) {
    prevIndex = new Map();
    before.seriesKeys.forEach((k, i) => prevIndex!.set(k, i));
  }
  // `recycle`: a state the caller no longer reads (the sampler's from two ticks ago), whose arrays this
  // state may take over instead of allocating 0.5 MB a tick outside the V8 heap. Never `prev` (read below).
  const reuse = recycle && recycle !== prev && recycle.lastMs.length === n;
  const lastInc = reuse ? recycle.lastInc : new Float64Array(n * N);
  const lastMs = (reuse ? recycle.lastMs : new Float64Array(n)).fill(Number.NaN);
  const sum = new Float64Array(N);

  // Written for 11,000 series a second: object literals of one fixed shape each (no spread copies), one pass
  // over each service's real servers, the rate rule over the counter words (no bigint).

  /** Rates of series `i` (counter-block order) into `out`; its increases into lastInc for the next tick. */
  const rates = (i: number, out: RateFields): void => {
    const width = counters.widths[i]!;
    if (width === 0) {
      out.gap = "first";
      return;
    }
    const p = prevIndex ? (prevIndex.get(layout.seriesKeys[i]!) ?? -1) : before ? i : -1;
    const from = prev.counters;
    const r =
      p < 0 || !from
        ? "first"
        : increasesInto(prev.t, from.words, p * COUNTER_WORDS, from.widths[p]!, t, counters.words, i * COUNTER_WORDS, width, maxGapMs, lastInc, i * N);
    if (typeof r === "string") {
      out.gap = r;
      return;
    }
    lastMs[i] = r;
    out.rate = ratesOf(lastInc, i * N, r);
    // The previous tick's interval, when it had a rate, ends where this one starts (a gap leaves none).
    const lastR = prev.lastMs[p]!;
    if (Number.isNaN(lastR)) {
      out.rate2s = out.rate;
      return;
    }
    for (let k = 0; k < N; k++) sum[k] = lastInc[i * N + k]! + prev.lastInc[p * N + k]!;
    out.rate2s = ratesOf(sum, 0, r + lastR);
  };

  const totals: LiveTotals = { services: 0, realServers: 0, realServersUp: 0, active: 0, inactive: 0, persistent: 0, rate: null, rate2s: null };
  let si = 0; // series index
  let di = 0; // real server index
  const services: LiveService[] = snap.services.map((svc, vi) => {
    const key = layout.serviceKeys[vi]!;
    const own = si++;
    let active = 0;
    let inactive = 0;
    let persistent = 0;
    let weight = 0;
    let up = 0;
    const forward: ForwardMethod[] = [];
    const destinations: LiveRealServer[] = svc.destinations.map((d) => {
      const live: LiveRealServer = {
        key: layout.destKeys[di++]!,
        address: d.address,
        port: d.port,
        family: d.family,
        forward: d.forward,
        weight: d.weight,
        upperThreshold: d.upperThreshold,
        lowerThreshold: d.lowerThreshold,
        active: d.activeConns,
        inactive: d.inactiveConns,
        persistent: d.persistentConns,
        rate: null,
        rate2s: null,
      };
      if (d.tunnel) live.tunnel = { type: d.tunnel.type, port: d.tunnel.port };
      rates(si++, live);
      active += d.activeConns;
      inactive += d.inactiveConns;
      persistent += d.persistentConns;
      weight += Math.max(d.weight, 0);
      if (d.weight > 0) up++;
      if (!forward.includes(d.forward)) forward.push(d.forward);
      return live;
    });
    const s = svc.service;
    const fwm = isFwmarkService(s);
    const live: LiveService = {
      key,
      family: s.family,
      protocol: fwm ? "fwm" : s.protocol,
      address: fwm ? null : s.address,
      port: fwm ? null : s.port,
      fwmark: fwm ? s.fwmark : null,
      scheduler: svc.scheduler,
      persistenceEngine: svc.persistenceEngine ?? null,
      flags: { persistent: svc.flags.persistent, onePacket: svc.flags.onePacket, sched1: svc.flags.sched1, sched2: svc.flags.sched2, sched3: svc.flags.sched3 },
      timeout: svc.timeout,
      netmask: netmaskText(s.netmask),
      forward: forward.sort(),
      realServers: { up, total: destinations.length },
      active,
      inactive,
      persistent,
      weight,
      destinations,
      rate: null,
      rate2s: null,
    };
    rates(own, live);
    totals.services++;
    totals.realServers += live.realServers.total;
    totals.realServersUp += live.realServers.up;
    totals.active += live.active;
    totals.inactive += live.inactive;
    totals.persistent += live.persistent;
    totals.rate = addRates(totals.rate, live.rate);
    totals.rate2s = addRates(totals.rate2s, live.rate2s);
    return live;
  });

  const seq = prev.seq + 1;
  return {
    state: { seq, t, layout, counters, lastInc, lastMs },
    sample: {
      t,
      seq,
      services,
      totals,
      info: snap.info ?? null,
      timeouts: snap.timeouts ?? null,
      daemons: snap.daemons ? snap.daemons.map(({ unknown: _unknown, ...d }) => d) : null,
    },
  };
}
