// The sampler loop around the pure step: publishing, failures of the read and of the history store, and
// subscribers that never queue. The snapshots are the real kernel's (test/fixtures/netlink/table.json).
import { describe, expect, it, vi } from "vitest";

import { LiveSampler, type HistorySink, type LiveEvent, type SourceResult } from "@/server/live/sampler";
import type { DirectorSnapshot } from "@/server/ipvs/snapshot/model";

import { recordedSnapshot } from "../ipvs/snapshot/helpers";

/** The recorded table with every counter raised by `n` (traffic between two reads). */
function later(snap: DirectorSnapshot, n: bigint): DirectorSnapshot {
  const bump = <T extends { stats?: DirectorSnapshot["services"][number]["stats"] }>(x: T): T =>
    x.stats ? { ...x, stats: { ...x.stats, conns: x.stats.conns + n, inPkts: x.stats.inPkts + 3n * n, inBytes: x.stats.inBytes + 100n * n } } : x;
  return { ...snap, services: snap.services.map((s) => ({ ...bump(s), destinations: s.destinations.map(bump) })) };
}

function clock(start = 1_700_000_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe("LiveSampler", () => {
  it("reads, computes rates against the previous tick, records the tick, and publishes it", async () => {
    const snap = await recordedSnapshot();
    const reads = [snap, later(snap, 5n)];
    const recorded: number[] = [];
    const history: HistorySink = { record: (t) => void recorded.push(t) };
    const c = clock();
    const sampler = new LiveSampler({ read: async () => ({ available: true, snapshot: reads.shift()! }), history, now: c.now });
    const events: LiveEvent[] = [];
    sampler.subscribe((e) => events.push(e));
    await sampler.tick();
    c.advance(1000);
    await sampler.tick();
    expect(recorded).toEqual([1_700_000_000_000, 1_700_000_001_000]);
    expect(events.map((e) => e.kind)).toEqual(["sample", "sample"]);
    const [a, b] = events.map((e) => (e.kind === "sample" ? e.sample : null));
    expect(a!.seq).toBe(1);
    expect(a!.services.every((s) => s.rate === null)).toBe(true);
    const udp = b!.services.find((s) => s.protocol === "udp")!;
    expect(udp.rate).toEqual({ conns: 5, inPkts: 15, outPkts: 0, inBytes: 500, outBytes: 0 });
    expect(sampler.latest()).toBe(events[1]);
    expect(events[1]!.history).toEqual({ recording: true, dir: null, error: null });
  });

  it("publishes a failed read as an error event and keeps its state: rates resume on the next good read", async () => {
    const snap = await recordedSnapshot();
    const agentDown = Object.assign(new Error("the agent is not running"), { code: "unavailable" });
    const script: (() => SourceResult)[] = [
      () => ({ available: true, snapshot: snap }),
      () => {
        throw agentDown;
      },
      () => ({ available: false, reason: "ip_vs is not loaded" }),
      () => ({ available: true, snapshot: later(snap, 4n) }),
    ];
    const c = clock();
    const sampler = new LiveSampler({ read: async () => script.shift()!(), history: null, historyError: "no data directory", now: c.now });
    const events: LiveEvent[] = [];
    sampler.subscribe((e) => events.push(e));
    for (let i = 0; i < 4; i++) {
      await sampler.tick();
      c.advance(1000);
    }
    expect(events.map((e) => e.kind)).toEqual(["sample", "error", "unavailable", "sample"]);
    expect(events[1]).toMatchObject({ kind: "error", error: agentDown });
    expect(events[2]).toMatchObject({ kind: "unavailable", reason: "ip_vs is not loaded" });
    const last = events[3]!.kind === "sample" ? events[3]!.sample : null;
    // 4 connections over the 3 s since the last good read
    expect(last!.services.find((s) => s.protocol === "udp")!.rate!.conns).toBeCloseTo(4 / 3, 12);
    expect(events[3]!.history).toEqual({ recording: false, dir: null, error: "no data directory" });
  });

  it("keeps publishing when the history store fails, and says so until a write succeeds again", async () => {
    const snap = await recordedSnapshot();
    let failing = true;
    const history: HistorySink = {
      record: () => {
        if (failing) throw new Error("SQLITE_FULL: database or disk is full");
      },
    };
    const logged: string[] = [];
    const c = clock();
    const sampler = new LiveSampler({ read: async () => ({ available: true, snapshot: snap }), history, historyDir: "/var/lib/lvs-dashboard", now: c.now, log: (m) => logged.push(m) });
    await sampler.tick();
    c.advance(1000);
    await sampler.tick();
    expect(sampler.latest()).toMatchObject({
      kind: "sample",
      history: { recording: false, dir: "/var/lib/lvs-dashboard", error: "the last tick could not be written: SQLITE_FULL: database or disk is full" },
    });
    expect(logged).toHaveLength(1); // logged once, not every second
    failing = false;
    c.advance(1000);
    await sampler.tick();
    expect(sampler.latest()?.history).toEqual({ recording: true, dir: "/var/lib/lvs-dashboard", error: null });
  });

  it("never runs two ticks at once: a tick asked for during a slow read joins it", async () => {
    const snap = await recordedSnapshot();
    let reads = 0;
    let release!: () => void;
    const sampler = new LiveSampler({
      read: () => {
        reads++;
        return new Promise<SourceResult>((resolve) => {
          release = () => resolve({ available: true, snapshot: snap });
        });
      },
      history: null,
    });
    const a = sampler.tick();
    const b = sampler.tick();
    release();
    await Promise.all([a, b]);
    expect(reads).toBe(1);
  });

  it("gives a subscriber the latest event first, then only the newest when it is slower than the ticks", async () => {
    const snap = await recordedSnapshot();
    const c = clock();
    const sampler = new LiveSampler({ read: async () => ({ available: true, snapshot: snap }), history: null, now: c.now });
    await sampler.tick();
    const ac = new AbortController();
    const it = sampler.events(ac.signal);
    const first = await it.next();
    expect(first.value).toMatchObject({ kind: "sample", sample: { seq: 1 } });
    // three ticks while the consumer is busy: it gets the third only
    for (let i = 0; i < 3; i++) {
      c.advance(1000);
      await sampler.tick();
    }
    const next = await it.next();
    expect(next.value).toMatchObject({ kind: "sample", sample: { seq: 4 } });
    // waiting for the next one, then unsubscribing by abort
    const pending = it.next();
    c.advance(1000);
    await sampler.tick();
    expect((await pending).value).toMatchObject({ sample: { seq: 5 } });
    const after = it.next();
    ac.abort();
    expect((await after).done).toBe(true);
  });

  it("ticks on the interval's boundaries of its clock, also when a timer fires early by that clock", async () => {
    vi.useFakeTimers({ now: 1_700_000_000_500 });
    try {
      let skew = 0;
      const times: number[] = [];
      const sampler = new LiveSampler({ read: async () => ({ available: true, snapshot: { services: [] } }), history: null, now: () => Date.now() + skew });
      sampler.subscribe((e) => e.kind === "sample" && times.push(e.sample.t));
      sampler.start();
      skew = -3; // from now on the wall clock reads 3 ms less than the timers' clock: each timer fires at xx.997
      await vi.advanceTimersByTimeAsync(3_100);
      await sampler.stop();
      expect(times.length).toBeGreaterThanOrEqual(2);
      expect(times.map((t) => t % 1000)).toEqual(times.map(() => 0));
    } finally {
      vi.useRealTimers();
    }
  });
});
