// History of a virtual service or one of its real servers, from the store the live sampler writes
// (server/history/): a chart's series over one of the page's time ranges, and the overview's sparklines.
import { TRPCError } from "@trpc/server";
import { z } from "zod";

import { createTRPCRouter, viewerProcedure } from "@/server/api/trpc";
import { METRICS, type HistoryStore } from "@/server/history/store";
import { sharedLive } from "@/server/live/shared";
import type { AgentClient } from "@/server/agent/client";

/**
 * The ranges a page offers, with the step each is drawn at (about 150-360 points). 5 minutes at 2 s: Linux 6.1
 * updates the counters netlink reports every 2 s, so a 1 s step would zig-zag (server/history/README.md).
 * Up to an hour comes from 1-second samples, longer from 1-minute rollups.
 */
export const RANGES = {
  "5m": { ms: 5 * 60_000, stepMs: 2_000 },
  "1h": { ms: 60 * 60_000, stepMs: 10_000 },
  "6h": { ms: 6 * 60 * 60_000, stepMs: 60_000 },
  "24h": { ms: 24 * 60 * 60_000, stepMs: 5 * 60_000 },
  "7d": { ms: 7 * 24 * 60 * 60_000, stepMs: 30 * 60_000 },
} as const;
export type HistoryRange = keyof typeof RANGES;
const rangeInput = z.enum(Object.keys(RANGES) as [HistoryRange, ...HistoryRange[]]);

/** Sparklines: the last 5 minutes of each service's new connections per second, every 5 s. */
const SPARK_MS = 5 * 60_000;
const SPARK_STEP_MS = 5_000;

function store(agent: AgentClient): HistoryStore {
  const live = sharedLive(agent);
  if (live.history?.isOpen) return live.history;
  if (live.history) {
    // Closed by the server's stop (server/api/shutdown.ts): its open chunks are written, the next server reads them.
    throw new TRPCError({ code: "SERVICE_UNAVAILABLE", message: "the web server is stopping: history comes back when it is up again" });
  }
  throw new TRPCError({ code: "PRECONDITION_FAILED", message: live.sampler.history().error ?? "history is not recorded" });
}

export const historyRouter = createTRPCRouter({
  /** Every metric of one series (a service key, or "service key/real server key") over `range`, ending now. */
  series: viewerProcedure
    .input(z.object({ key: z.string().min(1).max(300), range: rangeInput }))
    .query(({ ctx, input }) => {
      const { ms, stepMs } = RANGES[input.range];
      const to = Date.now();
      const from = to - ms;
      const q = store(ctx.agent).query(input.key, METRICS, from, to, stepMs);
      return { key: q.key, range: input.range, from, to, stepMs: q.stepMs, resolution: q.resolution, t: q.t, avg: q.avg, max: q.max };
    }),

  /** For each service now in the table: conns/s over the last 5 minutes (for the overview's sparklines). */
  sparklines: viewerProcedure.query(({ ctx }) => {
    const h = store(ctx.agent);
    const latest = sharedLive(ctx.agent).sampler.latest();
    const keys = latest?.kind === "sample" ? [...latest.sample.serviceKeys()] : [];
    const to = Date.now();
    const out: Record<string, { t: number[]; conns: (number | null)[] }> = {};
    for (const key of keys) {
      const q = h.query(key, "conns", to - SPARK_MS, to, SPARK_STEP_MS);
      out[key] = { t: q.t, conns: q.avg.conns ?? [] };
    }
    return { stepMs: SPARK_STEP_MS, series: out };
  }),
});
