"use client";
// The overview: every virtual service with its live numbers, pushed every second by the sampler over SSE
// (dashboard.onSample); the first render comes from the dashboard.overview query the server prefetched.
import { useQuery } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useRef } from "react";

import { useTRPC } from "@/app/_trpc/react";

import { ErrorBanner } from "./banner";
import { appendSparkPoints, seedSparkPoints, type LiveOverview, type SparkPoint } from "./format";
import { HistoryOffBanner, LiveState, NotLiveBanner, StaleBanner, newest, useLastLive } from "./live";
import { NoServices, OverviewSummary, ServiceTable, ServicesSkeleton } from "./services";

export function Dashboard() {
  const trpc = useTRPC();
  const first = useQuery(trpc.dashboard.overview.queryOptions());
  const sub = useSubscription(trpc.dashboard.onSample.subscriptionOptions());
  const view = newest(first.data, sub.data);
  const live = useLastLive(view);
  const history = useQuery(trpc.history.sparklines.queryOptions(undefined, { enabled: live !== undefined && live.history.recording, staleTime: Infinity }));
  const sparks = useSparks(live, history.data?.series);

  return (
    <>
      <LiveState conn={sub} view={view} />
      <main className="page">
        <header className="page-head">
          <div>
            <h2 className="page-title">Overview</h2>
            <p className="page-sub">
              Every virtual service on this director{live?.ipvsVersion ? ` · IPVS ${live.ipvsVersion}` : ""}
              {live?.connTableSize ? ` · connection table ${live.connTableSize.toLocaleString("en-US")} buckets` : ""}
            </p>
          </div>
        </header>
        {!view ? (
          first.isError ? (
            <ErrorBanner title="Could not load the overview" message={first.error.message} />
          ) : (
            <ServicesSkeleton />
          )
        ) : view.kind === "unavailable" || (view.kind === "down" && !live) ? (
          <NotLiveBanner view={view} />
        ) : live ? (
          <>
            {view.kind === "down" ? <StaleBanner since={live.t} message={view.error.message} /> : null}
            {!live.history.recording ? <HistoryOffBanner error={live.history.error} /> : null}
            <OverviewSummary view={live} />
            {live.services.length === 0 ? <NoServices /> : <ServiceTable view={live} sparks={sparks} />}
          </>
        ) : null}
      </main>
    </>
  );
}

/** Sparkline points: the history query's last 5 minutes under the live samples appended since. */
function useSparks(live: LiveOverview | undefined, history: Record<string, { t: number[]; conns: (number | null)[] }> | undefined): Record<string, SparkPoint[]> {
  const state = useRef<{ seq: number; seeded: boolean; data: Record<string, SparkPoint[]> }>({ seq: -1, seeded: false, data: {} });
  const s = state.current;
  if (live && live.seq !== s.seq) {
    s.seq = live.seq;
    s.data = appendSparkPoints(s.data, live);
  }
  if (history && !s.seeded) {
    s.seeded = true;
    s.data = seedSparkPoints(s.data, history);
  }
  return s.data;
}
