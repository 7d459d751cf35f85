"use client";
// The setup wizard, in four steps: 1 the forwarding mode, 2 the service and its real servers (validated as you
// type with the same schema the agent uses: field errors under each input), 3 the review (preflight, the plan as
// a diff of the director and of each real server, and as shell commands), 4 apply (progress, verification with
// traffic, and a countdown: confirm or it is rolled back by the agent). A change already running is shown first,
// so a reopened tab finds its countdown.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState, type ReactNode } from "react";

import { Banner, ErrorBanner } from "@/app/_components/banner";
import { useTRPC, type RouterOutputs } from "@/app/_trpc/react";
import { SCHEDULERS } from "@/server/ipvs/netlink/constants";
import { MODE_LABELS, WIZARD_MODES, parseWizardInput, type FieldErrors, type WizardInput, type WizardMode } from "@/server/wizards/input";
import type { RealServerStep } from "@/server/wizards/plan";

type Review = RouterOutputs["wizards"]["plan"];
type Status = RouterOutputs["wizards"]["status"];

const MODE_TEXT: Record<WizardMode, { lead: string; needs: string }> = {
  dr: { lead: "The director rewrites only the MAC: real servers answer clients directly. Fastest.", needs: "Real servers on the director's L2 segment, the VIP on their lo, ARP for it suppressed; no port mapping." },
  nat: { lead: "The director rewrites addresses both ways: replies come back through it.", needs: "Real servers on an inner network whose default gateway is the director; ports may be mapped." },
  tun: { lead: "The director wraps each packet in IP-in-IP: real servers may be anywhere routable.", needs: "Real servers with ipip loaded, the VIP on tunl0 and rp_filter off; no port mapping." },
  fullnat: { lead: "NAT plus source NAT to the director's inner address: real servers need no route back.", needs: "Mainline stand-in (IPVS NAT + nftables SNAT + conntrack): real servers see the director's address, not the client's." },
};

interface RsDraft {
  address: string;
  port: string;
  weight: string;
  interface: string;
}

interface Draft {
  mode: WizardMode;
  vip: string;
  ports: string;
  protocol: "tcp" | "udp";
  scheduler: string;
  persistent: boolean;
  persistTimeout: string;
  persistNetmask: string;
  dirIf: string;
  innerIf: string;
  snat: string;
  realServers: RsDraft[];
  probes: string;
  fromNetns: string;
  path: string;
  confirm: string;
}

const EMPTY_RS: RsDraft = { address: "", port: "", weight: "1", interface: "eth0" };

function initialDraft(mode: WizardMode): Draft {
  const natLike = mode === "nat" || mode === "fullnat";
  return {
    mode,
    vip: "",
    ports: "80",
    protocol: "tcp",
    scheduler: "wrr",
    persistent: false,
    persistTimeout: "300",
    persistNetmask: "255.255.255.255",
    dirIf: "eth0",
    innerIf: natLike ? "eth1" : "",
    snat: "",
    realServers: [{ ...EMPTY_RS }, { ...EMPTY_RS }],
    probes: "6",
    fromNetns: "",
    path: "/",
    confirm: "60",
  };
}

/** The draft as the schema's input: numbers where numbers go, empty optional fields left out. */
function toInput(d: Draft): unknown {
  const num = (s: string) => (s.trim() === "" ? Number.NaN : Number(s));
  const natLike = d.mode === "nat" || d.mode === "fullnat";
  return {
    mode: d.mode,
    vip: d.vip,
    ports: d.ports.split(/[\s,]+/).filter(Boolean).map(Number),
    protocol: d.protocol,
    scheduler: d.scheduler,
    persistence: d.persistent ? { timeout: num(d.persistTimeout), netmask: d.persistNetmask } : null,
    director: {
      interface: d.dirIf,
      ...(natLike ? { innerInterface: d.innerIf } : {}),
      ...(d.mode === "fullnat" ? { snatAddress: d.snat } : {}),
    },
    realServers: d.realServers.map((r) => ({ address: r.address, ...(r.port.trim() ? { port: num(r.port) } : {}), weight: num(r.weight), interface: r.interface })),
    verify: { probes: num(d.probes), ...(d.fromNetns.trim() ? { fromNetns: d.fromNetns.trim() } : {}), path: d.path },
    confirmTimeoutSeconds: num(d.confirm),
  };
}

