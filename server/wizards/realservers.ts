// The real servers' side of a wizard change, through their paired agents (`lvsdash rs-agent`, server/rsagent/,
// paired in server/realservers/). Runs in the web server process: the director's agent (apply.ts) knows nothing of
// real servers; this makes the two one change, each part commit-confirmed on its own host:
//
//   apply     1. every real server of the plan that has a paired agent and steps gets them (rs.apply), one after
//                the other; each is then pending on its agent, under that agent's own rollback timer. A failure
//                (a step failed there, the agent busy, gone or refusing the token) undoes the ones before
//                (rs.rollback) and the director is never touched.
//             2. the director's change starts (wizard.apply, with the reviewed plan's fingerprint). If the agent
//                refuses it, the real servers are undone.
//   meanwhile the director verifies with real traffic (the real servers are ready by then) and waits for the
//             confirmation. A watcher follows it: when it ends rolled back (the verification failed, its timer ran
//             out, an admin rolled back, a restarted agent undid it), the real servers are undone at once.
//   confirm   each real server's agent is asked first whether its change is still pending (an agent that went
//             away, or rolled back by itself, fails this); if one is not, everything is rolled back and the
//             confirm fails. Then the director is confirmed, then each real server.
//   rollback  the director, then each real server.
//
// Real servers without a paired agent keep the plan's script, run by their admin before the apply (the director's
// traffic verification fails, and rolls back, when they are not ready). If the web server itself goes away, every
// part still ends by its own timer: the director's after confirmTimeoutSeconds, each real server's after that plus
// RS_APPLY_ALLOWANCE_S (its timer starts before the director's apply and verification).
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";

import type { AgentClient } from "@/server/agent/client";
import type { AuditInput, AuditLog } from "@/server/audit/log";
import type { RealServerRegistry } from "@/server/realservers/registry";
import type { RollbackReport, StepResult } from "@/server/rsagent/protocol";

import type { WizardStatus } from "./apply";
import type { WizardInput } from "./input";
import type { RealServerStep } from "./plan";

/** Seconds a real server's pending change outlives the director's confirm timeout: the director's apply and its
 *  traffic verification run after the real servers were applied (under qemu TCG they took up to ~2 min). */
export const RS_APPLY_ALLOWANCE_S = 300;
const MAX_RS_TIMEOUT_S = 3600;
const WATCH_MS = 2000;

export type RealServerSideState =
  /** No paired agent: its admin runs the plan's script. */
  | "manual"
  /** The plan changes nothing there. */
  | "nothing"
  /** Its agent is to apply its steps (not yet, or not at all when a real server before it failed). */
  | "planned"
  | "applying"
  | "pending"
  | "confirmed"
  | "rolled-back"
  /** Its apply failed (and was undone by its agent), or its agent could not be reached. */
  | "failed";

export interface RealServerSide {
  address: string;
  agent: { id: number; name: string; url: string } | null;
  state: RealServerSideState;
  /** The rs-agent's transaction. */
  transaction?: string;
  steps?: StepResult[];
  error?: string;
  rollback?: RollbackReport;
}

/** The director's status and, for the change it belongs to, its real servers' sides. */
export type SiteWizardStatus = WizardStatus & { realServers: RealServerSide[] };

/** The steps of each real server, as the reviewed plan has them. */
export interface RealServerStepsPlan {
  address: string;
  steps: RealServerStep[];
}

/** A wizard change the real servers' agents refused or could not make: nothing was changed (or all was undone). */
export class RealServerApplyError extends Error {
  override name = "RealServerApplyError";
  constructor(
    message: string,
    readonly sides: RealServerSide[],
  ) {
    super(message);
  }
}

interface Change {
  /** The director's change id, once it started. */
  id: string | null;
  sides: RealServerSide[];
  /** The director's agent client the watcher reads through (null: loaded from the store, until the next call). */
  agent: AgentClient | null;
  /** Set once the real servers were confirmed or rolled back. */
  ended: boolean;
}

/** The open change's real-server transactions, kept so that a web server restarted between apply and confirm
 *  still confirms or undoes them (without it, the real servers would roll back under a committed director). */
export interface SidesStore {
  load(): { id: string; sides: RealServerSide[] } | null;
  save(change: { id: string; sides: RealServerSide[] } | null): void;
}

