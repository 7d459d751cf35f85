// The `ipvs.counters` op (server/live/counters.ts): u64 counters as [hi, lo] u32 pairs at the edges, and the
// sampler fed through the op over the real wire encoding (encodeLine/decodeLine) against the old path
// (ipvs.snapshot) on the recording of the real kernel (test/fixtures/live/dr-traffic.json): identical samples,
// identical stored history, the table sent only when it changed.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

import { createAgentClient } from "@/server/agent/client";
import { createOpDispatcher } from "@/server/agent/dispatcher";
import { AGENT_OPS, decodeLine, encodeLine, type AgentExchange, type AgentReply } from "@/server/agent/protocol";
import { HistoryStore, type TickValues } from "@/server/history/store";
import { snapshotFromJson, type SnapshotJson } from "@/server/ipvs/snapshot/json";
import type { DirectorSnapshot } from "@/server/ipvs/snapshot/model";
import { createCountersSource, encodeCountersFrame, putU64, wordsFromBase64, wordsToBase64, type CountersAgentState, type CountersFrame } from "@/server/live/counters";
import { initialState, step, type LiveSample, type SourceSnapshot } from "@/server/live/step";

const recording = JSON.parse(readFileSync(new URL("../fixtures/live/dr-traffic.json", import.meta.url), "utf8")) as {
  marks: { removedAfterSeq: number; readdedAfterSeq: number };
  reads: { t: number; snapshot: SnapshotJson }[];
};
const reads: { t: number; snapshot: DirectorSnapshot }[] = recording.reads.map((r) => ({ t: r.t, snapshot: snapshotFromJson(r.snapshot) }));

/** Through the agent's line encoding and back, as the socket carries it. */
const overTheWire = <T>(value: T): T => (decodeLine(encodeLine({ id: 1, ok: true, output: value }).trimEnd()) as { output: T }).output;

const EDGES = [0n, 1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 2n, 2n ** 64n - 1n];

describe("u64 as [hi, lo]", () => {
  it.each(EDGES.map((v) => [v.toString(), v] as const))("%s round-trips exactly, through the JSON wire too", (_s, v) => {
    const words = new Uint32Array(2);
    putU64(words, 0, v);
    expect((BigInt(words[0]!) << 32n) + BigInt(words[1]!)).toBe(v);
    const back = wordsFromBase64(overTheWire(wordsToBase64(words)), 2, "counters");
    expect((BigInt(back[0]!) << 32n) + BigInt(back[1]!)).toBe(v);
  });

  it("refuses what is not a u64 on the way out", () => {
    expect(() => putU64([], 0, -1n)).toThrow(RangeError);
    expect(() => putU64([], 0, 2n ** 64n)).toThrow(RangeError);
  });

  it("refuses a block that is not base64 of exactly the words the table needs, and reuses the buffer it is given", () => {
    const text = wordsToBase64(Uint32Array.of(1, 2, 3, 4));
    expect(Array.from(wordsFromBase64(text, 4, "counters"))).toEqual([1, 2, 3, 4]);
    for (const [bad, n] of [[text, 3], [text, 5], [text.slice(0, -4), 4], [`${text}AAAA`, 4], ["", 1], [[1, 2, 3, 4], 4], [null, 4], [1234, 1]] as const) {
      expect(() => wordsFromBase64(bad, n, "counters"), `${JSON.stringify(bad)} as ${n} words`).toThrow(TypeError);
    }
    const reuse = new Uint32Array(4);
    expect(wordsFromBase64(text, 4, "counters", reuse)).toBe(reuse);
    expect(Array.from(reuse)).toEqual([1, 2, 3, 4]);
    expect(wordsFromBase64(text, 4, "counters", new Uint32Array(3))).toHaveLength(4);
  });
});

