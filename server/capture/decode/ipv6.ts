// IPv6 fixed header (RFC 8200) and the extension headers in front of the transport header.
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |Version| Traffic Class |              Flow Label               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |         Payload Length        |  Next Header  |   Hop Limit   |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                Source Address (16 bytes, at +8)               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |             Destination Address (16 bytes, at +24)            |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Extension headers, walked until an upper-layer protocol:
//   Hop-by-Hop (0), Routing (43), Destination Options (60): | next | len | ... | (len + 1) * 8 bytes
//   Fragment (44):                                           | next | res | offset|M | id |   8 bytes
//   Authentication Header (51):                              | next | len | ... | (len + 2) * 4 bytes
// ESP (50) encrypts what follows and No Next Header (59) ends the packet: both stop the walk.
// Addresses stay in the buffer: `srcOffset`/`dstOffset` point at them (see formatIPv6).

import { MALFORMED, OK, TRUNCATED, type DecodeStatus, u16, u32 } from "./bytes";

const HOP_BY_HOP = 0;
const ROUTING = 43;
const FRAGMENT = 44;
const AUTH = 51;
const DEST_OPTS = 60;

export interface IPv6 {
  trafficClass: number;
  flowLabel: number;
  payloadLength: number;
  /** The Next Header of the fixed header. */
  nextHeader: number;
  /** The protocol after the extension headers (6 TCP, 17 UDP, 41 IPv6-in-IPv6, 58 ICMPv6, ...). */
  protocol: number;
  hopLimit: number;
  srcOffset: number;
  dstOffset: number;
  /** From a Fragment header: offset in bytes and the M flag; a later fragment holds no transport header. */
  fragmentOffset: number;
  moreFragments: boolean;
  payloadOffset: number;
  payloadEnd: number;
  error: string;
}

export function newIPv6(): IPv6 {
  return {
    trafficClass: 0, flowLabel: 0, payloadLength: 0, nextHeader: 0, protocol: 0, hopLimit: 0, srcOffset: 0,
    dstOffset: 0, fragmentOffset: 0, moreFragments: false, payloadOffset: 0, payloadEnd: 0, error: "",
  };
}

export function decodeIPv6(b: Uint8Array, off: number, end: number, out: IPv6): DecodeStatus {
  out.error = "";
  if (end - off < 40) {
    out.error = "shorter than the 40-byte IPv6 header";
    return TRUNCATED;
  }
  const w0 = u32(b, off);
  if (w0 >>> 28 !== 6) {
    out.error = "version is not 6";
    return MALFORMED;
  }
  out.trafficClass = (w0 >>> 20) & 0xff;
  out.flowLabel = w0 & 0xfffff;
  const plen = u16(b, off + 4);
  out.payloadLength = plen;
  out.nextHeader = b[off + 6]!;
  out.hopLimit = b[off + 7]!;
  out.srcOffset = off + 8;
  out.dstOffset = off + 24;
  out.fragmentOffset = 0;
  out.moreFragments = false;
  // The declared end; the captured bytes may stop earlier (snaplen) or run on (Ethernet padding).
  const declaredEnd = off + 40 + plen;
  const capEnd = declaredEnd < end ? declaredEnd : end;
  let nh = out.nextHeader;
  let o = off + 40;
  for (;;) {
    if (nh !== HOP_BY_HOP && nh !== ROUTING && nh !== DEST_OPTS && nh !== FRAGMENT && nh !== AUTH) break;
    if (nh === FRAGMENT) {
      if (o + 8 > declaredEnd) return fail(out, MALFORMED, "Fragment header beyond the payload length");
      if (o + 8 > end) return fail(out, TRUNCATED, "Fragment header cut short");
      const fo = u16(b, o + 2);
      out.fragmentOffset = fo & 0xfff8;
      out.moreFragments = (fo & 1) === 1;
      nh = b[o]!;
      o += 8;
      if (out.fragmentOffset !== 0) break; // the rest is the middle of someone's payload
      continue;
    }
    if (o + 2 > declaredEnd) return fail(out, MALFORMED, "extension header beyond the payload length");
    if (o + 2 > end) return fail(out, TRUNCATED, "extension header cut short");
    const len = nh === AUTH ? (b[o + 1]! + 2) * 4 : (b[o + 1]! + 1) * 8;
    if (o + len > declaredEnd) return fail(out, MALFORMED, "extension header beyond the payload length");
    if (o + len > end) return fail(out, TRUNCATED, "extension header cut short");
    nh = b[o]!;
    o += len;
  }
  out.protocol = nh;
  out.payloadOffset = o;
  out.payloadEnd = capEnd;
  return OK;
}

function fail(out: IPv6, status: DecodeStatus, why: string): DecodeStatus {
  out.error = why;
  return status;
}

/** A later piece of a fragmented datagram (offset > 0): no transport header in it. */
export function isLaterFragment(h: IPv6): boolean {
  return h.fragmentOffset !== 0;
}
