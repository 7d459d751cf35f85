"use client";
// The Capture page: start and stop the agent's capture session on chosen interfaces, and watch the wire live
// (over SSE): per VIP who answered ARP for it and when, its packets/s; per interface packets/s and drops.
import { useMutation } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import Link from "next/link";
import { useState } from "react";

import { Banner } from "@/app/_components/banner";
import { LiveState } from "@/app/_components/live";
import { useTRPC } from "@/app/_trpc/react";
import { ago, clock, RoleTag } from "@/app/diagnostics/_components/finding";
import { FrameProblem, useLiveFrame } from "@/app/diagnostics/_components/live-frame";
import type { CaptureView as View, VipVerdict } from "@/server/api/routers/capture";

const IFNAME = /^(?!\.\.?$)[A-Za-z0-9_.-]{1,15}$/;


const pps = (v: number) => (v >= 100 ? Math.round(v).toLocaleString("en-US") : v.toFixed(1));
const count = (v: number) => v.toLocaleString("en-US");

export function CaptureView() {
  const trpc = useTRPC();
  const sub = useSubscription(trpc.capture.live.subscriptionOptions());
  const { sample, data: view } = useLiveFrame(sub.data);

  return (
    <>
      <LiveState conn={sub} view={sample} />
      <main className="page">
        <div className="page-head">
          <div>
            <h2 className="page-title">Live capture</h2>
            <p className="page-sub">
              The agent captures on the director (libpcap, filtered to ARP, the VIPs and the real servers) and feeds the
              detectors on the <Link href="/diagnostics">Diagnostics</Link> page. Nothing is written to disk.
            </p>
          </div>
        </div>

        <FrameProblem sample={sample} stale={view !== undefined} what="capture status" />

        {view === undefined ? (
          sample?.kind === "down" ? null : <CaptureSkeleton />
        ) : (
          <>
            <Controls view={view} />
            {view.problem ? (
              <Banner tone="warning" title="The capture runs, with a problem">
                <p className="sentence">{view.problem}</p>
              </Banner>
            ) : null}
            {view.session ? <Session view={view} /> : null}
          </>
        )}
      </main>
    </>
  );
}

function CaptureSkeleton() {
  return (
    <section className="cap-panel" aria-busy="true" aria-label="Loading the capture status">
      <div className="skeleton skeleton--title" />
      <div className="skeleton" />
    </section>
  );
}

