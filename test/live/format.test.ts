// The pages' pure helpers: how numbers read, sparkline points, chart rows.
import { describe, expect, it } from "vitest";

import {
  formatDateTime,
  appendSparkPoints,
  flagLabels,
  formatBits,
  formatPps,
  formatRate,
  formatSeconds,
  modeLabel,
  seedSparkPoints,
  serviceAddress,
  servicePath,
  sortServices,
} from "@/app/_components/format";
import { chartRows } from "@/app/services/_components/chart-data";
import { initialState, step } from "@/server/live/step";
import { overviewView } from "@/server/live/views";

import { recordedSnapshot } from "../ipvs/snapshot/helpers";

const history = { recording: true, dir: null, error: null };
const describeError = () => ({ message: "", agentCode: null });

describe("numbers as an operator reads them", () => {
  it("rates, bits, packets, durations", () => {
    expect([formatRate(null), formatRate(0), formatRate(0.44), formatRate(12.5), formatRate(1234.4)]).toEqual(["–", "0", "0.4", "13", "1,234"]);
    // bytes/s as bits/s
    expect([formatBits(undefined), formatBits(0), formatBits(64), formatBits(1250), formatBits(12_500_000)]).toEqual(["–", "0 bit/s", "512 bit/s", "10.0 kbit/s", "100 Mbit/s"]);
    expect([formatPps(3.25), formatPps(12_345)]).toEqual(["3.3", "12.3 k"]);
    expect([formatSeconds(45), formatSeconds(120), formatSeconds(900), formatSeconds(5400), formatSeconds(7200), formatSeconds(90)]).toEqual(["45 s", "2 min", "15 min", "1 h 30 min", "2 h", "90 s"]);
  });

  it("services of the recorded table: addresses, mode, flags, order, page links", async () => {
    const snap = await recordedSnapshot();
    const v = overviewView({ kind: "sample", sample: step(initialState(), snap, 1).sample, history, tickMs: 1 }, describeError);
    if (v.kind !== "live") throw new Error(v.kind);
    const by = (key: string) => v.services.find((s) => s.key === key)!;
    expect(serviceAddress(by("tcp/[::ffff:192.0.2.1]:80"))).toBe("[::ffff:192.0.2.1]:80");
    expect(serviceAddress(by("fwm/42"))).toBe("fwmark 42");
    expect(modeLabel(by("tcp/192.0.2.1:80").forward)).toBe("mixed: NAT, Direct routing, Tunnel");
    expect(modeLabel(by("udp/192.0.2.1:53").forward)).toBe("Direct routing");
    expect(modeLabel(by("sctp/192.0.2.1:5000").forward)).toBe("—");
    expect(flagLabels(by("tcp/192.0.2.1:80"))).toEqual(["persistent 5 min per 255.255.255.0"]);
    expect(flagLabels(by("udp/192.0.2.1:53"))).toEqual(["one-packet scheduling", "fallback (sched-flag 1)", "port in hash (sched-flag 2)"]);
    expect(flagLabels(by("tcp/192.0.2.3:80"))).toEqual(["persistence engine sip"]);
    expect(flagLabels(by("tcp/[::ffff:192.0.2.1]:80"))).toEqual(["persistent 1 min per /64"]);
    const order = sortServices(v.services).map((s) => s.key);
    expect(order.slice(-2)).toEqual(["fwm/42", "fwm6/43"]);
    expect(order.indexOf("tcp/192.0.2.1:80")).toBeLessThan(order.indexOf("tcp/192.0.2.3:80"));
    expect(servicePath("tcp/[2001:db8::1]:80")).toBe("/services/tcp%2F%5B2001%3Adb8%3A%3A1%5D%3A80");
    expect(decodeURIComponent(servicePath("tcp/192.0.2.100:80").slice("/services/".length))).toBe("tcp/192.0.2.100:80");
  });
});

describe("sparklines", () => {
  const view = (t: number, rates: Record<string, number | null>) => ({
    t,
    services: Object.entries(rates).map(([key, conns]) => ({ key, rate2s: conns === null ? null : { conns, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 } })),
  });

  it("append a point every 5 s, keep 5 minutes, drop services that left, keep untouched arrays", () => {
    let d = appendSparkPoints({}, view(1000, { a: 1, b: null }) as never);
    expect(d).toEqual({ a: [{ t: 1000, v: 1 }], b: [{ t: 1000, v: null }] });
    const a1 = d.a;
    d = appendSparkPoints(d, view(2000, { a: 1 }) as never); // within 5 s of the last point: none added
    expect(d.a).toBe(a1);
    expect(d.b).toBeUndefined();
    d = appendSparkPoints(d, view(6000, { a: 2 }) as never);
    expect(d.a).toEqual([{ t: 1000, v: 1 }, { t: 6000, v: 2 }]);
    d = appendSparkPoints(d, view(303_000, { a: 3 }) as never);
    expect(d.a).toEqual([{ t: 6000, v: 2 }, { t: 303_000, v: 3 }]);
  });

  it("history goes under the live points, up to the first of them", () => {
    const live = { a: [{ t: 20_000, v: 5 }] };
    const seeded = seedSparkPoints(live, { a: { t: [0, 5000, 10_000, 15_000, 20_000], conns: [1, null, 2, 3, 4] }, c: { t: [0], conns: [7] } });
    expect(seeded.a).toEqual([{ t: 0, v: 1 }, { t: 5000, v: null }, { t: 10_000, v: 2 }, { t: 15_000, v: 3 }, { t: 20_000, v: 5 }]);
    expect(seeded.c).toEqual([{ t: 0, v: 7 }]);
  });
});

describe("chart rows", () => {
  it("gauges and rates per step, bytes as bits, a null row where a step is missing", () => {
    const rows = chartRows({
      stepMs: 2000,
      t: [0, 2000, 8000],
      avg: { active: [1, 2, 3], inactive: [10, 11, 12], conns: [null, 0.5, 1], inBytes: [100, 200, 300], outBytes: [0, 0, 0] },
    } as never);
    expect(rows.map((r) => r.t)).toEqual([0, 2000, 4000, 8000]);
    expect(rows[1]).toMatchObject({ active: 2, inactive: 11, conns: 0.5, inBits: 1600, outBits: 0, persistent: null });
    expect(rows[2]).toMatchObject({ active: null, conns: null, inBits: null });
    expect(rows[0]!.conns).toBeNull();
  });
});

describe("formatDateTime", () => {
  it("writes the local date and time, zero-padded, with seconds on request", () => {
    const t = new Date(2026, 0, 5, 7, 3, 9).getTime();
    expect(formatDateTime(t)).toBe("2026-01-05 07:03");
    expect(formatDateTime(t, { seconds: true })).toBe("2026-01-05 07:03:09");
  });
});
