// Does the VIP's traffic take the way its forwarding mode needs, there and back? Judged from the packets of
// a capture and the site (VIPs with their mode, directors, real servers, MACs given or learned from ARP).
//
// What each mode needs, and what goes wrong (MODES below is the one place that says it):
//
//   DR    director --(same IP packet, to the RS's MAC)--> RS --(source VIP)--> router -> client
//         fault: the RS's default route points at the director: its replies (source VIP) reach the
//                director's MAC, and the director, which owns the VIP, drops them.
//   TUN   director --(IPIP to the RS's RIP)--> RS: tunl0 -> (source VIP) --> router -> client
//         faults: as DR; and the RS drops the decapsulated SYN (rp_filter, or no VIP on tunl0): the
//                 tunnelled SYNs get no reply at all.
//   NAT   director --(destination rewritten to RIP:port)--> RS --(source RIP, to the director's MAC)-->
//         director (rewrites the source back to the VIP) -> client
//         faults: the RS's default route is not the director: no SYN-ACK comes back through the director;
//                 it goes to another MAC (the reply reaches the client from the RS's own address, which the
//                 client refuses), or it never leaves (no route; or a gateway nobody answers ARP for).
//   FULLNAT (mainline stand-in: NAT + an SNAT rule on the director, net.ipv4.vs.conntrack=1)
//         the forwarded SYN must carry the director's SNAT address as source; if it carries the client's,
//         the SNAT did not apply (net.ipv4.vs.conntrack=0) and the RS answers through its own gateway.
//
// On the director's segment in DR each client packet appears twice (router MAC -> director MAC, then
// director MAC -> RS MAC, the same IP header): nothing here counts packets per IP header, so the second
// copy is neither a retransmission nor a new connection. Client SYN retransmissions are one flow.
//
// Which MAC is a director's is judged when findings are asked for, not per packet: a MAC learned from ARP
// late in the capture still classifies the packets before it. Memory is bounded: counters per host pair,
// at most MAX_FLOWS connections waiting for an answer, and the first few evidence packets per finding.
//
// Which capture: DR/TUN checks need the segment where the real servers and the director meet (the LAN);
// NAT/FULLNAT checks need the real servers' side of the director (its inner interface or that segment).

import { ARP_REPLY, ARP_REQUEST, isGratuitous } from "@/server/capture/decode/arp";
import { formatIPv4, formatMac, isGroupMac, parseIPv4, parseMac } from "@/server/capture/decode/bytes";
import { IPPROTO_IPIP } from "@/server/capture/decode/ipv4";
import { L_ARP, L_IPV4, L_TCP, L_TUNNEL, type DecodedPacket } from "@/server/capture/decode/packet";
import { TCP_ACK, TCP_SYN } from "@/server/capture/decode/tcp";
import type { Finding, SiteContext, SiteHost, VipMode } from "./types";

export interface ReturnPathOptions {
  /** Evidence packets kept per finding. Default 20. */
  maxEvidence?: number;
  /** A SYN without a SYN-ACK this long (s) counts as unanswered. Default 1. */
  answerWait?: number;
  /** Unanswered connections to one real server before it is reported. Default 3. */
  minUnanswered?: number;
}

/** Finding kinds (the part of `Finding.id` before the first ":"). */
export const RETURN_PATH_KINDS = {
  replyViaDirector: "reply-via-director",
  vipBypassesDirector: "vip-traffic-bypasses-director",
  tunnelUnanswered: "tun-syn-unanswered",
  natUnanswered: "nat-syn-unanswered",
  natReplyBypass: "nat-reply-bypasses-director",
  gatewayUnanswered: "gateway-arp-unanswered",
  fullnatNoSnat: "fullnat-snat-missing",
} as const;

/** What each forwarding mode needs of the return path: the one place that knows it. */
const MODES: Readonly<Record<VipMode, {
  /** How the director hands a connection to a real server: the same frame to its MAC, IPIP to its RIP, or
   *  the destination rewritten to its RIP. */
  forward: "mac" | "ipip" | "rewrite";
  /** Replies must come back through the director (NAT) or must not (DR, TUN: source VIP, via the router). */
  repliesViaDirector: boolean;
  /** The forwarded packet's source must be the director's SNAT address (FULLNAT). */
  snat: boolean;
  /** What the real server's default gateway must be. */
  gatewayText: string;
}>> = {
  dr: { forward: "mac", repliesViaDirector: false, snat: false, gatewayText: "the LAN's router (never the director)" },
  tun: { forward: "ipip", repliesViaDirector: false, snat: false, gatewayText: "its own router (never the director)" },
  nat: { forward: "rewrite", repliesViaDirector: true, snat: false, gatewayText: "the director's address on its segment (the DIP)" },
  fullnat: { forward: "rewrite", repliesViaDirector: false, snat: true, gatewayText: "any router: replies go to the director's SNAT address" },
};

