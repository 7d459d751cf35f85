// The sampler step over a recording of the real kernel at 1 Hz (test/fixtures/live/dr-traffic.json: a DR site
// with steady traffic, `ipvsadm -Z` partway, then a real server removed and added back; see its README).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

import { chartRows } from "@/app/services/_components/chart-data";
import { seriesKey } from "@/server/history/keys";
import { HistoryStore, METRICS } from "@/server/history/store";
import { snapshotFromJson, type SnapshotJson } from "@/server/ipvs/snapshot/json";
import type { DirectorSnapshot } from "@/server/ipvs/snapshot/model";
import { initialState, step, type LiveSample, type SamplerState } from "@/server/live/step";

import { countersIn, expectExactRates } from "./checks";

interface Recording {
  kernel: string;
  site: string;
  marks: { steadyUntilSeq: number; zeroedAfterSeq: number; removedAfterSeq: number; readdedAfterSeq: number };
  reads: { t: number; snapshot: SnapshotJson }[];
}

const recording = JSON.parse(readFileSync(new URL("../fixtures/live/dr-traffic.json", import.meta.url), "utf8")) as Recording;
const reads: { t: number; snapshot: DirectorSnapshot }[] = recording.reads.map((r) => ({ t: r.t, snapshot: snapshotFromJson(r.snapshot) }));
const { marks } = recording;

function replay(): LiveSample[] {
  let state: SamplerState = initialState();
  return reads.map((r) => {
    const out = step(state, r.snapshot, r.t);
    state = out.state;
    return out.sample;
  });
}

const samples = replay();
const svcKey = samples[0]!.services[0]!.key;

function seriesOf(s: LiveSample, key: string) {
  for (const svc of s.services) {
    if (svc.key === key) return svc;
    for (const d of svc.destinations) if (seriesKey(svc.key, d.key) === key) return d;
  }
  return undefined;
}

const counters = (r: (typeof reads)[number], key: string) => {
  const c = countersIn(r.snapshot, key);
  if (!c) throw new Error(`no ${key}`);
  return c;
};

