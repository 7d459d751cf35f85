// Transactions on a real server: run the wizard's real-server steps in order, journal how to undo each change,
// undo them all (newest first) when a step fails or the request goes away, and keep a successful apply
// pending until rs.confirm: the rs-agent's own timer rolls it back otherwise (commit-confirmed, as Junos and
// NetworkManager's checkpoints do), so a dashboard that vanishes still ends in a rollback.
//
// "Already so" is success without a journal entry, as keepalived does: an address that exists (EEXIST), a
// sysctl with the value already, a link already up, a module already loaded, the same default gateway. Only
// what this transaction changed is undone; anything that was there before stays. Undoing tolerates "already
// gone" (EADDRNOTAVAIL/ENOENT/ESRCH on delete).
//
// The undo records also go to a JournalStore (main.ts: a 0600 file in the state directory) after every change,
// so an rs-agent that dies mid-apply or while pending undoes the change when it starts again (recover()).
//
// The kernel is behind RsKernel (server/kernel/rsnet.ts, rtnl.ts, sysctl.ts in ops.ts), so the journal logic
// is tested in test/rsagent/ on an in-memory host and proven on the real kernel in test/kernel/rsagent.test.ts.
import { randomBytes } from "node:crypto";

import { isRsModule, type DefaultRoute, type RsModule, type SysctlRef } from "@/server/kernel/rsnet";
import type { RealServerStep } from "@/server/wizards/plan";

import type { RollbackReport, RsApplyResult, RsStatus, StepResult, TransactionRecord } from "./protocol";

/** What a transaction needs of the kernel. Errors carry an errno name in `code` ("EEXIST", ...). */
export interface RsKernel {
  parseSysctlKey(key: string): SysctlRef | null;
  readSysctl(ref: SysctlRef): Promise<number | null>;
  writeSysctl(ref: SysctlRef, value: number): Promise<void>;
  addAddress(ifname: string, address: string, prefixLen: number): Promise<void>;
  delAddress(ifname: string, address: string, prefixLen: number): Promise<void>;
  linkIsUp(ifname: string): Promise<boolean>;
  setLinkUp(ifname: string, up: boolean): Promise<void>;
  moduleLoaded(name: RsModule): Promise<boolean>;
  loadModule(name: RsModule): Promise<void>;
  unloadModule(name: RsModule): Promise<void>;
  readDefaultRoute(): Promise<DefaultRoute | null>;
  replaceDefaultRoute(route: DefaultRoute): Promise<void>;
  deleteDefaultRoute(): Promise<void>;
  hostname(): Promise<string>;
}

/** How to undo one change. Plain JSON: it is also what the journal file keeps. */
export type Undo =
  | { kind: "sysctl"; ref: SysctlRef; key: string; before: number }
  | { kind: "address"; ifname: string; address: string; prefixLen: number }
  | { kind: "link-up"; ifname: string }
  | { kind: "module"; name: RsModule }
  | { kind: "default-route"; before: DefaultRoute | null };

function describeUndo(u: Undo): string {
  switch (u.kind) {
    case "sysctl":
      return `${u.key} = ${u.before}`;
    case "address":
      return `delete ${u.address}/${u.prefixLen} from ${u.ifname}`;
    case "link-up":
      return `set ${u.ifname} down`;
    case "module":
      return `unload ${u.name}`;
    case "default-route":
      return u.before ? `default route back to ${u.before.gateway ?? ""}${u.before.dev ? ` dev ${u.before.dev}` : ""}`.trim() : "delete the default route";
  }
}

const codeOf = (e: unknown) => (e as { code?: unknown } | null)?.code;
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));
const GONE = new Set(["EADDRNOTAVAIL", "ENOENT", "ESRCH"]);

