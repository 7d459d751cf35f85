// Decoders on real frames, each given as tcpdump prints it (`tcpdump -nn -e -XX -r FILE`): the summary line
// says what the bytes below it must decode to. Frames come from the real DR captures
// (test/fixtures/cases/dr/), from the lab kernel (test/capture/fixtures/lab-frames.pcap, recorded by
// record-frames.sh), and, for IPv6, hand-built bytes annotated by tcpdump reading them.

import { describe, expect, it } from "vitest";
import { decodeArp, newArp, ARP_REPLY, ARP_REQUEST, isGratuitous } from "@/server/capture/decode/arp";
import {
  MALFORMED, OK, TRUNCATED, UNSUPPORTED, formatIPv4, formatIPv6, formatMac, parseMac, view,
} from "@/server/capture/decode/bytes";
import { decodeEthernet, newEthernet } from "@/server/capture/decode/ethernet";
import { decodeIpip } from "@/server/capture/decode/ipip";
import { IPV4_DF, decodeIPv4, ipv4ChecksumOk, newIPv4 } from "@/server/capture/decode/ipv4";
import { decodeIPv6, newIPv6 } from "@/server/capture/decode/ipv6";
import {
  L_ARP, L_ETHERNET, L_IPV4, L_IPV6, L_TCP, L_TUNNEL, L_UDP, L_VLAN, decodePacket, newDecodedPacket,
} from "@/server/capture/decode/packet";
import { TCP_SYN, decodeTcp, formatTcpFlags, newTcp } from "@/server/capture/decode/tcp";
import { decodeUdp, newUdp } from "@/server/capture/decode/udp";
import { frameFromTcpdump } from "./tcpdump-text";

const ARP_WHO_HAS_VIP = frameFromTcpdump(`
09:31:02.344128 02:00:00:00:00:fe > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has 192.0.2.100 tell 192.0.2.254, length 28
	0x0000:  ffff ffff ffff 0200 0000 00fe 0806 0001  ................
	0x0010:  0800 0604 0001 0200 0000 00fe c000 02fe  ................
	0x0020:  0000 0000 0000 c000 0264                 .........d
`);

const ARP_RS2_IS_AT = frameFromTcpdump(`
09:31:02.344325 02:00:00:00:00:12 > 02:00:00:00:00:fe, ethertype ARP (0x0806), length 42: Reply 192.0.2.100 is-at 02:00:00:00:00:12, length 28
	0x0000:  0200 0000 00fe 0200 0000 0012 0806 0001  ................
	0x0010:  0800 0604 0002 0200 0000 0012 c000 0264  ...............d
	0x0020:  0200 0000 00fe c000 02fe                 ..........
`);

const TCP_SYN_TO_VIP = frameFromTcpdump(`
09:31:02.344580 02:00:00:00:00:fe > 02:00:00:00:00:12, ethertype IPv4 (0x0800), length 74: 203.0.113.50.33228 > 192.0.2.100.80: Flags [S], seq 3858547305, win 64240, options [mss 1460,sackOK,TS val 171349349 ecr 0,nop,wscale 7], length 0
	0x0000:  0200 0000 0012 0200 0000 00fe 0800 4500  ..............E.
	0x0010:  003c fc4d 4000 3f06 40d7 cb00 7132 c000  .<.M@.?.@...q2..
	0x0020:  0264 81cc 0050 e5fc c269 0000 0000 a002  .d...P...i......
	0x0030:  faf0 fec5 0000 0204 05b4 0402 080a 0a36  ...............6
	0x0040:  9565 0000 0000 0103 0307                 .e........
`);

