/**
 * The tRPC server setup, in the create-t3-app layout:
 *   1. context: what every procedure gets (the agent client)
 *   2. initialization: the tRPC instance, its error shape
 *   3. procedures: the building blocks routers use
 *
 * Routers live in server/api/routers/<domain>.ts and are joined in server/api/root.ts.
 *
 * No transformer (superjson is not installed): procedure outputs must be plain JSON. 64-bit kernel counters
 * (bigint) have to be turned into strings or numbers in the router until superjson is added.
 */
import { initTRPC } from "@trpc/server";

import { createAgentClient, createSocketExchange, type AgentClient } from "@/server/agent/client";
import { agentSocketPath, isAgentError, type AgentErrorCode } from "@/server/agent/protocol";

import { toTRPCError } from "./errors";

/**
 * 1. CONTEXT
 *
 * The agent client is long-lived (one socket connection for the whole process) and cached on globalThis, so
 * that Next's dev server, which re-evaluates modules on every change, does not open a new one each time.
 */
export interface TRPCContext {
  agent: AgentClient;
}

const globalForAgent = globalThis as unknown as { lvsdashAgent?: AgentClient };

function sharedAgent(): AgentClient {
  globalForAgent.lvsdashAgent ??= createAgentClient(createSocketExchange({ path: agentSocketPath() }).exchange);
  return globalForAgent.lvsdashAgent;
}

export const createTRPCContext = async (_opts: { headers: Headers }): Promise<TRPCContext> => ({
  agent: sharedAgent(),
});

/**
 * 2. INITIALIZATION
 *
 * The error shape carries the agent's error code (`agentCode`), so the page can tell "the agent is not
 * running" from other failures without parsing messages.
 */
const t = initTRPC.context<TRPCContext>().create({
  errorFormatter({ shape, error }) {
    const agentCode: AgentErrorCode | null = isAgentError(error.cause) ? error.cause.code : null;
    return { ...shape, data: { ...shape.data, agentCode } };
  },
});

/** For tests and server-side calls: createCallerFactory(appRouter)(context). */
export const createCallerFactory = t.createCallerFactory;

/**
 * 3. ROUTER & PROCEDURES
 *
 * Every procedure passes its failures through the one error adapter (errors.ts). tRPC has already wrapped a
 * thrown non-tRPC error as INTERNAL_SERVER_ERROR with the original as `cause`; that original is what the
 * adapter maps. Errors tRPC raised itself (input validation: BAD_REQUEST) pass through unchanged.
 */
export const createTRPCRouter = t.router;

const domainErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok && result.error.code === "INTERNAL_SERVER_ERROR" && result.error.cause !== undefined) {
    throw toTRPCError(result.error.cause);
  }
  return result;
});

export const publicProcedure = t.procedure.use(domainErrors);
