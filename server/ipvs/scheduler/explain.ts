// The scheduler explainer: for one virtual service as the kernel reports it (real servers in the kernel's list
// order, with weights, active/inactive connections, thresholds and the scheduler flags), evaluate the rule of
// its scheduler as net/netfilter/ipvs/ip_vs_<name>.c (Linux 6.1) does, and say which real server gets the NEXT
// new connection and why, with every server's numbers. PURE: no I/O; the page feeds it live snapshots and
// test/kernel/scheduler.test.ts checks its picks against the real kernel.
//
// What every scheduler shares (all from the 6.1 sources):
//   - The destinations are walked in the service's list order (svc->destinations). __ip_vs_update_dest adds a
//     new real server at the head (list_add_rcu), and /proc/net/ip_vs and the netlink dump walk that same list:
//     the order a snapshot lists them in IS the order the scheduler sees. Ties go to the first in that order
//     (every comparison below is strict).
//   - A server with weight 0 (quiesced) or IP_VS_DEST_F_OVERLOAD is skipped for new connections.
//   - IP_VS_DEST_F_OVERLOAD is not reported to userspace. ip_vs_conn.c sets it when a connection is bound and
//     active+inactive >= the upper threshold (u_threshold, ipvsadm -x), and clears it on unbind once the total
//     is below the lower threshold (-y), or below 3/4 of the upper one when -y is 0. Between the two the flag
//     keeps its previous value: the explainer then says it cannot know (`overloaded: null`).
//   - Persistence (ipvsadm -p) is decided before the scheduler: a client with a live template goes to the
//     template's server. The explanation is for a client without one.
import { foldAddress, hashBuckets, dhHashKey, shHashKey, SH_TAB_SIZE } from "./hash";
import { maglevTable, MH_TAB_SIZE, mhSlot } from "./maglev";

// ---------------------------------------------------------------------------------------------------------
// Input and output
// ---------------------------------------------------------------------------------------------------------

export interface SchedDest {
  address: string;
  port: number;
  weight: number;
  activeConns: number;
  inactiveConns: number;
  persistentConns?: number;
  /** ipvsadm -x / -y; 0 = none. Unknown (from /proc, which has no thresholds) = undefined. */
  upperThreshold?: number;
  lowerThreshold?: number;
}

export interface SchedService {
  scheduler: string;
  /** IP_VS_SVC_F_SCHED1 (sh/mh: fallback) and _SCHED2 (sh/mh: port). */
  sched1?: boolean;
  sched2?: boolean;
  persistent?: boolean;
  /** The virtual address (dh hashes the packet's destination, which for a non-fwmark service is this). */
  address?: string;
  fwmark?: number;
  /** In the kernel's list order. */
  destinations: SchedDest[];
}

export interface ExplainInput {
  /** sh: the client's address (and port, with the sh-port flag). */
  clientAddress?: string;
  clientPort?: number;
  /** dh, lblc, lblcr: the packet's destination address (default: the service's address). */
  destAddress?: string;
}

/**
 * exact: the kernel's rule on these numbers gives this pick (as long as they do not change first).
 * order: the rule depends on a position the kernel keeps to itself (rr, wrr): the order is exact, the next one is not known.
 * needs-input: a hash of an address that was not given.
 * not-visible: the rule depends on kernel state no interface reports (lblc/lblcr tables, mh's permutation, random).
 * none: no server can take a new connection.
 */
export type Certainty = "exact" | "order" | "needs-input" | "not-visible" | "none";

export interface DestRow {
  index: number;
  address: string;
  port: number;
  weight: number;
  activeConns: number;
  inactiveConns: number;
  /** True / false when known from the thresholds, null when the hysteresis band hides it. */
  overloaded: boolean | null;
  /** Why the scheduler passes over it for new connections; null when it is a candidate. */
  skipped: string | null;
  /** The number the rule compares, as the kernel computes it (null when the rule has none for this server). */
  score: number | null;
  /** How the score is made, with this server's numbers: "3*256 + 4 = 772". */
  scoreText: string | null;
  picked: boolean;
}