/** A SidesStore in one JSON file (0600, replaced by rename); a file that cannot be read is no open change. */
export function fileSidesStore(path: string): SidesStore {
  return {
    load() {
      try {
        const kept = JSON.parse(readFileSync(path, "utf8")) as { id?: unknown; sides?: unknown };
        return typeof kept.id === "string" && Array.isArray(kept.sides) ? { id: kept.id, sides: kept.sides as RealServerSide[] } : null;
      } catch {
        return null;
      }
    },
    save(change) {
      if (!change) return rmSync(path, { force: true });
      writeFileSync(`${path}.tmp`, JSON.stringify(change), { mode: 0o600 });
      renameSync(`${path}.tmp`, path);
    },
  };
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
const ENDED_BADLY = new Set(["rolled-back", "refused"]);

export interface RealServerSidesOptions {
  /** How often the watcher reads the director's status while a change is open. */
  watchMs?: number;
  /** Where the open change is kept across web server restarts. */
  store?: SidesStore;
  /** What the watcher did by itself (undid the real servers), for the audit log. */
  onAutoRollback?: (change: { id: string | null; sides: RealServerSide[]; reason: string }) => void;
  log?: (line: string) => void;
}

/** The web server's one coordinator of real-server sides (one wizard change at a time, as on the director). */
export class RealServerSides {
  private change: Change | null = null;
  private watcher: NodeJS.Timeout | null = null;
  private busy: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly registry: () => RealServerRegistry,
    private readonly options: RealServerSidesOptions = {},
  ) {
    const kept = options.store?.load();
    if (kept) this.change = { id: kept.id, sides: kept.sides, agent: null, ended: false };
  }

  /** Which real servers of a plan have an agent to apply their steps (the rest: the script). */
  sidesOf(plan: readonly RealServerStepsPlan[]): RealServerSide[] {
    const registry = this.registry();
    return plan.map((rs) => {
      const paired = registry.forAddress(rs.address);
      const agent = paired ? { id: paired.id, name: paired.name, url: paired.url } : null;
      return { address: rs.address, agent, state: !agent ? "manual" : rs.steps.length === 0 ? "nothing" : "planned" };
    });
  }

  /**
   * Applies the real servers' steps through their agents, then starts the director's change with `startDirector`.
   * Throws RealServerApplyError (with everything undone) when a real server fails; rethrows the director's refusal
   * after undoing the real servers.
   */
  async apply(agent: AgentClient, input: WizardInput, plan: readonly RealServerStepsPlan[], startDirector: () => Promise<WizardStatus>): Promise<SiteWizardStatus> {
    return this.serial(async () => {
      const open = this.change && !this.change.ended ? this.change : null;
      if (open) {
        // The change before: still running or waiting on the director, it holds the site; ended there (rolled
        // back, refused) or unknown to it (another agent, restarted), its real servers are undone now.
        const current = await agent.call("wizard.status", {});
        if (current.id === open.id && current.phase === "committed") open.ended = true;
        else if (current.id === open.id && !ENDED_BADLY.has(current.phase)) {
          throw new RealServerApplyError("another wizard change is waiting for its confirmation: confirm it or roll it back first", open.sides);
        } else await this.undo(open, current.id === open.id ? `the director's change was ${current.phase}` : "the director no longer holds that change");
      }
      const sides = this.sidesOf(plan);
      const change: Change = { id: null, sides, agent, ended: false };
      const timeout = Math.min(MAX_RS_TIMEOUT_S, input.confirmTimeoutSeconds + RS_APPLY_ALLOWANCE_S);
      for (const [i, side] of sides.entries()) {
        if (side.state !== "planned" || !side.agent) continue;
        side.state = "applying";
        try {
          const r = await this.registry().client(side.agent.id).call("rs.apply", { steps: plan[i]!.steps, confirmTimeoutSeconds: timeout });
          if (r.status === "pending") Object.assign(side, { state: "pending", transaction: r.id, steps: r.steps });
          else if (r.status === "busy") Object.assign(side, { state: "failed", error: `its agent has another change waiting for confirmation (${r.pending}): confirm or roll it back there first` });
          else Object.assign(side, { state: "failed", steps: r.steps, rollback: r.rollback, error: `step ${r.failedStep + 1} failed: ${r.error} (its agent undid the steps before it)` });
        } catch (e) {
          Object.assign(side, { state: "failed", error: `its agent did not apply the steps: ${message(e)}` });
        }
        if ((side.state as RealServerSideState) === "failed") {
          await this.undo(change, `real server ${side.address} failed`);
          throw new RealServerApplyError(
            `real server ${side.address} (agent ${side.agent.name}): ${side.error}. Nothing was changed on the director` +
              (sides.some((s) => s.state === "rolled-back") ? "; the real servers applied before it were rolled back." : "."),
            sides,
          );
        }
      }
      let status: WizardStatus;
      try {
        status = await startDirector();
      } catch (e) {
        await this.undo(change, "the director refused the change");
        throw e;
      }
      change.id = status.id;
      this.change = change;
      this.persist();
      this.watch();
      return { ...status, realServers: sides };
    });
  }

  /** The director's status with the real servers of its change (also closes a change the director ended). */
  async status(agent: AgentClient): Promise<SiteWizardStatus> {
    const status = await agent.call("wizard.status", {});
    // In the queue: a reader never sees the real servers halfway through an undo the watcher started.
    return this.serial(async () => {
      const change = this.change;
      if (!change || change.id === null || change.id !== status.id) return { ...status, realServers: [] };
      this.adopt(change, agent);
      if (!change.ended && ENDED_BADLY.has(status.phase)) await this.undo(change, `the director's change was ${status.phase}`);
      return { ...status, realServers: change.sides };
    });
  }

  /** Confirms every part, after checking each real server's change is still pending; else rolls everything back. */
  async confirm(agent: AgentClient, id: string): Promise<SiteWizardStatus> {
    return this.serial(async () => {
      const change = this.change?.id === id && !this.change.ended ? this.change : null;
      if (change) this.adopt(change, agent);
      const held = change?.sides.filter((s) => s.state === "pending" && s.transaction) ?? [];
      for (const side of held) {
        let why: string | null = null;
        try {
          const st = await this.registry().client(side.agent!.id).call("rs.status", {});
          if (st.pending?.id !== side.transaction) {
            const ended = st.recent.find((t) => t.id === side.transaction);
            why = ended ? `its agent already ${ended.state === "confirmed" ? "confirmed" : `rolled it back (${ended.reason ?? "no reason given"})`}` : "its agent no longer holds the change (restarted?)";
          }
        } catch (e) {
          why = `its agent did not answer: ${message(e)}`;
        }
        if (why) {
          side.error = why;
          const reason = `real server ${side.address} (agent ${side.agent!.name}) cannot be confirmed: ${why}`;
          await agent.call("wizard.rollback", { id }).catch((e: unknown) => this.options.log?.(`wizard: director rollback after ${reason}: ${message(e)}`));
          await this.undo(change!, reason);
          throw new RealServerApplyError(`${reason}. Everything was rolled back: the director and every real server with an agent.`, change!.sides);
        }
      }
      let status: WizardStatus;
      try {
        status = await agent.call("wizard.confirm", { id });
      } catch (e) {
        // Too late (its timer ran out), or the agent went away: the director's part ends in its rollback.
        if (change) await this.undo(change, `the director's confirm failed: ${message(e)}`);
        throw e;
      }
      if (status.phase !== "committed") {
        if (change) await this.undo(change, `the director's change was ${status.phase}`);
        return { ...status, realServers: change?.sides ?? [] };
      }
      for (const side of held) {
        try {
          const t = await this.registry().client(side.agent!.id).call("rs.confirm", { id: side.transaction! });
          side.state = t.state === "confirmed" ? "confirmed" : "failed";
          if (t.state !== "confirmed") side.error = `its agent says ${t.state} (${t.reason ?? ""})`;
        } catch (e) {
          // The director is committed; this real server's agent went away in the last instant: its own timer
          // undoes its part. Said plainly: the admin re-runs its script or the wizard for it.
          side.state = "failed";
          side.error = `the director is committed, but this real server's confirmation failed (${message(e)}): its agent rolls its part back by itself; run its script by hand`;
        }
      }
      if (change) change.ended = true;
      this.persist();
      return { ...status, realServers: change?.sides ?? [] };
    });
  }

  /** Rolls back the director's change and every real server's. */
  async rollback(agent: AgentClient, id: string): Promise<SiteWizardStatus> {
    return this.serial(async () => {
      const change = this.change?.id === id ? this.change : null;
      // The real servers are undone even when the director's part cannot be (already ended, agent gone).
      let status: WizardStatus;
      try {
        status = await agent.call("wizard.rollback", { id });
      } finally {
        if (change && !change.ended) await this.undo(change, "rollback asked");
      }
      return { ...status, realServers: change?.sides ?? [] };
    });
  }

  /** rs.rollback on every real server still pending; records what each did. */
  private async undo(change: Change, reason: string): Promise<void> {
    change.ended = true;
    let any = false;
    for (const side of change.sides) {
      if (side.state !== "pending" || !side.transaction || !side.agent) continue;
      any = true;
      try {
        const t = await this.registry().client(side.agent.id).call("rs.rollback", { id: side.transaction });
        side.state = "rolled-back";
        if (t.rollback) side.rollback = t.rollback;
        if (t.rollback?.errors.length) side.error = `rollback incomplete: ${t.rollback.errors.join("; ")}`;
      } catch (e) {
        // Unreachable now: its own timer (or its restart) rolls it back.
        side.state = "failed";
        side.error = `could not ask its agent to roll back (${message(e)}): it rolls back by itself when its timer runs out or it starts again`;
      }
    }
    this.persist();
    if (any && change.id !== null) this.options.onAutoRollback?.({ id: change.id, sides: change.sides, reason });
  }

  /** Writes the open change (or that there is none) to the store. */
  private persist(): void {
    const c = this.change;
    try {
      this.options.store?.save(c && !c.ended && c.id !== null ? { id: c.id, sides: c.sides } : null);
    } catch (e) {
      this.options.log?.(`wizard: could not keep the real servers' change on disk: ${message(e)}`);
    }
  }

  /** A change loaded from the store gets the agent client of the first call that finds it, and the watcher. */
  private adopt(change: Change, agent: AgentClient): void {
    if (change.agent) return;
    change.agent = agent;
    if (!change.ended) this.watch();
  }

  /** While a change is open, follows the director's status so a rollback there undoes the real servers. */
  private watch(): void {
    if (this.watcher) return;
    let lastError = "";
    this.watcher = setInterval(() => {
      const change = this.change;
      if (!change || change.ended || !change.agent) {
        clearInterval(this.watcher!);
        this.watcher = null;
        return;
      }
      this.status(change.agent).then(
        () => (lastError = ""),
        (e: unknown) => {
          // The agent restarting, say: said once, asked again at the next tick.
          if (message(e) !== lastError) this.options.log?.(`wizard: watching the director's change: ${message(e)}`);
          lastError = message(e);
        },
      );
    }, this.options.watchMs ?? WATCH_MS);
    this.watcher.unref();
  }

  /** One coordinator step at a time (a confirm and the watcher never interleave). */
  private serial<T>(run: () => Promise<T>): Promise<T> {
    const next = this.busy.then(run, run);
    this.busy = next.catch(() => undefined);
    return next;
  }
}

