"use client";
// Offline analysis: a capture file uploaded to /api/upload (analysed in a worker thread of the web server, as
// `lvsdash analyze` does it), its findings shown like the live ones, each evidence pcap downloadable.
import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";

import type { UploadReply } from "@/app/api/upload/respond";
import type { UploadFinding } from "@/server/diagnostics/live-upload";

import { FindingCard, type FindingCardData } from "./finding";

const MAX_BYTES = 64 * 1024 * 1024;

type State =
  | { phase: "idle" }
  | { phase: "uploading"; name: string; bytes: number }
  | { phase: "done"; reply: Extract<UploadReply, { ok: true }> }
  | { phase: "failed"; message: string };

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A download link for a base64 pcap, as an object URL released when the card goes away. */
function PcapLink({ base64, name, count }: { base64: string; name: string; count: number }) {
  const url = useMemo(() => {
    const bin = atob(base64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return URL.createObjectURL(new Blob([bytes], { type: "application/vnd.tcpdump.pcap" }));
  }, [base64]);
  useEffect(() => () => URL.revokeObjectURL(url), [url]);
  return (
    <a className="button button--small button--download" href={url} download={name}>
      Download .pcap ({count} packet{count === 1 ? "" : "s"})
    </a>
  );
}

function cardData(f: UploadFinding, i: number): FindingCardData {
  return {
    key: `${f.id}-${i}`, severity: f.severity, title: f.title, explanation: f.explanation, hosts: f.hosts, fix: f.fix,
    evidence: f.evidencePackets, activity: f.activity ?? null,
  };
}

export function UploadBox() {
  const [state, setState] = useState<State>({ phase: "idle" });
  const [file, setFile] = useState<File | null>(null);
  const rules = useRef<HTMLTextAreaElement>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (file === null) return;
    if (file.size > MAX_BYTES) {
      setState({ phase: "failed", message: `${file.name} is ${size(file.size)}: the limit is 64 MB. Cut it with editcap -c 500000, or run lvsdash analyze on the director.` });
      return;
    }
    const form = new FormData();
    form.set("pcap", file);
    if (rules.current?.value.trim()) form.set("rules", rules.current.value);
    setState({ phase: "uploading", name: file.name, bytes: file.size });
    try {
      const res = await fetch("/api/upload", { method: "POST", body: form });
      const reply = (await res.json().catch(() => ({ ok: false, message: `the server answered ${res.status} ${res.statusText}` }))) as UploadReply;
      setState(reply.ok ? { phase: "done", reply } : { phase: "failed", message: reply.message });
    } catch (error) {
      setState({ phase: "failed", message: `the upload did not reach the dashboard server (${error instanceof Error ? error.message : String(error)})` });
    }
  }

  return (
    <section className="diag-section" aria-labelledby="upload-title">
      <h3 id="upload-title" className="section-title">
        Analyse a capture file
      </h3>
      <form className="diag-upload" onSubmit={(e) => void submit(e)}>
        <div className="diag-upload__row">
          <label className={`diag-drop${file ? " diag-drop--chosen" : ""}`}>
            <input
              type="file"
              accept=".pcap,.cap,application/vnd.tcpdump.pcap"
              onChange={(e) => setFile(e.target.files?.[0] ?? null)}
              data-testid="upload-file"
            />
            <span className="diag-drop__title">{file ? file.name : "Choose a pcap file"}</span>
            <span className="muted small">
              {file ? size(file.size) : "classic pcap (tcpdump -w), Ethernet, up to 64 MB; pcapng: convert with editcap -F pcap"}
            </span>
          </label>
          <button type="submit" className="button button--primary" disabled={file === null || state.phase === "uploading"}>
            {state.phase === "uploading" ? "Analysing…" : "Analyse"}
          </button>
        </div>
        <details className="diag-upload__rules">
          <summary>Captured on another director? Paste its rules</summary>
          <p className="muted small">
            Without rules the file is judged against this director&apos;s IPVS table. For a capture from elsewhere, paste
            what <code>ipvsadm-save -n</code> prints there.
          </p>
          <textarea ref={rules} rows={5} className="diag-upload__textarea mono" placeholder="-A -t 192.0.2.100:80 -s wrr&#10;-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1" />
        </details>
      </form>

      {state.phase === "uploading" ? (
        <p className="diag-upload__status" role="status">
          Uploading and analysing {state.name} ({size(state.bytes)})…
        </p>
      ) : null}
      {state.phase === "failed" ? (
        <div className="banner banner--error" role="alert">
          <h2 className="banner__title">The file could not be analysed</h2>
          <p className="sentence">{state.message}</p>
        </div>
      ) : null}
      {state.phase === "done" ? <UploadResult reply={state.reply} /> : null}
    </section>
  );
}

function UploadResult({ reply }: { reply: Extract<UploadReply, { ok: true }> }) {
  const { analysis: a, file } = reply;
  const s = a.stats;
  const last = a.findings.flatMap((f) => f.evidencePackets.map((p) => p.time));
  const now = last.length > 0 ? Math.max(...last) : 0;
  return (
    <div className="diag-upload__result" data-testid="upload-result">
      <p className="diag-upload__summary">
        <b>{file.name}</b>: {s.packets.toLocaleString("en-US")} packets ({s.decoded.toLocaleString("en-US")} decoded
        {s.truncated + s.malformed > 0 ? `, ${s.truncated} truncated, ${s.malformed} malformed` : ""}) in {a.seconds.toFixed(2)} s,
        judged against {a.siteSource === "agent" ? "this director's IPVS table" : "the pasted rules"} (VIPs {a.vips.join(", ") || "none"}):{" "}
        <b className={a.findings.length > 0 ? "text-err" : "text-ok"}>
          {a.findings.length === 0 ? "no problem found" : `${a.findings.length} finding${a.findings.length === 1 ? "" : "s"}`}
        </b>
      </p>
      {a.findings.map((f, i) => (
        <FindingCard
          key={`${f.id}-${i}`}
          data={cardData(f, i)}
          now={now}
          download={
            f.evidencePackets.length > 0 ? (
              <PcapLink base64={f.pcapBase64} name={`lvsdash-evidence-upload-${i + 1}.pcap`} count={f.evidencePackets.length} />
            ) : null
          }
          meta={<span>in {file.name}, frames as Wireshark numbers them</span>}
        />
      ))}
    </div>
  );
}