// tcpdump shows seq/ack relative to the SYN (seq 1:57 = absolute 3858547306..3858547362).
const HTTP_GET = frameFromTcpdump(`
09:31:02.519178 02:00:00:00:00:fe > 02:00:00:00:00:12, ethertype IPv4 (0x0800), length 122: 203.0.113.50.33228 > 192.0.2.100.80: Flags [P.], seq 1:57, ack 1, win 502, options [nop,nop,TS val 171349524 ecr 2408916617], length 56: HTTP: GET / HTTP/1.1
	0x0000:  0200 0000 0012 0200 0000 00fe 0800 4500  ..............E.
	0x0010:  006c fc4f 4000 3f06 40a5 cb00 7132 c000  .l.O@.?.@...q2..
	0x0020:  0264 81cc 0050 e5fc c26a 2e1f 0c47 8018  .d...P...j...G..
	0x0030:  01f6 fef5 0000 0101 080a 0a36 9614 8f95  ...........6....
	0x0040:  2689 4745 5420 2f20 4854 5450 2f31 2e31  &.GET./.HTTP/1.1
	0x0050:  0d0a 486f 7374 3a20 3139 322e 302e 322e  ..Host:.192.0.2.
	0x0060:  3130 300d 0a43 6f6e 6e65 6374 696f 6e3a  100..Connection:
	0x0070:  2063 6c6f 7365 0d0a 0d0a                 .close....
`);

// Hand-built (2001:db8::/32 is documentation space), printed by tcpdump from a pcap holding them.
const IPV6_HBH_SYN = frameFromTcpdump(`
09:31:02.000000 02:00:00:00:00:fe > 02:00:00:00:00:01, ethertype IPv6 (0x86dd), length 82: 2001:db8::50 > 2001:db8::100: HBH 40000 > 80: Flags [S], seq 1000, win 64800, length 0
	0x0000:  0200 0000 0001 0200 0000 00fe 86dd 6000  ..............\`.
	0x0010:  0000 001c 0040 2001 0db8 0000 0000 0000  .....@..........
	0x0020:  0000 0000 0050 2001 0db8 0000 0000 0000  .....P..........
	0x0030:  0000 0000 0100 0600 0104 0000 0000 9c40  ...............@
	0x0040:  0050 0000 03e8 0000 0000 5002 fd20 0000  .P........P.....
	0x0050:  0000                                     ..
`);

const IPV6_FRAG_UDP = frameFromTcpdump(`
09:31:03.000000 02:00:00:00:00:fe > 02:00:00:00:00:01, ethertype IPv6 (0x86dd), length 74: 2001:db8::50 > 2001:db8::100: frag (0|12) 5353 > 53: domain [length 4 < 12] (invalid)
	0x0000:  0200 0000 0001 0200 0000 00fe 86dd 6000  ..............\`.
	0x0010:  0000 0014 2c40 2001 0db8 0000 0000 0000  ....,@..........
	0x0020:  0000 0000 0050 2001 0db8 0000 0000 0000  .....P..........
	0x0030:  0000 0000 0100 1100 0001 0000 1234 14e9  .............4..
	0x0040:  0035 000c 0000 6162 6364                 .5....abcd
`);

// IPv6-in-IPv6, as LVS-TUN sends an IPv6 service's packet to a real server.
const IPV6_IN_IPV6 = frameFromTcpdump(`
09:31:04.000000 02:00:00:00:00:01 > 02:00:00:00:00:12, ethertype IPv6 (0x86dd), length 114: 2001:db8::1 > 2001:db8::12: 2001:db8::50.40001 > 2001:db8::100.80: Flags [S], seq 2000, win 64800, length 0
	0x0000:  0200 0000 0012 0200 0000 0001 86dd 6000  ..............\`.
	0x0010:  0000 003c 2940 2001 0db8 0000 0000 0000  ...<)@..........
	0x0020:  0000 0000 0001 2001 0db8 0000 0000 0000  ................
	0x0030:  0000 0000 0012 6000 0000 0014 0640 2001  ......\`......@..
	0x0040:  0db8 0000 0000 0000 0000 0000 0050 2001  .............P..
	0x0050:  0db8 0000 0000 0000 0000 0000 0100 9c41  ...............A
	0x0060:  0050 0000 07d0 0000 0000 5002 fd20 0000  .P........P.....
	0x0070:  0000                                     ..
`);


