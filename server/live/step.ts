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
// gap, `null`) for one tick, then starts again from its new baseline. A sample keeps its numbers as columns
// and makes objects when a page reads it (LiveSample below).
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
import { destinationIdentity, isFwmarkService } from "@/server/ipvs/netlink/types";

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

/**
 * One tick, as the live pages read it. The numbers of a tick are kept in one typed array per sample, not as
 * 11,000 objects: a sample lives a whole second (until the next tick), long enough for V8 to move objects of
 * it to the old generation, whose garbage then grew the heap minute after minute (bench/dashboard). Objects
 * are made when a page asks: `summaries()` for the overview, `service(key)` for one service's page;
 * `services` (every service with its real servers) is made once, on first use.
 */
export interface LiveSample {
  /** Tick time, ms since the epoch. */
  readonly t: number;
  /** Counts ticks since the sampler started (a page tells a new sample from a repeated one). */
  readonly seq: number;
  /** Every service with its real servers (made on first use, then kept). */
  readonly services: LiveService[];
  /** Every service without its real servers (made per call). */
  summaries(): Omit<LiveService, "destinations">[];
  /** One service with its real servers, null when the table has none with `key` (made per call). */
  service(key: string): LiveService | null;
  /** The services' keys, in table order. */
  serviceKeys(): readonly string[];
  readonly totals: LiveTotals;
  /** From the snapshot when it carries them (ipvs.snapshot does; ipvs.metrics does not). */
  readonly info: IpvsInfo | null;
  readonly timeouts: Timeouts | null;
  readonly daemons: LiveDaemon[] | null;
  /** The sample as plain data (what JSON.stringify writes; what tests compare). */
  toJSON(): PlainSample;
}

/** A sample as plain data. */
export interface PlainSample {
  t: number;
  seq: number;
  services: LiveService[];
  totals: LiveTotals;
  info: IpvsInfo | null;
  timeouts: Timeouts | null;
  daemons: LiveDaemon[] | null;
}

/** A sync daemon without the attributes this code has no name for (bytes). */
export type LiveDaemon = Omit<SyncDaemon, "unknown">;

// ---------------------------------------------------------------------------------------------------------
// 2. State between ticks
// ---------------------------------------------------------------------------------------------------------

/** What a service is, apart from its numbers: the same while the table is. */
type ServiceIdentity = Omit<LiveService, keyof Gauges | keyof RateFields | "destinations">;
type RealServerIdentity = Omit<LiveRealServer, keyof Gauges | keyof RateFields>;

/** The series of one tick's snapshot, in its order (each service, then its real servers), with their keys
 *  and what each is: made when the table changes, shared by every sample while it does not. */
interface Layout {
  /** The counter block's layout when the source names it (ipvs.counters): the same layout, the same series. */
  layout: string | undefined;
  serviceKeys: readonly string[];
  /** Per series, in counter-block order: seriesKey. */
  seriesKeys: readonly string[];
  /** Per service: its identity, its series index, its real servers' identities (series own + 1 + j). */
  services: readonly { identity: ServiceIdentity; series: number; destinations: readonly RealServerIdentity[] }[];
  /** Service key -> index in `services`. */
  byKey: ReadonlyMap<string, number>;
}

/**
 * What the next tick needs of this one, per series in this tick's order: its counters (the block this tick
 * read: the baseline of the next rate; width 0 = no reading) and its last interval's increases (for rate2s).
 * Typed arrays, not an object per series: nothing is built per series per tick (the sample is columns too).
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

/** Five rates as they stand at `at` of `v`. */
const ratesAt = (v: Float64Array, at: number): Rates => ({ conns: v[at]!, inPkts: v[at + 1]!, outPkts: v[at + 2]!, inBytes: v[at + 3]!, outBytes: v[at + 4]! });

const netmaskText = (n: Netmask | undefined): string => (!n ? "" : n.kind === "mask" ? n.mask : `/${n.prefix}`);

