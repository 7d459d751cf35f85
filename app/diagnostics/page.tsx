import type { Metadata } from "next";

import { DiagnosticsView } from "./_components/diagnostics-view";

// Live kernel state over SSE: never prerendered.
export const dynamic = "force-dynamic";

export const metadata: Metadata = { title: "Diagnostics · LVS Dashboard" };

export default function DiagnosticsPage() {
  return <DiagnosticsView />;
}
