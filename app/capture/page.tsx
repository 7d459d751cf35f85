import type { Metadata } from "next";

import { CaptureView } from "./_components/capture-view";

// Live kernel state over SSE: never prerendered.
export const dynamic = "force-dynamic";

export const metadata: Metadata = { title: "Capture · LVS Dashboard" };

export default function CapturePage() {
  return <CaptureView />;
}
