// IPVS: the virtual service table of the kernel the agent runs on.
import { createTRPCRouter, viewerProcedure } from "@/server/api/trpc";
import { ipvsSnapshotToJson } from "@/server/ipvs/snapshot/agent";

export const ipvsRouter = createTRPCRouter({
  /** Services and real servers from /proc/net/ip_vs, or { available: false, reason } without IPVS. */
  status: viewerProcedure.query(({ ctx }) => ctx.agent.call("ipvs.status", {})),
  /** The whole director over netlink (services, real servers, 64-bit counters and rates, timeouts, sync daemons,
   *  IPVS version): IpvsSnapshotJson from server/ipvs/snapshot/agent.ts, counters as decimal strings. */
  snapshot: viewerProcedure.query(async ({ ctx }) => ipvsSnapshotToJson(await ctx.agent.call("ipvs.snapshot", {}))),
});
