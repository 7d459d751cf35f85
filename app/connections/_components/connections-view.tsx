"use client";
// The connection table explorer. What it shows comes from the agent's background pass over
// /proc/net/ip_vs_conn (server/ipvs/conntable/): the summary of the whole table, and filtered pages of the
// entries that pass kept. Nothing here makes the kernel read its table inside a request: "Read now" asks the
// agent for a pass and the page follows its progress. Addresses are shown as numbers: no DNS lookups.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type CSSProperties, type ReactNode } from "react";

import { AgentDownBanner, Banner, ErrorBanner } from "@/app/_components/banner";
import { formatClock, formatCount } from "@/app/_components/format";
import { useTRPC, type RouterOutputs } from "@/app/_trpc/react";

import {
  cidrProblem, formatAge, formatBytes, hostPort, isFiltered, NO_FILTER, toQueryFilter, type FilterState,
} from "./format";

type Status = RouterOutputs["connections"]["status"];
type Summary = NonNullable<Status["summary"]>;
type Page = NonNullable<RouterOutputs["connections"]["page"]>;

const PAGE_SIZE = 50;
const AGENT_DOWN = new Set(["unavailable", "permission_denied"]);
const agentCodeOf = (e: unknown) => ((e as { data?: { agentCode?: string | null } } | null)?.data?.agentCode ?? "");

export function ConnectionsView() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [filter, setFilter] = useState<FilterState>(NO_FILTER);
  const [offset, setOffset] = useState(0);
  const status = useQuery(
    trpc.connections.status.queryOptions(undefined, {
      // Follow a pass in flight closely; otherwise the age moves by itself (computed from the agent's clock).
      refetchInterval: (q) => (q.state.data?.progress.inFlight || !q.state.data?.summary ? 1000 : 5000),
    }),
  );
  const queryFilter = toQueryFilter(filter);
  const cidrError = cidrProblem(filter.clientCidr);
  const finishedAt = status.data?.finishedAt ?? null;
  const page = useQuery(
    trpc.connections.page.queryOptions(
      { filter: queryFilter, offset, limit: PAGE_SIZE },
      { enabled: finishedAt !== null && cidrError === null, placeholderData: (prev) => prev },
    ),
  );
  // A new pass: the pages come from it now.
  useEffect(() => {
    if (finishedAt !== null) void queryClient.invalidateQueries({ queryKey: trpc.connections.page.queryKey() });
  }, [finishedAt, queryClient, trpc]);
  const refresh = useMutation(
    trpc.connections.refresh.mutationOptions({
      onSuccess: (r) => queryClient.setQueryData(trpc.connections.status.queryKey(), r.status),
    }),
  );

  const change = (f: Partial<FilterState>) => {
    setFilter((old) => ({ ...old, ...f }));
    setOffset(0);
  };

  if (status.isPending) return <ConnectionsSkeleton />;
  if (status.isError && !status.data) {
    return (
      <main className="page">
        <Head />
        {AGENT_DOWN.has(agentCodeOf(status.error)) ? (
          <AgentDownBanner message={status.error.message} />
        ) : (
          <ErrorBanner title="Could not ask the agent about the connection table" message={status.error.message} />
        )}
      </main>
    );
  }
  const s = status.data;
  return (
    <main className="page" data-testid="connections">
      <Head>
        <RefreshPanel status={s} onRefresh={() => refresh.mutate()} pending={refresh.isPending} />
      </Head>
      {status.isError ? (
        <Banner tone="warning" title="Lost contact with the agent: showing the last known state">
          <p className="sentence">{status.error.message}</p>
        </Banner>
      ) : null}
      {refresh.isError ? <ErrorBanner title="Could not start a read" message={refresh.error.message} /> : null}
      {s.error ? <PassError status={s} /> : null}
      {s.summary === null ? (
        s.error ? null : <FirstPass status={s} />
      ) : (
        <>
          <SummaryStrip summary={s.summary} />
          <div className="conn-grid">
            <CountCard
              title="By state"
              rows={s.summary.byState.map((b) => ({ key: b.key, label: b.key, count: b.count }))}
              total={s.summary.matched}
              active={(k) => filter.states.includes(k)}
              onPick={(k) => change({ states: filter.states.includes(k) ? filter.states.filter((x) => x !== k) : [...filter.states, k] })}
              hint="Click a state to filter; several add up."
            />
            <CountCard
              title="By virtual service"
              rows={s.summary.byVirtual.map((v) => ({ key: `${v.protocol} ${hostPort(v.address, v.port)}`, label: `${v.protocol} ${hostPort(v.address, v.port)}`, count: v.count }))}
              total={s.summary.matched}
              active={(k) => filter.virtual === k}
              onPick={(k) => change({ virtual: filter.virtual === k ? "" : k })}
              mono
            />
            <CountCard
              title="By real server"
              rows={s.summary.byReal.map((r) => ({ key: hostPort(r.address, r.port), label: hostPort(r.address, r.port), count: r.count }))}
              total={s.summary.matched}
              active={(k) => filter.real === k}
              onPick={(k) => change({ real: filter.real === k ? "" : k })}
              mono
            />
            <TopCard
              title="Top clients"
              list={s.summary.topClients}
              toCidr={(k) => (k.includes(":") ? `${k}/128` : `${k}/32`)}
              active={filter.clientCidr}
              onPick={(c) => change({ clientCidr: filter.clientCidr === c ? "" : c })}
            />
            <TopCard
              title="Top client prefixes (/24, /64)"
              list={s.summary.topClientPrefixes}
              toCidr={(k) => k}
              active={filter.clientCidr}
              onPick={(c) => change({ clientCidr: filter.clientCidr === c ? "" : c })}
            />
          </div>
          <FilterBar summary={s.summary} filter={filter} cidrError={cidrError} onChange={change} />
          <EntryTable
            page={page.data ?? null}
            loading={page.isPending || page.isFetching}
            error={page.isError ? page.error.message : cidrError ? `Client range: ${cidrError}` : null}
            filtered={isFiltered(filter)}
            offset={offset}
            onOffset={setOffset}
            onClear={() => change(NO_FILTER)}
            retainEntries={s.retainEntries}
          />
        </>
      )}
    </main>
  );
}

