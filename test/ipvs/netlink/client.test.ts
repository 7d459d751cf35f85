// IpvsClient over a fake transport (a function from request to replies): which command each method sends, as
// a dump or not, with which attributes; how replies become objects; how errnos become IpvsErrors.
import { describe, expect, it } from "vitest";
import { AttrCursor, AttrEncoder } from "@/server/kernel/genl/attrs";
import { GenlError, fakeGenlTransport, type GenlFakeRequest, type GenlReply } from "@/server/kernel/genl/transport";
import { IpvsClient, IpvsError, describeService, toIpvsError } from "@/server/ipvs/netlink/client";
import { destinationAttrs, encodeDest, encodeService, serviceExtendedAttrs } from "@/server/ipvs/netlink/codec";
import { IPVS_CMD, IPVS_CMD_ATTR } from "@/server/ipvs/netlink/constants";
import type { Destination, ServiceExtended } from "@/server/ipvs/netlink/types";

const zero = { conns: 0n, inPkts: 0n, outPkts: 0n, inBytes: 0n, outBytes: 0n, cps: 0n, inPps: 0n, outPps: 0n, inBps: 0n, outBps: 0n, width: 64 as const };
const flags = { persistent: false, hashed: true, onePacket: false, sched1: false, sched2: false, sched3: false, raw: 2 };
const svcA: ServiceExtended = { service: { family: "inet", protocol: "tcp", address: "192.0.2.1", port: 80, netmask: { kind: "mask", mask: "255.255.255.255" } }, scheduler: "rr", flags, timeout: 0, stats: zero, unknown: [] };
const svcB: ServiceExtended = { service: { family: "inet6", fwmark: 9, netmask: { kind: "prefix", prefix: 128 } }, scheduler: "wlc", flags, timeout: 0, stats: zero, unknown: [] };
const dest: Destination = { address: "198.51.100.2", port: 80, family: "inet", forward: "route", weight: 3, upperThreshold: 0, lowerThreshold: 0, activeConns: 1, inactiveConns: 2, persistentConns: 0, tunnel: { type: "ipip", port: 0, csum: false, remcsum: false, rawFlags: 0 }, stats: zero, unknown: [] };

const reply = (cmd: number, fill: (e: AttrEncoder) => void): GenlReply => {
  const e = new AttrEncoder();
  fill(e);
  return { cmd, version: 1, attrs: e.finish() };
};
const topTypes = (r: GenlFakeRequest) => {
  const c = new AttrCursor(r.attrs);
  const t: number[] = [];
  while (c.next()) t.push(c.type);
  return t;
};

/** A small in-memory kernel: two services, one destination on the first. */
function kernel() {
  return fakeGenlTransport((req) => {
    switch (req.cmd) {
      case IPVS_CMD.GET_SERVICE.id:
        return [svcA, svcB].map((s) => reply(IPVS_CMD.NEW_SERVICE.id, (e) => encodeService(e, serviceExtendedAttrs(s))));
      case IPVS_CMD.GET_DEST.id: {
        const c = new AttrCursor(req.attrs);
        c.next();
        const isA = c.length === 44; // the addressed service's key (AF, PROTOCOL, ADDR, PORT)
        return isA ? [reply(IPVS_CMD.NEW_DEST.id, (e) => encodeDest(e, destinationAttrs(dest)))] : [];
      }
      default:
        return [];
    }
  });
}

