// The live findings engine: every detector (SiteDetectors, as analyzePcap runs them) over a sliding window of
// the most recent packets, and findings that open, stay open and resolve over time. PURE over (packets,
// clock): the caller pushes packets with their capture time and calls evaluate(now) on its own clock (the
// agent's live runner once a second; tests with synthetic time).
//
//   const engine = new FindingsEngine(site, { windowSeconds: 6 });
//   engine.push(bytesICanKeep, time);          // per packet (the engine keeps the array: give it a copy)
//   const events = engine.evaluate(now);       // [{ type: "opened" | "resolved", finding, time }]
//   engine.open(); engine.resolved();
//
// Each evaluation decodes the window again and runs fresh detectors over it. A finding is identified by its
// kind and its hosts (IP, MAC), not by wording or counts. A finding counts as active while the detectors
// report it and its evidence has not stopped: its last offending packet is less than
// max(quietSeconds, twice its own usual interval) old, or no traffic came after it. (The window is long, so
// that sparse evidence, such as one failing connection every few seconds, is seen; the quiet time is short,
// so that a fix shows within seconds.) An open finding that is no longer active is resolved only when
//   - traffic continues: at least `minTrafficToResolve` packets arrived after its last evidence packet
//     (a silent link proves nothing, the finding stays open), and
//   - no finding reported now names the same culprit (its first host): one problem seen several ways keeps
//     all its findings open. In DR with a real server answering ARP for the VIP, the ARP answers come once
//     per cache refresh while the traffic that bypasses the director goes on all the time;
//   - for a finding about who answers ARP for a VIP: the question was asked again within the window and the
//     culprit's MAC was not among those who answered.
// A finding about a host's own settings (sysctls.ts, from the site's hostFacts: no packets) resolves as soon
// as it is no longer reported: give the engine the host's facts read again with setSite(). Such claims happen once per question, so their absence
//     for a while says nothing: if the router happened to keep the director's answer, nothing else shows the
//     real server that still answers (it will, at the next broadcast question).
// A finding active again after it resolved is reopened (same entry, `reopened` counts).

import { decodePacket, newDecodedPacket } from "@/server/capture/decode/packet";
import { SiteDetectors, findingKind, type AnalyzeOptions } from "./analyze";
import type { Finding, SiteContext } from "./types";

export interface EngineOptions extends AnalyzeOptions {
  /** Seconds of packets the detectors see. Default 10. */
  windowSeconds?: number;
  /** Seconds without an offending packet (at least; more for evidence that comes more rarely) after which
   *  a finding's evidence counts as stopped. Default 3. */
  quietSeconds?: number;
  /** Packets after the last evidence before an unreported finding resolves. Default 3. */
  minTrafficToResolve?: number;
  /** Most packets kept in the window (the oldest go first). Default 200,000. */
  maxWindowPackets?: number;
  /** Resolved findings kept. Default 200. */
  maxResolved?: number;
}

export interface TrackedFinding {
  /** `${kind}|${ip}/${mac},...` */
  key: string;
  kind: string;
  status: "open" | "resolved";
  /** The latest report of it. */
  finding: Finding;
  /** When it was first reported (evaluation time, s). */
  openedAt: number;
  /** Time of its latest evidence packet. */
  lastEvidenceAt: number;
  /** The last evaluation that found it active. */
  lastReportedAt: number;
  /** ARP claims: a window since it was last active showed the VIP's question answered without the culprit. */
  answeredWithoutCulprit: boolean;
  resolvedAt: number | null;
  reopened: number;
}

export interface EngineEvent {
  type: "opened" | "resolved";
  time: number;
  finding: TrackedFinding;
}

interface WindowPacket {
  data: Uint8Array;
  time: number;
  index: number;
}

export class FindingsEngine {
  private site: SiteContext;
  private readonly windowSeconds: number;
  private readonly quietSeconds: number;
  private readonly minTraffic: number;
  private readonly maxWindowPackets: number;
  private readonly maxResolved: number;
  private window: WindowPacket[] = [];
  private head = 0;
  private nextIndex = 0;
  private readonly tracked = new Map<string, TrackedFinding>();
  private readonly decoded = newDecodedPacket();

  constructor(site: SiteContext, private readonly options: EngineOptions = {}) {
    this.site = site;
    this.windowSeconds = options.windowSeconds ?? 10;
    this.quietSeconds = options.quietSeconds ?? 3;
    this.minTraffic = options.minTrafficToResolve ?? 3;
    this.maxWindowPackets = options.maxWindowPackets ?? 200_000;
    this.maxResolved = options.maxResolved ?? 200;
  }

  /** A new picture of the site (the IPVS table or the MACs changed): used from the next evaluation. */
  setSite(site: SiteContext): void {
    this.site = site;
  }

  /** One captured frame. The engine keeps `data` as it is: pass a copy, never a capture library's buffer.
   *  Returns the packet's index (evidence refers to packets by it). */
  push(data: Uint8Array, time: number): number {
    const index = this.nextIndex++;
    this.window.push({ data, time, index });
    if (this.window.length - this.head > this.maxWindowPackets) this.head++;
    return index;
  }

  /** Packets pushed so far, and those in the window now. */
  get counts(): { pushed: number; inWindow: number } {
    return { pushed: this.nextIndex, inWindow: this.window.length - this.head };
  }

