"use client";
// The audit log (admins): filters by user, operation and result, pages of 50, each entry's input, error, diff
// and rollback on demand. Below it, the accounts: add, change role, remove.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Fragment, useState, type FormEvent } from "react";

import { Banner, ErrorBanner } from "@/app/_components/banner";
import { formatDateTime } from "@/app/_components/format";
import { useTRPC, type RouterInputs, type RouterOutputs } from "@/app/_trpc/react";

const PAGE = 50;
type Filters = Omit<RouterInputs["audit"]["list"], "offset" | "limit">;
type Entry = RouterOutputs["audit"]["list"]["entries"][number];

const time = (ms: number) => formatDateTime(ms, { seconds: true });

export function AuditView() {
  const trpc = useTRPC();
  const me = useQuery(trpc.auth.me.queryOptions());
  if (me.isPending) return <main className="page" />;
  if (me.isError) return <main className="page"><ErrorBanner title="Cannot tell who is signed in" message={me.error.message} /></main>;
  if (me.data.role !== "admin") {
    return (
      <main className="page">
        <PageTitle />
        <Banner tone="info" title="The audit log is for admins">
          <p>
            You are signed in as <b>{me.data.name}</b> with the viewer role. The log names every account and address that changed the
            director or tried to sign in, so only admins can read it.
          </p>
        </Banner>
      </main>
    );
  }
  return (
    <main className="page">
      <PageTitle />
      <AuditLogPanel />
      <AccountsPanel self={me.data.name} />
    </main>
  );
}

function PageTitle() {
  return (
    <div className="audit-title">
      <h2>Audit log</h2>
      <p>Every change made through the dashboard or <code>lvsdash user</code>, every sign-in and refused request, newest first.</p>
    </div>
  );
}

function AuditLogPanel() {
  const trpc = useTRPC();
  const [filters, setFilters] = useState<Filters>({});
  const [offset, setOffset] = useState(0);
  const facets = useQuery(trpc.audit.facets.queryOptions());
  const page = useQuery({ ...trpc.audit.list.queryOptions({ ...filters, offset, limit: PAGE }), placeholderData: keepPreviousData, refetchInterval: 10_000 });
  const [open, setOpen] = useState<number | null>(null);

  const set = (patch: Filters) => {
    setFilters((f) => {
      const next = { ...f, ...patch };
      for (const k of Object.keys(next) as (keyof Filters)[]) if (!next[k]) delete next[k];
      return next;
    });
    setOffset(0);
  };

  return (
    <section className="audit-panel">
      <div className="audit-filters" role="search">
        <label className="auth-field auth-field--inline">
          <span className="auth-field__label">User</span>
          <select className="auth-field__input" value={filters.user ?? ""} onChange={(e) => set({ user: e.target.value || undefined })}>
            <option value="">everyone</option>
            {facets.data?.users.map((u) => (
              <option key={u} value={u}>
                {u}
              </option>
            ))}
          </select>
        </label>
        <label className="auth-field auth-field--inline">
          <span className="auth-field__label">Operation</span>
          <select className="auth-field__input" value={filters.op ?? ""} onChange={(e) => set({ op: e.target.value || undefined })}>
            <option value="">all</option>
            {opChoices(facets.data?.ops ?? []).map((o) => (
              <option key={o} value={o}>
                {o.endsWith(".") ? `${o}*` : o}
              </option>
            ))}
          </select>
        </label>
        <label className="auth-field auth-field--inline">
          <span className="auth-field__label">Result</span>
          <select className="auth-field__input" value={filters.result ?? ""} onChange={(e) => set({ result: (e.target.value || undefined) as Filters["result"] })}>
            <option value="">any</option>
            <option value="ok">ok</option>
            <option value="error">error</option>
            <option value="refused">refused</option>
          </select>
        </label>
        <span className="audit-filters__count">{page.data ? `${page.data.total} ${page.data.total === 1 ? "entry" : "entries"}` : ""}</span>
      </div>
      {page.isError ? (
        <ErrorBanner title="The audit log cannot be read" message={page.error.message} />
      ) : !page.data ? (
        <div className="service--skeleton">
          <div className="skeleton skeleton--title" />
          <div className="skeleton" />
          <div className="skeleton" />
        </div>
      ) : page.data.entries.length === 0 ? (
        <div className="audit-panel__empty">{Object.keys(filters).length ? "No entry matches these filters." : "Nothing recorded yet."}</div>
      ) : (
        <table className="rs audit-table">
          <colgroup>
            <col style={{ width: 170 }} />
            <col style={{ width: 150 }} />
            <col style={{ width: "24%" }} />
            <col style={{ width: 92 }} />
            <col />
          </colgroup>
          <thead>
            <tr>
              <th>When</th>
              <th>Who</th>
              <th>Operation</th>
              <th>Result</th>
              <th>Input / error</th>
            </tr>
          </thead>
          <tbody>
            {page.data.entries.map((e) => (
              <Fragment key={e.id}>
                <tr className={`audit-row${open === e.id ? " audit-row--open" : ""}`} onClick={() => setOpen(open === e.id ? null : e.id)}>
                  <td className="mono">{time(e.at)}</td>
                  <td>
                    <span className="audit-user">{e.user}</span>
                    <span className="audit-ip mono">{e.ip}</span>
                  </td>
                  <td className="mono">{e.op}</td>
                  <td>
                    <span className={`audit-result audit-result--${e.result}`}>{e.result}</span>
                  </td>
                  <td className="audit-summary">
                    {e.error ? <span className="audit-error sentence">{e.error}</span> : <span className="mono">{e.input || "—"}</span>}
                  </td>
                </tr>
                {open === e.id ? (
                  <tr className="audit-detail">
                    <td colSpan={5}>
                      <Detail entry={e} />
                    </td>
                  </tr>
                ) : null}
              </Fragment>
            ))}
          </tbody>
        </table>
      )}
      {page.data && page.data.total > PAGE ? (
        <div className="audit-pager">
          <button type="button" className="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
            ← Newer
          </button>
          <span>
            {offset + 1}–{Math.min(offset + PAGE, page.data.total)} of {page.data.total}
          </span>
          <button type="button" className="button" disabled={offset + PAGE >= page.data.total} onClick={() => setOffset(offset + PAGE)}>
            Older →
          </button>
        </div>
      ) : null}
    </section>
  );
}

