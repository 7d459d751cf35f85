// Applying a wizard's plan on the director, in the agent, safely:
//
//   1. read the director's state, preflight (preflight.ts), plan (plan.ts); refuse on any error, and when the
//      plan differs from the one the admin was shown (its fingerprint);
//   2. run the director steps in order, keeping an undo journal of what each one really changed. EEXIST on an
//      add and ENOENT/EADDRNOTAVAIL/ESRCH on a delete mean "already so": success, nothing to undo (keepalived
//      does the same). Any other error stops the apply and rolls back everything done so far;
//   3. verify: read the state again and check every step's effect is there; then real traffic: `probes` HTTP
//      requests through the VIP, all must be answered, and every real server with a weight must have got
//      connections (IPVS's own per-destination counters). A failed check rolls back;
//   4. commit-confirmed: the change stays only if wizard.confirm comes within confirmTimeoutSeconds. The timer
//      runs here, in the agent: a closed browser tab or a cut connection still ends in a rollback.
//
// Rollback undoes the journal backwards and then compares the director with the state read before the apply
// (IPVS table, addresses, routes, the sysctls, nftables tables): `remaining` lists what still differs.
//
// The journal (and the state before) is also written to a JournalStore after every change: an agent that dies
// before the change is confirmed rolls it back when it starts again (recover()).
//
// Kernel I/O goes through the WizardKernel interface (agent.ts wires it to server/kernel/); the lab's fault
// tests wrap it to make one step fail with a real kernel error.
import { randomUUID } from "node:crypto";

import { executePlan } from "@/server/ipvs/apply/apply";
import { inverseSteps, type ApplyStep } from "@/server/ipvs/apply/plan";
import type { IpvsClient } from "@/server/ipvs/netlink/client";
import { describeChange, diffSnapshots } from "@/server/ipvs/snapshot/diff";
import { readSnapshot, type TableState } from "@/server/ipvs/snapshot/model";
import type { HttpProbe, ProbeAnswer } from "@/server/kernel/probe";

import type { WizardInput } from "./input";
import { planWizard, stateWanted, type DirectorStep, type WizardPlan } from "./plan";
import { hasErrors, preflight, type PreflightProblem } from "./preflight";
import { directorStepTitle } from "./render";
import type { DirectorState, StateWanted } from "./state";

export interface WizardKernel {
  readState(wanted: StateWanted): Promise<DirectorState>;
  ipvs: IpvsClient;
  addAddress(ifname: string, address: string, prefixLen: number): Promise<void>;
  delAddress(ifname: string, address: string, prefixLen: number): Promise<void>;
  /** null when the key does not exist. */
  readSysctl(key: string): Promise<string | null>;
  writeSysctl(key: string, value: string): Promise<void>;
  createSnatTable(s: Extract<DirectorStep, { kind: "nft-snat" }>): Promise<void>;
  deleteTable(family: "ip", name: string): Promise<void>;
  probe(p: HttpProbe): Promise<ProbeAnswer>;
}

export type Phase = "idle" | "applying" | "verifying" | "awaiting-confirm" | "committed" | "rolling-back" | "rolled-back" | "refused";

export interface StepStatus {
  title: string;
  state: "pending" | "running" | "done" | "already" | "failed" | "undone" | "undo-failed";
  error?: string;
}

export interface TrafficResult {
  ok: boolean;
  probes: number;
  answered: number;
  /** What the answers said (a lab real server answers its name), with counts. */
  bodies: Record<string, number>;
  errors: string[];
  /** IPVS's view: connections each real server got. */
  byDest: { service: string; dest: string; weight: number; connections: number }[];
  message: string;
}

export interface VerificationResult {
  stateOk: boolean;
  stateProblems: string[];
  traffic?: TrafficResult;
}

export interface RollbackResult {
  reason: string;
  ok: boolean;
  /** What still differs from the state before the apply (empty when ok). */
  remaining: string[];
  failures: string[];
}

export interface WizardStatus {
  id: string | null;
  phase: Phase;
  summary?: string;
  problems?: PreflightProblem[];
  steps: StepStatus[];
  verification?: VerificationResult;
  /** ms since the epoch: when the agent rolls back unless confirmed. */
  deadline?: number;
  /** ms left until `deadline`, by the agent's clock when this status was read (a browser's clock may differ). */
  leftMs?: number;
  rollback?: RollbackResult;
  error?: string;
  startedAt?: number;
  finishedAt?: number;
}

/** One journal entry: a step that changed the kernel, and what it replaced. */
export type JournalEntry = { step: DirectorStep; before?: string | null };

