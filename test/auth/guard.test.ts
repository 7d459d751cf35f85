// Route handlers outside tRPC: /metrics takes Prometheus' bearer token or a session; other routes a session
// of the right role, and a same-origin request when they change something.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { GET as metrics } from "@/app/metrics/route";
import { COOKIE } from "@/server/auth/http";
import { hasMetricsToken, requireMetricsAccess, requireSession } from "@/server/auth/guard";

import { HOST, noAgent, ORIGIN, type TestAuth } from "./context";
import { installTestRuntime } from "./http-helpers";

const TOKEN = "prometheus-token-0123456789abcdef-xyz";
let env: TestAuth;
let viewer: string;
let admin: string;

beforeAll(() => {
  env = installTestRuntime(noAgent);
  viewer = env.store.createSession(env.store.addUser("victor", "viewer", "$scrypt$x").id, { ip: "x", userAgent: "t" }).token;
  admin = env.store.createSession(env.store.addUser("alice", "admin", "$scrypt$x").id, { ip: "x", userAgent: "t" }).token;
});
afterAll(() => {
  delete (globalThis as { lvsdashAuth?: unknown }).lvsdashAuth;
  delete process.env.LVSDASH_METRICS_TOKEN;
});

const req = (headers: Record<string, string> = {}, method = "GET") => new Request(`http://${HOST}/x`, { method, headers: { host: HOST, ...headers } });

describe("/metrics access", () => {
  it("needs the configured bearer token or a session; says how in a 401 with WWW-Authenticate", async () => {
    process.env.LVSDASH_METRICS_TOKEN = TOKEN;
    const res = await metrics(req());
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect((await metrics(req({ authorization: `Bearer ${TOKEN}x` }))).status).toBe(401);
    expect((await metrics(req({ authorization: `Basic ${TOKEN}` }))).status).toBe(401);
    expect(requireMetricsAccess(req({ authorization: `Bearer ${TOKEN}` }))).toBeNull();
    expect(requireMetricsAccess(req({ cookie: `${COOKIE}=${viewer}` }))).toBeNull();
  });

  it("ignores a token shorter than 32 characters (and then only sessions get in)", () => {
    expect(hasMetricsToken(req({ authorization: "Bearer short" }), "short")).toBe(false);
    expect(hasMetricsToken(req({ authorization: "Bearer " }), "")).toBe(false);
    expect(hasMetricsToken(req({ authorization: `Bearer ${TOKEN}` }), TOKEN)).toBe(true);
  });
});

describe("requireSession", () => {
  it("answers 401 without a session, 403 for a viewer on an admin route, and lets the right role through", async () => {
    expect(requireSession(req())?.status).toBe(401);
    expect(requireSession(req({ cookie: `${COOKIE}=${viewer}` }))).toBeNull();
    const denied = requireSession(req({ cookie: `${COOKIE}=${viewer}` }), "admin");
    expect(denied?.status).toBe(403);
    expect(await denied?.text()).toMatch(/needs the admin role/);
    expect(requireSession(req({ cookie: `${COOKIE}=${admin}` }), "admin")).toBeNull();
  });

  it("refuses a POST from another site or without Origin, even with a valid session", () => {
    const cookie = `${COOKIE}=${admin}`;
    expect(requireSession(req({ cookie, origin: "http://evil.example" }, "POST"), "admin")?.status).toBe(403);
    expect(requireSession(req({ cookie }, "POST"), "admin")?.status).toBe(403);
    expect(requireSession(req({ cookie, origin: ORIGIN }, "POST"), "admin")).toBeNull();
  });
});
