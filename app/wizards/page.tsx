// /wizards: set up a DR, NAT, TUN or FULLNAT virtual service step by step, with preflight, the plan as a diff
// and as shell commands, apply with progress and verification, and a commit-confirmed countdown.
import type { Metadata } from "next";

import { WizardView } from "./wizard-view";

export const metadata: Metadata = { title: "Setup wizards · LVS Dashboard" };
export const dynamic = "force-dynamic";

export default function WizardsPage() {
  return <WizardView />;
}
