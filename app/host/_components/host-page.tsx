"use client";
// The director itself: IPVS version and connection table size, the connection timeouts, the sync daemons that
// replicate connections to a backup director, the host and agent, and where the dashboard keeps its history.
import { useQuery } from "@tanstack/react-query";

import { AgentDownBanner, ErrorBanner, IpvsUnavailableBanner } from "@/app/_components/banner";
import { formatCount, formatSeconds } from "@/app/_components/format";
import { useTRPC, type RouterOutputs } from "@/app/_trpc/react";

const REFRESH_MS = 5_000;
const AGENT_DOWN = new Set(["unavailable", "permission_denied"]);

type HostIpvs = Extract<RouterOutputs["host"]["ipvs"], { available: true }>;

export function HostPage() {
  const trpc = useTRPC();
  const ipvs = useQuery(trpc.host.ipvs.queryOptions(undefined, { refetchInterval: REFRESH_MS }));
  const info = useQuery(trpc.host.info.queryOptions(undefined, { refetchInterval: REFRESH_MS * 2 }));
  const history = useQuery(trpc.host.history.queryOptions(undefined, { refetchInterval: REFRESH_MS }));
  const agentCode = (ipvs.error?.data as { agentCode?: string | null } | undefined)?.agentCode ?? "";

  return (
    <main className="page">
      <header className="page-head">
        <div>
          <h2 className="page-title">Host</h2>
          <p className="page-sub">
            {info.data ? `${info.data.hostname} · Linux ${info.data.kernelRelease}` : "The director the agent runs on"}
          </p>
        </div>
      </header>
      {ipvs.isPending ? (
        <div className="host-grid" aria-busy="true">
          {[0, 1, 2].map((i) => (
            <section className="card" key={i}>
              <div className="skeleton skeleton--title" />
              <div className="skeleton" />
            </section>
          ))}
        </div>
      ) : ipvs.isError ? (
        AGENT_DOWN.has(agentCode) ? (
          <AgentDownBanner message={ipvs.error.message} />
        ) : (
          <ErrorBanner title="Could not read IPVS on this host" message={ipvs.error.message} />
        )
      ) : !ipvs.data.available ? (
        <IpvsUnavailableBanner reason={ipvs.data.reason} where={info.data ? `${info.data.hostname}, Linux ${info.data.kernelRelease}` : null} />
      ) : (
        <div className="host-grid">
          <IpvsCard d={ipvs.data} />
          <TimeoutsCard d={ipvs.data} />
          <DaemonsCard d={ipvs.data} />
        </div>
      )}
      <div className="host-grid">
        <section className="card" data-testid="host-agent">
          <h3 className="card__label">Host and agent</h3>
          {info.data ? (
            <dl className="kv">
              <dt>Host name</dt>
              <dd className="mono">{info.data.hostname}</dd>
              <dt>Kernel</dt>
              <dd className="mono">{info.data.kernelRelease}</dd>
              <dt>Agent runs as</dt>
              <dd>{info.data.uid === 0 ? "root" : `uid ${info.data.uid}`}</dd>
              <dt>CAP_NET_ADMIN</dt>
              <dd className={info.data.capNetAdmin === false ? "text-warn" : undefined}>
                {info.data.capNetAdmin === null ? "unknown" : info.data.capNetAdmin ? "yes: can change IPVS" : "no: can read, not change IPVS"}
              </dd>
            </dl>
          ) : info.isError ? (
            <p className="text-err small sentence">{info.error.message}</p>
          ) : (
            <div className="skeleton" />
          )}
        </section>
        <section className="card" data-testid="host-history">
          <h3 className="card__label">History store</h3>
          {history.data ? (
            <dl className="kv">
              <dt>Data directory</dt>
              <dd className="mono">{history.data.dir ?? "–"}</dd>
              <dt>Recording</dt>
              <dd className={history.data.recording ? "text-ok" : "text-warn"}>{history.data.recording ? "yes, every second" : "no"}</dd>
              {history.data.error ? (
                <>
                  <dt>Why not</dt>
                  <dd className="sentence small">{history.data.error}</dd>
                </>
              ) : null}
              <dt>Kept</dt>
              <dd>1-second samples for 1 hour, 1-minute rollups for 7 days</dd>
            </dl>
          ) : history.isError ? (
            <p className="text-err small sentence">{history.error.message}</p>
          ) : (
            <div className="skeleton" />
          )}
        </section>
      </div>
    </main>
  );
}

