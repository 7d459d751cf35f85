// Auth for route handlers outside tRPC (app/metrics, app/api/*): the same session cookie, the same roles.
//
//   export async function GET(request: Request) {
//     const denied = requireSession(request, "viewer");
//     if (denied) return denied;                      // 401 / 403 with a one-line reason
//     ...
//   }
//
// /metrics is for Prometheus, which has no browser session: it also accepts `Authorization: Bearer <token>`
// when LVSDASH_METRICS_TOKEN is set (32 characters or more; Prometheus: `authorization: { credentials_file }`).
// Without a token configured, /metrics needs a signed-in session like every other page. No address-based
// exception: behind Next.js the client address comes from a header a client can forge (see limiter.ts).
import { createHash, timingSafeEqual } from "node:crypto";

import { originProblem, requestFacts } from "./http";
import { authRuntime } from "./service";
import type { Role, Session } from "./store";

const text = (status: number, message: string, extra: Record<string, string> = {}) =>
  new Response(`${message}\n`, { status, headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", ...extra } });

/** The request's session if it has the role; else null and the Response to send. */
export function sessionOrResponse(request: Request, role: Role = "viewer"): { session: Session; response: null } | { session: null; response: Response } {
  const facts = requestFacts(request.headers);
  const session = authRuntime().auth.sessionFor(facts);
  if (!session) return { session: null, response: text(401, "sign in first: the session is missing or has expired") };
  if (role === "admin" && session.user.role !== "admin") return { session: null, response: text(403, `${session.user.name} is a viewer: this needs the admin role`) };
  if (request.method !== "GET" && request.method !== "HEAD") {
    const problem = originProblem(facts, "mutation");
    if (problem) return { session: null, response: text(403, problem) };
  }
  return { session, response: null };
}

/** null when the request may go on; else the 401/403 Response to return. */
export function requireSession(request: Request, role: Role = "viewer"): Response | null {
  return sessionOrResponse(request, role).response;
}

export const MIN_METRICS_TOKEN = 32;

const digest = (s: string) => createHash("sha256").update(s).digest();

/** True when the request carries the configured metrics bearer token (compared in constant time). */
export function hasMetricsToken(request: Request, configured: string | undefined = process.env.LVSDASH_METRICS_TOKEN): boolean {
  if (!configured || configured.length < MIN_METRICS_TOKEN) return false;
  const header = request.headers.get("authorization") ?? "";
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m) return false;
  return timingSafeEqual(digest(m[1]!), digest(configured));
}

/** /metrics: the bearer token, or a signed-in session. */
export function requireMetricsAccess(request: Request): Response | null {
  if (hasMetricsToken(request)) return null;
  const denied = requireSession(request, "viewer");
  if (!denied) return null;
  return text(401, "metrics need `Authorization: Bearer <LVSDASH_METRICS_TOKEN>` or a signed-in session", {
    "www-authenticate": 'Bearer realm="lvs-dashboard metrics"',
  });
}
