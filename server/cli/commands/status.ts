// lvsdash status [--json] [--exact] [--rate]: one snapshot, printed as ipvsadm -Ln --stats/--rate or as JSON.
import { snapshotToJson } from "@/server/ipvs/snapshot/json";
import { readSnapshot } from "@/server/ipvs/snapshot/model";
import { type CliContext, EXIT, parseCommandArgs } from "../context";
import { formatStatus } from "../format";

export async function run(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommandArgs(args, { json: { type: "boolean" }, exact: { type: "boolean" }, rate: { type: "boolean" } });
  const client = await ctx.kernel.openClient();
  try {
    const snap = await readSnapshot(client, ctx.kernel.now);
    await ctx.io.stdout(values.json ? `${JSON.stringify(snapshotToJson(snap), null, 2)}\n` : formatStatus(snap, { exact: values.exact, rate: values.rate }));
    return EXIT.ok;
  } finally {
    client.close();
  }
}
