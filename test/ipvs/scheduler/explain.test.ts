// The scheduler explainer's rules on hand-made services, each case chosen so that a wrong rule (ties to the
// last, lc read as wlc, inactive counted by sed, wrong hash bits) gives another answer. The picks of the real
// kernel on recorded services are replayed in fixtures.test.ts.
import { describe, expect, it } from "vitest";

import { explainScheduler, overloadState, wrrCycle, type SchedDest, type SchedService } from "@/server/ipvs/scheduler/explain";
import { dhHashKey, foldAddress, hash32, hashBuckets, shHashKey } from "@/server/ipvs/scheduler/hash";
import { maglevTable, MH_TAB_SIZE, mhSlot, sipRound } from "@/server/ipvs/scheduler/maglev";

/** SipHash-2-4 of the empty message under key 00..0f, with the module's round. */
function siphash24Empty(): bigint {
  const M = (1n << 64n) - 1n;
  const k0 = 0x0706050403020100n;
  const k1 = 0x0f0e0d0c0b0a0908n;
  const v: [bigint, bigint, bigint, bigint] = [0x736f6d6570736575n ^ k0, 0x646f72616e646f6dn ^ k1, 0x6c7967656e657261n ^ k0, 0x7465646279746573n ^ k1];
  const b = 0n;
  v[3] ^= b;
  sipRound(v);
  sipRound(v);
  v[0] ^= b;
  v[2] ^= 0xffn;
  for (let i = 0; i < 4; i++) sipRound(v);
  return (v[0] ^ v[1] ^ v[2] ^ v[3]) & M;
}

const d = (address: string, weight: number, activeConns: number, inactiveConns: number, extra: Partial<SchedDest> = {}): SchedDest => ({
  address, port: 80, weight, activeConns, inactiveConns, ...extra,
});
const svc = (scheduler: string, destinations: SchedDest[], extra: Partial<SchedService> = {}): SchedService => ({
  scheduler, address: "192.0.2.100", destinations, ...extra,
});
const pickOf = (s: SchedService, input = {}) => {
  const e = explainScheduler(s, input);
  return e.pick === null ? null : e.rows[e.pick]?.address;
};

describe("least-connection family", () => {
  it("lc: lowest active*256+inactive, weights ignored except 0; ties to the first in the list", () => {
    expect(pickOf(svc("lc", [d("A", 1, 2, 0), d("B", 9, 0, 300), d("C", 1, 0, 299)]))).toBe("C");
    expect(pickOf(svc("lc", [d("A", 1, 0, 5), d("B", 1, 0, 5)]))).toBe("A");
    expect(pickOf(svc("lc", [d("A", 0, 0, 0), d("B", 1, 0, 5)]))).toBe("B");
    const e = explainScheduler(svc("lc", [d("A", 1, 2, 3)]));
    expect(e.rows[0]?.scoreText).toBe("2*256 + 3 = 515");
    expect(e.certainty).toBe("exact");
  });

  it("wlc: lowest (active*256+inactive)/weight by cross-multiplication; ties to the first", () => {
    // lc would say B (1 < 2); weighted, A's 2/3 wins.
    expect(pickOf(svc("wlc", [d("B", 1, 0, 1), d("A", 3, 0, 2)]))).toBe("A");
    // 512/2 == 256/1: a tie, the first stays.
    expect(pickOf(svc("wlc", [d("A", 2, 2, 0), d("B", 1, 1, 0)]))).toBe("A");
    expect(pickOf(svc("wlc", [d("B", 1, 1, 0), d("A", 2, 2, 0)]))).toBe("B");
    const e = explainScheduler(svc("wlc", [d("A", 2, 2, 0), d("B", 1, 1, 0)]));
    expect(e.reason).toMatch(/ties/);
  });

  it("sed: (active+1)/weight, inactive connections ignored", () => {
    // wlc would say A (5/1 against 256/3); sed: A 1/1, B 2/3, C 2/2 -> B.
    const s = [d("A", 1, 0, 5), d("B", 3, 1, 0), d("C", 2, 1, 0)];
    expect(pickOf(svc("wlc", s))).toBe("A");
    expect(pickOf(svc("sed", s))).toBe("B");
  });

  it("nq: the first idle server in list order, else sed", () => {
    expect(pickOf(svc("nq", [d("B", 3, 1, 0), d("A", 1, 0, 50), d("C", 2, 0, 0)]))).toBe("A");
    const e = explainScheduler(svc("nq", [d("A", 1, 1, 0), d("B", 3, 1, 0)]));
    expect(e.rows[e.pick as number]?.address).toBe("B");
    expect(e.reason).toMatch(/falls back to sed/);
    // A quiesced idle server is not "idle" for nq.
    expect(pickOf(svc("nq", [d("Z", 0, 0, 0), d("A", 1, 2, 0), d("B", 1, 1, 0)]))).toBe("B");
  });
});