/** What an unconfirmed change leaves behind for the next agent: enough to undo it and check the undo. */
export interface PendingChange {
  id: string;
  summary: string;
  wanted: StateWanted;
  before: DirectorState;
  journal: JournalEntry[];
}

/** Where the pending change is kept across agent restarts (agent.ts: a file next to the agent's socket). */
export interface JournalStore {
  save(change: PendingChange | null): Promise<void>;
  load(): Promise<PendingChange | null>;
}

export interface ManagerOptions {
  now?: () => number;
  /** How long to wait for IPVS's counters to show the probes' connections. */
  counterWaitMs?: number;
  probeTimeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  store?: JournalStore;
}

const IDEMPOTENT_ADD = new Set(["EEXIST"]);
const IDEMPOTENT_DEL = new Set(["ENOENT", "EADDRNOTAVAIL", "ESRCH"]);
const errCode = (e: unknown) => (e && typeof e === "object" && "code" in e && typeof e.code === "string" ? e.code : undefined);
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** At most one wizard change at a time per director: the manager holds it from apply to confirm/rollback. */
export class WizardManager {
  private status: WizardStatus = { id: null, phase: "idle", steps: [] };
  private journal: JournalEntry[] = [];
  private before: DirectorState | null = null;
  private wanted: StateWanted = { sysctls: [], modules: [] };
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly kernel: WizardKernel,
    private readonly opts: ManagerOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** The current change (a copy). */
  current(): WizardStatus {
    const s = structuredClone(this.status);
    if (s.deadline !== undefined) s.leftMs = Math.max(0, s.deadline - this.now());
    return s;
  }

  /** Reads the state and returns the preflight and the plan (nothing changes). */
  async review(input: WizardInput): Promise<{ problems: PreflightProblem[]; plan: WizardPlan; state: DirectorState }> {
    const state = await this.kernel.readState(stateWanted(input));
    return { problems: preflight(input, state), plan: planWizard(input, state), state };
  }

  /** Starts an apply and returns at once (poll current()); `done` settles when it is applied, refused or rolled back. */
  start(input: WizardInput, expectFingerprint?: string): { status: WizardStatus; done: Promise<void> } {
    if (this.status.phase === "applying" || this.status.phase === "verifying" || this.status.phase === "awaiting-confirm" || this.status.phase === "rolling-back") {
      throw new WizardBusyError(`another wizard change (${this.status.summary ?? this.status.id}) is ${this.status.phase}: confirm or roll it back first`);
    }
    const id = randomUUID();
    this.journal = [];
    this.before = null;
    this.status = { id, phase: "applying", steps: [], startedAt: this.now(), summary: `${input.mode.toUpperCase()} ${input.protocol.toUpperCase()} ${input.vip}:${input.ports.join(",")}` };
    const done = this.run(id, input, expectFingerprint).catch((e) => {
      // The state could not be read before anything changed: nothing to undo.
      if (!this.before) return this.refuse(`could not read the director: ${message(e)}; nothing was changed`);
      // Anything else unexpected (a bug, the state unreadable after a change): undo what was done.
      return this.rollBack(`unexpected error: ${message(e)}`);
    });
    this.running = done;
    return { status: this.current(), done };
  }

  /** Keeps the change: stops the rollback timer. */
  async confirm(id: string): Promise<WizardStatus> {
    if (this.status.id !== id || this.status.phase !== "awaiting-confirm") throw new WizardBusyError(`nothing to confirm for ${id} (the change is ${this.status.id === id ? this.status.phase : "not the current one"})`);
    clearTimeout(this.timer);
    this.timer = undefined;
    this.journal = [];
    this.status.phase = "committed";
    this.status.finishedAt = this.now();
    delete this.status.deadline;
    await this.persist();
    return this.current();
  }

  /** Undoes the current change now (awaiting confirmation, or while it runs: after its current step). */
  async rollbackNow(id: string): Promise<WizardStatus> {
    if (this.status.id !== id) throw new WizardBusyError(`${id} is not the current change`);
    if (this.status.phase === "applying" || this.status.phase === "verifying") {
      this.abortRequested = true;
      await this.running;
      return this.current();
    }
    if (this.status.phase !== "awaiting-confirm") throw new WizardBusyError(`the change is ${this.status.phase}: nothing to roll back`);
    await this.rollBack("rolled back by the administrator");
    return this.current();
  }

  private abortRequested = false;

