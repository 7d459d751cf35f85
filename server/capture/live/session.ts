// The agent's capture session: what the web's Capture and Diagnostics pages start, stop and watch. One
// session at a time, on one or more interfaces; each interface is a live runner (runner.ts: libpcap, the BPF
// filter from the site, the findings engine), and the session adds what the pages show:
//
//   - per VIP: who answered "who-has VIP" or announced it, and when; packets/s to and from it;
//   - per interface: packets/s, kernel and interface drops (pcap_stats), ring evictions;
//   - the findings with a cursor (each opened/resolved event numbered), and for each finding its evidence
//     packets, kept after they leave the engine's window, served as a small pcap.
//
//   const sessions = new CaptureSessions({ readSite: readAgentSite });
//   await sessions.start(["eth0"]);  sessions.findings(cursor);  sessions.evidence(id, ref);  sessions.stop();
//
// The site (VIPs, real servers, MACs, the director's sysctls) is re-read every `refreshMs` (5 s): a changed IPVS
// table changes the filter, a changed sysctl opens or resolves its finding.
// The packet numbers in evidence are the engine's: the session counts packets as they reach the engine (it
// wraps the capture), so packet n here is packet n there, across reopened captures too.
import { randomBytes } from "node:crypto";

import { ARP_REPLY, ARP_REQUEST, isGratuitous } from "@/server/capture/decode/arp";
import { formatIPv4, formatMac, parseIPv4, parseMac } from "@/server/capture/decode/bytes";
import { L_ARP, L_IPV4, decodePacket, newDecodedPacket } from "@/server/capture/decode/packet";
import { encodePcap } from "@/server/capture/pcapfile/writer";
import type { EngineEvent, EngineOptions, TrackedFinding } from "@/server/diagnostics/engine";
import {
  evidenceId, type ArpAnswererView, type CaptureStatus, type EvidenceFile, type FindingEvent, type FindingView,
  type FindingsReport, type InterfaceView, type TapView, type VipView,
} from "@/server/diagnostics/live";
import type { HostRole, SiteContext } from "@/server/diagnostics/types";
import { openLiveCapture, type CapturedPacket, type LiveCaptureOptions } from "@/server/kernel/capture";

import { INTERFACE_NAME, MAX_INTERFACES } from "./limits";
import { startLiveDiagnostics, type LiveDiagnostics } from "./runner";
import type { AgentSite } from "./site";

/** Evidence packets kept per finding, and their bytes at most (the evidence reply must stay small). */
const MAX_EVIDENCE_PACKETS = 40;
const MAX_EVIDENCE_BYTES = 4 << 20;
/** Packets kept by number for evidence: more than the engine's window holds at a few thousand packets/s. */
const RING_PACKETS = 20_000;
const MAX_EVENTS = 500;
const RATE_SECONDS = 10;

export class SessionError extends Error {
  override name = "SessionError";
}

export interface CaptureSessionsOptions {
  /** The site and the agent's interfaces (site.ts readAgentSite on the real kernel). */
  readSite: () => Promise<AgentSite>;
  /** The capture; default libpcap (server/kernel/capture.ts). */
  open?: typeof openLiveCapture;
  /** Seconds since the epoch. */
  now?: () => number;
  /** How often the site is read again (ms). Default 5 s. */
  refreshMs?: number;
  /** How often the engine evaluates (ms). Default 1 s. */
  intervalMs?: number;
  engine?: EngineOptions;
  capture?: Omit<LiveCaptureOptions, "device" | "filter">;
  newSessionId?: () => string;
}

/** Packets per second over the last RATE_SECONDS whole seconds, in per-second buckets. */
class Rate {
  private readonly counts = new Array<number>(RATE_SECONDS).fill(0);
  private readonly seconds = new Array<number>(RATE_SECONDS).fill(-1);
  total = 0;

  add(time: number): void {
    const s = Math.floor(time);
    const i = s % RATE_SECONDS;
    if (this.seconds[i] !== s) {
      this.seconds[i] = s;
      this.counts[i] = 0;
    }
    this.counts[i]!++;
    this.total++;
  }

  /** Over the last RATE_SECONDS seconds before `now`, or since `since` when that is more recent. */
  perSecond(now: number, since: number): number {
    const s = Math.floor(now);
    let n = 0;
    for (let i = 0; i < RATE_SECONDS; i++) if (this.seconds[i]! > s - RATE_SECONDS && this.seconds[i]! <= s) n += this.counts[i]!;
    const span = Math.min(RATE_SECONDS, Math.max(1, now - since));
    return Math.round((n / span) * 10) / 10;
  }
}

interface Answerer {
  mac: number;
  answers: number;
  announcements: number;
  firstAt: number;
  lastAt: number;
}