export interface Explanation {
  scheduler: string;
  /** "weighted least connection". */
  name: string;
  /** The kernel source the rule is taken from. */
  source: string;
  /** The rule in one line: "lowest (active*256 + inactive) / weight". */
  rule: string;
  /** What the score column means; null when the rule has no per-server number. */
  scoreLabel: string | null;
  /** "lower wins" / "higher wins". */
  better: "lower" | "higher" | null;
  certainty: Certainty;
  /** Index into destinations of the next pick, or null. */
  pick: number | null;
  /** Why, in a sentence or two, with the deciding numbers. */
  reason: string;
  rows: DestRow[];
  /** rr/wrr: one whole cycle of picks, as destination indexes, from the start of the kernel's cycle. */
  order?: number[];
  /** sh/dh: the hash and the bucket table. */
  hash?: { input: string; inputAddress: string | null; key: number | null; bucketShares: number[] };
  notes: string[];
}

// ---------------------------------------------------------------------------------------------------------
// Shared rules
// ---------------------------------------------------------------------------------------------------------

/** IP_VS_DEST_F_OVERLOAD as far as the thresholds tell (see the header). */
export function overloadState(d: SchedDest): boolean | null {
  const u = d.upperThreshold;
  const l = d.lowerThreshold;
  if (u === undefined) return false; // from /proc: no thresholds known; the explanation notes it
  if (u === 0) return false;
  const total = d.activeConns + d.inactiveConns;
  if (total >= u) return true;
  const below = l !== undefined && l !== 0 ? total < l : total * 4 < u * 3;
  return below ? false : null;
}

/** ip_vs_dest_conn_overhead (include/net/ip_vs.h): (activeconns << 8) + inactconns. */
export const connOverhead = (d: SchedDest): number => d.activeConns * 256 + d.inactiveConns;

const NAMES: Record<string, string> = {
  rr: "round robin",
  wrr: "weighted round robin",
  lc: "least connection",
  wlc: "weighted least connection",
  sed: "shortest expected delay",
  nq: "never queue",
  fo: "weighted failover",
  ovf: "weighted overflow",
  sh: "source hashing",
  dh: "destination hashing",
  mh: "maglev hashing",
  lblc: "locality-based least connection",
  lblcr: "locality-based least connection with replication",
  twos: "weighted random twos choice",
};

interface Ctx {
  svc: SchedService;
  rows: DestRow[];
  notes: string[];
}

function baseRows(svc: SchedService): DestRow[] {
  return svc.destinations.map((d, index) => {
    const overloaded = overloadState(d);
    const skipped =
      d.weight <= 0
        ? "weight 0 (quiesced): no new connections"
        : overloaded === true
          ? `overloaded: ${d.activeConns + d.inactiveConns} connections >= upper threshold ${d.upperThreshold}`
          : null;
    return {
      index, address: d.address, port: d.port, weight: d.weight, activeConns: d.activeConns,
      inactiveConns: d.inactiveConns, overloaded, skipped, score: null, scoreText: null, picked: false,
    };
  });
}

const label = (r: DestRow) => (r.address.includes(":") ? `[${r.address}]:${r.port}` : `${r.address}:${r.port}`);

/** Servers the scheduler may pick: weight > 0 and not overloaded (an unknown overload state counts as not). */
const candidates = (rows: DestRow[]) => rows.filter((r) => r.skipped === null);

function noneLeft(c: Ctx, base: Omit<Explanation, "certainty" | "pick" | "reason" | "rows" | "notes">): Explanation {
  const why = c.rows.length === 0 ? "the service has no real servers" : "every real server has weight 0 or is overloaded";
  return {
    ...base, certainty: "none", pick: null, rows: c.rows, notes: c.notes,
    reason: `No real server gets it: ${why}. The kernel drops the packet ("no destination available").`,
  };
}

/**
 * The least of `score(d) / weight(d)` compared by cross-multiplication, as ip_vs_wlc/sed/nq do:
 * `if ((__s64)loh * weight(dest) > (__s64)doh * weight(least)) least = dest` — ties keep the earlier server.
 */
function leastByRatio(rows: DestRow[], score: (r: DestRow) => number): DestRow | null {
  let least: DestRow | null = null;
  for (const r of candidates(rows)) {
    if (least === null || score(least) * r.weight > score(r) * least.weight) least = r;
  }
  return least;
}

