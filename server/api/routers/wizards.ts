// Setup wizards (DR, NAT, TUN, FULLNAT): reads of the director (preflight, plan, the current change) and the
// changes (applyPlan, confirm, rollback). The director's part is one agent op each (server/wizards/protocol.ts):
// the agent re-reads the director and re-plans on apply, and the plan's fingerprint makes it refuse when the
// director changed since the plan was shown. The real servers' part goes through their paired agents
// (server/wizards/realservers.ts: applied before the director, confirmed and rolled back with it). Unconfirmed
// changes are rolled back by each agent's own timer.
// Reads: viewerProcedure; changes: adminProcedure (admins only, from the dashboard's own pages, audited).
import { join } from "node:path";

import { TRPCError } from "@trpc/server";

import { adminProcedure, createTRPCRouter, viewerProcedure, type AuditNotes } from "@/server/api/trpc";
import { authRuntime } from "@/server/auth/service";
import { dataDir } from "@/server/history/store";
import { sharedRealServerRegistry, type RealServerRegistry } from "@/server/realservers/registry";
import { wizardApplyInput, wizardIdInput, wizardInput } from "@/server/wizards/protocol";
import { fileSidesStore, RealServerApplyError, sharedRealServerSides, sidesText, type RealServerSides, type SiteWizardStatus } from "@/server/wizards/realservers";

/** The open change's real-server transactions, in the data directory (server/wizards/realservers.ts). */
const SIDES_FILE = "wizard-realservers.json";

/** The real servers' failures as a CONFLICT with their message; what they say goes into the audit entry. */
async function site(notes: AuditNotes, run: () => Promise<SiteWizardStatus>): Promise<SiteWizardStatus> {
  try {
    const status = await run();
    if (status.realServers.length) notes.diff = sidesText(status.realServers);
    return status;
  } catch (e) {
    if (e instanceof RealServerApplyError) {
      notes.rollback = sidesText(e.sides);
      throw new TRPCError({ code: "CONFLICT", message: e.message, cause: e });
    }
    throw e;
  }
}

export function createWizardsRouter(
  registry: () => RealServerRegistry = sharedRealServerRegistry,
  sides: () => RealServerSides = () => sharedRealServerSides(registry, () => authRuntime().audit, fileSidesStore(join(dataDir(), SIDES_FILE))),
) {
  return createTRPCRouter({
    /** Problems with the input on this director (nothing changes). */
    preflight: viewerProcedure.input(wizardInput).query(({ ctx, input }) => ctx.agent.call("wizard.preflight", input)),
    /** The problems and the plan: director steps as diff and shell, each real server's steps, script and agent. */
    plan: viewerProcedure.input(wizardInput).query(async ({ ctx, input }) => {
      const review = await ctx.agent.call("wizard.plan", input);
      const agents = sides().sidesOf(review.plan.realServers);
      return { ...review, plan: { ...review.plan, realServers: review.plan.realServers.map((rs, i) => ({ ...rs, agent: agents[i]!.agent })) } };
    }),
    /** The current change: progress, verification, the confirm deadline, the rollback, the real servers. */
    status: viewerProcedure.query(({ ctx }) => sides().status(ctx.agent)),
    /** Applies the real servers' steps through their agents, then starts the director's change (returns at
     *  once; poll status). Not "apply": tRPC reserves that name. */
    applyPlan: adminProcedure.input(wizardApplyInput).mutation(({ ctx, input }) =>
      site(ctx.auditNotes, async () => {
        const startDirector = () => ctx.agent.call("wizard.apply", input);
        const review = await ctx.agent.call("wizard.plan", input.input);
        // A plan the director refuses (an error, or changed since it was shown): the real servers are not
        // touched, and the agent's refusal says why.
        if (!review.canApply || (input.fingerprint && input.fingerprint !== review.plan.fingerprint)) return { ...(await startDirector()), realServers: [] };
        return sides().apply(ctx.agent, input.input, review.plan.realServers, startDirector);
      }),
    ),
    /** Keeps the change: the real servers are checked first, then the director and they are confirmed. */
    confirm: adminProcedure.input(wizardIdInput).mutation(({ ctx, input }) => site(ctx.auditNotes, () => sides().confirm(ctx.agent, input.id))),
    /** Undoes the change now, on the director and the real servers. */
    rollback: adminProcedure.input(wizardIdInput).mutation(({ ctx, input }) => site(ctx.auditNotes, () => sides().rollback(ctx.agent, input.id))),
  });
}

export const wizardsRouter = createWizardsRouter();