describe("weight-based", () => {
  it("fo: the highest weight, first on a tie; connections do not matter", () => {
    expect(pickOf(svc("fo", [d("A", 2, 0, 0), d("B", 5, 99, 0), d("C", 5, 0, 0)]))).toBe("B");
  });

  it("ovf: the highest weight among servers with active <= weight", () => {
    expect(pickOf(svc("ovf", [d("A", 1, 0, 0), d("B", 3, 4, 0), d("C", 2, 2, 0)]))).toBe("C");
    expect(pickOf(svc("ovf", [d("A", 1, 2, 0), d("B", 3, 4, 0)]))).toBeNull();
    const e = explainScheduler(svc("ovf", [d("B", 3, 4, 0)]));
    expect(e.rows[0]?.skipped).toMatch(/4 active > weight 3/);
    expect(e.certainty).toBe("none");
  });
});

describe("skipped servers", () => {
  it("weight 0 and the overload flag (from the thresholds) are skipped; the hysteresis band is unknown", () => {
    expect(overloadState(d("A", 1, 5, 5, { upperThreshold: 10, lowerThreshold: 0 }))).toBe(true);
    expect(overloadState(d("A", 1, 5, 2, { upperThreshold: 10, lowerThreshold: 0 }))).toBe(false); // 7*4 < 30
    expect(overloadState(d("A", 1, 5, 3, { upperThreshold: 10, lowerThreshold: 0 }))).toBeNull(); // 8*4 >= 30
    expect(overloadState(d("A", 1, 5, 3, { upperThreshold: 10, lowerThreshold: 9 }))).toBe(false);
    expect(overloadState(d("A", 1, 500, 3, { upperThreshold: 0, lowerThreshold: 0 }))).toBe(false);
    const s = svc("wlc", [d("A", 1, 0, 10, { upperThreshold: 10, lowerThreshold: 0 }), d("B", 1, 1, 0, { upperThreshold: 0, lowerThreshold: 0 })]);
    expect(pickOf(s)).toBe("B");
    const e = explainScheduler(svc("wlc", [d("A", 1, 0, 8, { upperThreshold: 10, lowerThreshold: 0 }), d("B", 1, 1, 0, { upperThreshold: 0, lowerThreshold: 0 })]));
    expect(e.rows[0]?.overloaded).toBeNull();
    expect(e.notes.join(" ")).toMatch(/cannot be known/);
  });

  it("no usable server: no pick, and says the kernel drops the connection", () => {
    const e = explainScheduler(svc("wlc", [d("A", 0, 0, 0)]));
    expect(e.pick).toBeNull();
    expect(e.certainty).toBe("none");
    expect(e.reason).toMatch(/no destination available/);
    expect(explainScheduler(svc("lc", [])).reason).toMatch(/no real servers/);
  });
});

describe("rr and wrr: the order, not the position", () => {
  it("wrr's cycle is ip_vs_wrr.c's walk: weights 4,3,2 give AABABCABC", () => {
    const order = wrrCycle([4, 3, 2], [true, true, true]).map((i) => "ABC"[i]).join("");
    expect(order).toBe("AABABCABC");
  });

  it("wrr steps by the gcd of the weights and starts from max - (gcd - 1)", () => {
    // gcd 2, mw = 4 - 1 = 3: cw 3 -> B; cw 1 -> A, B.
    expect(wrrCycle([2, 4], [true, true])).toEqual([1, 0, 1]);
    // An overloaded server drops out of the walk, but its weight still sets the steps.
    expect(wrrCycle([1, 3], [true, false])).toEqual([0]);
  });

  it("says the kernel's position is not visible", () => {
    const e = explainScheduler(svc("wrr", [d("C", 2, 0, 0), d("B", 3, 0, 0), d("A", 1, 0, 0)]));
    expect(e.certainty).toBe("order");
    expect(e.pick).toBeNull();
    expect(e.order?.map((i) => e.rows[i]?.address).join("")).toBe("BCBCBA");
    expect(e.notes.join(" ")).toMatch(/not/);
    const r = explainScheduler(svc("rr", [d("A", 1, 0, 0), d("B", 0, 0, 0), d("C", 1, 0, 0)]));
    expect(r.order?.map((i) => r.rows[i]?.address)).toEqual(["A", "C"]);
  });
});

