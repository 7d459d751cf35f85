// Synthetic IPVS snapshots for the history tests and benchmark: the shape IpvsClient.snapshot() returns, with
// counters that grow by a chosen amount per tick.
import type { Destination, ServiceWithDestinations, Stats } from "@/server/ipvs/netlink/types";

import { rng } from "../ipvs/proc/conn-generator";

export interface Traffic {
  conns: bigint;
  inPkts: bigint;
  outPkts: bigint;
  inBytes: bigint;
  outBytes: bigint;
}

export const stats = (t: Traffic, width: 64 | 32 = 64): Stats => ({
  ...t,
  cps: 0n,
  inPps: 0n,
  outPps: 0n,
  inBps: 0n,
  outBps: 0n,
  width,
});

export function dest(address: string, port: number, t: Traffic, g: { active?: number; inactive?: number; persistent?: number; weight?: number } = {}): Destination {
  return {
    address,
    port,
    family: "inet",
    forward: "route",
    weight: g.weight ?? 1,
    upperThreshold: 0,
    lowerThreshold: 0,
    activeConns: g.active ?? 0,
    inactiveConns: g.inactive ?? 0,
    persistentConns: g.persistent ?? 0,
    stats: stats(t),
    unknown: [],
  };
}

export function service(address: string, port: number, dests: Destination[], t?: Traffic): ServiceWithDestinations {
  const sum = (k: keyof Traffic) => dests.reduce((a, d) => a + (d.stats?.[k] ?? 0n), 0n);
  return {
    service: { family: "inet", protocol: "tcp", address, port, netmask: { kind: "mask", mask: "255.255.255.255" } },
    scheduler: "wrr",
    flags: { persistent: false, hashed: true, onePacket: false, sched1: false, sched2: false, sched3: false, raw: 2 },
    timeout: 0,
    stats: stats(t ?? { conns: sum("conns"), inPkts: sum("inPkts"), outPkts: sum("outPkts"), inBytes: sum("inBytes"), outBytes: sum("outBytes") }),
    unknown: [],
    destinations: dests,
  };
}

/**
 * A table of `services` x `perService` real servers (documentation addresses only; ports tell them apart) under steady, noisy traffic (DR: no outgoing packets):
 * call next() for each tick's snapshot. Real server r of service s gets about (s % 7 + 1) * 20 conns/s, 8
 * packets and 6 kB per connection, active/inactive counts that wander, fixed weights.
 */
export function trafficTable(services: number, perService: number, seed = 1) {
  const rnd = rng(seed);
  const n = services * perService;
  const conns = new Array<bigint>(n).fill(0n);
  const pkts = new Array<bigint>(n).fill(0n);
  const bytes = new Array<bigint>(n).fill(0n);
  const active = new Array<number>(n).fill(10);
  const inactive = new Array<number>(n).fill(100);
  return {
    next(): ServiceWithDestinations[] {
      const out: ServiceWithDestinations[] = [];
      for (let s = 0; s < services; s++) {
        const dests: Destination[] = [];
        for (let r = 0; r < perService; r++) {
          const i = s * perService + r;
          const c = BigInt(Math.round((s % 7 + 1) * 20 * (0.8 + 0.4 * rnd())));
          conns[i]! += c;
          pkts[i]! += c * 8n + BigInt(Math.round(rnd() * 10));
          bytes[i]! += c * 6000n + BigInt(Math.round(rnd() * 5000));
          active[i] = Math.max(0, active[i]! + Math.round((rnd() - 0.5) * 4));
          inactive[i] = Math.max(0, inactive[i]! + Math.round((rnd() - 0.5) * 10));
          dests.push(
            dest(`198.51.100.${(r % 250) + 1}`, 80 + Math.floor(r / 250), { conns: conns[i]!, inPkts: pkts[i]!, outPkts: 0n, inBytes: bytes[i]!, outBytes: 0n }, {
              active: active[i]!,
              inactive: inactive[i]!,
              weight: r + 1,
            }),
          );
        }
        out.push(service(`192.0.2.${(s % 250) + 1}`, 80 + Math.floor(s / 250), dests));
      }
      return out;
    },
  };
}
