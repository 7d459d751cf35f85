// The drain job on an in-memory IPVS service (the three netlink calls it uses): weight 0 first, samples of
// ActiveConn/InActConn, removal once drained, timeout that cuts nothing off, cancel restoring the weight,
// refusals. The real kernel is in test/kernel/drain.test.ts.
import { describe, expect, it } from "vitest";

import { createDrainManager, type DrainClient, type DrainStartInput } from "@/server/ipvs/drain/drain";
import type { Destination, DestinationConfig, Service } from "@/server/ipvs/netlink/types";

function dest(address: string, weight: number, activeConns: number): Destination {
  return { address, port: 80, family: "inet", forward: "route", weight, upperThreshold: 0, lowerThreshold: 0, activeConns, inactiveConns: 0, persistentConns: 0, unknown: [] };
}

function fakeIpvs() {
  const dests = [dest("192.0.2.11", 3, 4), dest("192.0.2.12", 1, 2)];
  const calls: string[] = [];
  let opened = 0;
  const client: DrainClient = {
    listDestinations: async (_s: Service) => dests.map((d) => ({ ...d })),
    setDest: async (_s: Service, cfg: DestinationConfig) => {
      calls.push(`set ${cfg.address} w${cfg.weight}`);
      const d = dests.find((x) => x.address === cfg.address)!;
      d.weight = cfg.weight;
    },
    delDest: async (_s: Service, d: { address: string }) => {
      calls.push(`del ${d.address}`);
      dests.splice(dests.findIndex((x) => x.address === d.address), 1);
    },
    close: () => void opened--,
  };
  return { dests, calls, open: () => (opened++, client), openCount: () => opened };
}

const INPUT: DrainStartInput = {
  service: { kind: "address", protocol: "TCP", family: 4, address: "192.0.2.100", port: 80 },
  dest: { address: "192.0.2.11", port: 80 },
  remove: true,
  waitInactive: false,
  timeoutSeconds: 60,
};

/** A clock that moves by the poll interval each time the job sleeps; `onSleep` lets connections end. */
function harness(onSleep: (n: number) => void) {
  const ipvs = fakeIpvs();
  let clock = 0;
  let sleeps = 0;
  const drains = createDrainManager({
    open: ipvs.open,
    pollMs: 1000,
    now: () => clock,
    sleep: async (ms) => {
      clock += ms;
      onSleep(++sleeps);
    },
  });
  return { ipvs, drains };
}

describe("drain", () => {
  it("sets weight 0 first, watches ActiveConn fall, then removes the real server", async () => {
    const { ipvs, drains } = harness((n) => (ipvs.dests[0]!.activeConns = Math.max(0, 4 - 2 * n)));
    const started = await drains.start(INPUT);
    expect(started).toMatchObject({ state: "draining", weightBefore: 3 });
    expect(ipvs.calls[0]).toBe("set 192.0.2.11 w0");
    const done = await drains.settled(started.id);
    expect(done.state).toBe("removed");
    expect(done.samples.map((s) => s.active)).toEqual([4, 2, 0]);
    expect(ipvs.calls).toEqual(["set 192.0.2.11 w0", "del 192.0.2.11"]);
    expect(ipvs.dests.map((d) => d.address)).toEqual(["192.0.2.12"]);
    expect(ipvs.openCount()).toBe(0);
  });

  it("leaves it at weight 0 when asked not to remove", async () => {
    const { ipvs, drains } = harness(() => (ipvs.dests[0]!.activeConns = 0));
    const s = await drains.start({ ...INPUT, remove: false });
    await expect(drains.settled(s.id)).resolves.toMatchObject({ state: "drained" });
    expect(ipvs.dests[0]).toMatchObject({ address: "192.0.2.11", weight: 0 });
    // Back in rotation with its weight from before; a second cancel has nothing left to do.
    await expect(drains.cancel(s.id)).resolves.toMatchObject({ state: "cancelled" });
    expect(ipvs.dests[0]).toMatchObject({ address: "192.0.2.11", weight: 3 });
    await expect(drains.cancel(s.id)).rejects.toThrow(/is cancelled: nothing to cancel/);
  });

  it("times out with connections left: nothing is cut off, the weight stays 0; cancel then restores it", async () => {
    const { ipvs, drains } = harness(() => undefined);
    const s = await drains.start({ ...INPUT, timeoutSeconds: 5 });
    const done = await drains.settled(s.id);
    expect(done).toMatchObject({ state: "timed-out", error: expect.stringMatching(/4 active connection/) });
    expect(ipvs.dests[0]).toMatchObject({ weight: 0, activeConns: 4 });
    await expect(drains.cancel(s.id)).resolves.toMatchObject({ state: "cancelled" });
    expect(ipvs.dests[0]!.weight).toBe(3);
    expect(ipvs.calls).toEqual(["set 192.0.2.11 w0", "set 192.0.2.11 w3"]);
  });

  it("cancel while draining stops the job and puts the weight back", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const ipvs = fakeIpvs();
    const drains = createDrainManager({ open: ipvs.open, sleep: () => gate });
    const s = await drains.start(INPUT);
    const cancelled = drains.cancel(s.id);
    release();
    await expect(cancelled).resolves.toMatchObject({ state: "cancelled" });
    expect(ipvs.dests.find((d) => d.address === "192.0.2.11")!.weight).toBe(3);
    expect(ipvs.calls).not.toContain("del 192.0.2.11");
  });

  it("refuses a real server the service does not have, and a second drain of the same one", async () => {
    const { drains, ipvs } = harness(() => undefined);
    await expect(drains.start({ ...INPUT, dest: { address: "192.0.2.99", port: 80 } })).rejects.toThrow(/no real server 192\.0\.2\.99:80/);
    expect(ipvs.calls).toEqual([]);
    const s = await drains.start({ ...INPUT, timeoutSeconds: 3600 });
    await expect(drains.start(INPUT)).rejects.toThrow(/already draining/);
    await drains.cancel(s.id);
  });

  it("says when someone else removed the real server meanwhile", async () => {
    const { ipvs, drains } = harness(() => ipvs.dests.splice(0, 1));
    const s = await drains.start(INPUT);
    await expect(drains.settled(s.id)).resolves.toMatchObject({ state: "gone" });
  });
});
