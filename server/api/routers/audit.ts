// The audit log (server/audit/log.ts): newest first, filtered by user, operation and result, in pages. Admins
// only: it names every account and address that changed something or failed to sign in.
import { z } from "zod";

import { AUDIT_RESULTS } from "@/server/audit/log";
import { adminProcedure, createTRPCRouter } from "@/server/api/trpc";

export const auditRouter = createTRPCRouter({
  list: adminProcedure
    .input(
      z.object({
        user: z.string().max(64).optional(),
        op: z.string().max(200).optional(),
        result: z.enum(AUDIT_RESULTS).optional(),
        offset: z.number().int().min(0).max(10_000_000).default(0),
        limit: z.number().int().min(1).max(200).default(50),
      }),
    )
    .query(({ ctx, input }) => ctx.audit.query(input)),

  /** The users and operations in the log, for the filters. */
  facets: adminProcedure.query(({ ctx }) => ctx.audit.facets()),
});
