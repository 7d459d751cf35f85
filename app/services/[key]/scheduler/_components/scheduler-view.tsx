"use client";
// The scheduler explainer of one virtual service: the kernel's rule (net/netfilter/ipvs/ip_vs_<scheduler>.c),
// every real server's numbers in the kernel's own list order, and which one gets the next new connection, and
// why. Refreshed every second from the kernel (netlink, through the agent); the rule is evaluated by
// server/ipvs/scheduler/explain.ts, whose picks test/kernel/scheduler.test.ts checks against the real kernel.
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";

import { AgentDownBanner, Banner, ErrorBanner, IpvsUnavailableBanner } from "@/app/_components/banner";
import { formatClock, formatCount } from "@/app/_components/format";
import { useTRPC, type RouterOutputs } from "@/app/_trpc/react";

type View = RouterOutputs["scheduler"]["explain"];
type Found = Extract<View, { found: true }>;
type Explanation = Found["explanation"];

const REFRESH_MS = 1000;
const AGENT_DOWN = new Set(["unavailable", "permission_denied"]);

const CERTAINTY: Record<Explanation["certainty"], { label: string; tone: string; title: string }> = {
  exact: { label: "exact", tone: "ok", title: "The kernel's rule on these numbers gives this server, as long as they do not change first" },
  order: { label: "order only", tone: "info", title: "The order is exact; the kernel's position in it is not reported by any interface" },
  "needs-input": { label: "needs an address", tone: "info", title: "The server depends on an address: give one below" },
  "not-visible": { label: "kernel state not visible", tone: "warn", title: "The rule depends on state the kernel does not report" },
  none: { label: "no server", tone: "err", title: "No real server can take a new connection" },
};

