// Setup wizards (DR, NAT, TUN, FULLNAT): reads of the director (preflight, plan, the current change) and the
// changes (applyPlan, confirm, rollback), each one agent op (server/wizards/protocol.ts). The agent re-reads the
// director and re-plans on apply: the plan's fingerprint makes it refuse when the director changed since the
// plan was shown. Unconfirmed changes are rolled back by the agent's own timer.
// Reads: viewerProcedure; changes: adminProcedure (admins only, from the dashboard's own pages, audited).
import { adminProcedure, createTRPCRouter, viewerProcedure } from "@/server/api/trpc";
import { wizardApplyInput, wizardIdInput, wizardInput } from "@/server/wizards/protocol";

export const wizardsRouter = createTRPCRouter({
  /** Problems with the input on this director (nothing changes). */
  preflight: viewerProcedure.input(wizardInput).query(({ ctx, input }) => ctx.agent.call("wizard.preflight", input)),
  /** The problems and the plan: director steps as diff and shell, a script per real server, the fingerprint. */
  plan: viewerProcedure.input(wizardInput).query(({ ctx, input }) => ctx.agent.call("wizard.plan", input)),
  /** The current change: progress, verification, the confirm deadline, the rollback. */
  status: viewerProcedure.query(({ ctx }) => ctx.agent.call("wizard.status", {})),
  /** Starts applying (returns at once; poll status). Not "apply": tRPC reserves that name. */
  applyPlan: adminProcedure.input(wizardApplyInput).mutation(({ ctx, input }) => ctx.agent.call("wizard.apply", input)),
  /** Keeps the change. */
  confirm: adminProcedure.input(wizardIdInput).mutation(({ ctx, input }) => ctx.agent.call("wizard.confirm", input)),
  /** Undoes the change now. */
  rollback: adminProcedure.input(wizardIdInput).mutation(({ ctx, input }) => ctx.agent.call("wizard.rollback", input)),
});
