// The tRPC routers against a fake agent: a function from request to reply, as the real socket client is.
import { readFileSync } from "node:fs";

import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { TRPCError } from "@trpc/server";
import { describe, expect, it, vi } from "vitest";

import { createAgentClient } from "@/server/agent/client";
import type { AgentErrorCode, AgentExchange, AgentReply, AgentRequest, IpvsStatus } from "@/server/agent/protocol";
import { GENERIC_MESSAGE } from "@/server/api/errors";
import { appRouter, createCaller } from "@/server/api/root";
import { parseProcIpVs } from "@/server/ipvs/proc/services";

import { signedIn } from "../auth/context";

// What the agent returns on the recorded DR director (shared/cases/dr): a real /proc/net/ip_vs.
const TABLE: IpvsStatus = {
  available: true,
  table: parseProcIpVs(readFileSync(new URL("../fixtures/cases/dr/dr-healthy.proc.ip_vs.txt", import.meta.url), "utf8")),
};

/** A fake agent that records what it was asked and answers with `reply`. */
function fakeAgent(reply: (request: AgentRequest) => AgentReply | Promise<AgentReply>) {
  const requests: AgentRequest[] = [];
  const exchange: AgentExchange = async (request) => {
    requests.push(request);
    return reply(request);
  };
  return { caller: createCaller(signedIn({ agent: createAgentClient(exchange) })), requests, exchange };
}

const failWith = (code: AgentErrorCode, message: string) => (): AgentReply => ({ ok: false, error: { code, message } });

describe("ipvs.status", () => {
  it("asks the agent for ipvs.status and returns its table", async () => {
    const { caller, requests } = fakeAgent(() => ({ ok: true, output: TABLE }));
    await expect(caller.ipvs.status()).resolves.toEqual(TABLE);
    expect(requests).toEqual([{ op: "ipvs.status", input: {} }]);
  });

  it("passes a kernel without IPVS through as data, not as an error", async () => {
    const none: IpvsStatus = { available: false, reason: "IPVS is not available in this kernel" };
    const { caller } = fakeAgent(() => ({ ok: true, output: none }));
    await expect(caller.ipvs.status()).resolves.toEqual(none);
  });
});

describe("host.info", () => {
  it("asks the agent for host.info", async () => {
    const info = { hostname: "director", kernelRelease: "6.1.0-56-amd64", uid: 0, capNetAdmin: true };
    const { caller, requests } = fakeAgent(() => ({ ok: true, output: info }));
    await expect(caller.host.info()).resolves.toEqual(info);
    expect(requests).toEqual([{ op: "host.info", input: {} }]);
  });
});

describe("error mapping", () => {
  const notRunning = "the lvs-dashboard agent is not running (socket /run/x.sock): start it with npm start";

  it.each<[AgentErrorCode, string, TRPCError["code"], string]>([
    ["unavailable", notRunning, "SERVICE_UNAVAILABLE", notRunning],
    ["permission_denied", "no permission (socket /run/x.sock)", "SERVICE_UNAVAILABLE", "no permission (socket /run/x.sock)"],
    ["timeout", "no answer within 12000 ms", "GATEWAY_TIMEOUT", "no answer within 12000 ms"],
    ["invalid_input", "invalid input for ipvs.status", "BAD_REQUEST", "invalid input for ipvs.status"],
    ["too_large", "reply too long", "PAYLOAD_TOO_LARGE", "reply too long"],
    [
      "unknown_op",
      'unknown op "ipvs.status"',
      "NOT_IMPLEMENTED",
      'the agent is older than the web server (unknown op "ipvs.status"): restart both with npm start',
    ],
    ["internal", "ipvs.status failed: EACCES /proc/net/ip_vs", "INTERNAL_SERVER_ERROR", "the agent failed: its log has the details"],
    ["bad_request", "not a JSON line", "INTERNAL_SERVER_ERROR", GENERIC_MESSAGE],
  ])("agent %s -> %s", async (agentCode, agentMessage, trpcCode, message) => {
    const { caller } = fakeAgent(failWith(agentCode, agentMessage));
    const error = await caller.ipvs.status().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TRPCError);
    expect(error).toMatchObject({ code: trpcCode, message });
    expect((error as TRPCError).cause).toMatchObject({ name: "AgentError", code: agentCode, message: agentMessage });
  });

  it("maps an AgentError thrown by another copy of the agent modules (Next bundles one per layer)", async () => {
    vi.resetModules();
    const copy = await import("@/server/agent/client");
    expect(copy.createAgentClient).not.toBe(createAgentClient);
    const caller = createCaller(signedIn({ agent: copy.createAgentClient(async () => failWith("unavailable", notRunning)()) }));
    await expect(caller.ipvs.status()).rejects.toMatchObject({ code: "SERVICE_UNAVAILABLE", message: notRunning });
  });

  it("turns an unknown error into a generic message, keeping the original as cause", async () => {
    const original = new TypeError("Cannot read properties of undefined (reading 'services')");
    const { caller } = fakeAgent(() => {
      throw original;
    });
    const error = await caller.ipvs.status().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "INTERNAL_SERVER_ERROR", message: GENERIC_MESSAGE });
    expect((error as TRPCError).cause).toBe(original);
  });

  it("sends the agent code and a clean message over HTTP, without the original error", async () => {
    const cases: [AgentReply | Error, number, string | null, string][] = [
      [failWith("unavailable", notRunning)(), 503, "unavailable", notRunning],
      [new Error("secret internals at /root/x"), 500, null, GENERIC_MESSAGE],
    ];
    for (const [reply, status, agentCode, message] of cases) {
      const { exchange } = fakeAgent(() => {
        if (reply instanceof Error) throw reply;
        return reply;
      });
      const logged: unknown[] = [];
      const response = await fetchRequestHandler({
        endpoint: "/api/trpc",
        req: new Request("http://localhost/api/trpc/ipvs.status"),
        router: appRouter,
        createContext: () => signedIn({ agent: createAgentClient(exchange) }),
        onError: ({ error }) => logged.push(error.cause),
      });
      expect(response.status).toBe(status);
      const body = await response.text();
      expect(JSON.parse(body)).toMatchObject({ error: { message, data: { agentCode, path: "ipvs.status" } } });
      expect(body).not.toContain("secret internals");
      expect(logged).toHaveLength(1);
    }
  });
});