function Controls({ view }: { view: View }) {
  const trpc = useTRPC();
  const start = useMutation(trpc.capture.start.mutationOptions());
  const stop = useMutation(trpc.capture.stop.mutationOptions());
  const running = view.taps.map((t) => t.device);
  const [chosen, setChosen] = useState<string[] | null>(null);
  const [other, setOther] = useState("");
  const known = view.interfaces.map((i) => i.name);
  // Until the admin picks, offer what runs now, else the first interface with an address.
  const selected = chosen ?? (running.length > 0 ? running : known.slice(0, 1));
  const extra = other.trim();
  const extraBad = extra !== "" && !IFNAME.test(extra);
  const wanted = [...new Set([...selected, ...(extra && !extraBad ? [extra] : [])])];
  const busy = start.isPending || stop.isPending;
  const error = start.error ?? stop.error;

  const toggle = (name: string) => setChosen(selected.includes(name) ? selected.filter((n) => n !== name) : [...selected, name]);

  return (
    <section className="cap-panel" aria-labelledby="cap-controls">
      <div className="cap-panel__head">
        <h3 id="cap-controls">Capture session</h3>
        <span className={`cap-state ${view.running ? "cap-state--on" : "cap-state--off"}`}>
          <span className="live__dot" aria-hidden="true" />
          {view.running
            ? `running on ${running.join(", ")} since ${view.startedAt ? clock(view.startedAt) : "?"}`
            : view.stoppedAt
              ? `stopped at ${clock(view.stoppedAt)}`
              : "not running"}
        </span>
      </div>
      <div className="cap-ifaces" role="group" aria-label="Interfaces to capture on">
        {view.interfaces.length === 0 ? <p className="muted">The agent sees no interface with an address: name one below.</p> : null}
        {view.interfaces.map((i) => (
          <label key={i.name} className={`cap-iface${selected.includes(i.name) ? " cap-iface--on" : ""}`}>
            <input type="checkbox" checked={selected.includes(i.name)} onChange={() => toggle(i.name)} />
            <span className="mono cap-iface__name">{i.name}</span>
            <span className="cap-iface__facts mono">
              {i.addresses.join(", ") || "no IPv4 address"}
              {i.mac ? ` · ${i.mac}` : ""}
            </span>
          </label>
        ))}
        <label className="cap-iface cap-iface--other">
          <span className="small muted">Other interface</span>
          <input
            className={`cap-other mono${extraBad ? " cap-other--bad" : ""}`}
            value={other}
            onChange={(e) => setOther(e.target.value)}
            placeholder="e.g. a mirror port"
            aria-invalid={extraBad}
            maxLength={15}
          />
        </label>
      </div>
      <div className="cap-actions">
        <button
          type="button"
          className="button button--primary"
          disabled={busy || wanted.length === 0 || extraBad}
          onClick={() => start.mutate({ interfaces: wanted })}
        >
          {start.isPending ? "Starting…" : view.running ? "Restart on selected" : "Start capture"}
        </button>
        <button type="button" className="button" disabled={busy || !view.running} onClick={() => stop.mutate()}>
          {stop.isPending ? "Stopping…" : "Stop"}
        </button>
        <span className="small muted">
          {extraBad
            ? "Interface names are letters, digits, '.', '_' and '-', at most 15."
            : "In DR and TUN, capture where the real servers' replies are visible too (a mirror port): the director's own port sees only what is sent to it."}
        </span>
      </div>
      {error ? (
        <div className="banner banner--error" role="alert">
          <h2 className="banner__title">{start.error ? "The capture did not start" : "The capture did not stop"}</h2>
          <p className="sentence">{error.message}</p>
        </div>
      ) : null}
    </section>
  );
}

