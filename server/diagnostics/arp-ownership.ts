// Who owns each VIP on the LAN, judged from the ARP traffic in a capture.
//
// On an LVS site only the active director may tie a VIP to its MAC. In LVS-DR (and TUN) every real server
// holds the VIP too, on lo (tunl0), so that it accepts what the director forwards; if it also answers ARP
// for the VIP, or announces it, the router may send clients straight to that real server, bypassing the
// director. This detector watches, per VIP:
//   - answers:       ARP replies with sender IP = VIP ("VIP is-at MAC"),
//   - announcements: gratuitous ARP for the VIP (sender IP = target IP = VIP),
//   - requests:      ARP requests that use the VIP as their own sender address (an arp_announce problem:
//                    "who-has 192.0.2.254 tell VIP" rewrites every listener's entry for the VIP),
//   - and the MAC the VIP was last claimed by, so changes of owner over time show.
// Each claiming MAC is then named: a director or declared backup (from the site, or seen sending ARP with
// its own IP), a real server (the same way), or unknown. Claims by a declared backup are a failover, not a
// conflict, unless both directors answer the same questions (split brain).
//
// Also here: the "duplicate IP address" check of Wireshark's ARP dissector (expert info "Duplicate IP
// address configured (IP)"), reproduced rule for rule so its output can be compared with
// `tshark -q -z expert`: the first MAC seen for an IP (as ARP sender, or as target of a reply) is kept;
// each later ARP frame binding that IP to another MAC is one report.
//
// Both are pure: they see decoded ARP headers with their packet index and time, and keep bounded state.

import { ARP_REPLY, ARP_REQUEST, isGratuitous, type Arp } from "@/server/capture/decode/arp";
import { formatIPv4, formatMac, isGroupMac, parseIPv4, parseMac } from "@/server/capture/decode/bytes";
import type { Finding, HostRole, SiteContext, SiteHost, VipMode } from "./types";

export interface ArpOwnershipOptions {
  /** Evidence packets kept per finding. Default 20. */
  maxEvidence?: number;
}

type Evidence = Finding["evidence"][number];

const ANSWER = 0;
const ANNOUNCEMENT = 1;
const REQUEST = 2;

interface Claimant {
  mac: number;
  counts: [number, number, number];
  first: number;
  last: number;
  evidence: Evidence[];
}

interface VipState {
  ip: number;
  mode: VipMode;
  claimants: Map<number, Claimant>;
  /** MAC of the latest claim, -1 before any. */
  owner: number;
  changes: { from: number; to: number; time: number; packetIndex: number }[];
  changeCount: number;
  /** The last answer each asker got: two MACs answering one asker within a second are two owners. */
  lastAnswer: Map<number, { mac: number; time: number }>;
  /** Pairs of MACs that answered the same question: "a|b" (a < b) -> count. */
  doubleAnswers: Map<string, number>;
}

interface KnownHost {
  ip: string;
  role: Exclude<HostRole, "unknown">;
  lanInterface: string;
}

/** Seen-together window for "two owners answered the same request". */
const DOUBLE_ANSWER_WINDOW = 1;
const MAX_CHANGES_KEPT = 50;

export class ArpOwnershipDetector {
  private readonly vips = new Map<number, VipState>();
  /** Host IPs the site names -> their role. */
  private readonly hostsByIp = new Map<number, KnownHost>();
  /** MACs the site gives. */
  private readonly hostsByMac = new Map<number, KnownHost>();
  /** MACs seen sending ARP with a site host's own IP (its RIP, DIP): learned, weaker than the site's. */
  private readonly learned = new Map<number, KnownHost>();
  private readonly maxEvidence: number;

  constructor(site: SiteContext, options: ArpOwnershipOptions = {}) {
    this.maxEvidence = options.maxEvidence ?? 20;
    for (const v of site.vips) {
      const ip = parseIPv4(v.address);
      if (ip === null) continue; // IPv6 VIPs use neighbour discovery, not ARP
      this.vips.set(ip, {
        ip, mode: v.mode, claimants: new Map(), owner: -1, changes: [], changeCount: 0, lastAnswer: new Map(),
        doubleAnswers: new Map(),
      });
    }
    const add = (hosts: SiteHost[] | undefined, role: KnownHost["role"]) => {
      for (const h of hosts ?? []) {
        const known = { ip: h.ip, role, lanInterface: h.lanInterface ?? "eth0" };
        const ip = parseIPv4(h.ip);
        if (ip !== null && !this.hostsByIp.has(ip)) this.hostsByIp.set(ip, known);
        const mac = h.mac === undefined ? null : parseMac(h.mac);
        if (mac !== null && !this.hostsByMac.has(mac)) this.hostsByMac.set(mac, known);
      }
    };
    add(site.directors, "director");
    add(site.declaredBackupDirectors, "backup-director");
    add(site.realServers, "real-server");
  }