const label = (address: string, port: number) => (address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`);

export function SchedulerView({ serviceKey }: { serviceKey: string }) {
  const trpc = useTRPC();
  const [addr, setAddr] = useState({ client: "", port: "", dest: "" });
  const [typed, setTyped] = useState(addr);
  const input = {
    key: serviceKey,
    ...(addr.client ? { clientAddress: addr.client } : {}),
    ...(addr.port && /^\d+$/.test(addr.port) ? { clientPort: Number(addr.port) } : {}),
    ...(addr.dest ? { destAddress: addr.dest } : {}),
  };
  const q = useQuery(trpc.scheduler.explain.queryOptions(input, { refetchInterval: REFRESH_MS, placeholderData: (prev) => prev }));
  const agentCode = (q.error?.data as { agentCode?: string | null } | undefined)?.agentCode ?? "";
  const serviceHref = `/services/${encodeURIComponent(serviceKey)}`;

  return (
    <>
      <div className="page-state">
        <span className={`live live--${q.isError ? "down" : q.isPending ? "wait" : "ok"}`} data-testid="live-state">
          <span className="live__dot" aria-hidden="true" />
          {q.isPending ? "connecting" : q.isError ? "not updating" : `live · every ${REFRESH_MS / 1000} s${q.data && "takenAt" in q.data ? ` · ${formatClock(q.data.takenAt)}` : ""}`}
        </span>
      </div>
      <main className="page" data-testid="scheduler">
        <nav className="crumbs" aria-label="Breadcrumb">
          <Link href="/">Overview</Link> / <Link href={serviceHref}>{serviceKey}</Link> / Scheduler
        </nav>
        {q.isPending ? (
          <section className="card" aria-busy="true">
            <div className="skeleton skeleton--title" />
            <div className="skeleton" />
            <div className="skeleton" />
          </section>
        ) : q.isError && !q.data ? (
          AGENT_DOWN.has(agentCode) ? (
            <AgentDownBanner message={q.error.message} />
          ) : (
            <ErrorBanner title="Could not read the service from the kernel" message={q.error.message} />
          )
        ) : q.data ? (
          <>
            {q.isError ? (
              <Banner tone="warning" title="Lost contact with the agent: showing the last known numbers">
                <p className="sentence">{q.error.message}</p>
              </Banner>
            ) : null}
            {!q.data.available ? (
              <IpvsUnavailableBanner reason={q.data.reason} where={null} />
            ) : !q.data.found ? (
              <NotFound view={q.data} />
            ) : (
              <Explained
                view={q.data}
                typed={typed}
                onType={setTyped}
                onApply={() => setAddr(typed)}
              />
            )}
          </>
        ) : null}
      </main>
    </>
  );
}

function NotFound({ view }: { view: Extract<View, { found: false }> }) {
  return (
    <section className="empty" data-testid="sched-not-found">
      <h2>
        No virtual service <span className="mono">{view.key}</span> on this director
      </h2>
      <p>It may have been deleted, or the address in the link is wrong.{view.services.length > 0 ? " The director has these:" : " The director has no virtual services."}</p>
      {view.services.length > 0 ? (
        <ul className="sched-links">
          {view.services.map((k) => (
            <li key={k}>
              <Link className="mono" href={`/services/${encodeURIComponent(k)}/scheduler`}>
                {k}
              </Link>
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}

function Explained(props: {
  view: Found;
  typed: { client: string; port: string; dest: string };
  onType: (t: { client: string; port: string; dest: string }) => void;
  onApply: () => void;
}) {
  const { view } = props;
  const e = view.explanation;
  const pick = e.pick === null ? null : e.rows[e.pick];
  const c = CERTAINTY[e.certainty];
  const wantsClient = e.scheduler === "sh" || e.scheduler === "mh";
  const wantsDest = e.scheduler === "dh" || e.scheduler === "lblc" || e.scheduler === "lblcr";
  return (
    <>
      <header className="page-head">
        <div>
          <h2 className="page-title">
            Scheduler <span className="pill"><b>{e.scheduler}</b><span className="pill__note"> {e.name}</span></span>
          </h2>
          <p className="page-sub">
            <span className="mono">{view.key}</span> · rule of <span className="mono">{e.source}</span>
            {view.persistent ? ` · persistent ${view.timeout} s` : ""}
            {view.sched1 ? " · flag sched1" : ""}
            {view.sched2 ? " · flag sched2" : ""}
          </p>
        </div>
      </header>

      <section className={`card sched-next sched-next--${c.tone}`} data-testid="sched-next">
        <div className="sched-next__head">
          <h3 className="card__label">Next new connection</h3>
          <span className={`sched-certainty sched-certainty--${c.tone}`} title={c.title}>
            {c.label}
          </span>
        </div>
        <p className="sched-next__pick">
          {pick ? (
            <>
              → <span className="mono" data-testid="sched-pick">{label(pick.address, pick.port)}</span>
              {e.hash?.inputAddress ? <span className="sched-next__for"> for {e.hash.input} {e.hash.inputAddress}</span> : null}
            </>
          ) : e.certainty === "order" && e.order ? (
            <>one of the cycle below</>
          ) : e.certainty === "none" ? (
            <>no real server</>
          ) : e.certainty === "needs-input" ? (
            <>depends on the {e.hash?.input ?? "address"}</>
          ) : (
            <>not computable here</>
          )}
        </p>
        <p className="sched-next__why">{e.reason}</p>
        <p className="sched-rule">
          <span className="muted">Rule:</span> {e.rule}
        </p>
      </section>

      {wantsClient || wantsDest ? (
        <form
          className="card sched-input"
          onSubmit={(ev) => {
            ev.preventDefault();
            props.onApply();
          }}
        >
          <h3 className="card__label">{wantsClient ? "Which server does a client land on?" : "Which server does a destination address land on?"}</h3>
          <div className="sched-input__row">
            {wantsClient ? (
              <label className="conn-field">
                <span>Client address</span>
                <input className="mono" value={props.typed.client} placeholder="203.0.113.50" onChange={(ev) => props.onType({ ...props.typed, client: ev.target.value })} />
              </label>
            ) : (
              <label className="conn-field">
                <span>Destination address</span>
                <input className="mono" value={props.typed.dest} placeholder="192.0.2.100" onChange={(ev) => props.onType({ ...props.typed, dest: ev.target.value })} />
              </label>
            )}
            {wantsClient && view.sched2 ? (
              <label className="conn-field">
                <span>Client port ({e.scheduler}-port)</span>
                <input className="mono sched-port" value={props.typed.port} placeholder="40000" onChange={(ev) => props.onType({ ...props.typed, port: ev.target.value })} />
              </label>
            ) : null}
            <button type="submit" className="button">
              Show
            </button>
          </div>
        </form>
      ) : null}

      <section className="card" data-testid="sched-servers">
        <div className="card__head">
          <h3 className="card__label">Real servers, in the order the kernel walks them</h3>
          <span className="muted small">newest first: the kernel adds a real server at the head of its list</span>
        </div>
        {e.rows.length === 0 ? (
          <p className="muted">No real servers: add one with ipvsadm -a; until then every new connection is dropped.</p>
        ) : (
          <div className="table-scroll">
            <table className="grid sched-table">
              <thead>
                <tr>
                  <th className="num">#</th>
                  <th>Real server</th>
                  <th className="num">Weight</th>
                  <th className="num">Active</th>
                  <th className="num">Inactive</th>
                  <th>{e.scoreLabel ?? "Rule"}</th>
                  <th>For new connections</th>
                </tr>
              </thead>
              <tbody>
                {e.rows.map((r) => (
                  <tr key={r.index} className={r.picked ? "sched-row--pick" : r.skipped ? "row--quiesced" : undefined} data-testid={r.picked ? "sched-picked-row" : undefined}>
                    <td className="num muted">{r.index + 1}</td>
                    <td className="mono">{label(r.address, r.port)}</td>
                    <td className="num">{formatCount(r.weight)}</td>
                    <td className="num">{formatCount(r.activeConns)}</td>
                    <td className="num">{formatCount(r.inactiveConns)}</td>
                    <td className="mono sched-score">{r.scoreText ?? "–"}</td>
                    <td>
                      {r.picked ? (
                        <span className="tag tag--ok">next</span>
                      ) : r.skipped ? (
                        <span className="muted small">{r.skipped}</span>
                      ) : r.overloaded === null ? (
                        <span className="text-warn small">overload flag unknown</span>
                      ) : (
                        <span className="muted small">candidate</span>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      {e.order && e.order.length > 0 ? (
        <section className="card" data-testid="sched-order">
          <div className="card__head">
            <h3 className="card__label">{e.scheduler === "wrr" ? `One cycle: ${e.order.length} new connections` : "Round"}</h3>
          </div>
          <ol className="sched-order">
            {e.order.slice(0, 200).map((i, n) => {
              const r = e.rows[i];
              return r ? (
                <li key={n} className="mono" title={`#${n + 1}`}>
                  {label(r.address, r.port)}
                </li>
              ) : null;
            })}
          </ol>
          {e.order.length > 200 ? <p className="muted small">and {e.order.length - 200} more</p> : null}
        </section>
      ) : null}

      {e.notes.length > 0 ? (
        <section className="card sched-notes">
          <h3 className="card__label">Worth knowing</h3>
          <ul>
            {e.notes.map((n) => (
              <li key={n}>{n}</li>
            ))}
          </ul>
        </section>
      ) : null}
    </>
  );
}
