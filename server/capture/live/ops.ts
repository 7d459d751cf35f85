// The agent ops of live capture and diagnostics (registered in server/agent/ops.ts, declared in AGENT_OPS):
// one CaptureSessions for the agent's life, on libpcap and the agent's own view of the site.
//
//   capture.start {interfaces}       mutation: a new session (the old one stops)
//   capture.stop {}                  mutation: stops it; findings and evidence stay readable
//   capture.status {}                per VIP ARP answerers and packets/s, per interface drops
//   diagnostics.findings {since}     events after the cursor, open and resolved findings
//   diagnostics.evidence {session, ref}   a finding's packets as a pcap (base64)
//   diagnostics.site {}              the site (VIPs, real servers, MACs) for analysing an uploaded capture
import { AgentError } from "@/server/agent/protocol";
import type { CaptureStatus, EvidenceFile, FindingsReport } from "@/server/diagnostics/live";
import type { SiteContext } from "@/server/diagnostics/types";

import { CaptureSessions, SessionError } from "./session";
import { readAgentSite } from "./site";

let sessions: CaptureSessions | null = null;

function shared(): CaptureSessions {
  sessions ??= new CaptureSessions({ readSite: readAgentSite });
  return sessions;
}

export async function startCapture(input: { interfaces: string[] }): Promise<CaptureStatus> {
  try {
    return await shared().start(input.interfaces);
  } catch (error) {
    // A name libpcap does not know, an interface that is not Ethernet: the admin's choice, said as such.
    if (error instanceof SessionError) throw new AgentError("invalid_input", error.message);
    throw error;
  }
}

export async function stopCapture(): Promise<CaptureStatus> {
  return shared().stop();
}

export async function captureStatus(): Promise<CaptureStatus> {
  const s = shared();
  await s.refreshInterfaces();
  return s.status();
}

export async function diagnosticsFindings(input: { since: number }): Promise<FindingsReport> {
  return shared().findings(input.since);
}

export async function diagnosticsEvidence(input: { session: string; ref: number }): Promise<EvidenceFile> {
  return shared().evidence(input.session, input.ref);
}

export async function diagnosticsSite(): Promise<SiteContext> {
  return (await readAgentSite()).site;
}
