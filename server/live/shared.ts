// The web server's one sampler: started at boot by instrumentation.ts (Next's register()), or else on first use
// (the first page or subscription that asks), then kept for the life of the process on globalThis, as server/api/trpc.ts keeps the agent client: Next's dev server
// re-evaluates modules on every change, and a second sampler would read the agent and write history twice.
//
// It reads the director through the agent's `ipvs.counters` op (counters.ts: the table only when it changed,
// the counters in flat arrays) and records into HistoryStore in the data
// directory (LVSDASH_DATA_DIR, else /var/lib/lvs-dashboard; `npm start` creates it for the lvsdash user).
// When that directory cannot be opened the live view still runs, and every event says why history is off.
import type { AgentClient } from "@/server/agent/client";
import { shutdownSignal } from "@/server/api/shutdown";
import { DEFAULT_DATA_DIR, HistoryStore, dataDir } from "@/server/history/store";

import { createCountersSource } from "./counters";
import { LiveSampler } from "./sampler";

export interface LiveRuntime {
  sampler: LiveSampler;
  /** null when the data directory could not be opened (the sampler's history status says why). */
  history: HistoryStore | null;
}

/** A sampler over `agent` recording into `dir` (opened here; closed by the returned close()). */
export function createLiveRuntime(agent: AgentClient, dir: string = dataDir()): LiveRuntime {
  let history: HistoryStore | null = null;
  let historyError: string | null = null;
  try {
    history = HistoryStore.open(dir);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    historyError =
      `cannot open the history store in ${dir} (${why}): create that directory owned by the user the web server ` +
      `runs as (npm start does: lvsdash), or point LVSDASH_DATA_DIR at a writable one` +
      (dir === DEFAULT_DATA_DIR ? "" : ` (default ${DEFAULT_DATA_DIR})`);
    console.error(`lvs-dashboard: ${historyError}`);
  }
  const sampler = new LiveSampler({
    read: createCountersSource(agent),
    history,
    historyDir: dir,
    historyError,
    log: (message, error) => console.error(`lvs-dashboard: ${message}:`, error),
  });
  return { sampler, history };
}

const globalForLive = globalThis as unknown as { lvsdashLive?: LiveRuntime };

/**
 * The process's sampler, started on the first call. When the server is asked to stop (SIGTERM, SIGINT:
 * server/api/shutdown.ts), the sampler stops and the history store writes its open chunks at once, so a restart
 * loses no history (without it the last minute of 1-second samples would be gone); at process exit too, for an
 * exit that no signal asked for. close() is synchronous and writes once.
 */
export function sharedLive(agent: AgentClient): LiveRuntime {
  if (!globalForLive.lvsdashLive) {
    const live = createLiveRuntime(agent);
    globalForLive.lvsdashLive = live;
    live.sampler.start();
    shutdownSignal().addEventListener(
      "abort",
      () => {
        live.sampler.stop().then(
          () => live.history?.close(),
          (error: unknown) => console.error("lvs-dashboard: stopping the sampler:", error),
        );
      },
      { once: true },
    );
    process.once("exit", () => {
      void live.sampler.stop();
      live.history?.close();
    });
  }
  return globalForLive.lvsdashLive;
}