  private async run(id: string, input: WizardInput, expectFingerprint?: string): Promise<void> {
    this.abortRequested = false;
    this.wanted = stateWanted(input);
    const before = await this.kernel.readState(this.wanted);
    this.before = before;
    const problems = preflight(input, before);
    const plan = planWizard(input, before);
    this.status.problems = problems;
    this.status.steps = plan.director.map((s) => ({ title: directorStepTitle(s), state: "pending" }));
    if (hasErrors(problems)) return this.refuse("preflight found problems: nothing was changed");
    if (expectFingerprint && expectFingerprint !== plan.fingerprint) {
      return this.refuse("the director changed since this plan was shown (its fingerprint differs): review the new plan; nothing was changed");
    }

    for (const [i, step] of plan.director.entries()) {
      const st = this.status.steps[i]!;
      if (this.abortRequested) return this.rollBack("stopped by the administrator");
      st.state = "running";
      try {
        const outcome = await this.doStep(step, before.ipvs);
        st.state = outcome;
        await this.persist();
      } catch (e) {
        st.state = "failed";
        st.error = message(e);
        return this.rollBack(`step ${i + 1} failed: ${st.title}: ${st.error}`);
      }
    }

    this.status.phase = "verifying";
    const after = await this.kernel.readState(this.wanted);
    const stateProblems = checkApplied(plan, after);
    const verification: VerificationResult = { stateOk: stateProblems.length === 0, stateProblems };
    this.status.verification = verification;
    if (stateProblems.length) return this.rollBack(`the state read back is not what was applied: ${stateProblems.join("; ")}`);
    if (input.protocol === "tcp") {
      verification.traffic = await this.verifyTraffic(input);
      if (!verification.traffic.ok) return this.rollBack(`verification with traffic failed: ${verification.traffic.message}`);
    }
    if (this.abortRequested) return this.rollBack("stopped by the administrator");

    this.status.phase = "awaiting-confirm";
    const deadline = this.now() + input.confirmTimeoutSeconds * 1000;
    this.status.deadline = deadline;
    await this.persist();
    this.timer = setTimeout(() => {
      if (this.status.id === id && this.status.phase === "awaiting-confirm") {
        this.running = this.rollBack(`not confirmed within ${input.confirmTimeoutSeconds} s`);
      }
    }, input.confirmTimeoutSeconds * 1000);
    this.timer.unref?.();
  }

  /** Writes the journal for a later agent (nothing when there is no store). */
  private async persist(): Promise<void> {
    const store = this.opts.store;
    if (!store) return;
    const pending = this.before && this.status.id && (this.status.phase === "applying" || this.status.phase === "verifying" || this.status.phase === "awaiting-confirm" || this.status.phase === "rolling-back");
    await store.save(pending ? { id: this.status.id!, summary: this.status.summary ?? "", wanted: this.wanted, before: this.before!, journal: this.journal } : null);
  }

  /** At agent start: a change an earlier agent left unconfirmed is rolled back now. Null when there was none. */
  async recover(): Promise<WizardStatus | null> {
    const pending = await this.opts.store?.load();
    if (!pending) return null;
    this.status = { id: pending.id, phase: "rolling-back", summary: pending.summary, steps: pending.journal.map((e) => ({ title: directorStepTitle(e.step), state: "done" })), startedAt: this.now() };
    this.journal = pending.journal;
    this.before = pending.before;
    this.wanted = pending.wanted;
    this.running = this.rollBack("the agent stopped before the change was confirmed: rolled back when it started again");
    await this.running;
    return this.current();
  }

  /** Waits for whatever runs now (an apply, a timer's rollback). */
  async settled(): Promise<WizardStatus> {
    await this.running;
    return this.current();
  }

  private refuse(error: string): void {
    this.status.phase = "refused";
    this.status.error = error;
    this.status.finishedAt = this.now();
  }

  /** Runs one step; "already" when the kernel was already so (nothing to undo). */
  private async doStep(step: DirectorStep, ipvsBefore: TableState | null): Promise<"done" | "already"> {
    const k = this.kernel;
    switch (step.kind) {
      case "sysctl": {
        const before = await k.readSysctl(step.key);
        if (before === step.value) return "already";
        await k.writeSysctl(step.key, step.value);
        this.journal.push({ step, before });
        return "done";
      }
      case "address":
        try {
          await k.addAddress(step.ifname, step.address, step.prefixLen);
        } catch (e) {
          if (IDEMPOTENT_ADD.has(errCode(e) ?? "")) return "already";
          throw e;
        }
        this.journal.push({ step });
        return "done";
      case "nft-snat":
        try {
          await k.createSnatTable(step);
        } catch (e) {
          if (IDEMPOTENT_ADD.has(errCode(e) ?? "")) return "already";
          throw e;
        }
        this.journal.push({ step });
        return "done";
      case "ipvs": {
        const r = await runIpvsSteps(k.ipvs, [step.step], ipvsBefore);
        if (r.failed) throw r.failed;
        if (r.already) return "already";
        this.journal.push({ step });
        return "done";
      }
    }
  }

