// The background connection-table refresher, with injected readers (chunks of recorded and generated tables,
// failures, slow reads) and an injected clock: one pass at a time, back-off after long passes, the last
// completed pass kept and queried without reading again.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

import { parseProcIpVsConn } from "@/server/ipvs/proc/conn";
import { summarizeConnections } from "@/server/ipvs/proc/conn-summary";
import { ConnTableRefresher, type ConnTableClock, type ConnTableReader } from "@/server/ipvs/conntable/refresher";
import { chunks, generateConnFile } from "../proc/conn-generator";

const RICH = readFileSync(new URL("../../fixtures/cases/rules-rich/proc.ip_vs_conn.txt", import.meta.url));

/** A clock the test moves by hand; timers fire only when the test says so. */
function manualClock() {
  let now = 1_000_000;
  const timers = new Map<number, { fn: () => void; due: number }>();
  let ids = 0;
  const clock: ConnTableClock = {
    now: () => now,
    setTimer(fn, ms) {
      timers.set(++ids, { fn, due: now + ms });
      return ids;
    },
    clearTimer(h) {
      timers.delete(h as number);
    },
  };
  return {
    clock,
    advance(ms: number) {
      now += ms;
    },
    pending: () => [...timers.values()].map((t) => t.due),
    /** Fires every timer due by now. */
    fire() {
      for (const [id, t] of [...timers]) {
        if (t.due <= now) {
          timers.delete(id);
          t.fn();
        }
      }
    },
  };
}

/** Yields the text in `size`-byte pieces through ONE reused buffer, as the kernel reader does. */
function reusedBufferReader(text: Buffer, size: number, calls: { n: number }): ConnTableReader {
  return function* () {
    calls.n++;
    const buf = Buffer.alloc(size);
    for (const c of chunks(text, size)) {
      c.copy(buf);
      yield buf.subarray(0, c.length);
      buf.fill(0x58); // scribble: a consumer that kept the view would now read garbage
    }
  };
}

describe("ConnTableRefresher: one pass", () => {
  it("summarizes chunks through a reused buffer exactly as a whole-text summary does", async () => {
    const text = generateConnFile({ lines: 20_000, seed: 7, ipv6Share: 0.1, peShare: 0.05 });
    const calls = { n: 0 };
    const t = new ConnTableRefresher({ read: reusedBufferReader(text, 4096, calls), clock: manualClock().clock });
    expect(t.status().summary).toBeNull();
    expect(t.query()).toBeNull();
    await t.refreshNow();
    const want = await summarizeConnections([text]);
    const s = t.status();
    expect(s.error).toBeNull();
    expect(s.summary).toEqual(want);
    expect(s.summary?.entries).toBe(20_000);
    expect(s.progress).toMatchObject({ bytes: text.length, rows: 20_000, inFlight: false });
    expect(calls.n).toBe(1);
  });

  it("keeps every field of recorded entries (IPv6, templates, persistence) for queries", async () => {
    const t = new ConnTableRefresher({ read: () => [RICH], clock: manualClock().clock });
    await t.refreshNow();
    const all = t.query({ filter: { templates: "include" }, limit: 1000 });
    expect(all?.entries).toEqual(parseProcIpVsConn(RICH).entries);
    expect(all?.complete).toBe(true);
    const v6 = t.query({ filter: { clientCidr: "2001:db8::/32" } });
    expect(v6?.entries.length).toBeGreaterThan(0);
    expect(v6?.entries.every((e) => e.family === 6)).toBe(true);
  });
});

describe("ConnTableRefresher: queries answer from the last pass, without reading", () => {
  const text = generateConnFile({ lines: 5_000, seed: 3 });
  const every = parseProcIpVsConn(text).entries;

  it("pages and filters like a fresh read would, and never calls the reader", async () => {
    const calls = { n: 0 };
    const t = new ConnTableRefresher({ read: reusedBufferReader(text, 4096, calls), clock: manualClock().clock });
    await t.refreshNow();
    const udp = every.filter((e) => !e.template && e.protocol === "UDP");
    const p1 = t.query({ filter: { protocol: "udp" }, offset: 10, limit: 25 });
    expect(p1?.matched).toBe(udp.length);
    expect(p1?.entries).toEqual(udp.slice(10, 35));
    const real = every[0]!;
    const byReal = t.query({ filter: { real: { address: real.destAddress, port: real.destPort }, templates: "include" }, limit: 10_000 });
    expect(byReal?.entries).toEqual(every.filter((e) => e.destAddress === real.destAddress && e.destPort === real.destPort));
    expect(calls.n).toBe(1);
  });

  it("says when the store held only part of the table, while the summary stays whole", async () => {
    const t = new ConnTableRefresher({ read: () => [text], retainEntries: 1_000, clock: manualClock().clock });
    await t.refreshNow();
    const page = t.query({ filter: { templates: "include" }, limit: 10_000 });
    expect(page).toMatchObject({ complete: false, retained: 1_000, dropped: 4_000, matched: 1_000 });
    expect(page?.entries).toEqual(every.slice(0, 1_000));
    expect(t.status().summary?.entries).toBe(5_000);
  });

  it("refuses out-of-range pages", async () => {
    const t = new ConnTableRefresher({ read: () => [text], clock: manualClock().clock });
    await t.refreshNow();
    expect(() => t.query({ offset: -1 })).toThrow(RangeError);
    expect(() => t.query({ limit: 10_001 })).toThrow(RangeError);
  });
});