/** The layout of `snap`: the previous one as it is when the source says the table did not change. */
function layoutOf(prev: Layout | null, snap: SourceSnapshot, name: string | undefined): Layout {
  if (prev && name !== undefined && prev.layout === name) return prev;
  const serviceKeys: string[] = [];
  const seriesKeys: string[] = [];
  const services: Layout["services"][number][] = [];
  const byKey = new Map<string, number>();
  for (const svc of snap.services) {
    const key = serviceKey(svc.service);
    byKey.set(key, services.length);
    const series = seriesKeys.length;
    serviceKeys.push(key);
    seriesKeys.push(key);
    let weight = 0;
    let up = 0;
    const forward: ForwardMethod[] = [];
    const destinations = svc.destinations.map((d): RealServerIdentity => {
      const dk = destKey(d);
      seriesKeys.push(seriesKey(key, dk));
      weight += Math.max(d.weight, 0);
      if (d.weight > 0) up++;
      if (!forward.includes(d.forward)) forward.push(d.forward);
      const id: RealServerIdentity = { key: dk, ...destinationIdentity(d) };
      if (d.tunnel) id.tunnel = { type: d.tunnel.type, port: d.tunnel.port };
      return id;
    });
    const s = svc.service;
    const fwm = isFwmarkService(s);
    const identity: ServiceIdentity = {
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
      weight,
    };
    services.push({ identity, series, destinations });
  }
  return { layout: name, serviceKeys, seriesKeys, services, byKey };
}

// The numbers of one tick, per series (counter-block order), in one Float64Array of COLUMNS each: the gauges,
// the last interval's increases and its ms (NaN: no rate), the last two intervals' increases and their ms.
const C_GAUGE = 0;
const C_INC = 3;
const C_MS = C_INC + 5;
const C_INC2 = C_MS + 1;
const C_MS2 = C_INC2 + 5;
const COLUMNS = C_MS2 + 1;
/** Why a series has no rate, by code (0: it has one). */
const GAP_CODES: readonly (GapReason | undefined)[] = [undefined, "first", "clock", "stale", "reset"];

class Sample implements LiveSample {
  private all: LiveService[] | undefined;

  constructor(
    readonly t: number,
    readonly seq: number,
    private readonly layout: Layout,
    /** COLUMNS numbers per series. */
    private readonly num: Float64Array,
    /** Per series: GAP_CODES index. */
    private readonly gaps: Uint8Array,
    readonly totals: LiveTotals,
    readonly info: IpvsInfo | null,
    readonly timeouts: Timeouts | null,
    readonly daemons: LiveDaemon[] | null,
  ) {}

  get services(): LiveService[] {
    return (this.all ??= this.layout.services.map((_, i) => this.at(i, true)));
  }

  summaries(): Omit<LiveService, "destinations">[] {
    return this.layout.services.map((_, i) => this.at(i, false));
  }

  service(key: string): LiveService | null {
    const i = this.layout.byKey.get(key);
    return i === undefined ? null : this.at(i, true);
  }

  serviceKeys(): readonly string[] {
    return this.layout.serviceKeys;
  }

  toJSON(): PlainSample {
    return { t: this.t, seq: this.seq, services: this.services, totals: this.totals, info: this.info, timeouts: this.timeouts, daemons: this.daemons };
  }

  private at(i: number, withDestinations: true): LiveService;
  private at(i: number, withDestinations: false): Omit<LiveService, "destinations">;
  private at(i: number, withDestinations: boolean): LiveService | Omit<LiveService, "destinations"> {
    const { identity, series, destinations } = this.layout.services[i]!;
    const out = this.withNumbers(identity, series);
    if (withDestinations) (out as LiveService).destinations = destinations.map((d, j) => this.withNumbers(d, series + 1 + j));
    return out;
  }

