// Ethernet II with 802.1Q / 802.1ad VLAN tags (any number stacked, as QinQ switches send them).
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                  destination MAC (6 bytes)                    |
// +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                               |                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
// |                     source MAC (6 bytes)                      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  TPID 0x8100/0x88a8/0x9100    | PCP |D|       VLAN ID         |  <- 0..n tags, 4 bytes each
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |   EtherType (>= 0x0600)       |  payload ...                  |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// A type field <= 1500 is an IEEE 802.3 length (an LLC frame follows): well-formed, not decoded further.
// 1501..1535 is neither a length nor a type: malformed. No FCS: Linux captures come without it.

import { MALFORMED, OK, TRUNCATED, type DecodeStatus, u16, u48 } from "./bytes";

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
export const ETHERTYPE_QINQ_OLD = 0x9100;

/** More tags than this is no real network: treat as malformed rather than walk a frame of 0x8100s. */
export const MAX_VLAN_TAGS = 8;

export interface Ethernet {
  dst: number;
  src: number;
  /** The type after all VLAN tags (or the 802.3 length when <= 1500). */
  etherType: number;
  /** How many VLAN tags; the outermost and innermost VLAN IDs (-1 when absent). */
  vlanCount: number;
  vlanOuter: number;
  vlanInner: number;
  payloadOffset: number;
  /** Why the status is not OK (a constant string, no allocation). */
  error: string;
}

export function newEthernet(): Ethernet {
  return { dst: 0, src: 0, etherType: 0, vlanCount: 0, vlanOuter: -1, vlanInner: -1, payloadOffset: 0, error: "" };
}

function isVlanTpid(t: number): boolean {
  return t === ETHERTYPE_VLAN || t === ETHERTYPE_QINQ || t === ETHERTYPE_QINQ_OLD;
}

export function decodeEthernet(b: Uint8Array, off: number, end: number, out: Ethernet): DecodeStatus {
  out.vlanCount = 0;
  out.vlanOuter = -1;
  out.vlanInner = -1;
  out.error = "";
  if (end - off < 14) {
    out.error = "shorter than the 14-byte Ethernet header";
    return TRUNCATED;
  }
  out.dst = u48(b, off);
  out.src = u48(b, off + 6);
  let o = off + 12;
  let type = u16(b, o);
  while (isVlanTpid(type)) {
    if (end - o < 6) {
      out.error = "VLAN tag cut short";
      return TRUNCATED;
    }
    if (out.vlanCount === MAX_VLAN_TAGS) {
      out.error = "more than 8 stacked VLAN tags";
      return MALFORMED;
    }
    const vid = u16(b, o + 2) & 0x0fff;
    if (out.vlanCount === 0) out.vlanOuter = vid;
    out.vlanInner = vid;
    out.vlanCount++;
    o += 4;
    type = u16(b, o);
  }
  out.etherType = type;
  out.payloadOffset = o + 2;
  if (type > 1500 && type < 0x0600) {
    out.error = "type/length field 1501..1535 is neither";
    return MALFORMED;
  }
  return OK;
}
