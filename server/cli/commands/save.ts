// lvsdash save [--thresholds]: the table as `ipvsadm-save -n` writes it (through the rules model, so that
// save and restore speak one format).
import { emitIpvsadmSave } from "@/server/ipvs/rules/emit";
import { readSnapshot } from "@/server/ipvs/snapshot/model";
import { ruleTableFromState } from "@/server/ipvs/snapshot/rules";
import { type CliContext, EXIT, parseCommandArgs } from "../context";

export async function run(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommandArgs(args, { thresholds: { type: "boolean" } });
  const client = await ctx.kernel.openClient();
  try {
    const snap = await readSnapshot(client, ctx.kernel.now);
    await ctx.io.stdout(emitIpvsadmSave(ruleTableFromState(snap), { thresholds: values.thresholds ?? false }));
    return EXIT.ok;
  } finally {
    client.close();
  }
}
