import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ProcFormatError, decodeProcNetmask, parseProcIpVs } from "@/server/ipvs/proc/services";

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/cases/${name}`, import.meta.url), "utf8");

describe("parseProcIpVs (ip_vs_info_seq_show)", () => {
  it("decodes the real DR snapshot", () => {
    expect(parseProcIpVs(fixture("dr/dr-healthy.proc.ip_vs.txt"))).toEqual({
      version: "1.2.1",
      connTableSize: 4096,
      services: [
        {
          protocol: "TCP",
          family: 4,
          address: "192.0.2.100",
          port: 80,
          scheduler: "wrr",
          flags: "",
          onePacket: false,
          realServers: [
            { address: "192.0.2.12", family: 4, port: 80, forward: "Route", weight: 2, activeConns: 0, inactiveConns: 20 },
            { address: "192.0.2.11", family: 4, port: 80, forward: "Route", weight: 1, activeConns: 0, inactiveConns: 10 },
          ],
        },
      ],
    });
  });

  it("agrees with ipvsadm -Ln taken at the same moment", () => {
    const table = parseProcIpVs(fixture("dr/dr-healthy.proc.ip_vs.txt"));
    const ln = fixture("dr/dr-healthy.ipvsadm-Ln.txt").split("\n");
    expect(ln[0]).toBe(`IP Virtual Server version ${table.version} (size=${table.connTableSize})`);
    const rows = ln
      .filter((l) => l.startsWith("  -> ") && !l.includes("RemoteAddress"))
      .map((l) => l.trim().split(/\s+/).slice(1).join(" "))
      .sort();
    const ours = table.services
      .flatMap((s) => s.realServers)
      .map((r) => `${r.address}:${r.port} ${r.forward} ${r.weight} ${r.activeConns} ${r.inactiveConns}`)
      .sort();
    expect(ours).toEqual(rows);
    expect(ln).toContain(`TCP  ${table.services[0]?.address}:${table.services[0]?.port} ${table.services[0]?.scheduler}`);
  });

  it("reads IPv6, fwmark, persistence and one-packet services", () => {
    const text = [
      "IP Virtual Server version 1.2.1 (size=4096)",
      "Prot LocalAddress:Port Scheduler Flags",
      "  -> RemoteAddress:Port Forward Weight ActiveConn InActConn",
      "UDP  C0000264:0035 rr ops persistent 75000 FFFFFF00",
      "  -> C000020B:0035      Masq    0      0          3         ",
      "TCP  [2001:0db8:0000:0000:0000:0000:0000:0064]:01BB sh persistent 15000 40000000",
      "  -> [2001:0db8:0000:0000:0000:0000:0000:000b]:01BB      Tunnel  2147483647 1          0         ",
      "FWM  00000007 mh ops ",
      "  -> C633640A:0000      Local   1      0          0         ",
      "SCTP  C0000264:0B59 fo ",
      "",
    ].join("\n");
    const t = parseProcIpVs(text);
    expect(t.services.map((s) => [s.protocol, s.address, s.port, s.fwmark, s.scheduler, s.flags, s.family])).toEqual([
      ["UDP", "192.0.2.100", 53, undefined, "rr", "persistent 300 mask 255.255.255.0 ops", 4],
      ["TCP", "2001:db8::64", 443, undefined, "sh", "persistent 60 mask 64", 6],
      ["FWM", "", 0, 7, "mh", "ops", 4],
      ["SCTP", "192.0.2.100", 2905, undefined, "fo", "", 4],
    ]);
    expect(t.services[1]?.realServers[0]).toEqual({
      address: "2001:db8::b",
      family: 6,
      port: 443,
      forward: "Tunnel",
      weight: 2147483647,
      activeConns: 1,
      inactiveConns: 0,
    });
    expect(t.services[0]?.persistent).toEqual({ timeout: 300, netmask: "255.255.255.0" });
    expect(parseProcIpVs(text, { hz: 1000 }).services[0]?.persistent?.timeout).toBe(75);
    expect(t.services[2]?.realServers[0]?.address).toBe("198.51.100.10");
  });

  it("decodes persistence netmasks per family", () => {
    expect(decodeProcNetmask("FFFFFFFF", 4)).toBe("255.255.255.255");
    expect(decodeProcNetmask("80000000", 6)).toBe("128");
    expect(decodeProcNetmask("40000000", 6)).toBe("64");
    expect(decodeProcNetmask("xyz", 4)).toBeNull();
  });

  it("names the line it cannot read", () => {
    const bad = "IP Virtual Server version 1.2.1 (size=4096)\nTCP  C0000264:0050 wrr \n  -> C000020B:0050      Bounce  1 0 0\n";
    expect(() => parseProcIpVs(bad)).toThrow(ProcFormatError);
    expect(() => parseProcIpVs(bad)).toThrow(/line 3: unknown forwarding method "Bounce"/);
    expect(() => parseProcIpVs("hello\n")).toThrow(/line 1: expected the version line/);
    expect(() => parseProcIpVs("IP Virtual Server version 1.2.1 (size=4096)\n  -> C000020B:0050 Route 1 0 0\n")).toThrow(
      /line 2: real server before any service/,
    );
  });
});
