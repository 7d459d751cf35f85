// The scheduler explainer against the real kernel (lab guest only): for each scheduler, build a service whose
// real servers hold chosen active/inactive counts, ask the explainer which server gets the next new
// connection, make ONE new connection, and read in `ipvsadm -Lnc` where the kernel sent it.
//
// The site: the director is the guest's own namespace (the explainer reads the table over netlink, as the
// agent's ipvs.metrics does); a client namespace on a veth with addresses 203.0.113.1..9; three DR real
// servers 198.51.100.11..13 behind a dummy device (it drops what it is given: the connection entries exist
// whether or not anything answers). Each scenario is a service of its own (192.0.2.100:81xx), so its real
// servers start with zero counters.
//
// Counts are made with hping3 from the client, one real server at a time (the others at weight 0, so every SYN
// goes to the one being filled; weight 0 stops new connections, not existing ones):
//   active   = SYN, then ACK from the same source port: SYN_RECV -> ESTABLISHED (15 min; input-only state table,
//              DR sees only the client's side)
//   inactive = SYN, then FIN from the same source port: SYN_RECV -> TIME_WAIT (2 min)
// then the scenario's weights and scheduler are set (ipvsadm -e / -E keep the counters), and the check runs
// before any of those entries can expire.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { explainScheduler, type Explanation } from "@/server/ipvs/scheduler/explain";
import { schedServiceFromNetlink } from "@/server/ipvs/scheduler/snapshot";
import { openIpvsClient } from "@/server/kernel/genl/ipvs";
import type { ServiceWithDestinations } from "@/server/ipvs/netlink/types";

const sh = (script: string): string => execFileSync("sh", ["-ec", script], { encoding: "utf8", maxBuffer: 64 << 20 });

const VIP = "192.0.2.100";
const NS = "sc-cli";
const RS = { a: "198.51.100.11", b: "198.51.100.12", c: "198.51.100.13" } as const;
type Rs = keyof typeof RS;
const ALL: Rs[] = ["a", "b", "c"];

let nextSport = 20_000;

function buildSite(): void {
  sh(`
    ipvsadm -C
    ip netns del ${NS} 2>/dev/null || true
    ip link del sc0 2>/dev/null || true
    ip link del sc-rs 2>/dev/null || true
    ip addr del ${VIP}/32 dev lo 2>/dev/null || true
    ip addr add ${VIP}/32 dev lo
    ip netns add ${NS}
    ip link add sc0 type veth peer name eth0 netns ${NS}
    ip addr add 192.0.2.1/24 dev sc0
    ip link set sc0 up
    ip route add 203.0.113.0/24 via 192.0.2.2 dev sc0
    ip link add sc-rs type dummy
    ip link set sc-rs up
    ip route add 198.51.100.0/24 dev sc-rs
    ip netns exec ${NS} sh -ec '
      ip link set lo up; ip link set eth0 up; ip addr add 192.0.2.2/24 dev eth0
      for i in 1 2 3 4 5 6 7 8 9; do ip addr add 203.0.113.$i/32 dev eth0; done
      ip route add default via 192.0.2.1'
  `);
}

function removeSite(): void {
  sh(`
    ipvsadm -C
    ip netns del ${NS} 2>/dev/null || true
    ip link del sc0 2>/dev/null || true
    ip link del sc-rs 2>/dev/null || true
    ip addr del ${VIP}/32 dev lo 2>/dev/null || true
  `);
}

/** hping3 in the client namespace: `count` packets with `flags`, source ports sport, sport+1, ... */
const hping = (port: number, flags: string, sport: number, count: number, client = "203.0.113.1") =>
  `ip netns exec ${NS} hping3 ${flags} -p ${port} -s ${sport} -c ${count} -i u3000 -a ${client} -q ${VIP} >/dev/null 2>&1 || true`;

interface Scenario {
  scheduler: string;
  weights: Record<Rs, number>;
  counts: Record<Rs, { active: number; inactive: number }>;
  flags?: string;
}

