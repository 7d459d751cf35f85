// The connection table (server/ipvs/conntable/): what the agent's background refresher last read, filtered
// pages of it, and a request for a fresh pass. None of these reads /proc/net/ip_vs_conn inside the request:
// a full read is quadratic in the table's size on kernels before 6.14 (minutes at a few 100k entries).
import { adminProcedure, createTRPCRouter, viewerProcedure } from "@/server/api/trpc";
import { connQueryInput } from "@/server/ipvs/conntable/ops";

export const connectionsRouter = createTRPCRouter({
  /** Summary of the last completed pass (counts by state, service, real server, top clients and /24s), its
   *  age, the progress of the pass in flight, the last error. */
  status: viewerProcedure.query(({ ctx }) => ctx.agent.call("conns.status", {})),
  /** A page of entries matching the filter, from the last completed pass; null before the first. */
  page: viewerProcedure.input(connQueryInput).query(({ ctx, input }) => ctx.agent.call("conns.query", input)),
  /** Starts a pass now (or joins the one in flight); returns at once. */
  refresh: adminProcedure.mutation(({ ctx }) => ctx.agent.call("conns.refresh", {})),
});
