"use client";
// A tRPC client without streaming, for the calls that set or clear the session cookie (login, first-admin
// setup, logout): a streamed batch (the app's httpBatchStreamLink) has sent its response headers before the
// procedure runs, so a Set-Cookie from it would be lost.
import { createTRPCClient, httpLink, TRPCClientError } from "@trpc/client";

import type { AppRouter } from "@/server/api/root";

export const authClient = createTRPCClient<AppRouter>({ links: [httpLink({ url: "/api/trpc" })] });

/** The message to show for a failed call (the server's messages are written for the person at the form). */
export function errorMessage(error: unknown): string {
  if (error instanceof TRPCClientError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

/** Where to go after signing in: a path on this site only (no //host, no scheme: not an open redirect). */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\") || next.startsWith("/login")) return "/";
  return next;
}