export function WizardView() {
  const trpc = useTRPC();
  const status = useQuery(trpc.wizards.status.queryOptions(undefined, { refetchInterval: (q) => (isActive(q.state.data) ? 1000 : 10_000) }));
  const [draft, setDraft] = useState<Draft>(() => initialDraft("dr"));
  const [step, setStep] = useState<1 | 2 | 3 | 4>(1);
  const [reviewed, setReviewed] = useState<WizardInput | null>(null);
  const parsed = useMemo(() => parseWizardInput(toInput(draft)), [draft]);
  const [touched, setTouched] = useState(false);

  const active = isActive(status.data);
  useEffect(() => {
    if (active) setStep(4);
  }, [active]);

  return (
    <main className="page wizard">
      <div className="wizard__title">
        <h2>Setup wizards</h2>
        <p>
          Build a virtual service from scratch: the agent checks the director first, shows every change before making it, verifies it
          with real traffic, and undoes it by itself unless you confirm in time.
        </p>
      </div>
      <Stepper
        step={step}
        onStep={(s) => {
          if (active) return; // a change in flight: its page stays until it is confirmed or rolled back
          if (s < step || (s === 4 && status.data && status.data.phase !== "idle")) setStep(s);
        }}
      />
      {status.isError ? <ErrorBanner title="Cannot reach the agent" message={status.error.message} /> : null}

      {step === 1 ? (
        <ModeStep
          mode={draft.mode}
          onPick={(mode) => {
            setDraft((d) => ({ ...initialDraft(mode), vip: d.vip, ports: d.ports, realServers: d.realServers }));
            setStep(2);
          }}
        />
      ) : null}
      {step === 2 ? (
        <FormStep
          draft={draft}
          setDraft={setDraft}
          errors={touched && !parsed.ok ? parsed.errors : {}}
          onNext={() => {
            setTouched(true);
            if (parsed.ok) {
              setReviewed(parsed.input);
              setStep(3);
            }
          }}
        />
      ) : null}
      {step === 3 && reviewed ? <ReviewStep input={reviewed} onBack={() => setStep(2)} onApplied={() => setStep(4)} /> : null}
      {step === 4 ? <ApplyStep status={status.data} receivedAt={status.dataUpdatedAt} onNew={() => setStep(2)} /> : null}
    </main>
  );
}

function isActive(s: Status | undefined): boolean {
  return !!s && (s.phase === "applying" || s.phase === "verifying" || s.phase === "awaiting-confirm" || s.phase === "rolling-back");
}

function Stepper({ step, onStep }: { step: number; onStep: (s: 1 | 2 | 3 | 4) => void }) {
  const names = ["Mode", "Service & real servers", "Review the plan", "Apply & confirm"];
  return (
    <ol className="wizard-steps">
      {names.map((n, i) => (
        <li key={n} className={`wizard-steps__item${step === i + 1 ? " wizard-steps__item--current" : ""}${step > i + 1 ? " wizard-steps__item--done" : ""}`}>
          <button type="button" onClick={() => onStep((i + 1) as 1 | 2 | 3 | 4)}>
            <span className="wizard-steps__num">{i + 1}</span> {n}
          </button>
        </li>
      ))}
    </ol>
  );
}

function ModeStep({ mode, onPick }: { mode: WizardMode; onPick: (m: WizardMode) => void }) {
  return (
    <section className="wizard-modes">
      {WIZARD_MODES.map((m) => (
        <button type="button" key={m} className={`wizard-mode${m === mode ? " wizard-mode--current" : ""}`} onClick={() => onPick(m)}>
          <span className="wizard-mode__tag">{m.toUpperCase()}</span>
          <span className="wizard-mode__name">{MODE_LABELS[m]}</span>
          <span className="wizard-mode__lead">{MODE_TEXT[m].lead}</span>
          <span className="wizard-mode__needs">{MODE_TEXT[m].needs}</span>
        </button>
      ))}
    </section>
  );
}

