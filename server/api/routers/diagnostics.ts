// Diagnostics: the findings of the agent's capture session (open ones first by severity, resolved ones with
// their times), each with the link its evidence downloads from, streamed to the Diagnostics page over SSE.
// Offline analysis of an uploaded capture is app/api/upload (a file upload is not JSON).
import { z } from "zod";

import type { AgentClient } from "@/server/agent/client";
import { createTRPCRouter, viewerProcedure } from "@/server/api/trpc";
import type { FindingView, FindingsReport } from "@/server/diagnostics/live";
import { realServerFindings } from "@/server/diagnostics/realservers";
import type { Finding, Severity } from "@/server/diagnostics/types";
import { sharedRealServerRegistry, type RealServerRegistry } from "@/server/realservers/registry";

import { poll, type LiveFrame } from "./capture";

const SEVERITY_ORDER: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };

export interface FindingItem extends FindingView {
  /** Where the evidence pcap downloads from (null when the agent holds none of its packets). */
  evidenceUrl: string | null;
}

export interface DiagnosticsView extends Omit<FindingsReport, "open" | "resolved"> {
  open: FindingItem[];
  resolved: FindingItem[];
  counts: Record<Severity, number>;
}

export function evidenceUrl(f: Pick<FindingView, "evidenceId" | "evidenceStored">): string | null {
  return f.evidenceStored > 0 ? `/api/evidence/${encodeURIComponent(f.evidenceId)}` : null;
}

/** The agent's report as the page lists it (PURE): open findings most severe first, then newest first. */
export function diagnosticsView(report: FindingsReport): DiagnosticsView {
  const item = (f: FindingView): FindingItem => ({ ...f, evidenceUrl: evidenceUrl(f) });
  const open = [...report.open]
    .sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || b.openedAt - a.openedAt)
    .map(item);
  const counts: Record<Severity, number> = { critical: 0, warning: 0, info: 0 };
  for (const f of open) counts[f.severity]++;
  return { ...report, open, resolved: report.resolved.map(item), counts };
}

const readView = async (agent: AgentClient, since: number) => diagnosticsView(await agent.call("diagnostics.findings", { since }));

/** Only frames that say something new reach the browser (and one every `heartbeatS` so it knows we live). */
export async function* changedFrames(frames: AsyncIterable<LiveFrame<DiagnosticsView>>, heartbeatS = 10): AsyncGenerator<LiveFrame<DiagnosticsView>> {
  let last = "";
  let lastAt = 0;
  for await (const frame of frames) {
    const { at: _at, ...rest } = frame;
    const signature = JSON.stringify(rest.ok ? { ...rest, data: { ...rest.data, evaluatedAt: null } } : rest);
    if (signature === last && frame.at - lastAt < heartbeatS) continue;
    last = signature;
    lastAt = frame.at;
    yield frame;
  }
}

/** One paired real server's settings as the diagnostics judge them, or why they could not be read. */
export type RealServerSettings =
  | { id: number; name: string; url: string; ok: true; findings: Finding[] }
  | { id: number; name: string; url: string; ok: false; error: string };

/** Every paired real-server agent asked for its facts, each checked against the director's IPVS table. */
export async function realServerSettings(agent: AgentClient, registry: RealServerRegistry): Promise<{ available: boolean; reason: string | null; servers: RealServerSettings[] }> {
  const paired = registry.list();
  if (paired.length === 0) return { available: true, reason: null, servers: [] };
  const snap = await agent.call("ipvs.snapshot", {});
  if (!snap.available) return { available: false, reason: snap.reason, servers: [] };
  const servers = await Promise.all(
    paired.map(async (rs): Promise<RealServerSettings> => {
      const who = { id: rs.id, name: rs.name, url: rs.url };
      try {
        return { ...who, ok: true, findings: realServerFindings(snap.snapshot, await registry.facts(rs.id)) };
      } catch (error) {
        return { ...who, ok: false, error: error instanceof Error ? error.message : String(error) };
      }
    }),
  );
  return { available: true, reason: null, servers };
}

export const diagnosticsRouter = createTRPCRouter({
  /** The real servers' own settings, through their paired agents (none paired: an empty list). */
  realServers: viewerProcedure.query(({ ctx }) => realServerSettings(ctx.agent, sharedRealServerRegistry())),
  findings: viewerProcedure
    .input(z.object({ since: z.number().int().nonnegative().default(0) }).default({ since: 0 }))
    .query(({ ctx, input }) => readView(ctx.agent, input.since)),
  /** The findings whenever they change, over SSE. */
  live: viewerProcedure.subscription(async function* ({ ctx, signal }) {
    // Each frame carries the events since the previous one (the lists are whole every time).
    let cursor = 0;
    const read = async () => {
      const view = await readView(ctx.agent, cursor);
      cursor = view.cursor;
      return view;
    };
    yield* changedFrames(poll(read, signal));
  }),
});
