// Every frame of every real capture we hold, read by our pcap reader and decoders, against the line tcpdump
// prints for it (`tcpdump -nn -e -tt -r`): same number of packets, same timestamps, and the same MACs,
// VLAN IDs, ARP fields, addresses, ports and TCP flags wherever tcpdump shows them.
// tcpdump runs here when installed; otherwise its recorded output (fixtures/tcpdump/*.txt) stands in.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { formatIPv4, formatMac } from "@/server/capture/decode/bytes";
import { L_ARP, L_TCP, L_TUNNEL, L_UDP, decodePacket, newDecodedPacket, transportIPv4 } from "@/server/capture/decode/packet";
import { formatTcpFlags } from "@/server/capture/decode/tcp";
import { readPcap } from "@/server/capture/pcapfile/reader";
import { CAPTURES, hasTool, root, run, tcpdumpLines } from "./tcpdump-text";

describe.each(Object.keys(CAPTURES) as (keyof typeof CAPTURES)[])("%s", (name) => {
  it.runIf(hasTool("tcpdump"))("the recorded tcpdump output is what tcpdump prints today", () => {
    const recorded = readFileSync(`${root}test/capture/fixtures/tcpdump/${name}.txt`, "utf8");
    expect(run("tcpdump", ["-nn", "-e", "-tt", "-r", CAPTURES[name]])).toBe(recorded);
  });

  it("decodes every packet to what tcpdump prints", async () => {
    const lines = tcpdumpLines(name);
    const p = newDecodedPacket();
    const checked = { time: 0, mac: 0, vlan: 0, arp: 0, ip: 0, flags: 0 };
    const { stats } = await readPcap(CAPTURES[name], (rec) => {
      const line = lines[rec.index];
      expect(line).toBeDefined();
      const at = `packet ${rec.index + 1}: ${line}`;
      expect(decodePacket(rec.buf, rec.offset, rec.offset + rec.caplen, p), at).toBe(0);

      const head = /^(\d+)\.(\d{6}) (\S+) > (\S+), /.exec(line!)!;
      expect([rec.tsSec, Math.floor(rec.tsNsec / 1000)], at).toEqual([Number(head[1]), Number(head[2])]);
      expect([formatMac(p.eth.src), formatMac(p.eth.dst)], at).toEqual([head[3], head[4]]);
      checked.time++;
      checked.mac++;

      const vlans = [...line!.matchAll(/vlan (\d+), p \d/g)].map((m) => Number(m[1]));
      expect(p.eth.vlanCount, at).toBe(vlans.length);
      if (vlans.length > 0) {
        expect([p.eth.vlanOuter, p.eth.vlanInner], at).toEqual([vlans[0], vlans[vlans.length - 1]]);
        checked.vlan++;
      }

      const who = /Request who-has (\S+) tell (\S+), length/.exec(line!);
      const isAt = /Reply (\S+) is-at (\S+), length/.exec(line!);
      if (who !== null || isAt !== null) {
        expect(p.layers & L_ARP, at).toBeTruthy();
        if (who !== null) expect([formatIPv4(p.arp.targetIp), formatIPv4(p.arp.senderIp)], at).toEqual([who[1], who[2]]);
        else expect([formatIPv4(p.arp.senderIp), formatMac(p.arp.senderMac)], at).toEqual([isAt![1], isAt![2]]);
        checked.arp++;
      }

      // "A.B.C.D.port > E.F.G.H.port:" is the transport's (inner, in a tunnel) addresses and ports.
      const flow = /(\d+\.\d+\.\d+\.\d+)\.(\d+) > (\d+\.\d+\.\d+\.\d+)\.(\d+): /.exec(line!);
      if (flow !== null) {
        const h = transportIPv4(p)!;
        const t = p.layers & L_TCP ? p.tcp : p.udp;
        expect(p.layers & (L_TCP | L_UDP), at).toBeTruthy();
        expect([formatIPv4(h.src), String(t.srcPort), formatIPv4(h.dst), String(t.dstPort)], at).toEqual(flow.slice(1));
        checked.ip++;
        const tunnel = /ethertype IPv4 \(0x0800\), length \d+: (\d+\.\d+\.\d+\.\d+) > (\d+\.\d+\.\d+\.\d+): \d/.exec(line!);
        if (tunnel !== null) {
          expect(p.layers & L_TUNNEL, at).toBeTruthy();
          expect([formatIPv4(p.ip4.src), formatIPv4(p.ip4.dst)], at).toEqual(tunnel.slice(1));
        }
      }
      const flags = /Flags \[([^\]]+)\]/.exec(line!);
      if (flags !== null) {
        expect(formatTcpFlags(p.tcp.flags), at).toBe(flags[1]);
        checked.flags++;
      }
    });
    expect(stats.records).toBe(lines.length);
    expect(stats).toMatchObject({ truncated: 0, garbled: 0, skippedBytes: 0 });
    expect(checked.mac).toBe(lines.length);
    if (name !== "lab-frames") expect(checked.ip + checked.arp).toBe(lines.length);
    else expect(checked.vlan).toBeGreaterThan(10);
  });
});