describe("IpvsClient requests", () => {
  it("sends each command with its flags and attributes", async () => {
    const t = kernel();
    const c = new IpvsClient(t);
    const key = svcA.service;
    await c.newService({ service: key, scheduler: "rr" });
    await c.setService({ service: key, scheduler: "wlc" });
    await c.delService(key);
    await c.newDest(key, { address: "198.51.100.2", port: 80, forward: "route", weight: 1 });
    await c.setDest(key, { address: "198.51.100.2", port: 80, forward: "route", weight: 2 });
    await c.delDest(key, { address: "198.51.100.2", port: 80 });
    await c.newDaemon({ state: "master", mcastInterface: "eth0", syncId: 1 });
    await c.delDaemon("master");
    await c.setConfig({ tcp: 1 });
    await c.zero(key);
    await c.zero();
    await c.flush();
    expect(t.requests.map((r) => [r.cmd, r.dump, topTypes(r)])).toEqual([
      [IPVS_CMD.NEW_SERVICE.id, false, [IPVS_CMD_ATTR.SERVICE.id]],
      [IPVS_CMD.SET_SERVICE.id, false, [IPVS_CMD_ATTR.SERVICE.id]],
      [IPVS_CMD.DEL_SERVICE.id, false, [IPVS_CMD_ATTR.SERVICE.id]],
      [IPVS_CMD.NEW_DEST.id, false, [IPVS_CMD_ATTR.SERVICE.id, IPVS_CMD_ATTR.DEST.id]],
      [IPVS_CMD.SET_DEST.id, false, [IPVS_CMD_ATTR.SERVICE.id, IPVS_CMD_ATTR.DEST.id]],
      [IPVS_CMD.DEL_DEST.id, false, [IPVS_CMD_ATTR.SERVICE.id, IPVS_CMD_ATTR.DEST.id]],
      [IPVS_CMD.NEW_DAEMON.id, false, [IPVS_CMD_ATTR.DAEMON.id]],
      [IPVS_CMD.DEL_DAEMON.id, false, [IPVS_CMD_ATTR.DAEMON.id]],
      [IPVS_CMD.SET_CONFIG.id, false, [IPVS_CMD_ATTR.TIMEOUT_TCP.id]],
      [IPVS_CMD.ZERO.id, false, [IPVS_CMD_ATTR.SERVICE.id]],
      [IPVS_CMD.ZERO.id, false, []],
      [IPVS_CMD.FLUSH.id, false, []],
    ]);
  });

  it("takes a snapshot with one service dump and one destination dump per service", async () => {
    const t = kernel();
    const snap = await new IpvsClient(t).snapshot();
    expect(t.requests.map((r) => [r.cmd, r.dump])).toEqual([
      [IPVS_CMD.GET_SERVICE.id, true],
      [IPVS_CMD.GET_DEST.id, true],
      [IPVS_CMD.GET_DEST.id, true],
    ]);
    expect(snap).toEqual([{ ...svcA, destinations: [dest] }, { ...svcB, destinations: [] }]);
  });

  it("refuses input the kernel would misread, without sending anything", async () => {
    const t = kernel();
    const c = new IpvsClient(t);
    const e = await c.newService({ service: { family: "inet", protocol: "tcp", address: "::1", port: 80 }, scheduler: "rr" }).catch((x: unknown) => x);
    expect(e).toMatchObject({ kind: "invalid", op: "NEW_SERVICE", message: 'IPVS_CMD_NEW_SERVICE not sent: service address "::1" is not an IPv4 address' });
    await expect(c.newDest(svcA.service, { address: "198.51.100.2", port: 80, forward: "route", weight: -1 })).rejects.toMatchObject({ kind: "invalid" });
    await expect(c.newDest(svcA.service, { address: "198.51.100.2", port: 80, forward: "route", weight: 2 ** 32 })).rejects.toMatchObject({ kind: "invalid" });
    await expect(c.newDaemon({ state: "backup", mcastInterface: "eth0", syncId: 1, mcastGroup: "not-an-address" })).rejects.toMatchObject({ kind: "invalid" });
    expect(t.requests).toEqual([]);
  });

  it("reports a reply it cannot decode as a protocol error with the problem attached", async () => {
    const bad = fakeGenlTransport(() => [reply(IPVS_CMD.NEW_SERVICE.id, (e) => e.nested(IPVS_CMD_ATTR.SERVICE.id, (n) => n.u16(1, 2).u32(5, 1).u16(10, 0)))]);
    const e = (await new IpvsClient(bad).listServices().catch((x: unknown) => x)) as IpvsError;
    expect(e.kind).toBe("protocol");
    expect(e.details.problem).toMatchObject({ kind: "truncated", path: "IPVS_CMD_ATTR_SERVICE > IPVS_SVC_ATTR_STATS" });
    const empty = fakeGenlTransport(() => []);
    await expect(new IpvsClient(empty).getInfo()).rejects.toMatchObject({ kind: "protocol", message: "the kernel acknowledged IPVS_CMD_GET_INFO without the expected reply" });
  });
});