interface VipTrack {
  address: string;
  mode: string;
  rate: Rate;
  answerers: Map<number, Answerer>;
  questions: number;
  lastQuestionAt: number | null;
}

interface Tap {
  device: string;
  live: LiveDiagnostics;
  rate: Rate;
  /** The last RING_PACKETS packets by their engine number. */
  ring: (CapturedPacket & { n: number })[];
  counted: number;
}

interface Recorded {
  ref: number;
  device: string;
  tracked: TrackedFinding;
  packets: Map<number, CapturedPacket>;
  bytes: number;
}

interface Session {
  id: string;
  startedAt: number;
  stoppedAt: number | null;
  taps: Tap[];
  site: SiteContext;
  vips: Map<number, VipTrack>;
  /** MAC -> the host's own IPv4 address, from ARP it sent with that address (to name answerers). */
  learned: Map<number, string>;
  recorded: Map<string, Recorded>;
  nextRef: number;
  problem: string | null;
  timers: NodeJS.Timeout[];
}

export class CaptureSessions {
  private session: Session | null = null;
  private interfaces: InterfaceView[] = [];
  private events: FindingEvent[] = [];
  private seq = 0;
  private readonly now: () => number;
  private readonly decoded = newDecodedPacket();

  constructor(private readonly options: CaptureSessionsOptions) {
    this.now = options.now ?? (() => Date.now() / 1000);
  }

  /** Stops any running session and starts one on `devices`. Throws SessionError for a bad name or an
   *  interface libpcap cannot open (nothing keeps running then). */
  async start(devices: readonly string[]): Promise<CaptureStatus> {
    const names = [...new Set(devices)];
    if (names.length === 0 || names.length > MAX_INTERFACES) throw new SessionError(`choose 1 to ${MAX_INTERFACES} interfaces`);
    for (const d of names) if (!INTERFACE_NAME.test(d)) throw new SessionError(`not an interface name: ${JSON.stringify(d)}`);
    this.stop();
    const { site, interfaces, problem } = await this.options.readSite();
    this.interfaces = interfaces;
    const s: Session = {
      id: this.options.newSessionId?.() ?? randomBytes(4).toString("hex"),
      startedAt: this.now(), stoppedAt: null, taps: [], site, vips: new Map(), learned: new Map(),
      recorded: new Map(), nextRef: 1, problem, timers: [],
    };
    this.trackVips(s, site);
    try {
      for (const device of names) s.taps.push(this.openTap(s, device));
    } catch (error) {
      for (const t of s.taps) t.live.stop();
      throw new SessionError(error instanceof Error ? error.message : String(error));
    }
    s.timers.push(setInterval(() => this.collectEvidence(s), this.options.intervalMs ?? 1000));
    s.timers.push(setInterval(() => void this.refreshSite(s), this.options.refreshMs ?? 5_000));
    this.session = s;
    return this.status();
  }

  /** Stops the capture; its findings and evidence stay until the next start. */
  stop(): CaptureStatus {
    const s = this.session;
    if (s !== null && s.stoppedAt === null) {
      for (const timer of s.timers) clearInterval(timer);
      this.collectEvidence(s);
      for (const t of s.taps) t.live.stop();
      s.stoppedAt = this.now();
    }
    return this.status();
  }

  /** The interfaces to offer when no session ran yet (start() reads them too). */
  async refreshInterfaces(): Promise<void> {
    if (this.session === null || this.session.stoppedAt !== null) this.interfaces = (await this.options.readSite()).interfaces;
  }

  status(): CaptureStatus {
    const s = this.session;
    const now = this.now();
    if (s === null) {
      return {
        running: false, session: null, startedAt: null, stoppedAt: null, interfaces: this.interfaces, taps: [], vips: [],
        realServers: [], problem: null, now,
      };
    }
    const end = s.stoppedAt ?? now;
    const taps: TapView[] = s.taps.map((t) => {
      const st = t.live.state();
      return {
        device: t.device, filter: st.filter, packetsPerSecond: s.stoppedAt === null ? t.rate.perSecond(now, s.startedAt) : 0,
        captured: st.capture.captured, kernelDropped: st.capture.kernelDropped, interfaceDropped: st.capture.interfaceDropped,
        ringEvicted: st.capture.ringEvicted, warnings: st.capture.warnings,
      };
    });
    const vips: VipView[] = [...s.vips.values()].map((v) => ({
      address: v.address, mode: v.mode, packets: v.rate.total,
      packetsPerSecond: s.stoppedAt === null ? v.rate.perSecond(end, s.startedAt) : 0,
      arp: [...v.answerers.values()].sort((a, b) => b.lastAt - a.lastAt).map((a) => this.answererView(s, a)),
      questions: v.questions, lastQuestionAt: v.lastQuestionAt,
    }));
    return {
      running: s.stoppedAt === null, session: s.id, startedAt: s.startedAt, stoppedAt: s.stoppedAt,
      interfaces: this.interfaces, taps, vips,
      realServers: s.site.realServers.map((r) => ({ ip: r.ip, mac: r.mac ?? null })),
      problem: s.problem, now,
    };
  }

