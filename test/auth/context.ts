// tRPC contexts for tests: an in-memory auth store and audit log, a signed-in admin (or viewer, or nobody),
// a request from the dashboard's own page (Origin = Host) unless told otherwise. Router tests use
//   createCaller(signedIn({ agent }))                    an admin, as the page would call
//   createCaller(signedIn({ agent, role: "viewer" }))
import { createAgentClient, type AgentClient } from "@/server/agent/client";
import type { TRPCContext } from "@/server/api/trpc";
import { AuditLog } from "@/server/audit/log";
import type { RequestFacts } from "@/server/auth/http";
import { AuthService } from "@/server/auth/service";
import { AuthStore, type Role } from "@/server/auth/store";
import type { LimiterOptions } from "@/server/auth/limiter";

/** Cheap scrypt for tests (the stored parameters make verify use them). */
export const TEST_SCRYPT = { ln: 4, r: 8, p: 1 };
export const HOST = "127.0.0.1:3000";
export const ORIGIN = `http://${HOST}`;

export interface TestAuth {
  auth: AuthService;
  audit: AuditLog;
  store: AuthStore;
}

export function testAuth(options: { now?: () => number; limiter?: LimiterOptions } = {}): TestAuth {
  const store = AuthStore.open(":memory:", options.now ? { now: options.now } : {});
  const auth = new AuthService(store, { scrypt: TEST_SCRYPT, limiter: { ...options.limiter, ...(options.now ? { now: options.now } : {}) } });
  return { auth, audit: AuditLog.open(":memory:", options.now ? { now: options.now } : {}), store };
}

/** An agent that fails every call: for tests where no call may reach it. */
export const noAgent: AgentClient = createAgentClient(async (request) => {
  throw new Error(`test: no agent call expected (got ${request.op})`);
});

export function facts(overrides: Partial<RequestFacts> = {}): RequestFacts {
  return { ip: "192.0.2.50", secure: false, origin: ORIGIN, host: HOST, secFetchSite: "same-origin", userAgent: "vitest", token: null, ...overrides };
}

/**
 * A context as the route would build it. `role` null: nobody signed in. The user is created in the store
 * (with a placeholder hash: nobody logs in with it) and a real session opened for them, its token in the
 * request as the cookie would carry it.
 */
export function signedIn(
  options: { agent?: AgentClient; role?: Role | null; request?: Partial<RequestFacts>; env?: TestAuth; user?: string } = {},
): TRPCContext & { env: TestAuth } {
  const env = options.env ?? testAuth();
  const role = options.role === undefined ? "admin" : options.role;
  let session = null;
  let token: string | null = null;
  if (role) {
    const name = options.user ?? `test-${role}`;
    const user = env.store.findUser(name) ?? env.store.addUser(name, role, "$scrypt$placeholder");
    ({ session, token } = env.store.createSession(user.id, { ip: "192.0.2.50", userAgent: "vitest" }));
  }
  return {
    agent: options.agent ?? noAgent,
    auth: env.auth,
    audit: env.audit,
    session,
    request: facts({ token, ...options.request }),
    resHeaders: new Headers(),
    env,
  };
}
