// The wizard's agent ops, as data: input schemas and output types (pure: the web server imports this through
// server/agent/protocol.ts; the handlers are in agent.ts, which only the agent loads).
//
//   wizard.preflight  input          -> PreflightProblem[]           (reads the director, changes nothing)
//   wizard.plan       input          -> WizardReview                 (problems + the plan as diff and shell)
//   wizard.apply      {input, fingerprint?} -> WizardStatus          (starts; poll wizard.status)
//   wizard.status     {}             -> WizardStatus
//   wizard.confirm    {id}           -> WizardStatus                 (keeps the change)
//   wizard.rollback   {id}           -> WizardStatus                 (undoes it now)
import { z } from "zod";

import type { WizardStatus } from "./apply";
import { wizardInput } from "./input";
import type { PreflightProblem } from "./preflight";
import type { RenderedPlan } from "./render";

export const wizardApplyInput = z.object({ input: wizardInput, fingerprint: z.string().regex(/^[0-9a-f]{16}$/).optional() }).strict();
export const wizardIdInput = z.object({ id: z.string().uuid() }).strict();

export interface WizardReview {
  problems: PreflightProblem[];
  canApply: boolean;
  plan: RenderedPlan;
}

export type { PreflightProblem, WizardStatus };
export { wizardInput };