function Head({ children }: { children?: ReactNode }) {
  return (
    <header className="page-head">
      <div>
        <h2 className="page-title">Connections</h2>
        <p className="page-sub">The IPVS connection table (/proc/net/ip_vs_conn), read by the agent in the background.</p>
      </div>
      {children}
    </header>
  );
}

/** The age of what is shown, the pass in flight, and the button that asks for one. */
function RefreshPanel({ status: s, onRefresh, pending }: { status: Status; onRefresh: () => void; pending: boolean }) {
  const inFlight = s.progress.inFlight;
  return (
    <div className="conn-refresh" data-testid="conn-refresh">
      <div className="conn-refresh__text">
        {s.finishedAt !== null && s.ageMs !== null ? (
          <span>
            Read <b>{formatAge(s.ageMs)}</b> ago ({formatClock(s.finishedAt)}), in {formatAge(s.durationMs ?? 0)}
          </span>
        ) : (
          <span>Not read yet</span>
        )}
        {inFlight ? (
          <span className="conn-refresh__progress" data-testid="conn-progress">
            <span className="conn-spinner" aria-hidden="true" /> reading: {formatCount(s.progress.rows)} entries, {formatBytes(s.progress.bytes)}
            {s.progress.startedAt !== null ? `, ${formatAge(s.now - s.progress.startedAt)}` : ""}
          </span>
        ) : s.nextAt !== null ? (
          <span className="muted small">next read in {formatAge(Math.max(0, s.nextAt - s.now))}</span>
        ) : null}
      </div>
      <button type="button" className="button" onClick={onRefresh} disabled={pending || inFlight} title="Reads the whole table once more, in the background">
        {inFlight ? "Reading…" : "Read now"}
      </button>
    </div>
  );
}

function PassError({ status: s }: { status: Status }) {
  const e = s.error;
  if (!e) return null;
  const notLoaded = e.code === "ENOENT";
  return (
    <Banner
      tone={s.summary ? "warning" : "error"}
      title={notLoaded ? "IPVS is not loaded: there is no connection table to read" : "The last read of the connection table failed"}
    >
      <p className="sentence">
        {e.message}
        {e.code ? ` (${e.code})` : ""}, at {formatClock(e.at)}.
      </p>
      {s.summary ? <p>The numbers below are from the last read that worked, {formatAge(s.ageMs ?? 0)} ago.</p> : null}
      {notLoaded ? (
        <p>
          Load IPVS as root with <code>modprobe ip_vs</code> and create a virtual service; the agent reads the table
          again by itself (or press Read now).
        </p>
      ) : (
        <p>The agent tries again by itself, waiting longer after each failure; press Read now to try at once.</p>
      )}
    </Banner>
  );
}

