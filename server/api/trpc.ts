/**
 * The tRPC server setup, in the create-t3-app layout:
 *   1. context: what every procedure gets (the agent client, the session, the request's facts, the audit log)
 *   2. initialization: the tRPC instance, its error shape
 *   3. procedures: the building blocks routers use
 *
 * Routers live in server/api/routers/<domain>.ts and are joined in server/api/root.ts.
 *
 * Access (server/auth/README.md):
 *   publicProcedure   only the auth router's login and first-admin setup use it
 *   viewerProcedure   any signed-in user: every read
 *   adminProcedure    the admin role: every change to the director (mutations), and admin-only reads
 * Every mutation and subscription, whatever its procedure, must come from the dashboard's own pages (the
 * Origin check), and every mutation is written to the audit log (who, the path, the input with secrets
 * redacted, ok / error / refused) before its result goes back.
 *
 * No transformer (superjson is not installed): procedure outputs must be plain JSON. 64-bit kernel counters
 * (bigint) have to be turned into strings or numbers in the router until superjson is added.
 */
import { initTRPC, TRPCError } from "@trpc/server";

import { createAgentClient, createSocketExchange, type AgentClient } from "@/server/agent/client";
import { agentSocketPath, isAgentError, type AgentErrorCode } from "@/server/agent/protocol";
import type { AuditLog } from "@/server/audit/log";
import { summarizeInput } from "@/server/audit/redact";
import { originProblem, requestFacts, type RequestFacts } from "@/server/auth/http";
import { authRuntime, type AuthService } from "@/server/auth/service";
import type { Session } from "@/server/auth/store";

import { toTRPCError } from "./errors";

/**
 * 1. CONTEXT
 *
 * The agent client is long-lived (one socket connection for the whole process) and cached on globalThis, so
 * that Next's dev server, which re-evaluates modules on every change, does not open a new one each time. So
 * are the auth service and the audit log (server/auth/service.ts authRuntime).
 */
export interface TRPCContext {
  agent: AgentClient;
  auth: AuthService;
  audit: AuditLog;
  /** The signed-in user's session (from the cookie), or null. */
  session: Session | null;
  /** Client address, https, Origin, Host, cookie token of the request. */
  request: RequestFacts;
  /** The HTTP response's headers (Set-Cookie goes here); null for in-process calls (server components). */
  resHeaders: Headers | null;
}

const globalForAgent = globalThis as unknown as { lvsdashAgent?: AgentClient };

/** The process's one agent client (route handlers outside tRPC use it too: app/metrics). */
export function sharedAgent(): AgentClient {
  globalForAgent.lvsdashAgent ??= createAgentClient(createSocketExchange({ path: agentSocketPath() }).exchange);
  return globalForAgent.lvsdashAgent;
}

export const createTRPCContext = async (opts: { headers: Headers; resHeaders?: Headers }): Promise<TRPCContext> => {
  const { auth, audit } = authRuntime();
  const request = requestFacts(opts.headers);
  return {
    agent: sharedAgent(),
    auth,
    audit,
    session: auth.sessionFor(request),
    request,
    resHeaders: opts.resHeaders ?? null,
  };
};

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

/** What a mutation adds to its own audit entry (the middleware writes the rest). */
export interface AuditNotes {
  /** What it changed: a diff, a plan, the commands it ran. */
  diff?: string;
  /** What it undid when it failed or was not confirmed. */
  rollback?: string;
  /** Who, when nobody is signed in: the user name a login or the first-admin setup was for. */
  actor?: string;
}

/** Why the access checks below refused a call (the cause of their TRPCError: the audit tells them apart). */
class AccessDenied extends Error {
  override name = "AccessDenied";
}

const deny = (code: "UNAUTHORIZED" | "FORBIDDEN", message: string) => new TRPCError({ code, message, cause: new AccessDenied(message) });

/**
 * Records every mutation in the audit log when it ends: ok, error (a failed login too), or refused (no
 * session, wrong role, foreign Origin, throttled). Refusals of requests without a session are not recorded
 * (anyone can send those, as fast as they like: the log would be theirs to fill).
 */
