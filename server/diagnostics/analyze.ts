// A capture file in, findings out: the pcap reader feeds each record through the decoders and the ARP
// checks, in one pass with bounded memory (the reader's buffer plus per-host state).

import { STATUS_NAMES } from "@/server/capture/decode/bytes";
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from "@/server/capture/decode/ethernet";
import { LAYER_NAMES, L_ARP, L_ETHERNET, decodePacket, newDecodedPacket } from "@/server/capture/decode/packet";
import type { PcapHeader } from "@/server/capture/pcapfile/format";
import { readPcap, recordTime, type PcapSource, type PcapStats } from "@/server/capture/pcapfile/reader";
import {
  ArpOwnershipDetector, DuplicateAddressDetector, duplicateAddressFindings, type DuplicateAddressReport,
} from "./arp-ownership";
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

export interface AnalyzeOptions {
  maxEvidence?: number;
}

const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 } as const;

export async function analyzePcap(source: PcapSource, site: SiteContext, options: AnalyzeOptions = {}): Promise<AnalyzeResult> {
  const ownership = new ArpOwnershipDetector(site, options);
  const duplicates = new DuplicateAddressDetector();
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
    if (layers & L_ARP) {
      const time = recordTime(rec);
      ownership.observe(p.arp, rec.index, time);
      duplicates.observe(p.arp, rec.index, time);
    }
  });

  const byProtocol: Record<string, number> = {};
  for (const [bit, name] of LAYER_NAMES) byProtocol[name] = byLayers.reduce((sum, n, layers) => (layers & bit ? sum + n : sum), 0);
  byProtocol.other = other;
  const findings = [...ownership.findings(), ...duplicateAddressFindings(duplicates, site, options.maxEvidence)];
  findings.sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]);
  const [decoded, truncated, malformed, unsupported] = STATUS_NAMES.map((_, i) => statusCounts[i]!);
  return {
    findings,
    duplicates: duplicates.reports,
    header,
    stats: { packets: pcap.records, decoded: decoded!, truncated: truncated!, malformed: malformed!, unsupported: unsupported!, byProtocol, pcap },
  };
}
