// Import and export of the director's IPVS rules (server/ipvs/keepalived/rules-io.ts): export as
// ipvsadm-save text or keepalived.conf virtual_server blocks (a query); import is reviewed first
// (previewImport: validate and plan against the live table, nothing changes) and then applied with the
// reviewed plan's fingerprint (applyImport), which the agent refuses ("changed") when the table moved since.
import { TRPCError } from "@trpc/server";
import { z } from "zod";

import { adminProcedure, createTRPCRouter, viewerProcedure } from "@/server/api/trpc";
import { exportRules, MAX_RULES_TEXT, RULES_FORMATS } from "@/server/ipvs/keepalived/rules-io";

const format = z.enum(RULES_FORMATS);
const text = z.string().max(MAX_RULES_TEXT, "at most 1 MiB of rules");

export const rulesIoRouter = createTRPCRouter({
  export: viewerProcedure.input(z.object({ format }).strict()).query(async ({ ctx, input }) => {
    const data = await ctx.agent.call("ipvs.snapshot", {});
    if (!data.available) throw new TRPCError({ code: "PRECONDITION_FAILED", message: data.reason });
    return {
      format: input.format,
      filename: input.format === "keepalived" ? "keepalived-virtual-servers.conf" : "ipvsadm.rules",
      text: exportRules(data.snapshot, input.format),
    };
  }),
  /** Changes nothing: a mutation only because the rules text is too large for a query's URL. */
  previewImport: adminProcedure
    .input(z.object({ format, text, keepUnlisted: z.boolean().default(true) }).strict())
    .mutation(({ ctx, input }) => ctx.agent.call("ipvs.import", { ...input, dryRun: true })),
  applyImport: adminProcedure
    .input(z.object({ format, text, keepUnlisted: z.boolean().default(true), fingerprint: z.string().regex(/^[0-9a-f]{16}$/) }).strict())
    .mutation(({ ctx, input }) => ctx.agent.call("ipvs.import", { ...input, dryRun: false })),
});
