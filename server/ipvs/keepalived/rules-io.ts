// Import and export of the director's IPVS rules as ipvsadm-save text or keepalived.conf virtual_server
// blocks. Export is a read (the agent's ipvs.snapshot, written out here). Import is one agent op,
// `ipvs.import`, run twice: with dryRun (validate, plan against the live table: nothing changes) for the
// admin to review, then with the plan's fingerprint to apply it (refused when the table changed since the
// review). The apply is server/ipvs/apply's: EEXIST/ENOENT idempotent, any other errno rolls back and the
// table is read again to check it is the one from before.
import { createHash } from "node:crypto";

import { z } from "zod";

import { applyRuleTable, type ApplyResult } from "@/server/ipvs/apply/apply";
import { stepRule } from "@/server/ipvs/apply/plan";
import { formatIssue, loadRulesForApply, validateRuleTable, type ModuleProbe } from "@/server/ipvs/apply/validate";
import type { IpvsClient } from "@/server/ipvs/netlink/client";
import { emitIpvsadmSave } from "@/server/ipvs/rules/emit";
import type { RuleTable } from "@/server/ipvs/rules/model";
import { describeChange } from "@/server/ipvs/snapshot/diff";
import type { TableState } from "@/server/ipvs/snapshot/model";
import { ruleTableFromState } from "@/server/ipvs/snapshot/rules";

import { emitKeepalived } from "./emit";
import { importKeepalived } from "./parse";

export const RULES_FORMATS = ["ipvsadm-save", "keepalived"] as const;
export type RulesFormat = (typeof RULES_FORMATS)[number];

export const MAX_RULES_TEXT = 1024 * 1024;

export const rulesImportInput = z
  .object({
    format: z.enum(RULES_FORMATS),
    text: z.string().max(MAX_RULES_TEXT, "at most 1 MiB of rules"),
    /** Leave services the text does not list alone (default). false: the table becomes exactly the text. */
    keepUnlisted: z.boolean().default(true),
    /** Plan only (default). */
    dryRun: z.boolean().default(true),
    /** To apply: the fingerprint of the plan that was reviewed. */
    fingerprint: z.string().regex(/^[0-9a-f]{16}$/).optional(),
  })
  .strict();
export type RulesImportInput = z.output<typeof rulesImportInput>;

/** JSON-safe: what the review shows, and what the apply did. */
export type RulesImportResult =
  | { stage: "invalid"; issues: string[]; notes: string[] }
  | {
      stage: "plan" | "changed" | "applied" | "failed";
      /** The plan as ipvsadm commands, in order. */
      commands: string[];
      /** What differs, as the dashboard describes snapshot changes. */
      changes: string[];
      fingerprint: string;
      notes: string[];
      /** Applied: steps the kernel had already done (EEXIST/ENOENT). */
      already?: string[];
      /** Failed: the step and the kernel's answer, and whether the rollback got the table back. */
      failure?: { command: string; error: string; rolledBack: boolean; remaining: string[] };
    };

export function exportRules(state: TableState, format: RulesFormat): string {
  const table = ruleTableFromState(state);
  return format === "keepalived" ? emitKeepalived(table) : emitIpvsadmSave(table);
}

/** The text as a validated table, or its issues (with lines). */
export async function loadRulesText(format: RulesFormat, text: string, probe: ModuleProbe): Promise<{ table: RuleTable; notes: string[] } | { issues: string[]; notes: string[] }> {
  if (format === "ipvsadm-save") {
    const loaded = await loadRulesForApply(text, probe);
    return loaded.table ? { table: loaded.table, notes: [] } : { issues: loaded.issues.map(formatIssue), notes: [] };
  }
  const imported = importKeepalived(text);
  const issues = imported.errors.map((e) => `line ${e.line}: ${e.message}`);
  if (!issues.length) issues.push(...(await validateRuleTable(imported.table, { probe })).map(formatIssue));
  return issues.length ? { issues, notes: imported.notes } : { table: imported.table, notes: imported.notes };
}

const fingerprintOf = (commands: readonly string[]) => createHash("sha256").update(commands.join("\n")).digest("hex").slice(0, 16);

/** The op's body: plan (dryRun) or apply the text on `client`'s table. */
export async function importRules(client: IpvsClient, probe: ModuleProbe, input: RulesImportInput): Promise<RulesImportResult> {
  const loaded = await loadRulesText(input.format, input.text, probe);
  if ("issues" in loaded) return { stage: "invalid", issues: loaded.issues, notes: loaded.notes };
  const planned = await applyRuleTable(client, loaded.table, { probe, keepUnlisted: input.keepUnlisted, dryRun: true });
  if (planned.stage === "validate") return { stage: "invalid", issues: planned.issues.map(formatIssue), notes: loaded.notes };
  const review = summary(planned, loaded.notes);
  if (input.dryRun) return review;
  if (input.fingerprint !== review.fingerprint) return { ...review, stage: "changed" };
  if (review.commands.length === 0) return { ...review, stage: "applied", already: [] };
  const applied = await applyRuleTable(client, loaded.table, { probe, keepUnlisted: input.keepUnlisted });
  if (applied.stage === "validate") return { stage: "invalid", issues: applied.issues.map(formatIssue), notes: loaded.notes };
  const result = summary(applied, loaded.notes);
  if (applied.stage !== "apply") return result;
  if (applied.ok) return { ...result, stage: "applied", already: applied.already.map(stepRule) };
  return {
    ...result,
    stage: "failed",
    failure: {
      command: applied.failed ? stepRule(applied.failed.step) : "",
      error: applied.failed ? errorText(applied.failed.error) : "",
      rolledBack: applied.rollback?.ok ?? false,
      remaining: applied.rollback?.remaining.map(describeChange) ?? [],
    },
  };
}

/** importRules on a client of its own, closed afterwards (the agent op). */
export async function importRulesWith(open: () => IpvsClient, probe: ModuleProbe, input: RulesImportInput): Promise<RulesImportResult> {
  const client = open();
  try {
    return await importRules(client, probe, input);
  } finally {
    client.close();
  }
}

/** The kernel's refusal with its errno name when it has one ("... (ENOMEM)"). */
function errorText(e: Error): string {
  const code = (e as { code?: unknown }).code;
  return typeof code === "string" && !e.message.includes(code) ? `${e.message} (${code})` : e.message;
}

function summary(r: Exclude<ApplyResult, { stage: "validate" }>, notes: string[]) {
  const commands = r.plan.steps.map(stepRule);
  return { stage: "plan" as const, commands, changes: r.plan.changes.map(describeChange), fingerprint: fingerprintOf(commands), notes };
}
