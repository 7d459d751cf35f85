// IPVS: the virtual service table of the kernel the agent runs on.
import { createTRPCRouter, publicProcedure } from "@/server/api/trpc";

export const ipvsRouter = createTRPCRouter({
  /** Services and real servers from /proc/net/ip_vs, or { available: false, reason } without IPVS. */
  status: publicProcedure.query(({ ctx }) => ctx.agent.call("ipvs.status", {})),
});
