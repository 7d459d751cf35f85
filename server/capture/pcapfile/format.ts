// The classic libpcap file format ("pcap", not pcapng), as tcpdump -w writes it.
//
// File header, 24 bytes, in the writer's byte order (the magic tells which):
//  0                   1                   2                   3
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  magic 0xa1b2c3d4 (µs) or 0xa1b23c4d (ns)                     |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  version major (2)            |  version minor (4)            |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  thiszone (0)                                                 |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  sigfigs (0)                                                  |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  snaplen                                                      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  FCS bits (4) | link type (28 bits; 1 = Ethernet, EN10MB)     |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// Then records, each a 16-byte header and caplen bytes of the packet:
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  timestamp seconds                                            |
// |  timestamp microseconds (or nanoseconds)                      |
// |  caplen: bytes saved in the file                              |
// |  origlen: bytes on the wire (> caplen when the snaplen cut it)|
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  packet bytes (caplen) ...                                    |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/** pcapng's Section Header Block type; a palindrome, so the same in both byte orders. */
export const PCAPNG_MAGIC = 0x0a0d0d0a;
export const PCAP_FILE_HEADER_LENGTH = 24;
export const PCAP_RECORD_HEADER_LENGTH = 16;
export const LINKTYPE_ETHERNET = 1;
/** libpcap's MAXIMUM_SNAPLEN: a record claiming more than this is garbage, as libpcap says too. */
export const MAX_CAPLEN = 262144;

const LINKTYPE_NAMES: Record<number, string> = {
  0: "NULL (BSD loopback)",
  1: "EN10MB (Ethernet)",
  101: "RAW (raw IP)",
  105: "IEEE802_11 (Wi-Fi)",
  113: "LINUX_SLL (Linux cooked, tcpdump -i any)",
  127: "IEEE802_11_RADIOTAP",
  276: "LINUX_SLL2 (Linux cooked v2, tcpdump -i any)",
};

export function linktypeName(linktype: number): string {
  return LINKTYPE_NAMES[linktype] ?? `link type ${linktype}`;
}

export interface PcapHeader {
  littleEndian: boolean;
  nanosecond: boolean;
  versionMajor: number;
  versionMinor: number;
  snaplen: number;
  linktype: number;
}

export type PcapFormatProblem = "pcapng" | "not-pcap" | "short-header" | "version" | "linktype";

/** The file is not one this reader takes: the message says what it is and what to do. */
export class PcapFormatError extends Error {
  constructor(
    readonly problem: PcapFormatProblem,
    message: string,
  ) {
    super(message);
    this.name = "PcapFormatError";
  }
}