// From the lab's real kernel (test/capture/fixtures/record-frames.sh): 802.1Q, QinQ and IPIP as LVS-TUN sends it.
const VLAN_ARP_REPLY = frameFromTcpdump(`
10:33:55.979035 02:00:00:00:0b:01 > 02:00:00:00:0a:01, ethertype 802.1Q (0x8100), length 46: vlan 100, p 0, ethertype ARP (0x0806), Reply 198.51.100.2 is-at 02:00:00:00:0b:01, length 28
	0x0000:  0200 0000 0a01 0200 0000 0b01 8100 0064  ...............d
	0x0010:  0806 0001 0800 0604 0002 0200 0000 0b01  ................
	0x0020:  c633 6402 0200 0000 0a01 c633 6401       .3d........3d.
`);

const QINQ_ICMP = frameFromTcpdump(`
10:33:56.706830 02:00:00:00:0a:01 > 02:00:00:00:0b:01, ethertype 802.1Q-QinQ (0x88a8), length 106: vlan 200, p 0, ethertype 802.1Q (0x8100), vlan 300, p 0, ethertype IPv4 (0x0800), 198.51.100.17 > 198.51.100.18: ICMP echo request, id 162, seq 0, length 64
	0x0000:  0200 0000 0b01 0200 0000 0a01 88a8 00c8  ................
	0x0010:  8100 012c 0800 4500 0054 81ff 4000 4001  ...,..E..T..@.@.
	0x0020:  641f c633 6411 c633 6412 0800 90b7 00a2  d..3d..3d.......
	0x0030:  0000 51a4 1502 0000 0000 0000 0000 0000  ..Q.............
	0x0040:  0000 0000 0000 0000 0000 0000 0000 0000  ................
	0x0050:  0000 0000 0000 0000 0000 0000 0000 0000  ................
	0x0060:  0000 0000 0000 0000 0000                 ..........
`);

const VLAN_UDP = frameFromTcpdump(`
10:33:57.327368 02:00:00:00:0a:01 > 02:00:00:00:0b:01, ethertype 802.1Q (0x8100), length 56: vlan 100, p 0, ethertype IPv4 (0x0800), 198.51.100.1.40000 > 198.51.100.2.5353: domain [length 10 < 12] (invalid)
	0x0000:  0200 0000 0b01 0200 0000 0a01 8100 0064  ...............d
	0x0010:  0800 4500 0026 12b0 0000 4011 13ad c633  ..E..&....@....3
	0x0020:  6401 c633 6402 9c40 14e9 0012 407c 5858  d..3d..@....@|XX
	0x0030:  5858 5858 5858 5858                      XXXXXXXX
`);

const IPIP_SYN = frameFromTcpdump(`
10:33:59.090535 02:00:00:00:0a:01 > 02:00:00:00:0b:01, ethertype IPv4 (0x0800), length 74: 192.0.2.1 > 192.0.2.2: 203.0.113.50.33000 > 192.0.2.100.80: Flags [S], seq 251749859, win 512, length 0
	0x0000:  0200 0000 0b01 0200 0000 0a01 0800 4500  ..............E.
	0x0010:  003c 67eb 4000 4004 4ecf c000 0201 c000  .<g.@.@.N.......
	0x0020:  0202 4500 0028 bbe5 0000 4006 c053 cb00  ..E..(....@..S..
	0x0030:  7132 c000 0264 80e8 0050 0f01 65e3 17f4  q2...d...P..e...
	0x0040:  68f2 5002 0200 3848 0000                 h.P...8H..
`);

