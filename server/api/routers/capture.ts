// Live capture: the agent's capture session (server/capture/live/), started and stopped from the Capture page,
// and its status streamed to it once a second over SSE.
import { setTimeout as sleep } from "node:timers/promises";

import { z } from "zod";

import type { AgentClient } from "@/server/agent/client";
import { isAgentError, type AgentErrorCode } from "@/server/agent/protocol";
import { toTRPCError } from "@/server/api/errors";
import { adminProcedure, createTRPCRouter, viewerProcedure } from "@/server/api/trpc";
import { INTERFACE_NAME, MAX_INTERFACES } from "@/server/capture/live/limits";
import type { ArpAnswererView, CaptureStatus, VipView } from "@/server/diagnostics/live";

/** How long an ARP answer counts as "answering now" for the page's verdict per VIP. */
export const ARP_RECENT_SECONDS = 120;
export const LIVE_INTERVAL_MS = 1000;

/** One frame of a live stream: the data, or why there is none this time (the stream goes on). */
export type LiveFrame<T> =
  | { ok: true; data: T; at: number }
  | { ok: false; error: { message: string; agentCode: AgentErrorCode | null }; at: number };

/** A failed agent call as a frame: the same message the error adapter gives a query. */
export function errorFrame(error: unknown): LiveFrame<never> {
  const mapped = toTRPCError(error);
  return { ok: false, error: { message: mapped.message, agentCode: isAgentError(error) ? error.code : null }, at: Date.now() / 1000 };
}

/** What each VIP looks like on the wire: who holds it now, and whether more than one MAC answers for it. */
export interface VipVerdict extends VipView {
  /** The MAC of the latest answer or announcement, with its role. */
  owner: ArpAnswererView | null;
  /** MACs that answered within ARP_RECENT_SECONDS, when they are more than one or are not a director's. */
  rivals: ArpAnswererView[];
  verdict: "ok" | "conflict" | "silent";
}

export interface CaptureView extends CaptureStatus {
  vips: VipVerdict[];
}

/** The agent's status with a verdict per VIP (PURE). */
export function captureView(status: CaptureStatus): CaptureView {
  const vips = [...status.vips]
    .sort((a, b) => a.address.localeCompare(b.address, "en", { numeric: true }))
    .map((v): VipVerdict => {
      const recent = v.arp.filter((a) => status.now - a.lastAt <= ARP_RECENT_SECONDS);
      const owner = v.arp[0] ?? null;
      const foreign = recent.filter((a) => a.role !== "director" && a.role !== "backup-director");
      const conflict = foreign.length > 0 || recent.filter((a) => a.role === "director").length > 1;
      return {
        ...v, owner, rivals: conflict ? recent : [],
        verdict: conflict ? "conflict" : v.arp.length === 0 ? "silent" : "ok",
      };
    });
  return { ...status, vips };
}

/** Calls `read` every `intervalMs` until the client goes away, yielding each result or failure as a frame. */
export async function* poll<T>(read: () => Promise<T>, signal: AbortSignal | undefined, intervalMs = LIVE_INTERVAL_MS): AsyncGenerator<LiveFrame<T>> {
  while (!signal?.aborted) {
    try {
      yield { ok: true, data: await read(), at: Date.now() / 1000 };
    } catch (error) {
      yield errorFrame(error);
    }
    try {
      await sleep(intervalMs, undefined, { signal });
    } catch {
      return; // aborted: the browser closed the stream
    }
  }
}

const readView = async (agent: AgentClient) => captureView(await agent.call("capture.status", {}));

export const captureRouter = createTRPCRouter({
  status: viewerProcedure.query(({ ctx }) => readView(ctx.agent)),
  /** Starts a capture session on the chosen interfaces (the running one stops). */
  start: adminProcedure
    .input(z.object({ interfaces: z.array(z.string().regex(INTERFACE_NAME, "not an interface name")).min(1).max(MAX_INTERFACES) }))
    .mutation(async ({ ctx, input }) => captureView(await ctx.agent.call("capture.start", { interfaces: input.interfaces }))),
  stop: adminProcedure.mutation(async ({ ctx }) => captureView(await ctx.agent.call("capture.stop", {}))),
  /** The status once a second, over SSE. */
  live: viewerProcedure.subscription(async function* ({ ctx, signal }) {
    yield* poll(() => readView(ctx.agent), signal);
  }),
});
