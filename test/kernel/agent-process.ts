// The agents as real-kernel tests start them (lab/agents.ts: startAgentIn, startRsAgentIn), and a lab site with
// the agent running in its director (openSiteWithAgent).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { startAgentIn } from "@/lab/agents";
import { buildSite, type Site } from "@/lab/site/site";
import type { SiteSpec } from "@/lab/site/spec";
import { createAgentClient, createSocketExchange, type AgentClient } from "@/server/agent/client";

export { startAgentIn, startRsAgentIn, type StartedProcess } from "@/lab/agents";

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
