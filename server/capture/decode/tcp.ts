// TCP header (RFC 9293).
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |          Source Port          |       Destination Port        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                        Sequence Number                        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                    Acknowledgment Number                      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Offset|  Rsv  |C|E|U|A|P|R|S|F|            Window             |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |           Checksum            |         Urgent Pointer        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                    Options (Offset > 5) ...                   |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// `end` is where the IP payload ends (IP total length, or the capture cut), so the TCP payload is
// [payloadOffset, payloadEnd) without Ethernet padding.

import { MALFORMED, OK, TRUNCATED, type DecodeStatus, u16, u32 } from "./bytes";

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

export interface Tcp {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  headerLength: number;
  /** The 8 flag bits CWR..FIN (TCP_* masks). */
  flags: number;
  window: number;
  checksum: number;
  urgent: number;
  payloadOffset: number;
  payloadEnd: number;
  error: string;
}

export function newTcp(): Tcp {
  return {
    srcPort: 0, dstPort: 0, seq: 0, ack: 0, headerLength: 0, flags: 0, window: 0, checksum: 0, urgent: 0,
    payloadOffset: 0, payloadEnd: 0, error: "",
  };
}

export function decodeTcp(b: Uint8Array, off: number, end: number, out: Tcp): DecodeStatus {
  out.error = "";
  if (end - off < 20) {
    out.error = "shorter than the 20-byte TCP header";
    return TRUNCATED;
  }
  const hl = (b[off + 12]! >>> 4) * 4;
  if (hl < 20) {
    out.error = "data offset < 5";
    return MALFORMED;
  }
  if (end - off < hl) {
    out.error = "TCP options cut short";
    return TRUNCATED;
  }
  out.srcPort = u16(b, off);
  out.dstPort = u16(b, off + 2);
  out.seq = u32(b, off + 4);
  out.ack = u32(b, off + 8);
  out.headerLength = hl;
  out.flags = b[off + 13]!;
  out.window = u16(b, off + 14);
  out.checksum = u16(b, off + 16);
  out.urgent = u16(b, off + 18);
  out.payloadOffset = off + hl;
  out.payloadEnd = end;
  return OK;
}

/** tcpdump's flag letters, in its order (print-tcp.c tcp_flag_values): "S", "S.", "P.", "F.", "R", ".". */
export function formatTcpFlags(flags: number): string {
  let s = "";
  for (const [bit, letter] of TCP_FLAG_LETTERS) if (flags & bit) s += letter;
  return s === "" ? "none" : s;
}

const TCP_FLAG_LETTERS: ReadonlyArray<readonly [number, string]> = [
  [TCP_FIN, "F"], [TCP_SYN, "S"], [TCP_RST, "R"], [TCP_PSH, "P"],
  [TCP_ACK, "."], [TCP_URG, "U"], [TCP_ECE, "E"], [TCP_CWR, "W"],
];