  /** Runs the detectors over the window ending at `now` and returns what opened and resolved. */
  evaluate(now: number): EngineEvent[] {
    this.trim(now);
    const detectors = new SiteDetectors(this.site, this.options);
    const p = this.decoded;
    for (let i = this.head; i < this.window.length; i++) {
      const w = this.window[i]!;
      decodePacket(w.data, 0, w.data.length, p);
      detectors.observe(p, w.index, w.time);
    }
    const reported = detectors.findings(now).filter((f) => !this.quiet(f, now));
    const answerers = detectors.vipAnswerers();
    const events: EngineEvent[] = [];
    const reportedKeys = new Set<string>();
    const culprits = new Set<string>();
    for (const f of reported) {
      const key = findingKey(f);
      reportedKeys.add(key);
      culprits.add(culpritOf(f));
      const lastEvidence = lastOffence(f);
      let t = this.tracked.get(key);
      if (t === undefined) {
        t = {
          key, kind: findingKind(f), status: "open", finding: f, openedAt: now,
          lastEvidenceAt: lastEvidence ?? now, lastReportedAt: now, answeredWithoutCulprit: false, resolvedAt: null, reopened: 0,
        };
        this.tracked.set(key, t);
        events.push({ type: "opened", time: now, finding: t });
        continue;
      }
      t.finding = f;
      t.lastReportedAt = now;
      t.answeredWithoutCulprit = false;
      if (lastEvidence !== null) t.lastEvidenceAt = Math.max(t.lastEvidenceAt, lastEvidence);
      if (t.status === "resolved") {
        t.status = "open";
        t.resolvedAt = null;
        t.reopened++;
        events.push({ type: "opened", time: now, finding: t });
      }
    }
    for (const t of this.tracked.values()) {
      if (t.status !== "open" || reportedKeys.has(t.key)) continue;
      // A finding about a host's own state (effective sysctls: no packets) is over once it is no longer
      // reported: the state was read again and is fixed. No traffic is needed to prove it.
      if (isStateFinding(t.finding)) {
        t.status = "resolved";
        t.resolvedAt = now;
        events.push({ type: "resolved", time: now, finding: t });
        continue;
      }
      if (ARP_CLAIM_KINDS.has(t.kind) && askedAgainWithoutCulprit(t.finding, answerers)) t.answeredWithoutCulprit = true;
      if (culprits.has(culpritOf(t.finding))) continue;
      if (this.packetsAfter(t.lastEvidenceAt) < this.minTraffic) continue;
      if (ARP_CLAIM_KINDS.has(t.kind) && !t.answeredWithoutCulprit) continue;
      t.status = "resolved";
      t.resolvedAt = now;
      events.push({ type: "resolved", time: now, finding: t });
    }
    this.forgetOldResolved();
    return events;
  }

  open(): TrackedFinding[] {
    return [...this.tracked.values()].filter((t) => t.status === "open");
  }

  resolved(): TrackedFinding[] {
    return [...this.tracked.values()].filter((t) => t.status === "resolved");
  }

  /** The detectors still see it, but its evidence stopped a while ago while traffic went on. */
  private quiet(f: Finding, now: number): boolean {
    const a = f.activity ?? activityOfEvidence(f);
    if (a === null || a === undefined) return false;
    const interval = a.count > 1 ? (a.last - a.first) / (a.count - 1) : 0;
    return now - a.last >= Math.max(this.quietSeconds, 2 * interval) && this.packetsAfter(a.last) >= this.minTraffic;
  }

  private trim(now: number): void {
    const oldest = now - this.windowSeconds;
    while (this.head < this.window.length && this.window[this.head]!.time < oldest) this.head++;
    if (this.head > 4096 && this.head * 2 > this.window.length) {
      this.window = this.window.slice(this.head);
      this.head = 0;
    }
  }

  private packetsAfter(time: number): number {
    let n = 0;
    // Packets come in time order: count back from the newest.
    for (let i = this.window.length - 1; i >= this.head && n < this.minTraffic && this.window[i]!.time > time; i--) n++;
    return n;
  }

  private forgetOldResolved(): void {
    const resolved = this.resolved();
    if (resolved.length <= this.maxResolved) return;
    resolved.sort((a, b) => (a.resolvedAt ?? 0) - (b.resolvedAt ?? 0));
    for (const t of resolved.slice(0, resolved.length - this.maxResolved)) this.tracked.delete(t.key);
  }
}

/** A finding from the host's state (server/diagnostics/sysctls.ts), not from packets. */
function isStateFinding(f: Finding): boolean {
  return f.evidence.length === 0 && f.activity === undefined;
}

/** Findings about a MAC answering ARP for a VIP (server/diagnostics/arp-ownership.ts). */
const ARP_CLAIM_KINDS = new Set(["arp-real-server-claims-vip", "arp-unknown-host-claims-vip"]);

/** The VIP of an ARP claim finding is in its id ("<kind>:<VIP>:..."); its culprits are its hosts' MACs
 *  other than a director's. True when someone answered for the VIP in the window, and none of them. */
function askedAgainWithoutCulprit(f: Finding, answerers: ReadonlyMap<string, ReadonlySet<string>>): boolean {
  const vip = f.id.split(":")[1] ?? "";
  const macs = answerers.get(vip);
  if (macs === undefined || macs.size === 0) return false;
  return f.hosts.every((h) => h.role === "director" || !macs.has(h.mac));
}

function activityOfEvidence(f: Finding): NonNullable<Finding["activity"]> | null {
  const first = f.evidence[0];
  const last = f.evidence[f.evidence.length - 1];
  return first === undefined || last === undefined ? null : { count: f.evidence.length, first: first.time, last: last.time };
}

function lastOffence(f: Finding): number | null {
  return f.activity?.last ?? activityOfEvidence(f)?.last ?? null;
}

/** A finding's identity: its kind and its hosts, in order. */
export function findingKey(f: Finding): string {
  return `${findingKind(f)}|${f.hosts.map((h) => `${h.ip}/${h.mac}`).join(",")}`;
}

function culpritOf(f: Finding): string {
  const h = f.hosts[0];
  return h === undefined ? "" : `${h.ip}/${h.mac}`;
}
