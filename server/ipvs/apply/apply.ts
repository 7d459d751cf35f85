// Applies a desired rules table to the kernel through the netlink client, safely:
//
//   1. validate everything (validate.ts): nothing is sent when anything is wrong;
//   2. read the current table and plan the smallest change (plan.ts);
//   3. run the steps. EEXIST on an add and ENOENT/ESRCH on a delete mean the kernel already is as wanted
//      (someone else did it): success, and nothing to undo. Any other error stops the apply, and the steps
//      this apply did are undone in reverse order, then the table is read again to check it is the one from
//      before (counters of a deleted and re-created service or real server start again from 0).
//
//   const ipvs = openIpvsClient();
//   const r = await applyRuleTable(ipvs, table, { probe: moduleAvailability });
//   if (!r.ok) console.error(formatApplyReport(r));
import { IpvsError, type IpvsClient } from "@/server/ipvs/netlink/client";
import { describeChange, diffSnapshots, type SnapshotChange } from "@/server/ipvs/snapshot/diff";
import { readSnapshot, type DirectorSnapshot, type TableState } from "@/server/ipvs/snapshot/model";
import { tableStateFromRules } from "@/server/ipvs/snapshot/rules";
import type { RuleTable } from "@/server/ipvs/rules/model";
import { daemonConfig, destConfig, formatPlan, inverseSteps, planApply, serviceConfig, stepRule, type ApplyPlan, type ApplyStep, type PlanOptions } from "./plan";
import { formatIssue, validateRuleTable, type ModuleProbe, type RuleLines, type ValidationIssue } from "./validate";

export interface StepFailure {
  step: ApplyStep;
  error: Error;
}

export interface RollbackReport {
  /** Every undo step succeeded and the table read afterwards equals the one before the apply. */
  ok: boolean;
  undone: ApplyStep[];
  failures: StepFailure[];
  /** What still differs from the table before the apply (empty when ok). */
  remaining: SnapshotChange[];
  /** Why the table could not be read back to check. */
  checkError?: string;
}

export interface ExecuteReport {
  ok: boolean;
  /** Steps that changed the kernel. */
  done: ApplyStep[];
  /** Steps the kernel already had done (EEXIST on add, ENOENT/ESRCH on delete). */
  already: ApplyStep[];
  failed?: StepFailure;
  rollback?: RollbackReport;
}

export type ApplyResult =
  | { ok: false; stage: "validate"; issues: ValidationIssue[] }
  | { ok: boolean; stage: "plan"; plan: ApplyPlan; before: DirectorSnapshot }
  | ({ stage: "apply"; plan: ApplyPlan; before: DirectorSnapshot } & ExecuteReport);

export interface ApplyOptions extends PlanOptions {
  probe: ModuleProbe;
  /** Line numbers for validation issues (validate.ts ruleLines). */
  lines?: RuleLines;
  /** Validate and plan only. */
  dryRun?: boolean;
  /** Called with the plan before any step runs (a CLI prints it). */
  onPlan?: (plan: ApplyPlan) => void | Promise<void>;
}

/** Validate, plan against the current table, apply (unless dryRun), roll back on failure. */
export async function applyRuleTable(client: IpvsClient, table: RuleTable, opts: ApplyOptions): Promise<ApplyResult> {
  const issues = await validateRuleTable(table, { probe: opts.probe, lines: opts.lines });
  if (issues.length) return { ok: false, stage: "validate", issues };
  const before = await readSnapshot(client);
  const plan = planApply(before, tableStateFromRules(table), opts);
  await opts.onPlan?.(plan);
  if (opts.dryRun) return { ok: true, stage: "plan", plan, before };
  return { stage: "apply", plan, before, ...(await executePlan(client, plan, before)) };
}

/** True when the error means the step's effect is already there. */
function alreadyDone(step: ApplyStep, e: unknown): boolean {
  if (!(e instanceof IpvsError)) return false;
  switch (step.op) {
    case "add-service":
    case "add-dest":
      return e.kind === "exists";
    case "delete-service":
    case "delete-dest":
      return e.kind === "not-found";
    case "start-daemon":
      return e.kind === "daemon-running";
    case "stop-daemon":
      return e.kind === "daemon-stopped";
    default:
      return false;
  }
}