function FirstPass({ status: s }: { status: Status }) {
  return (
    <section className="empty" data-testid="conn-first-pass">
      <h2>Reading the connection table for the first time…</h2>
      <p>
        {formatCount(s.progress.rows)} entries ({formatBytes(s.progress.bytes)}) so far. On kernels before 6.14 every
        read of /proc/net/ip_vs_conn walks the table from its start, so a table of a few hundred thousand entries takes
        minutes: the agent reads it in the background and this page fills in when the pass ends.
      </p>
    </section>
  );
}

function SummaryStrip({ summary }: { summary: Summary }) {
  const cells: [string, string, string?][] = [
    ["Entries", formatCount(summary.entries), "in the table"],
    ["Connections", formatCount(summary.matched), "templates left out"],
    ["Persistence templates", formatCount(summary.templates)],
    ["Virtual services", formatCount(summary.byVirtual.length)],
    ["Real servers", formatCount(summary.byReal.length)],
    ["Distinct clients", `${summary.topClients.exact ? "" : "≥ "}${formatCount(summary.topClients.tracked)}`],
  ];
  return (
    <>
      <dl className="summary" data-testid="conn-summary">
        {cells.map(([label, value, unit]) => (
          <div className="summary__cell" key={label}>
            <dt>{label}</dt>
            <dd>
              {value}
              {unit ? <span className="summary__unit"> {unit}</span> : null}
            </dd>
          </div>
        ))}
      </dl>
      {summary.malformed > 0 ? (
        <Banner tone="warning" title={`${formatCount(summary.malformed)} lines of the table could not be read`}>
          <p className="sentence mono">{summary.malformedSamples[0] ? `line ${summary.malformedSamples[0].line}: ${summary.malformedSamples[0].reason}` : ""}</p>
        </Banner>
      ) : null}
    </>
  );
}

/** One label column for a whole card, so that its bars line up: as wide as its longest label (monospace-ish). */
function labelWidth(labels: string[]): CSSProperties {
  const longest = Math.max(6, ...labels.map((l) => l.length));
  return { ["--conn-label" as string]: `${Math.min(260, Math.ceil(longest * 7.2) + 6)}px` };
}

interface CountRow {
  key: string;
  label: string;
  count: number;
}