const MAX_FLOWS = 100_000;
const MAX_PAIRS = 10_000;

type Evidence = Finding["evidence"][number];

interface RealServerInfo {
  ip: string;
  ipNum: number;
  mac: number | null;
  mode: VipMode;
  /** The VIPs it serves (for the commands). */
  vips: string[];
  port: number | null;
  lanInterface: string;
  name?: string;
  /** FULLNAT: the source addresses its forwarded connections may carry (the SNAT addresses of its VIPs). */
  snat: Set<number>;
}

/** Counts and first packets of one kind of evidence. */
interface Tally {
  count: number;
  first: number;
  last: number;
  evidence: Evidence[];
}

interface Flow {
  rs: RealServerInfo;
  firstTime: number;
  evidence: Evidence;
  /** Source address of the forwarded SYN (FULLNAT: must be the SNAT address). */
  src: number;
  sport: number;
  dst: number;
  dport: number;
  /** The next connection from the same client address and port (FlowTable's chain). */
  next: Flow | null;
}

/** Connections waiting for their SYN-ACK, by numbers: no string is made per packet (a "src:sport>dst:dport"
 *  key per SYN and SYN-ACK cost a third of the detectors' time at 1M packets). The client side, address *
 *  65536 + port (exact in a double), picks a chain; the real-server side tells its entries apart. Iteration
 *  is by first insertion of the client side: oldest first, as the bound on its size needs. */
class FlowTable {
  private readonly byClient = new Map<number, Flow>();
  size = 0;

  get(src: number, sport: number, dst: number, dport: number): Flow | undefined {
    let f: Flow | null | undefined = this.byClient.get(src * 65536 + sport);
    while (f !== undefined && f !== null && (f.dst !== dst || f.dport !== dport)) f = f.next;
    return f ?? undefined;
  }

  add(f: Flow): void {
    const key = f.src * 65536 + f.sport;
    const head = this.byClient.get(key);
    if (head === undefined) this.byClient.set(key, f);
    else {
      let last = head;
      while (last.next !== null) last = last.next;
      last.next = f;
    }
    this.size++;
  }

  delete(f: Flow): void {
    const key = f.src * 65536 + f.sport;
    const head = this.byClient.get(key);
    if (head === undefined) return;
    if (head === f) {
      if (f.next === null) this.byClient.delete(key);
      else this.byClient.set(key, f.next);
    } else {
      let prev = head;
      while (prev.next !== null && prev.next !== f) prev = prev.next;
      if (prev.next !== f) return;
      prev.next = f.next;
    }
    f.next = null;
    this.size--;
  }

  oldest(): Flow | undefined {
    return this.byClient.values().next().value;
  }

  *values(): Generator<Flow> {
    for (let f of this.byClient.values()) {
      for (let g: Flow | null = f; g !== null; g = g.next) yield g;
    }
  }
}

interface RsState {
  unanswered: Tally;
  answered: number;
  /** Replies of forwarded connections, by the MAC they were sent to (NAT: must be a director's). */
  repliesTo: Map<number, Tally>;
}

export class ReturnPathDetector {
  private readonly maxEvidence: number;
  private readonly answerWait: number;
  private readonly minUnanswered: number;
  private readonly vips = new Map<number, { text: string; mode: VipMode; snat: Set<number> }>();
  private readonly directorIps = new Map<number, SiteHost>();
  private readonly directorMacs = new Map<number, SiteHost>();
  private readonly rsByIp = new Map<number, RealServerInfo>();
  private readonly rsByMac = new Map<number, RealServerInfo>();
  private readonly gateways: SiteHost[];
  private readonly siteIps = new Set<number>();

  /** Connections forwarded to a real server and not answered yet, as the RS sees them. */
  private readonly flows = new FlowTable();
  private readonly rs = new Map<RealServerInfo, RsState>();
  /** Packets from the VIP (source) sent by MAC `src` to MAC `dst`: src -> dst -> tally (numbers as keys: no
   *  allocation per packet, these are every reply in DR/TUN). */
  private readonly fromVip: PairTallies = new Map();
  /** Packets to the VIP sent by MAC `src` to a real server's MAC `dst`. */
  private readonly toVipAtRs: PairTallies = new Map();
  /** FULLNAT: forwarded SYNs whose source is not an SNAT address, per VIP. */
  private readonly noSnat = new Map<string, Tally & { rs: Set<RealServerInfo>; clients: Set<number> }>();
  /** ARP requests a real server sent for an address, and the addresses seen answering ARP. */
  private readonly asks = new Map<string, Tally & { rs: RealServerInfo; target: number }>();
  private readonly arpSenders = new Set<number>();
  /** MACs that SYN-ACKs of tunnelled connections were sent to (the healthy path: the router's). */
  private readonly tunnelReplyMacs = new Set<number>();
  private lastTime = 0;