describe("real frames decode to what tcpdump prints", () => {
  it("ARP request: 02:00:00:00:00:fe > ff:ff:ff:ff:ff:ff, Request who-has 192.0.2.100 tell 192.0.2.254", () => {
    const p = newDecodedPacket();
    expect(decodePacket(ARP_WHO_HAS_VIP, 0, ARP_WHO_HAS_VIP.length, p)).toBe(OK);
    expect(p.layers).toBe(L_ETHERNET | L_ARP);
    expect(formatMac(p.eth.src)).toBe("02:00:00:00:00:fe");
    expect(formatMac(p.eth.dst)).toBe("ff:ff:ff:ff:ff:ff");
    expect(p.eth.etherType).toBe(0x0806);
    expect(p.arp.op).toBe(ARP_REQUEST);
    expect(formatIPv4(p.arp.targetIp)).toBe("192.0.2.100");
    expect(formatIPv4(p.arp.senderIp)).toBe("192.0.2.254");
    expect(formatMac(p.arp.senderMac)).toBe("02:00:00:00:00:fe");
    expect(p.arp.targetMac).toBe(0);
    expect(isGratuitous(p.arp)).toBe(false);
  });

  it("ARP reply: Reply 192.0.2.100 is-at 02:00:00:00:00:12", () => {
    const a = newArp();
    expect(decodeArp(ARP_RS2_IS_AT, 14, ARP_RS2_IS_AT.length, a)).toBe(OK);
    expect(a.op).toBe(ARP_REPLY);
    expect(formatIPv4(a.senderIp)).toBe("192.0.2.100");
    expect(a.senderMac).toBe(parseMac("02:00:00:00:00:12"));
    expect(formatIPv4(a.targetIp)).toBe("192.0.2.254");
    expect(formatMac(a.targetMac)).toBe("02:00:00:00:00:fe");
  });

  it("TCP SYN: 203.0.113.50.33228 > 192.0.2.100.80: Flags [S], seq 3858547305, win 64240, length 0", () => {
    const p = newDecodedPacket();
    expect(decodePacket(TCP_SYN_TO_VIP, 0, TCP_SYN_TO_VIP.length, p)).toBe(OK);
    expect(p.layers).toBe(L_ETHERNET | L_IPV4 | L_TCP);
    expect(formatIPv4(p.ip4.src)).toBe("203.0.113.50");
    expect(formatIPv4(p.ip4.dst)).toBe("192.0.2.100");
    expect(p.ip4).toMatchObject({ headerLength: 20, totalLength: 60, id: 0xfc4d, flags: IPV4_DF, fragmentOffset: 0, ttl: 63, protocol: 6 });
    expect(ipv4ChecksumOk(TCP_SYN_TO_VIP, 14, p.ip4)).toBe(true);
    expect(p.tcp).toMatchObject({ srcPort: 33228, dstPort: 80, seq: 3858547305, ack: 0, window: 64240, headerLength: 40 });
    expect(formatTcpFlags(p.tcp.flags)).toBe("S");
    expect(p.tcp.payloadEnd - p.tcp.payloadOffset).toBe(0);
  });

  it("HTTP GET: Flags [P.], seq 1:57, ack 1, win 502, length 56: GET / HTTP/1.1", () => {
    const p = newDecodedPacket();
    expect(decodePacket(HTTP_GET, 0, HTTP_GET.length, p)).toBe(OK);
    expect(formatTcpFlags(p.tcp.flags)).toBe("P.");
    expect(p.tcp.seq).toBe(3858547305 + 1);
    expect(p.tcp.window).toBe(502);
    expect(p.tcp.payloadEnd - p.tcp.payloadOffset).toBe(56);
    const payload = Buffer.from(view(HTTP_GET, p.tcp.payloadOffset, p.tcp.payloadEnd)).toString("latin1");
    expect(payload.split("\r\n")[0]).toBe("GET / HTTP/1.1");
  });

  it("IPv6 with Hop-by-Hop: 2001:db8::50 > 2001:db8::100: HBH 40000 > 80: Flags [S], seq 1000, win 64800", () => {
    const p = newDecodedPacket();
    expect(decodePacket(IPV6_HBH_SYN, 0, IPV6_HBH_SYN.length, p)).toBe(OK);
    expect(p.layers).toBe(L_ETHERNET | L_IPV6 | L_TCP);
    expect(formatIPv6(IPV6_HBH_SYN, p.ip6.srcOffset)).toBe("2001:db8::50");
    expect(formatIPv6(IPV6_HBH_SYN, p.ip6.dstOffset)).toBe("2001:db8::100");
    expect(p.ip6).toMatchObject({ nextHeader: 0, protocol: 6, hopLimit: 64, payloadLength: 28, payloadOffset: 14 + 48 });
    expect(p.tcp).toMatchObject({ srcPort: 40000, dstPort: 80, seq: 1000, window: 64800, flags: TCP_SYN });
  });

  it("IPv6 first fragment: frag (0|12) 5353 > 53 (4 bytes of payload)", () => {
    const p = newDecodedPacket();
    expect(decodePacket(IPV6_FRAG_UDP, 0, IPV6_FRAG_UDP.length, p)).toBe(OK);
    expect(p.layers).toBe(L_ETHERNET | L_IPV6 | L_UDP);
    expect(p.ip6).toMatchObject({ nextHeader: 44, protocol: 17, fragmentOffset: 0, moreFragments: true });
    expect(p.udp).toMatchObject({ srcPort: 5353, dstPort: 53, length: 12 });
    const payload = view(IPV6_FRAG_UDP, p.udp.payloadOffset, p.udp.payloadEnd);
    expect(Buffer.from(payload).toString()).toBe("abcd");
    expect(payload.buffer).toBe(IPV6_FRAG_UDP.buffer); // a view, not a copy
  });

  it("IPv6-in-IPv6 (LVS-TUN, IPv6): 2001:db8::1 > 2001:db8::12: 2001:db8::50.40001 > 2001:db8::100.80", () => {
    const p = newDecodedPacket();
    expect(decodePacket(IPV6_IN_IPV6, 0, IPV6_IN_IPV6.length, p)).toBe(OK);
    expect(p.layers).toBe(L_ETHERNET | L_IPV6 | L_TUNNEL | L_TCP);
    expect(formatIPv6(IPV6_IN_IPV6, p.ip6.dstOffset)).toBe("2001:db8::12");
    expect(formatIPv6(IPV6_IN_IPV6, p.inner6.srcOffset)).toBe("2001:db8::50");
    expect(formatIPv6(IPV6_IN_IPV6, p.inner6.dstOffset)).toBe("2001:db8::100");
    expect(p.tcp).toMatchObject({ srcPort: 40001, dstPort: 80, seq: 2000 });
  });

  it("802.1Q: vlan 100, ethertype ARP, Reply 198.51.100.2 is-at 02:00:00:00:0b:01", () => {
    const p = newDecodedPacket();
    expect(decodePacket(VLAN_ARP_REPLY, 0, VLAN_ARP_REPLY.length, p)).toBe(OK);
    expect(p.layers).toBe(L_ETHERNET | L_VLAN | L_ARP);
    expect(p.eth).toMatchObject({ vlanCount: 1, vlanOuter: 100, vlanInner: 100, etherType: 0x0806, payloadOffset: 18 });
    expect(formatIPv4(p.arp.senderIp)).toBe("198.51.100.2");
    expect(formatMac(p.arp.senderMac)).toBe("02:00:00:00:0b:01");
  });

  it("QinQ: vlan 200 (802.1ad), vlan 300 (802.1Q), 198.51.100.17 > 198.51.100.18: ICMP", () => {
    const p = newDecodedPacket();
    expect(decodePacket(QINQ_ICMP, 0, QINQ_ICMP.length, p)).toBe(OK);
    expect(p.layers).toBe(L_ETHERNET | L_VLAN | L_IPV4);
    expect(p.eth).toMatchObject({ vlanCount: 2, vlanOuter: 200, vlanInner: 300, etherType: 0x0800 });
    expect(formatIPv4(p.ip4.src)).toBe("198.51.100.17");
    expect(formatIPv4(p.ip4.dst)).toBe("198.51.100.18");
    expect(p.ip4.protocol).toBe(1);
  });

  it("UDP over 802.1Q: 198.51.100.1.40000 > 198.51.100.2.5353, 10 bytes", () => {
    const p = newDecodedPacket();
    expect(decodePacket(VLAN_UDP, 0, VLAN_UDP.length, p)).toBe(OK);
    expect(p.layers).toBe(L_ETHERNET | L_VLAN | L_IPV4 | L_UDP);
    expect(p.udp).toMatchObject({ srcPort: 40000, dstPort: 5353, length: 18 });
    expect(p.udp.payloadEnd - p.udp.payloadOffset).toBe(10);
  });

  it("IPIP (LVS-TUN): 192.0.2.1 > 192.0.2.2: 203.0.113.50.33000 > 192.0.2.100.80: Flags [S], seq 251749859", () => {
    const p = newDecodedPacket();
    expect(decodePacket(IPIP_SYN, 0, IPIP_SYN.length, p)).toBe(OK);
    expect(p.layers).toBe(L_ETHERNET | L_IPV4 | L_TUNNEL | L_TCP);
    expect(p.ip4.protocol).toBe(4);
    expect([formatIPv4(p.ip4.src), formatIPv4(p.ip4.dst)]).toEqual(["192.0.2.1", "192.0.2.2"]);
    expect([formatIPv4(p.inner4.src), formatIPv4(p.inner4.dst)]).toEqual(["203.0.113.50", "192.0.2.100"]);
    expect(p.tcp).toMatchObject({ srcPort: 33000, dstPort: 80, seq: 251749859, window: 512, flags: TCP_SYN });
  });

  it("every cut of a real frame is truncated (or OK once the headers are whole), never malformed", () => {
    const p = newDecodedPacket();
    for (const [frame, headersEnd] of [
      [ARP_WHO_HAS_VIP, 42], [TCP_SYN_TO_VIP, 74], [HTTP_GET, 66], [IPV6_HBH_SYN, 82], [IPV6_FRAG_UDP, 70], [IPV6_IN_IPV6, 114],
      [VLAN_ARP_REPLY, 46], [QINQ_ICMP, 42], [VLAN_UDP, 46], [IPIP_SYN, 74],
    ] as const) {
      for (let cut = 0; cut < frame.length; cut++) {
        const s = decodePacket(frame, 0, cut, p);
        expect([cut, s]).toEqual([cut, cut >= headersEnd ? OK : TRUNCATED]);
      }
    }
  });

  it("decodes at an offset inside a larger buffer, reading nothing outside [off, end)", () => {
    const big = new Uint8Array(300).fill(0xee);
    big.set(TCP_SYN_TO_VIP, 100);
    const p = newDecodedPacket();
    expect(decodePacket(big, 100, 100 + TCP_SYN_TO_VIP.length, p)).toBe(OK);
    expect(p.tcp.payloadOffset).toBe(100 + 74);
    expect(p.tcp.payloadEnd).toBe(100 + 74);
  });
});

