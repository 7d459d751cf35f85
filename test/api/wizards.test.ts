// The wizards router against a fake agent (a function from request to reply): invalid input is refused with a
// message naming the field and never reaches the agent; valid input goes to the matching op unchanged in meaning.
// No real server is paired here (an empty registry): the real servers' side is test/wizards/realservers.test.ts.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { TRPCError } from "@trpc/server";
import { describe, expect, it } from "vitest";

import { createAgentClient } from "@/server/agent/client";
import type { AgentExchange, AgentReply, AgentRequest } from "@/server/agent/protocol";
import { createWizardsRouter } from "@/server/api/routers/wizards";
import { createCallerFactory, createTRPCRouter } from "@/server/api/trpc";
import { createRealServerRegistry } from "@/server/realservers/registry";
import { RealServerStore } from "@/server/realservers/store";
import { parseWizardInput } from "@/server/wizards/input";
import { planWizard } from "@/server/wizards/plan";
import { RealServerSides } from "@/server/wizards/realservers";
import { renderPlan } from "@/server/wizards/render";

import { signedIn } from "../auth/context";
import { draft } from "../wizards/fixtures";

const registry = createRealServerRegistry(RealServerStore.open(mkdtempSync(join(tmpdir(), "wizards-router-"))));
const sides = new RealServerSides(() => registry);
const createCaller = createCallerFactory(createTRPCRouter({ wizards: createWizardsRouter(() => registry, () => sides) }));

/** What the agent's wizard.plan answers for a DR draft on an empty director. */
function review(fingerprintOf = draft("dr")) {
  const parsed = parseWizardInput(fingerprintOf);
  if (!parsed.ok) throw new Error("bad draft");
  const plan = planWizard(parsed.input, { ipvs: null, links: [], addresses: [], routes: [], sysctls: {}, modules: {}, nftTables: [] });
  return { problems: [], canApply: true, plan: renderPlan(plan) };
}

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

  it("plans, applies with the plan's fingerprint, confirms and rolls back through the ops", async () => {
    const shown = review();
    const { caller, requests } = fakeAgent((r) => ({ ok: true, output: r.op === "wizard.plan" ? shown : { ...IDLE, id: "7d7f3e2a-7f6e-4c1f-9d7e-2b1f0b8c9a10" } }));
    const planned = await caller.wizards.plan(draft("dr"));
    // No agent paired: each real server keeps its script.
    expect(planned.plan.realServers.map((r) => [r.address, r.agent])).toEqual(shown.plan.realServers.map((r) => [r.address, null]));
    const started = await caller.wizards.applyPlan({ input: draft("dr"), fingerprint: shown.plan.fingerprint });
    expect(started.realServers.map((r) => r.state)).toEqual(shown.plan.realServers.map(() => "manual"));
    await caller.wizards.confirm({ id: "7d7f3e2a-7f6e-4c1f-9d7e-2b1f0b8c9a10" });
    await caller.wizards.rollback({ id: "7d7f3e2a-7f6e-4c1f-9d7e-2b1f0b8c9a10" });
    // applyPlan reads the plan again (for the real servers' steps) before it starts the director's change.
    expect(requests.map((r) => r.op)).toEqual(["wizard.plan", "wizard.plan", "wizard.apply", "wizard.confirm", "wizard.rollback"]);
    expect(requests[2]!.input).toMatchObject({ fingerprint: shown.plan.fingerprint, input: { mode: "dr", vip: "192.0.2.100", scheduler: "wrr" } });
  });

  it("a fingerprint that is not the current plan's goes to the agent to refuse, with no real server touched", async () => {
    const { caller, requests } = fakeAgent((r) =>
      r.op === "wizard.plan" ? { ok: true, output: review() } : { ok: false, error: { code: "invalid_input", message: "the director changed since the plan was shown: review it again" } },
    );
    const err = (await caller.wizards.applyPlan({ input: draft("dr"), fingerprint: "0123456789abcdef" }).catch((e: unknown) => e)) as TRPCError;
    expect(err.code).toBe("BAD_REQUEST");
    expect(err.message).toMatch(/changed since the plan was shown/);
    expect(requests.map((r) => r.op)).toEqual(["wizard.plan", "wizard.apply"]);
  });

  it("passes the agent's refusal (another change awaiting confirmation) on as a bad request", async () => {
    const { caller } = fakeAgent(() => ({ ok: false, error: { code: "invalid_input", message: "another wizard change (DR TCP 192.0.2.100:80) is awaiting-confirm" } }));
    const err = (await caller.wizards.applyPlan({ input: draft("dr") }).catch((e: unknown) => e)) as TRPCError;
    expect(err.code).toBe("BAD_REQUEST");
    expect(err.message).toMatch(/awaiting-confirm/);
  });
});