  /**
   * `identity` with series `i`'s gauges and rates, as the pages read them: one literal, the numbers first and the
   * identity spread after. (V8 gives every object a map of its own when a spread comes first and properties
   * follow, or are added later: the page's JSON.stringify of 1,000 such objects then runs megamorphic, and
   * building them took 10 ms instead of 0.5.)
   */
  private withNumbers<T extends object>(identity: T, i: number): T & Gauges & RateFields {
    const v = this.num;
    const at = i * COLUMNS;
    const active = v[at + C_GAUGE]!;
    const inactive = v[at + C_GAUGE + 1]!;
    const persistent = v[at + C_GAUGE + 2]!;
    const gap = GAP_CODES[this.gaps[i]!];
    return gap
      ? { active, inactive, persistent, rate: null, rate2s: null, gap, ...identity }
      : { active, inactive, persistent, rate: ratesOf(v, at + C_INC, v[at + C_MS]!), rate2s: ratesOf(v, at + C_INC2, v[at + C_MS2]!), ...identity };
  }
}

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
  // The counters stay the baseline of the next tick's rates: copied into this state's own array (recycled
  // too) rather than kept as the source's, which is a 110,000-number JS array at 1,000 x 10 and would live
  // into the old generation every tick.
  const words = reuse && recycle.counters && recycle.counters.words instanceof Float64Array && recycle.counters.words.length === counters.words.length ? recycle.counters.words : new Float64Array(counters.words.length);
  for (let k = 0; k < words.length; k++) words[k] = counters.words[k]!;
  const kept: CounterBlock = { words, widths: Uint8Array.from(counters.widths), ...(counters.layout === undefined ? {} : { layout: counters.layout }) };

  // The sample's numbers: one array for the tick (the sample keeps it; a page reads it for a second or so).
  const num = new Float64Array(n * COLUMNS);
  const gaps = new Uint8Array(n);

  /** Rates of series `i` (counter-block order) into the sample's columns; its increases into lastInc. */
  const rates = (i: number): void => {
    const width = counters.widths[i]!;
    if (width === 0) {
      gaps[i] = GAP_CODES.indexOf("first");
      return;
    }
    const p = prevIndex ? (prevIndex.get(layout.seriesKeys[i]!) ?? -1) : before ? i : -1;
    const from = prev.counters;
    const r =
      p < 0 || !from
        ? "first"
        : increasesInto(prev.t, from.words, p * COUNTER_WORDS, from.widths[p]!, t, counters.words, i * COUNTER_WORDS, width, maxGapMs, lastInc, i * N);
    if (typeof r === "string") {
      gaps[i] = GAP_CODES.indexOf(r);
      return;
    }
    lastMs[i] = r;
    const at = i * COLUMNS;
    num[at + C_MS] = r;
    for (let k = 0; k < N; k++) num[at + C_INC + k] = lastInc[i * N + k]!;
    // Over the last two intervals: the previous tick's, when it had a rate, ends where this one starts (a gap
    // leaves none); else over this one alone.
    const lastR = prev.lastMs[p]!;
    const both = !Number.isNaN(lastR);
    num[at + C_MS2] = both ? r + lastR : r;
    for (let k = 0; k < N; k++) num[at + C_INC2 + k] = lastInc[i * N + k]! + (both ? prev.lastInc[p * N + k]! : 0);
  };

  const totals: LiveTotals = { services: 0, realServers: 0, realServersUp: 0, active: 0, inactive: 0, persistent: 0, rate: null, rate2s: null };
  /** The totals' rates, summed over the services that have one: rate at 0, how many at N, rate2s at N + 1. */
  const sum = new Float64Array(2 * (N + 1));
  let si = 0; // series index
  snap.services.forEach((svc, vi) => {
    const own = si++;
    let active = 0;
    let inactive = 0;
    let persistent = 0;
    for (const d of svc.destinations) {
      const at = si * COLUMNS;
      num[at + C_GAUGE] = d.activeConns;
      num[at + C_GAUGE + 1] = d.inactiveConns;
      num[at + C_GAUGE + 2] = d.persistentConns;
      rates(si++);
      active += d.activeConns;
      inactive += d.inactiveConns;
      persistent += d.persistentConns;
    }
    const at = own * COLUMNS;
    num[at + C_GAUGE] = active;
    num[at + C_GAUGE + 1] = inactive;
    num[at + C_GAUGE + 2] = persistent;
    rates(own);
    const { realServers } = layout.services[vi]!.identity;
    totals.services++;
    totals.realServers += realServers.total;
    totals.realServersUp += realServers.up;
    totals.active += active;
    totals.inactive += inactive;
    totals.persistent += persistent;
    if (gaps[own] === 0) {
      sum[N]! += 1;
      for (let k = 0; k < N; k++) {
        sum[k]! += (num[at + C_INC + k]! * 1000) / num[at + C_MS]!;
        sum[N + 1 + k]! += (num[at + C_INC2 + k]! * 1000) / num[at + C_MS2]!;
      }
    }
  });
  if (sum[N]! > 0) {
    totals.rate = ratesAt(sum, 0);
    totals.rate2s = ratesAt(sum, N + 1);
  }

  const seq = prev.seq + 1;
  return {
    state: { seq, t, layout, counters: kept, lastInc, lastMs },
    sample: new Sample(t, seq, layout, num, gaps, totals, snap.info ?? null, snap.timeouts ?? null, snap.daemons ? snap.daemons.map(({ unknown: _unknown, ...d }) => d) : null),
  };
}