  private async undo(entry: JournalEntry): Promise<void> {
    const k = this.kernel;
    const { step } = entry;
    const tolerate = async (f: () => Promise<void>) => {
      try {
        await f();
      } catch (e) {
        if (!IDEMPOTENT_DEL.has(errCode(e) ?? "")) throw e;
      }
    };
    switch (step.kind) {
      case "sysctl":
        if (entry.before !== null && entry.before !== undefined) await k.writeSysctl(step.key, entry.before);
        return;
      case "address":
        return tolerate(() => k.delAddress(step.ifname, step.address, step.prefixLen));
      case "nft-snat":
        return tolerate(() => k.deleteTable("ip", step.table));
      case "ipvs": {
        const r = await runIpvsSteps(k.ipvs, inverseSteps(step.step), null);
        if (r.failed) throw r.failed;
        return;
      }
    }
  }

  private async rollBack(reason: string): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.status.phase = "rolling-back";
    delete this.status.deadline;
    const failures: string[] = [];
    const titles = this.status.steps;
    for (const entry of [...this.journal].reverse()) {
      const st = titles.find((t) => t.title === directorStepTitle(entry.step));
      try {
        await this.undo(entry);
        if (st) st.state = "undone";
      } catch (e) {
        failures.push(`${directorStepTitle(entry.step)}: ${message(e)}`);
        if (st) {
          st.state = "undo-failed";
          st.error = message(e);
        }
      }
    }
    this.journal = [];
    let remaining: string[] = [];
    if (this.before) {
      try {
        remaining = compareStates(this.before, await this.kernel.readState(this.wanted));
      } catch (e) {
        remaining = [`could not read the state back: ${message(e)}`];
      }
    }
    this.status.rollback = { reason, ok: failures.length === 0 && remaining.length === 0, remaining, failures };
    this.status.phase = "rolled-back";
    this.status.finishedAt = this.now();
    await this.persist();
  }

  private async verifyTraffic(input: WizardInput): Promise<TrafficResult> {
    const bodies: Record<string, number> = {};
    const errors: string[] = [];
    let answered = 0;
    const total = input.verify.probes * input.ports.length;
    for (const port of input.ports) {
      for (let i = 0; i < input.verify.probes; i++) {
        const a = await this.kernel.probe({ address: input.vip, port, path: input.verify.path, timeoutMs: this.opts.probeTimeoutMs ?? 5000, ...(input.verify.fromNetns ? { netns: input.verify.fromNetns } : {}) });
        if (a.ok) {
          answered++;
          const b = a.body.slice(0, 80);
          bodies[b] = (bodies[b] ?? 0) + 1;
        } else errors.push(`${input.vip}:${port}: ${a.error}`);
      }
    }
    // IPVS's per-destination connection counts: with 6.1 the stats fold in every 2 s, while
    // ActiveConn/InActConn count at once; wait a little for either.
    let byDest: TrafficResult["byDest"] = [];
    const until = this.now() + (this.opts.counterWaitMs ?? 4000);
    for (;;) {
      byDest = await this.destConnections(input);
      if (byDest.every((d) => d.weight === 0 || d.connections > 0) || this.now() >= until) break;
      await this.sleep(500);
    }
    const starved = byDest.filter((d) => d.weight > 0 && d.connections === 0);
    const ok = answered === total && starved.length === 0;
    const msg = ok
      ? `${answered}/${total} probes answered; every real server with a weight got connections`
      : answered < total
        ? `${total - answered} of ${total} probes got no answer${errors[0] ? ` (${errors[0]})` : ""}`
        : `real server(s) ${starved.map((d) => d.dest).join(", ")} got no connection`;
    return { ok, probes: total, answered, bodies, errors: errors.slice(0, 10), byDest, message: msg };
  }

  private async destConnections(input: WizardInput): Promise<TrafficResult["byDest"]> {
    const snap = await readSnapshot(this.kernel.ipvs);
    const out: TrafficResult["byDest"] = [];
    for (const s of snap.services) {
      if (!("address" in s.service) || s.service.address !== input.vip || !input.ports.includes(s.service.port)) continue;
      for (const d of s.destinations) {
        const conns = Number(d.stats?.conns ?? 0n);
        out.push({ service: `${s.service.address}:${s.service.port}`, dest: `${d.address}:${d.port}`, weight: d.weight, connections: Math.max(conns, d.activeConns + d.inactiveConns) });
      }
    }
    return out;
  }
}

