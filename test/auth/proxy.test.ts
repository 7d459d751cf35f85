// proxy.ts (Next's middleware): page views without a session go to /login, other /api routes get 401, and
// every answer carries the anti-framing and no-referrer headers.
import { NextRequest } from "next/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { proxy } from "@/proxy";
import { COOKIE } from "@/server/auth/http";

import { noAgent, type TestAuth } from "./context";
import { installTestRuntime } from "./http-helpers";

let env: TestAuth;
let token: string;

beforeAll(() => {
  env = installTestRuntime(noAgent);
  const u = env.store.addUser("alice", "viewer", "$scrypt$placeholder");
  token = env.store.createSession(u.id, { ip: "x", userAgent: "t" }).token;
});
afterAll(() => {
  delete (globalThis as { lvsdashAuth?: unknown }).lvsdashAuth;
});

/** The redirect's path and query (NextRequest spells 127.0.0.1 "localhost"; the real server keeps the Host). */
const where = (res: Response) => {
  const u = new URL(res.headers.get("location") ?? "http://x/(none)");
  return `${u.pathname}${u.search}`;
};

const get = (path: string, cookie?: string) =>
  proxy(new NextRequest(`http://127.0.0.1:3000${path}`, { headers: cookie ? { cookie: `${COOKIE}=${cookie}` } : {} }));

describe("proxy", () => {
  it("sends a page view without a valid session to /login, remembering where it was going", () => {
    for (const cookie of [undefined, "A".repeat(43), "garbage"]) {
      const res = get("/connections?vip=192.0.2.100", cookie);
      expect(res.status).toBe(307);
      expect(where(res)).toBe("/login?next=%2Fconnections%3Fvip%3D192.0.2.100");
    }
  });

  it("lets a page view with a valid session through, and sends /login on to the overview", () => {
    const res = get("/connections", token);
    expect(res.headers.get("x-middleware-next")).toBe("1");
    expect(where(get("/login", token))).toBe("/");
    expect(get("/login").headers.get("x-middleware-next")).toBe("1");
  });

  it("answers other /api routes (downloads, uploads) 401 without a session; leaves tRPC and /metrics to themselves", async () => {
    const res = get("/api/evidence/0a1b2c3d-4");
    expect(res.status).toBe(401);
    expect(await res.text()).toMatch(/sign in first/);
    expect(get("/api/evidence/0a1b2c3d-4", token).headers.get("x-middleware-next")).toBe("1");
    expect(get("/api/trpc/auth.status").headers.get("x-middleware-next")).toBe("1");
    expect(get("/metrics").headers.get("x-middleware-next")).toBe("1");
  });

  it("sends anti-framing, nosniff and no-referrer headers on every answer", () => {
    for (const res of [get("/"), get("/login"), get("/audit", token), get("/api/x")]) {
      expect(res.headers.get("x-frame-options")).toBe("DENY");
      expect(res.headers.get("content-security-policy")).toBe("frame-ancestors 'none'");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    }
  });

  it("expires with the session: after logout the same cookie goes to /login", () => {
    const u = env.store.findUser("alice")!;
    const { token: t, session } = env.store.createSession(u.id, { ip: "x", userAgent: "t" });
    expect(get("/", t).status).not.toBe(307);
    env.store.endSession(session.id);
    expect(get("/", t).status).toBe(307);
  });
});