describe("IpvsClient errors", () => {
  const svc = { family: "inet" as const, protocol: "udp" as const, address: "192.0.2.1", port: 53 };
  const errno = (n: number) => new GenlError("errno", "x", 1, n);
  const cases: [Parameters<typeof toIpvsError>[1], Parameters<typeof toIpvsError>[2], GenlError, string, string][] = [
    ["NEW_SERVICE", { service: svc, scheduler: "rr" }, errno(17), "exists", "service already exists: UDP 192.0.2.1:53"],
    ["NEW_DEST", { service: svc, dest: { address: "198.51.100.2", port: 53 } }, errno(17), "exists", "destination already exists: 198.51.100.2:53 in UDP 192.0.2.1:53"],
    ["DEL_SERVICE", { service: svc }, errno(3), "not-found", "no such service: UDP 192.0.2.1:53"],
    ["SET_DEST", { service: svc, dest: { address: "::1", port: 53 } }, errno(2), "not-found", "no such destination: [::1]:53 in UDP 192.0.2.1:53"],
    ["NEW_SERVICE", { service: svc, scheduler: "lblcr" }, errno(2), "scheduler-missing", "scheduler module ip_vs_lblcr not available"],
    ["SET_SERVICE", { service: svc, scheduler: "rr", persistenceEngine: "sip" }, errno(2), "scheduler-missing", "scheduler module ip_vs_rr or persistence engine module ip_vs_pe_sip not available"],
    ["NEW_DAEMON", { daemon: "master", mcastInterface: "eth9" }, errno(19), "no-device", "no such network interface: eth9"],
    ["NEW_DAEMON", { daemon: "master" }, errno(17), "daemon-running", "the master sync daemon is already running"],
    ["DEL_DAEMON", { daemon: "backup" }, errno(3), "daemon-stopped", "no backup sync daemon is running"],
    ["NEW_DEST", { service: svc, dest: { address: "198.51.100.2", port: 53 } }, errno(34), "out-of-range", "destination 198.51.100.2:53 rejected: weight must be 0..2147483647 and the lower threshold not above the upper"],
    ["GET_INFO", {}, errno(95), "unsupported", "this kernel's IPVS does not support IPVS_CMD_GET_INFO"],
    ["NEW_SERVICE", { service: { family: "inet6", fwmark: 1 } }, errno(97), "unsupported", "this kernel's IPVS does not support that address family (IPv6 needs CONFIG_IP_VS_IPV6)"],
    ["FLUSH", {}, errno(12), "kernel", "the kernel refused IPVS_CMD_FLUSH"],
    ["GET_SERVICE", {}, new GenlError("family-missing", "x", undefined, 2), "not-loaded", "IPVS is not loaded in this kernel: modprobe ip_vs"],
    ["GET_SERVICE", {}, new GenlError("permission", "x", 4, 1), "permission", "permission denied: run as root or grant CAP_NET_ADMIN"],
    ["GET_SERVICE", {}, new GenlError("timeout", "x", 4), "timeout", "the kernel did not answer IPVS_CMD_GET_SERVICE in time"],
    ["GET_SERVICE", {}, new GenlError("interrupted", "the kernel's table kept changing during the dump (4 attempts)", 4), "protocol", "IPVS IPVS_CMD_GET_SERVICE failed: the kernel's table kept changing during the dump (4 attempts)"],
  ];
  it.each(cases)("%s %j, %s -> %s", (op, subject, err, kind, message) => {
    const e = toIpvsError(err, op, subject);
    expect(e).toBeInstanceOf(IpvsError);
    expect([e.kind, e.message, e.errno, e.cause]).toEqual([kind, message, err.errno, err]);
    expect(e.message).not.toMatch(/\bE[A-Z]{3,}\b|errno/);
  });

  it("says what was sent when the kernel calls a request invalid", () => {
    const e = new AttrEncoder();
    encodeService(e, { service: svc });
    const x = toIpvsError(errno(22), "DEL_SERVICE", { service: svc }, e.finish());
    expect(x.kind).toBe("invalid");
    expect(x.message).toBe("the kernel rejected IPVS_CMD_DEL_SERVICE as invalid (UDP 192.0.2.1:53); sent IPVS_CMD_ATTR_SERVICE{AF(2) PROTOCOL(2) ADDR(16) PORT(2)}");
    expect(x.details.sent).toBe("IPVS_CMD_ATTR_SERVICE{AF(2) PROTOCOL(2) ADDR(16) PORT(2)}");
    expect(x.code).toBe("EINVAL");
  });

  it("names services as ipvsadm lists them", () => {
    expect(describeService({ family: "inet6", protocol: "sctp", address: "::1", port: 9 })).toBe("SCTP [::1]:9");
    expect(describeService({ family: "inet6", fwmark: 3 })).toBe("FWM 3 (IPv6)");
  });
});
