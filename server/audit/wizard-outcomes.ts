// How each wizard change ENDED, in the audit log. `wizards.applyPlan` returns as soon as the agent starts the
// change, so its own entry (written by adminProcedure) can only say "started"; the end comes later and often
// without anyone clicking: the verification fails and the agent rolls back, the confirm timer runs out, or an
// agent restarted mid-change rolls back what the previous one left. The web server watches the agent's
// `wizard.status` (startWizardOutcomeWatcher, from instrumentation.ts) and writes one `wizards.outcome` entry
// (kind "agent") per change once it has ended: committed, rolled back (why, what was undone, what differs
// still), or refused. One entry per change id, also across web server restarts.
import type { AgentClient } from "@/server/agent/client";
import type { AuditInput, AuditLog } from "@/server/audit/log";
import type { WizardStatus } from "@/server/wizards/apply";

export const OUTCOME_OP = "wizards.outcome";
const POLL_MS = 5000;

/** The audit entry for a change that has ended; null while it runs (or when nothing has run). PURE. */
export function outcomeEntry(status: WizardStatus): AuditInput | null {
  if (!status.id || status.finishedAt === undefined) return null;
  const base = { user: "agent", role: null, ip: "agent", op: OUTCOME_OP, kind: "agent" as const, input: JSON.stringify({ id: status.id, summary: status.summary ?? "" }) };
  const durationMs = status.startedAt !== undefined ? status.finishedAt - status.startedAt : null;
  const steps = status.steps.map((s) => `${s.state} ${s.title}${s.error ? `: ${s.error}` : ""}`).join("\n");
  switch (status.phase) {
    case "committed":
      return { ...base, result: "ok", diff: steps, durationMs };
    case "refused":
      return { ...base, result: "refused", error: status.error ?? "refused", durationMs };
    case "rolled-back": {
      const r = status.rollback;
      const rollback = r
        ? [r.ok ? "rolled back: the director is as it was (checked)" : "rollback INCOMPLETE", ...r.failures.map((f) => `undo failed: ${f}`), ...r.remaining.map((d) => `still differs: ${d}`)].join("\n")
        : null;
      return { ...base, result: "error", error: r?.reason ?? status.error ?? "rolled back", diff: steps, rollback, durationMs };
    }
    default:
      return null;
  }
}

/** Writes the outcome of `status` unless the log has it already. True when it wrote one. */
export function recordOutcome(audit: AuditLog, status: WizardStatus): boolean {
  const entry = outcomeEntry(status);
  if (!entry) return false;
  const already = audit.query({ op: OUTCOME_OP, limit: 50 }).entries.some((e) => e.input === entry.input);
  if (already) return false;
  audit.record(entry);
  return true;
}

const globalForWatcher = globalThis as unknown as { lvsdashOutcomeWatcher?: NodeJS.Timeout };

/** Polls the agent's wizard status every 5 s for the life of the process (once per process). */
export function startWizardOutcomeWatcher(agent: AgentClient, audit: AuditLog): void {
  if (globalForWatcher.lvsdashOutcomeWatcher) return;
  let busy = false;
  let lastError = "";
  const poll = async () => {
    if (busy) return;
    busy = true;
    try {
      recordOutcome(audit, await agent.call("wizard.status", {}));
      lastError = "";
    } catch (error) {
      // The agent down or restarting, or the log not writable: said once, and the next poll asks again.
      const why = error instanceof Error ? error.message : String(error);
      if (why !== lastError) console.error(`lvs-dashboard: wizard outcomes: ${why}`);
      lastError = why;
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void poll(), POLL_MS);
  timer.unref();
  globalForWatcher.lvsdashOutcomeWatcher = timer;
  void poll();
}
