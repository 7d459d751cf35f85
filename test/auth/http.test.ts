// Sign-in over HTTP through the real route: the cookie's flags, the session it opens, logout, the login's
// Origin check, the audit entries (with the password redacted).
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { hashPassword } from "@/server/auth/password";
import { originProblem } from "@/server/auth/http";

import { facts, noAgent, TEST_SCRYPT, testAuth, type TestAuth } from "./context";
import { call, installTestRuntime } from "./http-helpers";

let env: TestAuth;
const PASSWORD = "s3cret-Passphrase-42";

beforeAll(async () => {
  env = installTestRuntime(noAgent);
  env.store.addUser("alice", "admin", await hashPassword(PASSWORD, TEST_SCRYPT));
  env.store.addUser("victor", "viewer", await hashPassword(PASSWORD, TEST_SCRYPT));
});
afterAll(() => {
  delete (globalThis as { lvsdashAuth?: unknown }).lvsdashAuth;
});

const tokenOf = (setCookie: string[]) => /^(?:__Host-)?lvsdash_session=([^;]*)/.exec(setCookie[0] ?? "")?.[1] ?? null;

describe("login over HTTP", () => {
  it("sets an HttpOnly, SameSite=Strict, Path=/ cookie (no Secure over http) that opens a session", async () => {
    const res = await call("auth.login", "mutation", { input: { name: "alice", password: PASSWORD } });
    expect(res.status).toBe(200);
    expect(res.setCookie).toHaveLength(1);
    const cookie = res.setCookie[0]!;
    expect(cookie).toMatch(/^lvsdash_session=[A-Za-z0-9_-]{43}; /);
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Strict");
    expect(cookie).toContain("Path=/");
    expect(cookie).toMatch(/Max-Age=43\d\d\d/); // 12 h
    expect(cookie).not.toContain("Secure");
    expect(cookie).not.toMatch(/Domain=/i);

    const me = await call("auth.me", "query", { token: tokenOf(res.setCookie) });
    expect(me.data).toMatchObject({ name: "alice", role: "admin" });
  });

  it("over https: Secure, and the __Host- prefix (the browser then refuses it without Secure or with a Domain)", async () => {
    const res = await call("auth.login", "mutation", { input: { name: "alice", password: PASSWORD }, proto: "https", origin: "https://127.0.0.1:3000" });
    expect(res.status).toBe(200);
    expect(res.setCookie[0]).toMatch(/^__Host-lvsdash_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
  });

  it("answers a wrong password and an unknown user with the same 401 and message, and sets no cookie", async () => {
    const wrong = await call("auth.login", "mutation", { input: { name: "alice", password: "nope-nope" }, forwardedFor: "198.51.100.1" });
    const unknown = await call("auth.login", "mutation", { input: { name: "mallory", password: "nope-nope" }, forwardedFor: "198.51.100.2" });
    expect([wrong.status, wrong.code, wrong.message]).toEqual([401, "UNAUTHORIZED", "wrong user name or password"]);
    expect([unknown.status, unknown.code, unknown.message]).toEqual([401, "UNAUTHORIZED", "wrong user name or password"]);
    expect(wrong.setCookie).toEqual([]);
  });

  it("answers 429 after repeated failures, even with the right password", async () => {
    for (let i = 0; i < 5; i++) await call("auth.login", "mutation", { input: { name: "victor", password: "wrong-one" }, forwardedFor: `203.0.113.${i}` });
    const res = await call("auth.login", "mutation", { input: { name: "victor", password: PASSWORD }, forwardedFor: "203.0.113.99" });
    expect([res.status, res.code]).toEqual([429, "TOO_MANY_REQUESTS"]);
  });

  it("refuses a login from another site (login CSRF) or without Origin", async () => {
    for (const origin of ["http://evil.example", null, "null"]) {
      const res = await call("auth.login", "mutation", { input: { name: "alice", password: PASSWORD }, origin });
      expect([res.status, res.code]).toEqual([403, "FORBIDDEN"]);
      expect(res.setCookie).toEqual([]);
    }
  });

  it("logout ends the session on the server and clears the cookie", async () => {
    const login = await call("auth.login", "mutation", { input: { name: "alice", password: PASSWORD } });
    const token = tokenOf(login.setCookie);
    const out = await call("auth.logout", "mutation", { token });
    expect(out.status).toBe(200);
    expect(out.setCookie.every((c) => /Max-Age=0/.test(c))).toBe(true);
    expect((await call("auth.me", "query", { token })).code).toBe("UNAUTHORIZED");
  });

  it("records logins in the audit log with the password redacted", async () => {
    await call("auth.login", "mutation", { input: { name: "alice", password: PASSWORD } });
    const entries = env.audit.query({ op: "auth.login" }).entries;
    expect(entries.some((e) => e.result === "ok" && e.input.includes('"name":"alice"'))).toBe(true);
    expect(entries.some((e) => e.result === "error" && e.error === "wrong user name or password" && e.user === "(alice)" && e.role === null)).toBe(true);
    for (const e of entries) {
      expect(e.input).toContain('"password":"[redacted]"');
      expect(e.input).not.toContain(PASSWORD);
    }
  });
});

describe("a login flood over HTTP", () => {
  it("holds at most 1 password check running and 2 waiting; the rest get 429 at once, and nothing is left behind", async () => {
    const flood = testAuth({ limiter: { maxConcurrent: 1, maxQueued: 2, maxTracked: 50 } });
    installTestRuntime(noAgent, flood);
    try {
      const responses = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          call("auth.login", "mutation", { input: { name: `user${i}`, password: "guess-guess" }, forwardedFor: `198.51.100.${i}` }),
        ),
      );
      const statuses = responses.map((r) => r.status);
      expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
      expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(3 + 2 * 3); // 3 here (1 running, 2 queued); slack for a slot freed mid-flood
      expect(responses.filter((r) => r.status === 429).every((r) => /busy|too many/.test(r.message ?? ""))).toBe(true);
      expect(flood.auth.limiter.stats()).toMatchObject({ running: 0, queued: 0 });
      expect(flood.auth.limiter.stats().users).toBeLessThanOrEqual(50);
      expect(flood.store.sessionCount()).toBe(0);
    } finally {
      installTestRuntime(noAgent, env);
    }
  });
});