function Field({ label, error, children, hint }: { label: string; error?: string[]; children: ReactNode; hint?: string }) {
  return (
    <label className={`wizard-field${error ? " wizard-field--error" : ""}`}>
      <span className="wizard-field__label">{label}</span>
      {children}
      {error ? <span className="wizard-field__error">{error.join("; ")}</span> : hint ? <span className="wizard-field__hint">{hint}</span> : null}
    </label>
  );
}

/** Errors of a field and of everything below it ("ports" shows "ports.1" too). */
const errs = (e: FieldErrors, key: string) => {
  const list = Object.entries(e).filter(([k]) => k === key || k.startsWith(`${key}.`)).flatMap(([, v]) => v);
  return list.length ? list : undefined;
};

function FormStep({ draft, setDraft, errors, onNext }: { draft: Draft; setDraft: (f: (d: Draft) => Draft) => void; errors: FieldErrors; onNext: () => void }) {
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => setDraft((d) => ({ ...d, [k]: v }));
  const setRs = (i: number, k: keyof RsDraft, v: string) => setDraft((d) => ({ ...d, realServers: d.realServers.map((r, j) => (j === i ? { ...r, [k]: v } : r)) }));
  const natLike = draft.mode === "nat" || draft.mode === "fullnat";
  const formErrors = errs(errors, "(form)");
  return (
    <form
      className="wizard-form"
      onSubmit={(e) => {
        e.preventDefault();
        onNext();
      }}
    >
      <fieldset className="wizard-card">
        <legend>Virtual service · {MODE_LABELS[draft.mode]}</legend>
        <div className="wizard-grid">
          <Field label="VIP" error={errs(errors, "vip")} hint="The address clients connect to">
            <input className="wizard-input mono" value={draft.vip} onChange={(e) => set("vip", e.target.value)} placeholder="192.0.2.100" />
          </Field>
          <Field label="Ports" error={errs(errors, "ports")} hint="One or more, separated by commas">
            <input className="wizard-input mono" value={draft.ports} onChange={(e) => set("ports", e.target.value)} placeholder="80, 443" />
          </Field>
          <Field label="Protocol" error={errs(errors, "protocol")}>
            <select className="wizard-input" value={draft.protocol} onChange={(e) => set("protocol", e.target.value as "tcp" | "udp")}>
              <option value="tcp">TCP</option>
              <option value="udp">UDP</option>
            </select>
          </Field>
          <Field label="Scheduler" error={errs(errors, "scheduler")}>
            <select className="wizard-input" value={draft.scheduler} onChange={(e) => set("scheduler", e.target.value)}>
              {SCHEDULERS.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Persistence" error={errs(errors, "persistence")} hint={draft.persistent ? "Seconds and client netmask" : "Each connection scheduled on its own"}>
            <span className="wizard-inline">
              <input type="checkbox" checked={draft.persistent} onChange={(e) => set("persistent", e.target.checked)} aria-label="persistent" />
              {draft.persistent ? (
                <>
                  <input className="wizard-input wizard-input--short mono" value={draft.persistTimeout} onChange={(e) => set("persistTimeout", e.target.value)} aria-label="persistence timeout" />
                  <input className="wizard-input mono" value={draft.persistNetmask} onChange={(e) => set("persistNetmask", e.target.value)} aria-label="persistence netmask" />
                </>
              ) : null}
            </span>
          </Field>
        </div>
      </fieldset>

      <fieldset className="wizard-card">
        <legend>Director</legend>
        <div className="wizard-grid">
          <Field label={natLike ? "Client-side interface (VIP)" : "Interface (VIP, real servers)"} error={errs(errors, "director.interface")}>
            <input className="wizard-input mono" value={draft.dirIf} onChange={(e) => set("dirIf", e.target.value)} />
          </Field>
          {natLike ? (
            <Field label="Inner interface" error={errs(errors, "director.innerInterface")} hint="Towards the real servers">
              <input className="wizard-input mono" value={draft.innerIf} onChange={(e) => set("innerIf", e.target.value)} />
            </Field>
          ) : null}
          {draft.mode === "fullnat" ? (
            <Field label="SNAT address" error={errs(errors, "director.snatAddress")} hint="The director's own inner address">
              <input className="wizard-input mono" value={draft.snat} onChange={(e) => set("snat", e.target.value)} placeholder="198.51.100.1" />
            </Field>
          ) : null}
        </div>
      </fieldset>

      <fieldset className="wizard-card">
        <legend>Real servers</legend>
        <table className="wizard-rs">
          <thead>
            <tr>
              <th>Address</th>
              <th>Port {natLike ? "(optional: maps)" : "(the VIP's)"}</th>
              <th>Weight</th>
              <th>Its interface</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {draft.realServers.map((r, i) => (
              <tr key={i}>
                <td>
                  <input className="wizard-input mono" value={r.address} onChange={(e) => setRs(i, "address", e.target.value)} placeholder={natLike ? "198.51.100.11" : "192.0.2.11"} aria-label={`real server ${i + 1} address`} />
                  <FieldError list={errs(errors, `realServers.${i}.address`)} />
                </td>
                <td>
                  <input className="wizard-input wizard-input--short mono" value={r.port} onChange={(e) => setRs(i, "port", e.target.value)} disabled={!natLike} aria-label={`real server ${i + 1} port`} />
                  <FieldError list={errs(errors, `realServers.${i}.port`)} />
                </td>
                <td>
                  <input className="wizard-input wizard-input--short mono" value={r.weight} onChange={(e) => setRs(i, "weight", e.target.value)} aria-label={`real server ${i + 1} weight`} />
                  <FieldError list={errs(errors, `realServers.${i}.weight`)} />
                </td>
                <td>
                  <input className="wizard-input wizard-input--short mono" value={r.interface} onChange={(e) => setRs(i, "interface", e.target.value)} aria-label={`real server ${i + 1} interface`} />
                  <FieldError list={errs(errors, `realServers.${i}.interface`)} />
                </td>
                <td>
                  <button type="button" className="button" disabled={draft.realServers.length === 1} onClick={() => setDraft((d) => ({ ...d, realServers: d.realServers.filter((_, j) => j !== i) }))}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <FieldError list={errors.realServers} />
        <button type="button" className="button" onClick={() => setDraft((d) => ({ ...d, realServers: [...d.realServers, { ...EMPTY_RS }] }))}>
          Add a real server
        </button>
      </fieldset>

      <fieldset className="wizard-card">
        <legend>Verification and confirmation</legend>
        <div className="wizard-grid">
          <Field label="Probes" error={errs(errors, "verify.probes")} hint="HTTP requests through the VIP after applying">
            <input className="wizard-input wizard-input--short mono" value={draft.probes} onChange={(e) => set("probes", e.target.value)} />
          </Field>
          <Field label="From namespace" error={errs(errors, "verify.fromNetns")} hint="Empty: from the director itself">
            <input className="wizard-input mono" value={draft.fromNetns} onChange={(e) => set("fromNetns", e.target.value)} placeholder="lab-client" />
          </Field>
          <Field label="Path" error={errs(errors, "verify.path")}>
            <input className="wizard-input mono" value={draft.path} onChange={(e) => set("path", e.target.value)} />
          </Field>
          <Field label="Confirm within (s)" error={errs(errors, "confirmTimeoutSeconds")} hint="Otherwise the agent rolls back">
            <input className="wizard-input wizard-input--short mono" value={draft.confirm} onChange={(e) => set("confirm", e.target.value)} />
          </Field>
        </div>
      </fieldset>
      {formErrors ? <Banner tone="error" title="The form has problems">{formErrors.map((m) => <p key={m}>{m}</p>)}</Banner> : null}
      <div className="wizard-actions">
        <button type="submit" className="auth-button--primary button">
          Check the director and review the plan
        </button>
      </div>
    </form>
  );
}

function FieldError({ list }: { list?: string[] }) {
  return list ? <span className="wizard-field__error">{list.join("; ")}</span> : null;
}

function ReviewStep({ input, onBack, onApplied }: { input: WizardInput; onBack: () => void; onApplied: () => void }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const review = useQuery(trpc.wizards.plan.queryOptions(input, { refetchOnWindowFocus: false }));
  const apply = useMutation(
    trpc.wizards.applyPlan.mutationOptions({
      onSuccess: async () => {
        await qc.invalidateQueries({ queryKey: trpc.wizards.status.queryKey() });
        onApplied();
      },
    }),
  );
  if (review.isPending) return <section className="wizard-card">Reading the director (IPVS table, addresses, routes, sysctls, modules)…</section>;
  if (review.isError) return <ErrorBanner title="The agent could not review this" message={review.error.message} />;
  const r: Review = review.data;
  return (
    <>
      <Preflight problems={r.problems} />
      <PlanView review={r} />
      {apply.isError ? <ErrorBanner title="Not applied" message={apply.error.message} /> : null}
      <div className="wizard-actions">
        <button type="button" className="button" onClick={onBack}>
          Back to the form
        </button>
        <button type="button" className="button" onClick={() => void review.refetch()}>
          Check again
        </button>
        <button
          type="button"
          className="auth-button--primary button"
          disabled={!r.canApply || apply.isPending}
          onClick={() => apply.mutate({ input, fingerprint: r.plan.fingerprint })}
          title={r.canApply ? "" : "Preflight found errors"}
        >
          {apply.isPending ? "Starting…" : `Apply (${r.plan.director.length} director steps, confirm within ${input.confirmTimeoutSeconds} s)`}
        </button>
      </div>
    </>
  );
}

function Preflight({ problems }: { problems: Review["problems"] }) {
  const errors = problems.filter((p) => p.severity === "error").length;
  return (
    <section className="wizard-card">
      <h3 className="wizard-card__title">
        Preflight{" "}
        <span className={`pill ${errors ? "wizard-pill--error" : "wizard-pill--ok"}`}>{errors ? `${errors} error${errors === 1 ? "" : "s"}: cannot apply` : "ready to apply"}</span>
      </h3>
      <ul className="wizard-problems">
        {problems.map((p, i) => (
          <li key={i} className={`wizard-problem wizard-problem--${p.severity}`}>
            <span className="wizard-problem__sev">{p.severity}</span>
            <span className="sentence">{p.message}</span>
            {p.field ? <span className="tag tag--muted mono">{p.field}</span> : null}
          </li>
        ))}
      </ul>
    </section>
  );
}

function PlanView({ review }: { review: Review }) {
  const [view, setView] = useState<"diff" | "shell">("diff");
  const p = review.plan;
  return (
    <section className="wizard-card">
      <h3 className="wizard-card__title">
        The plan <span className="tag tag--muted mono">fingerprint {p.fingerprint}</span>
        <span className="wizard-toggle">
          <button type="button" className={`button${view === "diff" ? " wizard-toggle--on" : ""}`} onClick={() => setView("diff")}>
            Diff
          </button>
          <button type="button" className={`button${view === "shell" ? " wizard-toggle--on" : ""}`} onClick={() => setView("shell")}>
            Shell commands
          </button>
        </span>
      </h3>
      {p.notes.map((n) => (
        <Banner key={n} tone="warning" title="Know this before applying">
          <p>{n}</p>
        </Banner>
      ))}
      <h4 className="wizard-sub">Director (applied by the agent, in this order, undone backwards on failure)</h4>
      {view === "diff" ? (
        <pre className="wizard-diff">
          {p.director.length ? p.director.map((d, i) => <DiffRow key={i} op={d.diff.op} text={d.diff.text} />) : "no change"}
        </pre>
      ) : (
        <pre className="wizard-shell">{p.directorScript}</pre>
      )}
      {p.realServers.map((rs) => (
        <div key={rs.address} className="wizard-rsplan">
          <h4 className="wizard-sub">
            Real server <span className="mono">{rs.address}</span> —{" "}
            {rs.agent ? (
              <>
                applied by its agent <b>{rs.agent.name}</b> <span className="mono faint">{rs.agent.url}</span> first, with the director&apos;s confirmation
              </>
            ) : (
              <>
                no agent paired (<a href="/realservers">pair one</a>): run this as root on it before applying
              </>
            )}
          </h4>
          <p className="wizard-note">{rs.note}</p>
          {view === "diff" ? (
            <pre className="wizard-diff">{rs.diff.length ? rs.diff.map((d, i) => <DiffRow key={i} op={d.op} text={d.text} />) : "no change"}</pre>
          ) : (
            <pre className="wizard-shell">{rs.script}</pre>
          )}
        </div>
      ))}
    </section>
  );
}

function DiffRow({ op, text }: { op: string; text: string }) {
  const cls = op === "+" ? "wizard-diff__add" : op === "-" ? "wizard-diff__del" : "wizard-diff__chg";
  return (
    <span className={cls}>
      {op} {text}
      {"\n"}
    </span>
  );
}

function ApplyStep({ status, receivedAt, onNew }: { status: Status | undefined; receivedAt: number; onNew: () => void }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const refresh = () => qc.invalidateQueries({ queryKey: trpc.wizards.status.queryKey() });
  const confirm = useMutation(trpc.wizards.confirm.mutationOptions({ onSettled: refresh }));
  const rollback = useMutation(trpc.wizards.rollback.mutationOptions({ onSettled: refresh }));
  const now = useNow(status?.phase === "awaiting-confirm");
  if (!status || status.phase === "idle") return <section className="wizard-card">No change has been made since the agent started.</section>;
  // Counted from what the agent said was left when the status came, not from its deadline: this browser's clock
  // may be off from the director's.
  const left = status.leftMs !== undefined ? Math.max(0, Math.ceil((status.leftMs - (now - receivedAt)) / 1000)) : 0;
  const t = status.verification?.traffic;
  return (
    <>
      <section className={`wizard-card wizard-phase wizard-phase--${status.phase}`}>
        <h3 className="wizard-card__title">
          {status.summary} <span className="pill">{PHASE_TEXT[status.phase]}</span>
        </h3>
        {status.phase === "awaiting-confirm" ? (
          <div className="wizard-countdown">
            <div>
              <div className="wizard-countdown__num">{left}s</div>
              <div className="wizard-countdown__label">until the agent rolls everything back</div>
            </div>
            <p>Applied and verified. Check the service yourself; it stays only if you confirm. Closing this tab does not stop the timer.</p>
            <div className="wizard-actions">
              <button type="button" className="auth-button--primary button" disabled={confirm.isPending} onClick={() => confirm.mutate({ id: status.id! })}>
                Confirm: keep it
              </button>
              <button type="button" className="auth-button--danger button" disabled={rollback.isPending} onClick={() => rollback.mutate({ id: status.id! })}>
                Roll back now
              </button>
            </div>
          </div>
        ) : null}
        {status.error ? <Banner tone="error" title="Refused">{<p className="sentence">{status.error}</p>}</Banner> : null}
        {status.rollback ? (
          <Banner tone={status.rollback.ok ? "info" : "error"} title={status.rollback.ok ? "Rolled back: the director is as it was (checked)" : "Rollback incomplete: the director differs from before"}>
            <p className="sentence">{status.rollback.reason}</p>
            {status.rollback.remaining.length ? <pre className="wizard-shell">{status.rollback.remaining.join("\n")}</pre> : null}
            {status.rollback.failures.map((f) => (
              <p key={f}>{f}</p>
            ))}
          </Banner>
        ) : null}
        <ol className="wizard-progress">
          {status.steps.map((s, i) => (
            <li key={i} className={`wizard-progress__step wizard-progress__step--${s.state}`}>
              <span className="wizard-progress__state">{s.state}</span>
              <span className="mono">{s.title}</span>
              {s.error ? <span className="wizard-field__error">{s.error}</span> : null}
            </li>
          ))}
        </ol>
      </section>
      {status.realServers.length ? <RealServerSidesCard sides={status.realServers} /> : null}
      {status.verification ? (
        <section className="wizard-card">
          <h3 className="wizard-card__title">Verification</h3>
          <p>
            State read back: {status.verification.stateOk ? <b className="wizard-ok">every change is in place</b> : <b className="wizard-bad">{status.verification.stateProblems.join("; ")}</b>}
          </p>
          {t ? (
            <>
              <p>
                Traffic: <b className={t.ok ? "wizard-ok" : "wizard-bad"}>{t.message}</b>
              </p>
              <table className="rs">
                <thead>
                  <tr>
                    <th>Service</th>
                    <th>Real server</th>
                    <th className="num">Weight</th>
                    <th className="num">Connections seen by IPVS</th>
                  </tr>
                </thead>
                <tbody>
                  {t.byDest.map((d) => (
                    <tr key={`${d.service}-${d.dest}`}>
                      <td className="mono">{d.service}</td>
                      <td className="mono">{d.dest}</td>
                      <td className="num">{d.weight}</td>
                      <td className="num">{d.connections}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {Object.keys(t.bodies).length ? (
                <p className="wizard-note">
                  Answers:{" "}
                  {Object.entries(t.bodies).map(([b, n]) => (
                    <span key={b} className="tag mono">
                      {b} ×{n}
                    </span>
                  ))}
                </p>
              ) : null}
            </>
          ) : null}
        </section>
      ) : null}
      {!isActive(status) ? (
        <div className="wizard-actions">
          <button type="button" className="button" onClick={onNew}>
            Set up another service
          </button>
        </div>
      ) : null}
    </>
  );
}

const SIDE_TEXT: Record<Status["realServers"][number]["state"], string> = {
  manual: "no agent: its script, run by hand",
  nothing: "nothing to change",
  planned: "not applied",
  applying: "applying…",
  pending: "applied, awaiting the confirmation",
  confirmed: "confirmed",
  "rolled-back": "rolled back",
  failed: "failed",
};

/** Each real server's part of the change, as its agent reported it. */
function RealServerSidesCard({ sides }: { sides: Status["realServers"] }) {
  return (
    <section className="wizard-card" data-testid="wizard-realservers">
      <h3 className="wizard-card__title">Real servers</h3>
      <table className="rs">
        <thead>
          <tr>
            <th>Real server</th>
            <th>Agent</th>
            <th>State</th>
            <th>Steps</th>
          </tr>
        </thead>
        <tbody>
          {sides.map((s) => (
            <tr key={s.address}>
              <td className="mono">{s.address}</td>
              <td>{s.agent ? <span title={s.agent.url}>{s.agent.name}</span> : <span className="muted">none</span>}</td>
              <td>
                <span className={s.state === "failed" ? "wizard-bad" : s.state === "confirmed" || s.state === "pending" ? "wizard-ok" : ""}>{SIDE_TEXT[s.state]}</span>
                {s.error ? <div className="wizard-field__error">{s.error}</div> : null}
                {s.rollback?.errors.length ? <div className="wizard-field__error">undo failed: {s.rollback.errors.join("; ")}</div> : null}
              </td>
              <td className="small">
                {s.steps ? s.steps.map((r, i) => <div key={i} className="mono">{r.outcome === "changed" ? "changed" : "already so"}: {stepText(r.step)}</div>) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function stepText(step: RealServerStep): string {
  switch (step.kind) {
    case "sysctl":
      return `${step.key}=${step.value}`;
    case "address":
      return `${step.address}/${step.prefixLen} on ${step.ifname}`;
    case "link-up":
      return `${step.ifname} up`;
    case "module":
      return `module ${step.name}`;
    case "default-route":
      return `default via ${step.via}`;
  }
}

const PHASE_TEXT: Record<Status["phase"], string> = {
  idle: "nothing running",
  applying: "applying…",
  verifying: "verifying with traffic…",
  "awaiting-confirm": "awaiting your confirmation",
  committed: "committed",
  "rolling-back": "rolling back…",
  "rolled-back": "rolled back",
  refused: "refused: nothing changed",
};

function useNow(ticking: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!ticking) return;
    const t = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(t);
  }, [ticking]);
  return now;
}
