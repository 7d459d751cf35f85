// The app's tRPC router: one sub-router per domain (server/api/routers/<domain>.ts).
import { auditRouter } from "@/server/api/routers/audit";
import { authRouter } from "@/server/api/routers/auth";
import { captureRouter } from "@/server/api/routers/capture";
import { connectionsRouter } from "@/server/api/routers/connections";
import { dashboardRouter } from "@/server/api/routers/dashboard";
import { diagnosticsRouter } from "@/server/api/routers/diagnostics";
import { drainRouter } from "@/server/api/routers/drain";
import { historyRouter } from "@/server/api/routers/history";
import { hostRouter } from "@/server/api/routers/host";
import { ipvsRouter } from "@/server/api/routers/ipvs";
import { realServersRouter } from "@/server/api/routers/realservers";
import { rulesIoRouter } from "@/server/api/routers/rulesio";
import { schedulerRouter } from "@/server/api/routers/scheduler";
import { wizardsRouter } from "@/server/api/routers/wizards";
import { createCallerFactory, createTRPCRouter } from "@/server/api/trpc";

export const appRouter = createTRPCRouter({
  audit: auditRouter,
  auth: authRouter,
  capture: captureRouter,
  connections: connectionsRouter,
  dashboard: dashboardRouter,
  diagnostics: diagnosticsRouter,
  drain: drainRouter,
  history: historyRouter,
  host: hostRouter,
  ipvs: ipvsRouter,
  realServers: realServersRouter,
  rulesIo: rulesIoRouter,
  scheduler: schedulerRouter,
  wizards: wizardsRouter,
});

export type AppRouter = typeof appRouter;

/** Server-side calls without HTTP: createCaller(context).ipvs.status(). */
export const createCaller = createCallerFactory(appRouter);
