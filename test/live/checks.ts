// Shared by the unit test over the recording (test/live/step.test.ts) and the real-kernel test
// (test/kernel/live.test.ts): the sampler's rates checked tick by tick against the snapshots it read.
import { expect } from "vitest";

import { destKey, seriesKey, serviceKey } from "@/server/history/keys";
import type { Stats } from "@/server/ipvs/netlink/types";
import type { DirectorSnapshot } from "@/server/ipvs/snapshot/model";
import type { LiveSample } from "@/server/live/step";

/** A series' counters in a snapshot (service key, or "service key/real server key"); undefined when absent. */
export function countersIn(snap: DirectorSnapshot, key: string): Stats | undefined {
  for (const svc of snap.services) {
    const sk = serviceKey(svc.service);
    if (sk === key) return svc.stats;
    for (const d of svc.destinations) if (seriesKey(sk, destKey(d)) === key) return d.stats;
  }
  return undefined;
}

/**
 * For every series of every sample: rates are never negative; a rate is exactly the counters' increase since
 * the previous read over the interval (so never a spike); where a counter went backwards (ipvsadm -Z, a real
 * server removed and re-added) or the series is new, there is no rate. Returns how many resets it saw.
 */
export function expectExactRates(samples: readonly LiveSample[], reads: readonly DirectorSnapshot[]): number {
  let resets = 0;
  for (let i = 1; i < samples.length; i++) {
    const dt = (samples[i]!.t - samples[i - 1]!.t) / 1000;
    for (const svc of samples[i]!.services) {
      for (const [key, x] of [[svc.key, svc], ...svc.destinations.map((d) => [seriesKey(svc.key, d.key), d] as const)] as const) {
        for (const r of [x.rate, x.rate2s]) if (r) for (const v of Object.values(r)) expect(v).toBeGreaterThanOrEqual(0);
        const prev = countersIn(reads[i - 1]!, key);
        const cur = countersIn(reads[i]!, key)!;
        if (!prev) {
          expect(x.rate, `${key} is new at tick ${i + 1}`).toBeNull();
        } else if (cur.conns < prev.conns || cur.inPkts < prev.inPkts || cur.inBytes < prev.inBytes) {
          resets++;
          expect(x.rate, `${key} went backwards at tick ${i + 1}`).toBeNull();
          expect(x.gap).toBe("reset");
        } else {
          expect(x.rate!.conns * dt, `${key} tick ${i + 1}`).toBeCloseTo(Number(cur.conns - prev.conns), 9);
          expect(x.rate!.inPkts * dt, `${key} tick ${i + 1}`).toBeCloseTo(Number(cur.inPkts - prev.inPkts), 9);
          expect(x.rate!.inBytes * dt, `${key} tick ${i + 1}`).toBeCloseTo(Number(cur.inBytes - prev.inBytes), 6);
        }
      }
    }
  }
  return resets;
}
