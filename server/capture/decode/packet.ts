// One captured Ethernet frame, taken apart layer by layer into a struct the caller owns and reuses:
//
//   Ethernet (+ VLAN tags) -> ARP
//                          -> IPv4 -> TCP | UDP
//                                  -> IPIP (LVS-TUN) -> inner IPv4 -> TCP | UDP
//                          -> IPv6 (+ extension headers) -> TCP | UDP
//                                  -> IPv6-in-IPv6 (LVS-TUN) -> inner IPv6 -> TCP | UDP
//
// `decodePacket` allocates nothing: every layer writes into its own preallocated header object, and
// `layers` says which of them hold this packet. Read what you need before decoding the next packet
// into the same struct (and copy bytes out of the capture buffer before any await: it is reused).

import { OK, type DecodeStatus } from "./bytes";
import { decodeArp, newArp, type Arp } from "./arp";
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, decodeEthernet, newEthernet, type Ethernet } from "./ethernet";
import { decodeIpip } from "./ipip";
import { IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP, decodeIPv4, isFragment, newIPv4, type IPv4 } from "./ipv4";
import { decodeIPv6, isLaterFragment, newIPv6, type IPv6 } from "./ipv6";
import { decodeTcp, newTcp, type Tcp } from "./tcp";
import { decodeUdp, newUdp, type Udp } from "./udp";

// Layer bits for DecodedPacket.layers / failedLayer.
export const L_ETHERNET = 1 << 0;
export const L_VLAN = 1 << 1;
export const L_ARP = 1 << 2;
export const L_IPV4 = 1 << 3;
export const L_IPV6 = 1 << 4;
/** An IPIP (4-in-4) or IPv6-in-IPv6 tunnel: `inner4` / `inner6` hold the inner header. */
export const L_TUNNEL = 1 << 5;
export const L_TCP = 1 << 6;
export const L_UDP = 1 << 7;

export const LAYER_NAMES: ReadonlyArray<readonly [number, string]> = [
  [L_ETHERNET, "ethernet"], [L_VLAN, "vlan"], [L_ARP, "arp"], [L_IPV4, "ipv4"], [L_IPV6, "ipv6"],
  [L_TUNNEL, "tunnel"], [L_TCP, "tcp"], [L_UDP, "udp"],
];

export interface DecodedPacket {
  /** Bits of the layers decoded OK in this packet. */
  layers: number;
  /** OK, or the status of the first layer that failed (then `failedLayer` names it). */
  status: DecodeStatus;
  failedLayer: number;
  eth: Ethernet;
  arp: Arp;
  ip4: IPv4;
  ip6: IPv6;
  inner4: IPv4;
  inner6: IPv6;
  tcp: Tcp;
  udp: Udp;
}

export function newDecodedPacket(): DecodedPacket {
  return {
    layers: 0, status: OK, failedLayer: 0, eth: newEthernet(), arp: newArp(), ip4: newIPv4(), ip6: newIPv6(),
    inner4: newIPv4(), inner6: newIPv6(), tcp: newTcp(), udp: newUdp(),
  };
}

/** Decodes the frame in b[off, end). Returns `p.status`. */
export function decodePacket(b: Uint8Array, off: number, end: number, p: DecodedPacket): DecodeStatus {
  p.layers = 0;
  p.failedLayer = 0;
  let s = decodeEthernet(b, off, end, p.eth);
  if (s !== OK) return failed(p, L_ETHERNET, s);
  p.layers = p.eth.vlanCount > 0 ? L_ETHERNET | L_VLAN : L_ETHERNET;
  const o = p.eth.payloadOffset;
  switch (p.eth.etherType) {
    case ETHERTYPE_ARP:
      s = decodeArp(b, o, end, p.arp);
      if (s !== OK) return failed(p, L_ARP, s);
      p.layers |= L_ARP;
      return (p.status = OK);
    case ETHERTYPE_IPV4:
      s = decodeIPv4(b, o, end, p.ip4);
      if (s !== OK) return failed(p, L_IPV4, s);
      p.layers |= L_IPV4;
      return ipv4Payload(b, p, p.ip4, true);
    case ETHERTYPE_IPV6:
      s = decodeIPv6(b, o, end, p.ip6);
      if (s !== OK) return failed(p, L_IPV6, s);
      p.layers |= L_IPV6;
      return ipv6Payload(b, p, p.ip6, true);
    default:
      return (p.status = OK);
  }
}

function ipv4Payload(b: Uint8Array, p: DecodedPacket, h: IPv4, outer: boolean): DecodeStatus {
  if (isFragment(h) && h.fragmentOffset !== 0) return (p.status = OK); // no transport header in it
  if (h.protocol === IPPROTO_IPIP && outer) {
    const s = decodeIpip(b, h, p.inner4);
    if (s !== OK) return failed(p, L_TUNNEL, s);
    p.layers |= L_TUNNEL;
    return ipv4Payload(b, p, p.inner4, false);
  }
  return transport(b, p, h.protocol, h.payloadOffset, h.payloadEnd);
}

function ipv6Payload(b: Uint8Array, p: DecodedPacket, h: IPv6, outer: boolean): DecodeStatus {
  if (isLaterFragment(h)) return (p.status = OK);
  if (h.protocol === IPPROTO_IPV6 && outer) {
    const s = decodeIPv6(b, h.payloadOffset, h.payloadEnd, p.inner6);
    if (s !== OK) return failed(p, L_TUNNEL, s);
    p.layers |= L_TUNNEL;
    return ipv6Payload(b, p, p.inner6, false);
  }
  return transport(b, p, h.protocol, h.payloadOffset, h.payloadEnd);
}

function transport(b: Uint8Array, p: DecodedPacket, protocol: number, off: number, end: number): DecodeStatus {
  let s: DecodeStatus;
  if (protocol === IPPROTO_TCP) {
    s = decodeTcp(b, off, end, p.tcp);
    if (s !== OK) return failed(p, L_TCP, s);
    p.layers |= L_TCP;
  } else if (protocol === IPPROTO_UDP) {
    s = decodeUdp(b, off, end, p.udp);
    if (s !== OK) return failed(p, L_UDP, s);
    p.layers |= L_UDP;
  }
  return (p.status = OK);
}

function failed(p: DecodedPacket, layer: number, s: DecodeStatus): DecodeStatus {
  p.failedLayer = layer;
  return (p.status = s);
}

/** The IPv4 header the transport belongs to (the inner one in a tunnel), or null for non-IPv4. */
export function transportIPv4(p: DecodedPacket): IPv4 | null {
  if (p.layers & L_TUNNEL && p.layers & L_IPV4) return p.inner4;
  return p.layers & L_IPV4 ? p.ip4 : null;
}