/** Builds the scenario's service with its counts and returns the port. ONE sh for the whole fill. */
function fill(port: number, s: Scenario): void {
  const lines = [
    `ipvsadm -A -t ${VIP}:${port} -s wlc`,
    ...ALL.map((r) => `ipvsadm -a -t ${VIP}:${port} -r ${RS[r]}:${port} -g -w 0`),
  ];
  for (const r of ALL) {
    const { active, inactive } = s.counts[r];
    if (active + inactive === 0) continue;
    lines.push(...ALL.map((o) => `ipvsadm -e -t ${VIP}:${port} -r ${RS[o]}:${port} -g -w ${o === r ? 1 : 0}`));
    const base = nextSport;
    nextSport += active + inactive;
    lines.push(hping(port, "-S", base, active + inactive));
    if (active > 0) lines.push(hping(port, "-A", base, active));
    if (inactive > 0) lines.push(hping(port, "-F", base + active, inactive));
  }
  lines.push(...ALL.map((r) => `ipvsadm -e -t ${VIP}:${port} -r ${RS[r]}:${port} -g -w ${s.weights[r]}`));
  lines.push(`ipvsadm -E -t ${VIP}:${port} -s ${s.scheduler}${s.flags ? ` ${s.flags}` : ""}`);
  sh(lines.join("\n"));
}

async function kernelService(port: number): Promise<ServiceWithDestinations> {
  const ipvs = openIpvsClient();
  try {
    const all = await ipvs.snapshot();
    const svc = all.find((s) => "port" in s.service && s.service.port === port);
    if (!svc) throw new Error(`service ${VIP}:${port} not in the kernel's table`);
    return svc;
  } finally {
    ipvs.close();
  }
}

/** The destination of the connection from client:sport in ipvsadm -Lnc, or null. */
function kernelChoice(client: string, sport: number, port: number): string | null {
  for (const line of sh("ipvsadm -Lnc").split("\n")) {
    const f = line.trim().split(/\s+/);
    // pro expire state source virtual destination
    if (f[3] === `${client}:${sport}` && f[4] === `${VIP}:${port}`) return (f[5] ?? "").replace(/:\d+$/, "");
  }
  return null;
}

/** One new connection (a SYN from a fresh source port); returns the real server the kernel chose. */
function oneConnection(port: number, client = "203.0.113.9"): string | null {
  const sport = nextSport++;
  sh(hping(port, "-S", sport, 1, client));
  return kernelChoice(client, sport, port);
}

const nameOf = (address: string): Rs => (Object.entries(RS).find(([, a]) => a === address)?.[0] ?? "?") as Rs;
const picked = (e: Explanation): Rs | null => (e.pick === null ? null : nameOf(e.rows[e.pick]?.address ?? ""));

let port = 8100;

/**
 * Records what the kernel showed and chose as a fixture (test/fixtures/scheduler/ holds a copy; the unit tests
 * replay them): the netlink view of the service in the kernel's order (counters left out: bigint), ipvsadm -Ln
 * of it, the explainer's input and the real servers the kernel picked.
 */
function record(name: string, port: number, svc: ServiceWithDestinations, data: Record<string, unknown>): void {
  const dir = process.env.LAB_ARTIFACTS;
  if (!dir) return;
  mkdirSync(join(dir, "scheduler"), { recursive: true });
  const service = { ...svc, stats: undefined, unknown: [], destinations: svc.destinations.map((d) => ({ ...d, stats: undefined, unknown: [] })) };
  const fixture = { name, kernel: sh("uname -r").trim(), ipvsadm: sh(`ipvsadm -Ln -t ${VIP}:${port}`), service, ...data };
  writeFileSync(join(dir, "scheduler", `${name}.json`), `${JSON.stringify(fixture, null, 2)}\n`);
}

