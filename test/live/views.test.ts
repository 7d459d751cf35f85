// The sampler step's mapping and the router views over a table read from the real kernel
// (test/fixtures/netlink/table.json: every forwarding method and tunnel type, IPv6, UDP, SCTP, fwmark,
// persistence, a persistence engine, thresholds, sync daemons, timeouts, 20 UDP datagrams of traffic).
import { describe, expect, it } from "vitest";

import { initialState, step } from "@/server/live/step";
import { hostIpvsView, overviewView, serviceView } from "@/server/live/views";
import type { LiveEvent } from "@/server/live/sampler";

import { recordedSnapshot } from "../ipvs/snapshot/helpers";

const history = { recording: true, dir: "/var/lib/lvs-dashboard", error: null };
const describeError = (e: unknown) => ({ message: e instanceof Error ? e.message : String(e), agentCode: null });

describe("step: the snapshot as the pages see it", () => {
  it("maps every service of the recorded table: keys, mode, flags, real servers up/total, sums", async () => {
    const snap = await recordedSnapshot();
    const { sample } = step(initialState(), snap, snap.takenAt);
    const byKey = new Map(sample.services.map((s) => [s.key, s]));
    for (const k of ["tcp/192.0.2.1:80", "tcp/192.0.2.3:80", "udp/192.0.2.1:53", "sctp/192.0.2.1:5000", "tcp/[::ffff:192.0.2.1]:80", "fwm/42"]) expect(byKey.has(k), k).toBe(true);
    expect(byKey.size).toBe(snap.services.length);

    const web = byKey.get("tcp/192.0.2.1:80")!;
    expect(web).toMatchObject({
      protocol: "tcp",
      address: "192.0.2.1",
      port: 80,
      fwmark: null,
      scheduler: "wlc",
      flags: { persistent: true, onePacket: false },
      timeout: 300,
      netmask: "255.255.255.0",
      forward: ["masq", "route", "tunnel"],
      // the masq real server has weight 0: quiesced, not in rotation
      realServers: { up: 4, total: 5 },
      weight: 65535 + 100000 + 1 + 2,
    });
    expect(web.destinations.map((d) => d.key)).toEqual(["198.51.100.2:80", "198.51.100.3:80", "198.51.100.4:80", "198.51.100.5:80", "198.51.100.6:80"]);
    expect(web.destinations[0]).toMatchObject({ forward: "masq", weight: 0, upperThreshold: 100, lowerThreshold: 10 });
    expect(web.destinations[2]!.tunnel).toEqual({ type: "gue", port: 6080 });

    expect(byKey.get("tcp/192.0.2.3:80")).toMatchObject({ persistenceEngine: "sip", forward: ["local"] });
    expect(byKey.get("udp/192.0.2.1:53")).toMatchObject({ scheduler: "sh", flags: { onePacket: true, sched1: true, sched2: true, sched3: false } });
    expect(byKey.get("sctp/192.0.2.1:5000")).toMatchObject({ forward: [], realServers: { up: 0, total: 0 }, destinations: [] });
    const v6 = byKey.get("tcp/[::ffff:192.0.2.1]:80")!;
    expect(v6).toMatchObject({ family: "inet6", netmask: "/64", timeout: 60 });
    expect(v6.destinations[0]!.key).toBe("[::1]:8080");
    expect(byKey.get("fwm/42")).toMatchObject({ protocol: "fwm", address: null, port: null, fwmark: 42 });

    expect(sample.totals).toMatchObject({
      services: snap.services.length,
      realServers: snap.services.reduce((n, s) => n + s.destinations.length, 0),
      rate: null, // a first snapshot has no rates
    });
    expect(sample.info).toEqual({ versionCode: 0x010201, version: "1.2.1", connTableSize: 4096 });
    expect(sample.timeouts).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
    expect(sample.daemons?.map((d) => [d.state, d.mcastInterface, d.syncId])).toEqual([["master", "v0", 5], ["backup", "v1", 6]]);
    expect(sample.daemons?.every((d) => !("unknown" in d))).toBe(true);
    // plain JSON: no bigint anywhere (tRPC has no transformer)
    expect(() => JSON.stringify(sample)).not.toThrow();
  });

  it("the same table read again a second later: rates of 0, where the first had gaps", async () => {
    const snap = await recordedSnapshot();
    const a = step(initialState(), snap, 1000);
    const b = step(a.state, snap, 2000);
    const udp = b.sample.services.find((s) => s.protocol === "udp")!;
    expect(a.sample.services.find((s) => s.protocol === "udp")!.gap).toBe("first");
    expect(udp.rate).toEqual({ conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 });
    expect(udp.gap).toBeUndefined();
    expect(b.sample.totals.rate).toEqual({ conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 });
    expect(b.sample.seq).toBe(2);
  });
});