/** A copy of `frame` with bytes changed: [[offset, value], ...]. */
function patched(frame: Uint8Array, changes: [number, number][]): Uint8Array {
  const out = Uint8Array.from(frame);
  for (const [o, v] of changes) out[o] = v;
  return out;
}

describe("Ethernet: truncated vs malformed", () => {
  const e = newEthernet();
  it("fewer than 14 bytes is truncated", () => {
    expect(decodeEthernet(TCP_SYN_TO_VIP, 0, 13, e)).toBe(TRUNCATED);
  });
  it("an 802.3 length (<= 1500) is well-formed; 1501..1535 is malformed", () => {
    expect(decodeEthernet(patched(TCP_SYN_TO_VIP, [[12, 0x05], [13, 0xdc]]), 0, 74, e)).toBe(OK);
    expect(e.etherType).toBe(1500);
    expect(decodeEthernet(patched(TCP_SYN_TO_VIP, [[12, 0x05], [13, 0xdd]]), 0, 74, e)).toBe(MALFORMED);
  });
  it("a VLAN tag cut short is truncated; more than 8 stacked tags is malformed", () => {
    const tagged = new Uint8Array(14 + 4 * 9);
    tagged.set(TCP_SYN_TO_VIP.subarray(0, 12));
    for (let i = 0; i < 9; i++) tagged.set([0x81, 0x00, 0x00, i + 1], 12 + 4 * i);
    tagged.set([0x08, 0x00], 12 + 36);
    expect(decodeEthernet(tagged, 0, 17, e)).toBe(TRUNCATED);
    expect(decodeEthernet(tagged, 0, tagged.length, e)).toBe(MALFORMED);
    const eight = Uint8Array.from([...tagged.subarray(0, 12 + 32), 0x08, 0x00]);
    expect(decodeEthernet(eight, 0, eight.length, e)).toBe(OK);
    expect(e).toMatchObject({ vlanCount: 8, vlanOuter: 1, vlanInner: 8, etherType: 0x0800, payloadOffset: eight.length });
  });
});

