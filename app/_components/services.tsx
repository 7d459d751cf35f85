"use client";
// The overview's pieces: the site-wide summary strip and the table of virtual services, one row each with its
// live numbers and a sparkline of its new connections per second over the last five minutes.
import Link from "next/link";
import { memo } from "react";
import { Line, LineChart, YAxis } from "recharts";

import {
  flagLabels,
  formatBits,
  formatCount,
  formatRate,
  modeLabel,
  schedulerName,
  serviceAddress,
  servicePath,
  sortServices,
  type LiveOverview,
  type ServiceSummary,
  type SparkPoint,
} from "./format";

export function OverviewSummary({ view }: { view: LiveOverview }) {
  const { totals } = view;
  const r = totals.rate2s;
  const cells: { label: string; value: string; unit?: string; warn?: boolean; id: string }[] = [
    { id: "services", label: "Virtual services", value: formatCount(totals.services) },
    {
      id: "real-servers",
      label: "Real servers in rotation",
      value: `${formatCount(totals.realServersUp)} / ${formatCount(totals.realServers)}`,
      warn: totals.realServersUp < totals.realServers,
    },
    { id: "active", label: "Active connections", value: formatCount(totals.active) },
    { id: "inactive", label: "Inactive connections", value: formatCount(totals.inactive) },
    { id: "conns", label: "New connections", value: formatRate(r?.conns), unit: "/s" },
    { id: "in", label: "Throughput in", value: formatBits(r?.inBytes) },
    { id: "out", label: "Throughput out", value: formatBits(r?.outBytes) },
  ];
  return (
    <dl className="summary" data-testid="site-totals">
      {cells.map((c) => (
        <div className={`summary__cell${c.warn ? " summary__cell--warn" : ""}`} key={c.id} data-metric={c.id}>
          <dt>{c.label}</dt>
          <dd>
            {c.value}
            {c.unit ? <span className="summary__unit"> {c.unit}</span> : null}
          </dd>
        </div>
      ))}
    </dl>
  );
}

export function NoServices() {
  return (
    <section className="empty">
      <h2>No virtual services yet</h2>
      <p>IPVS is loaded, but this director has no virtual services. Create one with ipvsadm, for example:</p>
      <pre>{"ipvsadm -A -t 192.0.2.100:80 -s wrr\nipvsadm -a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1"}</pre>
      <p>It appears here within a second, and its history starts then.</p>
    </section>
  );
}

export function ServiceTable({ view, sparks }: { view: LiveOverview; sparks: Record<string, SparkPoint[]> }) {
  const { totals } = view;
  return (
    <section className="card">
      <header className="card__head">
        <h2>Virtual services</h2>
        <span className="card__note">rates over the last 2 s · sparkline: new connections/s, last 5 min</span>
      </header>
      <div className="table-scroll">
        <table className="grid" data-testid="services">
          <thead>
            <tr>
              <th>Virtual service</th>
              <th>Scheduler</th>
              <th>Mode</th>
              <th className="num">Real servers</th>
              <th className="num">Active</th>
              <th className="num">Inactive</th>
              <th className="num">Conns/s</th>
              <th className="num">Throughput in / out</th>
              <th className="spark-col">Last 5 min</th>
            </tr>
          </thead>
          <tbody>
            {sortServices(view.services).map((s) => (
              <ServiceRow key={s.key} s={s} spark={sparks[s.key]} />
            ))}
          </tbody>
          <tfoot>
            <tr data-testid="services-total">
              <td colSpan={3}>
                <b>Site total</b>{" "}
                <span className="muted">
                  · {formatCount(totals.services)} service{totals.services === 1 ? "" : "s"}
                </span>
              </td>
              <td className="num">
                {formatCount(totals.realServersUp)} / {formatCount(totals.realServers)}
              </td>
              <td className="num">{formatCount(totals.active)}</td>
              <td className="num">{formatCount(totals.inactive)}</td>
              <td className="num">{formatRate(totals.rate2s?.conns)}</td>
              <td className="num">
                {formatBits(totals.rate2s?.inBytes)} <span className="muted">/</span> {formatBits(totals.rate2s?.outBytes)}
              </td>
              <td />
            </tr>
          </tfoot>
        </table>
      </div>
    </section>
  );
}

function ServiceRow({ s, spark }: { s: ServiceSummary; spark: SparkPoint[] | undefined }) {
  const flags = flagLabels(s);
  const sched = schedulerName(s.scheduler);
  const down = s.realServers.up === 0;
  return (
    <tr data-testid="service-row" data-key={s.key}>
      <td>
        <div className="svc">
          <span className="proto">{s.protocol}</span>
          <Link className="svc__addr mono" href={servicePath(s.key)}>
            {serviceAddress(s)}
          </Link>
        </div>
        {flags.length ? <div className="svc__flags">{flags.join(" · ")}</div> : null}
      </td>
      <td title={sched ?? undefined}>
        <b className="mono">{s.scheduler}</b>
        {sched ? <span className="muted small"> {sched}</span> : null}
      </td>
      <td>{modeLabel(s.forward)}</td>
      <td className={`num${down ? " text-err" : s.realServers.up < s.realServers.total ? " text-warn" : ""}`} data-metric="real-servers">
        {s.realServers.up} / {s.realServers.total}
      </td>
      <td className="num" data-metric="active" data-value={s.active}>
        {formatCount(s.active)}
      </td>
      <td className="num" data-metric="inactive" data-value={s.inactive}>
        {formatCount(s.inactive)}
      </td>
      <td className="num" data-metric="conns" data-value={s.rate2s?.conns ?? ""}>
        {formatRate(s.rate2s?.conns)}
      </td>
      <td className="num">
        {formatBits(s.rate2s?.inBytes)} <span className="muted">/</span> {formatBits(s.rate2s?.outBytes)}
      </td>
      <td className="spark-col">
        <Sparkline points={spark} />
      </td>
    </tr>
  );
}

/** A small line of the last few minutes; memoized on its points array (a new array only when a point came). */
const Sparkline = memo(function Sparkline({ points }: { points: SparkPoint[] | undefined }) {
  if (!points || points.filter((p) => p.v !== null).length < 2) {
    return <span className="spark spark--empty">collecting…</span>;
  }
  return (
    <span className="spark" data-testid="sparkline" data-points={points.length}>
      <LineChart width={132} height={30} data={points} margin={{ top: 3, right: 2, bottom: 3, left: 2 }}>
        <YAxis hide domain={[0, "dataMax"]} />
        <Line type="monotone" dataKey="v" stroke="var(--accent)" strokeWidth={1.6} dot={false} isAnimationActive={false} connectNulls />
      </LineChart>
    </span>
  );
});

export function ServicesSkeleton() {
  return (
    <section className="card" aria-busy="true" aria-label="Loading the virtual services">
      <div className="skeleton skeleton--title" />
      {[0, 1, 2, 3].map((i) => (
        <div className="skeleton" key={i} />
      ))}
    </section>
  );
}
