"use client";
// What every live page shares: the newest view from the first query and the SSE subscription, the last good
// sample kept while the agent or the connection is down, and the page's live state (pill + banner).
//
// Two different failures, told apart on purpose:
//   - the browser lost the dashboard server (SSE connection down): the subscription's status is "connecting";
//     the browser's EventSource retries by itself, and the page says so until the next sample arrives;
//   - the dashboard server is fine but the agent is not (view.kind "down"): the server keeps ticking and the
//     page recovers on the first good tick.
import type { TRPCSubscriptionStatus } from "@trpc/tanstack-react-query";
import { useRef } from "react";

import { AgentDownBanner, Banner, ErrorBanner, IpvsUnavailableBanner } from "./banner";
import { formatClock } from "./format";

interface Timed {
  kind: string;
  t: number;
}

/** The newer of two views (by sample time); either may be missing. */
export function newest<V extends Timed>(a: V | undefined, b: V | undefined): V | undefined {
  if (!a) return b;
  if (!b) return a;
  return b.t >= a.t ? b : a;
}

/** The last view whose kind was "live" (kept across renders), so a failure shows what was last known. */
export function useLastLive<V extends Timed>(view: V | undefined): Extract<V, { kind: "live" }> | undefined {
  const last = useRef<Extract<V, { kind: "live" }> | undefined>(undefined);
  if (view?.kind === "live") last.current = view as Extract<V, { kind: "live" }>;
  return last.current;
}

export interface ConnectionState {
  status: TRPCSubscriptionStatus;
  /** The subscription's last error (while reconnecting or stopped). */
  error: { message: string } | null;
  /** Start over after a stop ("error": the server refused the subscription). */
  reset: () => void;
}

type Phase = "connecting" | "unreachable" | "live" | "reconnecting" | "stopped" | "agent-down" | "no-ipvs";

function phaseOf(conn: ConnectionState, view: Timed | undefined, everConnected: boolean): Phase {
  if (conn.status === "error") return "stopped";
  if (conn.status === "connecting" || conn.status === "idle") return everConnected ? "reconnecting" : conn.error ? "unreachable" : "connecting";
  if (view?.kind === "down") return "agent-down";
  if (view?.kind === "unavailable") return "no-ipvs";
  return "live";
}

/** The page's live state, and what to do when it is not live. */
export function LiveState({ conn, view, intervalS = 1 }: { conn: ConnectionState; view: Timed | undefined; intervalS?: number }) {
  const connected = useRef(false);
  if (conn.status === "pending") connected.current = true;
  const phase = phaseOf(conn, view, connected.current);
  const at = view ? formatClock(view.t) : null;
  const tone = phase === "live" ? "ok" : phase === "connecting" ? "wait" : "down";
  const text: Record<Phase, string> = {
    connecting: "connecting",
    unreachable: "cannot reach the live stream · retrying",
    live: `live · every ${intervalS} s${at ? ` · ${at}` : ""}`,
    reconnecting: "connection lost · reconnecting",
    stopped: "live updates stopped",
    "agent-down": "agent not answering",
    "no-ipvs": "no IPVS in this kernel",
  };
  return (
    <>
      <div className="page-state">
        <span className={`live live--${tone}`} data-testid="live-state" data-phase={phase} data-t={view?.t ?? ""}>
          <span className="live__dot" aria-hidden="true" />
          {text[phase]}
        </span>
      </div>
      {phase === "unreachable" ? (
        <div className="page page--flush">
          <Banner tone="warning" title="Live updates cannot start: the live stream does not answer">
            <p>
              The page shows the numbers it loaded with and keeps trying. Check that the dashboard is running
              (<code>npm start</code>) and that a proxy in front of it passes Server-Sent Events (buffering off).
            </p>
            {conn.error ? <p className="sentence muted">{conn.error.message}</p> : null}
          </Banner>
        </div>
      ) : null}
      {phase === "reconnecting" && view ? (
        <div className="page page--flush">
          <Banner tone="warning" title={`Live updates paused: lost the connection to the dashboard server${at ? ` (last sample ${at})` : ""}`}>
            <p>
              The browser reconnects by itself; the numbers below are from the last sample and start moving again
              as soon as it is back. If this stays, check that the dashboard is still running (<code>npm start</code>)
              and that nothing between you and it cuts long-lived HTTP responses (a proxy needs buffering off for
              Server-Sent Events).
            </p>
          </Banner>
        </div>
      ) : null}
      {phase === "stopped" ? (
        <div className="page page--flush">
          <Banner tone="error" title="Live updates stopped">
            <p className="sentence">{conn.error?.message ?? "the server ended the live stream"}</p>
            <p>
              <button type="button" className="button" onClick={conn.reset}>
                Reconnect
              </button>
            </p>
          </Banner>
        </div>
      ) : null}
    </>
  );
}

/** Shown above last-known numbers while the agent does not answer. */
export function StaleBanner({ since, message }: { since: number | null; message: string }) {
  return (
    <Banner tone="warning" title={`Lost contact with the agent: showing the last known state${since ? ` (from ${formatClock(since)})` : ""}`}>
      <p className="sentence">{message}</p>
      <p>The dashboard keeps asking every second and updates as soon as the agent answers again.</p>
    </Banner>
  );
}

/** Shown when the sampler cannot write history: the live view works, charts over time do not. */
export function HistoryOffBanner({ error }: { error: string | null }) {
  return (
    <Banner tone="info" title="History is not being recorded">
      <p className="sentence">{error ?? "the history store is not open"}</p>
    </Banner>
  );
}

type NotLiveView = { kind: "unavailable"; reason: string } | { kind: "down"; error: { message: string; agentCode: string | null } };

/** What a page shows when it has nothing live: no IPVS in this kernel, or no sample read yet (agent down). */
export function NotLiveBanner({ view }: { view: NotLiveView }) {
  if (view.kind === "unavailable") return <IpvsUnavailableBanner reason={view.reason} where={null} />;
  if (view.error.agentCode === "unavailable" || view.error.agentCode === "permission_denied") return <AgentDownBanner message={view.error.message} />;
  return <ErrorBanner title="Could not read the IPVS state" message={view.error.message} />;
}