const auditMutations = t.middleware(async ({ ctx, type, path, getRawInput, next }) => {
  const notes: AuditNotes = {};
  if (type !== "mutation") return next({ ctx: { auditNotes: notes } });
  const started = Date.now();
  const result = await next({ ctx: { auditNotes: notes } });
  const refused = !result.ok && (result.error.cause instanceof AccessDenied || result.error.code === "TOO_MANY_REQUESTS");
  if (refused && ctx.session === null) return result;
  let message: string | null = null;
  if (!result.ok) {
    const mapped = result.error.code === "INTERNAL_SERVER_ERROR" && result.error.cause !== undefined ? toTRPCError(result.error.cause) : result.error;
    message = mapped.message;
    const cause = result.error.cause;
    if (mapped.code === "INTERNAL_SERVER_ERROR" && cause instanceof Error && cause.message !== message) message += ` (${cause.message})`;
  }
  let input = "";
  try {
    input = summarizeInput(await getRawInput());
  } catch {
    input = '"(unreadable input)"';
  }
  try {
    ctx.audit.record({
      user: ctx.session?.user.name ?? (notes.actor ? `(${notes.actor})` : "-"),
      role: ctx.session?.user.role ?? null,
      ip: ctx.request.ip,
      op: path,
      kind: "mutation",
      input,
      result: result.ok ? "ok" : refused ? "refused" : "error",
      error: message,
      diff: notes.diff ?? null,
      rollback: notes.rollback ?? null,
      durationMs: Date.now() - started,
    });
  } catch (e) {
    // The change has happened: losing its record is bad, failing the request would be worse (the operator
    // would think nothing changed). The server log gets it.
    console.error(`lvs-dashboard: audit record for ${path} failed:`, e);
  }
  return result;
});

/** Mutations and subscriptions only from our own pages (server/auth/http.ts originProblem). */
const sameOrigin = t.middleware(({ ctx, type, next }) => {
  if (type !== "query") {
    const problem = originProblem(ctx.request, type);
    if (problem) throw deny("FORBIDDEN", problem);
  }
  return next();
});

const base = t.procedure.use(domainErrors).use(auditMutations).use(sameOrigin);

/** Anyone, signed in or not: only login and the first-admin setup. */
export const publicProcedure = base;

/** A live stream checks its session again at most this often, before it sends anything. */
const STREAM_RECHECK_MS = 5_000;

/**
 * Ends a subscription's stream when its session ends (logout, expiry, the user removed or demoted below
 * `role`): the session was checked when the stream opened, and a stream can stay open for hours.
 */
async function* whileSessionHolds<T>(source: AsyncIterable<T>, holds: () => boolean): AsyncGenerator<T> {
  let checked = Date.now();
  for await (const value of source) {
    if (Date.now() - checked >= STREAM_RECHECK_MS) {
      if (!holds()) return;
      checked = Date.now();
    }
    yield value;
  }
}

const isAsyncIterable = (v: unknown): v is AsyncIterable<unknown> => v != null && typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function";

/** Any signed-in user (viewer or admin): reads. `ctx.session` is set. */
export const viewerProcedure = base.use(async ({ ctx, type, next }) => {
  if (!ctx.session) throw deny("UNAUTHORIZED", "sign in first: the session is missing or has expired");
  const result = await next({ ctx: { session: ctx.session } });
  if (type === "subscription" && result.ok && isAsyncIterable(result.data) && ctx.request.token) {
    const { token } = ctx.request;
    const role = ctx.session.user.role;
    const holds = () => {
      const now = ctx.auth.store.resolveSession(token, { touch: false });
      return now !== null && (role !== "admin" || now.user.role === "admin");
    };
    return { ...result, data: whileSessionHolds(result.data, holds) };
  }
  return result;
});

/** The admin role: every change to the director. `ctx.session` is an admin's; ctx.auditNotes adds to the entry. */
export const adminProcedure = viewerProcedure.use(({ ctx, next }) => {
  if (ctx.session.user.role !== "admin") {
    throw deny("FORBIDDEN", `${ctx.session.user.name} is a viewer: this needs the admin role`);
  }
  return next();
});
