// Live diagnostics as the web sees them: what the agent's capture session reports (the views of its findings
// and of each VIP on the wire), and the names evidence files are served under. PURE: shared by the agent
// (server/capture/live/session.ts builds these views), the tRPC routers and the evidence route handler.
//
// A finding's evidence is fetched by an evidence id "<session>-<ref>": the capture session's id (8 hex
// digits, new at every start) and the finding's number within it. Nothing else is accepted, so an id can
// never name a file, and the download's file name is built from the validated id alone.
import type { HostRole, Severity } from "./types";

// ---------------------------------------------------------------------------------------------------------
// Findings
// ---------------------------------------------------------------------------------------------------------

export interface EvidencePacketView {
  /** The packet's number in the capture session (1-based, as Wireshark numbers frames). */
  number: number;
  /** Capture time, seconds since the epoch. */
  time: number;
}

export interface FindingView {
  /** "<session>-<ref>": the evidence download's id, and a stable React key. */
  evidenceId: string;
  /** The check that found it ("arp-real-server-claims-vip"). */
  kind: string;
  /** The interface it was seen on. */
  device: string;
  status: "open" | "resolved";
  severity: Severity;
  title: string;
  explanation: string;
  hosts: { ip: string; mac: string; role: HostRole }[];
  fix: { summary: string; commands: string[] };
  /** The packets that show it (the first few of the latest report), in capture order. */
  evidence: EvidencePacketView[];
  /** Evidence packets the agent still holds for the download (it keeps them after they left the window). */
  evidenceStored: number;
  /** All offending packets (or connections), where `evidence` keeps only the first few. */
  activity: { count: number; first: number; last: number } | null;
  /** Seconds since the epoch. */
  openedAt: number;
  lastEvidenceAt: number;
  resolvedAt: number | null;
  /** Times it came back after it had resolved. */
  reopened: number;
}

export interface FindingEvent {
  /** Increases by one per event in the agent's life: the cursor of diagnostics.findings. */
  seq: number;
  type: "opened" | "resolved";
  time: number;
  evidenceId: string;
  title: string;
  severity: Severity;
}

/** `diagnostics.findings`: what changed since a cursor, and the whole current picture. */
export interface FindingsReport {
  /** The session these findings are from (null: no capture was ever started). */
  session: string | null;
  running: boolean;
  /** The last event's seq: pass it as `since` next time. */
  cursor: number;
  /** Events after `since` (at most the last 500). */
  events: FindingEvent[];
  open: FindingView[];
  resolved: FindingView[];
  /** When the detectors last ran (s), null before the first evaluation. */
  evaluatedAt: number | null;
}

// ---------------------------------------------------------------------------------------------------------
// Capture status
// ---------------------------------------------------------------------------------------------------------

export interface ArpAnswererView {
  mac: string;
  /** Who the site says this MAC is (directors from the agent's own interfaces, real servers from its
   *  neighbour table), or "unknown". */
  role: HostRole;
  /** The host's own address when known (a real server's RIP, the director's DIP). */
  ip: string | null;
  answers: number;
  announcements: number;
  firstAt: number;
  lastAt: number;
}

export interface VipView {
  address: string;
  mode: string;
  /** Packets to or from the VIP per second, over the last 10 s. */
  packetsPerSecond: number;
  packets: number;
  /** Who answered "who-has VIP" or announced it, most recent first. */
  arp: ArpAnswererView[];
  /** ARP questions for the VIP seen. */
  questions: number;
  lastQuestionAt: number | null;
}

export interface TapView {
  device: string;
  filter: string;
  packetsPerSecond: number;
  captured: number;
  kernelDropped: number;
  interfaceDropped: number;
  ringEvicted: number;
  warnings: string[];
}

export interface InterfaceView {
  name: string;
  addresses: string[];
  mac: string | null;
}

/** `capture.status`. */
export interface CaptureStatus {
  running: boolean;
  session: string | null;
  startedAt: number | null;
  stoppedAt: number | null;
  /** Interfaces the agent's network namespace has (those with an address; others may still be named). */
  interfaces: InterfaceView[];
  taps: TapView[];
  vips: VipView[];
  /** Real servers the capture watches (from the IPVS table). */
  realServers: { ip: string; mac: string | null }[];
  /** Why the IPVS table could not be read, or the capture stopped by itself. */
  problem: string | null;
  now: number;
}

// ---------------------------------------------------------------------------------------------------------
// Evidence ids and file names
// ---------------------------------------------------------------------------------------------------------

export const SESSION_ID = /^[0-9a-f]{8}$/;
const EVIDENCE_ID = /^([0-9a-f]{8})-([1-9][0-9]{0,8})$/;

export function evidenceId(session: string, ref: number): string {
  return `${session}-${ref}`;
}

/** The session and the finding's number, or null for anything that is not exactly an evidence id. */
export function parseEvidenceId(id: string): { session: string; ref: number } | null {
  const m = EVIDENCE_ID.exec(id);
  if (m === null) return null;
  return { session: m[1]!, ref: Number(m[2]) };
}

/** The download's file name: fixed text around a validated id ("lvsdash-evidence-0a1b2c3d-4.pcap"). */
export function evidenceFileName(id: string): string | null {
  const parsed = parseEvidenceId(id);
  return parsed === null ? null : `lvsdash-evidence-${evidenceId(parsed.session, parsed.ref)}.pcap`;
}

/** `diagnostics.evidence`: the packets as a pcap file, or why there is none. */
export type EvidenceFile =
  | { found: true; kind: string; title: string; packets: EvidencePacketView[]; pcapBase64: string }
  | { found: false; reason: string };