/** The operations, and one "domain." prefix per domain (all of a router's operations). */
function opChoices(ops: string[]): string[] {
  const prefixes = [...new Set(ops.map((o) => o.split(".")[0] + "."))];
  return [...prefixes, ...ops].sort();
}

function Detail({ entry }: { entry: Entry }) {
  return (
    <dl className="audit-facts">
      <dt>Kind</dt>
      <dd>
        {entry.kind}
        {entry.role ? ` · ${entry.role}` : ""}
        {entry.durationMs !== null ? ` · ${entry.durationMs} ms` : ""}
      </dd>
      <dt>Input</dt>
      <dd>
        <pre>{pretty(entry.input) || "—"}</pre>
      </dd>
      {entry.error ? (
        <>
          <dt>Error</dt>
          <dd className="audit-error sentence">{entry.error}</dd>
        </>
      ) : null}
      {entry.diff ? (
        <>
          <dt>Changes</dt>
          <dd>
            <pre>{entry.diff}</pre>
          </dd>
        </>
      ) : null}
      {entry.rollback ? (
        <>
          <dt>Rolled back</dt>
          <dd>
            <pre>{entry.rollback}</pre>
          </dd>
        </>
      ) : null}
    </dl>
  );
}

function pretty(json: string): string {
  try {
    return JSON.stringify(JSON.parse(json), null, 2);
  } catch {
    return json;
  }
}

function AccountsPanel({ self }: { self: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const users = useQuery(trpc.auth.users.queryOptions());
  const [error, setError] = useState<string | null>(null);
  const done = {
    onSuccess: () => {
      setError(null);
      void queryClient.invalidateQueries({ queryKey: trpc.auth.users.queryKey() });
      void queryClient.invalidateQueries({ queryKey: trpc.audit.list.queryKey() });
    },
    onError: (e: { message: string }) => setError(e.message),
  };
  const add = useMutation(trpc.auth.addUser.mutationOptions(done));
  const remove = useMutation(trpc.auth.removeUser.mutationOptions(done));
  const setRole = useMutation(trpc.auth.setRole.mutationOptions(done));

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const formEl = e.currentTarget;
    const form = new FormData(formEl);
    add.mutate(
      { name: String(form.get("name")).trim(), role: form.get("role") === "admin" ? "admin" : "viewer", password: String(form.get("password")) },
      { onSuccess: () => formEl.reset() },
    );
  }

  return (
    <section className="audit-panel" aria-labelledby="accounts-title">
      <div className="audit-panel__head">
        <h3 id="accounts-title">Accounts</h3>
        <p>Viewers read everything; admins may also change the director and manage accounts.</p>
      </div>
      {users.isError ? <ErrorBanner title="The accounts cannot be read" message={users.error.message} /> : null}
      <table className="rs">
        <thead>
          <tr>
            <th>User</th>
            <th>Role</th>
            <th>Created</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {users.data?.map((u) => (
            <tr key={u.id}>
              <td>
                <b>{u.name}</b>
                {u.name === self ? <span className="tag tag--muted">you</span> : null}
              </td>
              <td>
                <select
                  className="auth-field__input auth-field__input--small"
                  value={u.role}
                  disabled={u.name === self || setRole.isPending}
                  onChange={(e) => setRole.mutate({ name: u.name, role: e.target.value === "admin" ? "admin" : "viewer" })}
                >
                  <option value="viewer">viewer</option>
                  <option value="admin">admin</option>
                </select>
              </td>
              <td className="mono">{time(u.createdAt)}</td>
              <td className="num">
                {u.name === self ? null : (
                  <button
                    type="button"
                    className="button auth-button--danger"
                    disabled={remove.isPending}
                    onClick={() => {
                      if (window.confirm(`Remove ${u.name}? Their sessions end now.`)) remove.mutate({ name: u.name });
                    }}
                  >
                    Remove
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="account-form" onSubmit={submit}>
        <label className="auth-field auth-field--inline">
          <span className="auth-field__label">New user</span>
          <input className="auth-field__input" name="name" required maxLength={32} pattern="[A-Za-z][A-Za-z0-9._\-]{0,31}" placeholder="name" autoComplete="off" />
        </label>
        <label className="auth-field auth-field--inline">
          <span className="auth-field__label">Role</span>
          <select className="auth-field__input" name="role" defaultValue="viewer">
            <option value="viewer">viewer</option>
            <option value="admin">admin</option>
          </select>
        </label>
        <label className="auth-field auth-field--inline">
          <span className="auth-field__label">Password</span>
          <input className="auth-field__input" name="password" type="password" required minLength={8} maxLength={1024} autoComplete="new-password" />
        </label>
        <button type="submit" className="button auth-button--primary" disabled={add.isPending}>
          {add.isPending ? "Adding…" : "Add user"}
        </button>
      </form>
      {error ? <p className="auth-form__error sentence audit-panel__error" role="alert">{error}</p> : null}
    </section>
  );
}
