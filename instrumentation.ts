// Next.js calls register() once when the server starts (node_modules/next/dist/docs: instrumentation).
// lvs-dashboard uses it for three things: the first-start setup link (server/auth/first-start.ts); starting the
// live sampler (server/live/shared.ts) at boot, so that history is recorded from the server's start and the
// first page opened finds a sample ready, instead of waiting for a first page view to start it; and the watcher
// that writes how each wizard change ended into the audit log (server/audit/wizard-outcomes.ts).
export async function register(): Promise<void> {
  // Not while `next build` prerenders (that is no server start). The imports sit inside the NEXT_RUNTIME ===
  // "nodejs" test, as Next's docs write it, so that the edge bundle leaves them out (better-sqlite3, sockets).
  if (process.env.NEXT_PHASE === "phase-production-build") return;
  if (process.env.NEXT_RUNTIME === "nodejs") {
    const { announceFirstStart } = await import("@/server/auth/first-start");
    announceFirstStart();
    // The process's one sampler (cached on globalThis: the routers' sharedLive calls find this one), reading
    // through the process's one agent client. An agent that is not up yet is no error here: the sampler
    // publishes "down" and starts reading when the agent answers.
    const { sharedLive } = await import("@/server/live/shared");
    const { sharedAgent } = await import("@/server/api/trpc");
    sharedLive(sharedAgent());
    const { authRuntime } = await import("@/server/auth/service");
    const { startWizardOutcomeWatcher } = await import("@/server/audit/wizard-outcomes");
    try {
      startWizardOutcomeWatcher(sharedAgent(), authRuntime().audit);
    } catch (error) {
      // The data directory cannot be opened: every page says so already (the auth store is in it).
      console.error("lvs-dashboard: wizard outcomes will not be audited:", error instanceof Error ? error.message : error);
    }
  }
}
