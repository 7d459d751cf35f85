// The agent's capture session over a stand-in capture (libpcap itself is proven in the lab:
// test/kernel/diagnostics-live.test.ts): interface names are checked before anything opens, ARP answers are
// told apart per VIP with their roles, findings come with a cursor, and a finding's evidence comes back as a
// pcap that holds exactly its packets, also after the capture stopped.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { CaptureSessions, SessionError } from "@/server/capture/live/session";
import { parseProcNetArp } from "@/server/capture/live/site";
import { L_ARP, decodePacket, newDecodedPacket } from "@/server/capture/decode/packet";
import { formatMac } from "@/server/capture/decode/bytes";
import { readPcap, recordTime } from "@/server/capture/pcapfile/reader";
import type { SiteContext } from "@/server/diagnostics/types";
import type { CapturedPacket, LiveCapture, LiveCaptureOptions } from "@/server/kernel/capture";

import { IP, MAC, arpFrame, whoHasVip } from "../diagnostics/arp-frames";

const SITE: SiteContext = {
  vips: [{ address: IP.vip, mode: "dr", ports: [80], realServers: [{ ip: IP.rs1, port: 80 }, { ip: IP.rs2, port: 80 }] }],
  directors: [{ ip: IP.director, mac: MAC.director }],
  realServers: [{ ip: IP.rs1, mac: MAC.rs1 }, { ip: IP.rs2, mac: MAC.rs2 }],
};
const T0 = 1_795_253_400;

function standIn() {
  const taps: { device: string; filter: string; deliver: (p: CapturedPacket) => void; closed: boolean }[] = [];
  let n = 0;
  const open = (o: LiveCaptureOptions, onPacket?: (p: CapturedPacket) => void): LiveCapture => {
    if (o.device === "nosuch0") throw new Error("cannot capture on nosuch0: No such device exists");
    const tap = { device: o.device, filter: o.filter, deliver: onPacket!, closed: false };
    taps.push(tap);
    return {
      device: o.device, filter: o.filter, recent: () => [],
      stats: () => ({ captured: n, kernelReceived: n, kernelDropped: 0, interfaceDropped: 0, ringEvicted: 0, warnings: [] }),
      close: () => void (tap.closed = true),
    };
  };
  const send = (time: number, data: Uint8Array) => {
    for (const t of taps.filter((x) => !x.closed)) t.deliver({ index: n, time, data, origLen: data.length });
    n++;
  };
  return { taps, open, send };
}

let now = T0;
beforeEach(() => {
  vi.useFakeTimers();
  now = T0;
});
afterEach(() => vi.useRealTimers());

function sessions(cap: ReturnType<typeof standIn>) {
  return new CaptureSessions({
    readSite: async () => ({ site: SITE, interfaces: [{ name: "lan0", addresses: [IP.director], mac: MAC.director }], problem: null }),
    open: cap.open, now: () => now, newSessionId: () => "0a1b2c3d",
  });
}

/** Moves both clocks: the session's (seconds) and the timers'. */
function advance(seconds: number) {
  now += seconds;
  vi.advanceTimersByTime(seconds * 1000);
}

