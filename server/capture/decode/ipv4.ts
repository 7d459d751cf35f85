// IPv4 header (RFC 791).
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |Version|  IHL  |    DSCP/ECN   |          Total Length         |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |         Identification        |R|D|M|    Fragment Offset      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |      TTL      |   Protocol    |        Header Checksum        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                       Source Address                          |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                    Destination Address                        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                    Options (IHL > 5) ...                      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// IHL and Fragment Offset count 4- and 8-byte units. The payload ends at Total Length, not at the end of
// the frame: Ethernet pads short frames to 60 bytes, and that padding is not payload. A frame cut by the
// snaplen holds less than Total Length; the header still decodes and `payloadEnd` stops at the cut.
// The checksum is not verified here (captures on the sending host see it before offload fills it in).

import { MALFORMED, OK, TRUNCATED, type DecodeStatus, u16, u32 } from "./bytes";

export const IPPROTO_ICMP = 1;
export const IPPROTO_IPIP = 4;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;

export const IPV4_DF = 0x2;
export const IPV4_MF = 0x1;

export interface IPv4 {
  headerLength: number;
  tos: number;
  totalLength: number;
  id: number;
  /** The 3 flag bits: reserved, DF (0x2), MF (0x1). */
  flags: number;
  /** In bytes (the field times 8). */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  checksum: number;
  src: number;
  dst: number;
  payloadOffset: number;
  payloadEnd: number;
  error: string;
}

export function newIPv4(): IPv4 {
  return {
    headerLength: 0, tos: 0, totalLength: 0, id: 0, flags: 0, fragmentOffset: 0, ttl: 0, protocol: 0,
    checksum: 0, src: 0, dst: 0, payloadOffset: 0, payloadEnd: 0, error: "",
  };
}

export function decodeIPv4(b: Uint8Array, off: number, end: number, out: IPv4): DecodeStatus {
  out.error = "";
  if (end - off < 20) {
    out.error = "shorter than the 20-byte IPv4 header";
    return TRUNCATED;
  }
  const vihl = b[off]!;
  if (vihl >>> 4 !== 4) {
    out.error = "version is not 4";
    return MALFORMED;
  }
  const hl = (vihl & 0x0f) * 4;
  if (hl < 20) {
    out.error = "IHL < 5";
    return MALFORMED;
  }
  if (end - off < hl) {
    out.error = "IPv4 options cut short";
    return TRUNCATED;
  }
  const total = u16(b, off + 2);
  if (total < hl) {
    out.error = "total length smaller than the header";
    return MALFORMED;
  }
  const frag = u16(b, off + 6);
  out.headerLength = hl;
  out.tos = b[off + 1]!;
  out.totalLength = total;
  out.id = u16(b, off + 4);
  out.flags = frag >>> 13;
  out.fragmentOffset = (frag & 0x1fff) * 8;
  out.ttl = b[off + 8]!;
  out.protocol = b[off + 9]!;
  out.checksum = u16(b, off + 10);
  out.src = u32(b, off + 12);
  out.dst = u32(b, off + 16);
  out.payloadOffset = off + hl;
  out.payloadEnd = off + total < end ? off + total : end;
  return OK;
}

/** A piece of a fragmented datagram: only the first piece (offset 0) holds the transport header. */
export function isFragment(h: IPv4): boolean {
  return (h.flags & IPV4_MF) !== 0 || h.fragmentOffset !== 0;
}

/** The header checksum over `h.headerLength` bytes at `off` is valid (sums to 0xffff). */
export function ipv4ChecksumOk(b: Uint8Array, off: number, h: IPv4): boolean {
  let sum = 0;
  for (let i = 0; i < h.headerLength; i += 2) sum += u16(b, off + i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}