function CountCard(props: {
  title: string;
  rows: CountRow[];
  total: number;
  active: (key: string) => boolean;
  onPick: (key: string) => void;
  mono?: boolean;
  hint?: string;
}) {
  const max = Math.max(1, ...props.rows.map((r) => r.count));
  return (
    <section className="card conn-card">
      <h3 className="card__label">{props.title}</h3>
      {props.rows.length === 0 ? (
        <p className="muted small">No connections.</p>
      ) : (
        <ul className="conn-bars" style={labelWidth(props.rows.slice(0, 12).map((r) => r.label))}>
          {props.rows.slice(0, 12).map((r) => (
            <li key={r.key}>
              <button
                type="button"
                className={`conn-bar${props.active(r.key) ? " conn-bar--on" : ""}`}
                onClick={() => props.onPick(r.key)}
                aria-pressed={props.active(r.key)}
                title={props.active(r.key) ? "Remove this filter" : "Show only these"}
              >
                <span className={`conn-bar__label${props.mono ? " mono" : ""}`}>{r.label}</span>
                <span className="conn-bar__track" aria-hidden="true">
                  <span className="conn-bar__fill" style={{ width: `${(100 * r.count) / max}%` }} />
                </span>
                <span className="conn-bar__count">{formatCount(r.count)}</span>
                <span className="conn-bar__pct">{props.total > 0 ? `${Math.round((100 * r.count) / props.total)}%` : ""}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      {props.rows.length > 12 ? <p className="muted small">and {props.rows.length - 12} more</p> : null}
      {props.hint && props.rows.length > 0 ? <p className="muted small">{props.hint}</p> : null}
    </section>
  );
}

function TopCard(props: {
  title: string;
  list: Summary["topClients"];
  toCidr: (key: string) => string;
  active: string;
  onPick: (cidr: string) => void;
}) {
  const rows = props.list.items.map((i) => ({ key: i.key, label: i.key, count: i.count }));
  return (
    <section className="card conn-card">
      <h3 className="card__label">{props.title}</h3>
      {rows.length === 0 ? (
        <p className="muted small">No clients.</p>
      ) : (
        <ul className="conn-bars" style={labelWidth(props.list.items.map((i) => i.key))}>
          {props.list.items.map((i) => {
            const cidr = props.toCidr(i.key);
            const on = props.active === cidr;
            const max = Math.max(1, props.list.items[0]?.count ?? 1);
            return (
              <li key={i.key}>
                <button type="button" className={`conn-bar${on ? " conn-bar--on" : ""}`} onClick={() => props.onPick(cidr)} aria-pressed={on}>
                  <span className="conn-bar__label mono">{i.key}</span>
                  <span className="conn-bar__track" aria-hidden="true">
                    <span className="conn-bar__fill" style={{ width: `${(100 * i.count) / max}%` }} />
                  </span>
                  <span className="conn-bar__count">
                    {i.error > 0 ? "≤ " : ""}
                    {formatCount(i.count)}
                  </span>
                  <span className="conn-bar__pct" />
                </button>
              </li>
            );
          })}
        </ul>
      )}
      <p className="muted small">
        {props.list.exact
          ? "Exact counts. Click to filter by that client or prefix."
          : "Too many distinct clients to count each: counts are upper bounds (≤)."}
      </p>
    </section>
  );
}

function FilterBar(props: { summary: Summary; filter: FilterState; cidrError: string | null; onChange: (f: Partial<FilterState>) => void }) {
  const { summary, filter } = props;
  const [cidr, setCidr] = useState(filter.clientCidr);
  useEffect(() => setCidr(filter.clientCidr), [filter.clientCidr]);
  const virtuals = summary.byVirtual.map((v) => `${v.protocol} ${hostPort(v.address, v.port)}`);
  const reals = summary.byReal.map((r) => hostPort(r.address, r.port));
  const states = summary.byState.map((b) => b.key);
  return (
    <section className="card conn-filters" data-testid="conn-filters">
      <div className="conn-filters__row">
        <label className="conn-field">
          <span>Virtual service</span>
          <select value={filter.virtual} onChange={(e) => props.onChange({ virtual: e.target.value })}>
            <option value="">all</option>
            {virtuals.map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
        </label>
        <label className="conn-field">
          <span>Real server</span>
          <select value={filter.real} onChange={(e) => props.onChange({ real: e.target.value })}>
            <option value="">all</option>
            {reals.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <form
          className="conn-field"
          onSubmit={(e) => {
            e.preventDefault();
            props.onChange({ clientCidr: cidr });
          }}
        >
          <span>Client range</span>
          <span className="conn-field__inline">
            <input
              className={`mono${props.cidrError ? " conn-input--bad" : ""}`}
              value={cidr}
              placeholder="203.0.113.0/24"
              onChange={(e) => setCidr(e.target.value)}
              onBlur={() => props.onChange({ clientCidr: cidr })}
              aria-invalid={props.cidrError !== null}
            />
          </span>
          {props.cidrError ? <span className="text-err small">{props.cidrError}</span> : null}
        </form>
        {isFiltered(filter) ? (
          <button type="button" className="button conn-clear" onClick={() => props.onChange(NO_FILTER)}>
            Clear filters
          </button>
        ) : null}
      </div>
      <div className="conn-filters__row">
        <span className="conn-field__label">State</span>
        <div className="conn-chips">
          {states.map((st) => {
            const on = filter.states.includes(st);
            return (
              <button
                key={st}
                type="button"
                className={`conn-chip${on ? " conn-chip--on" : ""}`}
                aria-pressed={on}
                onClick={() => props.onChange({ states: on ? filter.states.filter((x) => x !== st) : [...filter.states, st] })}
              >
                {st}
              </button>
            );
          })}
        </div>
      </div>
    </section>
  );
}

function EntryTable(props: {
  page: Page | null;
  loading: boolean;
  error: string | null;
  filtered: boolean;
  offset: number;
  onOffset: (n: number) => void;
  onClear: () => void;
  retainEntries: number;
}) {
  const p = props.page;
  const matched = p?.matched ?? 0;
  const last = Math.max(0, Math.floor((matched - 1) / PAGE_SIZE) * PAGE_SIZE);
  return (
    <section className="card conn-table" data-testid="conn-table">
      <div className="card__head conn-table__head">
        <h3 className="card__label">Entries{props.filtered ? " matching the filters" : ""}</h3>
        <span className="muted small" data-testid="conn-range">
          {p && matched > 0
            ? `${formatCount(props.offset + 1)}–${formatCount(Math.min(props.offset + PAGE_SIZE, matched))} of ${formatCount(matched)}${p.complete ? "" : "+"}`
            : null}
          {props.loading ? " · loading…" : ""}
        </span>
        <Pager offset={props.offset} last={last} onOffset={props.onOffset} disabled={!p || matched === 0} />
      </div>
      {props.error ? <p className="text-err sentence">{props.error}</p> : null}
      {p && !p.complete ? (
        <p className="text-warn small">
          The table had {formatCount(p.retained + p.dropped)} entries; pages cover the first {formatCount(p.retained)} (the agent keeps
          {" "}{formatCount(props.retainEntries)}). The counts above cover all of them.
        </p>
      ) : null}
      {p && matched === 0 && !props.error ? (
        <div className="conn-none">
          {props.filtered ? (
            <>
              <p>No connection matches these filters.</p>
              <button type="button" className="button" onClick={props.onClear}>
                Clear filters
              </button>
            </>
          ) : (
            <p>The table holds no connections. New connections to a virtual service show up after the next read.</p>
          )}
        </div>
      ) : null}
      {p && p.entries.length > 0 ? (
        <div className="table-scroll">
          <table className="grid grid--compact conn-grid-table">
            <thead>
              <tr>
                <th>Protocol</th>
                <th>Client</th>
                <th>Virtual service</th>
                <th>Real server</th>
                <th>State</th>
                <th className="num">Expires in</th>
              </tr>
            </thead>
            <tbody>
              {p.entries.map((e, i) => (
                <tr key={`${props.offset + i}`}>
                  <td>
                    <span className="proto">{e.protocol}</span>
                    {e.template ? <span className="tag tag--muted">template</span> : null}
                  </td>
                  <td className="mono">{hostPort(e.clientAddress, e.clientPort)}</td>
                  <td className="mono">{hostPort(e.virtualAddress, e.virtualPort)}</td>
                  <td className="mono">{hostPort(e.destAddress, e.destPort)}</td>
                  <td>
                    <span className={`conn-state conn-state--${stateTone(e.state)}`}>{e.state}</span>
                  </td>
                  <td className="num">{formatAge(e.expires * 1000)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

/** ESTABLISHED and the SYN states count as active in 6.1 (tcp_state_active); the rest as inactive. */
function stateTone(state: string): "active" | "closing" | "other" {
  if (state === "ESTABLISHED" || state === "SYN_RECV" || state === "SYN_SENT") return "active";
  if (state === "UDP" || state === "NONE" || state === "ASSURED") return "other";
  return "closing";
}

function Pager({ offset, last, onOffset, disabled }: { offset: number; last: number; onOffset: (n: number) => void; disabled: boolean }) {
  return (
    <div className="segmented conn-pager" role="group" aria-label="Pages">
      <button type="button" className="segmented__item" disabled={disabled || offset === 0} onClick={() => onOffset(0)}>
        « First
      </button>
      <button type="button" className="segmented__item" disabled={disabled || offset === 0} onClick={() => onOffset(Math.max(0, offset - PAGE_SIZE))}>
        ‹ Previous
      </button>
      <button type="button" className="segmented__item" disabled={disabled || offset >= last} onClick={() => onOffset(offset + PAGE_SIZE)}>
        Next ›
      </button>
      <button type="button" className="segmented__item" disabled={disabled || offset >= last} onClick={() => onOffset(last)}>
        Last »
      </button>
    </div>
  );
}

function ConnectionsSkeleton() {
  return (
    <main className="page" aria-busy="true" aria-label="Loading the connection table">
      <Head />
      <div className="conn-grid">
        {[0, 1, 2].map((i) => (
          <section className="card" key={i}>
            <div className="skeleton skeleton--title" />
            <div className="skeleton" />
            <div className="skeleton" />
          </section>
        ))}
      </div>
    </main>
  );
}
