// The host the agent runs on: name, kernel, the agent's privileges.
import { createTRPCRouter, publicProcedure } from "@/server/api/trpc";

export const hostRouter = createTRPCRouter({
  info: publicProcedure.query(({ ctx }) => ctx.agent.call("host.info", {})),
});