describe("views", () => {
  it("overview: every service without its real servers, totals, IPVS version", async () => {
    const snap = await recordedSnapshot();
    const { sample } = step(initialState(), snap, 5000);
    const v = overviewView({ kind: "sample", sample, history, tickMs: 12 }, describeError);
    if (v.kind !== "live") throw new Error(v.kind);
    expect(v.services).toHaveLength(snap.services.length);
    expect(v.services.every((s) => !("destinations" in s))).toBe(true);
    expect(v).toMatchObject({ t: 5000, seq: 1, tickMs: 12, ipvsVersion: "1.2.1", connTableSize: 4096, history });
  });

  it("service: one service with its real servers and the timeouts; null when it is not in the table", async () => {
    const snap = await recordedSnapshot();
    const e: LiveEvent = { kind: "sample", sample: step(initialState(), snap, 5000).sample, history, tickMs: 3 };
    const v = serviceView(e, "udp/192.0.2.1:53", describeError);
    expect(v).toMatchObject({ kind: "live", service: { key: "udp/192.0.2.1:53", destinations: [{ key: "198.51.100.2:53" }] }, timeouts: { tcp: 900, tcpFin: 120, udp: 300 } });
    expect(serviceView(e, "tcp/203.0.113.9:443", describeError)).toMatchObject({ kind: "live", service: null });
  });

  it("a failed read is a 'down' view with the adapter's message; no IPVS is 'unavailable'", () => {
    const err = new Error("connect ENOENT /run/lvs-dashboard/agent.sock");
    const down = overviewView({ kind: "error", t: 7, error: err, history }, () => ({ message: "the agent is not running", agentCode: "unavailable" }));
    expect(down).toEqual({ kind: "down", t: 7, history, error: { message: "the agent is not running", agentCode: "unavailable" } });
    expect(serviceView({ kind: "unavailable", t: 8, reason: "ip_vs is not loaded", history }, "fwm/1", describeError)).toEqual({
      kind: "unavailable",
      t: 8,
      history,
      reason: "ip_vs is not loaded",
    });
  });

  it("host: version, table size, timeouts, daemons and counts, without services or bigint", async () => {
    const snap = await recordedSnapshot();
    const v = hostIpvsView({ available: true, snapshot: snap });
    expect(v).toMatchObject({
      available: true,
      version: "1.2.1",
      versionCode: 0x010201,
      connTableSize: 4096,
      timeouts: { tcp: 900, tcpFin: 120, udp: 300 },
      services: snap.services.length,
      realServers: snap.services.reduce((n, s) => n + s.destinations.length, 0),
    });
    if (!v.available) throw new Error("unavailable");
    expect(v.daemons.map((d) => d.state)).toEqual(["master", "backup"]);
    expect(() => JSON.stringify(v)).not.toThrow();
    expect(hostIpvsView({ available: false, reason: "no IPVS" })).toEqual({ available: false, reason: "no IPVS" });
  });
});