describe("ARP: truncated vs malformed", () => {
  const a = newArp();
  it("fewer than 8 bytes, or 8..27 bytes of Ethernet/IPv4 ARP, is truncated", () => {
    expect(decodeArp(ARP_RS2_IS_AT, 14, 21, a)).toBe(TRUNCATED);
    expect(decodeArp(ARP_RS2_IS_AT, 14, 41, a)).toBe(TRUNCATED);
  });
  it("Ethernet/IPv4 with address sizes other than 6/4 is malformed; other hardware is unsupported", () => {
    expect(decodeArp(patched(ARP_RS2_IS_AT, [[18, 7]]), 14, 42, a)).toBe(MALFORMED);
    expect(decodeArp(patched(ARP_RS2_IS_AT, [[19, 16]]), 14, 42, a)).toBe(MALFORMED);
    expect(decodeArp(patched(ARP_RS2_IS_AT, [[15, 6]]), 14, 42, a)).toBe(UNSUPPORTED);
  });
});

describe("IPv4: truncated vs malformed", () => {
  const h = newIPv4();
  it("fewer than 20 bytes, or fewer than IHL*4, is truncated", () => {
    expect(decodeIPv4(TCP_SYN_TO_VIP, 14, 33, h)).toBe(TRUNCATED);
    expect(decodeIPv4(patched(TCP_SYN_TO_VIP, [[14, 0x46]]), 14, 14 + 23, h)).toBe(TRUNCATED);
  });
  it("version != 4, IHL < 5, or total length < header is malformed", () => {
    expect(decodeIPv4(patched(TCP_SYN_TO_VIP, [[14, 0x55]]), 14, 74, h)).toBe(MALFORMED);
    expect(decodeIPv4(patched(TCP_SYN_TO_VIP, [[14, 0x44]]), 14, 74, h)).toBe(MALFORMED);
    expect(decodeIPv4(patched(TCP_SYN_TO_VIP, [[16, 0], [17, 19]]), 14, 74, h)).toBe(MALFORMED);
  });
  it("Ethernet padding past the total length is not payload; a snaplen cut shortens it", () => {
    const padded = Uint8Array.from([...TCP_SYN_TO_VIP, 0, 0, 0, 0, 0, 0]);
    expect(decodeIPv4(padded, 14, padded.length, h)).toBe(OK);
    expect(h.payloadEnd).toBe(74);
    expect(decodeIPv4(TCP_SYN_TO_VIP, 14, 50, h)).toBe(OK);
    expect(h.payloadEnd).toBe(50);
  });
});

