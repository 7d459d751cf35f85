// /realservers: the real-server agents paired with this dashboard (`lvsdash rs-agent` on each real server): pair,
// see what each reports, unpair. Paired agents apply the wizards' real-server steps and feed the diagnostics.
import type { Metadata } from "next";

import { RealServersView } from "./realservers-view";

export const metadata: Metadata = { title: "Real servers · LVS Dashboard" };
export const dynamic = "force-dynamic";

export default function RealServersPage() {
  return <RealServersView />;
}
