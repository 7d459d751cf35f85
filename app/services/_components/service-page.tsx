"use client";
// One virtual service: its settings (scheduler, mode, flags, timeouts), its real servers with live numbers
// (dashboard.onService, every second over SSE), and charts per real server over a chosen range (history).
import { useQuery } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import Link from "next/link";
import { useState } from "react";

import { Banner, ErrorBanner } from "@/app/_components/banner";
import {
  FORWARD_FLAGS,
  FORWARD_LABELS,
  flagLabels,
  formatBits,
  formatCount,
  formatPps,
  formatRate,
  formatSeconds,
  modeLabel,
  schedulerName,
  serviceAddress,
  servicePath,
  sortRealServers,
  type LiveRealServer,
  type LiveService,
  type LiveServiceView,
} from "@/app/_components/format";
import { HistoryOffBanner, LiveState, NotLiveBanner, StaleBanner, newest, useLastLive } from "@/app/_components/live";
import { useTRPC } from "@/app/_trpc/react";

import type { HistoryRange } from "./chart-data";
import { RangePicker, SeriesCharts } from "./charts";
import { DrainPanel } from "./drain";

export function ServicePage({ serviceKey }: { serviceKey: string }) {
  const trpc = useTRPC();
  const first = useQuery(trpc.dashboard.service.queryOptions({ key: serviceKey }));
  const sub = useSubscription(trpc.dashboard.onService.subscriptionOptions({ key: serviceKey }));
  const view = newest(first.data, sub.data);
  const live = useLastLive(view);
  const [range, setRange] = useState<HistoryRange>("5m");

  return (
    <>
      <LiveState conn={sub} view={view} />
      <main className="page">
        <nav className="crumbs" aria-label="Breadcrumb">
          <Link href="/">Overview</Link> <span aria-hidden="true">›</span> <span className="mono">{serviceKey}</span>
        </nav>
        {!view ? (
          first.isError ? (
            <ErrorBanner title="Could not load this service" message={first.error.message} />
          ) : (
            <div className="card" aria-busy="true">
              <div className="skeleton skeleton--title" />
              <div className="skeleton" />
              <div className="skeleton" />
            </div>
          )
        ) : view.kind === "unavailable" || (view.kind === "down" && !live) ? (
          <NotLiveBanner view={view} />
        ) : live && !live.service ? (
          <NotFound serviceKey={serviceKey} />
        ) : live?.service ? (
          <>
            {view.kind === "down" ? <StaleBanner since={live.t} message={view.error.message} /> : null}
            {!live.history.recording ? <HistoryOffBanner error={live.history.error} /> : null}
            <ServiceHead s={live.service} />
            <ServiceFacts view={live} s={live.service} />
            <RealServers s={live.service} />
            <DrainPanel s={live.service} />
            <section className="card">
              <header className="card__head">
                <h2>History</h2>
                <RangePicker range={range} onChange={setRange} />
              </header>
              <div className="charts">
                <SeriesCharts seriesKey={serviceKey} title="Whole service" subtitle="sum over its real servers" range={range} testId="service-chart" />
                {sortRealServers(live.service.destinations).map((rs) => (
                  <SeriesCharts
                    key={rs.key}
                    seriesKey={`${serviceKey}/${rs.key}`}
                    title={rs.key}
                    subtitle={`${FORWARD_LABELS[rs.forward] ?? rs.forward} · weight ${rs.weight}`}
                    range={range}
                    testId="rs-chart"
                  />
                ))}
              </div>
            </section>
          </>
        ) : null}
      </main>
    </>
  );
}

function NotFound({ serviceKey }: { serviceKey: string }) {
  return (
    <Banner tone="warning" title={`No virtual service ${serviceKey} on this director`}>
      <p>
        It is not in the kernel&apos;s table now: it was removed, or the address in the link is wrong. Its history (if
        it had one) is kept; it shows again here when the service is added back.
      </p>
      <p>
        <Link href="/">Back to the overview</Link> to see the services there are.
      </p>
    </Banner>
  );
}

function ServiceHead({ s }: { s: LiveService }) {
  const sched = schedulerName(s.scheduler);
  return (
    <header className="page-head">
      <div>
        <h2 className="page-title">
          <span className="proto">{s.protocol}</span> <span className="mono">{serviceAddress(s)}</span>
        </h2>
        <p className="page-sub">
          {modeLabel(s.forward)} · scheduler <b className="mono">{s.scheduler}</b>
          {sched ? ` (${sched})` : ""} · {s.realServers.up} of {s.realServers.total} real servers in rotation
        </p>
      </div>
      <div className="page-head__actions">
        <Link className="button button--ghost" href={`${servicePath(s.key)}/scheduler`}>
          Why this real server? Scheduler explained →
        </Link>
      </div>
    </header>
  );
}

