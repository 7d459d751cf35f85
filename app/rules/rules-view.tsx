"use client";
// Import and export of the director's IPVS rules (tRPC rulesIo). Export: the live table as `ipvsadm-save -n`
// writes it (for ipvsadm-restore) or as keepalived.conf virtual_server blocks, shown and downloadable. Import
// (admins): paste or open a file, review the plan against the live table (nothing changes: every error with its
// line, the ipvsadm commands, what differs), then apply that plan; the agent refuses when the table moved since
// the review, and rolls back what it did when a step fails.
import { useMutation, useQuery } from "@tanstack/react-query";
import { useState, type ChangeEvent } from "react";

import { Banner, ErrorBanner } from "@/app/_components/banner";
import { useTRPC, type RouterOutputs } from "@/app/_trpc/react";

type Format = "ipvsadm-save" | "keepalived";
type ImportResult = RouterOutputs["rulesIo"]["previewImport"];

const FORMATS: { value: Format; label: string }[] = [
  { value: "ipvsadm-save", label: "ipvsadm-save -n (ipvsadm-restore)" },
  { value: "keepalived", label: "keepalived.conf virtual_server blocks" },
];

export function RulesView() {
  const trpc = useTRPC();
  const me = useQuery(trpc.auth.me.queryOptions());
  return (
    <main className="page">
      <div className="audit-title">
        <h2>Rules: import and export</h2>
        <p>
          The director&apos;s IPVS table as <code>ipvsadm-save -n</code> writes it, or as keepalived.conf <code>virtual_server</code> blocks;
          and rules in either format, reviewed as a plan against the live table before anything changes.
        </p>
      </div>
      <ExportPanel />
      {me.data?.role === "admin" ? (
        <ImportPanel />
      ) : me.data ? (
        <Banner tone="info" title="Importing is for admins">
          <p>You are signed in with the viewer role: you can export the rules, not change them.</p>
        </Banner>
      ) : null}
    </main>
  );
}

function FormatSelect({ value, onChange }: { value: Format; onChange: (f: Format) => void }) {
  return (
    <label className="auth-field auth-field--inline">
      <span className="auth-field__label">Format</span>
      <select className="auth-field__input" value={value} onChange={(e) => onChange(e.target.value === "keepalived" ? "keepalived" : "ipvsadm-save")}>
        {FORMATS.map((f) => (
          <option key={f.value} value={f.value}>
            {f.label}
          </option>
        ))}
      </select>
    </label>
  );
}

