// The findings engine on synthetic time: a DR site whose rs2 starts answering ARP for the VIP (the router then
// sends the VIP's traffic straight to rs2), and stops again; a real server whose replies go to the director.

import { describe, expect, it } from "vitest";
import { FindingsEngine, type EngineEvent } from "@/server/diagnostics/engine";
import type { SiteContext } from "@/server/diagnostics/types";
import { arpFrame } from "./arp-frames";
import { CLIENT, M, SYN, VIP, drConnection, tcpFrame, type Frame } from "./ip-frames";

const DR: SiteContext = {
  vips: [{ address: VIP, mode: "dr", ports: [80] }],
  directors: [{ ip: "192.0.2.1", mac: M.dir }],
  realServers: [{ ip: "192.0.2.11", mac: M.rs1, name: "rs1" }, { ip: "192.0.2.12", mac: M.rs2, name: "rs2" }],
  gateways: [{ ip: "192.0.2.254", mac: M.router }],
};

const whoHas = (t: number): Frame => [t, arpFrame({ op: "request", sha: M.router, spa: "192.0.2.254", tpa: VIP })];
const isAt = (t: number, who: "dir" | "rs2"): Frame => [t, arpFrame({ op: "reply", sha: M[who], spa: VIP, tha: M.router, tpa: "192.0.2.254" })];
/** The router delivering a client SYN for the VIP straight to rs2's MAC. */
const straightToRs2 = (t: number, port: number): Frame => [t, tcpFrame({ from: M.router, to: M.rs2, src: CLIENT, sport: port, dst: VIP, dport: 80, flags: SYN })];

/** Feeds the frames in time order, evaluating every second; returns every event. */
function run(engine: FindingsEngine, frames: Frame[], until: number): EngineEvent[] {
  frames.sort((a, b) => a[0] - b[0]);
  const events: EngineEvent[] = [];
  let i = 0;
  for (let now = 1; now <= until; now++) {
    while (i < frames.length && frames[i]![0] <= now) {
      engine.push(frames[i]![1], frames[i]![0]);
      i++;
    }
    events.push(...engine.evaluate(now));
  }
  return events;
}

/** Traffic every 0.25 s from `from` to `to`: through the director (healthy) or straight to rs2 (fault). */
function traffic(from: number, to: number, bypass: boolean): Frame[] {
  const out: Frame[] = [];
  for (let t = from, port = 50000 + from * 8; t < to; t += 0.25, port++) {
    if (bypass) out.push(straightToRs2(t, port));
    else out.push(...drConnection(t, port, port % 3 === 0 ? "rs1" : "rs2"));
  }
  return out;
}

const describeEvents = (events: EngineEvent[]) => events.map((e) => `${e.time} ${e.type} ${e.finding.kind}`);