function ServiceFacts({ view, s }: { view: LiveServiceView; s: LiveService }) {
  const r = s.rate2s;
  const flags = flagLabels(s);
  const to = view.timeouts;
  const cells: [string, string, string][] = [
    ["active", "Active connections", formatCount(s.active)],
    ["inactive", "Inactive connections", formatCount(s.inactive)],
    ["persistent", "Persistent entries", formatCount(s.persistent)],
    ["conns", "New connections /s", formatRate(r?.conns)],
    ["pkts", "Packets /s in · out", `${formatPps(r?.inPkts)} · ${formatPps(r?.outPkts)}`],
    ["bits", "Throughput in · out", `${formatBits(r?.inBytes)} · ${formatBits(r?.outBytes)}`],
  ];
  return (
    <div className="facts-row">
      <dl className="summary" data-testid="service-totals">
        {cells.map(([id, label, value]) => (
          <div className="summary__cell" key={id} data-metric={id}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
      <section className="card card--side">
        <h3 className="card__label">Flags</h3>
        {flags.length ? (
          <ul className="pills">
            {flags.map((f) => (
              <li key={f} className="pill pill--flag">
                {f}
              </li>
            ))}
          </ul>
        ) : (
          <p className="muted small">none (not persistent, no scheduler flags)</p>
        )}
        <h3 className="card__label">Connection timeouts (whole director)</h3>
        {to ? (
          <p className="small">
            TCP {to.tcp !== null ? formatSeconds(to.tcp) : "–"} · TCP FIN {to.tcpFin !== null ? formatSeconds(to.tcpFin) : "–"} · UDP{" "}
            {to.udp !== null ? formatSeconds(to.udp) : "–"}
            <span className="muted"> (ipvsadm --set)</span>
          </p>
        ) : (
          <p className="muted small">not reported by the agent</p>
        )}
      </section>
    </div>
  );
}

function RealServers({ s }: { s: LiveService }) {
  if (s.destinations.length === 0) {
    return (
      <section className="empty">
        <h2>No real servers</h2>
        <p>Every new connection to this service is dropped. Add one with ipvsadm, for example:</p>
        <pre>{`ipvsadm -a ${s.protocol === "fwm" ? `-f ${s.fwmark}` : `-${s.protocol[0]} ${serviceAddress(s)}`} -r 192.0.2.11${s.port ? `:${s.port}` : ""} -g -w 1`}</pre>
      </section>
    );
  }
  const total = s.destinations.reduce((n, d) => n + Math.max(d.weight, 0), 0);
  return (
    <section className="card">
      <header className="card__head">
        <h2>Real servers</h2>
        <span className="card__note">rates over the last 2 s</span>
      </header>
      <div className="table-scroll">
        <table className="grid" data-testid="real-servers">
          <thead>
            <tr>
              <th>Real server</th>
              <th>Forwarding</th>
              <th className="num">Weight</th>
              <th className="share">Share</th>
              <th className="num">Active</th>
              <th className="num">Inactive</th>
              <th className="num">Persistent</th>
              <th className="num">Conns/s</th>
              <th className="num">Pkts/s in · out</th>
              <th className="num">Throughput in · out</th>
            </tr>
          </thead>
          <tbody>
            {sortRealServers(s.destinations).map((rs) => (
              <RealServerRow key={rs.key} rs={rs} totalWeight={total} />
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function RealServerRow({ rs, totalWeight }: { rs: LiveRealServer; totalWeight: number }) {
  const share = totalWeight > 0 ? Math.max(rs.weight, 0) / totalWeight : 0;
  const r = rs.rate2s;
  const thresholds = [rs.upperThreshold ? `upper ${rs.upperThreshold}` : "", rs.lowerThreshold ? `lower ${rs.lowerThreshold}` : ""].filter(Boolean).join(", ");
  return (
    <tr className={rs.weight === 0 ? "row--quiesced" : undefined} data-testid="rs-row" data-key={rs.key}>
      <td className="mono">
        {rs.key}
        {rs.weight === 0 ? <span className="tag tag--muted">quiesced</span> : null}
        {thresholds ? <div className="muted small">thresholds: {thresholds}</div> : null}
      </td>
      <td>
        {FORWARD_LABELS[rs.forward] ?? rs.forward} <span className="kernel-name">{FORWARD_FLAGS[rs.forward]}</span>
        {rs.forward === "tunnel" && rs.tunnel ? <span className="kernel-name">{rs.tunnel.type}</span> : null}
      </td>
      <td className="num" data-metric="weight" data-value={rs.weight}>
        {rs.weight}
      </td>
      <td className="share">
        <div className="share__cell">
          <span className="bar" aria-hidden="true">
            <span className="bar__fill" style={{ width: `${(share * 100).toFixed(1)}%` }} />
          </span>
          <span className="bar__label">{(share * 100).toFixed(0)}%</span>
        </div>
      </td>
      <td className="num" data-metric="active" data-value={rs.active}>
        {formatCount(rs.active)}
      </td>
      <td className="num" data-metric="inactive" data-value={rs.inactive}>
        {formatCount(rs.inactive)}
      </td>
      <td className="num" data-metric="persistent" data-value={rs.persistent}>
        {formatCount(rs.persistent)}
      </td>
      <td className="num" data-metric="conns" data-value={r?.conns ?? ""}>
        {formatRate(r?.conns)}
      </td>
      <td className="num">
        {formatPps(r?.inPkts)} · {formatPps(r?.outPkts)}
      </td>
      <td className="num">
        {formatBits(r?.inBytes)} · {formatBits(r?.outBytes)}
      </td>
    </tr>
  );
}
