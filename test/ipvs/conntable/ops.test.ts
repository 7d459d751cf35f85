// The agent's connection-table ops over a recorded table (the lab's DR site, 30 FIN_WAIT entries from
// 203.0.113.50 to two real servers) and over failing readers: started by the first ask, never reading inside
// a query, refresh joining the pass in flight, bad filters refused as bad input. And the tRPC router: refresh is
// a mutation, the page's input is validated before the agent is asked.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

import { createAgentClient } from "@/server/agent/client";
import type { AgentExchange, AgentRequest } from "@/server/agent/protocol";
import { connectionsRouter } from "@/server/api/routers/connections";
import { createCallerFactory, createTRPCRouter } from "@/server/api/trpc";
import { ConnQueryError, createConnTableOps } from "@/server/ipvs/conntable/ops";

import { signedIn } from "../../auth/context";

const DR = readFileSync(new URL("../../fixtures/lab/dr-healthy/proc.ip_vs_conn.txt", import.meta.url));

/** A reader over the recorded table that counts its passes and can be held open. */
function reader() {
  const calls = { n: 0 };
  let release: () => void = () => {};
  let hold = false;
  return {
    calls,
    holdNext() {
      hold = true;
    },
    release: () => release(),
    read: async function* () {
      calls.n++;
      if (hold) {
        hold = false;
        await new Promise<void>((r) => (release = r));
      }
      yield DR;
    },
  };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe("conns ops", () => {
  it("start the refresher on the first ask and answer from its last pass", async () => {
    const r = reader();
    const ops = createConnTableOps(r.read, { retainEntries: 1000 });
    expect(ops.table).toBeNull();
    expect(r.calls.n).toBe(0);
    const first = await ops.status();
    expect(first.retainEntries).toBe(1000);
    await settle();
    const s = await ops.status();
    expect(r.calls.n).toBe(1);
    expect(s.summary?.entries).toBe(30);
    expect(s.summary?.byState).toEqual([{ key: "FIN_WAIT", count: 30 }]);
    expect(s.summary?.byReal.map((x) => x.address).sort()).toEqual(["192.0.2.11", "192.0.2.12"]);
    expect(s.now).toBeGreaterThanOrEqual(s.finishedAt as number);

    const page = await ops.query({ filter: { real: { address: "192.0.2.12", port: 80 } }, offset: 0, limit: 5 });
    expect(page?.entries).toHaveLength(5);
    expect(page?.entries.every((e) => e.destAddress === "192.0.2.12" && e.clientAddress === "203.0.113.50")).toBe(true);
    expect(page?.matched).toBe(s.summary?.byReal.find((x) => x.address === "192.0.2.12")?.count);
    const byCidr = await ops.query({ filter: { clientCidr: "203.0.113.0/24", states: ["FIN_WAIT"] }, limit: 100 });
    expect(byCidr?.matched).toBe(30);
    const none = await ops.query({ filter: { clientCidr: "198.51.100.0/24" } });
    expect(none?.matched).toBe(0);
    // Queries never read.
    expect(r.calls.n).toBe(1);
    await ops.stop();
  });

  it("query before the first pass completes is null; refresh joins the pass in flight", async () => {
    const r = reader();
    r.holdNext();
    const ops = createConnTableOps(r.read);
    await ops.status();
    await settle();
    expect(await ops.query({})).toBeNull();
    const again = await ops.refresh();
    expect(again.joined).toBe(true);
    expect(again.status.progress.inFlight).toBe(true);
    expect(r.calls.n).toBe(1);
    r.release();
    await settle();
    const done = await ops.status();
    expect(done.progress.inFlight).toBe(false);
    expect(done.summary?.entries).toBe(30);
    const fresh = await ops.refresh();
    expect(fresh.joined).toBe(false);
    await settle();
    expect(r.calls.n).toBe(2);
    await ops.stop();
  });

  it("a bad client range is a ConnQueryError (the agent answers invalid_input)", async () => {
    const r = reader();
    const ops = createConnTableOps(r.read);
    await ops.status();
    await settle();
    await expect(ops.query({ filter: { clientCidr: "203.0.113.0/33" } })).rejects.toBeInstanceOf(ConnQueryError);
    await expect(ops.query({ filter: { real: { address: "not-an-address" } } })).rejects.toThrow(/not an IPv4 or IPv6 address/);
    await ops.stop();
  });

  it("a failing read shows as the status's error with its errno code", async () => {
    const ops = createConnTableOps(async function* () {
      throw Object.assign(new Error("ENOENT: no such file or directory, open '/proc/net/ip_vs_conn'"), { code: "ENOENT" });
    });
    await ops.status();
    await settle();
    const s = await ops.status();
    expect(s.summary).toBeNull();
    expect(s.error?.code).toBe("ENOENT");
    await ops.stop();
  });
});

describe("connections router", () => {
  function fakeAgent() {
    const requests: AgentRequest[] = [];
    const exchange: AgentExchange = async (request) => {
      requests.push(request);
      return { ok: true, output: request.op === "conns.query" ? null : { joined: false, status: {} } };
    };
    // The connections router alone (the app's root router is the lead's and carries every domain).
    const createCaller = createCallerFactory(createTRPCRouter({ connections: connectionsRouter }));
    // A signed-in admin (test/auth/context.ts): refresh is an admin mutation.
    const ctx = signedIn({ agent: createAgentClient(exchange) });
    return { caller: createCaller(ctx), requests };
  }

  it("refresh is a mutation (a change to what the agent does), status and page are queries", () => {
    // Checked on the procedure definitions: calling the mutation needs the auth engineer's whole context (audit).
    const type = (p: { _def: { type: string } }) => p._def.type;
    expect(type(connectionsRouter.refresh)).toBe("mutation");
    expect(type(connectionsRouter.status)).toBe("query");
    expect(type(connectionsRouter.page)).toBe("query");
  });

  it("page validates its input before asking the agent", async () => {
    const { caller, requests } = fakeAgent();
    await expect(caller.connections.page({ limit: 5000 })).rejects.toThrow();
    await expect(caller.connections.page({ filter: { virtual: { address: "192.0.2.100", port: 70000 } } })).rejects.toThrow();
    expect(requests).toEqual([]);
    await caller.connections.page({ filter: { states: ["ESTABLISHED"] }, offset: 100, limit: 100 });
    expect(requests).toEqual([{ op: "conns.query", input: { filter: { states: ["ESTABLISHED"] }, offset: 100, limit: 100 } }]);
  });
});