  /** Events after `since`, and every open and resolved finding of the current session. */
  findings(since: number): FindingsReport {
    const s = this.session;
    if (s !== null && s.stoppedAt === null) this.collectEvidence(s);
    const views = s === null ? [] : [...s.recorded.values()].map((r) => this.findingView(s, r));
    const evaluated = s?.taps.map((t) => t.live.state().evaluatedAt).filter((t): t is number => t !== null) ?? [];
    return {
      session: s?.id ?? null,
      running: s !== null && s.stoppedAt === null,
      cursor: this.seq,
      events: this.events.filter((e) => e.seq > since),
      open: views.filter((v) => v.status === "open").sort((a, b) => b.openedAt - a.openedAt),
      resolved: views.filter((v) => v.status === "resolved").sort((a, b) => (b.resolvedAt ?? 0) - (a.resolvedAt ?? 0)),
      evaluatedAt: evaluated.length > 0 ? Math.max(...evaluated) : null,
    };
  }

  /** The evidence packets of finding `ref` of session `session`, as a pcap. */
  evidence(session: string, ref: number): EvidenceFile {
    const s = this.session;
    if (s === null || s.id !== session) {
      return { found: false, reason: "that capture session is over: a new one started since (its evidence is gone)" };
    }
    if (s.stoppedAt === null) this.collectEvidence(s);
    const r = [...s.recorded.values()].find((x) => x.ref === ref);
    if (r === undefined) return { found: false, reason: `no finding ${ref} in this capture session` };
    const packets = [...r.packets.entries()].sort((a, b) => a[0] - b[0]);
    if (packets.length === 0) return { found: false, reason: "its packets were no longer held when the finding was recorded" };
    const pcap = encodePcap(
      packets.map(([, p]) => {
        const sec = Math.floor(p.time);
        const usec = Math.min(999_999, Math.round((p.time - sec) * 1e6));
        return { data: p.data, tsSec: sec, tsNsec: usec * 1000, origLen: p.origLen };
      }),
    );
    return {
      found: true, kind: r.tracked.kind, title: r.tracked.finding.title,
      packets: packets.map(([n, p]) => ({ number: n + 1, time: p.time })),
      pcapBase64: Buffer.from(pcap.buffer, pcap.byteOffset, pcap.byteLength).toString("base64"),
    };
  }

  // -------------------------------------------------------------------------------------------------------

  private openTap(s: Session, device: string): Tap {
    const open = this.options.open ?? openLiveCapture;
    const tap: Tap = { device, live: undefined as unknown as LiveDiagnostics, rate: new Rate(), ring: new Array(RING_PACKETS), counted: 0 };
    // Every packet the engine gets passes here first, in the same order: its number is the engine's.
    const counting: typeof openLiveCapture = (options, onPacket) =>
      open(options, (p) => {
        const n = tap.counted++;
        tap.ring[n % RING_PACKETS] = { ...p, n };
        tap.rate.add(p.time);
        this.observe(s, p);
        onPacket?.(p);
      });
    tap.live = startLiveDiagnostics({
      device, site: s.site, open: counting, now: this.now, intervalMs: this.options.intervalMs,
      ...(this.options.engine ? { engine: this.options.engine } : {}),
      ...(this.options.capture ? { capture: this.options.capture } : {}),
      onEvents: (events) => this.onEvents(s, tap, events),
      onError: (e) => {
        s.problem = `the detectors failed: ${e instanceof Error ? e.message : String(e)}`;
      },
    });
    return tap;
  }

  private onEvents(s: Session, tap: Tap, events: EngineEvent[]): void {
    for (const e of events) {
      const r = this.record(s, tap, e.finding);
      this.events.push({
        seq: ++this.seq, type: e.type, time: e.time, evidenceId: evidenceId(s.id, r.ref),
        title: e.finding.finding.title, severity: e.finding.finding.severity,
      });
    }
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
  }

  private record(s: Session, tap: Tap, t: TrackedFinding): Recorded {
    const key = `${tap.device}|${t.key}`;
    let r = s.recorded.get(key);
    if (r === undefined) s.recorded.set(key, (r = { ref: s.nextRef++, device: tap.device, tracked: t, packets: new Map(), bytes: 0 }));
    r.tracked = t;
    this.keepEvidence(tap, r);
    return r;
  }

  /** Copies the evidence packets of every open finding out of the ring while they are still in it. */
  private collectEvidence(s: Session): void {
    for (const tap of s.taps) {
      for (const t of tap.live.state().open) this.record(s, tap, t);
    }
  }