function uncertainOverload(c: Ctx): void {
  const unknown = c.rows.filter((r) => r.overloaded === null && r.weight > 0);
  if (unknown.length > 0) {
    c.notes.push(
      `The overload flag of ${unknown.map(label).join(", ")} cannot be known: its connections are between the lower and upper ` +
        "thresholds, where the kernel keeps whatever it last set. It is counted as not overloaded here.",
    );
  }
  if (c.svc.destinations.some((d) => d.upperThreshold === undefined)) {
    c.notes.push("Thresholds were not in this snapshot (/proc/net/ip_vs has none): overload is assumed off.");
  }
}

// ---------------------------------------------------------------------------------------------------------
// The schedulers
// ---------------------------------------------------------------------------------------------------------

function ratioScheduler(
  c: Ctx,
  spec: { scheduler: string; source: string; rule: string; scoreLabel: string; score: (r: DestRow) => number; text: (r: DestRow) => string },
): Explanation {
  const base = { scheduler: spec.scheduler, name: NAMES[spec.scheduler] ?? spec.scheduler, source: spec.source, rule: spec.rule, scoreLabel: spec.scoreLabel, better: "lower" as const };
  for (const r of candidates(c.rows)) {
    r.score = spec.score(r) / r.weight;
    r.scoreText = spec.text(r);
  }
  const least = leastByRatio(c.rows, spec.score);
  if (!least) return noneLeft(c, base);
  least.picked = true;
  const tied = candidates(c.rows).filter((r) => r !== least && spec.score(r) * least.weight === spec.score(least) * r.weight);
  const reason =
    `${label(least)} has the lowest ${spec.scoreLabel}: ${least.scoreText}.` +
    (tied.length > 0
      ? ` ${tied.map(label).join(", ")} ${tied.length === 1 ? "ties" : "tie"} with it; the kernel keeps the first in its list (strict >), and ${label(least)} comes first.`
      : "");
  return { ...base, certainty: "exact", pick: least.index, reason, rows: c.rows, notes: c.notes };
}

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(3).replace(/0+$/, ""));

function lc(c: Ctx): Explanation {
  // ip_vs_lc.c: skip OVERLOAD or weight 0; `if (!least || doh < loh)` over ip_vs_dest_conn_overhead: no weights.
  const base = { scheduler: "lc", name: NAMES.lc as string, source: "net/netfilter/ipvs/ip_vs_lc.c", rule: "lowest active*256 + inactive (weights only exclude weight-0 servers)", scoreLabel: "active*256 + inactive", better: "lower" as const };
  let least: DestRow | null = null;
  for (const r of candidates(c.rows)) {
    r.score = r.activeConns * 256 + r.inactiveConns;
    r.scoreText = `${r.activeConns}*256 + ${r.inactiveConns} = ${r.score}`;
    if (least === null || (r.score as number) < (least.score as number)) least = r;
  }
  if (!least) return noneLeft(c, base);
  least.picked = true;
  const tied = candidates(c.rows).filter((r) => r !== least && r.score === least.score);
  return {
    ...base, certainty: "exact", pick: least.index, rows: c.rows, notes: c.notes,
    reason: `${label(least)} has the lowest overhead: ${least.scoreText}.` + (tied.length ? ` ${tied.map(label).join(", ")} tie; the first in the kernel's list wins (strict <).` : ""),
  };
}

function wlc(c: Ctx, scheduler: "wlc" | "lblc" | "lblcr"): Explanation {
  return ratioScheduler(c, {
    scheduler,
    source: scheduler === "wlc" ? "net/netfilter/ipvs/ip_vs_wlc.c" : `net/netfilter/ipvs/ip_vs_${scheduler}.c (__ip_vs_${scheduler}_schedule)`,
    rule: "lowest (active*256 + inactive) / weight, compared as loh*w(dest) > doh*w(least)",
    scoreLabel: "(active*256 + inactive) / weight",
    score: (r) => r.activeConns * 256 + r.inactiveConns,
    text: (r) => `(${r.activeConns}*256 + ${r.inactiveConns}) / ${r.weight} = ${fmt((r.activeConns * 256 + r.inactiveConns) / r.weight)}`,
  });
}