describe("ConnTableRefresher: failures", () => {
  it("keeps the last good summary, reports the error with its code, and clears it on the next success", async () => {
    const good = generateConnFile({ lines: 300, seed: 1 });
    let fail = false;
    const m = manualClock();
    const t = new ConnTableRefresher({
      clock: m.clock,
      read: function* () {
        yield good.subarray(0, 5000);
        if (fail) throw Object.assign(new Error("ENOENT: no such file or directory, open '/proc/net/ip_vs_conn'"), { code: "ENOENT" });
        yield good.subarray(5000);
      },
    });
    await t.refreshNow();
    const first = t.status();
    m.advance(1000);
    fail = true;
    await t.refreshNow();
    const s = t.status();
    expect(s.error).toMatchObject({ code: "ENOENT", at: first.finishedAt! + 1000 });
    expect(s.summary).toBe(first.summary);
    expect(s.finishedAt).toBe(first.finishedAt);
    expect(s.ageMs).toBe(1000);
    expect(s.progress).toMatchObject({ bytes: 5000, inFlight: false });
    fail = false;
    await t.refreshNow();
    expect(t.status().error).toBeNull();
  });

  it("a malformed table is counted, not thrown", async () => {
    const t = new ConnTableRefresher({ read: () => [Buffer.from("Pro FromIP\nTCP nonsense line\n")], clock: manualClock().clock });
    await t.refreshNow();
    expect(t.status()).toMatchObject({ error: null, summary: { malformed: 1, entries: 0 } });
  });
});

describe("ConnTableRefresher: scheduling", () => {
  /** A reader whose pass the test releases by hand, taking `ms` of the manual clock. */
  function gatedReader(m: ReturnType<typeof manualClock>, text: Buffer) {
    const gates: (() => void)[] = [];
    let calls = 0;
    const read: ConnTableReader = async function* (signal) {
      calls++;
      yield text.subarray(0, 100);
      await new Promise<void>((resolve, reject) => {
        gates.push(resolve);
        signal.addEventListener("abort", () => reject(signal.reason as Error));
      });
      yield text.subarray(100);
    };
    return { read, release: () => gates.shift()?.(), calls: () => calls, m };
  }

  it("never runs two reads at once: a second refresh joins the pass in flight", async () => {
    const m = manualClock();
    const g = gatedReader(m, generateConnFile({ lines: 100, seed: 2 }));
    const t = new ConnTableRefresher({ read: g.read, clock: m.clock });
    const a = t.refreshNow();
    const b = t.refreshNow();
    expect(b).toBe(a);
    await flush();
    expect(t.status().progress).toMatchObject({ inFlight: true, bytes: 100 });
    g.release();
    await a;
    expect(g.calls()).toBe(1);
    expect(t.status().progress.inFlight).toBe(false);
  });

  it("waits at least k x the last pass's duration before the next, and at least the interval", async () => {
    const m = manualClock();
    const g = gatedReader(m, generateConnFile({ lines: 100, seed: 2 }));
    const t = new ConnTableRefresher({ read: g.read, clock: m.clock, intervalMs: 30_000, backoff: 4 });
    t.start();
    expect(m.pending()).toEqual([1_000_000]); // the first pass at once
    m.fire();
    await flush();
    m.advance(20_000); // a slow read: 20 s
    g.release();
    await flush();
    const s1 = t.status();
    expect(s1.durationMs).toBe(20_000);
    expect(s1.nextAt).toBe(s1.finishedAt! + 80_000); // 4 x 20 s > 30 s
    expect(m.pending()).toEqual([s1.nextAt]);

    m.advance(80_000);
    m.fire(); // the second pass, a fast one
    await flush();
    m.advance(1_000);
    g.release();
    await flush();
    const s2 = t.status();
    expect(g.calls()).toBe(2);
    expect(s2.nextAt).toBe(s2.finishedAt! + 30_000); // the interval floor
    await t.stop();
    expect(t.status().nextAt).toBeNull();
    expect(m.pending()).toEqual([]);
  });

  it("stop() aborts the pass in flight and schedules nothing after it", async () => {
    const m = manualClock();
    const g = gatedReader(m, generateConnFile({ lines: 100, seed: 2 }));
    const t = new ConnTableRefresher({ read: g.read, clock: m.clock });
    t.start();
    m.fire();
    await flush();
    expect(t.status().progress.inFlight).toBe(true);
    await t.stop();
    const s = t.status();
    expect(s.progress.inFlight).toBe(false);
    expect(s.summary).toBeNull();
    expect(s.error?.message).toMatch(/stopped/);
    expect(m.pending()).toEqual([]);
  });
});

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}
