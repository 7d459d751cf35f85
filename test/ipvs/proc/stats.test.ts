import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseProcIpVsStats, parseProcIpVsStatsPerCpu, ratesBetween } from "@/server/ipvs/proc/stats";

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/cases/${name}`, import.meta.url), "utf8");

/** The totals row of `ipvsadm -Ln --stats` for the first service: decimal, as ipvsadm prints. */
function ipvsadmStatsRow(text: string): bigint[] {
  const line = text.split("\n").find((l) => /^(TCP|UDP|SCTP|FWM)\s/.test(l)) ?? "";
  return line.trim().split(/\s+/).slice(2).map(BigInt);
}

describe("parseProcIpVsStats (ip_vs_stats_show)", () => {
  it("decodes the real DR snapshot", () => {
    expect(parseProcIpVsStats(fixture("dr/dr-healthy.proc.ip_vs_stats.txt"))).toEqual({
      totals: { conns: 30n, inPackets: 165n, outPackets: 0n, inBytes: 10500n, outBytes: 0n },
      rates: { connsPerSecond: 1, inPacketsPerSecond: 8, outPacketsPerSecond: 0, inBytesPerSecond: 0x1f1, outBytesPerSecond: 0 },
    });
  });

  it("agrees with ipvsadm -Ln --stats of the same moment (one service: its totals are the director's)", () => {
    const t = parseProcIpVsStats(fixture("dr/dr-healthy.proc.ip_vs_stats.txt")).totals;
    expect([t.conns, t.inPackets, t.outPackets, t.inBytes, t.outBytes]).toEqual(
      ipvsadmStatsRow(fixture("dr/dr-healthy.ipvsadm-stats.txt")),
    );
  });

  it("keeps 64-bit counters exact", () => {
    const text = [
      "   Total Incoming Outgoing         Incoming         Outgoing",
      "   Conns  Packets  Packets            Bytes            Bytes",
      "FFFFFFFFFFFFFFFF        1        2 FFFFFFFFFFFFFFFE                3",
      "",
      " Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s",
      "       0        0        0                0                0",
      "",
    ].join("\n");
    const s = parseProcIpVsStats(text);
    expect(s.totals.conns).toBe(2n ** 64n - 1n);
    expect(s.totals.inBytes).toBe(2n ** 64n - 2n);
  });

  it("says which line is wrong", () => {
    expect(() => parseProcIpVsStats("   Conns\n  1E A5 0 zz 0\n")).toThrow(/ip_vs_stats line 2: expected 5 hexadecimal numbers/);
  });
});

describe("parseProcIpVsStatsPerCpu (ip_vs_stats_percpu_show)", () => {
  it("decodes the real DR snapshot, and the CPUs add up to the ~ row", () => {
    const s = parseProcIpVsStatsPerCpu(fixture("dr/dr-healthy.proc.ip_vs_stats_percpu.txt"));
    expect(s.cpus.map((c) => c.cpu)).toEqual([0, 1]);
    expect(s.cpus[0]?.counters).toEqual({ conns: 14n, inPackets: 80n, outPackets: 0n, inBytes: 0x1388n, outBytes: 0n });
    expect(s.totals).toEqual({ conns: 30n, inPackets: 165n, outPackets: 0n, inBytes: 10500n, outBytes: 0n });
    const sum = s.cpus.reduce((a, c) => a + c.counters.inBytes, 0n);
    expect(sum).toBe(s.totals.inBytes);
    expect(s.rates.inBytesPerSecond).toBe(0x175);
    // Same moment as ip_vs_stats: same totals.
    expect(s.totals).toEqual(parseProcIpVsStats(fixture("dr/dr-healthy.proc.ip_vs_stats.txt")).totals);
  });
});

describe("ratesBetween", () => {
  it("turns two readings into per-second rates, and a counter reset into null", () => {
    const a = { conns: 10n, inPackets: 100n, outPackets: 0n, inBytes: 1000n, outBytes: 50n };
    const b = { conns: 30n, inPackets: 160n, outPackets: 0n, inBytes: 5000n, outBytes: 10n };
    expect(ratesBetween(a, b, 2)).toEqual({ conns: 10, inPackets: 30, outPackets: 0, inBytes: 2000, outBytes: null });
    expect(() => ratesBetween(a, b, 0)).toThrow(RangeError);
  });
});
