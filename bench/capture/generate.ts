// The benchmark's capture: N packets of an LVS site with a DR VIP and a NAT VIP, as the director's segments
// show them (LAN and inner side in one file), from many clients (203.0.113.0/24 and 198.51.100.128/25, a new
// source port per connection), with ARP, and with faults so that every detector has work:
//   - rs2 (DR) answers "who-has VIP" now and then (arp_ignore=0)            -> arp-real-server-claims-vip
//   - rs1 (DR) sends some replies to the director's MAC (gateway = DIP)     -> reply-via-director
//   - nat2 (NAT) answers no SYN and asks ARP for a gateway                 -> nat-syn-unanswered,
//     nobody has (198.51.100.253)                                              gateway-arp-unanswered
// Deterministic (fixed seed): the same N gives the same file. RULES is the site as ipvsadm-save -n prints it.
import { closeSync, openSync, writeSync } from "node:fs";
import { PcapWriter } from "@/server/capture/pcapfile/writer";

export const RULES = [
  "-A -t 192.0.2.100:80 -s wrr",
  "-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1",
  "-a -t 192.0.2.100:80 -r 192.0.2.12:80 -g -w 2",
  "-A -t 192.0.2.101:80 -s wrr",
  "-a -t 192.0.2.101:80 -r 198.51.100.11:80 -m -w 1",
  "-a -t 192.0.2.101:80 -r 198.51.100.12:8080 -m -w 1",
  "",
].join("\n");

/** `lvsdash analyze` options naming the director (both sides) with its MACs. */
export const DIRECTOR_ARGS = ["--director", "192.0.2.1@02:00:00:00:00:01", "--director", "198.51.100.1@02:00:00:00:02:01"];

type Mac = readonly number[];
type Ip = readonly number[];
const ROUTER: Mac = [2, 0, 0, 0, 0, 0xfe];
const DIR_LAN: Mac = [2, 0, 0, 0, 0, 0x01];
const DIR_INNER: Mac = [2, 0, 0, 0, 2, 0x01];
const DR_RS: { mac: Mac; ip: Ip }[] = [
  { mac: [2, 0, 0, 0, 0, 0x11], ip: [192, 0, 2, 11] },
  { mac: [2, 0, 0, 0, 0, 0x12], ip: [192, 0, 2, 12] },
];
const NAT_RS: { mac: Mac; ip: Ip; port: number }[] = [
  { mac: [2, 0, 0, 0, 2, 0x11], ip: [198, 51, 100, 11], port: 80 },
  { mac: [2, 0, 0, 0, 2, 0x12], ip: [198, 51, 100, 12], port: 8080 },
];
const DR_VIP: Ip = [192, 0, 2, 100];
const NAT_VIP: Ip = [192, 0, 2, 101];
const ROUTER_IP: Ip = [192, 0, 2, 254];
const DIP: Ip = [192, 0, 2, 1];
const DIR_INNER_IP: Ip = [198, 51, 100, 1];
const NOBODY: Ip = [198, 51, 100, 253];
const BROADCAST: Mac = [255, 255, 255, 255, 255, 255];
const ZERO: Mac = [0, 0, 0, 0, 0, 0];

function arp(op: 1 | 2, sha: Mac, spa: Ip, tha: Mac, tpa: Ip): Uint8Array {
  const b = new Uint8Array(42);
  b.set(op === 1 ? BROADCAST : tha, 0);
  b.set(sha, 6);
  b.set([0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, op], 12);
  b.set(sha, 22);
  b.set(spa, 28);
  b.set(tha, 32);
  b.set(tpa, 38);
  return b;
}

/** Ethernet + IPv4 + TCP with the options Linux sends (MSS/SACK/TS/WS on SYNs, TS otherwise), checksums 0
 *  (as captured with checksum offload). */