  /** One decoded ARP packet (Ethernet/IPv4). */
  observe(a: Arp, packetIndex: number, time: number): void {
    if (isGroupMac(a.senderMac) || a.senderMac === 0) return;
    const host = this.hostsByIp.get(a.senderIp);
    if (host !== undefined && !this.learned.has(a.senderMac)) this.learned.set(a.senderMac, host);
    const vip = this.vips.get(a.senderIp);
    if (vip === undefined) return;
    let kind: number;
    if (isGratuitous(a)) kind = ANNOUNCEMENT;
    else if (a.op === ARP_REPLY) kind = ANSWER;
    else if (a.op === ARP_REQUEST) kind = REQUEST;
    else return;
    let c = vip.claimants.get(a.senderMac);
    if (c === undefined) {
      c = { mac: a.senderMac, counts: [0, 0, 0], first: time, last: time, evidence: [] };
      vip.claimants.set(a.senderMac, c);
    }
    c.counts[kind]!++;
    c.last = time;
    if (c.evidence.length < this.maxEvidence) c.evidence.push({ packetIndex, time });
    if (vip.owner !== a.senderMac) {
      if (vip.owner !== -1) {
        vip.changeCount++;
        if (vip.changes.length < MAX_CHANGES_KEPT) vip.changes.push({ from: vip.owner, to: a.senderMac, time, packetIndex });
      }
      vip.owner = a.senderMac;
    }
    if (kind === ANSWER) {
      const prev = vip.lastAnswer.get(a.targetIp);
      if (prev !== undefined && prev.mac !== a.senderMac && time - prev.time <= DOUBLE_ANSWER_WINDOW) {
        const key = prev.mac < a.senderMac ? `${prev.mac}|${a.senderMac}` : `${a.senderMac}|${prev.mac}`;
        vip.doubleAnswers.set(key, (vip.doubleAnswers.get(key) ?? 0) + 1);
      }
      vip.lastAnswer.set(a.targetIp, { mac: a.senderMac, time });
    }
  }

  findings(): Finding[] {
    const out: Finding[] = [];
    for (const vip of this.vips.values()) out.push(...this.vipFindings(vip));
    return out;
  }

  private identify(mac: number): KnownHost | null {
    return this.hostsByMac.get(mac) ?? this.learned.get(mac) ?? null;
  }

  private directorMacKnown(): boolean {
    for (const h of [...this.hostsByMac.values(), ...this.learned.values()]) if (h.role === "director") return true;
    return false;
  }