function IpvsCard({ d }: { d: HostIpvs }) {
  return (
    <section className="card" data-testid="host-ipvs">
      <h3 className="card__label">IPVS</h3>
      <dl className="kv">
        <dt>Version</dt>
        <dd>
          <b data-metric="version">{d.version}</b> <span className="muted small">(0x{d.versionCode.toString(16).padStart(6, "0")})</span>
        </dd>
        <dt>Connection table</dt>
        <dd>
          <b data-metric="conn-table-size">{formatCount(d.connTableSize)}</b> hash buckets
          <div className="muted small">
            a hash table, not a limit: set with <code>modprobe ip_vs conn_tab_bits=N</code> (2^N buckets) when the
            module loads
          </div>
        </dd>
        <dt>Table</dt>
        <dd>
          {formatCount(d.services)} virtual service{d.services === 1 ? "" : "s"}, {formatCount(d.realServers)} real server
          {d.realServers === 1 ? "" : "s"}
        </dd>
      </dl>
    </section>
  );
}

function TimeoutsCard({ d }: { d: HostIpvs }) {
  const rows: [string, number | null, string][] = [
    ["TCP", d.timeouts.tcp, "established TCP connections"],
    ["TCP FIN", d.timeouts.tcpFin, "TCP connections after the FIN"],
    ["UDP", d.timeouts.udp, "UDP flows"],
  ];
  return (
    <section className="card" data-testid="host-timeouts">
      <h3 className="card__label">Connection timeouts</h3>
      <dl className="kv">
        {rows.map(([name, v, what]) => (
          <div key={name} className="kv__row">
            <dt>{name}</dt>
            <dd>
              <b data-metric={name}>{v === null ? "–" : formatSeconds(v)}</b> <span className="muted small">{what}</span>
            </dd>
          </div>
        ))}
      </dl>
      <p className="muted small">
        Change with <code>ipvsadm --set TCP TCPFIN UDP</code> (seconds; 0 keeps a value).
      </p>
    </section>
  );
}

function DaemonsCard({ d }: { d: HostIpvs }) {
  return (
    <section className="card" data-testid="host-daemons">
      <h3 className="card__label">Connection sync daemons</h3>
      {d.daemons.length === 0 ? (
        <>
          <p>
            <b>None running.</b> Connections are not replicated: after a fail-over to a backup director, clients
            reconnect.
          </p>
          <p className="muted small">
            To replicate, start a master here and a backup on the standby director:{" "}
            <code>ipvsadm --start-daemon master --mcast-interface eth0 --syncid 1</code>
          </p>
        </>
      ) : (
        <table className="grid grid--compact">
          <thead>
            <tr>
              <th>State</th>
              <th>Interface</th>
              <th className="num">Sync ID</th>
              <th>Group</th>
              <th className="num">Max len</th>
              <th className="num">TTL</th>
            </tr>
          </thead>
          <tbody>
            {d.daemons.map((x) => (
              <tr key={`${x.state}-${x.syncId}`}>
                <td>
                  <span className={`tag ${x.state === "master" ? "tag--ok" : ""}`}>{x.state}</span>
                </td>
                <td className="mono">{x.mcastInterface}</td>
                <td className="num">{x.syncId}</td>
                <td className="mono">{x.mcastGroup ? `${x.mcastGroup}${x.mcastPort ? `:${x.mcastPort}` : ""}` : "default"}</td>
                <td className="num">{x.syncMaxLen ?? "–"}</td>
                <td className="num">{x.mcastTtl ?? "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
