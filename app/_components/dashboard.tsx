"use client";
// The first page: what the kernel under the agent says about IPVS, refreshed every 2 s.
import { useQuery } from "@tanstack/react-query";

import { useTRPC, type RouterOutputs } from "@/app/_trpc/react";

import { AgentDownBanner, Banner, ErrorBanner, IpvsUnavailableBanner } from "./banner";
import { IpvsSummary, ServiceList, ServicesSkeleton } from "./services";

const REFRESH_MS = 2000;

/** The agent codes that mean "no agent to talk to", as opposed to an agent that answered with a failure. */
const AGENT_DOWN = new Set(["unavailable", "permission_denied"]);

interface QueryError {
  message: string;
  data?: { agentCode?: string | null } | null;
}

function isAgentDown(error: QueryError | null): boolean {
  return AGENT_DOWN.has(error?.data?.agentCode ?? "");
}

export function Dashboard() {
  const trpc = useTRPC();
  const status = useQuery(trpc.ipvs.status.queryOptions(undefined, { refetchInterval: REFRESH_MS }));
  const host = useQuery(trpc.host.info.queryOptions(undefined, { refetchInterval: REFRESH_MS * 5 }));
  const agentDown = isAgentDown(status.error);

  return (
    <>
      <LiveState live={!status.isError} loading={status.isPending} />
      <main className="page">
        {status.isPending ? (
          <ServicesSkeleton />
        ) : status.isError && !status.data ? (
          agentDown ? (
            <AgentDownBanner message={status.error.message} />
          ) : (
            <ErrorBanner title="Could not read the IPVS state" message={status.error.message} />
          )
        ) : status.data ? (
          <>
            {status.isError ? (
              <Banner
                tone="warning"
                title={agentDown ? "Lost contact with the agent: showing the last known state" : "Refresh failed: showing the last known state"}
              >
                <p className="sentence">{status.error.message}</p>
              </Banner>
            ) : null}
            {status.data.available ? (
              <>
                <IpvsSummary table={status.data.table} />
                <ServiceList services={status.data.table.services} />
              </>
            ) : (
              <IpvsUnavailableBanner
                reason={status.data.reason}
                where={host.data ? `${host.data.hostname}, Linux ${host.data.kernelRelease}` : null}
              />
            )}
          </>
        ) : null}
      </main>
    </>
  );
}

function LiveState({ live, loading }: { live: boolean; loading: boolean }) {
  return (
    <div className="page-state">
      <span className={`live ${loading ? "live--wait" : live ? "live--ok" : "live--down"}`}>
        <span className="live__dot" aria-hidden="true" />
        {loading ? "connecting" : live ? `live · every ${REFRESH_MS / 1000} s` : "not updating"}
      </span>
    </div>
  );
}