/** Runs one step; returns the undo record, or null when there was nothing to change. */
async function runStep(kernel: RsKernel, step: RealServerStep): Promise<{ undo: Undo | null; detail?: string }> {
  switch (step.kind) {
    case "sysctl": {
      const ref = kernel.parseSysctlKey(step.key);
      if (!ref) throw new Error(`sysctl ${step.key} is not one the real-server agent may change`);
      const value = Number(step.value);
      const before = await kernel.readSysctl(ref);
      if (before === null) throw new Error(`sysctl ${step.key} does not exist here`);
      if (before === value) return { undo: null, detail: `already ${value}` };
      await kernel.writeSysctl(ref, value);
      return { undo: { kind: "sysctl", ref, key: step.key, before }, detail: `${before} -> ${value}` };
    }
    case "address":
      try {
        await kernel.addAddress(step.ifname, step.address, step.prefixLen);
      } catch (e) {
        if (codeOf(e) === "EEXIST") return { undo: null, detail: "already there" };
        throw e;
      }
      return { undo: { kind: "address", ifname: step.ifname, address: step.address, prefixLen: step.prefixLen } };
    case "link-up":
      if (await kernel.linkIsUp(step.ifname)) return { undo: null, detail: "already up" };
      await kernel.setLinkUp(step.ifname, true);
      return { undo: { kind: "link-up", ifname: step.ifname } };
    case "module": {
      if (!isRsModule(step.name)) throw new Error(`module ${step.name} is not one the real-server agent may load`);
      const name = step.name;
      if (await kernel.moduleLoaded(name)) return { undo: null, detail: "already loaded" };
      await kernel.loadModule(name);
      return { undo: { kind: "module", name } };
    }
    case "default-route": {
      const before = await kernel.readDefaultRoute();
      if (before?.gateway === step.via) return { undo: null, detail: `already via ${step.via}` };
      await kernel.replaceDefaultRoute({ gateway: step.via });
      return { undo: { kind: "default-route", before }, detail: `${before?.gateway ?? "none"} -> ${step.via}` };
    }
  }
}

async function runUndo(kernel: RsKernel, u: Undo): Promise<void> {
  switch (u.kind) {
    case "sysctl":
      return kernel.writeSysctl(u.ref, u.before);
    case "address":
      try {
        return await kernel.delAddress(u.ifname, u.address, u.prefixLen);
      } catch (e) {
        if (GONE.has(String(codeOf(e)))) return;
        throw e;
      }
    case "link-up":
      return kernel.setLinkUp(u.ifname, false);
    case "module":
      return kernel.unloadModule(u.name);
    case "default-route":
      if (u.before) return kernel.replaceDefaultRoute(u.before);
      try {
        return await kernel.deleteDefaultRoute();
      } catch (e) {
        if (GONE.has(String(codeOf(e)))) return;
        throw e;
      }
  }
}

/** Undoes newest first; keeps going past a failed undo and reports it. */
async function undoAll(kernel: RsKernel, journal: readonly Undo[]): Promise<RollbackReport> {
  const report: RollbackReport = { undone: [], errors: [] };
  for (const u of [...journal].reverse()) {
    try {
      await runUndo(kernel, u);
      report.undone.push(describeUndo(u));
    } catch (e) {
      report.errors.push(`${describeUndo(u)}: ${messageOf(e)}`);
    }
  }
  return report;
}

/** What survives the agent: the undo records of the transaction in progress or pending, written after every
 *  change, so an agent that dies (kill -9, power) rolls it back when it starts again (recover()). */
export interface PersistedTransaction {
  id: string;
  startedAt: number;
  journal: Undo[];
}

export interface JournalStore {
  save(transaction: PersistedTransaction | null): Promise<void>;
  load(): Promise<PersistedTransaction | null>;
}

export interface TransactionManagerOptions {
  kernel: RsKernel;
  /** Where the journal survives a crash; without it, only in memory. */
  store?: JournalStore;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => { cancel(): void };
  newId?: () => string;
  /** Told about rollbacks the timer made (the rs-agent logs them). */
  onTimerRollback?: (record: TransactionRecord) => void;
}

const RECENT = 10;

export interface TransactionManager {
  apply(steps: readonly RealServerStep[], confirmTimeoutSeconds: number, signal?: AbortSignal): Promise<RsApplyResult>;
  confirm(id: string): Promise<TransactionRecord>;
  rollback(id: string): Promise<TransactionRecord>;
  status(): Promise<RsStatus>;
  /** At shutdown: rolls back the pending transaction (nobody can confirm it any more), or null when none. */
  close(): Promise<TransactionRecord | null>;
  /** At start: rolls back what a previous run left unconfirmed (the journal store), or null when nothing. */
  recover(): Promise<TransactionRecord | null>;
}