function tcp(dst: Mac, src: Mac, sip: Ip, dip: Ip, sport: number, dport: number, flags: number, seq: number, ack: number, payload: Uint8Array): Uint8Array {
  const optLen = flags & 0x02 ? 20 : 12;
  const ipLen = 40 + optLen + payload.length;
  const b = new Uint8Array(14 + ipLen);
  b.set(dst, 0);
  b.set(src, 6);
  b.set([0x08, 0x00, 0x45, 0, ipLen >> 8, ipLen & 255, 0, 0, 0x40, 0, 64, 6, 0, 0], 12);
  b.set(sip, 26);
  b.set(dip, 30);
  const dv = new DataView(b.buffer);
  dv.setUint16(34, sport);
  dv.setUint16(36, dport);
  dv.setUint32(38, seq >>> 0);
  dv.setUint32(42, flags & 0x10 ? ack >>> 0 : 0);
  b[46] = ((20 + optLen) / 4) << 4;
  b[47] = flags;
  dv.setUint16(48, 502);
  b.set(flags & 0x02 ? [2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7] : [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], 54);
  b.set(payload, 54 + optLen);
  return b;
}

const SYN = 0x02, ACK = 0x10, PSH_ACK = 0x18, FIN_ACK = 0x11, SYN_ACK = 0x12;
const text = new TextEncoder();
const NONE = new Uint8Array(0);
/** What busybox httpd serves: a page of text, cut into segments. */
const BODY = text.encode("<html><body><p>lvs-dashboard benchmark page</p></body></html>\n".repeat(200));

/** One HTTP/1.1 exchange on a new connection, with consistent sequence and acknowledgement numbers. `inbound`
 *  and `reply` put a client or a server segment on the wire (as the mode shows it). */
function httpConnection(
  rnd: (m: number) => number, vip: Ip,
  inbound: (flags: number, seq: number, ack: number, payload: Uint8Array) => void,
  reply: (flags: number, seq: number, ack: number, payload: Uint8Array) => void,
): void {
  const c0 = rnd(2 ** 31);
  const s0 = rnd(2 ** 31);
  const req = text.encode(`GET /item/${rnd(100000)} HTTP/1.1\r\nHost: ${vip.join(".")}\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n`);
  const bodyLen = 200 + rnd(4 * 1448);
  const head = text.encode(`HTTP/1.1 200 OK\r\nServer: busybox httpd\r\nContent-Type: text/html\r\nContent-Length: ${bodyLen}\r\n\r\n`);
  const response = new Uint8Array(head.length + bodyLen);
  response.set(head);
  response.set(BODY.subarray(0, bodyLen), head.length);
  inbound(SYN, c0, 0, NONE);
  reply(SYN_ACK, s0, c0 + 1, NONE);
  inbound(ACK, c0 + 1, s0 + 1, NONE);
  inbound(PSH_ACK, c0 + 1, s0 + 1, req);
  const c1 = c0 + 1 + req.length;
  let s = s0 + 1;
  for (let o = 0; o < response.length; o += 1448) {
    const seg = response.subarray(o, Math.min(response.length, o + 1448));
    reply(o + 1448 >= response.length ? PSH_ACK : ACK, s, c1, seg);
    s += seg.length;
  }
  inbound(ACK, c1, s, NONE);
  inbound(FIN_ACK, c1, s, NONE);
  reply(FIN_ACK, s, c1 + 1, NONE);
  inbound(ACK, c1 + 1, s + 1, NONE);
}

