// The app's tRPC router: one sub-router per domain (server/api/routers/<domain>.ts).
import { hostRouter } from "@/server/api/routers/host";
import { ipvsRouter } from "@/server/api/routers/ipvs";
import { createCallerFactory, createTRPCRouter } from "@/server/api/trpc";

export const appRouter = createTRPCRouter({
  host: hostRouter,
  ipvs: ipvsRouter,
});

export type AppRouter = typeof appRouter;

/** Server-side calls without HTTP: createCaller(context).ipvs.status(). */
export const createCaller = createCallerFactory(appRouter);