describe("findings engine", () => {
  it("a real server answering ARP for the VIP: reported at once, kept open while traffic bypasses the director, resolved after the fix", () => {
    const frames: Frame[] = [
      whoHas(0), isAt(0.01, "dir"), ...traffic(0.1, 10, false),
      // fault on at 10: the router asks again, rs2 answers too, and the router keeps rs2's MAC
      whoHas(10), isAt(10.01, "dir"), isAt(10.02, "rs2"), ...traffic(10.1, 30, true),
      // fixed at 30: the router asks again and only the director answers
      whoHas(30), isAt(30.01, "dir"), ...traffic(30.1, 50, false),
    ];
    const engine = new FindingsEngine(DR, { windowSeconds: 6 });
    const events = run(engine, frames, 50);
    expect(describeEvents(events)).toEqual([
      "11 opened arp-real-server-claims-vip",
      // the ARP answer leaves the window at 17: the bypassing traffic now speaks for the same problem
      "17 opened vip-traffic-bypasses-director",
      // 3 s (quietSeconds) after the last bypassing packet (29.85), the router having asked again at 30
      "33 resolved arp-real-server-claims-vip",
      "33 resolved vip-traffic-bypasses-director",
    ]);
    const [arp, bypass] = [events[0]!.finding, events[1]!.finding];
    expect(arp.finding.hosts[0]).toEqual({ ip: "192.0.2.12", mac: M.rs2, role: "real-server" });
    expect(bypass.finding.hosts[0]).toEqual({ ip: "192.0.2.12", mac: M.rs2, role: "real-server" });
    expect(arp.openedAt - 10).toBeLessThanOrEqual(10);
    expect(arp.resolvedAt! - 30).toBeLessThanOrEqual(10);
    expect(bypass.lastEvidenceAt).toBeGreaterThan(29.5);
    expect(engine.open()).toEqual([]);
    expect(engine.resolved().map((t) => t.kind).sort()).toEqual(["arp-real-server-claims-vip", "vip-traffic-bypasses-director"]);
  });

  it("evidence stops but no traffic follows: the finding stays open (a silent link proves nothing)", () => {
    const engine = new FindingsEngine(DR, { windowSeconds: 6 });
    const events = run(engine, [whoHas(0), isAt(0.01, "dir"), isAt(0.02, "rs2")], 30);
    expect(describeEvents(events)).toEqual(["1 opened arp-real-server-claims-vip"]);
    expect(engine.open()).toHaveLength(1);
  });

  it("a real server that answered ARP stays reported until the question is asked again and it no longer answers", () => {
    // The router kept the director's answer this time: traffic flows normally, nothing else shows rs2.
    const frames: Frame[] = [
      whoHas(0), isAt(0.01, "rs2"), isAt(0.02, "dir"), ...traffic(0.1, 20, false),
      whoHas(20), isAt(20.01, "rs2"), isAt(20.02, "dir"), ...traffic(20.1, 30, false), // still answering at 20
      whoHas(30), isAt(30.01, "dir"), ...traffic(30.1, 45, false), // fixed: only the director answers
    ];
    const engine = new FindingsEngine(DR, { windowSeconds: 6 });
    // Open from 1 to 30 although no claim was in the window from 7 to 20 and from 27 to 30 (no new question);
    // resolved at the first evaluation after the question at 30 got only the director's answer.
    expect(describeEvents(run(engine, frames, 45))).toEqual(["1 opened arp-real-server-claims-vip", "31 resolved arp-real-server-claims-vip"]);
  });

  it("sparse evidence (one failing connection every 3 s, as a client with a 3 s timeout makes) does not flap", () => {
    const NAT: SiteContext = {
      vips: [{ address: VIP, mode: "nat", ports: [80] }],
      directors: [{ ip: "192.0.2.1", mac: M.dir }, { ip: "198.51.100.1", mac: M.dirIn }],
      realServers: [{ ip: "198.51.100.11", mac: M.nrs1 }, { ip: "198.51.100.12", mac: M.nrs2 }],
    };
    const conn = (t: number, port: number, rs: "nrs1" | "nrs2", answered: boolean): Frame[] => {
      const rip = rs === "nrs1" ? "198.51.100.11" : "198.51.100.12";
      const out: Frame[] = [[t, tcpFrame({ from: M.dirIn, to: M[rs], src: CLIENT, sport: port, dst: rip, dport: 80, flags: SYN })]];
      if (answered) out.push([t + 0.01, tcpFrame({ from: M[rs], to: M.dirIn, src: rip, sport: 80, dst: CLIENT, dport: port, flags: SYN | 0x10 })]);
      return out;
    };
    const frames: Frame[] = [];
    let port = 30000;
    for (let t = 0; t < 60; t += 0.5) frames.push(...conn(t, port++, "nrs1", true));
    for (let t = 0.2; t < 30; t += 3) frames.push(...conn(t, port++, "nrs2", false)); // broken until 30
    for (let t = 30.2; t < 60; t += 0.7) frames.push(...conn(t, port++, "nrs2", true)); // fixed
    const engine = new FindingsEngine(NAT);
    const events = run(engine, frames, 60);
    // Opened once the third unanswered connection is 1 s old; open throughout (no flapping between failures
    // 3 s apart); resolved when, after the fix at 30, rs2's answered connections outnumber its failures in the window.
    expect(describeEvents(events)).toEqual(["8 opened nat-syn-unanswered", "32 resolved nat-syn-unanswered"]);
    expect(events[0]!.finding.finding.hosts[0]!.ip).toBe("198.51.100.12");
  });

  it("a problem that comes back reopens the same finding", () => {
    const replies = (from: number, to: number) => {
      const out: Frame[] = [];
      for (let t = from, port = 60000 + from * 8; t < to; t += 0.5, port++) out.push(...drConnection(t, port, "rs2", M.dir));
      return out;
    };
    const frames = [...replies(0, 5), ...traffic(5, 20, false), ...replies(20, 25), ...traffic(25, 40, false)];
    const engine = new FindingsEngine(DR, { windowSeconds: 4 });
    const events = run(engine, frames, 40);
    expect(describeEvents(events)).toEqual([
      "1 opened reply-via-director",
      "8 resolved reply-via-director", // last offending packet 4.502: quiet for 3 s at 7.502
      "21 opened reply-via-director",
      "28 resolved reply-via-director",
    ]);
    expect(events[2]!.finding).toBe(events[0]!.finding);
    expect(events[2]!.finding.reopened).toBe(1);
    expect(events[3]!.finding.resolvedAt).toBe(28);
  });

  it("the window is bounded in packets as well as in time, and evidence refers to packets by their push order", () => {
    const engine = new FindingsEngine(DR, { windowSeconds: 1000, maxWindowPackets: 10 });
    for (let i = 0; i < 100; i++) engine.push(drConnection(i, 40000 + i, "rs1")[0]![1], i);
    expect(engine.counts).toEqual({ pushed: 100, inWindow: 10 });
    const frames = drConnection(100, 41000, "rs2", M.dir);
    for (const [t, f] of frames) engine.push(f, t);
    const [opened] = engine.evaluate(101);
    expect(opened!.finding.finding.evidence).toEqual([{ packetIndex: 102, time: 100.002 }]);
  });
});

