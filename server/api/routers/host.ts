// The host the agent runs on: name, kernel, the agent's privileges; its IPVS (version, connection table size,
// timeouts, sync daemons) and where the dashboard keeps its history.
import { createTRPCRouter, viewerProcedure } from "@/server/api/trpc";
import { sharedLive } from "@/server/live/shared";
import { hostIpvsView } from "@/server/live/views";

export const hostRouter = createTRPCRouter({
  info: viewerProcedure.query(({ ctx }) => ctx.agent.call("host.info", {})),
  /** IPVS as the kernel reports it (GET_INFO, GET_CONFIG, GET_DAEMON), or { available: false, reason }. */
  ipvs: viewerProcedure.query(async ({ ctx }) => hostIpvsView(await ctx.agent.call("ipvs.snapshot", {}))),
  /** The history store: where, whether the last tick was written, and why not. */
  history: viewerProcedure.query(({ ctx }) => sharedLive(ctx.agent).sampler.history()),
});
