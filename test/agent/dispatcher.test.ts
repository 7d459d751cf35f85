import { afterEach, describe, expect, it, vi } from "vitest";

import { createDispatcher, type OpContext, type OpHandlers } from "@/server/agent/dispatcher";
import { AGENT_OPS, AgentError, type HostInfo } from "@/server/agent/protocol";

import { fakeHandlers } from "./fake-handlers";

const HOST: HostInfo = { hostname: "director", kernelRelease: "6.1.0-56-amd64", uid: 0, capNetAdmin: true };

function handlers(overrides: Partial<OpHandlers> = {}): OpHandlers {
  return fakeHandlers({
    "ipvs.status": async () => ({ available: false, reason: "no ip_vs" }),
    "ipvs.metrics": async () => ({ available: false, reason: "no ip_vs" }),
    "host.info": async () => HOST,
    ...overrides,
  });
}

afterEach(() => {
  vi.useRealTimers();
});

describe("createDispatcher", () => {
  it("runs a known op and returns its output", async () => {
    const dispatch = createDispatcher(handlers());
    await expect(dispatch({ op: "host.info", input: {} })).resolves.toEqual({ ok: true, output: HOST });
  });

  it.each(["ipvs.delete", "", "constructor", "__proto__", "toString", "hasOwnProperty"])(
    "refuses the unknown op %j",
    async (op) => {
      const called = vi.fn();
      const dispatch = createDispatcher(handlers({ "host.info": async () => (called(), HOST) }));
      const reply = await dispatch({ op, input: {} });
      expect(reply).toMatchObject({ ok: false, error: { code: "unknown_op" } });
      expect(called).not.toHaveBeenCalled();
    },
  );

  it.each([
    ["an unknown key", { path: "/etc/shadow" }],
    ["a string", "net/ip_vs"],
    ["null", null],
    ["no input", undefined],
  ])("refuses invalid input (%s) before the handler runs", async (_what, input) => {
    const called = vi.fn();
    const dispatch = createDispatcher(handlers({ "ipvs.status": async () => (called(), { available: false, reason: "" }) }));
    const reply = await dispatch({ op: "ipvs.status", input });
    expect(reply).toMatchObject({ ok: false, error: { code: "invalid_input" } });
    if (!reply.ok) expect(reply.error.message).toContain("ipvs.status");
    expect(called).not.toHaveBeenCalled();
  });

  it("answers an AgentError with its own code", async () => {
    const dispatch = createDispatcher(
      handlers({
        "ipvs.status": async () => {
          throw new AgentError("invalid_input", "no such service");
        },
      }),
    );
    await expect(dispatch({ op: "ipvs.status", input: {} })).resolves.toEqual({
      ok: false,
      error: { code: "invalid_input", message: "no such service" },
    });
  });

  it("turns any other failure into `internal` and reports it", async () => {
    const boom = Object.assign(new Error("EACCES: permission denied, open '/proc/net/ip_vs'"), { code: "EACCES" });
    const onInternalError = vi.fn();
    const dispatch = createDispatcher(
      handlers({
        "ipvs.status": async () => {
          throw boom;
        },
      }),
      { onInternalError },
    );
    const reply = await dispatch({ op: "ipvs.status", input: {} });
    expect(reply).toMatchObject({ ok: false, error: { code: "internal" } });
    if (!reply.ok) expect(reply.error.message).toContain("EACCES");
    expect(onInternalError).toHaveBeenCalledWith("ipvs.status", boom);
  });

  it("reports a timeout after the op's deadline and aborts the handler's signal", async () => {
    vi.useFakeTimers();
    let seen: OpContext | undefined;
    const dispatch = createDispatcher(
      handlers({
        "ipvs.status": (_input, context) => {
          seen = context;
          return new Promise(() => {});
        },
      }),
    );
    const replied = dispatch({ op: "ipvs.status", input: {} });
    await vi.advanceTimersByTimeAsync(AGENT_OPS["ipvs.status"].timeoutMs - 1);
    expect(seen?.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const reply = await replied;
    expect(reply).toMatchObject({ ok: false, error: { code: "timeout" } });
    if (!reply.ok) expect(reply.error.message).toContain(`${AGENT_OPS["ipvs.status"].timeoutMs} ms`);
    expect(seen?.signal.aborted).toBe(true);
  });

  it("aborts the handler's signal when the requester goes away", async () => {
    let seen: OpContext | undefined;
    let finish: (() => void) | undefined;
    const dispatch = createDispatcher(
      handlers({
        "host.info": (_input, context) => {
          seen = context;
          return new Promise((resolve) => (finish = () => resolve(HOST)));
        },
      }),
    );
    const requester = new AbortController();
    const replied = dispatch({ op: "host.info", input: {} }, requester.signal);
    requester.abort();
    expect(seen?.signal.aborted).toBe(true);
    finish?.();
    await expect(replied).resolves.toEqual({ ok: true, output: HOST });
  });
});