describe("hashing", () => {
  /** hash_32 written again with BigInt, as include/linux/hash.h reads. */
  const oracle = (v: number, bits: number) => Number(((BigInt(v >>> 0) * 0x61c88647n) & 0xffffffffn) >> BigInt(32 - bits));

  it("hash_32 is the golden-ratio multiply's top bits", () => {
    for (const v of [0, 1, 0xcb007109, 0xffffffff, 0x7fffffff, 0xc0000264]) expect(hash32(v, 8)).toBe(oracle(v, 8));
    expect(foldAddress("203.0.113.9")).toBe(0xcb007109);
    // IPv6: XOR of the four 32-bit words.
    expect(foldAddress("2001:db8::1")).toBe((0x20010db8 ^ 0 ^ 0 ^ 1) >>> 0);
    expect(foldAddress("nope")).toBeNull();
    expect(shHashKey(0xcb007109, 0, 0)).toBe(oracle(0xcb007109, 8));
    expect(shHashKey(0xcb007109, 0, 3)).toBe((oracle(0xcb007109, 8) + 3) & 255);
    expect(dhHashKey(0xc0000264)).toBe(oracle(0xc0000264, 8));
  });

  it("the bucket table gives each server `weight` buckets in list order, and weight 0 one", () => {
    const t = hashBuckets([1, 2, 1]);
    expect([...t.slice(0, 8)]).toEqual([0, 1, 1, 2, 0, 1, 1, 2]);
    expect([...hashBuckets([0, 1]).slice(0, 4)]).toEqual([0, 1, 0, 1]);
    expect([...hashBuckets([])].every((b) => b === -1)).toBe(true);
  });

  it("sh: the client's bucket decides; without a client it asks for one", () => {
    const s = svc("sh", [d("A", 1, 0, 0), d("B", 2, 0, 0), d("C", 1, 0, 0)]);
    expect(explainScheduler(s).certainty).toBe("needs-input");
    const e = explainScheduler(s, { clientAddress: "203.0.113.9" });
    const bucket = oracle(0xcb007109, 8);
    expect(e.hash?.key).toBe(bucket);
    expect(e.rows[e.pick as number]?.address).toBe("ABBC"[bucket % 4]);
    expect(e.hash?.bucketShares).toEqual([64, 128, 64]);
  });

  it("sh: a bucket of a weight-0 server drops the connection, unless sh-fallback walks on", () => {
    const clients = Array.from({ length: 40 }, (_, i) => `203.0.113.${i + 1}`);
    const s = (fallback: boolean) => svc("sh", [d("A", 0, 0, 0), d("B", 1, 0, 0)], { sched1: fallback });
    // Table: A, B, A, B, ...: find a client hashed to A.
    const onA = clients.find((c) => shHashKey(foldAddress(c) as number, 0, 0) % 2 === 0) as string;
    expect(explainScheduler(s(false), { clientAddress: onA }).pick).toBeNull();
    expect(pickOf(s(true), { clientAddress: onA })).toBe("B");
  });

  it("sh with the port flag needs the client's port", () => {
    const s = svc("sh", [d("A", 1, 0, 0), d("B", 1, 0, 0)], { sched2: true });
    expect(explainScheduler(s, { clientAddress: "203.0.113.9" }).certainty).toBe("needs-input");
    const e = explainScheduler(s, { clientAddress: "203.0.113.9", clientPort: 40000 });
    expect(e.hash?.key).toBe(oracle((0xcb007109 + 40000) >>> 0, 8));
  });

  it("dh on a service with an address hashes the VIP: one server takes everything", () => {
    const e = explainScheduler(svc("dh", [d("A", 1, 0, 0), d("B", 1, 0, 0)]));
    expect(e.certainty).toBe("exact");
    expect(e.hash?.inputAddress).toBe("192.0.2.100");
    expect(e.notes.join(" ")).toMatch(/always the VIP/);
  });
});

describe("maglev (mh)", () => {
  it("SipHash's round is the reference one: SipHash-2-4 test vector from the paper", () => {
    // Only the round count differs between 2-4 and the kernel's 1-3; the vector checks the round and constants.
    expect(siphash24Empty()).toBe(0x726fdb47dd0e0e31n);
  });

  it("fills all 4093 slots in proportion to the weights, and asks for a client", () => {
    const s = svc("mh", [d("198.51.100.13", 1, 0, 0), d("198.51.100.12", 2, 0, 0), d("198.51.100.11", 1, 0, 0)]);
    const e = explainScheduler(s);
    expect(e.certainty).toBe("needs-input");
    const shares = e.hash?.bucketShares ?? [];
    expect(shares.reduce((a, b) => a + b, 0)).toBe(MH_TAB_SIZE);
    // Weight 2 takes two slots per round: about half the table.
    expect(Math.abs((shares[1] as number) - MH_TAB_SIZE / 2)).toBeLessThan(5);
    const table = maglevTable([0xc6336410, 0xc633640f].map((fold) => ({ fold, port: 80, lastWeight: 1 })));
    expect([...table].every((t) => t === 0 || t === 1)).toBe(true);
    const p = explainScheduler(s, { clientAddress: "203.0.113.9" });
    expect(p.certainty).toBe("exact");
    expect(p.hash?.key).toBe(mhSlot(0xcb007109, 0));
  });
});

describe("rules it does not compute", () => {
  it("lblc/lblcr give wlc's pick for a new destination and say their table is not visible", () => {
    const e = explainScheduler(svc("lblc", [d("B", 1, 0, 1), d("A", 3, 0, 2)]));
    expect(e.rows[e.pick as number]?.address).toBe("A");
    expect(e.certainty).toBe("not-visible");
    expect(e.notes.join(" ")).toMatch(/No interface reports it/);
  });

  it("twos is random", () => {
    expect(explainScheduler(svc("twos", [d("A", 1, 0, 0)])).certainty).toBe("not-visible");
  });

  it("notes persistence", () => {
    expect(explainScheduler(svc("wlc", [d("A", 1, 0, 0)], { persistent: true })).notes.join(" ")).toMatch(/template/);
  });
});