/** An agent answering ipvs.counters from `snapshots` in turn, through the real dispatcher and the line encoding. */
function agentOver(snapshots: readonly DirectorSnapshot[]) {
  const frames: CountersFrame[] = [];
  const sentTables: (string | null)[] = [];
  let next = 0;
  const cache: CountersAgentState = { last: null }; // as the agent keeps it
  const dispatch = createOpDispatcher(
    { "ipvs.counters": AGENT_OPS["ipvs.counters"] },
    {
      "ipvs.counters": async (input) => {
        sentTables.push(input.table);
        const frame = encodeCountersFrame(snapshots[next++]!, input.table, 0, cache);
        frames.push(frame);
        return { available: true as const, frame };
      },
    },
  );
  const lines: string[] = [];
  const exchange: AgentExchange = async (request) => {
    const req = decodeLine(encodeLine({ id: 1, op: request.op, input: request.input }).trimEnd()) as { op: string; input: unknown };
    const reply = await dispatch({ op: req.op, input: req.input });
    const line = encodeLine({ id: 1, ...reply });
    lines.push(line);
    const { id: _id, ...back } = decodeLine(line.trimEnd()) as { id: number } & AgentReply;
    return back;
  };
  return { agent: createAgentClient(exchange), frames, sentTables, lines };
}

function replay(snaps: readonly SourceSnapshot[]): LiveSample[] {
  let state = initialState();
  return snaps.map((snap, i) => {
    const out = step(state, snap, reads[i]!.t);
    state = out.state;
    return out.sample;
  });
}

/** The samples as plain data (what the pages read), to compare two replays. */
const plain = (samples: readonly LiveSample[]) => samples.map((s) => s.toJSON());

/** Every counter of every series raised by `n` (a director whose counters passed 2^53 long ago). */
function shifted(snap: DirectorSnapshot, n: bigint): DirectorSnapshot {
  const up = <T extends { stats?: DirectorSnapshot["services"][number]["stats"] }>(x: T): T =>
    x.stats ? { ...x, stats: { ...x.stats, conns: x.stats.conns + n, inPkts: x.stats.inPkts + n, outPkts: x.stats.outPkts + n, inBytes: x.stats.inBytes + n, outBytes: x.stats.outBytes + n } } : x;
  return { ...snap, services: snap.services.map((s) => ({ ...up(s), destinations: s.destinations.map(up) })) };
}

/** Two history stores, one fed `snapshots` (bigint stats), one what ipvs.counters made of them (words), store
 *  the same values at every tick. */
