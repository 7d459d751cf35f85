// /proc/net/ip_vs_stats and /proc/net/ip_vs_stats_percpu: the whole director's counters and rates.
//
// ip_vs_stats_show() (net/netfilter/ipvs/ip_vs_ctl.c):
//      Total Incoming Outgoing         Incoming         Outgoing
//      Conns  Packets  Packets            Bytes            Bytes
//         1E       A5        0             2904                0          "   %8LX %8LX %8LX %16LX %16LX\n\n"
//
//    Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s
//          1        8        0              1F1                0          "   %8LX %8LX %8LX %16LX %16LX\n"
//
// ip_vs_stats_percpu_show():
//          Total Incoming Outgoing         Incoming         Outgoing
//   CPU    Conns  Packets  Packets            Bytes            Bytes
//     0        E       50        0             1388                0     "%3X %8LX %8LX %8LX %16LX %16LX\n" per CPU
//     ~       1E       A5        0             2904                0     "  ~ %8LX ..." the sum
//
//        Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s
//              1        6        0              175                0     "    %8LX %8LX %8LX %16LX %16LX\n"
//
// Every number is hexadecimal. The counters are u64 and kept as bigint (they pass 2^53 on a busy director
// that runs for long); the rates are the kernel estimator's per-second values (ip_vs_read_estimator(), a
// 2-second moving average) and fit in a number.

import { ProcFormatError } from "./services";

export interface IpVsCounters {
  conns: bigint;
  inPackets: bigint;
  outPackets: bigint;
  inBytes: bigint;
  outBytes: bigint;
}

export interface IpVsRates {
  connsPerSecond: number;
  inPacketsPerSecond: number;
  outPacketsPerSecond: number;
  inBytesPerSecond: number;
  outBytesPerSecond: number;
}

export interface ProcIpVsStats {
  totals: IpVsCounters;
  rates: IpVsRates;
}

export interface ProcIpVsStatsPerCpu extends ProcIpVsStats {
  cpus: { cpu: number; counters: IpVsCounters }[];
}

const HEX_TOKEN = /^[0-9A-Fa-f]+$/;

function counters(tokens: string[]): IpVsCounters {
  const [conns, inPackets, outPackets, inBytes, outBytes] = tokens.map((t) => BigInt(`0x${t}`)) as [
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
  ];
  return { conns, inPackets, outPackets, inBytes, outBytes };
}

function rates(tokens: string[]): IpVsRates {
  const [c, ip, op, ib, ob] = tokens.map((t) => Number.parseInt(t, 16)) as [number, number, number, number, number];
  return { connsPerSecond: c, inPacketsPerSecond: ip, outPacketsPerSecond: op, inBytesPerSecond: ib, outBytesPerSecond: ob };
}

interface NumberRow {
  line: number;
  /** The first token when the row has six ("0", "1F", "~"), else null. */
  label: string | null;
  values: string[];
}

/** The rows of 5 hex numbers (optionally after a CPU label); header lines are checked by their words. */
function numberRows(file: string, text: string): NumberRow[] {
  const rows: NumberRow[] = [];
  text.split("\n").forEach((raw, i) => {
    const tokens = raw.trim().split(/\s+/).filter(Boolean);
    if (tokens.length === 0 || tokens.includes("Conns") || tokens.includes("Conns/s") || tokens.includes("Total")) return;
    const label = tokens.length === 6 ? (tokens[0] as string) : null;
    const values = tokens.length === 6 ? tokens.slice(1) : tokens;
    if (values.length !== 5 || !values.every((t) => HEX_TOKEN.test(t)) || (label !== null && !/^([0-9A-Fa-f]+|~)$/.test(label))) {
      throw new ProcFormatError(file, i + 1, "expected 5 hexadecimal numbers", raw);
    }
    rows.push({ line: i + 1, label, values });
  });
  return rows;
}

/** Parses /proc/net/ip_vs_stats (ip_vs_stats_show). */
export function parseProcIpVsStats(text: string): ProcIpVsStats {
  const file = "/proc/net/ip_vs_stats";
  const rows = numberRows(file, text);
  const [totals, perSecond] = rows;
  if (rows.length !== 2 || !totals || !perSecond || totals.label !== null || perSecond.label !== null) {
    throw new ProcFormatError(file, rows[2]?.line ?? 0, "expected a totals row and a rates row", text.slice(0, 200));
  }
  return { totals: counters(totals.values), rates: rates(perSecond.values) };
}

/** Parses /proc/net/ip_vs_stats_percpu (ip_vs_stats_percpu_show). */
export function parseProcIpVsStatsPerCpu(text: string): ProcIpVsStatsPerCpu {
  const file = "/proc/net/ip_vs_stats_percpu";
  const rows = numberRows(file, text);
  const sum = rows.findIndex((r) => r.label === "~");
  const perSecond = rows[sum + 1];
  if (sum < 0 || !perSecond || perSecond.label !== null || rows.length !== sum + 2) {
    throw new ProcFormatError(file, 0, "expected CPU rows, a ~ row and a rates row", text.slice(0, 200));
  }
  const cpus = rows.slice(0, sum).map((r) => {
    if (r.label === null || r.label === "~") throw new ProcFormatError(file, r.line, "expected a CPU number", r.values.join(" "));
    return { cpu: Number.parseInt(r.label, 16), counters: counters(r.values) };
  });
  return { cpus, totals: counters((rows[sum] as NumberRow).values), rates: rates(perSecond.values) };
}

/**
 * Per-second rates between two readings of the same counters, taken `seconds` apart: what ipvsadm
 * --rate would show over that interval rather than the kernel's 2-second estimator. A counter that went
 * backwards (IPVS reloaded, counters zeroed with ipvsadm -Z) gives null for that rate.
 */
export function ratesBetween(before: IpVsCounters, after: IpVsCounters, seconds: number): { [K in keyof IpVsCounters]: number | null } {
  if (!(seconds > 0)) throw new RangeError("seconds must be positive");
  const rate = (a: bigint, b: bigint) => (b < a ? null : Number(b - a) / seconds);
  return {
    conns: rate(before.conns, after.conns),
    inPackets: rate(before.inPackets, after.inPackets),
    outPackets: rate(before.outPackets, after.outPackets),
    inBytes: rate(before.inBytes, after.inBytes),
    outBytes: rate(before.outBytes, after.outBytes),
  };
}