function ExportPanel() {
  const trpc = useTRPC();
  const [format, setFormat] = useState<Format>("ipvsadm-save");
  const q = useQuery(trpc.rulesIo.export.queryOptions({ format }));
  const download = () => {
    if (!q.data) return;
    const url = URL.createObjectURL(new Blob([q.data.text], { type: "text/plain" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = q.data.filename;
    a.click();
    URL.revokeObjectURL(url);
  };
  return (
    <section className="audit-panel" aria-labelledby="export-title">
      <div className="audit-panel__head">
        <h3 id="export-title">Export</h3>
        <p>Read from the kernel now.</p>
      </div>
      <div className="account-form">
        <FormatSelect value={format} onChange={setFormat} />
        <button type="button" className="button" onClick={() => void q.refetch()} disabled={q.isFetching}>
          {q.isFetching ? "Reading…" : "Read again"}
        </button>
        <button type="button" className="button auth-button--primary" onClick={download} disabled={!q.data}>
          Download {q.data?.filename ?? ""}
        </button>
      </div>
      {q.isError ? <ErrorBanner title="The rules cannot be read" message={q.error.message} /> : null}
      {q.data ? <pre className="wizard-shell" data-testid="rules-export">{q.data.text || "# no virtual service\n"}</pre> : null}
    </section>
  );
}

function ImportPanel() {
  const trpc = useTRPC();
  const [format, setFormat] = useState<Format>("ipvsadm-save");
  const [text, setText] = useState("");
  const [keepUnlisted, setKeepUnlisted] = useState(true);
  const [fileError, setFileError] = useState<string | null>(null);
  const preview = useMutation(trpc.rulesIo.previewImport.mutationOptions());
  const apply = useMutation(trpc.rulesIo.applyImport.mutationOptions());
  const reviewed = preview.data && preview.data.stage === "plan" && !preview.isPending ? preview.data : null;
  const reset = () => {
    preview.reset();
    apply.reset();
  };
  const onFile = async (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0];
    if (!file) return;
    if (file.size > 1024 * 1024) return setFileError(`${file.name} is larger than 1 MiB`);
    setFileError(null);
    setText(await file.text());
    if (/keepalived|\.conf$/i.test(file.name)) setFormat("keepalived");
    reset();
  };
  return (
    <section className="audit-panel" aria-labelledby="import-title">
      <div className="audit-panel__head">
        <h3 id="import-title">Import</h3>
        <p>Review first: nothing changes until you apply the reviewed plan.</p>
      </div>
      <div className="account-form">
        <FormatSelect
          value={format}
          onChange={(f) => {
            setFormat(f);
            reset();
          }}
        />
        <label className="auth-field auth-field--inline">
          <span className="auth-field__label">File</span>
          <input className="auth-field__input" type="file" accept=".rules,.conf,.txt,text/plain" onChange={(e) => void onFile(e)} />
        </label>
        <label className="auth-field auth-field--inline">
          <input
            type="checkbox"
            checked={keepUnlisted}
            onChange={(e) => {
              setKeepUnlisted(e.target.checked);
              reset();
            }}
          />{" "}
          keep services the rules do not list (unchecked: they are deleted)
        </label>
      </div>
      {fileError ? <p className="auth-form__error">{fileError}</p> : null}
      <textarea
        className="auth-field__input rules-text mono"
        rows={12}
        spellCheck={false}
        value={text}
        placeholder={format === "keepalived" ? "virtual_server 192.0.2.100 80 {\n  lb_algo wrr\n  lb_kind DR\n  protocol TCP\n  real_server 192.0.2.11 80 { weight 1 }\n}" : "-A -t 192.0.2.100:80 -s wrr\n-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1"}
        onChange={(e) => {
          setText(e.target.value);
          reset();
        }}
      />
      <div className="wizard-actions">
        <button type="button" className="button" disabled={!text.trim() || preview.isPending} onClick={() => preview.mutate({ format, text, keepUnlisted })}>
          {preview.isPending ? "Reviewing…" : "Review the plan"}
        </button>
        <button
          type="button"
          className="button auth-button--primary"
          disabled={!reviewed || reviewed.commands.length === 0 || apply.isPending || apply.isSuccess}
          onClick={() => reviewed && apply.mutate({ format, text, keepUnlisted, fingerprint: reviewed.fingerprint })}
        >
          {apply.isPending ? "Applying…" : "Apply this plan"}
        </button>
      </div>
      {preview.isError ? <ErrorBanner title="The review failed" message={preview.error.message} /> : null}
      {preview.data ? <ImportReport result={preview.data} /> : null}
      {apply.isError ? <ErrorBanner title="The import failed" message={apply.error.message} /> : null}
      {apply.data ? <ImportReport result={apply.data} /> : null}
    </section>
  );
}

const STAGE_TITLE: Record<ImportResult["stage"], string> = {
  invalid: "The rules have errors: nothing was changed",
  plan: "The plan (nothing changed yet)",
  changed: "The table changed since the review: nothing was changed; review again",
  applied: "Applied",
  failed: "A step failed",
};

function ImportReport({ result }: { result: ImportResult }) {
  const tone = result.stage === "invalid" || result.stage === "failed" ? "error" : result.stage === "changed" ? "warning" : "info";
  return (
    <Banner tone={tone} title={STAGE_TITLE[result.stage]}>
      {result.notes.map((n) => (
        <p key={n} className="sentence">
          {n}
        </p>
      ))}
      {result.stage === "invalid" ? (
        <pre className="wizard-shell">{result.issues.join("\n")}</pre>
      ) : (
        <>
          {result.stage === "plan" && result.commands.length === 0 ? <p>The table already matches these rules: nothing to do.</p> : null}
          {result.changes.length ? <pre className="wizard-shell">{result.changes.join("\n")}</pre> : null}
          {result.commands.length ? (
            <details open={result.stage === "plan"}>
              <summary>As ipvsadm commands ({result.commands.length})</summary>
              <pre className="wizard-shell">{result.commands.join("\n")}</pre>
            </details>
          ) : null}
          {result.failure ? (
            <p className="sentence">
              <b>{result.failure.command}</b>: {result.failure.error}.{" "}
              {result.failure.rolledBack ? "What was done before it was rolled back: the table is as it was." : `Rollback incomplete: ${result.failure.remaining.join("; ")}`}
            </p>
          ) : null}
        </>
      )}
    </Banner>
  );
}
