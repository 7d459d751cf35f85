// The agent as real-kernel tests start it: agent-only (LVSDASH_AGENT_ONLY=1) inside a network namespace, as
// the lab demo does, listening on `socketPath`; resolves once it says it listens.
import { spawn, type ChildProcess } from "node:child_process";

export async function startAgentIn(netns: string, socketPath: string): Promise<ChildProcess> {
  const agent = spawn("ip", ["netns", "exec", netns, process.execPath, "--import", "tsx", "server/main.ts"], {
    env: { ...process.env, LVSDASH_AGENT_ONLY: "1", LVSDASH_AGENT_SOCKET: socketPath },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("agent listening on")) resolve();
    };
    agent.stdout?.on("data", onOutput);
    agent.stderr?.on("data", onOutput);
    agent.once("exit", (code) => reject(new Error(`agent exited with ${code} before listening:\n${output}`)));
  });
  return agent;
}
