"use client";
// Charts of one series (the service, or one of its real servers) over the chosen range: connections (active vs
// inactive), new connections per second, throughput in and out. Fed by history.series, redrawn about once
// per step (every 2 s over 5 minutes), so they move while the page is open.
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";

import { formatBits, formatCount, formatRate, formatSI } from "@/app/_components/format";
import { useTRPC } from "@/app/_trpc/react";

import { RANGE_LABELS, RANGE_REFRESH_MS, chartRows, tickFormat, type ChartRow, type HistoryRange } from "./chart-data";

const RANGES = Object.keys(RANGE_LABELS) as HistoryRange[];

export function RangePicker({ range, onChange }: { range: HistoryRange; onChange: (r: HistoryRange) => void }) {
  return (
    <div className="segmented" role="radiogroup" aria-label="Time range">
      {RANGES.map((r) => (
        <button key={r} type="button" role="radio" aria-checked={r === range} className={`segmented__item${r === range ? " segmented__item--on" : ""}`} onClick={() => onChange(r)}>
          {RANGE_LABELS[r]}
        </button>
      ))}
    </div>
  );
}

interface ChartSpec {
  title: string;
  lines: { key: keyof ChartRow; name: string; color: string }[];
  format: (v: number) => string;
}

const CHARTS: ChartSpec[] = [
  {
    title: "Connections",
    lines: [
      { key: "active", name: "active", color: "#2563eb" },
      { key: "inactive", name: "inactive", color: "#94a3b8" },
    ],
    format: (v) => formatCount(Math.round(v)),
  },
  { title: "New connections /s", lines: [{ key: "conns", name: "conns/s", color: "#0d9488" }], format: (v) => formatRate(v) },
  {
    title: "Throughput",
    lines: [
      { key: "inBits", name: "in", color: "#7c3aed" },
      { key: "outBits", name: "out", color: "#f59e0b" },
    ],
    format: (v) => formatBits(v / 8),
  },
];

/** The three charts of one series, or what to do when there is nothing to draw. */
export function SeriesCharts({ seriesKey, title, subtitle, range, testId }: { seriesKey: string; title: string; subtitle?: string; range: HistoryRange; testId?: string }) {
  const trpc = useTRPC();
  const q = useQuery(
    trpc.history.series.queryOptions({ key: seriesKey, range }, { refetchInterval: RANGE_REFRESH_MS[range], placeholderData: keepPreviousData, staleTime: 0 }),
  );
  const rows = q.data ? chartRows(q.data) : [];
  const points = rows.filter((r) => r.active !== null).length;
  return (
    <article className="chart-card" data-testid={testId} data-key={seriesKey} data-points={points}>
      <header className="chart-card__head">
        <h4 className="mono">{title}</h4>
        {subtitle ? <span className="muted small">{subtitle}</span> : null}
        {q.data ? (
          <span className="muted small chart-card__res">
            {q.data.resolution === "1s" ? "1-second samples" : "1-minute rollups"} · step {formatStep(q.data.stepMs)}
          </span>
        ) : null}
      </header>
      {q.isPending ? (
        <div className="chart-grid">
          {CHARTS.map((c) => (
            <div key={c.title} className="chart chart--loading skeleton" />
          ))}
        </div>
      ) : q.isError ? (
        <p className="chart-card__msg text-err sentence">{q.error.message}</p>
      ) : points === 0 ? (
        <p className="chart-card__msg muted">
          No history over the last {RANGE_LABELS[range]} yet: the dashboard records every second while it runs; this
          chart fills in from now on.
        </p>
      ) : (
        <div className="chart-grid">
          {CHARTS.map((c) => (
            <Chart key={c.title} spec={c} rows={rows} range={range} from={q.data!.from} to={q.data!.to} />
          ))}
        </div>
      )}
    </article>
  );
}

function formatStep(ms: number): string {
  return ms < 60_000 ? `${ms / 1000} s` : `${ms / 60_000} min`;
}

function Chart({ spec, rows, range, from, to }: { spec: ChartSpec; rows: ChartRow[]; range: HistoryRange; from: number; to: number }) {
  const fmt = tickFormat(range);
  return (
    <div className="chart">
      <div className="chart__title">{spec.title}</div>
      <ResponsiveContainer width="100%" height={150}>
        <LineChart data={rows} margin={{ top: 4, right: 8, bottom: 0, left: 0 }}>
          <CartesianGrid stroke="#eef1f5" vertical={false} />
          <XAxis dataKey="t" type="number" scale="time" domain={[from, to]} tickFormatter={fmt} tick={{ fontSize: 10.5, fill: "#5f6b7a" }} minTickGap={40} />
          <YAxis width={58} tick={{ fontSize: 10.5, fill: "#5f6b7a" }} tickFormatter={(v: number) => formatSI(v)} allowDecimals={false} />
          <Tooltip
            labelFormatter={(t) => fmt(Number(t))}
            formatter={(v, name) => [typeof v === "number" ? spec.format(v) : "–", name]}
            contentStyle={{ fontSize: 12, borderRadius: 6 }}
          />
          {spec.lines.length > 1 ? <Legend iconType="plainline" wrapperStyle={{ fontSize: 11.5 }} /> : null}
          {spec.lines.map((l) => (
            <Line key={l.key} type="linear" dataKey={l.key} name={l.name} stroke={l.color} strokeWidth={1.6} dot={false} isAnimationActive={false} />
          ))}
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
}