describe("IPv6: truncated vs malformed", () => {
  const h = newIPv6();
  it("fewer than 40 bytes, or an extension header cut by the capture, is truncated", () => {
    expect(decodeIPv6(IPV6_HBH_SYN, 14, 53, h)).toBe(TRUNCATED);
    expect(decodeIPv6(IPV6_HBH_SYN, 14, 14 + 41, h)).toBe(TRUNCATED);
    expect(decodeIPv6(IPV6_FRAG_UDP, 14, 14 + 45, h)).toBe(TRUNCATED);
  });
  it("version != 6, or an extension header beyond the payload length, is malformed", () => {
    expect(decodeIPv6(patched(IPV6_HBH_SYN, [[14, 0x40]]), 14, 82, h)).toBe(MALFORMED);
    expect(decodeIPv6(patched(IPV6_HBH_SYN, [[18, 0], [19, 4]]), 14, 82, h)).toBe(MALFORMED);
    expect(decodeIPv6(patched(IPV6_HBH_SYN, [[55, 9]]), 14, 82, h)).toBe(MALFORMED);
  });
  it("a later fragment holds no transport header", () => {
    const later = patched(IPV6_FRAG_UDP, [[56, 0x00], [57, 0x10]]);
    const p = newDecodedPacket();
    expect(decodePacket(later, 0, later.length, p)).toBe(OK);
    expect(p.ip6.fragmentOffset).toBe(16);
    expect(p.layers).toBe(L_ETHERNET | L_IPV6);
  });
});

