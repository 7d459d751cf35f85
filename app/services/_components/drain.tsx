"use client";
// Draining a real server of this service (tRPC drain.*, the agent's DrainManager): its weight goes to 0 so IPVS
// sends it no new connection, its active connections are watched until they are gone (and, if asked, the
// inactive ones too), then it is removed, or left at weight 0. Cancel puts the weight from before back. Admins
// start and cancel; everyone sees the drains of this service with their connection curves.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";

import { ErrorBanner } from "@/app/_components/banner";
import { useTRPC, type RouterOutputs } from "@/app/_trpc/react";
import type { LiveService } from "@/server/live/step";

type Drain = RouterOutputs["drain"]["list"][number];

const DRAIN_REFRESH_MS = 2000;
const STATE_TEXT: Record<Drain["state"], string> = {
  draining: "draining: weight 0, waiting for its connections to end",
  drained: "drained: no connection left, kept at weight 0",
  removed: "drained and removed",
  "timed-out": "timed out with connections left (kept at weight 0)",
  cancelled: "cancelled: weight restored",
  gone: "the real server or service went away",
  failed: "failed",
};

/** The tRPC service key of a live service (drain.start's `service`). */
function drainServiceKey(s: LiveService) {
  const family: 4 | 6 = s.family === "inet6" ? 6 : 4;
  if (s.protocol === "fwm") return { kind: "fwmark" as const, fwmark: s.fwmark ?? 0, family };
  return { kind: "address" as const, protocol: s.protocol.toUpperCase() as "TCP" | "UDP" | "SCTP", family, address: s.address ?? "", port: s.port ?? 0 };
}

function sameService(d: Drain, s: LiveService): boolean {
  const k = drainServiceKey(s);
  const o = d.service as { kind: string; protocol?: string; address?: string; port?: number; fwmark?: number };
  return k.kind === "fwmark" ? o.kind === "fwmark" && o.fwmark === k.fwmark : o.kind === "address" && o.protocol === k.protocol && o.address === k.address && o.port === k.port;
}

export function DrainPanel({ s }: { s: LiveService }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const me = useQuery(trpc.auth.me.queryOptions());
  const drains = useQuery(trpc.drain.list.queryOptions(undefined, { refetchInterval: DRAIN_REFRESH_MS }));
  const refresh = () => qc.invalidateQueries({ queryKey: trpc.drain.list.queryKey() });
  const start = useMutation(trpc.drain.start.mutationOptions({ onSuccess: refresh }));
  const cancel = useMutation(trpc.drain.cancel.mutationOptions({ onSuccess: refresh }));
  const admin = me.data?.role === "admin";
  const mine = (drains.data ?? []).filter((d) => sameService(d, s)).sort((a, b) => b.startedAt - a.startedAt);
  const candidates = s.destinations.filter((d) => d.weight > 0);
  const [dest, setDest] = useState("");

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const rs = candidates.find((d) => d.key === (dest || candidates[0]?.key));
    if (!rs) return;
    start.mutate({
      service: drainServiceKey(s),
      dest: { address: rs.address, port: rs.port },
      remove: form.get("remove") === "on",
      waitInactive: form.get("waitInactive") === "on",
      timeoutSeconds: Math.max(1, Math.round(Number(form.get("minutes")) * 60)),
    });
  }

  if (!admin && mine.length === 0) return null;
  return (
    <section className="card" data-testid="drain">
      <header className="card__head">
        <h2>Drain a real server</h2>
        <span className="card__note">weight 0, wait for its connections to end, then remove it</span>
      </header>
      {admin && candidates.length ? (
        <form className="account-form" onSubmit={submit}>
          <label className="auth-field auth-field--inline">
            <span className="auth-field__label">Real server</span>
            <select className="auth-field__input" value={dest || candidates[0]!.key} onChange={(e) => setDest(e.target.value)}>
              {candidates.map((d) => (
                <option key={d.key} value={d.key}>
                  {d.key} (weight {d.weight}, {d.active} active)
                </option>
              ))}
            </select>
          </label>
          <label className="auth-field auth-field--inline">
            <input type="checkbox" name="remove" defaultChecked /> remove it once drained
          </label>
          <label className="auth-field auth-field--inline">
            <input type="checkbox" name="waitInactive" /> also wait for inactive connections
          </label>
          <label className="auth-field auth-field--inline">
            <span className="auth-field__label">Give up after (min)</span>
            <input className="auth-field__input auth-field__input--small" name="minutes" type="number" min={1} max={1440} defaultValue={10} />
          </label>
          <button type="submit" className="button auth-button--primary" disabled={start.isPending}>
            {start.isPending ? "Starting…" : "Drain"}
          </button>
        </form>
      ) : null}
      {start.isError ? <ErrorBanner title="The drain did not start" message={start.error.message} /> : null}
      {cancel.isError ? <ErrorBanner title="The drain was not cancelled" message={cancel.error.message} /> : null}
      {drains.isError ? <ErrorBanner title="The drains cannot be read" message={drains.error.message} /> : null}
      {mine.map((d) => (
        <div key={d.id} className="drain" data-testid="drain-row">
          <div className="drain__head">
            <span className="mono">
              {d.dest.address}:{d.dest.port}
            </span>{" "}
            <span className={d.state === "failed" || d.state === "timed-out" ? "pill text-warn" : "pill"}>{STATE_TEXT[d.state]}</span>{" "}
            <span className="muted small">
              weight before {d.weightBefore}; {d.samples.at(-1) ? `${d.samples.at(-1)!.active} active, ${d.samples.at(-1)!.inactive} inactive` : ""}
            </span>
            {d.error ? <span className="text-err small"> {d.error}</span> : null}
            {admin && (d.state === "draining" || d.state === "drained" || d.state === "timed-out") ? (
              <button type="button" className="button" disabled={cancel.isPending} onClick={() => cancel.mutate({ id: d.id })}>
                {d.state === "draining" ? "Cancel" : "Back in rotation"}: weight {d.weightBefore} again
              </button>
            ) : null}
          </div>
          {d.samples.length > 1 ? (
            <div className="drain__chart">
              <ResponsiveContainer width="100%" height={90}>
                <LineChart data={d.samples.map((p) => ({ t: Math.round((p.at - d.startedAt) / 1000), active: p.active, inactive: p.inactive }))}>
                  <XAxis dataKey="t" unit=" s" tick={{ fontSize: 10 }} />
                  <YAxis allowDecimals={false} width={32} tick={{ fontSize: 10 }} />
                  <Tooltip />
                  <Line type="stepAfter" dataKey="active" stroke="var(--accent, #2563eb)" dot={false} isAnimationActive={false} />
                  <Line type="stepAfter" dataKey="inactive" stroke="var(--muted, #94a3b8)" dot={false} isAnimationActive={false} />
                </LineChart>
              </ResponsiveContainer>
            </div>
          ) : null}
        </div>
      ))}
    </section>
  );
}