describe("findings from the hosts' own state (effective sysctls)", () => {
  it("opens with the facts and resolves when the facts are read again fixed, without any packet", () => {
    const rs2 = (arpIgnore: number) => ({
      name: "rs2",
      sysctls: {
        "net.ipv4.conf.all.arp_ignore": arpIgnore, "net.ipv4.conf.eth0.arp_ignore": arpIgnore,
        "net.ipv4.conf.all.arp_announce": 2, "net.ipv4.conf.eth0.arp_announce": 2,
      },
      interfaces: [
        { name: "lo", up: true, linkType: "loopback", addresses: [{ address: VIP, prefixLen: 32 }] },
        { name: "eth0", up: true, linkType: "ether", mac: M.rs2, addresses: [{ address: "192.0.2.12", prefixLen: 24 }] },
      ],
    });
    const engine = new FindingsEngine({ ...DR, hostFacts: [rs2(0)] });
    const opened = engine.evaluate(1);
    expect(opened.map((e) => [e.type, e.finding.key])).toEqual([["opened", `sysctl-arp-ignore|192.0.2.12/${M.rs2}`]]);
    expect(engine.evaluate(2)).toEqual([]); // still so: still open, no new event
    engine.setSite({ ...DR, hostFacts: [rs2(1)] });
    const resolved = engine.evaluate(3);
    expect(resolved.map((e) => [e.type, e.finding.kind, e.finding.resolvedAt])).toEqual([["resolved", "sysctl-arp-ignore", 3]]);
    expect(engine.counts.pushed).toBe(0);
  });
});
