// The sampler's logic, as one PURE step: (previous state, snapshot, time) -> (next state, sample).
//
//   let state = initialState();
//   every second:  ({ state, sample } = step(state, snapshot, Date.now()));   // snapshot: counters.ts decodes
//                                                                              // the agent's ipvs.counters into it
//
// A sample is what the live pages draw: every virtual service and real server with its gauges (connections,
// weight) and its per-second rates, already in JSON-safe numbers (the kernel's u64 counters stay bigint only
// inside this step). Rates come from the 64-bit counter deltas between this snapshot and the previous one
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
import { DEFAULT_MAX_GAP_MS, increasesInto, type Counters, type GapReason } from "@/server/history/rates";
import type { ForwardMethod, IpvsInfo, Netmask, ServiceWithDestinations, SyncDaemon, Timeouts } from "@/server/ipvs/netlink/types";
import { isFwmarkService } from "@/server/ipvs/netlink/types";

// ---------------------------------------------------------------------------------------------------------
// 1. What a tick reads, and what it publishes
// ---------------------------------------------------------------------------------------------------------

/** One read of the director: what counters.ts decodes from the `ipvs.counters` agent op, or the `ipvs.snapshot`
 *  op's DirectorSnapshot. Only `services` is required, so that `ipvs.metrics` (services only) can feed it too. */
export interface SourceSnapshot {
  services: readonly ServiceWithDestinations[];
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

/** Per series: its last counters and when they were read, and its last interval's increases (for rate2s). */
interface SeriesMemo {
  t: number;
  counters: Counters;
  width: 64 | 32;
  last?: { elapsedMs: number; inc: readonly number[] };
}

export interface SamplerState {
  seq: number;
  /** The last tick's time (-Infinity before the first). */
  t: number;
  /** By seriesKey. Replaced, never mutated, by step(). */
  series: ReadonlyMap<string, SeriesMemo>;
}

export function initialState(): SamplerState {
  return { seq: 0, t: -Infinity, series: new Map() };
}

export interface StepOptions {
  /** Longest pause between two snapshots that still gives a rate (default 10 s, as the history store). */
  maxGapMs?: number;
}

// ---------------------------------------------------------------------------------------------------------
// 3. The step
// ---------------------------------------------------------------------------------------------------------

const RATE_KEYS = ["conns", "inPkts", "outPkts", "inBytes", "outBytes"] as const;

const ratesOf = (inc: ArrayLike<number>, elapsedMs: number): Rates => ({
  conns: (inc[0]! * 1000) / elapsedMs,
  inPkts: (inc[1]! * 1000) / elapsedMs,
  outPkts: (inc[2]! * 1000) / elapsedMs,
  inBytes: (inc[3]! * 1000) / elapsedMs,
  outBytes: (inc[4]! * 1000) / elapsedMs,
});

function addRates(a: Rates | null, b: Rates | null): Rates | null {
  if (!b) return a;
  if (!a) return { ...b };
  for (const k of RATE_KEYS) a[k] += b[k];
  return a;
}

const netmaskText = (n: Netmask | undefined): string => (!n ? "" : n.kind === "mask" ? n.mask : `/${n.prefix}`);

/**
 * Reads one snapshot taken at `t` (ms) against the state of the previous tick. A tick not later than the
 * previous one (the clock went back) still gives a sample, with gaps for every rate, and a state that starts
 * over from it.
 */
export function step(prev: SamplerState, snap: SourceSnapshot, t: number, opts: StepOptions = {}): { state: SamplerState; sample: LiveSample } {
  const maxGapMs = opts.maxGapMs ?? DEFAULT_MAX_GAP_MS;
  const series = new Map<string, SeriesMemo>();
  const inc = new Float64Array(RATE_KEYS.length);

  // Written for 11,000 series a second: object literals of one fixed shape each (no spread copies), one pass
  // over each service's real servers.

  /** Rates of one series, and its memo for the next tick (into `out`). */
  const rates = (key: string, stats: ServiceWithDestinations["stats"], out: RateFields): void => {
    if (!stats) {
      out.gap = "first";
      return;
    }
    const before = prev.series.get(key);
    const r = increasesInto(before?.t ?? 0, before?.counters, before?.width, { t, counters: stats, width: stats.width }, maxGapMs, inc, 0);
    const memo: SeriesMemo = { t, counters: stats, width: stats.width };
    series.set(key, memo);
    if (typeof r === "string") {
      out.gap = r;
      return;
    }
    const now = [inc[0]!, inc[1]!, inc[2]!, inc[3]!, inc[4]!];
    memo.last = { elapsedMs: r, inc: now };
    out.rate = ratesOf(now, r);
    // The previous tick's interval, when it had a rate, ends where this one starts (a gap leaves no `last`).
    const last = before?.last;
    if (!last) {
      out.rate2s = out.rate;
      return;
    }
    for (let i = 0; i < now.length; i++) inc[i] = now[i]! + last.inc[i]!;
    out.rate2s = ratesOf(inc, r + last.elapsedMs);
  };

  const totals: LiveTotals = { services: 0, realServers: 0, realServersUp: 0, active: 0, inactive: 0, persistent: 0, rate: null, rate2s: null };
  const services: LiveService[] = snap.services.map((svc) => {
    const key = serviceKey(svc.service);
    let active = 0;
    let inactive = 0;
    let persistent = 0;
    let weight = 0;
    let up = 0;
    const forward: ForwardMethod[] = [];
    const destinations: LiveRealServer[] = svc.destinations.map((d) => {
      const dk = destKey(d);
      const live: LiveRealServer = {
        key: dk,
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
      rates(seriesKey(key, dk), d.stats, live);
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
    rates(key, svc.stats, live);
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
    state: { seq, t, series },
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
