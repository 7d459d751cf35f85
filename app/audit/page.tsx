// /audit: every change made through the dashboard (and every sign-in), newest first; and the accounts.
import type { Metadata } from "next";

import { AuditView } from "./audit-view";

export const metadata: Metadata = { title: "Audit log · LVS Dashboard" };
export const dynamic = "force-dynamic";

export default function AuditPage() {
  return <AuditView />;
}