describe("TCP and UDP: truncated vs malformed", () => {
  it("TCP: fewer than 20 bytes, or than the data offset, is truncated; data offset < 5 is malformed", () => {
    const t = newTcp();
    expect(decodeTcp(TCP_SYN_TO_VIP, 34, 53, t)).toBe(TRUNCATED);
    expect(decodeTcp(TCP_SYN_TO_VIP, 34, 34 + 39, t)).toBe(TRUNCATED);
    expect(decodeTcp(patched(TCP_SYN_TO_VIP, [[46, 0x40]]), 34, 74, t)).toBe(MALFORMED);
  });
  it("UDP: fewer than 8 bytes is truncated; length < 8 is malformed", () => {
    const u = newUdp();
    expect(decodeUdp(IPV6_FRAG_UDP, 62, 69, u)).toBe(TRUNCATED);
    expect(decodeUdp(patched(IPV6_FRAG_UDP, [[66, 0], [67, 7]]), 62, 74, u)).toBe(MALFORMED);
  });
  it("the packet decoder names the layer that failed", () => {
    const p = newDecodedPacket();
    expect(decodePacket(patched(TCP_SYN_TO_VIP, [[46, 0x40]]), 0, 74, p)).toBe(MALFORMED);
    expect(p.failedLayer).toBe(L_TCP);
    expect(p.layers).toBe(L_ETHERNET | L_IPV4);
  });
});

describe("IPIP: truncated vs malformed", () => {
  it("an outer header that is not protocol 4 is malformed; an inner header cut short is truncated", () => {
    const outer = newIPv4();
    const inner = newIPv4();
    decodeIPv4(TCP_SYN_TO_VIP, 14, 74, outer);
    expect(decodeIpip(TCP_SYN_TO_VIP, outer, inner)).toBe(MALFORMED);
    const ipip = patched(TCP_SYN_TO_VIP, [[23, 4]]);
    decodeIPv4(ipip, 14, 74, outer);
    expect(decodeIpip(ipip, outer, inner)).toBe(MALFORMED); // the "inner header" is a TCP header: version 8
    decodeIPv4(ipip, 14, 14 + 20 + 10, outer);
    expect(decodeIpip(ipip, outer, inner)).toBe(TRUNCATED);
  });
});
