// The web server's stop. `next start` answers SIGTERM/SIGINT by closing its HTTP server and waiting for the
// requests in flight, and a live page's SSE subscription never ends by itself: without this, a stop waits on
// every open dashboard tab until server/main.ts loses patience (10 s) and kills the process, and whatever
// was meant to happen on exit (the history store writing its open chunks) does not.
//
// So the first SIGTERM/SIGINT aborts one process-wide signal. The tRPC route folds it into every request's
// signal (app/api/trpc/[trpc]/route.ts): each subscription's stream ends as if its tab had closed (the client
// reconnects, to the next server), and the HTTP server can close. The sampler (server/live/shared.ts) flushes
// the history store on it, at once, not at exit.
const globalForShutdown = globalThis as unknown as { lvsdashShutdown?: AbortController };

/** Aborted when the process is asked to stop (SIGTERM, SIGINT); the same signal for the whole process. */
export function shutdownSignal(): AbortSignal {
  let controller = globalForShutdown.lvsdashShutdown;
  if (!controller) {
    const created = new AbortController();
    controller = globalForShutdown.lvsdashShutdown = created;
    const onSignal = (signal: NodeJS.Signals) => {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      created.abort(new Error(`the web server is stopping (${signal})`));
      // Listening replaced the default action; when nobody else (Next) handles the signal, do what it would.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  }
  return controller.signal;
}

/** `signal`, or the process's stop, whichever comes first. */
export function untilShutdown(signal: AbortSignal): AbortSignal {
  return AbortSignal.any([signal, shutdownSignal()]);
}
