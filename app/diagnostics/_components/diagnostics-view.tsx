"use client";
// The Diagnostics page: the live findings of the agent's capture session (over SSE), open ones first with
// everything needed to act, resolved ones with their times, and the upload box for a capture file.
import { useQuery } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import Link from "next/link";

import { LiveState } from "@/app/_components/live";
import { useTRPC } from "@/app/_trpc/react";
import type { DiagnosticsView as View, FindingItem, RealServerSettings } from "@/server/api/routers/diagnostics";

import { FindingCard, ago, clock, duration, type FindingCardData } from "./finding";
import { FrameProblem, useLiveFrame } from "./live-frame";
import { UploadBox } from "./upload";

function cardData(f: FindingItem): FindingCardData {
  return {
    key: f.evidenceId, severity: f.severity, title: f.title, explanation: f.explanation, hosts: f.hosts, fix: f.fix,
    evidence: f.evidence, activity: f.activity,
  };
}

function Download({ f }: { f: FindingItem }) {
  if (f.evidenceUrl === null) return <span className="muted small">packets no longer held</span>;
  return (
    <a className="button button--small button--download" href={f.evidenceUrl} download>
      Download .pcap ({f.evidenceStored} packet{f.evidenceStored === 1 ? "" : "s"})
    </a>
  );
}

export function DiagnosticsView() {
  const trpc = useTRPC();
  const sub = useSubscription(trpc.diagnostics.live.subscriptionOptions());
  const { sample, data: view, at } = useLiveFrame(sub.data);

  return (
    <>
      <LiveState conn={sub} view={sample} />
      <main className="page">
        <div className="page-head">
          <div>
            <h2 className="page-title">Diagnostics</h2>
            <p className="page-sub">
              What the capture on this director shows is wrong on the LVS site: who is at fault, how we know, and the
              exact fix. Findings open within seconds of a fault and resolve on their own once it is fixed.
            </p>
          </div>
        </div>

        <FrameProblem sample={sample} stale={view !== undefined} what="findings" />

        {view === undefined ? (
          sample?.kind === "down" ? null : <FindingsSkeleton />
        ) : (
          <Findings view={view} now={at} />
        )}

        <RealServerSettingsSection now={at} />

        <UploadBox />
      </main>
    </>
  );
}

function FindingsSkeleton() {
  return (
    <section className="diag-finding diag-finding--skeleton" aria-busy="true" aria-label="Loading findings">
      <div className="skeleton skeleton--title" />
      <div className="skeleton" />
      <div className="skeleton" style={{ width: "70%" }} />
    </section>
  );
}

function Findings({ view, now }: { view: View; now: number }) {
  return (
    <>
      <dl className="summary summary--diag">
        <div className="summary__cell">
          <dt>Capture</dt>
          <dd className={view.running ? "text-ok" : "muted"}>{view.running ? "running" : view.session ? "stopped" : "off"}</dd>
        </div>
        <div className="summary__cell">
          <dt>Critical</dt>
          <dd className={view.counts.critical > 0 ? "text-err" : undefined}>{view.counts.critical}</dd>
        </div>
        <div className="summary__cell">
          <dt>Warnings</dt>
          <dd className={view.counts.warning > 0 ? "text-warn" : undefined}>{view.counts.warning}</dd>
        </div>
        <div className="summary__cell">
          <dt>Info</dt>
          <dd>{view.counts.info}</dd>
        </div>
        <div className="summary__cell">
          <dt>Resolved</dt>
          <dd>{view.resolved.length}</dd>
        </div>
        <div className="summary__cell">
          <dt>Last check</dt>
          <dd className="summary__small">{view.evaluatedAt ? ago(now, view.evaluatedAt) : "–"}</dd>
        </div>
      </dl>

      {!view.running ? (
        <section className="empty">
          <h2>{view.session ? "The capture is stopped" : "No live capture is running"}</h2>
          <p>
            Findings come from watching the wire. Start a capture on the interface that faces the real servers (in DR
            and TUN, a mirror port that also sees their replies); the detectors run on it every second.
          </p>
          <Link className="button button--primary" href="/capture">
            Go to Capture
          </Link>
          {view.session ? <p className="small muted">The findings of the last capture stay below until the next one starts.</p> : null}
        </section>
      ) : null}

      {view.session === null ? null : <FindingLists view={view} now={now} />}
    </>
  );
}

