// The wizards router against a fake agent (a function from request to reply): invalid input is refused with a
// message naming the field and never reaches the agent; valid input goes to the matching op unchanged in meaning.
import { TRPCError } from "@trpc/server";
import { describe, expect, it } from "vitest";

import { createAgentClient } from "@/server/agent/client";
import type { AgentExchange, AgentReply, AgentRequest } from "@/server/agent/protocol";
import { wizardsRouter } from "@/server/api/routers/wizards";
import { createCallerFactory, createTRPCRouter } from "@/server/api/trpc";

import { signedIn } from "../auth/context";
import { draft } from "../wizards/fixtures";

const createCaller = createCallerFactory(createTRPCRouter({ wizards: wizardsRouter }));

function fakeAgent(reply: (r: AgentRequest) => AgentReply) {
  const requests: AgentRequest[] = [];
  const exchange: AgentExchange = async (request) => {
    requests.push(request);
    return reply(request);
  };
  return { caller: createCaller(signedIn({ agent: createAgentClient(exchange) })), requests };
}

const IDLE = { id: null, phase: "idle", steps: [] };

describe("wizards router", () => {
  const bad: [string, object, RegExp][] = [
    ["a bad address", draft("dr", { vip: "192.0.2.999" }), /vip/],
    ["port 0", draft("dr", { ports: [0] }), /ports/],
    ["port 65536", draft("dr", { ports: [65536] }), /ports/],
    ["a weight out of range", draft("dr", { realServers: [{ address: "192.0.2.11", weight: 70000 }] }), /weight/],
    ["an unknown scheduler", draft("dr", { scheduler: "rr; reboot" as "rr" }), /scheduler/],
    ["an interface that is an option", draft("dr", { director: { interface: "-x" } }), /interface/],
  ];
  for (const [what, input, field] of bad) {
    it(`refuses ${what} before the agent hears of it`, async () => {
      const { caller, requests } = fakeAgent(() => ({ ok: true, output: IDLE }));
      const err = await caller.wizards.plan(input as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TRPCError);
      expect((err as TRPCError).code).toBe("BAD_REQUEST");
      expect((err as TRPCError).message).toMatch(field);
      const err2 = await caller.wizards.applyPlan({ input } as never).catch((e: unknown) => e);
      expect((err2 as TRPCError).code).toBe("BAD_REQUEST");
      expect(requests).toEqual([]);
    });
  }

  it("plans, applies with the fingerprint, confirms and rolls back through the ops", async () => {
    const { caller, requests } = fakeAgent(() => ({ ok: true, output: IDLE }));
    await caller.wizards.plan(draft("dr"));
    await caller.wizards.applyPlan({ input: draft("dr"), fingerprint: "0123456789abcdef" });
    await caller.wizards.confirm({ id: "7d7f3e2a-7f6e-4c1f-9d7e-2b1f0b8c9a10" });
    await caller.wizards.rollback({ id: "7d7f3e2a-7f6e-4c1f-9d7e-2b1f0b8c9a10" });
    expect(requests.map((r) => r.op)).toEqual(["wizard.plan", "wizard.apply", "wizard.confirm", "wizard.rollback"]);
    expect(requests[1]!.input).toMatchObject({ fingerprint: "0123456789abcdef", input: { mode: "dr", vip: "192.0.2.100", scheduler: "wrr" } });
  });

  it("passes the agent's refusal (another change awaiting confirmation) on as a bad request", async () => {
    const { caller } = fakeAgent(() => ({ ok: false, error: { code: "invalid_input", message: "another wizard change (DR TCP 192.0.2.100:80) is awaiting-confirm" } }));
    const err = (await caller.wizards.applyPlan({ input: draft("dr") }).catch((e: unknown) => e)) as TRPCError;
    expect(err.code).toBe("BAD_REQUEST");
    expect(err.message).toMatch(/awaiting-confirm/);
  });
});
