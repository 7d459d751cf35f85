// The agent as real-kernel tests start it: agent-only (LVSDASH_AGENT_ONLY=1) inside a network namespace, as
// the lab demo does, listening on `socketPath`; resolves once it says it listens.
//
// Node itself now and then dies of SIGSEGV while starting under qemu TCG (seen in CI and reproduced in the lab
// after dropping the host's page cache: the same command then runs clean on the next try, and never crashes
// once it listens). Such a start, and only a crash by SIGSEGV or SIGBUS before "listening", is retried, at most
// twice and with a line on stderr; any other exit before listening fails the test at once.
import { spawn, type ChildProcess } from "node:child_process";

const EMULATOR_CRASHES = new Set(["SIGSEGV", "SIGBUS"]);
const MAX_STARTS = 3;

export async function startAgentIn(netns: string, socketPath: string): Promise<ChildProcess> {
  for (let start = 1; ; start++) {
    const outcome = await startOnce(netns, socketPath);
    if ("agent" in outcome) return outcome.agent;
    const crashed = outcome.signal !== null && EMULATOR_CRASHES.has(outcome.signal);
    const why = outcome.code !== null ? `status ${outcome.code}` : `signal ${outcome.signal}`;
    if (!crashed || start === MAX_STARTS) {
      throw new Error(`agent exited (${why}) before listening, start ${start} of ${MAX_STARTS}:\n${outcome.output}`);
    }
    process.stderr.write(`startAgentIn: node died of ${outcome.signal} before listening (start ${start}); retrying\n`);
  }
}

type StartOutcome = { agent: ChildProcess } | { code: number | null; signal: NodeJS.Signals | null; output: string };

function startOnce(netns: string, socketPath: string): Promise<StartOutcome> {
  const agent = spawn("ip", ["netns", "exec", netns, process.execPath, "--import", "tsx", "server/main.ts"], {
    env: { ...process.env, LVSDASH_AGENT_ONLY: "1", LVSDASH_AGENT_SOCKET: socketPath },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  return new Promise((resolve) => {
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("agent listening on")) resolve({ agent });
    };
    agent.stdout?.on("data", onOutput);
    agent.stderr?.on("data", onOutput);
    agent.once("exit", (code, signal) => resolve({ code, signal, output }));
  });
}