  constructor(site: SiteContext, options: ReturnPathOptions = {}) {
    this.maxEvidence = options.maxEvidence ?? 20;
    this.answerWait = options.answerWait ?? 1;
    this.minUnanswered = options.minUnanswered ?? 3;
    const directorIps: number[] = [];
    for (const d of site.directors) {
      const ip = parseIPv4(d.ip);
      if (ip !== null) {
        this.directorIps.set(ip, d);
        directorIps.push(ip);
        this.siteIps.add(ip);
      }
      const mac = d.mac === undefined ? null : parseMac(d.mac);
      if (mac !== null) this.directorMacs.set(mac, d);
    }
    for (const v of site.vips) {
      const ip = parseIPv4(v.address);
      if (ip === null) continue;
      const snat = new Set((v.snatAddresses ?? []).map(parseIPv4).filter((n): n is number => n !== null));
      if (snat.size === 0) for (const d of directorIps) snat.add(d);
      this.vips.set(ip, { text: v.address, mode: v.mode, snat });
      this.siteIps.add(ip);
    }
    const onlyMode = new Set(site.vips.map((v) => v.mode)).size === 1 ? site.vips[0]!.mode : null;
    for (const h of site.realServers) {
      const ip = parseIPv4(h.ip);
      if (ip === null) continue;
      const serving = site.vips.filter((v) => v.realServers?.some((r) => r.ip === h.ip));
      const mode = serving[0]?.mode ?? onlyMode;
      if (mode === null) continue; // a real server of no known VIP in a mixed site: no mode to judge by
      const info: RealServerInfo = {
        ip: h.ip, ipNum: ip, mac: h.mac === undefined ? null : parseMac(h.mac), mode,
        vips: (serving.length > 0 ? serving : site.vips.filter((v) => v.mode === mode)).map((v) => v.address),
        port: serving[0]?.realServers?.find((r) => r.ip === h.ip)?.port ?? null,
        lanInterface: h.lanInterface ?? "eth0", name: h.name, snat: new Set(),
      };
      for (const v of info.vips) for (const a of this.vips.get(parseIPv4(v) ?? -1)?.snat ?? []) info.snat.add(a);
      this.rsByIp.set(ip, info);
      if (info.mac !== null) this.rsByMac.set(info.mac, info);
      this.siteIps.add(ip);
    }
    this.gateways = site.gateways ?? [];
  }

