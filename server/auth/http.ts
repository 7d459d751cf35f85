// The HTTP side of auth: the session cookie, the facts a request carries (client address, https, Origin),
// and the Origin check that stops cross-site requests (CSRF, DNS rebinding pages) from changing anything.
//
// Cookie: `lvsdash_session` (over plain http) or `__Host-lvsdash_session` (over https: the __Host- prefix makes
// the browser insist on Secure, Path=/ and no Domain), HttpOnly (page scripts cannot read it), SameSite=Strict
// (never sent on a request another site starts), Path=/, Max-Age = the session's absolute lifetime. The
// server enforces the idle and absolute expiry itself; the cookie's age only stops the browser keeping it.
//
// Origin: a request that changes state (a mutation) or opens a live stream (a subscription) must carry an
// Origin header whose host is the Host it was sent to (or one in LVSDASH_ALLOWED_ORIGINS, for a reverse proxy
// that rewrites Host). A missing Origin is refused too: every browser sends one on a POST, so only
// non-browser clients omit it, and those have no business changing a director without a browser session.
// The one exception is a GET subscription (EventSource) from our own pages, which browsers send without an
// Origin but with `Sec-Fetch-Site: same-origin`, a header page scripts cannot set.

export const COOKIE = "lvsdash_session";
export const SECURE_COOKIE = `__Host-${COOKIE}`;

/** What the security checks need from one HTTP request. */
export interface RequestFacts {
  /** The client's address as Next.js reports it (X-Forwarded-For's last entry); "unknown" when absent. */
  ip: string;
  /** True when the request came over https (to the server, or to a reverse proxy that says so). */
  secure: boolean;
  /** The Origin header (null when absent). */
  origin: string | null;
  /** The Host header: what the browser thinks it is talking to. */
  host: string | null;
  secFetchSite: string | null;
  userAgent: string;
  /** The session token from the cookie, if any. */
  token: string | null;
}

/** Reads one cookie from a Cookie header (first occurrence wins, as browsers send the most specific first). */
export function readCookie(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

export function requestFacts(headers: Headers): RequestFacts {
  const forwarded = headers.get("x-forwarded-for");
  const ip = forwarded?.split(",").at(-1)?.trim() || "unknown";
  const origin = headers.get("origin");
  const secure = headers.get("x-forwarded-proto") === "https" || (origin?.startsWith("https://") ?? false);
  const cookie = headers.get("cookie");
  return {
    ip: ip.slice(0, 64),
    secure,
    origin,
    host: headers.get("host"),
    secFetchSite: headers.get("sec-fetch-site"),
    userAgent: (headers.get("user-agent") ?? "").slice(0, 256),
    token: readCookie(cookie, SECURE_COOKIE) ?? readCookie(cookie, COOKIE),
  };
}

export interface CookieOptions {
  secure: boolean;
  /** Seconds; 0 deletes the cookie. */
  maxAgeSeconds: number;
}

/** The Set-Cookie value for the session token (empty token + maxAge 0: delete it). */
export function sessionCookie(token: string, options: CookieOptions): string {
  const name = options.secure ? SECURE_COOKIE : COOKIE;
  const parts = [`${name}=${token}`, "Path=/", "HttpOnly", "SameSite=Strict", `Max-Age=${Math.max(0, Math.floor(options.maxAgeSeconds))}`];
  if (options.secure) parts.push("Secure");
  return parts.join("; ");
}

/** Set-Cookie values that delete the session cookie under both names. */
export function clearSessionCookies(): string[] {
  return [sessionCookie("", { secure: false, maxAgeSeconds: 0 }), sessionCookie("", { secure: true, maxAgeSeconds: 0 })];
}

/** Origins allowed beside the request's own Host: LVSDASH_ALLOWED_ORIGINS, comma-separated full origins. */
export function allowedOriginsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.LVSDASH_ALLOWED_ORIGINS ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Why a state-changing or streaming request must be refused, or null when its Origin is ours.
 * `kind` "subscription" also accepts a same-origin GET without Origin (see the top of this file).
 */
export function originProblem(facts: RequestFacts, kind: "mutation" | "subscription", allowed: string[] = allowedOriginsFromEnv()): string | null {
  if (facts.origin === null || facts.origin === "null") {
    if (kind === "subscription" && facts.origin === null && facts.secFetchSite === "same-origin") return null;
    return "the request has no Origin header: changes are only accepted from the dashboard's own pages";
  }
  if (allowed.includes(facts.origin)) return null;
  let originHost: string;
  try {
    const url = new URL(facts.origin);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("scheme");
    originHost = url.host;
  } catch {
    return "the request's Origin header is not an http(s) origin";
  }
  if (facts.host === null || originHost !== facts.host.toLowerCase()) {
    return `the request comes from ${facts.origin}, not from this dashboard (${facts.host ?? "no Host header"}): refused`;
  }
  return null;
}
