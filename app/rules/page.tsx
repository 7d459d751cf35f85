// /rules: the director's IPVS rules out (ipvsadm-save text or keepalived.conf virtual_server blocks) and in
// (reviewed as a plan against the live table first, then applied with that plan's fingerprint).
import type { Metadata } from "next";

import { RulesView } from "./rules-view";

export const metadata: Metadata = { title: "Rules · LVS Dashboard" };
export const dynamic = "force-dynamic";

export default function RulesPage() {
  return <RulesView />;
}
