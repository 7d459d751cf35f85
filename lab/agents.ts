// Starting the project's own processes inside a lab site's namespaces (guest only), shared by the real-kernel
// tests (test/kernel/agent-process.ts) and `npm run lab` (lab/demo.ts): the agent agent-only
// (LVSDASH_AGENT_ONLY=1) in a director's namespace, as the lab demo runs it; the real-server agent
// (`lvsdash rs-agent`) in a real server's namespace, as an admin runs it there. Each resolves once it says it
// listens.
//
// Node used to die of SIGSEGV now and then while starting under qemu TCG (in CI, and 2 of 45 starts in a loop
// in the guest): V8 tiering up tsx's wasm lexer on another thread. lab/guest/node-wasm-flags.cjs, preloaded
// into every node of the guest, stops that. A start that still dies of SIGSEGV or SIGBUS before "listening" is
// retried (as is the wasm lexer's "memory access out of bounds" trap, the same fault caught inside), at most
// twice and with a line on stderr; any other exit before listening fails at once.
import { spawn, type ChildProcess } from "node:child_process";

const EMULATOR_CRASHES = new Set(["SIGSEGV", "SIGBUS"]);
const WASM_TRAP = /memory access out of bounds\n\s+at wasm:\/\//;
const MAX_STARTS = 3;

export async function startAgentIn(netns: string, socketPath: string): Promise<ChildProcess> {
  const argv = [process.execPath, "--import", "tsx", "server/main.ts"];
  const env = { LVSDASH_AGENT_ONLY: "1", LVSDASH_AGENT_SOCKET: socketPath };
  return (await startWithRetries("startAgentIn", "agent", netns, argv, env, "agent listening on")).child;
}

/** A started process and everything it printed so far. */
export interface StartedProcess {
  child: ChildProcess;
  output(): string;
}

/**
 * `lvsdash rs-agent --listen LISTEN` in a real server's namespace, as an admin runs it there (bin/lvsdash.js);
 * resolves once it listens. `env`: LVSDASH_RS_TOKEN_FILE, LVSDASH_RS_STATE_DIR, ... (server/rsagent/main.ts).
 */
export function startRsAgentIn(netns: string, listen: string, env: Record<string, string>): Promise<StartedProcess> {
  return startWithRetries("startRsAgentIn", "rs-agent", netns, [process.execPath, "bin/lvsdash.js", "rs-agent", "--listen", listen], env, "rs-agent listening on");
}

async function startWithRetries(who: string, what: string, netns: string, argv: string[], env: Record<string, string>, ready: string): Promise<StartedProcess> {
  for (let start = 1; ; start++) {
    const outcome = await startOnce(netns, argv, env, ready);
    if ("child" in outcome) return outcome;
    const why = outcome.code !== null ? `status ${outcome.code}` : `signal ${outcome.signal}`;
    // The same fault seen from inside: the wasm lexer trapping instead of the process dying (exit status 1).
    const crashed = (outcome.signal !== null && EMULATOR_CRASHES.has(outcome.signal)) || WASM_TRAP.test(outcome.output);
    if (!crashed || start === MAX_STARTS) {
      throw new Error(`${what} exited (${why}) before listening, start ${start} of ${MAX_STARTS}:\n${outcome.output}`);
    }
    process.stderr.write(`${who}: node died (${why}, an emulator crash) before listening (start ${start}); retrying\n`);
  }
}

type StartOutcome = StartedProcess | { code: number | null; signal: NodeJS.Signals | null; output: string };

function startOnce(netns: string, argv: string[], env: Record<string, string>, ready: string): Promise<StartOutcome> {
  const child = spawn("ip", ["netns", "exec", netns, ...argv], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  return new Promise((resolve) => {
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(ready)) resolve({ child, output: () => output });
    };
    child.stdout?.on("data", onOutput);
    child.stderr?.on("data", onOutput);
    child.once("exit", (code, signal) => resolve({ code, signal, output }));
  });
}
