// IP-in-IP, as LVS-TUN sends it: the director wraps the client's packet, unchanged, in a new IPv4 header
// from the director to the real server, protocol 4 (RFC 2003). The inner header still says
// client -> VIP; the real server decapsulates it on its tunl0 and answers the client directly.
//
// +--------------------------+--------------------------+-------------+
// | outer IPv4, protocol 4   | inner IPv4               | TCP/UDP ... |
// | director -> real server  | client -> VIP            |             |
// +--------------------------+--------------------------+-------------+
//
// IPv6 services use IPv6-in-IPv6 (next header 41) the same way; that case is the IPv6 decoder run on the
// outer IPv6 payload. A fragmented outer packet carries no whole inner header: not decoded further.

import { MALFORMED, UNSUPPORTED, type DecodeStatus } from "./bytes";
import { IPPROTO_IPIP, type IPv4, decodeIPv4, isFragment } from "./ipv4";

export function decodeIpip(b: Uint8Array, outer: IPv4, inner: IPv4): DecodeStatus {
  if (outer.protocol !== IPPROTO_IPIP) {
    inner.error = "outer header is not protocol 4 (IPIP)";
    return MALFORMED;
  }
  if (isFragment(outer)) {
    inner.error = "fragment of an IPIP packet";
    return UNSUPPORTED;
  }
  return decodeIPv4(b, outer.payloadOffset, outer.payloadEnd, inner);
}
