"use client";
// What the Capture and Diagnostics pages share about their live stream: frames from the routers' poll()
// (server/api/routers/capture.ts) as the samples the shared LiveState pill reads, the last good data kept
// while the agent does not answer, and the banner that says what went wrong.
import { AgentDownBanner, Banner } from "@/app/_components/banner";
import { useLastLive } from "@/app/_components/live";
import type { LiveFrame } from "@/server/api/routers/capture";

const AGENT_DOWN = new Set(["unavailable", "permission_denied"]);

export type Sample<T> = { kind: "live"; t: number; data: T } | { kind: "down"; t: number; message: string; agentDown: boolean };

function sampleOf<T>(frame: LiveFrame<T> | undefined): Sample<T> | undefined {
  if (frame === undefined) return undefined;
  if (frame.ok) return { kind: "live", t: frame.at * 1000, data: frame.data };
  return { kind: "down", t: frame.at * 1000, message: frame.error.message, agentDown: AGENT_DOWN.has(frame.error.agentCode ?? "") };
}

/** The newest sample, and the last data that came with a good one (with its time in seconds). */
export function useLiveFrame<T>(frame: LiveFrame<T> | undefined): { sample: Sample<T> | undefined; data: T | undefined; at: number } {
  const sample = sampleOf(frame);
  const last = useLastLive(sample);
  return { sample, data: last?.data, at: (last?.t ?? 0) / 1000 };
}

/** Nothing when the stream is fine; otherwise why, and whether what is shown is the last known state. */
export function FrameProblem<T>({ sample, stale, what }: { sample: Sample<T> | undefined; stale: boolean; what: string }) {
  if (sample?.kind !== "down") return null;
  if (stale) {
    return (
      <Banner tone="warning" title={`Lost contact with the agent: showing the last known ${what}`}>
        <p className="sentence">{sample.message}</p>
      </Banner>
    );
  }
  if (sample.agentDown) return <AgentDownBanner message={sample.message} />;
  return (
    <Banner tone="error" title={`Could not read the ${what}`}>
      <p className="sentence">{sample.message}</p>
    </Banner>
  );
}