function expectSameHistory(snapshots: readonly DirectorSnapshot[], compact: readonly SourceSnapshot[]): void {
  const dirs = [mkdtempSync(join(tmpdir(), "lvsdash-counters-a-")), mkdtempSync(join(tmpdir(), "lvsdash-counters-b-"))];
  try {
    const [a, b] = dirs.map((d) => HistoryStore.open(d)) as [HistoryStore, HistoryStore];
    snapshots.forEach((snap, i) => {
      const fromStats: TickValues[] = [];
      const fromWords: TickValues[] = [];
      a.record(reads[i]!.t, snap.services, undefined, fromStats);
      b.record(reads[i]!.t, compact[i]!.services, compact[i]!.counters, fromWords);
      expect(fromWords).toEqual(fromStats);
      expect(fromWords.length).toBeGreaterThan(0);
    });
    a.close();
    b.close();
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

async function readAll(snaps: readonly DirectorSnapshot[]) {
  const fake = agentOver(snaps);
  const read = createCountersSource(fake.agent);
  const out: SourceSnapshot[] = [];
  for (let i = 0; i < snaps.length; i++) {
    const r = await read();
    if (!r.available) throw new Error(r.reason);
    // Each snapshot as it was when read: the next read refills the same objects (createCountersSource).
    out.push(structuredClone(r.snapshot));
  }
  return { ...fake, snapshots: out };
}

describe(`ipvs.counters over ${reads.length} recorded ticks of the real kernel`, () => {
  it("a read of the same table refills the last read's objects with the new frame's connection counts", async () => {
    const fake = agentOver(reads.map((r) => r.snapshot));
    const read = createCountersSource(fake.agent);
    const a = await read();
    const first = a.available ? structuredClone(a.snapshot.services) : [];
    const b = await read();
    if (!a.available || !b.available) throw new Error("not available");
    expect(b.snapshot.services).toBe(a.snapshot.services);
    const want = reads[1]!.snapshot.services.map((s) => s.destinations.map((d) => [d.activeConns, d.inactiveConns, d.persistentConns]));
    expect(b.snapshot.services.map((s) => s.destinations.map((d) => [d.activeConns, d.inactiveConns, d.persistentConns]))).toEqual(want);
    // the recording's counts move between these reads, so the check above is not of unchanged objects
    expect(first.map((s) => s.destinations.map((d) => [d.activeConns, d.inactiveConns, d.persistentConns]))).not.toEqual(want);
  });

  it("the sampler's samples are identical to those from ipvs.snapshot", async () => {
    const { snapshots } = await readAll(reads.map((r) => r.snapshot));
    const old = replay(reads.map((r) => r.snapshot));
    const compact = replay(snapshots);
    expect(plain(compact)).toEqual(plain(old));
    // and they have rates: the comparison is not between two empty lists
    expect(compact.filter((s) => s.totals.rate !== null).length).toBeGreaterThan(reads.length / 2);
  });

  it("counters past 2^53 and up to 2^64 - 1 give the same rates as the small ones", async () => {
    for (const base of [2n ** 53n - 5n, 2n ** 64n - 1_000_000n]) {
      const big = reads.map((r) => shifted(r.snapshot, base));
      const { snapshots, lines } = await readAll(big);
      expect(plain(replay(snapshots))).toEqual(plain(replay(big)));
      expect(plain(replay(snapshots))).toEqual(plain(replay(reads.map((r) => r.snapshot))));
      expect(lines.join("")).not.toContain("$bigint");
      // and the history store stores the same values from the words as from the bigints
      expectSameHistory(big, snapshots);
    }
  });

  it("the history store records the same values from either path", async () => {
    const { snapshots } = await readAll(reads.map((r) => r.snapshot));
    expectSameHistory(
      reads.map((r) => r.snapshot),
      snapshots,
    );
  });

  it("sends the table only when it changed (first read, a real server removed, added back)", async () => {
    const { frames, sentTables } = await readAll(reads.map((r) => r.snapshot));
    const withTable = frames.flatMap((f, i) => (f.table ? [i + 1] : []));
    // the ticks whose real servers differ from the previous tick's (the removal and the re-add, as read)
    const realServers = (s: DirectorSnapshot) => JSON.stringify(s.services.map((svc) => svc.destinations.map((d) => [d.address, d.port, d.weight])));
    const changed = reads.flatMap((r, i) => (i > 0 && realServers(r.snapshot) !== realServers(reads[i - 1]!.snapshot) ? [i + 1] : []));
    const { removedAfterSeq, readdedAfterSeq } = recording.marks;
    expect(changed).toHaveLength(2);
    expect(changed[0]).toBeGreaterThan(removedAfterSeq);
    expect(changed[1]).toBeGreaterThan(readdedAfterSeq);
    expect(withTable).toEqual([1, ...changed]);
    // each request names the version of the table the web holds
    expect(sentTables[0]).toBeNull();
    frames.slice(0, -1).forEach((f, i) => expect(sentTables[i + 1]).toBe(f.version));
  });

  it("the agent's table cache gives the version a fresh hash gives, and sees every change to the table", () => {
    const cache: CountersAgentState = { last: null };
    const versions = reads.map((r) => encodeCountersFrame(r.snapshot, null, 0, cache).version);
    expect(versions).toEqual(reads.map((r) => encodeCountersFrame(r.snapshot, null).version));
    // the table, without the removed real server, then the same table again once it is back
    expect(new Set(versions).size).toBe(2);
    expect(versions.filter((v, i) => i > 0 && v !== versions[i - 1])).toHaveLength(2);
    const base = reads[0]!.snapshot;
    const svc = base.services[0]!;
    const d = svc.destinations[0]!;
    const changes: [string, DirectorSnapshot][] = [
      ["weight", { ...base, services: [{ ...svc, destinations: [{ ...d, weight: d.weight + 1 }, ...svc.destinations.slice(1)] }] }],
      ["upper threshold", { ...base, services: [{ ...svc, destinations: [{ ...d, upperThreshold: 7 }, ...svc.destinations.slice(1)] }] }],
      ["tunnel", { ...base, services: [{ ...svc, destinations: [{ ...d, tunnel: { type: "gue", port: 6080, csum: false, remcsum: false, rawFlags: 0 } }, ...svc.destinations.slice(1)] }] }],
      ["scheduler", { ...base, services: [{ ...svc, scheduler: "lc" }] }],
      ["flags", { ...base, services: [{ ...svc, flags: { ...svc.flags, persistent: !svc.flags.persistent } }] }],
      ["raw flags", { ...base, services: [{ ...svc, flags: { ...svc.flags, raw: svc.flags.raw ^ 0x10 } }] }],
      ["persistence timeout", { ...base, services: [{ ...svc, timeout: svc.timeout + 60 }] }],
      ["persistence engine", { ...base, services: [{ ...svc, persistenceEngine: "sip" }] }],
      ["netmask", { ...base, services: [{ ...svc, service: { ...svc.service, netmask: { kind: "mask", mask: "255.255.255.0" } } }] }],
      ["service port", { ...base, services: [{ ...svc, service: { ...svc.service, port: 8080 } as never }] }],
      ["service as a fwmark", { ...base, services: [{ ...svc, service: { family: "inet", fwmark: 7, netmask: svc.service.netmask } }] }],
      ["forwarding method", { ...base, services: [{ ...svc, destinations: [{ ...d, forward: d.forward === "masq" ? "route" : "masq" }, ...svc.destinations.slice(1)] }] }],
      ["real server address", { ...base, services: [{ ...svc, destinations: [{ ...d, address: "203.0.113.250" }, ...svc.destinations.slice(1)] }] }],
      ["tunnel port", { ...base, services: [{ ...svc, destinations: [{ ...d, tunnel: { type: "gue", port: 6081, csum: false, remcsum: false, rawFlags: 0 } }, ...svc.destinations.slice(1)] }] }],
      ["timeouts", { ...base, timeouts: { ...base.timeouts, tcp: 901 } }],
      ["sync daemon", { ...base, daemons: [{ state: "master", mcastInterface: "eth0", syncId: 3, unknown: [] } as never] }],
    ];
    for (const [what, changed] of changes) {
      const c: CountersAgentState = { last: null };
      const first = encodeCountersFrame(base, null, 0, c).version;
      const after = encodeCountersFrame(changed, first, 0, c);
      expect(after.version, what).not.toBe(first);
      expect(after.version, what).toBe(encodeCountersFrame(changed, null).version);
      expect(after.table, what).not.toBeNull();
      // and back: the cache now holds the changed table
      expect(encodeCountersFrame(base, after.version, 0, c).version, what).toBe(first);
    }
  });

  it("is much smaller on the wire than ipvs.snapshot, and needs no bigint tags", async () => {
    const { lines } = await readAll(reads.map((r) => r.snapshot));
    const old = reads.map((r) => encodeLine({ id: 1, ok: true, output: { available: true, snapshot: r.snapshot } }));
    const steady = (xs: string[]) => xs.slice(1).reduce((n, l) => n + l.length, 0);
    expect(steady(lines) * 3).toBeLessThan(steady(old));
    expect(lines.slice(1).join("")).not.toContain("$bigint");
  });

  it("a reply without the table for a version the web does not hold is an error, not a wrong table", async () => {
    const frame = encodeCountersFrame(reads[0]!.snapshot, null);
    const agent = { call: async () => ({ available: true as const, frame: { ...frame, table: null } }) };
    await expect(createCountersSource(agent as never)()).rejects.toThrow(/no table for version/);
  });
});
