// The agent on a real IPVS kernel (lab guest only): started the way the lab demo starts it, agent-only
// (LVSDASH_AGENT_ONLY=1) inside a director's network namespace, and asked over its Unix socket from the root
// namespace, as the web server does. Services are created with ipvsadm, the oracle.
import { execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createAgentClient, createSocketExchange, type AgentClient, type SocketExchange } from "@/server/agent/client";
import type { ProcService } from "@/server/ipvs/proc/services";

import { startAgentIn } from "./agent-process";

const NS = "lvsdash-agent-test";
const socketPath = join(mkdtempSync(join(tmpdir(), "lvsdash-agent-")), "run", "agent.sock");

let agentProcess: ChildProcess;
let exchange: SocketExchange;
let agent: AgentClient;

/** One sh for many small commands: every process start is slow under emulation. */
function sh(script: string): string {
  return execFileSync("sh", ["-ec", script], { encoding: "utf8" });
}

beforeAll(async () => {
  sh(`ip netns del ${NS} 2>/dev/null || true; ip netns add ${NS}; ip -n ${NS} link set lo up`);
  agentProcess = await startAgentIn(NS, socketPath);
  exchange = createSocketExchange({ path: socketPath });
  agent = createAgentClient(exchange.exchange);
});

afterAll(() => {
  exchange?.close();
  if (agentProcess && agentProcess.exitCode === null) agentProcess.kill("SIGKILL");
  sh(`ip netns del ${NS} 2>/dev/null || true`);
});

describe("agent on a real IPVS kernel", () => {
  it("listens on a 0660 socket in a 0750 directory", () => {
    expect(statSync(socketPath).mode & 0o777).toBe(0o660);
    expect(statSync(join(socketPath, "..")).mode & 0o777).toBe(0o750);
  });

  it("reports IPVS with no services in a fresh namespace", async () => {
    const status = await agent.call("ipvs.status", {});
    expect(status).toMatchObject({ available: true, table: { version: "1.2.1", services: [] } });
  });

  it("returns exactly the services ipvsadm created, read in the agent's namespace", async () => {
    const listing = sh(`
      ip netns exec ${NS} sh -ec '
        ipvsadm -A -t 192.0.2.100:80 -s wrr
        ipvsadm -a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 3
        ipvsadm -A -u 192.0.2.100:53 -s rr -p 300
        ipvsadm -a -u 192.0.2.100:53 -r 192.0.2.12:53 -m -w 1
        ipvsadm -Ln
      '`);
    const size = Number(/\(size=(\d+)\)/.exec(listing)?.[1]);

    const status = await agent.call("ipvs.status", {});
    if (!status.available) throw new Error(`IPVS not available: ${status.reason}`);
    expect(status.table.version).toBe("1.2.1");
    expect(status.table.connTableSize).toBe(size);
    const tcp: ProcService = {
      protocol: "TCP",
      family: 4,
      address: "192.0.2.100",
      port: 80,
      scheduler: "wrr",
      flags: "",
      onePacket: false,
      realServers: [
        { address: "192.0.2.11", family: 4, port: 80, forward: "Route", weight: 3, activeConns: 0, inactiveConns: 0 },
      ],
    };
    const udp: ProcService = {
      protocol: "UDP",
      family: 4,
      address: "192.0.2.100",
      port: 53,
      scheduler: "rr",
      flags: "persistent 300",
      persistent: { timeout: 300, netmask: "255.255.255.255" },
      onePacket: false,
      realServers: [
        { address: "192.0.2.12", family: 4, port: 53, forward: "Masq", weight: 1, activeConns: 0, inactiveConns: 0 },
      ],
    };
    // /proc lists services in hash order, not creation order.
    const byProtocol = [...status.table.services].sort((a, b) => a.protocol.localeCompare(b.protocol));
    expect(byProtocol).toStrictEqual([tcp, udp]);
  });

  it("does not see the root namespace's services (IPVS is per network namespace)", async () => {
    sh("ipvsadm -A -t 198.51.100.1:443 -s lc");
    try {
      const status = await agent.call("ipvs.status", {});
      if (!status.available) throw new Error(status.reason);
      expect(status.table.services.map((s) => s.address)).not.toContain("198.51.100.1");
    } finally {
      sh("ipvsadm -D -t 198.51.100.1:443");
    }
  });

  it("reports the host it runs on, as root with CAP_NET_ADMIN", async () => {
    const info = await agent.call("host.info", {});
    expect(info).toEqual({
      hostname: sh("uname -n").trim(),
      kernelRelease: sh("uname -r").trim(),
      uid: 0,
      capNetAdmin: true,
    });
  });

  it("stops on SIGTERM with status 0 and removes its socket", async () => {
    const exited = new Promise<number | null>((resolve) => agentProcess.once("exit", (code) => resolve(code)));
    // `ip netns exec` execs the command, so this is the agent's own process.
    agentProcess.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(existsSync(socketPath)).toBe(false);
    await expect(agent.call("host.info", {})).rejects.toMatchObject({ code: "unavailable" });
  });
});