describe("originProblem", () => {
  it("accepts the dashboard's own origin, and an allowed one; refuses others", () => {
    expect(originProblem(facts(), "mutation")).toBeNull();
    expect(originProblem(facts({ origin: "http://127.0.0.1:3001" }), "mutation")).toMatch(/not from this dashboard/);
    expect(originProblem(facts({ origin: "http://127.0.0.1.evil.example:3000" }), "mutation")).toMatch(/not from this dashboard/);
    expect(originProblem(facts({ origin: "file://" }), "mutation")).toMatch(/not an http/);
    expect(originProblem(facts({ origin: "https://lvs.example.org", host: "127.0.0.1:3000" }), "mutation", ["https://lvs.example.org"])).toBeNull();
    expect(originProblem(facts({ origin: null }), "mutation")).toMatch(/no Origin/);
  });

  it("lets a same-origin EventSource (no Origin, Sec-Fetch-Site: same-origin) open a subscription, nothing else", () => {
    expect(originProblem(facts({ origin: null, secFetchSite: "same-origin" }), "subscription")).toBeNull();
    expect(originProblem(facts({ origin: null, secFetchSite: "cross-site" }), "subscription")).toMatch(/no Origin/);
    expect(originProblem(facts({ origin: null, secFetchSite: null }), "subscription")).toMatch(/no Origin/);
    expect(originProblem(facts({ origin: null, secFetchSite: "same-origin" }), "mutation")).toMatch(/no Origin/);
  });
});