describe(`step over ${recording.reads.length} recorded ticks (Linux ${recording.kernel})`, () => {
  it("recording: what the site did", () => {
    expect(recording.site).toMatch(/^DR/);
    expect(reads.length).toBeGreaterThan(marks.readdedAfterSeq);
  });

  it("steady traffic: per series, rate x interval adds up exactly to the 64-bit counters' increase", () => {
    const steady = samples.slice(0, marks.steadyUntilSeq);
    const keys = [svcKey, ...samples[0]!.services[0]!.destinations.map((d) => seriesKey(svcKey, d.key))];
    for (const key of keys) {
      for (const c of ["conns", "inPkts", "outPkts", "inBytes", "outBytes"] as const) {
        let sum = 0;
        for (let i = 1; i < steady.length; i++) sum += (seriesOf(steady[i]!, key)!.rate![c] * (steady[i]!.t - steady[i - 1]!.t)) / 1000;
        const increase = Number(counters(reads[steady.length - 1]!, key)[c] - counters(reads[0]!, key)[c]);
        expect(sum, `${key} ${c}`).toBeCloseTo(increase, 6);
      }
    }
    // DR: the director sees only inbound packets
    expect(seriesOf(steady.at(-1)!, svcKey)!.rate!.outPkts).toBe(0);
    expect(seriesOf(steady.at(-1)!, svcKey)!.rate!.inPkts).toBeGreaterThan(0);
  });

  it("rate2s is the rate over the last two intervals", () => {
    for (let i = 2; i < marks.steadyUntilSeq; i++) {
      const [a, b] = [seriesOf(samples[i - 1]!, svcKey)!, seriesOf(samples[i]!, svcKey)!];
      const da = samples[i - 1]!.t - samples[i - 2]!.t;
      const db = samples[i]!.t - samples[i - 1]!.t;
      expect(b.rate2s!.conns).toBeCloseTo((a.rate!.conns * da + b.rate!.conns * db) / (da + db), 9);
    }
  });

  it("never a negative rate or a spike: -Z and the removal are gaps, then rates resume", () => {
    // tick by tick: exact rates, gaps where counters went backwards (-Z) or a series is new
    expect(expectExactRates(samples, reads.map((r) => r.snapshot)), "ipvsadm -Z made counters go backwards").toBeGreaterThan(0);
    const afterZero = samples.slice(marks.zeroedAfterSeq).map((s) => seriesOf(s, svcKey)!);
    expect(afterZero.map((x) => x.gap ?? "rate")).toContain("reset");
    expect(afterZero.at(-1)!.rate).not.toBeNull();

    const keysAt = (s: LiveSample) => s.services[0]!.destinations.map((d) => d.key);
    const all = keysAt(samples[0]!);
    const during = samples.slice(marks.removedAfterSeq, marks.readdedAfterSeq);
    const gone = all.find((k) => during.some((s) => !keysAt(s).includes(k)))!;
    expect(gone).toBeDefined();
    const back = samples.slice(marks.readdedAfterSeq).map((s) => seriesOf(s, seriesKey(svcKey, gone)));
    const firstBack = back.find((x) => x !== undefined)!;
    expect(firstBack.rate).toBeNull();
    expect(["first", "reset"]).toContain(firstBack.gap);
    expect(back.at(-1)!.rate).not.toBeNull();
  });

  it("is pure: the same state and snapshot give the same result, and the state is not changed", () => {
    const a = step(initialState(), reads[0]!.snapshot, reads[0]!.t);
    const text = (s: SamplerState) => JSON.stringify(s, (_k, v: unknown) => (ArrayBuffer.isView(v) ? Array.from(v as Float64Array, String) : v));
    const before = text(a.state);
    const b1 = step(a.state, reads[1]!.snapshot, reads[1]!.t);
    const b2 = step(a.state, reads[1]!.snapshot, reads[1]!.t);
    expect(b1.sample.toJSON()).toEqual(b2.sample.toJSON());
    expect(text(a.state)).toBe(before);
    expect(before).toContain(reads[0]!.snapshot.services[0]!.destinations[0]!.address);
  });

  it("a sample's overview rows and one service's page are its services, made on demand", () => {
    for (const sample of samples) {
      const all = sample.services;
      expect(sample.serviceKeys()).toEqual(all.map((s) => s.key));
      expect(sample.summaries()).toEqual(all.map(({ destinations: _d, ...rest }) => rest));
      for (const svc of all) expect(sample.service(svc.key)).toEqual(svc);
      expect(sample.service("tcp/203.0.113.9:1")).toBeNull();
      // what JSON.stringify writes is what the sample reads as
      expect(JSON.parse(JSON.stringify(sample))).toEqual(JSON.parse(JSON.stringify(sample.toJSON())));
      expect(sample.toJSON().services).toBe(all);
    }
    // with real numbers in them: rates on most ticks
    expect(samples.filter((s) => s.summaries()[0]!.rate !== null).length).toBeGreaterThan(samples.length / 2);
  });

  it("recycling the state from two ticks back (as the sampler does) gives the same samples", () => {
    let state: SamplerState = initialState();
    let spare: SamplerState | undefined;
    const recycled = reads.map((r) => {
      const out = step(state, r.snapshot, r.t, {}, spare);
      spare = state;
      state = out.state;
      return out.sample;
    });
    expect(recycled.map((s) => s.toJSON())).toEqual(samples.map((s) => s.toJSON()));
    // and the arrays were taken over: the state holds the ones of the state two ticks before
    const a = step(initialState(), reads[0]!.snapshot, reads[0]!.t);
    const b = step(a.state, reads[1]!.snapshot, reads[1]!.t);
    const c = step(b.state, reads[2]!.snapshot, reads[2]!.t, {}, a.state);
    expect(c.state.lastInc).toBe(a.state.lastInc);
    expect(step(b.state, reads[2]!.snapshot, reads[2]!.t, {}, b.state).state.lastInc).not.toBe(b.state.lastInc);
  });

  it("a clock stepped back gives gaps, not negative intervals; a long pause gives gaps too", () => {
    const a = step(initialState(), reads[1]!.snapshot, reads[1]!.t);
    const back = step(a.state, reads[2]!.snapshot, reads[1]!.t - 500);
    expect(back.sample.services.flatMap((s) => [s.gap, ...s.destinations.map((d) => d.gap)]).every((g) => g === "clock")).toBe(true);
    const late = step(a.state, reads[2]!.snapshot, reads[1]!.t + 60_000);
    expect(late.sample.services[0]!.gap).toBe("stale");
    expect(late.sample.totals.rate).toBeNull();
  });

  it("the history store, fed the same ticks, stores the same 1-s rates; the charts' rows come from it", () => {
    const dir = mkdtempSync(join(tmpdir(), "lvsdash-live-step-"));
    try {
      const store = HistoryStore.open(dir);
      for (const r of reads) store.record(r.t, r.snapshot.services);
      const from = reads[0]!.t;
      const to = reads.at(-1)!.t;
      const q = store.query(svcKey, METRICS, from, to);
      expect(q.t).toHaveLength(samples.length);
      expect(q.avg.conns).toEqual(samples.map((s) => seriesOf(s, svcKey)!.rate?.conns ?? null));
      expect(q.avg.active).toEqual(samples.map((s) => seriesOf(s, svcKey)!.active));
      const rows = chartRows({ ...q, stepMs: 1000 });
      expect(rows.filter((r) => r.active !== null)).toHaveLength(samples.length);
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
