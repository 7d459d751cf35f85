// A capture file in, findings out: the pcap reader feeds each record through the decoders and every
// detector (SiteDetectors: the ARP checks and the return-path checks), in one pass with bounded memory (the
// reader's buffer plus per-host state). The live findings engine (engine.ts) runs the same SiteDetectors
// over a sliding window of captured packets.

import { ARP_REPLY, isGratuitous } from "@/server/capture/decode/arp";
import { STATUS_NAMES, formatIPv4, formatMac, parseIPv4 } from "@/server/capture/decode/bytes";
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from "@/server/capture/decode/ethernet";
import { LAYER_NAMES, L_ARP, L_ETHERNET, decodePacket, newDecodedPacket, type DecodedPacket } from "@/server/capture/decode/packet";
import type { PcapHeader } from "@/server/capture/pcapfile/format";
import { readPcap, recordTime, type PcapSource, type PcapStats } from "@/server/capture/pcapfile/reader";
import {
  ArpOwnershipDetector, DuplicateAddressDetector, duplicateAddressFindings, type DuplicateAddressReport,
} from "./arp-ownership";
import { RETURN_PATH_KINDS, ReturnPathDetector, type ReturnPathOptions } from "./return-path";
import { sysctlFindings } from "./sysctls";
import type { Finding, SiteContext } from "./types";

export interface AnalyzeStats {
  packets: number;
  /** Every layer we know decoded. */
  decoded: number;
  truncated: number;
  malformed: number;
  /** Well-formed variants not taken apart (ARP for other hardware, ...). */
  unsupported: number;
  /** Packets per layer ("ethernet", "vlan", "arp", "ipv4", "ipv6", "tunnel", "tcp", "udp", "other"). */
  byProtocol: Record<string, number>;
  pcap: PcapStats;
}

export interface AnalyzeResult {
  findings: Finding[];
  /** Every frame Wireshark's ARP dissector flags as a duplicate address, for comparison with tshark. */
  duplicates: DuplicateAddressReport[];
  header: PcapHeader;
  stats: AnalyzeStats;
}

export interface AnalyzeOptions extends ReturnPathOptions {
  maxEvidence?: number;
}

const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 } as const;

/** A finding's check: the part of its id before the first ":". */
export function findingKind(f: Pick<Finding, "id">): string {
  const i = f.id.indexOf(":");
  return i < 0 ? f.id : f.id.slice(0, i);
}

/** Every detector for one site, fed one decoded packet at a time (and the effective-sysctl checks over the
 *  site's hostFacts, when it has them). */
export class SiteDetectors {
  private readonly ownership: ArpOwnershipDetector;
  readonly duplicates: DuplicateAddressDetector;
  private readonly returnPath: ReturnPathDetector;
  private readonly vipIps: Set<number>;
  /** Who answered "who-has VIP" (not counting announcements): VIP -> MACs. */
  private readonly answers = new Map<string, Set<string>>();

  constructor(
    private readonly site: SiteContext,
    private readonly options: AnalyzeOptions = {},
  ) {
    this.ownership = new ArpOwnershipDetector(site, options);
    this.duplicates = new DuplicateAddressDetector();
    this.returnPath = new ReturnPathDetector(site, options);
    this.vipIps = new Set(site.vips.map((v) => parseIPv4(v.address)).filter((n): n is number => n !== null));
  }

  observe(p: DecodedPacket, packetIndex: number, time: number): void {
    if (p.layers & L_ARP) {
      this.ownership.observe(p.arp, packetIndex, time);
      this.duplicates.observe(p.arp, packetIndex, time);
      const a = p.arp;
      if (a.op === ARP_REPLY && !isGratuitous(a) && this.vipIps.has(a.senderIp)) {
        const vip = formatIPv4(a.senderIp);
        let macs = this.answers.get(vip);
        if (macs === undefined) this.answers.set(vip, (macs = new Set()));
        if (macs.size < 16) macs.add(formatMac(a.senderMac));
      }
    }
    this.returnPath.observe(p, packetIndex, time);
  }

  /** The MACs that answered ARP questions for each VIP: an ARP finding is only over once the question has
   *  been asked again and the culprit did not answer (its claims come once per question, not per packet). */
  vipAnswerers(): ReadonlyMap<string, ReadonlySet<string>> {
    return this.answers;
  }

  /** Findings as of `now` (default: the last packet's time), most severe first. VIP traffic reaching a real
   *  server that the ARP check already names as answering for the VIP is the same problem: one finding. */
  findings(now?: number): Finding[] {
    const arp = this.ownership.findings();
    const claimed = new Set(
      arp.filter((f) => findingKind(f) === "arp-real-server-claims-vip").map((f) => f.hosts[0]?.mac),
    );
    const returnPath = this.returnPath
      .findings(now)
      .filter((f) => !(findingKind(f) === RETURN_PATH_KINDS.vipBypassesDirector && claimed.has(f.hosts[0]?.mac)));
    const findings = [
      ...arp, ...duplicateAddressFindings(this.duplicates, this.site, this.options.maxEvidence), ...returnPath,
      // The hosts' own settings (when the site carries them): they need no packets.
      ...sysctlFindings(this.site),
    ];
    return findings.sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]);
  }
}

export async function analyzePcap(source: PcapSource, site: SiteContext, options: AnalyzeOptions = {}): Promise<AnalyzeResult> {
  const detectors = new SiteDetectors(site, options);
  const p = newDecodedPacket();
  const statusCounts = [0, 0, 0, 0];
  // Packets per combination of layers (the `layers` bitmask is < 256): one increment per packet, summed
  // per layer at the end.
  const byLayers = new Array<number>(256).fill(0);
  let other = 0;

  const { header, stats: pcap } = await readPcap(source, (rec) => {
    const status = decodePacket(rec.buf, rec.offset, rec.offset + rec.caplen, p);
    statusCounts[status]!++;
    const layers = p.layers;
    byLayers[layers]!++;
    if (layers & L_ETHERNET) {
      const t = p.eth.etherType;
      if (t !== ETHERTYPE_ARP && t !== ETHERTYPE_IPV4 && t !== ETHERTYPE_IPV6) other++;
    }
    detectors.observe(p, rec.index, recordTime(rec));
  });

  const byProtocol: Record<string, number> = {};
  for (const [bit, name] of LAYER_NAMES) byProtocol[name] = byLayers.reduce((sum, n, layers) => (layers & bit ? sum + n : sum), 0);
  byProtocol.other = other;
  const findings = detectors.findings();
  const [decoded, truncated, malformed, unsupported] = STATUS_NAMES.map((_, i) => statusCounts[i]!);
  return {
    findings,
    duplicates: detectors.duplicates.reports,
    header,
    stats: { packets: pcap.records, decoded: decoded!, truncated: truncated!, malformed: malformed!, unsupported: unsupported!, byProtocol, pcap },
  };
}
