"use client";
// One finding as an admin reads it: what is wrong (severity, title), who (hosts by IP, MAC and role), why we
// say so (the explanation, the evidence packets with their numbers and times, a pcap to open in Wireshark),
// and the fix as commands to copy. Used for live findings and for those of an uploaded capture.
import Link from "next/link";
import { useState, type ReactNode } from "react";

import type { HostRole, Severity } from "@/server/diagnostics/types";

export interface FindingCardData {
  key: string;
  severity: Severity;
  title: string;
  explanation: string;
  hosts: { ip: string; mac: string; role: HostRole }[];
  fix: { summary: string; commands: string[] };
  evidence: { number: number; time: number }[];
  activity: { count: number; first: number; last: number } | null;
}

export const ROLE_LABEL: Record<HostRole, string> = {
  director: "Director",
  "backup-director": "Backup director",
  "real-server": "Real server",
  unknown: "Unknown host",
};

const SEVERITY_LABEL: Record<Severity, string> = { critical: "Critical", warning: "Warning", info: "Info" };

/** "14:03:07" from seconds since the epoch (the browser's time zone). */
export function clock(t: number): string {
  return new Date(t * 1000).toLocaleTimeString("en-GB", { hour12: false });
}

/** "14:03:07.123" for packets. */
export function packetClock(t: number): string {
  const ms = Math.floor((t % 1) * 1000);
  return `${clock(t)}.${String(ms).padStart(3, "0")}`;
}

/** "just now", "42 s ago", "3 min ago", "2 h ago", measured against the server's clock `now`. */
export function ago(now: number, t: number): string {
  const s = Math.max(0, Math.round(now - t));
  if (s < 2) return "just now";
  if (s < 90) return `${s} s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

/** "1 min 5 s" */
export function duration(s: number): string {
  const r = Math.max(0, Math.round(s));
  if (r < 60) return `${r} s`;
  const m = Math.floor(r / 60);
  return r % 60 === 0 ? `${m} min` : `${m} min ${r % 60} s`;
}

export function SeverityBadge({ severity }: { severity: Severity }) {
  return <span className={`sev sev--${severity}`}>{SEVERITY_LABEL[severity]}</span>;
}

export function RoleTag({ role }: { role: HostRole }) {
  return <span className={`role role--${role}`}>{ROLE_LABEL[role]}</span>;
}

function CopyButton({ text }: { text: string }) {
  const [copied, setCopied] = useState<"yes" | "no" | null>(null);
  return (
    <button
      type="button"
      className="button button--small"
      onClick={() => {
        navigator.clipboard?.writeText(text).then(
          () => setCopied("yes"),
          () => setCopied("no"),
        ) ?? setCopied("no");
        setTimeout(() => setCopied(null), 2000);
      }}
    >
      {copied === "yes" ? "Copied" : copied === "no" ? "Select and copy" : "Copy"}
    </button>
  );
}

export function FixBlock({ fix }: { fix: FindingCardData["fix"] }) {
  const text = fix.commands.join("\n");
  return (
    <div className="diag-fix">
      <div className="diag-fix__head">
        <h4>Fix</h4>
        {fix.commands.length > 0 ? <CopyButton text={text} /> : null}
      </div>
      <p>{fix.summary}</p>
      {fix.commands.length > 0 ? <pre className="diag-fix__commands">{text}</pre> : null}
      <p className="small muted">
        Run these on the host named above, or let a <Link href="/wizards">Setup wizard</Link> plan and apply the change.
      </p>
    </div>
  );
}

function HostsTable({ hosts }: { hosts: FindingCardData["hosts"] }) {
  return (
    <table className="diag-hosts">
      <thead>
        <tr>
          <th>Host</th>
          <th>IP address</th>
          <th>MAC address</th>
        </tr>
      </thead>
      <tbody>
        {hosts.map((h, i) => (
          <tr key={`${h.ip}/${h.mac}/${i}`} className={i === 0 ? "diag-hosts__culprit" : undefined}>
            <td>
              <RoleTag role={h.role} />
              {i === 0 ? <span className="diag-hosts__note">at fault</span> : null}
            </td>
            <td className="mono">{h.ip}</td>
            <td className="mono">{h.mac}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const SHOWN_PACKETS = 8;

function EvidenceList({ data, download, now }: { data: FindingCardData; download: ReactNode; now: number }) {
  const shown = data.evidence.slice(0, SHOWN_PACKETS);
  const more = data.evidence.length - shown.length;
  return (
    <div className="diag-evidence">
      <div className="diag-fix__head">
        <h4>Evidence</h4>
        {download}
      </div>
      {data.activity ? (
        <p className="muted">
          {data.activity.count} offending packet{data.activity.count === 1 ? "" : "s"}, the last {ago(now, data.activity.last)}
          {data.activity.count > data.evidence.length ? `; the first ${data.evidence.length} are listed` : ""}.
        </p>
      ) : null}
      {shown.length === 0 ? (
        <p className="muted">No packets listed.</p>
      ) : (
        <ol className="diag-packets">
          {shown.map((p) => (
            <li key={p.number}>
              <span className="mono diag-packets__no">#{p.number}</span>
              <span className="mono">{packetClock(p.time)}</span>
            </li>
          ))}
          {more > 0 ? <li className="muted">and {more} more in the download</li> : null}
        </ol>
      )}
    </div>
  );
}

export function FindingCard({
  data, meta, download, now, tone,
}: {
  data: FindingCardData;
  /** Device, opened/resolved times: shown under the title. */
  meta: ReactNode;
  download: ReactNode;
  now: number;
  tone?: "resolved";
}) {
  return (
    <article className={`diag-finding diag-finding--${tone ?? data.severity}`} data-testid="finding">
      <header className="diag-finding__head">
        {tone === "resolved" ? <span className="sev sev--resolved">Resolved</span> : <SeverityBadge severity={data.severity} />}
        <h3>{data.title}</h3>
      </header>
      <div className="diag-finding__meta">{meta}</div>
      <div className="diag-finding__body">
        <div className="diag-finding__main">
          <HostsTable hosts={data.hosts} />
          <p className="diag-finding__why">{data.explanation}</p>
          <FixBlock fix={data.fix} />
        </div>
        <EvidenceList data={data} download={download} now={now} />
      </div>
    </article>
  );
}
