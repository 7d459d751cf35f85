// The app's tRPC router as a signed-in admin's browser reaches it, for real-kernel tests: `createCaller` over the
// context server/api/trpc.ts builds for a request (createTRPCContext: the auth store and audit log opened from
// LVSDASH_DATA_DIR, here a fresh temp dir; the session from the request's cookie; Origin = Host, as a request from
// the dashboard's own page carries), with the test's agent client (the agent in a site's director namespace) in
// place of the process's shared one, which would dial the default socket.
//
//   const api = await adminApi(lab.agent, "alice");
//   await api.wizards.plan(input);  await api.audit.list({ user: "alice" });
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import type { AgentClient } from "@/server/agent/client";
import { createCaller } from "@/server/api/root";
import { createTRPCContext } from "@/server/api/trpc";
import { COOKIE } from "@/server/auth/http";
import { authRuntime } from "@/server/auth/service";

const HOST = "127.0.0.1:3000";

let dataDir: string | null = null;

/** One temp data dir for this process's auth store and audit log (authRuntime opens it once, then caches it). */
function useTempDataDir(): void {
  if (dataDir !== null) return;
  dataDir = mkdtempSync(join(tmpdir(), "lvsdash-data-"));
  process.env.LVSDASH_DATA_DIR = dataDir;
}

/** A caller signed in as the admin `user` (created in the store if new; nobody logs in with its placeholder hash). */
export async function adminApi(agent: AgentClient, user: string): Promise<ReturnType<typeof createCaller>> {
  useTempDataDir();
  const { store } = authRuntime().auth;
  const account = store.findUser(user) ?? store.addUser(user, "admin", "$scrypt$placeholder");
  const { token } = store.createSession(account.id, { ip: "192.0.2.50", userAgent: "kernel-test" });
  const headers = new Headers({
    host: HOST,
    origin: `http://${HOST}`,
    "sec-fetch-site": "same-origin",
    cookie: `${COOKIE}=${token}`,
    "x-forwarded-for": "192.0.2.50",
    "user-agent": "kernel-test",
  });
  const ctx = await createTRPCContext({ headers, resHeaders: new Headers() });
  if (ctx.session?.user.role !== "admin") throw new Error(`adminApi: the cookie of ${user} gave no admin session`);
  return createCaller({ ...ctx, agent });
}