async function runScenario(name: string, s: Scenario): Promise<{ explanation: Explanation; kernel: Rs | null; order: Rs[] }> {
  const p = ++port;
  fill(p, s);
  const svc = await kernelService(p);
  // The fill produced the counts the scenario asks for (else the test would prove nothing).
  for (const d of svc.destinations) {
    const want = s.counts[nameOf(d.address)];
    expect({ rs: nameOf(d.address), active: d.activeConns, inactive: d.inactiveConns }).toEqual({ rs: nameOf(d.address), ...want });
  }
  const explanation = explainScheduler(schedServiceFromNetlink(svc));
  const chosen = oneConnection(p);
  record(name, p, svc, { input: {}, picks: [chosen] });
  return { explanation, kernel: chosen === null ? null : nameOf(chosen), order: svc.destinations.map((d) => nameOf(d.address)) };
}

beforeAll(() => {
  buildSite();
}, 120_000);

afterAll(() => {
  removeSite();
});

describe("the scheduler explainer's pick is the kernel's", () => {
  it("lc: lowest active*256 + inactive; a tie goes to the first in the kernel's list", async () => {
    const r = await runScenario("lc-tie", {
      scheduler: "lc",
      weights: { a: 1, b: 1, c: 1 },
      counts: { a: { active: 1, inactive: 0 }, b: { active: 0, inactive: 2 }, c: { active: 0, inactive: 2 } },
    });
    // b and c tie at 2: the kernel lists the newest real server first (c was added last).
    expect(r.order).toEqual(["c", "b", "a"]);
    expect(picked(r.explanation)).toBe("c");
    expect(r.kernel).toBe(picked(r.explanation));
  });

  it("wlc: lowest (active*256 + inactive) / weight, where lc would pick another", async () => {
    const r = await runScenario("wlc-weights", {
      scheduler: "wlc",
      weights: { a: 3, b: 1, c: 1 },
      counts: { a: { active: 0, inactive: 2 }, b: { active: 0, inactive: 1 }, c: { active: 0, inactive: 1 } },
    });
    expect(picked(r.explanation)).toBe("a"); // 2/3 < 1/1
    expect(r.kernel).toBe("a");
  });

  it("sed: lowest (active + 1) / weight, inactive ignored, where wlc would pick another", async () => {
    const r = await runScenario("sed", {
      scheduler: "sed",
      weights: { a: 1, b: 3, c: 2 },
      counts: { a: { active: 0, inactive: 3 }, b: { active: 1, inactive: 0 }, c: { active: 1, inactive: 0 } },
    });
    expect(picked(r.explanation)).toBe("b"); // a 1/1, b 2/3, c 2/2
    expect(r.kernel).toBe("b");
  });

  it("nq: an idle server first, whatever sed says", async () => {
    const r = await runScenario("nq-idle", {
      scheduler: "nq",
      weights: { a: 1, b: 3, c: 2 },
      counts: { a: { active: 0, inactive: 3 }, b: { active: 1, inactive: 0 }, c: { active: 1, inactive: 0 } },
    });
    expect(picked(r.explanation)).toBe("a"); // the only one with 0 active; sed would say b
    expect(r.kernel).toBe("a");
  });

  it("fo: the highest weight; a tie goes to the first in the kernel's list", async () => {
    const r = await runScenario("fo-tie", {
      scheduler: "fo",
      weights: { a: 2, b: 5, c: 5 },
      counts: { a: { active: 0, inactive: 0 }, b: { active: 0, inactive: 0 }, c: { active: 2, inactive: 0 } },
    });
    expect(picked(r.explanation)).toBe("c");
    expect(r.kernel).toBe("c");
  });

  it("ovf: the highest weight whose active connections do not exceed it", async () => {
    const r = await runScenario("ovf-full", {
      scheduler: "ovf",
      weights: { a: 1, b: 3, c: 2 },
      counts: { a: { active: 0, inactive: 0 }, b: { active: 4, inactive: 0 }, c: { active: 1, inactive: 0 } },
    });
    expect(picked(r.explanation)).toBe("c"); // b is full (4 > 3)
    expect(r.kernel).toBe("c");
  });

  it("weight 0 is skipped: wlc never picks a quiesced server however idle", async () => {
    const r = await runScenario("wlc-quiesced", {
      scheduler: "wlc",
      weights: { a: 0, b: 1, c: 1 },
      counts: { a: { active: 0, inactive: 0 }, b: { active: 1, inactive: 0 }, c: { active: 0, inactive: 3 } },
    });
    expect(picked(r.explanation)).toBe("c");
    expect(r.kernel).toBe("c");
  });

  it("wrr: right after a change the kernel walks the cycle the explainer shows, from its start", async () => {
    const p = ++port;
    fill(p, { scheduler: "wrr", weights: { a: 1, b: 3, c: 2 }, counts: { a: { active: 0, inactive: 0 }, b: { active: 0, inactive: 0 }, c: { active: 0, inactive: 0 } } });
    const svc = await kernelService(p);
    const e = explainScheduler(schedServiceFromNetlink(svc));
    const cycle = (e.order ?? []).map((i) => nameOf(e.rows[i]?.address ?? ""));
    expect(cycle).toHaveLength(6);
    // One SYN each, from successive source ports.
    const base = nextSport;
    nextSport += 12;
    sh(hping(p, "-S", base, 12, "203.0.113.8"));
    const seen = Array.from({ length: 12 }, (_, i) => kernelChoice("203.0.113.8", base + i, p)).map((a) => (a === null ? null : nameOf(a)));
    record("wrr-cycle", p, svc, { input: {}, picks: seen.map((r) => (r === null ? null : RS[r])) });
    expect(seen).toEqual([...cycle, ...cycle]);
  });

  it("sh: hash_32 of the client address picks the bucket, in a table filled by weight in list order", async () => {
    const p = ++port;
    fill(p, { scheduler: "sh", weights: { a: 1, b: 2, c: 1 }, counts: { a: { active: 0, inactive: 0 }, b: { active: 0, inactive: 0 }, c: { active: 0, inactive: 0 } } });
    const svc = await kernelService(p);
    const clients = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4", "203.0.113.5", "203.0.113.6", "203.0.113.7"];
    const want = clients.map((c) => picked(explainScheduler(schedServiceFromNetlink(svc), { clientAddress: c })));
    const got = clients.map((c) => {
      const a = oneConnection(p, c);
      return a === null ? null : nameOf(a);
    });
    record("sh-clients", p, svc, { clients, picks: got.map((r) => (r === null ? null : RS[r])) });
    expect(got).toEqual(want);
    // Not all on one server: the check means something.
    expect(new Set(got).size).toBeGreaterThan(1);
  });

  it("mh: the Maglev table (hsiphash with ip_vs_mh.c's fixed keys) sends each client where the explainer says", async () => {
    const p = ++port;
    fill(p, { scheduler: "mh", weights: { a: 1, b: 2, c: 1 }, counts: { a: { active: 0, inactive: 0 }, b: { active: 0, inactive: 0 }, c: { active: 0, inactive: 0 } } });
    const svc = await kernelService(p);
    const clients = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4", "203.0.113.5", "203.0.113.6", "203.0.113.7"];
    const want = clients.map((c) => picked(explainScheduler(schedServiceFromNetlink(svc), { clientAddress: c })));
    const got = clients.map((c) => {
      const a = oneConnection(p, c);
      return a === null ? null : nameOf(a);
    });
    record("mh-clients", p, svc, { clients, picks: got.map((r) => (r === null ? null : RS[r])) });
    expect(got).toEqual(want);
    expect(new Set(got).size).toBeGreaterThan(1);
  });

  it("dh: a service with an address hashes its VIP, so every client goes to the one server the explainer names", async () => {
    const p = ++port;
    fill(p, { scheduler: "dh", weights: { a: 1, b: 1, c: 1 }, counts: { a: { active: 0, inactive: 0 }, b: { active: 0, inactive: 0 }, c: { active: 0, inactive: 0 } } });
    const svc = await kernelService(p);
    const want = picked(explainScheduler(schedServiceFromNetlink(svc)));
    const got = ["203.0.113.1", "203.0.113.4", "203.0.113.7"].map((c) => {
      const a = oneConnection(p, c);
      return a === null ? null : nameOf(a);
    });
    record("dh-vip", p, svc, { input: {}, picks: got.map((r) => (r === null ? null : RS[r])) });
    expect(got).toEqual([want, want, want]);
  });
});
