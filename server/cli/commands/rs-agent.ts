// lvsdash rs-agent --listen HOST[:PORT] [--token-file PATH] [--cert PEM --key PEM] [--state-dir DIR]: the real-server agent
// (server/rsagent/main.ts), in the foreground until SIGINT or SIGTERM; a pending transaction is rolled back then.
import { CliUsageError, EXIT, parseCommandArgs, type CliContext } from "../context";

export async function run(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommandArgs(args, {
    listen: { type: "string" },
    "token-file": { type: "string" },
    cert: { type: "string" },
    key: { type: "string" },
    "state-dir": { type: "string" },
  });
  const { resolveSettings, startRsAgent } = await import("@/server/rsagent/main");
  let settings;
  try {
    settings = resolveSettings({ listen: values.listen, tokenFile: values["token-file"], cert: values.cert, key: values.key, stateDir: values["state-dir"] });
  } catch (e) {
    throw new CliUsageError((e as Error).message);
  }
  const agent = await startRsAgent(settings, (line) => void ctx.io.stdout(`${line}\n`));
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await agent.stop();
  return EXIT.ok;
}