describe("capture session", () => {
  it("refuses interface names that are not names, and interfaces that do not open, before anything runs", async () => {
    const cap = standIn();
    const s = sessions(cap);
    await expect(s.start(["../../etc/passwd"])).rejects.toThrow(SessionError);
    await expect(s.start(["eth0 or 1"])).rejects.toThrow(/not an interface name/);
    await expect(s.start([])).rejects.toThrow(/choose 1 to 4/);
    await expect(s.start(["lan0", "nosuch0"])).rejects.toThrow(/No such device/);
    expect(cap.taps.map((t) => t.closed)).toEqual([true]); // lan0 opened first, then closed again
    expect(s.status().running).toBe(false);
  });

  it("per VIP: who answered ARP (director and a real server, named), packets/s; the finding, its events and its evidence pcap", async () => {
    const cap = standIn();
    const s = sessions(cap);
    const started = await s.start(["lan0"]);
    expect(started).toMatchObject({ running: true, session: "0a1b2c3d", taps: [{ device: "lan0" }] });
    expect(cap.taps[0]!.filter).toMatch(/^arp or host 192\.0\.2\.1 or/);

    // rs2 sends its own ARP (learned: 192.0.2.12 is at rs2's MAC), then answers for the VIP next to the director.
    cap.send(now + 0.1, arpFrame({ op: "request", sha: MAC.rs2, spa: IP.rs2, tpa: IP.router }));
    for (const [t, spec] of whoHasVip(0.5, "director", "rs2")) cap.send(now + t, arpFrame(spec));
    advance(1);
    advance(1);

    const st = s.status();
    expect(st.vips).toHaveLength(1);
    const vip = st.vips[0]!;
    expect(vip.questions).toBe(1);
    expect(vip.arp.map((a) => [a.mac, a.role, a.ip, a.answers])).toEqual(
      expect.arrayContaining([[MAC.director, "director", IP.director, 1], [MAC.rs2, "real-server", IP.rs2, 1]]),
    );
    expect(st.taps[0]).toMatchObject({ device: "lan0", captured: 4, kernelDropped: 0 });
    expect(st.taps[0]!.packetsPerSecond).toBeGreaterThan(0);

    const report = s.findings(0);
    expect(report.running).toBe(true);
    const rs2 = report.open.find((f) => f.kind === "arp-real-server-claims-vip");
    expect(rs2, JSON.stringify(report.open.map((f) => f.kind))).toBeDefined();
    expect(rs2!.hosts[0]).toEqual({ ip: IP.rs2, mac: MAC.rs2, role: "real-server" });
    expect(rs2!.evidenceId).toMatch(/^0a1b2c3d-[1-9]\d*$/);
    expect(report.events.map((e) => e.type)).toContain("opened");
    expect(report.cursor).toBe(report.events.at(-1)!.seq);
    expect(s.findings(report.cursor).events).toEqual([]); // nothing new since the cursor

    // The evidence: the packets the finding names, as a pcap, with their numbers and times.
    const ref = Number(rs2!.evidenceId.split("-")[1]);
    s.stop();
    expect(cap.taps[0]!.closed).toBe(true);
    const file = s.evidence("0a1b2c3d", ref);
    if (!file.found) throw new Error(file.reason);
    expect(file.packets.map((p) => p.number)).toEqual(rs2!.evidence.map((e) => e.number));
    const bytes = Buffer.from(file.pcapBase64, "base64");
    const frames: { sender: string; op: number; time: number }[] = [];
    const p = newDecodedPacket();
    await readPcap((async function* () { yield new Uint8Array(bytes); })(), (r) => {
      decodePacket(r.buf, r.offset, r.offset + r.caplen, p);
      expect(p.layers & L_ARP).toBeTruthy();
      frames.push({ sender: formatMac(p.arp.senderMac), op: p.arp.op, time: recordTime(r) });
    });
    expect(frames).toContainEqual({ sender: MAC.rs2, op: 2, time: expect.closeTo(now - 2 + 0.5002, 5) });

    expect(s.evidence("ffffffff", ref)).toMatchObject({ found: false });
    expect(s.evidence("0a1b2c3d", 999)).toMatchObject({ found: false });
    expect(s.findings(0).running).toBe(false);
  });
});

describe("/proc/net/arp", () => {
  it("keeps complete Ethernet entries only", () => {
    const text =
      "IP address       HW type     Flags       HW address            Mask     Device\n" +
      "192.0.2.12       0x1         0x2         02:00:00:00:00:12     *        eth0\n" +
      "192.0.2.13       0x1         0x0         00:00:00:00:00:00     *        eth0\n" +
      "192.0.2.254      0x1         0x6         02:00:00:00:00:fe     *        eth0\n";
    expect([...parseProcNetArp(text)]).toEqual([["192.0.2.12", "02:00:00:00:00:12"], ["192.0.2.254", "02:00:00:00:00:fe"]]);
  });
});
