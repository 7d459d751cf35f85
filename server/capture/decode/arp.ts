// ARP for IPv4 over Ethernet (RFC 826), the only kind an LVS site sends.
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  hardware type (1 = Ethernet) |  protocol type (0x0800)       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  hlen (6)     |  plen (4)     |  opcode (1 request, 2 reply)  |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |          sender hardware address (6 bytes)                    |
// +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                               |  sender protocol address      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  (sender IP, cont.)           |  target hardware address      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
// |                        (6 bytes)                              |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                  target protocol address                      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// 28 bytes. Ethernet pads the frame to 60 bytes; the padding is not ARP and is ignored.
// Gratuitous ARP: sender IP == target IP (a request is an "announcement" when the target MAC is zero).

import { MALFORMED, OK, TRUNCATED, UNSUPPORTED, type DecodeStatus, u16, u32, u48 } from "./bytes";

export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
export const ARP_LENGTH = 28;

export interface Arp {
  op: number;
  senderMac: number;
  senderIp: number;
  targetMac: number;
  targetIp: number;
  error: string;
}

export function newArp(): Arp {
  return { op: 0, senderMac: 0, senderIp: 0, targetMac: 0, targetIp: 0, error: "" };
}

export function decodeArp(b: Uint8Array, off: number, end: number, out: Arp): DecodeStatus {
  out.error = "";
  if (end - off < 8) {
    out.error = "shorter than the 8-byte ARP fixed header";
    return TRUNCATED;
  }
  const htype = u16(b, off);
  const ptype = u16(b, off + 2);
  if (htype !== 1 || ptype !== 0x0800) {
    out.error = "ARP for other hardware or protocol";
    return UNSUPPORTED;
  }
  if (b[off + 4] !== 6 || b[off + 5] !== 4) {
    out.error = "Ethernet/IPv4 ARP with address sizes other than 6 and 4";
    return MALFORMED;
  }
  if (end - off < ARP_LENGTH) {
    out.error = "shorter than the 28-byte Ethernet/IPv4 ARP";
    return TRUNCATED;
  }
  out.op = u16(b, off + 6);
  out.senderMac = u48(b, off + 8);
  out.senderIp = u32(b, off + 14);
  out.targetMac = u48(b, off + 18);
  out.targetIp = u32(b, off + 24);
  return OK;
}

/** Sender IP == target IP: an announcement of the sender's own address (RFC 5227), not a question. */
export function isGratuitous(a: Arp): boolean {
  return (a.op === ARP_REQUEST || a.op === ARP_REPLY) && a.senderIp === a.targetIp;
}
