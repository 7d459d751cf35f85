// The explainer replayed on services recorded from the real kernel (test/kernel/scheduler.test.ts wrote them in
// the lab guest, Debian's 6.1): each fixture holds the netlink view of one service in the kernel's order, its
// ipvsadm -Ln read after the new connections, and the real servers the kernel picked for them (found by the
// connections' source ports in ipvsadm -Lnc).
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

import type { ServiceWithDestinations } from "@/server/ipvs/netlink/types";
import { explainScheduler } from "@/server/ipvs/scheduler/explain";
import { schedServiceFromNetlink } from "@/server/ipvs/scheduler/snapshot";

interface Fixture {
  name: string;
  kernel: string;
  ipvsadm: string;
  service: ServiceWithDestinations;
  picks: (string | null)[];
  clients?: string[];
}

const DIR = new URL("../../fixtures/scheduler/", import.meta.url);
const fixtures: Fixture[] = readdirSync(DIR)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => JSON.parse(readFileSync(new URL(f, DIR), "utf8")) as Fixture);

/** "  -> 198.51.100.11:8101   Route   3   0   2" lines of ipvsadm -Ln: address -> [weight, active, inactive]. */
function ipvsadmCounts(text: string): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const m of text.matchAll(/->\s+(\d+\.\d+\.\d+\.\d+):\d+\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)/g)) {
    out[m[1] as string] = [Number(m[2]), Number(m[3]), Number(m[4])];
  }
  return out;
}

describe("recorded from the real kernel", () => {
  it("has the cases the lab recorded", () => {
    expect(fixtures.map((f) => f.name)).toEqual(
      expect.arrayContaining(["lc-tie", "wlc-weights", "sed", "nq-idle", "fo-tie", "ovf-full", "wlc-quiesced", "wrr-cycle", "sh-clients"]),
    );
  });

  for (const f of fixtures) {
    it(`${f.name} (${f.service.scheduler}, Linux ${f.kernel}): the explainer picks what the kernel picked`, () => {
      // ipvsadm -Ln was read after the new connections: each real server has exactly one more active
      // connection (a SYN_RECV entry) for each time the kernel picked it, and nothing else moved.
      const fromText = ipvsadmCounts(f.ipvsadm);
      for (const d of f.service.destinations) {
        const picks = f.picks.filter((p) => p === d.address).length;
        expect(fromText[d.address]).toEqual([d.weight, d.activeConns + picks, d.inactiveConns]);
      }
      const svc = schedServiceFromNetlink(f.service);
      if (f.clients) {
        const got = f.clients.map((c) => {
          const e = explainScheduler(svc, { clientAddress: c });
          return e.pick === null ? null : (e.rows[e.pick]?.address ?? null);
        });
        expect(got).toEqual(f.picks);
      } else if (f.service.scheduler === "wrr") {
        const e = explainScheduler(svc);
        const cycle = (e.order ?? []).map((i) => e.rows[i]?.address ?? null);
        expect([...cycle, ...cycle]).toEqual(f.picks);
      } else {
        const e = explainScheduler(svc);
        expect(e.certainty).toBe("exact");
        expect(e.pick === null ? null : e.rows[e.pick]?.address).toBe(f.picks[0]);
      }
    });
  }
});
