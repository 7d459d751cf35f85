// The agent as real-kernel tests start it: agent-only (LVSDASH_AGENT_ONLY=1) inside a network namespace, as
// the lab demo does, listening on `socketPath`; resolves once it says it listens.
//
// Node used to die of SIGSEGV now and then while starting under qemu TCG (in CI, and 2 of 45 starts in a loop
// in the guest): V8 tiering up tsx's wasm lexer on another thread. lab/guest/node-wasm-flags.cjs, preloaded
// into every node of the guest, stops that. A start that still dies of SIGSEGV or SIGBUS before "listening" is
// retried (as is the wasm lexer's "memory access out of bounds" trap, the same fault caught inside), at most
// twice and with a line on stderr; any other exit before listening fails the test at once.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { buildSite, type Site } from "@/lab/site/site";
import type { SiteSpec } from "@/lab/site/spec";
import { createAgentClient, createSocketExchange, type AgentClient } from "@/server/agent/client";

const EMULATOR_CRASHES = new Set(["SIGSEGV", "SIGBUS"]);
const WASM_TRAP = /memory access out of bounds\n\s+at wasm:\/\//;
const MAX_STARTS = 3;

export async function startAgentIn(netns: string, socketPath: string): Promise<ChildProcess> {
  for (let start = 1; ; start++) {
    const outcome = await startOnce(netns, socketPath);
    if ("agent" in outcome) return outcome.agent;
    const why = outcome.code !== null ? `status ${outcome.code}` : `signal ${outcome.signal}`;
    // The same fault seen from inside: the wasm lexer trapping instead of the process dying (exit status 1).
    const crashed = (outcome.signal !== null && EMULATOR_CRASHES.has(outcome.signal)) || WASM_TRAP.test(outcome.output);
    if (!crashed || start === MAX_STARTS) {
      throw new Error(`agent exited (${why}) before listening, start ${start} of ${MAX_STARTS}:\n${outcome.output}`);
    }
    process.stderr.write(`startAgentIn: node died (${why}, an emulator crash) before listening (start ${start}); retrying\n`);
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

/** A lab site with the agent running agent-only in its director's namespace, and a client connected to it. */
export interface SiteWithAgent {
  site: Site;
  agent: AgentClient;
  /** The agent's pid (its /proc/PID/net is the director's). */
  agentPid: number;
  /** Closes the client, kills the agent, destroys the site. */
  close(): Promise<void>;
}

/** Builds `spec` and starts the agent in its director (the set-up of the live, metrics and diagnostics tests). */
export async function openSiteWithAgent(spec: SiteSpec): Promise<SiteWithAgent> {
  const site = await buildSite(spec);
  try {
    const socketPath = join(mkdtempSync(join(tmpdir(), `lvsdash-${spec.name}-`)), "run", "agent.sock");
    const agentProcess = await startAgentIn(site.host("dir").netns, socketPath);
    const exchange = createSocketExchange({ path: socketPath });
    return {
      site,
      agent: createAgentClient(exchange.exchange),
      agentPid: agentProcess.pid!,
      async close() {
        exchange.close();
        if (agentProcess.exitCode === null) agentProcess.kill("SIGKILL");
        await site.destroy();
      },
    };
  } catch (error) {
    await site.destroy();
    throw error;
  }
}
