// Next.js proxy (what Next 15 called middleware.ts): runs before every page and route handler.
//   - a page view without a valid session goes to /login?next=<where it was going>
//   - a route handler under /api/ (other than tRPC, which answers 401 itself as JSON) gets 401
//   - /login with a valid session goes on to the overview
//   - every response says: no framing (clickjacking), no MIME sniffing, no Referer (the setup link's token
//     is in a URL)
// The session is checked against the auth store, not just "a cookie is there": the proxy runs in the Node.js
// runtime (Next 16's default) and the check is one indexed SQLite read. The tRPC procedures and the route
// handlers check again themselves (server/api/trpc.ts, server/auth/guard.ts): this is the first gate, not the
// only one.
import { NextResponse, type NextRequest } from "next/server";

import { requestFacts } from "@/server/auth/http";
import { authRuntime } from "@/server/auth/service";

const PUBLIC_PAGES = new Set(["/login"]);

function withSecurityHeaders(res: NextResponse): NextResponse {
  res.headers.set("x-frame-options", "DENY");
  res.headers.set("content-security-policy", "frame-ancestors 'none'");
  res.headers.set("x-content-type-options", "nosniff");
  res.headers.set("referrer-policy", "no-referrer");
  return res;
}

export function proxy(request: NextRequest): NextResponse {
  const { pathname, search } = request.nextUrl;
  // tRPC and /metrics answer unauthenticated requests themselves (JSON errors, Prometheus' bearer token).
  if (pathname.startsWith("/api/trpc") || pathname === "/metrics") return withSecurityHeaders(NextResponse.next());

  let signedIn = false;
  try {
    signedIn = authRuntime().auth.sessionFor(requestFacts(request.headers)) !== null;
  } catch (e) {
    // No auth store (data directory not writable): nobody is signed in; the login page says why.
    console.error("lvs-dashboard: proxy:", e instanceof Error ? e.message : e);
  }

  if (pathname.startsWith("/api/")) {
    if (signedIn) return withSecurityHeaders(NextResponse.next());
    return withSecurityHeaders(
      new NextResponse("sign in first: the session is missing or has expired\n", {
        status: 401,
        headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
      }),
    );
  }
  if (PUBLIC_PAGES.has(pathname)) {
    if (signedIn && !request.nextUrl.searchParams.has("setup")) return withSecurityHeaders(NextResponse.redirect(new URL("/", request.url)));
    return withSecurityHeaders(NextResponse.next());
  }
  if (!signedIn) {
    const login = new URL("/login", request.url);
    login.searchParams.set("next", `${pathname}${search}`);
    return withSecurityHeaders(NextResponse.redirect(login));
  }
  return withSecurityHeaders(NextResponse.next());
}

export const config = {
  // Everything but Next's own static files and the icon.
  matcher: ["/((?!_next/static|_next/image|favicon\\.ico).*)"],
};
