import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConnFilterError } from "@/server/ipvs/proc/conn-filter";
import { readConnPage, summarizeConnections } from "@/server/ipvs/proc/conn-summary";
import { parseProcIpVs } from "@/server/ipvs/proc/services";
import { chunks, generateConnFile, naiveSummarize } from "./conn-generator";

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/cases/${name}`, import.meta.url));

describe("summarizeConnections", { timeout: 60_000 }, () => {
  it("on the real DR snapshot: per real server counts equal ip_vs's InActConn of the same moment", async () => {
    const s = await summarizeConnections(chunks(fixture("dr/dr-healthy.proc.ip_vs_conn.txt"), 100));
    expect(s).toMatchObject({ entries: 30, matched: 30, templates: 0, malformed: 0 });
    expect(s.byState).toEqual([{ key: "FIN_WAIT", count: 30 }]);
    expect(s.byVirtual).toEqual([{ protocol: "TCP", address: "192.0.2.100", port: 80, count: 30 }]);
    const table = parseProcIpVs(fixture("dr/dr-healthy.proc.ip_vs.txt").toString());
    const fromProc = table.services[0]?.realServers.map((r) => ({ address: r.address, port: r.port, count: r.inactiveConns + r.activeConns }));
    expect(s.byReal).toEqual(fromProc);
    expect(s.topClients).toEqual({ exact: true, tracked: 1, items: [{ key: "203.0.113.50", count: 30, error: 0 }] });
    expect(s.topClientPrefixes.items).toEqual([{ key: "203.0.113.0/24", count: 30, error: 0 }]);
  });

  it("agrees with the naive split/regex reader on a generated table (IPv6, templates, PE data)", async () => {
    const file = generateConnFile({ lines: 20_000, seed: 7, clients: 3000, ipv6Share: 0.2, templateShare: 0.05, peShare: 0.2 });
    const naive = naiveSummarize(file);
    const s = await summarizeConnections(chunks(file, 4096), "ip_vs_conn", { topN: 5, sketchCapacity: 10_000 });
    expect(s.malformed).toBe(0);
    expect(s.entries).toBe(naive.entries);
    expect(s.templates).toBe(naive.templates);
    expect(s.matched).toBe(naive.entries - naive.templates);
    expect(Object.fromEntries(s.byState.map((x) => [x.key, x.count]))).toEqual(Object.fromEntries(naive.byState));
    expect(s.byVirtual.reduce((a, v) => a + v.count, 0)).toBe(s.matched);
    expect(s.byVirtual).toHaveLength(naive.byVirtual.size);
    expect(s.byReal).toHaveLength(naive.byReal.size);
    // Exact: every client fits in the sketch.
    expect(s.topClients.exact).toBe(true);
    expect(s.topClients.tracked).toBe(naive.clients.size);
    const naiveTop = [...naive.clients.values()].sort((a, b) => b - a).slice(0, 5);
    expect(s.topClients.items.map((i) => i.count)).toEqual(naiveTop);
    expect(s.topClients.items.every((i) => i.error === 0)).toBe(true);
  });

  it("with more clients than counters: bounded, flagged inexact, heavy hitters kept with true bounds", async () => {
    const file = generateConnFile({ lines: 30_000, seed: 11, clients: 20_000, ipv6Share: 0 });
    const naive = naiveSummarize(file);
    const capacity = 500;
    const s = await summarizeConnections([file], "ip_vs_conn", { topN: 10, sketchCapacity: capacity });
    expect(s.topClients.exact).toBe(false);
    expect(s.topClients.tracked).toBeLessThanOrEqual(capacity);
    const truth = new Map([...naive.clients].map(([hex, n]) => [hexToDotted(hex), n]));
    const matched = s.matched;
    for (const item of s.topClients.items) {
      const real = truth.get(item.key) ?? 0;
      expect(real).toBeLessThanOrEqual(item.count);
      expect(real).toBeGreaterThanOrEqual(item.count - item.error);
    }
    // Every client above matched/capacity entries must be reported among the tracked ones; the top 3 here.
    const heavy = [...truth].filter(([, n]) => n > matched / capacity).sort((a, b) => b[1] - a[1]).slice(0, 3);
    expect(heavy.length).toBeGreaterThan(0);
    for (const [addr] of heavy) expect(s.topClients.items.map((i) => i.key)).toContain(addr);
  });

  it("filters by virtual service, real server, client range, state and templates", async () => {
    const text = Buffer.from(
      [
        "TCP CB007132 83AA C0000264 0050 C000020C 0050 ESTABLISHED     107",
        "TCP CB007132 83AB C0000264 0050 C000020B 0050 FIN_WAIT        107",
        "TCP C6336401 83AC C0000264 01BB C000020B 01BB ESTABLISHED     107",
        "UDP 2001:0db8:000c:0000:0000:0000:0000:0032 A1B2 2001:0db8:0001:0000:0000:0000:0000:0064 0035 2001:0db8:0002:0000:0000:0000:0000:000b 0035 UDP             299",
        "UDP 2001:0db8:000d:0000:0000:0000:0000:0032 A1B2 2001:0db8:0001:0000:0000:0000:0000:0064 0035 2001:0db8:0002:0000:0000:0000:0000:000b 0035 UDP             299",
        "TCP CB007132 0000 C0000264 0050 C000020C 0050 ASSURED         300",
        "",
      ].join("\n"),
    );
    const count = async (filter: object) => (await summarizeConnections([text], "ip_vs_conn", { filter })).matched;
    expect(await count({})).toBe(5);
    expect(await count({ virtual: { address: "192.0.2.100", port: 80 } })).toBe(2);
    expect(await count({ virtual: { address: "192.0.2.100" } })).toBe(3);
    expect(await count({ virtual: { address: "2001:db8:1::64", port: 53 } })).toBe(2);
    expect(await count({ real: { address: "192.0.2.11" } })).toBe(2);
    expect(await count({ real: { address: "2001:db8:2::b", port: 53 } })).toBe(2);
    expect(await count({ clientCidr: "203.0.113.0/24" })).toBe(2);
    expect(await count({ clientCidr: "198.51.100.1" })).toBe(1);
    expect(await count({ clientCidr: "0.0.0.0/0" })).toBe(3);
    expect(await count({ clientCidr: "2001:db8:c::/48" })).toBe(1);
    expect(await count({ clientCidr: "2001:db8::/32" })).toBe(2);
    expect(await count({ states: ["established"] })).toBe(2);
    expect(await count({ protocol: "udp" })).toBe(2);
    expect(await count({ templates: "only" })).toBe(1);
    expect(await count({ templates: "include", clientCidr: "203.0.113.50/32" })).toBe(3);
    await expect(count({ clientCidr: "203.0.113.0/33" })).rejects.toThrow(ConnFilterError);
    await expect(count({ real: { address: "rs1" } })).rejects.toThrow(/real server: "rs1" is not an IPv4 or IPv6 address/);
    const s = await summarizeConnections([text]);
    expect(s.topClientPrefixes.items.map((i) => i.key).sort()).toEqual(["198.51.100.0/24", "2001:db8:c::/64", "2001:db8:d::/64", "203.0.113.0/24"]);
  });
});

describe("readConnPage", () => {
  it("returns one window of the matching entries and counts them all", async () => {
    const file = generateConnFile({ lines: 5000, seed: 5, ipv6Share: 0.1 });
    const all = await readConnPage(chunks(file, 4096), "ip_vs_conn", { offset: 0, limit: 1_000_000, filter: { states: ["ESTABLISHED"] } });
    expect(all.entries.length).toBe(all.matched);
    expect(all.matched).toBeGreaterThan(100);
    const page = await readConnPage(chunks(file, 4096), "ip_vs_conn", { offset: 40, limit: 25, filter: { states: ["ESTABLISHED"] } });
    expect(page.matched).toBe(all.matched);
    expect(page.entries).toEqual(all.entries.slice(40, 65));
    const past = await readConnPage([file], "ip_vs_conn", { offset: all.matched, limit: 10, filter: { states: ["ESTABLISHED"] } });
    expect(past.entries).toEqual([]);
    await expect(readConnPage([file], "ip_vs_conn", { offset: -1 })).rejects.toThrow(RangeError);
  });
});

function hexToDotted(hex: string): string {
  const n = Number.parseInt(hex, 16);
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}