function Session({ view }: { view: View }) {
  const totalPps = view.taps.reduce((n, t) => n + t.packetsPerSecond, 0);
  const sum = (k: "captured" | "kernelDropped" | "interfaceDropped" | "ringEvicted") => view.taps.reduce((n, t) => n + t[k], 0);
  const dropped = sum("kernelDropped") + sum("interfaceDropped");
  return (
    <>
      <dl className="summary">
        <div className="summary__cell">
          <dt>Packets/s</dt>
          <dd>{pps(totalPps)}</dd>
        </div>
        <div className="summary__cell">
          <dt>Captured</dt>
          <dd>{count(sum("captured"))}</dd>
        </div>
        <div className="summary__cell">
          <dt>Kernel drops</dt>
          <dd className={sum("kernelDropped") > 0 ? "text-err" : undefined}>{count(sum("kernelDropped"))}</dd>
        </div>
        <div className="summary__cell">
          <dt>Interface drops</dt>
          <dd className={sum("interfaceDropped") > 0 ? "text-warn" : undefined}>{count(sum("interfaceDropped"))}</dd>
        </div>
        <div className="summary__cell">
          <dt>Ring evictions</dt>
          <dd>{count(sum("ringEvicted"))}</dd>
        </div>
        <div className="summary__cell">
          <dt>VIPs watched</dt>
          <dd>{view.vips.length}</dd>
        </div>
      </dl>
      {dropped > 0 ? (
        <Banner tone="warning" title={`${count(dropped)} packets were dropped before the detectors saw them`}>
          <p>
            Kernel drops mean the agent read too slowly (a burst filled the capture buffer); interface drops are the NIC&apos;s.
            Findings may miss evidence meanwhile. Capture on fewer interfaces, or on a quieter port.
          </p>
        </Banner>
      ) : null}

      <section className="diag-section" aria-labelledby="cap-vips">
        <h3 id="cap-vips" className="section-title">
          VIPs on the wire <span className="count">{view.vips.length}</span>
        </h3>
        {view.vips.length === 0 ? (
          <section className="empty">
            <h2>No virtual service to watch</h2>
            <p>
              The director&apos;s IPVS table has no IPv4 service, so only ARP is captured. Add a service (
              <Link href="/wizards">Setup</Link>) and it appears here within 10 seconds.
            </p>
          </section>
        ) : (
          view.vips.map((v) => <VipCard key={v.address} vip={v} now={view.now} running={view.running} />)
        )}
      </section>

      <section className="diag-section" aria-labelledby="cap-taps">
        <h3 id="cap-taps" className="section-title">
          Interfaces
        </h3>
        <div className="cap-panel cap-panel--flush">
          <table className="cap-table">
            <thead>
              <tr>
                <th>Interface</th>
                <th className="num">Packets/s</th>
                <th className="num">Captured</th>
                <th className="num">Kernel drops</th>
                <th className="num">Interface drops</th>
                <th className="num">Ring evictions</th>
                <th>BPF filter</th>
              </tr>
            </thead>
            <tbody>
              {view.taps.map((t) => (
                <tr key={t.device}>
                  <td className="mono">
                    <b>{t.device}</b>
                  </td>
                  <td className="num">{pps(t.packetsPerSecond)}</td>
                  <td className="num">{count(t.captured)}</td>
                  <td className={`num${t.kernelDropped > 0 ? " text-err" : ""}`}>{count(t.kernelDropped)}</td>
                  <td className={`num${t.interfaceDropped > 0 ? " text-warn" : ""}`}>{count(t.interfaceDropped)}</td>
                  <td className="num">{count(t.ringEvicted)}</td>
                  <td>
                    <code className="cap-filter" title={t.filter}>
                      {t.filter}
                    </code>
                    {t.warnings.map((w) => (
                      <div key={w} className="small text-warn">
                        {w}
                      </div>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}

const VERDICT: Record<VipVerdict["verdict"], { label: string; tone: string }> = {
  ok: { label: "Held by the director", tone: "ok" },
  conflict: { label: "ARP conflict", tone: "err" },
  silent: { label: "No ARP seen yet", tone: "muted" },
};

function VipCard({ vip, now, running }: { vip: VipVerdict; now: number; running: boolean }) {
  const verdict = VERDICT[vip.verdict];
  return (
    <article className={`service cap-vip cap-vip--${vip.verdict}`} data-testid="vip">
      <div className="service__head">
        <span className="proto">VIP</span>
        <span className="service__addr">{vip.address}</span>
        <span className="pill">{vip.mode.toUpperCase()}</span>
        <span className={`cap-verdict cap-verdict--${verdict.tone}`}>{verdict.label}</span>
        <span className="service__totals">
          <b>{running ? pps(vip.packetsPerSecond) : "–"}</b> packets/s · <b>{count(vip.packets)}</b> seen ·{" "}
          <b>{count(vip.questions)}</b> ARP questions{vip.lastQuestionAt ? `, last ${ago(now, vip.lastQuestionAt)}` : ""}
        </span>
      </div>
      {vip.verdict === "conflict" ? (
        <p className="cap-vip__warn">
          More than the director answers ARP for {vip.address}: a router may send clients straight to the other host,
          bypassing IPVS. The <Link href="/diagnostics">Diagnostics</Link> page names the host and the fix.
        </p>
      ) : null}
      {vip.arp.length === 0 ? (
        <p className="service__none muted">
          Nobody has answered ARP for this VIP since the capture started: the router asks only when its cache entry
          expires (a minute or so). <code>arping -c1 {vip.address}</code> from the LAN asks at once.
        </p>
      ) : (
        <table className="rs cap-arp">
          <thead>
            <tr>
              <th>Answered by (MAC)</th>
              <th>Host</th>
              <th className="num">Answers</th>
              <th className="num">Announced</th>
              <th>First</th>
              <th>Last</th>
            </tr>
          </thead>
          <tbody>
            {vip.arp.map((a) => (
              <tr key={a.mac} className={a.role === "director" || a.role === "backup-director" ? undefined : "cap-arp--foreign"}>
                <td className="mono">{a.mac}</td>
                <td>
                  <RoleTag role={a.role} />
                  {a.ip ? <span className="mono cap-arp__ip">{a.ip}</span> : null}
                </td>
                <td className="num">{count(a.answers)}</td>
                <td className="num">{count(a.announcements)}</td>
                <td>{clock(a.firstAt)}</td>
                <td>
                  {clock(a.lastAt)} <span className="muted small">({ago(now, a.lastAt)})</span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </article>
  );
}
