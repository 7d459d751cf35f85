// The lab's small readers of kernel tool output: ipvsadm --stats (lab/site/ipvsadm.ts) and /proc/net/snmp
// and netstat counters (lab/site/netstat.ts).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseIpvsadmStats } from "@/lab/site/ipvsadm";
import { parseNetstat } from "@/lab/site/netstat";

// `ipvsadm -Ln --stats` after 30 requests to the DR case's site (shared/cases/dr/dr-healthy.ipvsadm-stats.txt).
const DR_HEALTHY_STATS = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  192.0.2.100:80                     30      165        0    10500        0
  -> 192.0.2.11:80                      10       56        0     3552        0
  -> 192.0.2.12:80                      20      109        0     6948        0
`;

describe("parseIpvsadmStats", () => {
  it("reads the service and per real server counters of the DR case", () => {
    expect(parseIpvsadmStats(DR_HEALTHY_STATS)).toEqual([
      {
        protocol: "TCP", service: "192.0.2.100:80", conns: 30, inPkts: 165, outPkts: 0, inBytes: 10500, outBytes: 0,
        dests: {
          "192.0.2.11:80": { conns: 10, inPkts: 56, outPkts: 0, inBytes: 3552, outBytes: 0 },
          "192.0.2.12:80": { conns: 20, inPkts: 109, outPkts: 0, inBytes: 6948, outBytes: 0 },
        },
      },
    ]);
  });

  it("reads several services and a service without real servers", () => {
    const text = `${DR_HEALTHY_STATS}TCP  192.0.2.100:443                     0        0        0        0        0\n`;
    const services = parseIpvsadmStats(text);
    expect(services.map((s) => [s.service, Object.keys(s.dests).length])).toEqual([["192.0.2.100:80", 2], ["192.0.2.100:443", 0]]);
  });

  it("rejects abbreviated numbers (output without --exact) instead of misreading them", () => {
    const text = DR_HEALTHY_STATS.replace("10500", "10K");
    expect(() => parseIpvsadmStats(text)).toThrow(/unexpected line/);
  });
});

describe("parseNetstat", () => {
  it("pairs header and value lines by prefix", () => {
    const text = "Ip: Forwarding DefaultTTL InAddrErrors\nIp: 2 64 7\nTcpExt: IPReversePathFilter TW\nTcpExt: 3 82\n";
    expect(parseNetstat(text)).toEqual({
      "Ip.Forwarding": 2, "Ip.DefaultTTL": 64, "Ip.InAddrErrors": 7, "TcpExt.IPReversePathFilter": 3, "TcpExt.TW": 82,
    });
  });

  it("reads this machine's own /proc/net/snmp and /proc/net/netstat", () => {
    const c = parseNetstat(readFileSync("/proc/net/snmp", "utf8") + readFileSync("/proc/net/netstat", "utf8"));
    expect(c["Ip.InAddrErrors"]).toBeTypeOf("number");
    expect(c["Ip.OutNoRoutes"]).toBeTypeOf("number");
    expect(c["TcpExt.IPReversePathFilter"]).toBeTypeOf("number");
  });

  it("rejects a value line that does not match its header", () => {
    expect(() => parseNetstat("Ip: A B\nIp: 1\n")).toThrow(/header\/value/);
    expect(() => parseNetstat("Ip: A\nTcp: 1\n")).toThrow(/header\/value/);
  });
});