export class WizardBusyError extends Error {
  override name = "WizardBusyError";
}

/** Runs IPVS apply steps through server/ipvs/apply's executor (EEXIST/ENOENT there count as already done). */
async function runIpvsSteps(ipvs: IpvsClient, steps: ApplyStep[], before: TableState | null): Promise<{ already: boolean; failed?: Error }> {
  const r = await executePlan(ipvs, { changes: [], steps }, before ?? { services: [], timeouts: {}, daemons: [] });
  if (!r.ok) return { already: false, failed: r.failed?.error ?? new Error("IPVS step failed") };
  return { already: r.done.length === 0 && r.already.length > 0 };
}

/** What of the plan is not in the state read after the apply. */
export function checkApplied(plan: WizardPlan, after: DirectorState): string[] {
  const out: string[] = [];
  for (const s of plan.director) {
    if (s.kind === "sysctl" && after.sysctls[s.key] !== s.value) out.push(`${s.key} is ${after.sysctls[s.key] ?? "missing"}, not ${s.value}`);
    if (s.kind === "address" && !after.addresses.some((a) => a.ifname === s.ifname && a.address === s.address && a.prefixLen === s.prefixLen)) out.push(`${s.address}/${s.prefixLen} is not on ${s.ifname}`);
    if (s.kind === "nft-snat" && !after.nftTables.includes(`ip ${s.table}`)) out.push(`nftables has no table ip ${s.table}`);
  }
  if (after.ipvs) {
    const desired = plan.director.flatMap((s) => (s.kind === "ipvs" && (s.step.op === "add-dest" || s.step.op === "edit-dest") ? [s.step] : []));
    for (const st of desired) {
      if (st.op !== "add-dest" && st.op !== "edit-dest") continue;
      const svc = after.ipvs.services.find((x) => JSON.stringify(x.service) === JSON.stringify(st.service.service) || ("address" in x.service && "address" in st.service.service && x.service.address === st.service.service.address && x.service.port === st.service.service.port && x.service.protocol === st.service.service.protocol));
      const d = svc?.destinations.find((x) => x.address === st.dest.address && x.port === st.dest.port);
      if (!svc) out.push(`IPVS has no service ${"address" in st.service.service ? `${st.service.service.address}:${st.service.service.port}` : "?"}`);
      else if (!d) out.push(`IPVS service has no real server ${st.dest.address}:${st.dest.port}`);
      else if (d.weight !== st.dest.weight || d.forward !== st.dest.forward) out.push(`real server ${st.dest.address}:${st.dest.port} is ${d.forward} weight ${d.weight}, not ${st.dest.forward} weight ${st.dest.weight}`);
    }
  } else out.push("IPVS table could not be read back");
  return out;
}

/** What differs between two states of the director (counters ignored). */
export function compareStates(before: DirectorState, after: DirectorState): string[] {
  const out: string[] = [];
  if (before.ipvs && after.ipvs) out.push(...diffSnapshots(before.ipvs, after.ipvs).map((c) => `ipvs: ${describeChange(c)}`));
  const set = (xs: readonly string[]) => new Set(xs);
  const diffSets = (what: string, a: Set<string>, b: Set<string>) => {
    for (const x of b) if (!a.has(x)) out.push(`${what}: + ${x}`);
    for (const x of a) if (!b.has(x)) out.push(`${what}: - ${x}`);
  };
  diffSets("address", set(before.addresses.map((a) => `${a.address}/${a.prefixLen} dev ${a.ifname}`)), set(after.addresses.map((a) => `${a.address}/${a.prefixLen} dev ${a.ifname}`)));
  diffSets("route", set(before.routes.map((r) => JSON.stringify(r))), set(after.routes.map((r) => JSON.stringify(r))));
  diffSets("nft", set(before.nftTables), set(after.nftTables));
  for (const k of new Set([...Object.keys(before.sysctls), ...Object.keys(after.sysctls)])) {
    if (before.sysctls[k] !== after.sysctls[k]) out.push(`sysctl ${k}: ${before.sysctls[k]} -> ${after.sysctls[k]}`);
  }
  return out;
}