/** One step through the client. */
async function runStep(client: IpvsClient, step: ApplyStep): Promise<void> {
  switch (step.op) {
    case "add-service":
      return client.newService(serviceConfig(step.service));
    case "edit-service":
      return client.setService(serviceConfig(step.service));
    case "delete-service":
      return client.delService(step.before.service);
    case "add-dest":
      return client.newDest(step.service.service, destConfig(step.dest));
    case "edit-dest":
      return client.setDest(step.service.service, destConfig(step.dest));
    case "delete-dest":
      return client.delDest(step.service.service, { address: step.dest.address, port: step.dest.port, family: step.dest.family });
    case "set-timeouts":
      return client.setConfig(step.timeouts);
    case "start-daemon":
      return client.newDaemon(daemonConfig(step.daemon));
    case "stop-daemon":
      return client.delDaemon(step.daemon.state);
  }
}

const asError = (e: unknown) => (e instanceof Error ? e : new Error(String(e)));

/** Runs the plan's steps; on the first real failure, undoes what was done and checks the table against `before`. */
export async function executePlan(client: IpvsClient, plan: ApplyPlan, before: TableState): Promise<ExecuteReport> {
  const done: ApplyStep[] = [];
  const already: ApplyStep[] = [];
  for (const step of plan.steps) {
    try {
      await runStep(client, step);
      done.push(step);
    } catch (e) {
      if (alreadyDone(step, e)) {
        already.push(step);
        continue;
      }
      const failed = { step, error: asError(e) };
      return { ok: false, done, already, failed, rollback: await rollBack(client, done, before) };
    }
  }
  return { ok: true, done, already };
}

async function rollBack(client: IpvsClient, done: ApplyStep[], before: TableState): Promise<RollbackReport> {
  const undone: ApplyStep[] = [];
  const failures: StepFailure[] = [];
  for (const step of [...done].reverse()) {
    for (const inv of inverseSteps(step)) {
      try {
        await runStep(client, inv);
        undone.push(inv);
      } catch (e) {
        if (alreadyDone(inv, e)) undone.push(inv);
        else failures.push({ step: inv, error: asError(e) });
      }
    }
  }
  try {
    const remaining = diffSnapshots(await readSnapshot(client), before);
    return { ok: failures.length === 0 && remaining.length === 0, undone, failures, remaining };
  } catch (e) {
    return { ok: false, undone, failures, remaining: [], checkError: asError(e).message };
  }
}

/** What happened, for an administrator. */
export function formatApplyResult(r: ApplyResult): string {
  if (r.stage === "validate") return `nothing changed: the rules have ${r.issues.length} problem${r.issues.length === 1 ? "" : "s"}:\n${r.issues.map((i) => `  ${formatIssue(i)}`).join("\n")}\n`;
  if (r.stage === "plan") return formatPlan(r.plan);
  const lines: string[] = [];
  if (r.ok) {
    lines.push(`applied: ${r.done.length} command${r.done.length === 1 ? "" : "s"} done${r.already.length ? `, ${r.already.length} already in place` : ""}`);
    for (const s of r.already) lines.push(`  already in place: ${stepRule(s)}`);
    return lines.join("\n") + "\n";
  }
  lines.push(`failed at: ${stepRule(r.failed!.step)}`, `  ${r.failed!.error.message}`);
  const rb = r.rollback!;
  lines.push(`rolled back ${rb.undone.length} command${rb.undone.length === 1 ? "" : "s"} of ${r.done.length} done`);
  for (const f of rb.failures) lines.push(`  rollback could not: ${stepRule(f.step)}: ${f.error.message}`);
  if (rb.checkError) lines.push(`could not read the table back to check the rollback: ${rb.checkError}`);
  else if (rb.ok) lines.push("the table is as it was before (checked)");
  else {
    lines.push("THE TABLE IS NOT AS IT WAS: still different:");
    for (const c of rb.remaining) lines.push(`  ${describeChange(c)}`);
  }
  return lines.join("\n") + "\n";
}
