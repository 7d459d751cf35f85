// Draining a real server through the agent (server/ipvs/drain/drain.ts): start (weight 0, then removed once
// its active connections are gone, or left at weight 0), cancel (the weight from before comes back), and the
// drains with their connection samples for the page to chart.
import { adminProcedure, createTRPCRouter, viewerProcedure } from "@/server/api/trpc";
import { drainIdInput, drainStartInput } from "@/server/ipvs/drain/drain";

export const drainRouter = createTRPCRouter({
  list: viewerProcedure.query(({ ctx }) => ctx.agent.call("drain.list", {})),
  start: adminProcedure.input(drainStartInput).mutation(({ ctx, input }) => ctx.agent.call("drain.start", input)),
  cancel: adminProcedure.input(drainIdInput).mutation(({ ctx, input }) => ctx.agent.call("drain.cancel", input)),
});