function sed(c: Ctx): Explanation {
  // ip_vs_sed.c: ip_vs_sed_dest_overhead = activeconns + 1 (inactive ignored); same cross-multiplied comparison.
  // (The LVS docs write (C+1)/U; a factor 256 on both sides, as some write it, changes nothing.)
  return ratioScheduler(c, {
    scheduler: "sed",
    source: "net/netfilter/ipvs/ip_vs_sed.c",
    rule: "lowest (active + 1) / weight; inactive connections do not count",
    scoreLabel: "(active + 1) / weight",
    score: (r) => r.activeConns + 1,
    text: (r) => `(${r.activeConns} + 1) / ${r.weight} = ${fmt((r.activeConns + 1) / r.weight)}`,
  });
}

function nq(c: Ctx): Explanation {
  // ip_vs_nq.c: walking the list, the first server with activeconns == 0 is returned at once ("never queue");
  // otherwise the sed rule ((active+1)/weight, cross-multiplied).
  const idle = candidates(c.rows).find((r) => r.activeConns === 0);
  if (idle) {
    for (const r of candidates(c.rows)) {
      r.score = r.activeConns;
      r.scoreText = r.activeConns === 0 ? "idle (0 active)" : `${r.activeConns} active`;
    }
    idle.picked = true;
    return {
      scheduler: "nq", name: NAMES.nq as string, source: "net/netfilter/ipvs/ip_vs_nq.c",
      rule: "the first idle server (0 active connections) in list order; if none, lowest (active + 1) / weight",
      scoreLabel: "active connections", better: "lower", certainty: "exact", pick: idle.index, rows: c.rows, notes: c.notes,
      reason: `${label(idle)} is the first server in the kernel's list with no active connection, and nq sends a new connection to an idle server at once, whatever the weights (inactive connections do not count).`,
    };
  }
  const e = ratioScheduler(c, {
    scheduler: "nq",
    source: "net/netfilter/ipvs/ip_vs_nq.c",
    rule: "the first idle server (0 active connections) in list order; if none, lowest (active + 1) / weight",
    scoreLabel: "(active + 1) / weight",
    score: (r) => r.activeConns + 1,
    text: (r) => `(${r.activeConns} + 1) / ${r.weight} = ${fmt((r.activeConns + 1) / r.weight)}`,
  });
  if (e.pick !== null) e.reason = `No server is idle (every one has active connections), so nq falls back to sed: ${e.reason}`;
  return e;
}

function fo(c: Ctx): Explanation {
  // ip_vs_fo.c: the first server with the highest weight (`weight > hw`), skipping OVERLOAD and weight 0.
  const base = { scheduler: "fo", name: NAMES.fo as string, source: "net/netfilter/ipvs/ip_vs_fo.c", rule: "the highest weight; connections do not count", scoreLabel: "weight", better: "higher" as const };
  let best: DestRow | null = null;
  for (const r of candidates(c.rows)) {
    r.score = r.weight;
    r.scoreText = `weight ${r.weight}`;
    if (best === null || r.weight > best.weight) best = r;
  }
  if (!best) return noneLeft(c, base);
  best.picked = true;
  return {
    ...base, certainty: "exact", pick: best.index, rows: c.rows, notes: c.notes,
    reason: `${label(best)} has the highest weight (${best.weight}) of the servers that may take connections; fo sends every new connection there until it is quiesced or overloaded (set -x to fail over on load).`,
  };
}

function ovf(c: Ctx): Explanation {
  // ip_vs_ovf.c: skip OVERLOAD, `activeconns > weight`, weight 0; then the first with the highest weight.
  const base = { scheduler: "ovf", name: NAMES.ovf as string, source: "net/netfilter/ipvs/ip_vs_ovf.c", rule: "the highest weight among servers whose active connections do not exceed their weight", scoreLabel: "weight (active ≤ weight)", better: "higher" as const };
  for (const r of c.rows) {
    if (r.skipped === null && r.activeConns > r.weight) r.skipped = `full: ${r.activeConns} active > weight ${r.weight}`;
  }
  let best: DestRow | null = null;
  for (const r of candidates(c.rows)) {
    r.score = r.weight;
    r.scoreText = `${r.activeConns} active ≤ weight ${r.weight}`;
    if (best === null || r.weight > best.weight) best = r;
  }
  if (!best) return noneLeft(c, base);
  best.picked = true;
  return {
    ...base, certainty: "exact", pick: best.index, rows: c.rows, notes: c.notes,
    reason: `${label(best)} has the highest weight (${best.weight}) among servers not yet full (active ${best.activeConns} ≤ weight ${best.weight}); connections overflow to the next weight once it has more than ${best.weight} active.`,
  };
}

