// Ethernet/IPv4/TCP frames (optionally in IPIP, as LVS-TUN sends them) built for the return-path and engine
// tests. Checksums are left 0: the decoders do not verify them (captures on the sending host see them
// before offload fills them in).

import { parseIPv4, parseMac } from "@/server/capture/decode/bytes";
import { TCP_ACK, TCP_SYN } from "@/server/capture/decode/tcp";

export interface TcpSpec {
  /** Ethernet source and destination. */
  from: string;
  to: string;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  flags: number;
  /** IPIP: the outer header's addresses (LVS-TUN: director -> real server). */
  tunnel?: { src: string; dst: string };
}

export const SYN = TCP_SYN;
export const SYN_ACK = TCP_SYN | TCP_ACK;
export const ACK = TCP_ACK;

export function tcpFrame(t: TcpSpec): Uint8Array {
  const outer = t.tunnel ? 20 : 0;
  const b = new Uint8Array(14 + outer + 20 + 20);
  const dv = new DataView(b.buffer);
  const mac = (o: number, text: string) => {
    const n = parseMac(text)!;
    dv.setUint16(o, Math.floor(n / 2 ** 32));
    dv.setUint32(o + 2, n % 2 ** 32);
  };
  const ipv4 = (o: number, total: number, protocol: number, src: string, dst: string) => {
    b[o] = 0x45;
    dv.setUint16(o + 2, total);
    b[o + 8] = 64;
    b[o + 9] = protocol;
    dv.setUint32(o + 12, parseIPv4(src)!);
    dv.setUint32(o + 16, parseIPv4(dst)!);
  };
  mac(0, t.to);
  mac(6, t.from);
  dv.setUint16(12, 0x0800);
  if (t.tunnel) ipv4(14, 60, 4, t.tunnel.src, t.tunnel.dst);
  const o = 14 + outer;
  ipv4(o, 40, 6, t.src, t.dst);
  dv.setUint16(o + 20, t.sport);
  dv.setUint16(o + 22, t.dport);
  b[o + 32] = 5 << 4;
  b[o + 33] = t.flags;
  dv.setUint16(o + 34, 64240);
  return b;
}

export type Frame = [time: number, frame: Uint8Array];

/** The lab sites' addresses (lab/site/README.md). */
export const VIP = "192.0.2.100";
export const CLIENT = "203.0.113.50";
export const M = {
  dir: "02:00:00:00:00:01", rs1: "02:00:00:00:00:11", rs2: "02:00:00:00:00:12", router: "02:00:00:00:00:fe",
  dirIn: "02:00:00:00:02:01", nrs1: "02:00:00:00:02:11", nrs2: "02:00:00:00:02:12", gw: "02:00:00:00:02:fe",
};

/** One DR connection as the LAN bridge sees it: client SYN twice (router -> director, director -> RS), then
 *  the RS's SYN-ACK with the VIP as source to `replyTo` ("" = none). */
export function drConnection(t: number, port: number, rs: "rs1" | "rs2", replyTo: string = M.router): Frame[] {
  const syn = { src: CLIENT, sport: port, dst: VIP, dport: 80, flags: SYN };
  const out: Frame[] = [
    [t, tcpFrame({ ...syn, from: M.router, to: M.dir })],
    [t + 0.001, tcpFrame({ ...syn, from: M.dir, to: M[rs] })],
  ];
  if (replyTo !== "") out.push([t + 0.002, tcpFrame({ from: M[rs], to: replyTo, src: VIP, sport: 80, dst: CLIENT, dport: port, flags: SYN_ACK })]);
  return out;
}