  private keepEvidence(tap: Tap, r: Recorded): void {
    for (const e of r.tracked.finding.evidence) {
      if (r.packets.size >= MAX_EVIDENCE_PACKETS) return;
      if (r.packets.has(e.packetIndex)) continue;
      const p = tap.ring[e.packetIndex % RING_PACKETS];
      if (p === undefined || p.n !== e.packetIndex || r.bytes + p.data.length > MAX_EVIDENCE_BYTES) continue;
      r.packets.set(e.packetIndex, p);
      r.bytes += p.data.length;
    }
  }

  private findingView(s: Session, r: Recorded): FindingView {
    const t = r.tracked;
    const f = t.finding;
    return {
      evidenceId: evidenceId(s.id, r.ref), kind: t.kind, device: r.device, status: t.status, severity: f.severity,
      title: f.title, explanation: f.explanation, hosts: f.hosts, fix: f.fix,
      evidence: f.evidence.map((e) => ({ number: e.packetIndex + 1, time: e.time })),
      evidenceStored: r.packets.size, activity: f.activity ?? null,
      openedAt: t.openedAt, lastEvidenceAt: t.lastEvidenceAt, resolvedAt: t.resolvedAt, reopened: t.reopened,
    };
  }

  private trackVips(s: Session, site: SiteContext): void {
    const next = new Map<number, VipTrack>();
    for (const v of site.vips) {
      const ip = parseIPv4(v.address);
      if (ip === null) continue;
      const old = s.vips.get(ip);
      next.set(ip, old ? { ...old, mode: v.mode } : {
        address: v.address, mode: v.mode, rate: new Rate(), answerers: new Map(), questions: 0, lastQuestionAt: null,
      });
    }
    s.vips = next;
  }

  /** Per-VIP bookkeeping for the capture page (the detectors keep their own). */
  private observe(s: Session, packet: CapturedPacket): void {
    const p = this.decoded;
    decodePacket(packet.data, 0, packet.data.length, p);
    if (p.layers & L_ARP) {
      const a = p.arp;
      const vip = s.vips.get(a.senderIp);
      if (vip === undefined) {
        if (a.senderIp !== 0 && s.learned.size < 4096) s.learned.set(a.senderMac, formatIPv4(a.senderIp));
        const asked = s.vips.get(a.targetIp);
        if (asked !== undefined && a.op === ARP_REQUEST) {
          asked.questions++;
          asked.lastQuestionAt = packet.time;
        }
        return;
      }
      const gratuitous = isGratuitous(a);
      if (!gratuitous && a.op !== ARP_REPLY) return;
      let who = vip.answerers.get(a.senderMac);
      if (who === undefined) {
        if (vip.answerers.size >= 64) return;
        vip.answerers.set(a.senderMac, (who = { mac: a.senderMac, answers: 0, announcements: 0, firstAt: packet.time, lastAt: packet.time }));
      }
      if (gratuitous) who.announcements++;
      else who.answers++;
      who.lastAt = packet.time;
    } else if (p.layers & L_IPV4) {
      const vip = s.vips.get(p.ip4.dst) ?? s.vips.get(p.ip4.src);
      vip?.rate.add(packet.time);
    }
  }

  private answererView(s: Session, a: Answerer): ArpAnswererView {
    const mac = formatMac(a.mac);
    const known = (hosts: SiteContext["directors"] | undefined) => hosts?.find((h) => h.mac !== undefined && parseMac(h.mac) === a.mac);
    const director = known(s.site.directors);
    const backup = known(s.site.declaredBackupDirectors);
    const rs = known(s.site.realServers);
    const host = director ?? backup ?? rs;
    const learnedIp = s.learned.get(a.mac) ?? null;
    const learnedRole: HostRole =
      learnedIp === null ? "unknown"
      : s.site.realServers.some((r) => r.ip === learnedIp) ? "real-server"
      : s.site.directors.some((d) => d.ip === learnedIp) ? "director" : "unknown";
    const role: HostRole = director ? "director" : backup ? "backup-director" : rs ? "real-server" : learnedRole;
    return { mac, role, ip: host?.ip ?? learnedIp, answers: a.answers, announcements: a.announcements, firstAt: a.firstAt, lastAt: a.lastAt };
  }

  private async refreshSite(s: Session): Promise<void> {
    try {
      const { site, interfaces, problem } = await this.options.readSite();
      if (this.session !== s || s.stoppedAt !== null) return;
      this.interfaces = interfaces;
      s.site = site;
      s.problem = problem;
      this.trackVips(s, site);
      for (const t of s.taps) t.live.setSite(site);
    } catch (error) {
      s.problem = `the site could not be read again: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
}