  observe(p: DecodedPacket, packetIndex: number, time: number): void {
    this.lastTime = time;
    const layers = p.layers;
    if (layers & L_ARP) return this.observeArp(p, packetIndex, time);
    if (!(layers & L_IPV4)) return;
    const ip = p.ip4;
    const eth = p.eth;

    // A real server's replies: source VIP, sent by a MAC to a MAC (judged later: director's or not).
    const fromVip = this.vips.get(ip.src);
    if (fromVip !== undefined && !MODES[fromVip.mode].repliesViaDirector && !isGroupMac(eth.dst)) {
      this.pairTally(this.fromVip, eth.src, eth.dst, fromVip.text, packetIndex, time);
    }
    // The VIP's traffic arriving at a real server's MAC without being tunnelled or rewritten.
    const toVip = this.vips.get(ip.dst);
    if (toVip !== undefined && !(layers & L_TUNNEL) && this.rsByMac.has(eth.dst)) {
      this.pairTally(this.toVipAtRs, eth.src, eth.dst, toVip.text, packetIndex, time);
    }

    if (!(layers & L_TCP)) return;
    const tcp = p.tcp;
    const syn = (tcp.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
    const synAck = (tcp.flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK);
    if (!syn && !synAck) return;

    if (layers & L_TUNNEL) {
      // TUN: director -> RS, IPIP, inner client -> VIP.
      if (!syn || ip.protocol !== IPPROTO_IPIP) return;
      const rs = this.rsByIp.get(ip.dst);
      const inner = p.inner4;
      if (rs === undefined || rs.mode !== "tun" || !this.vips.has(inner.dst)) return;
      this.forwarded(rs, inner.src, tcp.srcPort, inner.dst, tcp.dstPort, packetIndex, time);
      return;
    }
    if (syn) {
      const rs = this.rsByIp.get(ip.dst);
      // Another site host talking to the real server is not a forwarded connection.
      if (rs === undefined || MODES[rs.mode].forward !== "rewrite" || (this.siteIps.has(ip.src) && !this.directorIps.has(ip.src))) return;
      this.forwarded(rs, ip.src, tcp.srcPort, ip.dst, tcp.dstPort, packetIndex, time);
      if (MODES[rs.mode].snat) {
        const vip = rs.vips[0] ?? "";
        if (!rs.snat.has(ip.src)) {
          let t = this.noSnat.get(vip);
          if (t === undefined) this.noSnat.set(vip, (t = { ...newTally(time), rs: new Set(), clients: new Set() }));
          this.tally(t, packetIndex, time);
          t.rs.add(rs);
          if (t.clients.size < 100) t.clients.add(ip.src);
        }
      }
      return;
    }
    // SYN-ACK: the answer to a forwarded connection, keyed the way its SYN was.
    const flow = this.flows.get(ip.dst, tcp.dstPort, ip.src, tcp.srcPort);
    if (flow === undefined) return;
    this.flows.delete(flow);
    const st = this.state(flow.rs);
    st.answered++;
    if (MODES[flow.rs.mode].forward === "ipip" && this.tunnelReplyMacs.size < 64) this.tunnelReplyMacs.add(eth.dst);
    if (MODES[flow.rs.mode].forward === "rewrite" && !isGroupMac(eth.dst)) {
      let t = st.repliesTo.get(eth.dst);
      if (t === undefined && st.repliesTo.size < MAX_PAIRS) st.repliesTo.set(eth.dst, (t = newTally(time)));
      if (t !== undefined) this.tally(t, packetIndex, time);
    }
  }

  private observeArp(p: DecodedPacket, packetIndex: number, time: number): void {
    const a = p.arp;
    if (isGroupMac(a.senderMac) || a.senderMac === 0) return;
    if (a.op === ARP_REPLY || (a.op === ARP_REQUEST && a.senderIp !== 0)) this.arpSenders.add(a.senderIp);
    // Learn MACs: a host ARPing from its own address.
    const rs = this.rsByIp.get(a.senderIp);
    if (rs !== undefined && rs.mac === null) {
      rs.mac = a.senderMac;
      if (!this.rsByMac.has(a.senderMac)) this.rsByMac.set(a.senderMac, rs);
    }
    const dir = this.directorIps.get(a.senderIp);
    if (dir !== undefined && !this.directorMacs.has(a.senderMac) && !this.rsByMac.has(a.senderMac)) this.directorMacs.set(a.senderMac, dir);
    // A real server asking for an address (its gateway, most often).
    if (rs !== undefined && a.op === ARP_REQUEST && !isGratuitous(a) && a.targetIp !== a.senderIp) {
      const key = `${a.senderIp}>${a.targetIp}`;
      let t = this.asks.get(key);
      if (t === undefined) {
        if (this.asks.size >= MAX_PAIRS) return;
        this.asks.set(key, (t = { ...newTally(time), rs, target: a.targetIp }));
      }
      this.tally(t, packetIndex, time);
    }
  }

  private forwarded(rs: RealServerInfo, src: number, sport: number, dst: number, dport: number, packetIndex: number, time: number) {
    if (this.flows.get(src, sport, dst, dport) !== undefined) return; // a retransmitted SYN: the same connection
    if (this.flows.size >= MAX_FLOWS) {
      const old = this.flows.oldest()!;
      this.flows.delete(old);
      this.judgeUnanswered(old);
    }
    this.flows.add({ rs, firstTime: time, evidence: { packetIndex, time }, src, sport, dst, dport, next: null });
  }

  private judgeUnanswered(f: Flow): void {
    this.tally(this.state(f.rs).unanswered, f.evidence.packetIndex, f.evidence.time, f.firstTime);
  }

  private state(rs: RealServerInfo): RsState {
    let st = this.rs.get(rs);
    if (st === undefined) this.rs.set(rs, (st = { unanswered: newTally(0), answered: 0, repliesTo: new Map() }));
    return st;
  }

  private pairTally(map: PairTallies, src: number, dst: number, vip: string, packetIndex: number, time: number) {
    let bySrc = map.get(src);
    if (bySrc === undefined) {
      if (map.size >= MAX_PAIRS) return;
      map.set(src, (bySrc = new Map()));
    }
    let t = bySrc.get(dst);
    if (t === undefined) {
      if (bySrc.size >= MAX_PAIRS) return;
      bySrc.set(dst, (t = { ...newTally(time), src, dst, vip }));
    }
    this.tally(t, packetIndex, time);
  }

  private tally(t: Tally, packetIndex: number, time: number, first = time): void {
    if (t.count === 0) t.first = first;
    t.count++;
    t.last = time;
    if (t.evidence.length < this.maxEvidence) t.evidence.push({ packetIndex, time });
  }

  /** The findings as of `now` (default: the last packet's time): a SYN counts as unanswered once it is
   *  `answerWait` old. Does not change the detector's state. */
  findings(now = this.lastTime): Finding[] {
    const out: Finding[] = [];
    const unanswered = new Map<RealServerInfo, Tally>();
    for (const [rs, st] of this.rs) unanswered.set(rs, { ...st.unanswered, evidence: [...st.unanswered.evidence] });
    // TUN: a real server's silence means something only where the capture sees real servers answer by
    // the healthy path (to a MAC that is not a director's: the router). On the director's own interface
    // the only replies seen are those wrongly sent to it.
    const tunnelRepliesVisible = [...this.tunnelReplyMacs].some((m) => !this.directorMacs.has(m));
    for (const f of this.flows.values()) {
      if (now - f.firstTime < this.answerWait) continue;
      let t = unanswered.get(f.rs);
      if (t === undefined) unanswered.set(f.rs, (t = newTally(f.firstTime)));
      this.tally(t, f.evidence.packetIndex, f.evidence.time, f.firstTime);
    }

    const snatMissing = new Set<string>();
    for (const [vip, t] of this.noSnat) {
      snatMissing.add(vip);
      out.push(this.fullnatFinding(vip, t));
    }

    for (const [rs, t] of unanswered) {
      const answered = this.rs.get(rs)?.answered ?? 0;
      if (t.count < this.minUnanswered || t.count < answered) continue;
      const mode = MODES[rs.mode];
      if (mode.snat && rs.vips.some((v) => snatMissing.has(v))) continue; // the SNAT finding explains it
      if (mode.forward === "ipip") {
        if (tunnelRepliesVisible) out.push(this.tunnelFinding(rs, t, answered));
      } else if (mode.forward === "rewrite") {
        out.push(this.natUnansweredFinding(rs, t, answered));
      }
    }

    for (const [rs, st] of this.rs) {
      const mode = MODES[rs.mode];
      if (!mode.repliesViaDirector || this.directorMacs.size === 0) continue;
      for (const [mac, t] of st.repliesTo) {
        if (this.directorMacs.has(mac)) continue;
        out.push(this.natBypassFinding(rs, mac, t));
      }
    }

    if (this.directorMacs.size > 0) {
      for (const t of pairs(this.fromVip)) {
        const director = this.directorMacs.get(t.dst);
        if (director === undefined || this.directorMacs.has(t.src)) continue;
        out.push(this.replyViaDirectorFinding(t, director));
      }
      for (const t of pairs(this.toVipAtRs)) {
        if (this.directorMacs.has(t.src)) continue;
        const rs = this.rsByMac.get(t.dst);
        if (rs !== undefined) out.push(this.vipBypassFinding(rs, t));
      }
    }

    for (const t of this.asks.values()) {
      if (this.arpSenders.has(t.target) || t.count < 2) continue;
      out.push(this.gatewayFinding(t.rs, t.target, t));
    }
    return out;
  }

  // -- the findings, in the admin's words ---------------------------------------------------------------

  private rsHost(rs: RealServerInfo): Finding["hosts"][number] {
    return { ip: rs.ip, mac: rs.mac === null ? "" : formatMac(rs.mac), role: "real-server" };
  }

  private rsName(rs: RealServerInfo): string {
    const mac = rs.mac === null ? "" : `, ${formatMac(rs.mac)}`;
    return `real server ${rs.name ? `${rs.name} (${rs.ip}${mac})` : `${rs.ip}${mac ? ` (${mac.slice(2)})` : ""}`}`;
  }

  /** The director's address on the real server's segment: the one sharing the longest prefix with its RIP. */
  private dipFor(rs: RealServerInfo): { ip: string; mac: string } {
    let best: { ip: string; mac: string } | null = null;
    let bestLen = -1;
    for (const [ip, host] of this.directorIps) {
      const len = Math.clz32((ip ^ rs.ipNum) >>> 0);
      if (len > bestLen) {
        bestLen = len;
        best = { ip: host.ip, mac: this.macOfDirector(ip) };
      }
    }
    return best ?? { ip: "<the director's address on this segment>", mac: "" };
  }

  private macOfDirector(ip: number): string {
    const given = this.directorIps.get(ip)?.mac;
    if (given !== undefined) return given;
    for (const [mac, h] of this.directorMacs) if (parseIPv4(h.ip) === ip) return formatMac(mac);
    return "";
  }

  private routerFor(rs: RealServerInfo): string {
    let best: string | null = null;
    let bestLen = -1;
    for (const g of this.gateways) {
      const ip = parseIPv4(g.ip);
      if (ip === null) continue;
      const len = Math.clz32((ip ^ rs.ipNum) >>> 0);
      if (len > bestLen) [best, bestLen] = [g.ip, len];
    }
    return best ?? "<the LAN router>";
  }

  private replyViaDirectorFinding(t: PairTally, director: SiteHost): Finding {
    const rs = this.rsByMac.get(t.src);
    const mac = formatMac(t.src);
    const who = rs !== undefined ? this.rsName(rs) : `the host with MAC ${mac}`;
    const mode = rs?.mode ?? this.vips.get(parseIPv4(t.vip) ?? -1)?.mode ?? "dr";
    const router = rs !== undefined ? this.routerFor(rs) : "<the LAN router>";
    const host: Finding["hosts"][number] = rs !== undefined ? this.rsHost(rs) : { ip: t.vip, mac, role: "unknown" };
    return {
      id: `${RETURN_PATH_KINDS.replyViaDirector}:${host.ip}:${mac}`,
      severity: "critical",
      title: `Replies from ${who} go to the director instead of the router`,
      explanation:
        `In LVS-${mode.toUpperCase()} a real server answers the client itself, with the VIP ${t.vip} as source, through ` +
        `${MODES[mode].gatewayText}. ${cap(who)} sent ${t.count} packet(s) with source ${t.vip} to the director's MAC ` +
        `${director.mac ?? formatMac(t.dst)} (${director.ip}) between ${isoTime(t.first)} and ${isoTime(t.last)}: its default ` +
        "route points at the director. The director owns the VIP, so it drops packets that claim to come from its own " +
        "address (its Ip.InAddrErrors grows): every connection scheduled to this real server times out.",
      hosts: [host, { ip: director.ip, mac: director.mac ?? formatMac(t.dst), role: "director" }],
      evidence: t.evidence,
      activity: activity(t),
      fix: {
        summary: `On ${rs?.ip ?? "that host"}: default route via ${router}, not via the director.`,
        commands: [
          `# on ${rs?.ip ?? `the host with MAC ${mac}`}:`,
          "ip route show default   # shows the director's address",
          `ip route replace default via ${router}`,
          "# and the same in its network configuration, so that it survives a reboot",
        ],
      },
    };
  }

  private vipBypassFinding(rs: RealServerInfo, t: PairTally): Finding {
    const sender = formatMac(t.src);
    return {
      id: `${RETURN_PATH_KINDS.vipBypassesDirector}:${rs.ip}:${formatMac(t.dst)}`,
      severity: "critical",
      title: `Traffic for VIP ${t.vip} goes straight to ${this.rsName(rs)}, bypassing the director`,
      explanation:
        `${t.count} packet(s) for the VIP ${t.vip} went from ${sender} directly to the MAC of ${this.rsName(rs)} between ` +
        `${isoTime(t.first)} and ${isoTime(t.last)}, without passing the director. The sender (usually the router) has the ` +
        "real server's MAC for the VIP in its ARP cache: the real server answered or announced the VIP (arp_ignore / " +
        "arp_announce), so clients reach it without the director's scheduling, connection table or health checks.",
      hosts: [this.rsHost(rs), { ip: "", mac: sender, role: "unknown" }],
      evidence: t.evidence,
      activity: activity(t),
      fix: {
        summary:
          `On ${rs.ip}: arp_ignore=1 and arp_announce=2 on all and on ${rs.lanInterface}; then make the sender forget the ` +
          "wrong entry (the director's gratuitous ARP does it).",
        commands: [
          `# on ${rs.ip}:`,
          `sysctl -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.${rs.lanInterface}.arp_ignore=1 net.ipv4.conf.${rs.lanInterface}.arp_announce=2`,
          "# on the director (its LAN interface):",
          `arping -c 3 -U -I eth0 ${t.vip}`,
        ],
      },
    };
  }

  private tunnelFinding(rs: RealServerInfo, t: Tally, answered: number): Finding {
    const vip = rs.vips[0] ?? "<VIP>";
    return {
      id: `${RETURN_PATH_KINDS.tunnelUnanswered}:${rs.ip}:${rs.mac === null ? "" : formatMac(rs.mac)}`,
      severity: "critical",
      title: `${cap(this.rsName(rs))} never answers the connections tunnelled to it`,
      explanation:
        `The director tunnelled (IPIP) ${t.count} connection(s) to ${this.rsName(rs)} between ${isoTime(t.first)} and ` +
        `${isoTime(t.last)} and not one SYN-ACK came back from it` +
        (answered > 0 ? ` (it answered ${answered} other(s))` : "") +
        ", while other real servers' replies are seen here. The real server drops the decapsulated SYN. On the wire two " +
        "causes look exactly the same, only the real server can tell them apart: (1) reverse-path filtering: the " +
        `kernel applies the larger of net.ipv4.conf.all.rp_filter and net.ipv4.conf.tunl0.rp_filter, and a strict check ` +
        `drops a packet from the client arriving on tunl0 (nstat's TcpExtIPReversePathFilter grows); (2) the VIP ${vip} ` +
        "is not on tunl0 (or tunl0 is down), so the packet is not for a local address (IpInAddrErrors grows).",
      hosts: [this.rsHost(rs)],
      evidence: t.evidence,
      activity: activity(t),
      fix: {
        summary: `On ${rs.ip}: find which of the two it is, then turn rp_filter off for tunl0 or put the VIP back on tunl0.`,
        commands: [
          `# on ${rs.ip}:`,
          "nstat -az TcpExtIPReversePathFilter IpInAddrErrors   # which counter grows while clients retry",
          `ip addr show tunl0   # must be UP and list ${vip}/32`,
          "sysctl -w net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.tunl0.rp_filter=0   # if TcpExtIPReversePathFilter grows",
          `ip link set tunl0 up && ip addr replace ${vip}/32 dev tunl0   # if the VIP is missing`,
        ],
      },
    };
  }

  private natUnansweredFinding(rs: RealServerInfo, t: Tally, answered: number): Finding {
    const dip = this.dipFor(rs);
    const asked = [...this.asks.values()].filter((a) => a.rs === rs && !this.arpSenders.has(a.target)).map((a) => formatIPv4(a.target));
    return {
      id: `${RETURN_PATH_KINDS.natUnanswered}:${rs.ip}:${rs.mac === null ? "" : formatMac(rs.mac)}`,
      severity: "critical",
      title: `No SYN-ACK comes back through the director from ${this.rsName(rs)}`,
      explanation:
        `In LVS-${rs.mode.toUpperCase()} the real server's replies must go back through the director, which rewrites them. ` +
        `The director forwarded ${t.count} connection(s) to ${this.rsName(rs)} between ${isoTime(t.first)} and ${isoTime(t.last)} ` +
        `and no SYN-ACK came back to it` + (answered > 0 ? ` (${answered} did)` : "") + ". " +
        (asked.length > 0
          ? `The real server keeps asking ARP for ${asked.join(", ")}, which nobody answers: its default gateway is wrong. `
          : "It sends nothing back at all: most likely it has no default route (its Ip.OutNoRoutes grows), or a " +
            "firewall drops the replies. ") +
        `Its default gateway must be ${dip.ip}, the director's address on its segment.`,
      hosts: [this.rsHost(rs), { ip: dip.ip, mac: dip.mac, role: "director" }],
      evidence: t.evidence,
      activity: activity(t),
      fix: {
        summary: `On ${rs.ip}: default route via the director's DIP ${dip.ip}.`,
        commands: [
          `# on ${rs.ip}:`,
          `ip route show default   # must say: default via ${dip.ip}`,
          `ip route replace default via ${dip.ip}`,
          "# and the same in its network configuration, so that it survives a reboot",
        ],
      },
    };
  }

  private natBypassFinding(rs: RealServerInfo, mac: number, t: Tally): Finding {
    const dip = this.dipFor(rs);
    return {
      id: `${RETURN_PATH_KINDS.natReplyBypass}:${rs.ip}:${rs.mac === null ? "" : formatMac(rs.mac)}`,
      severity: "critical",
      title: `${cap(this.rsName(rs))} answers clients from its own address, not through the director`,
      explanation:
        `In LVS-NAT the director rewrites the real server's replies to come from the VIP; that only happens if they go ` +
        `back through it. ${cap(this.rsName(rs))} sent ${t.count} SYN-ACK(s) to ${formatMac(mac)}, which is not the ` +
        `director, between ${isoTime(t.first)} and ${isoTime(t.last)}: they reach the client (if at all) from ${rs.ip}, an ` +
        "address it never connected to, and the client refuses them. Its default gateway is not the director.",
      hosts: [this.rsHost(rs), { ip: dip.ip, mac: dip.mac, role: "director" }],
      evidence: t.evidence,
      activity: activity(t),
      fix: {
        summary: `On ${rs.ip}: default route via the director's DIP ${dip.ip}.`,
        commands: [`# on ${rs.ip}:`, `ip route replace default via ${dip.ip}`],
      },
    };
  }

  private gatewayFinding(rs: RealServerInfo, target: number, t: Tally): Finding {
    const mode = MODES[rs.mode];
    const should = mode.repliesViaDirector ? this.dipFor(rs).ip : this.routerFor(rs);
    const gw = formatIPv4(target);
    return {
      id: `${RETURN_PATH_KINDS.gatewayUnanswered}:${rs.ip}:${gw}`,
      severity: mode.repliesViaDirector ? "critical" : "warning",
      title: `${cap(this.rsName(rs))} asks ARP for ${gw} and nobody answers`,
      explanation:
        `${cap(this.rsName(rs))} asked "who-has ${gw}" ${t.count} time(s) between ${isoTime(t.first)} and ${isoTime(t.last)} ` +
        `and no host answered. When that address is its default gateway (the usual reason to keep asking), its replies ` +
        `never leave. In LVS-${rs.mode.toUpperCase()} its gateway should be ${mode.gatewayText}: ${should}.`,
      hosts: [this.rsHost(rs), { ip: gw, mac: "", role: "unknown" }],
      evidence: t.evidence,
      activity: activity(t),
      fix: {
        summary: `On ${rs.ip}: default route via ${should}.`,
        commands: [`# on ${rs.ip}:`, `ip route show default   # says ${gw}?`, `ip route replace default via ${should}`],
      },
    };
  }

  private fullnatFinding(vip: string, t: Tally & { rs: Set<RealServerInfo>; clients: Set<number> }): Finding {
    const servers = [...t.rs];
    const dip = servers[0] !== undefined ? this.dipFor(servers[0]) : { ip: "", mac: "" };
    const clients = [...t.clients].slice(0, 5).map(formatIPv4);
    const snat = [...(this.vips.get(parseIPv4(vip) ?? -1)?.snat ?? [])].map(formatIPv4);
    return {
      id: `${RETURN_PATH_KINDS.fullnatNoSnat}:${vip}:${dip.ip}`,
      severity: "critical",
      title: `FULLNAT: the director forwards connections for ${vip} with the client's address (SNAT not applied)`,
      explanation:
        `In FULLNAT the director must give each forwarded connection its own source address (${snat.join(", ") || "its SNAT address"}), so that ` +
        `real servers answer to it. ${t.count} SYN(s) forwarded to ${servers.map((s) => this.rsName(s)).join(", ")} between ` +
        `${isoTime(t.first)} and ${isoTime(t.last)} still carried the client's address (${clients.join(", ")}). The nftables SNAT ` +
        "rule silently never matches IPVS traffic when net.ipv4.vs.conntrack=0 (per network namespace): the real servers " +
        "then answer the client through their own gateway, and the replies are lost.",
      hosts: [{ ip: dip.ip, mac: dip.mac, role: "director" }, ...servers.map((s) => this.rsHost(s))],
      evidence: t.evidence,
      activity: activity(t),
      fix: {
        summary: "On the director: net.ipv4.vs.conntrack=1 (so nf_conntrack, and the SNAT rule, see IPVS traffic); make it permanent.",
        commands: [
          "# on the director:",
          "sysctl -w net.ipv4.vs.conntrack=1",
          "echo 'net.ipv4.vs.conntrack = 1' > /etc/sysctl.d/90-lvs-fullnat.conf",
          "nft list ruleset | grep snat   # the SNAT rule for the real servers' network is there",
        ],
      },
    };
  }
}

type PairTally = Tally & { src: number; dst: number; vip: string };
type PairTallies = Map<number, Map<number, PairTally>>;

function* pairs(map: PairTallies): Generator<PairTally> {
  for (const bySrc of map.values()) yield* bySrc.values();
}

function activity(t: Tally): Finding["activity"] {
  return { count: t.count, first: t.first, last: t.last };
}

function newTally(time: number): Tally {
  return { count: 0, first: time, last: time, evidence: [] };
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function isoTime(t: number): string {
  return new Date(Math.floor(t * 1000)).toISOString();
}
