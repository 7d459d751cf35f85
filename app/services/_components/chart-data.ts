// From the history router's series to chart rows (PURE): one row per step, gauges as the step's mean, rates per
// second, bytes as bits (what throughput charts are read in). Steps without data are not in the series: the
// chart shows a break there rather than a line drawn across a gap.
import type { RouterOutputs } from "@/app/_trpc/react";

export type HistorySeries = RouterOutputs["history"]["series"];
export type HistoryRange = HistorySeries["range"];

export interface ChartRow {
  t: number;
  active: number | null;
  inactive: number | null;
  persistent: number | null;
  conns: number | null;
  inPkts: number | null;
  outPkts: number | null;
  inBits: number | null;
  outBits: number | null;
}

export const RANGE_LABELS: Record<HistoryRange, string> = { "5m": "5 min", "1h": "1 hour", "6h": "6 hours", "24h": "24 hours", "7d": "7 days" };

/** How often a chart over each range is redrawn from history (about its step). */
export const RANGE_REFRESH_MS: Record<HistoryRange, number> = { "5m": 2_000, "1h": 10_000, "6h": 60_000, "24h": 300_000, "7d": 300_000 };

const bits = (v: number | null | undefined) => (v === null || v === undefined ? null : v * 8);

export function chartRows(s: Pick<HistorySeries, "t" | "avg" | "stepMs">): ChartRow[] {
  const rows: ChartRow[] = [];
  const at = (m: keyof HistorySeries["avg"], i: number) => s.avg[m]?.[i] ?? null;
  for (let i = 0; i < s.t.length; i++) {
    const t = s.t[i]!;
    // a step missing between two with data: a null row, so the line breaks there
    const prev = rows.at(-1);
    if (prev && t - prev.t > s.stepMs * 1.5) rows.push(emptyRow(prev.t + s.stepMs));
    rows.push({
      t,
      active: at("active", i),
      inactive: at("inactive", i),
      persistent: at("persistent", i),
      conns: at("conns", i),
      inPkts: at("inPkts", i),
      outPkts: at("outPkts", i),
      inBits: bits(at("inBytes", i)),
      outBits: bits(at("outBytes", i)),
    });
  }
  return rows;
}

function emptyRow(t: number): ChartRow {
  return { t, active: null, inactive: null, persistent: null, conns: null, inPkts: null, outPkts: null, inBits: null, outBits: null };
}

/** Axis labels: clock time for short ranges, day and hour for long ones. */
export function tickFormat(range: HistoryRange): (t: number) => string {
  if (range === "5m") return (t) => new Date(t).toLocaleTimeString("en-GB", { hour12: false });
  if (range === "1h" || range === "6h") return (t) => new Date(t).toLocaleTimeString("en-GB", { hour12: false, hour: "2-digit", minute: "2-digit" });
  return (t) => new Date(t).toLocaleString("en-GB", { weekday: "short", hour: "2-digit", minute: "2-digit", hour12: false });
}
