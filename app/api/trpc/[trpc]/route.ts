// tRPC over HTTP (fetch adapter): GET for queries, POST for mutations and batches.
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";

import { appRouter } from "@/server/api/root";
import { untilShutdown } from "@/server/api/shutdown";
import { createTRPCContext } from "@/server/api/trpc";

const handler = (request: Request) => {
  // Every request, subscriptions above all, ends when the server stops (server/api/shutdown.ts says why).
  const req = new Request(request, { signal: untilShutdown(request.signal) });
  return fetchRequestHandler({
    endpoint: "/api/trpc",
    req,
    router: appRouter,
    // resHeaders: where the auth router sets the session cookie.
    createContext: ({ resHeaders }) => createTRPCContext({ headers: req.headers, resHeaders }),
    onError({ path, error }) {
      // The browser got a generic message; the original error (the adapter's `cause`) goes to the log.
      if (error.code === "INTERNAL_SERVER_ERROR") console.error(`tRPC failed on ${path ?? "<no-path>"}:`, error.cause ?? error);
    },
  });
};

export { handler as GET, handler as POST };