/** Thrown for an id that is not the pending transaction (the rs-agent answers invalid_input). */
export class TransactionNotPending extends Error {
  override name = "TransactionNotPending";
}

export function createTransactionManager(options: TransactionManagerOptions): TransactionManager {
  const { kernel } = options;
  const now = options.now ?? Date.now;
  const setTimer =
    options.setTimer ??
    ((fn, ms) => {
      const t = setTimeout(fn, ms);
      return { cancel: () => clearTimeout(t) };
    });
  const newId = options.newId ?? (() => randomBytes(8).toString("hex"));
  const save = (t: PersistedTransaction | null) => options.store?.save(t) ?? Promise.resolve();

  let pending: { record: TransactionRecord; journal: Undo[]; timer: { cancel(): void } } | null = null;
  const recent: TransactionRecord[] = [];
  // One change at a time: an apply, a confirm, a rollback and the timer never overlap.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };

  const finish = (record: TransactionRecord) => {
    record.endedAt = now();
    recent.unshift(record);
    recent.length = Math.min(recent.length, RECENT);
    return record;
  };

  const rollbackPending = async (reason: NonNullable<TransactionRecord["reason"]>): Promise<TransactionRecord> => {
    const p = pending!;
    pending = null;
    p.timer.cancel();
    const rollback = await undoAll(kernel, p.journal);
    await save(null);
    return finish({ ...p.record, state: "rolled-back", reason, rollback });
  };

  const takePending = (id: string) => {
    if (!pending || pending.record.id !== id) {
      throw new TransactionNotPending(
        pending ? `transaction ${id} is not the pending one (${pending.record.id})` : `no transaction is pending (asked for ${id})`,
      );
    }
  };

  return {
    apply: (steps, confirmTimeoutSeconds, signal) =>
      serial(async (): Promise<RsApplyResult> => {
        if (pending) return { status: "busy", pending: pending.record.id };
        const id = newId();
        const startedAt = now();
        const journal: Undo[] = [];
        const results: StepResult[] = [];
        for (const [i, step] of steps.entries()) {
          try {
            if (signal?.aborted) throw new Error("the request was cancelled (the dashboard went away or the op timed out)");
            const { undo, detail } = await runStep(kernel, step);
            if (undo) {
              journal.push(undo);
              await save({ id, startedAt, journal });
            }
            results.push({ step, outcome: undo ? "changed" : "unchanged", ...(detail !== undefined ? { detail } : {}) });
          } catch (e) {
            const rollback = await undoAll(kernel, journal);
            await save(null);
            const error = `step ${i + 1} (${step.kind}): ${messageOf(e)}`;
            finish({ id, state: "rolled-back", reason: signal?.aborted ? "aborted" : "failed-step", startedAt, steps: results, rollback });
            return { status: "rolled-back", failedStep: i, error, steps: results, rollback };
          }
        }
        const deadline = now() + confirmTimeoutSeconds * 1000;
        const record: TransactionRecord = { id, state: "pending", startedAt, deadline, steps: results };
        const timer = setTimer(() => {
          void serial(async () => {
            if (pending?.record.id !== id) return; // confirmed or rolled back meanwhile
            const record = await rollbackPending("confirm-timeout");
            options.onTimerRollback?.(record);
          });
        }, confirmTimeoutSeconds * 1000);
        pending = { record, journal, timer };
        return { status: "pending", id, deadline, steps: results };
      }),

    confirm: (id) =>
      serial(async () => {
        takePending(id);
        const p = pending!;
        pending = null;
        p.timer.cancel();
        await save(null);
        return finish({ ...p.record, state: "confirmed" });
      }),

    rollback: (id) =>
      serial(async () => {
        takePending(id);
        return rollbackPending("rollback-requested");
      }),

    status: () =>
      serial(async () => ({ hostname: await kernel.hostname(), pending: pending ? { ...pending.record } : null, recent: [...recent] })),

    close: () => serial(async () => (pending ? rollbackPending("aborted") : null)),

    recover: () =>
      serial(async () => {
        const left = await options.store?.load();
        if (!left) return null;
        const rollback = await undoAll(kernel, left.journal);
        await save(null);
        return finish({ id: left.id, state: "rolled-back", reason: "restart", startedAt: left.startedAt, steps: [], rollback });
      }),
  };
}
