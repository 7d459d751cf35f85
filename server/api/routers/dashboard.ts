// The live dashboard: what the 1 Hz sampler (server/live/) last read, as a query for the first render and as
// subscriptions (SSE) that push every sample to open pages.
//
//   overview / onSample          every virtual service (no real servers), site-wide totals
//   service / onService {key}    one service with its real servers, the connection timeouts
//
// Subscriptions never fail on a failed read: they yield a "down" or "unavailable" view and keep going, so the
// page says so at once and recovers on the next good tick. A lost HTTP connection is the client's to resume
// (httpSubscriptionLink reconnects by itself); on reconnect the latest view comes first.
import { TRPCError } from "@trpc/server";
import { z } from "zod";

import { toTRPCError } from "@/server/api/errors";
import { createTRPCRouter, viewerProcedure } from "@/server/api/trpc";
import { isAgentError } from "@/server/agent/protocol";
import type { LiveEvent, LiveSampler } from "@/server/live/sampler";
import { sharedLive } from "@/server/live/shared";
import { overviewView, serviceView, type ErrorDescription } from "@/server/live/views";

/** How long a query waits for the first tick of a sampler that has just started. */
const FIRST_TICK_WAIT_MS = 5_000;

/** The same message (and agent code) a failed query would carry, from the one error adapter. */
export function describeError(error: unknown): ErrorDescription {
  return { message: toTRPCError(error).message, agentCode: isAgentError(error) ? error.code : null };
}

/** The latest event, waiting for the first tick if there has been none yet. */
export async function latestEvent(sampler: LiveSampler): Promise<LiveEvent> {
  const now = sampler.latest();
  if (now) return now;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), FIRST_TICK_WAIT_MS);
  try {
    for await (const e of sampler.events(ac.signal)) return e;
  } finally {
    clearTimeout(timer);
  }
  throw new TRPCError({
    code: "TIMEOUT",
    message: "the first read of the director is still running (a large table takes a while): the page fills in by itself when it ends",
  });
}

const serviceInput = z.object({ key: z.string().min(1).max(200) });

export const dashboardRouter = createTRPCRouter({
  overview: viewerProcedure.query(async ({ ctx }) => overviewView(await latestEvent(sharedLive(ctx.agent).sampler), describeError)),

  onSample: viewerProcedure.subscription(async function* ({ ctx, signal }) {
    for await (const e of sharedLive(ctx.agent).sampler.events(signal)) yield overviewView(e, describeError);
  }),

  service: viewerProcedure
    .input(serviceInput)
    .query(async ({ ctx, input }) => serviceView(await latestEvent(sharedLive(ctx.agent).sampler), input.key, describeError)),

  onService: viewerProcedure.input(serviceInput).subscription(async function* ({ ctx, input, signal }) {
    for await (const e of sharedLive(ctx.agent).sampler.events(signal)) yield serviceView(e, input.key, describeError);
  }),
});
