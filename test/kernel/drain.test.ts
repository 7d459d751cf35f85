// Draining a real server on the real kernel (lab guest only): a DR site with rs1 (weight 1) and rs2 (weight
// 2), the agent in the director's namespace, idle TCP connections held open through the VIP so rs1 has
// active connections. drain.start sets rs1's weight to 0 at once (ipvsadm shows it), new requests all go to
// rs2 while rs1's held connection lives on (the drain waits), and once the clients hang up the agent removes
// rs1 (ipvsadm shows it gone).
//
// Run inside the lab: /work/main/.lab/lab test test/kernel/drain.test.ts
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createAgentClient, createSocketExchange, type AgentClient, type SocketExchange } from "@/server/agent/client";
import { buildSite, type Site } from "@/lab/site/site";

import { startAgentIn } from "./agent-process";

const SITE = "drn";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let site: Site;
let agentProcess: ChildProcess;
let exchange: SocketExchange;
let agent: AgentClient;
const held: ChildProcess[] = [];

/** rs1's line of ipvsadm -Ln: weight, ActiveConn, InActConn; null when rs1 is not there. */
async function rs1Line(): Promise<{ weight: number; active: number } | null> {
  const out = await site.ipvsadm(["-Ln"]);
  const m = /192\.0\.2\.11:80\s+Route\s+(\d+)\s+(\d+)\s+(\d+)/.exec(out);
  return m ? { weight: Number(m[1]), active: Number(m[2]) } : null;
}

beforeAll(async () => {
  site = await buildSite({ name: SITE, mode: "dr", realServers: [{ name: "rs1", weight: 1 }, { name: "rs2", weight: 2 }] });
  const socketPath = join(mkdtempSync(join(tmpdir(), "lvsdash-drain-")), "run", "agent.sock");
  agentProcess = await startAgentIn(`${SITE}-dir`, socketPath);
  exchange = createSocketExchange({ path: socketPath });
  agent = createAgentClient(exchange.exchange);
}, 240_000);

afterAll(async () => {
  for (const p of held) if (p.exitCode === null) p.kill("SIGKILL");
  exchange?.close();
  if (agentProcess?.exitCode === null) agentProcess.kill("SIGKILL");
  await site?.destroy();
});

describe("drain a real server through the agent", () => {
  it("weight 0 at once, new connections to the others only, removed once its connections are gone", async () => {
    // Three idle connections through the VIP (nc with its stdin kept open): wrr 1:2 gives rs1 one of them.
    // `ip netns exec` execs nc, so killing the child closes the connection.
    for (let i = 0; i < 3; i++) {
      held.push(spawn("ip", ["netns", "exec", `${SITE}-client`, "busybox", "nc", site.vip, "80"], { stdio: ["pipe", "ignore", "ignore"] }));
    }
    let before = await rs1Line();
    for (let i = 0; i < 20 && (before?.active ?? 0) < 1; i++) {
      await sleep(500);
      before = await rs1Line();
    }
    expect(before).toEqual({ weight: 1, active: 1 });

    const started = await agent.call("drain.start", {
      service: { kind: "address", protocol: "TCP", address: site.vip, port: 80 },
      dest: { address: "192.0.2.11", port: 80 },
      timeoutSeconds: 120,
    });
    expect(started).toMatchObject({ state: "draining", weightBefore: 1 });
    expect(await rs1Line()).toEqual({ weight: 0, active: 1 });

    // While rs1 drains, every new request goes to rs2 and none fails.
    const during = await site.request(4, { timeoutMs: 5_000 });
    expect(during).toMatchObject({ failures: 0, byServer: { rs2: 4 } });

    // rs1 still holds its connection: the drain waits. Then the clients hang up.
    expect((await agent.call("drain.list", {})).find((d) => d.id === started.id)).toMatchObject({ state: "draining" });
    for (const p of held) p.kill("SIGTERM");

    let status = started;
    const until = Date.now() + 60_000;
    while (status.state === "draining" && Date.now() < until) {
      await sleep(1_000);
      status = (await agent.call("drain.list", {})).find((d) => d.id === started.id)!;
    }
    expect(status.state).toBe("removed");
    expect(status.samples[0]!.active).toBe(1);
    expect(status.samples.at(-1)!.active).toBe(0);
    expect(await rs1Line()).toBeNull();
    const after = await site.request(3, { timeoutMs: 5_000 });
    expect(after).toMatchObject({ failures: 0, byServer: { rs2: 3 } });
  });

  it("refuses a real server the service does not have", async () => {
    await expect(
      agent.call("drain.start", { service: { kind: "address", protocol: "TCP", address: site.vip, port: 80 }, dest: { address: "192.0.2.99", port: 80 } }),
    ).rejects.toMatchObject({ code: "invalid_input", message: expect.stringMatching(/no real server/) });
  });
});
