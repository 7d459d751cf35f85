"use client";
// The real-server agents: the paired ones (name, URL, hostname, addresses, when last seen, a live check of their
// facts on demand), the pairing form (admins: the URL and the token the rs-agent printed, the certificate
// fingerprint for HTTPS), and unpair. The wizards apply a paired real server's steps through its agent.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import { Banner, ErrorBanner } from "@/app/_components/banner";
import { formatDateTime } from "@/app/_components/format";
import { useTRPC, type RouterOutputs } from "@/app/_trpc/react";

type Paired = RouterOutputs["realServers"]["list"][number];

const when = (ms: number | null) => (ms === null ? "never" : formatDateTime(ms));

export function RealServersView() {
  const trpc = useTRPC();
  const me = useQuery(trpc.auth.me.queryOptions());
  const list = useQuery(trpc.realServers.list.queryOptions());
  const admin = me.data?.role === "admin";
  return (
    <main className="page">
      <div className="audit-title">
        <h2>Real servers</h2>
        <p>
          Agents on the real servers (<code>lvsdash rs-agent</code>) paired with this dashboard. A paired real server gets its part of a
          wizard&apos;s change (VIP on lo or tunl0, ARP sysctls, ipip, its gateway) from its agent, with the director&apos;s confirmation and
          rollback, and the diagnostics read its settings as its kernel applies them.
        </p>
      </div>
      <section className="audit-panel" aria-labelledby="paired-title">
        <div className="audit-panel__head">
          <h3 id="paired-title">Paired agents</h3>
        </div>
        {list.isPending ? (
          <div className="service--skeleton">
            <div className="skeleton" />
            <div className="skeleton" />
          </div>
        ) : list.isError ? (
          <ErrorBanner title="The paired agents cannot be read" message={list.error.message} />
        ) : list.data.length === 0 ? (
          <div className="audit-panel__empty">
            No agent paired yet. On each real server, as root: <code>lvsdash rs-agent --listen ITS_ADDRESS:9443</code>; it prints a token once.
            {admin ? " Pair it below with that token." : " An admin pairs it here."}
          </div>
        ) : (
          <table className="rs" data-testid="paired-agents">
            <thead>
              <tr>
                <th>Name</th>
                <th>Agent</th>
                <th>Addresses</th>
                <th>Paired</th>
                <th>Last answered</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.data.map((rs) => (
                <PairedRow key={rs.id} rs={rs} admin={admin} />
              ))}
            </tbody>
          </table>
        )}
      </section>
      {admin ? <PairForm /> : me.data ? <Banner tone="info" title="Pairing is for admins"><p>You are signed in with the viewer role.</p></Banner> : null}
    </main>
  );
}

function PairedRow({ rs, admin }: { rs: Paired; admin: boolean }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [checking, setChecking] = useState(false);
  const facts = useQuery(trpc.realServers.facts.queryOptions({ id: rs.id }, { enabled: checking, retry: false }));
  const unpair = useMutation(trpc.realServers.unpair.mutationOptions({ onSuccess: () => qc.invalidateQueries({ queryKey: trpc.realServers.list.queryKey() }) }));
  return (
    <>
      <tr>
        <td>
          <b>{rs.name}</b>
          {rs.hostname !== rs.name ? <div className="muted small">{rs.hostname}</div> : null}
        </td>
        <td className="mono">
          {rs.url}
          {rs.fingerprint ? <div className="faint small" title={rs.fingerprint}>certificate pinned</div> : null}
        </td>
        <td className="mono">{rs.addresses.join(", ") || "—"}</td>
        <td className="mono">{when(rs.pairedAt)}</td>
        <td className="mono">{when(rs.lastSeenAt)}</td>
        <td className="num">
          <button type="button" className="button" onClick={() => (checking ? void facts.refetch() : setChecking(true))} disabled={facts.isFetching}>
            {facts.isFetching ? "Asking…" : "Check now"}
          </button>{" "}
          {admin ? (
            <button
              type="button"
              className="button auth-button--danger"
              disabled={unpair.isPending}
              onClick={() => {
                if (window.confirm(`Unpair ${rs.name}? The dashboard forgets its token; the agent keeps running.`)) unpair.mutate({ id: rs.id });
              }}
            >
              Unpair
            </button>
          ) : null}
        </td>
      </tr>
      {checking && !facts.isFetching ? (
        <tr className="audit-detail">
          <td colSpan={6}>
            {facts.isError ? (
              <span className="text-err sentence">Its agent did not answer: {facts.error.message}</span>
            ) : facts.data ? (
              <span className="small">
                ✓ {facts.data.hostname}, Linux {facts.data.kernel}:{" "}
                {facts.data.interfaces.map((i) => `${i.name} ${i.addresses.map((a) => `${a.address}/${a.prefixLen}`).join(" ") || "(no IPv4)"}`).join("; ")}
                {facts.data.defaultGateway ? `; default via ${facts.data.defaultGateway}` : "; no default route"}
                {facts.data.tunl0 ? `; tunl0 ${facts.data.tunl0.up ? "up" : "down"}` : ""}
              </span>
            ) : null}
            {unpair.isError ? <span className="text-err"> {unpair.error.message}</span> : null}
          </td>
        </tr>
      ) : null}
    </>
  );
}

function PairForm() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [error, setError] = useState<string | null>(null);
  const pair = useMutation(
    trpc.realServers.pair.mutationOptions({
      onSuccess: () => {
        setError(null);
        void qc.invalidateQueries({ queryKey: trpc.realServers.list.queryKey() });
      },
      onError: (e) => setError(e.message),
    }),
  );
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const formEl = e.currentTarget;
    const form = new FormData(formEl);
    const fingerprint = String(form.get("fingerprint")).trim();
    const name = String(form.get("name")).trim();
    pair.mutate(
      { url: String(form.get("url")).trim(), token: String(form.get("token")), ...(fingerprint ? { fingerprint } : {}), ...(name ? { name } : {}) },
      { onSuccess: () => formEl.reset() },
    );
  }
  return (
    <section className="audit-panel" aria-labelledby="pair-title">
      <div className="audit-panel__head">
        <h3 id="pair-title">Pair an agent</h3>
        <p>The dashboard asks the agent for its facts with this token and stores it only if the agent answers.</p>
      </div>
      <form className="account-form" onSubmit={submit}>
        <label className="auth-field auth-field--inline">
          <span className="auth-field__label">Agent URL</span>
          <input className="auth-field__input" name="url" required maxLength={300} placeholder="http://192.0.2.11:9443" autoComplete="off" />
        </label>
        <label className="auth-field auth-field--inline">
          <span className="auth-field__label">Token</span>
          <input className="auth-field__input" name="token" type="password" required minLength={32} maxLength={512} autoComplete="off" />
        </label>
        <label className="auth-field auth-field--inline">
          <span className="auth-field__label">Certificate SHA-256 (HTTPS)</span>
          <input className="auth-field__input" name="fingerprint" maxLength={200} placeholder="AB:CD:… (optional)" autoComplete="off" />
        </label>
        <label className="auth-field auth-field--inline">
          <span className="auth-field__label">Name</span>
          <input className="auth-field__input" name="name" maxLength={64} placeholder="its hostname" autoComplete="off" />
        </label>
        <button type="submit" className="button auth-button--primary" disabled={pair.isPending}>
          {pair.isPending ? "Asking the agent…" : "Pair"}
        </button>
      </form>
      {error ? <p className="auth-form__error sentence audit-panel__error" role="alert">{error}</p> : null}
    </section>
  );
}