function FindingLists({ view, now }: { view: View; now: number }) {
  return (
    <>
      <section className="diag-section" aria-labelledby="open-findings">
        <h3 id="open-findings" className="section-title">
          Open findings <span className="count">{view.open.length}</span>
        </h3>
        {view.open.length === 0 ? (
          <div className="diag-none">
            <span className="diag-none__icon" aria-hidden="true">
              ✓
            </span>
            <div>
              <b>{view.running ? "No problem seen on the wire" : "No open findings when the capture stopped"}</b>
              <p className="muted">
                {view.running
                  ? "ARP ownership of every VIP and the return paths look right. Anything that goes wrong shows here within seconds."
                  : "Start the capture again to keep watching the site, or analyse a capture file below."}
              </p>
            </div>
          </div>
        ) : (
          view.open.map((f) => (
            <FindingCard
              key={f.evidenceId}
              data={cardData(f)}
              now={now}
              download={<Download f={f} />}
              meta={
                <>
                  <span>
                    opened {clock(f.openedAt)} ({ago(now, f.openedAt)})
                  </span>
                  <span>
                    on <b className="mono">{f.device}</b>
                  </span>
                  <span>last evidence {ago(now, f.lastEvidenceAt)}</span>
                  {f.reopened > 0 ? <span className="text-warn">came back {f.reopened}×</span> : null}
                  <span className="mono faint">#{f.evidenceId}</span>
                </>
              }
            />
          ))
        )}
      </section>

      <section className="diag-section" aria-labelledby="resolved-findings">
        <h3 id="resolved-findings" className="section-title">
          Resolved <span className="count">{view.resolved.length}</span>
        </h3>
        {view.resolved.length === 0 ? (
          <p className="muted">Nothing resolved yet in this capture session.</p>
        ) : (
          <ul className="diag-resolved">
            {view.resolved.map((f) => (
              <li key={f.evidenceId}>
                <details>
                  <summary>
                    <span className="sev sev--resolved">Resolved</span>
                    <span className="diag-resolved__title">{f.title}</span>
                    <span className="diag-resolved__times">
                      {clock(f.openedAt)} → {f.resolvedAt ? clock(f.resolvedAt) : "?"}
                      {f.resolvedAt ? ` · open ${duration(f.resolvedAt - f.openedAt)}` : ""}
                    </span>
                  </summary>
                  <FindingCard
                    data={cardData(f)}
                    now={now}
                    tone="resolved"
                    download={<Download f={f} />}
                    meta={
                      <>
                        <span>opened {clock(f.openedAt)}</span>
                        <span>resolved {f.resolvedAt ? `${clock(f.resolvedAt)} (${ago(now, f.resolvedAt)})` : "?"}</span>
                        <span>
                          on <b className="mono">{f.device}</b>
                        </span>
                      </>
                    }
                  />
                </details>
              </li>
            ))}
          </ul>
        )}
      </section>
    </>
  );
}

const RS_REFRESH_MS = 15_000;

/** The real servers' own settings, read through their paired agents (no wire needed: sysctls and addresses). */
function RealServerSettingsSection({ now }: { now: number }) {
  const trpc = useTRPC();
  const q = useQuery(trpc.diagnostics.realServers.queryOptions(undefined, { refetchInterval: RS_REFRESH_MS }));
  return (
    <section className="diag-section" aria-labelledby="rs-settings" data-testid="rs-settings">
      <h3 id="rs-settings" className="section-title">
        Real servers&apos; settings
      </h3>
      {q.isPending ? (
        <p className="muted">Asking the paired real-server agents…</p>
      ) : q.isError ? (
        <p className="text-err">Could not ask the real-server agents: {q.error.message}</p>
      ) : !q.data.available ? (
        <p className="muted">{q.data.reason}</p>
      ) : q.data.servers.length === 0 ? (
        <p className="muted">
          No real-server agent is paired. Start <code>lvsdash rs-agent</code> on each real server and pair it: its
          arp_ignore, arp_announce, rp_filter, VIP and tunl0 are then checked here as its kernel applies them.
        </p>
      ) : (
        q.data.servers.map((rs) => <RealServerSettingsCard key={rs.id} rs={rs} now={now} />)
      )}
    </section>
  );
}

function RealServerSettingsCard({ rs, now }: { rs: RealServerSettings; now: number }) {
  const name = (
    <>
      <b>{rs.name}</b> <span className="mono faint">{rs.url}</span>
    </>
  );
  if (!rs.ok) return <p className="text-warn">{name}: its agent did not answer ({rs.error})</p>;
  if (rs.findings.length === 0) return <p>✓ {name}: settings right for the services it serves</p>;
  return (
    <>
      {rs.findings.map((f) => (
        <FindingCard
          key={`${rs.id}:${f.id}`}
          data={{ key: f.id, severity: f.severity, title: f.title, explanation: f.explanation, hosts: f.hosts, fix: f.fix, evidence: [], activity: null }}
          now={now}
          download={<span className="muted small">read from its agent</span>}
          meta={<span>{name}</span>}
        />
      ))}
    </>
  );
}
