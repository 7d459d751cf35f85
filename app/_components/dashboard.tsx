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
      <TopBar host={host.data} live={!status.isError} loading={status.isPending} />
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

function TopBar({
  host,
  live,
  loading,
}: {
  host: RouterOutputs["host"]["info"] | undefined;
  live: boolean;
  loading: boolean;
}) {
  return (
    <header className="topbar">
      <div className="topbar__brand">
        <span className="topbar__logo" aria-hidden="true">
          LVS
        </span>
        <div>
          <h1>LVS Dashboard</h1>
          <p>IPVS virtual services on this director</p>
        </div>
      </div>
      <div className="topbar__facts">
        {host ? (
          <>
            <Fact label="Host" value={host.hostname} />
            <Fact label="Kernel" value={host.kernelRelease} />
            <Privileges host={host} />
          </>
        ) : null}
        <span className={`live ${loading ? "live--wait" : live ? "live--ok" : "live--down"}`}>
          <span className="live__dot" aria-hidden="true" />
          {loading ? "connecting" : live ? `live · every ${REFRESH_MS / 1000} s` : "not updating"}
        </span>
      </div>
    </header>
  );
}

function Fact({ label, value }: { label: string; value: string }) {
  return (
    <span className="fact">
      <span className="fact__label">{label}</span> {value}
    </span>
  );
}

function Privileges({ host }: { host: RouterOutputs["host"]["info"] }) {
  const admin = host.capNetAdmin ?? host.uid === 0;
  const who = host.uid === 0 ? "root" : `uid ${host.uid}`;
  return (
    <span
      className={`fact ${admin ? "fact--ok" : "fact--warn"}`}
      title={admin ? "The agent can read and change IPVS" : "Without CAP_NET_ADMIN the agent cannot change IPVS"}
    >
      <span className="fact__label">Agent</span> {who}
      {admin ? " · CAP_NET_ADMIN" : " · no CAP_NET_ADMIN"}
    </span>
  );
}
