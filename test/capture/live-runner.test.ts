// The live runner's plumbing with a stand-in capture (the real one is proven in the lab:
// test/kernel/capture-live.test.ts): the filter comes from the site, packets reach the engine, a changed site
// reopens the capture with its new filter (the new one first), stop closes it.

import { describe, expect, it } from "vitest";
import { startLiveDiagnostics } from "@/server/capture/live/runner";
import type { CapturedPacket, LiveCapture, LiveCaptureOptions } from "@/server/kernel/capture";
import type { SiteContext } from "@/server/diagnostics/types";
import { M, VIP, drConnection } from "../diagnostics/ip-frames";

const DR: SiteContext = {
  vips: [{ address: VIP, mode: "dr" }],
  directors: [{ ip: "192.0.2.1", mac: M.dir }],
  realServers: [{ ip: "192.0.2.11", mac: M.rs1 }, { ip: "192.0.2.12", mac: M.rs2 }],
};

function standIn() {
  const opened: { filter: string; deliver: (p: CapturedPacket) => void; closed: boolean }[] = [];
  const open = (o: LiveCaptureOptions, onPacket?: (p: CapturedPacket) => void): LiveCapture => {
    const entry = { filter: o.filter, deliver: onPacket!, closed: false };
    opened.push(entry);
    return {
      device: o.device, filter: o.filter, recent: () => [],
      stats: () => ({ captured: 0, kernelReceived: 0, kernelDropped: 0, interfaceDropped: 0, ringEvicted: 0, warnings: [] }),
      close: () => void (entry.closed = true),
    };
  };
  return { opened, open };
}

describe("live runner", () => {
  it("site -> filter, packets -> engine -> findings; a new site reopens the capture; stop closes it", () => {
    const cap = standIn();
    let now = 100;
    const seen: string[] = [];
    const live = startLiveDiagnostics({
      device: "lan0", site: DR, open: cap.open, now: () => now, intervalMs: 3_600_000,
      onEvents: (es) => seen.push(...es.map((e) => `${e.type} ${e.finding.kind}`)),
    });
    expect(cap.opened.map((o) => o.filter)).toEqual([
      "arp or host 192.0.2.1 or host 192.0.2.11 or host 192.0.2.12 or host 192.0.2.100 or (vlan and (arp or host 192.0.2.1 or host 192.0.2.11 or host 192.0.2.12 or host 192.0.2.100))",
    ]);
    drConnection(99, 40000, "rs2", M.dir).forEach(([t, data], index) => cap.opened[0]!.deliver({ index, time: t, data, origLen: data.length }));
    live.evaluate();
    expect(seen).toEqual(["opened reply-via-director"]);
    expect(live.state()).toMatchObject({ device: "lan0", window: { pushed: 3, inWindow: 3 }, evaluatedAt: 100 });

    live.setSite(DR); // same filter: the capture stays
    expect(cap.opened).toHaveLength(1);
    live.setSite({ ...DR, realServers: [...DR.realServers, { ip: "192.0.2.13" }] });
    expect(cap.opened).toHaveLength(2);
    expect(cap.opened[0]!.closed).toBe(true);
    expect(cap.opened[1]!.filter).toMatch(/host 192\.0\.2\.13/);
    expect(live.state().open.map((t) => t.kind)).toEqual(["reply-via-director"]); // the engine's state survives

    now = 130;
    live.stop();
    expect(cap.opened[1]!.closed).toBe(true);
  });
});
