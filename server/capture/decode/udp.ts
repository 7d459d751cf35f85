// UDP header (RFC 768).
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |          Source Port          |       Destination Port        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |            Length             |           Checksum            |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Length counts the header too, so it is at least 8. The payload ends at Length, cut by the capture.

import { MALFORMED, OK, TRUNCATED, type DecodeStatus, u16 } from "./bytes";

export interface Udp {
  srcPort: number;
  dstPort: number;
  length: number;
  checksum: number;
  payloadOffset: number;
  payloadEnd: number;
  error: string;
}

export function newUdp(): Udp {
  return { srcPort: 0, dstPort: 0, length: 0, checksum: 0, payloadOffset: 0, payloadEnd: 0, error: "" };
}

export function decodeUdp(b: Uint8Array, off: number, end: number, out: Udp): DecodeStatus {
  out.error = "";
  if (end - off < 8) {
    out.error = "shorter than the 8-byte UDP header";
    return TRUNCATED;
  }
  const len = u16(b, off + 4);
  if (len < 8) {
    out.error = "length < 8";
    return MALFORMED;
  }
  out.srcPort = u16(b, off);
  out.dstPort = u16(b, off + 2);
  out.length = len;
  out.checksum = u16(b, off + 6);
  out.payloadOffset = off + 8;
  out.payloadEnd = off + len < end ? off + len : end;
  return OK;
}