  private vipFindings(vip: VipState): Finding[] {
    const out: Finding[] = [];
    const vipText = formatIPv4(vip.ip);
    const named = [...vip.claimants.values()].map((c) => ({ c, host: this.identify(c.mac) }));
    const directors = named.filter((n) => n.host?.role === "director");
    const backups = named.filter((n) => n.host?.role === "backup-director");
    const unknown = named.filter((n) => n.host === null);
    const rivals = (self: Claimant) =>
      directors.filter((d) => d.c !== self).map((d) => ({ ip: d.host!.ip, mac: formatMac(d.c.mac), role: d.host!.role }));

    for (const { c, host } of named) {
      if (host?.role !== "real-server") continue;
      out.push(realServerClaim(vip, vipText, c, host, rivals(c), this.changesText(vip)));
    }

    if (unknown.length > 0 && this.directorMacKnown()) {
      for (const { c } of unknown) {
        out.push({
          id: `arp-unknown-host-claims-vip:${vipText}:${formatMac(c.mac)}`,
          severity: "critical",
          title: `Unknown host ${formatMac(c.mac)} answers ARP for VIP ${vipText}`,
          explanation:
            `Only the active director may answer ARP for the VIP ${vipText}. ${formatMac(c.mac)}, a MAC that is neither ` +
            `a director's nor a real server's as far as the site and this capture tell, ${claimText(c, vipText)}. ` +
            "Neighbours that believe it send the VIP's traffic there instead of to the director." + this.changesText(vip),
          hosts: [{ ip: vipText, mac: formatMac(c.mac), role: "unknown" }, ...rivals(c)],
          evidence: c.evidence,
          fix: findTheHost(vipText, `the host with MAC ${formatMac(c.mac)}`),
        });
      }
    } else if (unknown.length > 1) {
      // Without the director's MAC we cannot tell which unknown claimant is the director, only that the
      // others are not. (A single unknown claimant is taken to be the director.)
      const macs = named.map((n) => formatMac(n.c.mac));
      out.push({
        id: `arp-vip-claimed-by-several-macs:${vipText}`,
        severity: "critical",
        title: `${named.length} MACs answer ARP for VIP ${vipText}: ${macs.join(", ")}`,
        explanation:
          `Only the active director may answer ARP for the VIP ${vipText}, but ${named.length} MACs claim it ` +
          `(${named.map((n) => `${formatMac(n.c.mac)} ${claimText(n.c, vipText)}`).join("; ")}). The director's MAC is ` +
          "not known to this check (give it in the site, or capture while it ARPs from its own address), so it " +
          "cannot say which one is the director; the others are usually real servers with arp_ignore=0." + this.changesText(vip),
        hosts: named.map((n) => ({ ip: n.host?.ip ?? vipText, mac: formatMac(n.c.mac), role: n.host?.role ?? "unknown" })),
        evidence: named.flatMap((n) => n.c.evidence).sort((x, y) => x.packetIndex - y.packetIndex).slice(0, this.maxEvidence),
        fix: findTheHost(vipText, "every host but the director"),
      });
    }

    if (backups.length > 0) out.push(this.backupFinding(vip, vipText, [...directors, ...backups]));
    return out;
  }

  private backupFinding(vip: VipState, vipText: string, owners: { c: Claimant; host: KnownHost | null }[]): Finding {
    const ownerMacs = new Set(owners.map((o) => o.c.mac));
    let together = 0;
    for (const [key, n] of vip.doubleAnswers) {
      const [a, b] = key.split("|").map(Number);
      if (ownerMacs.has(a!) && ownerMacs.has(b!)) together += n;
    }
    const hosts = owners.map((o) => ({ ip: o.host!.ip, mac: formatMac(o.c.mac), role: o.host!.role }));
    const evidence = owners.flatMap((o) => o.c.evidence).sort((x, y) => x.packetIndex - y.packetIndex).slice(0, this.maxEvidence);
    if (together > 0) {
      return {
        id: `arp-directors-both-claim-vip:${vipText}`,
        severity: "critical",
        title: `Both directors answer ARP for VIP ${vipText} (split brain)`,
        explanation:
          `The active director and a backup director both answered the same ARP requests for ${vipText} (${together} ` +
          "time(s) within a second of each other): both believe they are master, so neighbours flip between them and " +
          "connections break. Usually the directors cannot hear each other's VRRP adverts (a firewall, a VLAN, a wrong " +
          "virtual_router_id)." + this.changesText(vip),
        hosts,
        evidence,
        fix: {
          summary: "Make sure only one director holds the VIP: check that VRRP adverts pass between the directors.",
          commands: [
            `ip -o addr show to ${vipText}   # on each director: only the master may list the VIP`,
            "journalctl -u keepalived --since -1h | grep -i state   # on each director: who became MASTER, when",
          ],
        },
      };
    }
    return {
      id: `arp-vip-failover:${vipText}`,
      severity: "info",
      title: `VIP ${vipText} moved between directors (failover)`,
      explanation:
        `A declared backup director announced ${vipText}: that is how a failover moves the VIP, not a conflict. ` +
        "No request was answered by two directors at once." + this.changesText(vip),
      hosts,
      evidence,
      fix: { summary: "Nothing to fix if the failover was expected; otherwise find out why the master stepped down.", commands: [] },
    };
  }

  private changesText(vip: VipState): string {
    if (vip.changeCount === 0) return "";
    const shown = vip.changes
      .slice(0, 5)
      .map((ch) => `${formatMac(ch.from)} -> ${formatMac(ch.to)} at ${isoTime(ch.time)} (packet ${ch.packetIndex + 1})`)
      .join(", ");
    const more = vip.changeCount > 5 ? `, and ${vip.changeCount - 5} more` : "";
    return ` The MAC that last claimed the VIP changed ${vip.changeCount} time(s): ${shown}${more}.`;
  }
}