/** Writes `packets` packets to `path`. */
export function generateCapture(path: string, packets: number): void {
  const fd = openSync(path, "w");
  const w = new PcapWriter((bytes) => writeSync(fd, bytes), { snaplen: 65535 });
  let t = 1_795_253_400 * 1e6; // µs; one packet every 7 µs (about 143k packets/s on the wire)
  let n = 0;
  const emit = (data: Uint8Array) => {
    if (n >= packets) return;
    t += 7;
    w.write({ data, tsSec: Math.floor(t / 1e6), tsNsec: (t % 1e6) * 1000 });
    n++;
  };
  let x = 0x9e3779b9;
  const rnd = (m: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % m;
  };
  const client = (): Ip => (rnd(2) ? [203, 0, 113, 1 + rnd(254)] : [198, 51, 100, 128 + rnd(127)]);

  const drConnection = () => {
    const c = client();
    const port = 1024 + rnd(64000);
    const rsIndex = rnd(3) === 0 ? 0 : 1;
    const rs = DR_RS[rsIndex]!;
    // rs1's default route via the DIP, for 1 connection in 50: its replies reach the director's MAC.
    const replyTo = rsIndex === 0 && rnd(50) === 0 ? DIR_LAN : ROUTER;
    httpConnection(rnd, DR_VIP,
      (flags, seq, ack, data) => {
        emit(tcp(DIR_LAN, ROUTER, c, DR_VIP, port, 80, flags, seq, ack, data));
        emit(tcp(rs.mac, DIR_LAN, c, DR_VIP, port, 80, flags, seq, ack, data)); // the same IP packet, to the RS's MAC
      },
      (flags, seq, ack, data) => emit(tcp(replyTo, rs.mac, DR_VIP, c, 80, port, flags, seq, ack, data)));
  };

  const natConnection = () => {
    const c = client();
    const port = 1024 + rnd(64000);
    const rs = NAT_RS[rnd(2)]!;
    // nat2 with its gateway gone (the lab's nat-gw-wrong): every forwarded SYN (and its retransmission) gets no
    // answer, and nat2 asks ARP for the gateway it has.
    if (rs === NAT_RS[1]) {
      const seq = rnd(2 ** 31);
      emit(tcp(DIR_LAN, ROUTER, c, NAT_VIP, port, 80, SYN, seq, 0, NONE));
      emit(tcp(rs.mac, DIR_INNER, c, rs.ip, port, rs.port, SYN, seq, 0, NONE));
      emit(arp(1, rs.mac, rs.ip, ZERO, NOBODY));
      emit(tcp(rs.mac, DIR_INNER, c, rs.ip, port, rs.port, SYN, seq, 0, NONE));
      return;
    }
    httpConnection(rnd, NAT_VIP,
      (flags, seq, ack, data) => {
        emit(tcp(DIR_LAN, ROUTER, c, NAT_VIP, port, 80, flags, seq, ack, data));
        emit(tcp(rs.mac, DIR_INNER, c, rs.ip, port, rs.port, flags, seq, ack, data)); // destination rewritten
      },
      (flags, seq, ack, data) => {
        emit(tcp(DIR_INNER, rs.mac, rs.ip, c, rs.port, port, flags, seq, ack, data));
        emit(tcp(ROUTER, DIR_LAN, NAT_VIP, c, 80, port, flags, seq, ack, data)); // source rewritten back to the VIP
      });
  };

  const arpRound = () => {
    emit(arp(1, ROUTER, ROUTER_IP, ZERO, DR_VIP));
    emit(arp(2, DIR_LAN, DR_VIP, ROUTER, ROUTER_IP));
    if (rnd(4) === 0) emit(arp(2, DR_RS[1]!.mac, DR_VIP, ROUTER, ROUTER_IP)); // rs2 with arp_ignore=0
    emit(arp(1, ROUTER, ROUTER_IP, ZERO, NAT_VIP));
    emit(arp(2, DIR_LAN, NAT_VIP, ROUTER, ROUTER_IP));
    if (rnd(2) === 0) {
      const rs = DR_RS[rnd(2)]!;
      emit(arp(1, DIR_LAN, DIP, ZERO, rs.ip));
      emit(arp(2, rs.mac, rs.ip, DIR_LAN, DIP));
    }
    if (rnd(2) === 0) {
      const rs = NAT_RS[rnd(2)]!;
      emit(arp(1, rs.mac, rs.ip, ZERO, DIR_INNER_IP));
      emit(arp(2, DIR_INNER, DIR_INNER_IP, rs.mac, rs.ip));
    }
  };

  while (n < packets) {
    if (rnd(30) === 0) arpRound();
    if (rnd(2) === 0) drConnection();
    else natConnection();
  }
  w.flush();
  closeSync(fd);
}
