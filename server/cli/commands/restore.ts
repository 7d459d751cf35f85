// lvsdash restore [--dry-run] [--keep] FILE|-: validate everything, print the plan, apply it, roll back on a
// refusal. A file with any problem changes nothing (exit 2), without even opening the netlink socket.
import { applyRuleTable, formatApplyResult } from "@/server/ipvs/apply/apply";
import { formatPlan } from "@/server/ipvs/apply/plan";
import { formatIssue, loadRulesForApply } from "@/server/ipvs/apply/validate";
import { type CliContext, CliUsageError, EXIT, parseCommandArgs } from "../context";

export async function run(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { "dry-run": { type: "boolean" }, keep: { type: "boolean" } }, true);
  if (positionals.length !== 1) throw new CliUsageError(positionals.length ? "one rules file, or - for stdin" : "which rules file? (- for stdin)");
  const source = positionals[0]!;
  const text = source === "-" ? await ctx.io.readStdin() : await ctx.io.readFile(source);
  const name = source === "-" ? "stdin" : source;

  const loaded = await loadRulesForApply(text, ctx.kernel.probeModule);
  if (!loaded.table) {
    const n = loaded.issues.length;
    ctx.io.stderr(`lvsdash restore: ${name}: nothing changed: ${n} problem${n === 1 ? "" : "s"}:\n${loaded.issues.map((i) => `  ${formatIssue(i)}`).join("\n")}\n`);
    return EXIT.usage;
  }
  const client = await ctx.kernel.openClient();
  try {
    const result = await applyRuleTable(client, loaded.table, {
      probe: ctx.kernel.probeModule,
      lines: loaded.lines,
      dryRun: values["dry-run"] ?? false,
      keepUnlisted: values.keep ?? false,
      onPlan: async (plan) => ctx.io.stdout(formatPlan(plan)),
    });
    if (result.stage === "validate") {
      ctx.io.stderr(`lvsdash restore: ${name}: ${formatApplyResult(result)}`);
      return EXIT.usage;
    }
    if (result.stage === "plan" || result.plan.steps.length === 0) return EXIT.ok;
    if (result.ok) {
      await ctx.io.stdout(formatApplyResult(result));
      return EXIT.ok;
    }
    ctx.io.stderr(`lvsdash restore: ${formatApplyResult(result)}`);
    return EXIT.failed;
  } finally {
    client.close();
  }
}
