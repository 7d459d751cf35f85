// Calls tRPC procedures the way the browser does, through the real route handler (app/api/trpc/[trpc]/route.ts):
// GET for queries and subscriptions, POST for mutations, with the cookie, Origin, Host and Sec-Fetch-Site
// headers a test chooses. The process's auth runtime and agent are the test's (installTestRuntime).
import { GET, POST } from "@/app/api/trpc/[trpc]/route";
import type { AgentClient } from "@/server/agent/client";
import { COOKIE } from "@/server/auth/http";

import { HOST, ORIGIN, testAuth, type TestAuth } from "./context";

export type ProcType = "query" | "mutation" | "subscription";

export interface CallOptions {
  input?: unknown;
  /** The session token for the cookie (null: no cookie). */
  token?: string | null;
  /** The Origin header; null: none. Default: the dashboard's own. */
  origin?: string | null;
  host?: string;
  secFetchSite?: string | null;
  proto?: "http" | "https";
  forwardedFor?: string;
}

export interface CallResult {
  status: number;
  /** The tRPC error code (UNAUTHORIZED, FORBIDDEN, ...) or null when the call succeeded. */
  code: string | null;
  message: string | null;
  data: unknown;
  setCookie: string[];
}

const holder = globalThis as unknown as { lvsdashAuth?: unknown; lvsdashAgent?: unknown };

/** Makes the route handler use this auth store, audit log and agent. */
export function installTestRuntime(agent: AgentClient, env: TestAuth = testAuth()): TestAuth {
  holder.lvsdashAuth = { auth: env.auth, audit: env.audit };
  holder.lvsdashAgent = agent;
  return env;
}

const STATUS: Record<string, number> = { UNAUTHORIZED: 401, FORBIDDEN: 403, BAD_REQUEST: 400, TOO_MANY_REQUESTS: 429, SERVICE_UNAVAILABLE: 503 };

export async function call(path: string, type: ProcType, o: CallOptions = {}): Promise<CallResult> {
  const headers = new Headers({ host: o.host ?? HOST, "x-forwarded-for": o.forwardedFor ?? "192.0.2.77", "user-agent": "vitest" });
  const origin = o.origin === undefined ? ORIGIN : o.origin;
  if (origin !== null) headers.set("origin", origin);
  const sfs = o.secFetchSite === undefined ? (origin === ORIGIN ? "same-origin" : null) : o.secFetchSite;
  if (sfs !== null) headers.set("sec-fetch-site", sfs);
  if (o.token) headers.set("cookie", `theme=dark; ${COOKIE}=${o.token}`);
  if (o.proto) headers.set("x-forwarded-proto", o.proto);
  let url = `http://${o.host ?? HOST}/api/trpc/${path}`;
  let response: Response;
  // An AbortController ends a subscription's stream once the first answer has been read.
  const abort = new AbortController();
  if (type === "mutation") {
    headers.set("content-type", "application/json");
    response = await POST(new Request(url, { method: "POST", headers, body: JSON.stringify(o.input ?? {}), signal: abort.signal }));
  } else {
    if (o.input !== undefined) url += `?input=${encodeURIComponent(JSON.stringify(o.input))}`;
    if (type === "subscription") headers.set("accept", "text/event-stream");
    response = await GET(new Request(url, { headers, signal: abort.signal }));
  }
  const setCookie = response.headers.getSetCookie();
  const contentType = response.headers.get("content-type") ?? "";
  if (contentType.includes("text/event-stream")) {
    // tRPC answers a subscription with 200 and `event: connected` at once, and runs the procedure (and its
    // middlewares) after: read events until the first one that is not `connected` or a ping, then hang up.
    const reader = response.body!.getReader();
    let text = "";
    const deadline = Date.now() + 3_000;
    const firstReal = () => text.split("\n\n").slice(0, -1).find((e) => !/^event: (connected|ping)$/m.test(e));
    while (Date.now() < deadline && !firstReal()) {
      const { value, done } = await Promise.race([
        reader.read(),
        new Promise<{ value: undefined; done: true }>((r) => setTimeout(() => r({ value: undefined, done: true }), 1_000)),
      ]);
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    abort.abort();
    await reader.cancel().catch(() => undefined);
    const event = firstReal() ?? "";
    const m = /^event: serialized-error$/m.test(event) ? /"code":"([A-Z_]+)"/.exec(event) : null;
    const message = m ? (/"message":"((?:[^"\\]|\\.)*)"/.exec(event)?.[1] ?? null) : null;
    // The HTTP status of a stream is always 200: report the error's as the status the JSON answer would have.
    const status = m ? (STATUS[m[1]!] ?? 500) : response.status;
    return { status, code: m ? m[1]! : null, message, data: event, setCookie };
  }
  const json = (await response.json()) as { result?: { data: unknown }; error?: { message: string; data?: { code?: string } } };
  return {
    status: response.status,
    code: json.error?.data?.code ?? null,
    message: json.error?.message ?? null,
    data: json.result?.data,
    setCookie,
  };
}