function realServerClaim(
  vip: VipState,
  vipText: string,
  c: Claimant,
  host: KnownHost,
  directors: Finding["hosts"],
  changes: string,
): Finding {
  const mac = formatMac(c.mac);
  const onlyRequests = c.counts[ANSWER] === 0 && c.counts[ANNOUNCEMENT] === 0;
  const rival = directors.length > 0 ? `, racing the director ${directors.map((d) => `${d.ip} (${d.mac})`).join(", ")}` : "";
  const iface = host.lanInterface;
  const nat = vip.mode === "nat" || vip.mode === "fullnat";
  const explanation = nat
    ? `In LVS-${vip.mode.toUpperCase()} the real servers do not hold the VIP at all: the director rewrites the ` +
      `destination to their own addresses. Real server ${host.ip} (${mac}) ${claimText(c, vipText)}${rival}, so it ` +
      `has the VIP ${vipText} configured, and neighbours that believe it bypass the director.` + changes
    : `In LVS-${vip.mode.toUpperCase()} each real server holds the VIP ${vipText} on a device that must not answer ` +
      `ARP (lo, or tunl0 for TUN) so that it accepts what the director forwards; it must never answer ARP for ` +
      `it. Real server ${host.ip} (${mac}) ${claimText(c, vipText)}${rival}. ` +
      (onlyRequests
        ? "Every host that hears such a request updates its entry for the VIP to this real server's MAC. "
        : "Whichever answer a neighbour (the router) keeps decides where the VIP's traffic goes: clients reach this " +
          "real server directly, bypassing the director's scheduling, connection table and health checks. ") +
      "The cause is arp_ignore=0 / arp_announce=0 on the real server. The kernel uses the larger of " +
      `net.ipv4.conf.all.* and net.ipv4.conf.<interface>.*, so setting them on lo alone changes nothing: set them ` +
      "on all and on the interface that faces the LAN." + changes;
  const fix = nat
    ? {
        summary: `Remove the VIP ${vipText} from real server ${host.ip}.`,
        commands: [
          `# on ${host.ip}:`,
          `ip -o -4 addr show to ${vipText}   # the interface and prefix that hold the VIP`,
          `ip addr del ${vipText}/32 dev ${iface}   # with the interface and prefix shown above`,
        ],
      }
    : {
        summary:
          `On real server ${host.ip}: arp_ignore=1 (answer only for addresses on the asking interface) and ` +
          `arp_announce=2 (never use the VIP as ARP source), on all and on ${iface}` +
          (host.lanInterface === "eth0" ? " (replace eth0 by the interface that faces the LAN)" : "") +
          "; make it permanent; then let the director re-announce the VIP.",
        commands: [
          `# on ${host.ip}:`,
          "sysctl -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2",
          `sysctl -w net.ipv4.conf.${iface}.arp_ignore=1 net.ipv4.conf.${iface}.arp_announce=2`,
          `printf 'net.ipv4.conf.all.arp_ignore = 1\\nnet.ipv4.conf.all.arp_announce = 2\\nnet.ipv4.conf.${iface}.arp_ignore = 1\\nnet.ipv4.conf.${iface}.arp_announce = 2\\n' > /etc/sysctl.d/90-lvs-real-server.conf`,
          "# on the director (its LAN interface):",
          `arping -c 3 -U -I eth0 ${vipText}   # gratuitous ARP: neighbours learn the director's MAC again`,
        ],
      };
  return {
    id: `arp-real-server-claims-vip:${vipText}:${mac}`,
    severity: "critical",
    title: onlyRequests
      ? `Real server ${host.ip} sends ARP requests from VIP ${vipText} (arp_announce)`
      : `Real server ${host.ip} (${mac}) answers ARP for VIP ${vipText}`,
    explanation,
    hosts: [{ ip: host.ip, mac, role: "real-server" }, ...directors],
    evidence: c.evidence,
    fix,
  };
}

function findTheHost(vipText: string, who: string): Finding["fix"] {
  return {
    summary:
      `Find ${who} (arping lists every MAC that answers for the VIP; the switch's MAC table or \`bridge fdb\` ` +
      "says on which port it is) and remove the VIP from it, or, if it is a real server, set arp_ignore=1 and " +
      "arp_announce=2 on all and on its LAN interface.",
    commands: [`arping -c 3 -I eth0 ${vipText}   # on the director: every MAC that answers for the VIP`],
  };
}