/** rr: ip_vs_rr.c continues from the last server it picked (svc->sched_data), skipping weight 0 and OVERLOAD. */
function rr(c: Ctx): Explanation {
  const base = { scheduler: "rr", name: NAMES.rr as string, source: "net/netfilter/ipvs/ip_vs_rr.c", rule: "the next server in list order after the last one picked", scoreLabel: null, better: null };
  const order = candidates(c.rows).map((r) => r.index);
  if (order.length === 0) return noneLeft(c, base);
  c.notes.push("The kernel's position in the list (the last server picked) is not reported by any interface: the order is exact, which server is next is not.");
  return {
    ...base, certainty: "order", pick: null, order, rows: c.rows, notes: c.notes,
    reason: `Each new connection goes to the next of ${order.map((i) => label(c.rows[i] as DestRow)).join(" → ")} after the one the kernel picked last, then round again.`,
  };
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * One whole wrr cycle as ip_vs_wrr.c walks it from a fresh start (ip_vs_wrr_init_svc: cl = list head,
 * di = gcd of the positive weights, mw = max weight - (di - 1), cw = mw): for cw = mw, mw-di, ... > 0, every
 * server (in list order) with weight >= cw and not OVERLOAD, then cw wraps to mw. Capped at `max` picks.
 */
export function wrrCycle(weights: readonly number[], usable: readonly boolean[], max = 2000): number[] {
  const positive = weights.filter((w, i) => w > 0 && usable[i]);
  if (positive.length === 0) return [];
  const di = weights.filter((w) => w > 0).reduce((g, w) => gcd(w, g), 0) || 1;
  const mw = Math.max(...weights) - (di - 1);
  const out: number[] = [];
  for (let cw = mw; cw > 0 && out.length < max; cw -= di) {
    for (let i = 0; i < weights.length && out.length < max; i++) {
      if (usable[i] && (weights[i] as number) >= cw) out.push(i);
    }
  }
  return out;
}

function wrr(c: Ctx): Explanation {
  const base = { scheduler: "wrr", name: NAMES.wrr as string, source: "net/netfilter/ipvs/ip_vs_wrr.c", rule: "a cycle by weight: at step cw = max, max-gcd, ..., gcd, every server with weight ≥ cw", scoreLabel: null, better: null };
  const weights = c.svc.destinations.map((d) => d.weight);
  const usable = c.rows.map((r) => r.overloaded !== true);
  const order = wrrCycle(weights, usable);
  if (order.length === 0) return noneLeft(c, base);
  const di = weights.filter((w) => w > 0).reduce((g, w) => gcd(w, g), 0) || 1;
  c.notes.push(
    `gcd of the weights = ${di}, max weight = ${Math.max(...weights)}: one cycle is ${order.length} connections long. The kernel keeps its place in the cycle (mark->cl, mark->cw) to itself, and restarts it when a real server is added, removed or edited: the order is exact, which server is next is not.`,
  );
  for (const r of candidates(c.rows)) {
    const n = order.filter((i) => i === r.index).length;
    r.score = n;
    r.scoreText = `${n} of ${order.length}`;
  }
  return {
    ...base, scoreLabel: "picks per cycle", better: "higher", certainty: "order", pick: null, order, rows: c.rows, notes: c.notes,
    reason: `Over each cycle of ${order.length} new connections every server gets as many as its weight / ${di}, in the order shown; right after a change to the real servers the cycle starts at its beginning.`,
  };
}

function hashScheduler(c: Ctx, kind: "sh" | "dh", input: ExplainInput): Explanation {
  const sh = kind === "sh";
  const withPort = sh && c.svc.sched2 === true;
  const fallback = sh && c.svc.sched1 === true;
  const base = {
    scheduler: kind, name: NAMES[kind] as string,
    source: sh ? "net/netfilter/ipvs/ip_vs_sh.c" : "net/netfilter/ipvs/ip_vs_dh.c",
    rule: sh
      ? `bucket = hash_32(${withPort ? "source port + " : ""}source address, 8) in a 256-bucket table filled by weight in list order`
      : "bucket = hash_32(destination address, 8) in a 256-bucket table filled by weight in list order",
    scoreLabel: "share of the 256 buckets", better: null,
  };
  const buckets = hashBuckets(c.svc.destinations.map((d) => d.weight));
  const shares = c.rows.map((r) => buckets.filter((b) => b === r.index).length);
  for (const r of c.rows) {
    r.score = shares[r.index] as number;
    r.scoreText = `${r.score} of ${SH_TAB_SIZE} buckets`;
  }
  const addr = sh ? input.clientAddress : (input.destAddress ?? (c.svc.fwmark === undefined ? c.svc.address : undefined));
  const what = sh ? "client address" : "destination address";
  if (!sh && c.svc.fwmark === undefined && input.destAddress === undefined) {
    c.notes.push("dh hashes the packet's destination address, which for a service with an address is always the VIP: every new connection goes to the same real server. dh is meant for fwmark services in front of caches.");
  }
  if (!sh && c.svc.fwmark !== undefined) {
    c.notes.push("A weight-0 or overloaded server's buckets send nothing anywhere else: dh drops those connections.");
  }
  if (sh && !fallback) c.notes.push("Without the sh-fallback flag (-b sh-fallback), a client whose bucket belongs to a weight-0 or overloaded server gets no server at all.");
  const fold = addr === undefined ? null : foldAddress(addr);
  if (addr === undefined || fold === null || (withPort && input.clientPort === undefined)) {
    const need = addr !== undefined && fold === null ? `"${addr}" is not an address` : withPort && addr !== undefined ? "the sh-port flag is set: give the client's source port too" : `give a ${what}`;
    return {
      ...base, certainty: "needs-input", pick: null, rows: c.rows, notes: c.notes,
      hash: { input: what, inputAddress: addr ?? null, key: null, bucketShares: shares },
      reason: `The server depends only on the ${what}${withPort ? " and port" : ""}: ${need} to see where it lands. Each server holds about weight/total of the 256 buckets.`,
    };
  }
  const port = withPort ? (input.clientPort as number) : 0;
  const key = sh ? shHashKey(fold, port, 0) : dhHashKey(fold);
  let idx = buckets[key] as number;
  let how = `hash_32(${withPort ? `${port} + ` : ""}${addr} = 0x${fold.toString(16).padStart(8, "0")}, 8) = bucket ${key}, held by`;
  const unusable = (i: number) => c.rows[i]?.skipped !== null;
  let reason: string;
  if (idx < 0) {
    return { ...base, certainty: "none", pick: null, rows: c.rows, notes: c.notes, hash: { input: what, inputAddress: addr, key, bucketShares: shares }, reason: "No real servers: every bucket is empty." };
  }
  if (unusable(idx)) {
    const held = c.rows[idx] as DestRow;
    if (!fallback) {
      return {
        ...base, certainty: "none", pick: null, rows: c.rows, notes: c.notes, hash: { input: what, inputAddress: addr, key, bucketShares: shares },
        reason: `${how} ${label(held)}, which cannot take it (${held.skipped}): without the fallback flag the kernel drops the connection.`,
      };
    }
    // ip_vs_sh_get_fallback: roffset = (offset + ihash) % 256; bucket = hashkey(addr, port, roffset).
    let found = -1;
    for (let offset = 0; offset < SH_TAB_SIZE; offset++) {
      const roffset = (offset + key) % SH_TAB_SIZE;
      const b = buckets[shHashKey(fold, port, roffset)] as number;
      if (b < 0) break;
      if (!unusable(b)) {
        found = b;
        break;
      }
    }
    how += ` ${label(held)} (${held.skipped}); the fallback walks on from there`;
    if (found < 0) return { ...base, certainty: "none", pick: null, rows: c.rows, notes: c.notes, hash: { input: what, inputAddress: addr, key, bucketShares: shares }, reason: `${how} and finds no usable server.` };
    idx = found;
    reason = `${how} to ${label(c.rows[idx] as DestRow)}.`;
  } else {
    reason = `${how} ${label(c.rows[idx] as DestRow)}.`;
  }
  (c.rows[idx] as DestRow).picked = true;
  return { ...base, certainty: "exact", pick: idx, rows: c.rows, notes: c.notes, hash: { input: what, inputAddress: addr, key, bucketShares: shares }, reason };
}

/** mh: ip_vs_mh.c's Maglev table (./maglev.ts) and the client's slot in it. */
function mh(c: Ctx, input: ExplainInput): Explanation {
  const withPort = c.svc.sched2 === true;
  const fallback = c.svc.sched1 === true;
  const base = {
    scheduler: "mh", name: NAMES.mh as string, source: "net/netfilter/ipvs/ip_vs_mh.c",
    rule: `slot = hsiphash(${withPort ? "source port + " : ""}source address) % 4093 in a Maglev table built from each server's permutation, turns by weight`,
    scoreLabel: "share of the 4093 slots", better: null,
  };
  const folds = c.svc.destinations.map((d) => foldAddress(d.address));
  if (folds.some((f) => f === null)) return notVisible(c, "mh", base.source, base.rule, "a real server's address could not be read.");
  const quiesced = c.svc.destinations.some((d) => d.weight <= 0);
  if (quiesced) {
    c.notes.push("A server at weight 0 keeps the slots of its last non-zero weight (last_weight), which the kernel does not report: the table here assumes it never had one (true only when it was added with weight 0).");
  }
  const table = maglevTable(c.svc.destinations.map((d, i) => ({ fold: folds[i] as number, port: d.port, lastWeight: Math.max(0, d.weight) })));
  const shares = c.rows.map((r) => table.filter((t) => t === r.index).length);
  for (const r of c.rows) {
    r.score = shares[r.index] as number;
    r.scoreText = `${r.score} of ${MH_TAB_SIZE} slots`;
  }
  const addr = input.clientAddress;
  const fold = addr === undefined ? null : foldAddress(addr);
  const hash = (key: number | null) => ({ input: "client address", inputAddress: addr ?? null, key, bucketShares: shares });
  if (addr === undefined || fold === null || (withPort && input.clientPort === undefined)) {
    return {
      ...base, certainty: "needs-input", pick: null, rows: c.rows, notes: c.notes, hash: hash(null),
      reason: `The server depends only on the client address${withPort ? " and port" : ""}: ${addr !== undefined && fold === null ? `"${addr}" is not an address` : withPort && addr !== undefined ? "the mh-port flag is set: give the client's source port too" : "give a client address"} to see where it lands.`,
    };
  }
  const port = withPort ? (input.clientPort as number) : 0;
  const slot = mhSlot(fold, port);
  let idx = table[slot] as number;
  const unusable = (i: number) => c.rows[i]?.skipped !== null;
  let how = `hsiphash(${withPort ? `${port} + ` : ""}${addr}) % ${MH_TAB_SIZE} = slot ${slot}, held by`;
  if (idx < 0) return { ...base, certainty: "none", pick: null, rows: c.rows, notes: c.notes, hash: hash(slot), reason: "The lookup table is empty: no server has a weight." };
  if (unusable(idx)) {
    const held = c.rows[idx] as DestRow;
    if (!fallback) {
      return { ...base, certainty: "none", pick: null, rows: c.rows, notes: c.notes, hash: hash(slot), reason: `${how} ${label(held)}, which cannot take it (${held.skipped}): without the mh-fallback flag the kernel drops the connection.` };
    }
    // ip_vs_mh_get_fallback: roffset = (offset + ihash) % M; slot = hashkey(addr, port, hash1, roffset) % M.
    let found = -1;
    for (let offset = 0; offset < MH_TAB_SIZE; offset++) {
      const b = table[mhSlot(fold, port, (offset + slot) % MH_TAB_SIZE)] as number;
      if (b < 0) break;
      if (!unusable(b)) {
        found = b;
        break;
      }
    }
    how += ` ${label(held)} (${held.skipped}); the fallback walks on`;
    if (found < 0) return { ...base, certainty: "none", pick: null, rows: c.rows, notes: c.notes, hash: hash(slot), reason: `${how} and finds no usable server.` };
    idx = found;
    how += " to";
  }
  (c.rows[idx] as DestRow).picked = true;
  return {
    ...base, certainty: quiesced ? "not-visible" : "exact", pick: idx, rows: c.rows, notes: c.notes, hash: hash(slot),
    reason: `${how} ${label(c.rows[idx] as DestRow)}.`,
  };
}

function lblc(c: Ctx, kind: "lblc" | "lblcr", input: ExplainInput): Explanation {
  const e = wlc(c, kind);
  e.name = NAMES[kind] as string;
  e.rule =
    kind === "lblc"
      ? "a destination address keeps its server while that one is usable; a new one gets the wlc pick"
      : "a destination address keeps a set of servers (least loaded member); a new one gets the wlc pick";
  e.certainty = e.pick === null ? e.certainty : "not-visible";
  const dest = input.destAddress ?? (c.svc.fwmark === undefined ? c.svc.address : undefined);
  c.notes.push(
    kind === "lblc"
      ? "ip_vs_lblc.c keeps a table destination address → server (entries expire after 6 minutes unused, table size 1024). No interface reports it. A destination already in it goes to its server unless that server has weight 0, or is overloaded (active > weight while some server has 2*active < weight), in which case it gets the wlc pick below and the table is updated."
      : "ip_vs_lblcr.c keeps, per destination address, a set of servers and sends to the set's least loaded member ((active*256+inactive)/weight); it adds the wlc pick below to the set when that member is overloaded (active > weight while some server has 2*active < weight) and trims sets unchanged for 6 minutes. The sets are not reported by any interface.",
  );
  if (dest) c.notes.push(`For a service with an address the destination is always ${dest}: after the first connection every one goes to the same server(s) as long as it stays usable.`);
  if (e.pick !== null) e.reason = `For a destination address the kernel has not seen (or whose server became unusable): ${e.reason}`;
  return e;
}

function notVisible(c: Ctx, scheduler: string, source: string, rule: string, why: string): Explanation {
  c.notes.push(why);
  return {
    scheduler, name: NAMES[scheduler] ?? scheduler, source, rule, scoreLabel: null, better: null, certainty: candidates(c.rows).length ? "not-visible" : "none",
    pick: null, rows: c.rows, notes: c.notes,
    reason: candidates(c.rows).length ? `Not computable from what the kernel reports: ${why}` : "No real server can take a new connection: every one has weight 0 or is overloaded.",
  };
}

// ---------------------------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------------------------

export function explainScheduler(svc: SchedService, input: ExplainInput = {}): Explanation {
  const c: Ctx = { svc, rows: baseRows(svc), notes: [] };
  uncertainOverload(c);
  if (svc.persistent) {
    c.notes.push("The service is persistent: a client that still has a persistence template goes to that template's server; this is the choice for a client without one.");
  }
  switch (svc.scheduler) {
    case "lc":
      return lc(c);
    case "wlc":
      return wlc(c, "wlc");
    case "sed":
      return sed(c);
    case "nq":
      return nq(c);
    case "fo":
      return fo(c);
    case "ovf":
      return ovf(c);
    case "rr":
      return rr(c);
    case "wrr":
      return wrr(c);
    case "sh":
      return hashScheduler(c, "sh", input);
    case "dh":
      return hashScheduler(c, "dh", input);
    case "lblc":
    case "lblcr":
      return lblc(c, svc.scheduler, input);
    case "mh":
      return mh(c, input);
    case "twos":
      return notVisible(c, "twos", "net/netfilter/ipvs/ip_vs_twos.c", "two servers drawn at random by weight; the one with the lower (active*256+inactive)/weight wins", "twos draws two servers at random (prandom) for every connection.");
    default:
      return notVisible(c, svc.scheduler, `ip_vs_${svc.scheduler}.c`, "unknown scheduler", `"${svc.scheduler}" is not a mainline scheduler this explainer knows.`);
  }
}