/** What the watcher undid by itself, as an audit entry (the admin's own calls are audited by their mutation). */
export function autoRollbackEntry(change: { id: string | null; sides: RealServerSide[]; reason: string }): AuditInput {
  return {
    user: "web",
    role: null,
    ip: "web",
    op: "wizards.realServers",
    kind: "agent",
    input: JSON.stringify({ id: change.id }),
    result: change.sides.every((s) => s.state !== "failed") ? "ok" : "error",
    error: change.sides.some((s) => s.state === "failed") ? change.sides.flatMap((s) => (s.error ? [`${s.address}: ${s.error}`] : [])).join("\n") : null,
    rollback: `${change.reason}: real servers rolled back\n${sidesText(change.sides)}`,
  };
}

/** One line per real server: where it stands and through which agent. */
export function sidesText(sides: readonly RealServerSide[]): string {
  return sides
    .map((s) => `${s.address}: ${s.state}${s.agent ? ` (agent ${s.agent.name}${s.transaction ? `, change ${s.transaction}` : ""})` : " (no agent: its script)"}${s.error ? `: ${s.error}` : ""}`)
    .join("\n");
}

const globalForSides = globalThis as unknown as { lvsdashRealServerSides?: RealServerSides };

/** The process's coordinator, over the process's registry of paired agents; what it undoes alone is audited. */
export function sharedRealServerSides(registry: () => RealServerRegistry, audit: () => AuditLog, store?: SidesStore): RealServerSides {
  globalForSides.lvsdashRealServerSides ??= new RealServerSides(registry, {
    ...(store ? { store } : {}),
    onAutoRollback: (change) => {
      try {
        audit().record(autoRollbackEntry(change));
      } catch (e) {
        console.error("lvs-dashboard: audit of a real-server rollback failed:", message(e));
      }
    },
    log: (line) => console.error(`lvs-dashboard: ${line}`),
  });
  return globalForSides.lvsdashRealServerSides;
}