function claimText(c: Claimant, vipText: string): string {
  const mac = formatMac(c.mac);
  const parts: string[] = [];
  if (c.counts[ANSWER]) parts.push(`answered "who-has ${vipText}" ${c.counts[ANSWER]} time(s) ("${vipText} is-at ${mac}")`);
  if (c.counts[ANNOUNCEMENT]) parts.push(`announced ${vipText} by gratuitous ARP ${c.counts[ANNOUNCEMENT]} time(s)`);
  if (c.counts[REQUEST]) parts.push(`sent ${c.counts[REQUEST]} ARP request(s) with ${vipText} as its sender address`);
  return `${parts.join(", and ")}, between ${isoTime(c.first)} and ${isoTime(c.last)}`;
}

function isoTime(t: number): string {
  return new Date(Math.floor(t * 1000)).toISOString();
}

/** One frame Wireshark flags "Duplicate IP address configured (ip)". */
export interface DuplicateAddressReport {
  ip: string;
  /** The MAC in this frame, and the one first seen with the IP (Wireshark keeps the first). */
  mac: string;
  firstMac: string;
  packetIndex: number;
  time: number;
  /** The last frame that showed the first MAC with this IP ("also in use by ... (frame N)", N = index + 1). */
  earlierPacketIndex: number;
}

export class DuplicateAddressDetector {
  private readonly table = new Map<number, { mac: number; packetIndex: number }>();
  readonly reports: DuplicateAddressReport[] = [];
  /** IP -> frames flagged, all of them (the `reports` list stops at `maxReports`). */
  readonly counts = new Map<string, number>();

  constructor(private readonly maxReports = 10_000) {}

  observe(a: Arp, packetIndex: number, time: number): void {
    if (a.op !== ARP_REQUEST && a.op !== ARP_REPLY) return;
    let dup = -1;
    if (usable(a.senderMac, a.senderIp) && this.check(a.senderMac, a.senderIp, packetIndex, time)) dup = a.senderIp;
    // Targets of requests mean nothing (RFC 826); a gratuitous reply is not reported twice for one IP.
    if (a.op !== ARP_REQUEST && usable(a.targetMac, a.targetIp) && a.targetIp !== dup) {
      this.check(a.targetMac, a.targetIp, packetIndex, time);
    }
  }

  private check(mac: number, ip: number, packetIndex: number, time: number): boolean {
    const seen = this.table.get(ip);
    if (seen === undefined) {
      this.table.set(ip, { mac, packetIndex });
      return false;
    }
    if (seen.mac === mac) {
      seen.packetIndex = packetIndex;
      return false;
    }
    const ipText = formatIPv4(ip);
    this.counts.set(ipText, (this.counts.get(ipText) ?? 0) + 1);
    if (this.reports.length < this.maxReports) {
      this.reports.push({
        ip: ipText, mac: formatMac(mac), firstMac: formatMac(seen.mac), packetIndex, time, earlierPacketIndex: seen.packetIndex,
      });
    }
    return true;
  }
}

function usable(mac: number, ip: number): boolean {
  return !isGroupMac(mac) && mac !== 0 && ip !== 0;
}

/**
 * Findings for the duplicate addresses Wireshark would flag, except the VIPs (the ownership check above
 * explains those with the roles of the hosts involved).
 */
export function duplicateAddressFindings(d: DuplicateAddressDetector, site: SiteContext, maxEvidence = 20): Finding[] {
  const vips = new Set(site.vips.map((v) => v.address));
  const out: Finding[] = [];
  for (const [ip, count] of d.counts) {
    if (vips.has(ip)) continue;
    const reports = d.reports.filter((r) => r.ip === ip);
    const first = reports[0];
    if (first === undefined) continue;
    const macs = [...new Set([first.firstMac, ...reports.map((r) => r.mac)])];
    out.push({
      id: `arp-duplicate-ip:${ip}`,
      severity: "warning",
      title: `Duplicate IP address ${ip}: ${macs.join(" and ")}`,
      explanation:
        `ARP shows ${ip} on ${macs.length} MACs (${macs.join(", ")}): two hosts have the same address, and each ` +
        `neighbour sends to whichever it heard last. Wireshark reports this as "Duplicate IP address configured ` +
        `(${ip})", here ${count} time(s).`,
      hosts: macs.map((mac) => ({ ip, mac, role: "unknown" as const })),
      evidence: reports.slice(0, maxEvidence).map((r) => ({ packetIndex: r.packetIndex, time: r.time })),
      fix: {
        summary: `Give one of the hosts another address; arping shows every MAC that answers for ${ip}.`,
        commands: [`arping -c 3 -I eth0 ${ip}`],
      },
    });
  }
  return out;
}
