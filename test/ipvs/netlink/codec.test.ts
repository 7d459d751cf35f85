// Encode/decode round trips for every IPVS attribute (the tables in constants.ts are the checklist), the
// request forms the kernel expects, and what happens to short, bad and unknown attributes.
import { describe, expect, it } from "vitest";
import { AttrCursor, AttrEncoder, toHex } from "@/server/kernel/genl/attrs";
import {
  decodeDaemon,
  decodeDest,
  decodeInfo,
  decodeNest,
  decodeService,
  decodeTimeouts,
  destConfigAttrs,
  destinationAttrs,
  encodeDaemon,
  encodeDest,
  encodeInfo,
  encodeService,
  encodeTimeouts,
  serviceConfigAttrs,
  serviceExtendedAttrs,
} from "@/server/ipvs/netlink/codec";
import {
  IPVS_CMD_ATTR,
  IPVS_DAEMON_ATTR,
  IPVS_DEST_ATTR,
  IPVS_INFO_ATTR,
  IPVS_STATS_ATTR,
  IPVS_SVC_ATTR,
  type AttrTable,
} from "@/server/ipvs/netlink/constants";
import type { Destination, ServiceExtended, Stats, SyncDaemon } from "@/server/ipvs/netlink/types";

const stats = (base: bigint): Stats => ({
  conns: base + 1n, inPkts: base + 2n, outPkts: base + 3n, inBytes: base + 4n, outBytes: base + 5n,
  cps: base + 6n, inPps: base + 7n, outPps: base + 8n, inBps: base + 9n, outBps: base + 10n, width: 64,
});

/** The attribute types present at the top of a nest. */
function typesIn(nest: Uint8Array): Set<number> {
  const c = new AttrCursor(nest);
  const out = new Set<number>();
  while (c.next()) out.add(c.type);
  return out;
}
function nestOf(stream: Uint8Array, type: number): Uint8Array {
  const c = new AttrCursor(stream);
  while (c.next()) if (c.type === type) return c.bytes();
  throw new Error(`no attribute ${type}`);
}
const ids = (t: AttrTable, except: string[] = []) => new Set(Object.entries(t).filter(([k]) => !except.includes(k)).map(([, d]) => d.id));

const fullService: ServiceExtended = {
  service: { family: "inet", protocol: "sctp", address: "192.0.2.1", port: 5060, netmask: { kind: "mask", mask: "255.255.255.0" } },
  scheduler: "mh",
  persistenceEngine: "sip",
  flags: { persistent: true, hashed: true, onePacket: true, sched1: true, sched2: false, sched3: true, raw: 0x2f },
  timeout: 300,
  stats: stats(1n << 40n),
  unknown: [{ type: 99, nested: false, value: Uint8Array.of(1, 2, 3, 4) }],
};

describe("service attributes", () => {
  it("round-trips every IPVS_SVC_ATTR_* (addressed service; fwmark below)", () => {
    const e = new AttrEncoder();
    encodeService(e, serviceExtendedAttrs(fullService));
    const stream = e.finish();
    const nest = nestOf(stream, IPVS_CMD_ATTR.SERVICE.id);
    expect(typesIn(nest)).toEqual(new Set([...ids(IPVS_SVC_ATTR, ["FWMARK"]), 99]));
    const d = decodeNest(stream, IPVS_CMD_ATTR.SERVICE.id, decodeService);
    expect(d).toEqual({ ok: true, value: fullService });
  });

  it("round-trips a fwmark service, IPv6 with a prefix", () => {
    const s: ServiceExtended = {
      ...fullService,
      service: { family: "inet6", fwmark: 4294967295, netmask: { kind: "prefix", prefix: 64 } },
      persistenceEngine: undefined,
      unknown: [],
    };
    delete s.persistenceEngine;
    const e = new AttrEncoder();
    encodeService(e, serviceExtendedAttrs(s));
    const nest = nestOf(e.finish(), IPVS_CMD_ATTR.SERVICE.id);
    expect(typesIn(nest).has(IPVS_SVC_ATTR.FWMARK.id)).toBe(true);
    expect(typesIn(nest).has(IPVS_SVC_ATTR.ADDR.id)).toBe(false);
    expect(decodeService(new AttrCursor(nest))).toEqual({ ok: true, value: s });
  });

  it("round-trips every IPVS_STATS_ATTR_* counter in both nests, u64 in STATS64 and u32 in STATS", () => {
    const big = stats(1n << 40n);
    const e = new AttrEncoder();
    encodeService(e, { service: fullService.service, stats: big });
    const nest = nestOf(e.finish(), IPVS_CMD_ATTR.SERVICE.id);
    const s64 = nestOf(nest, IPVS_SVC_ATTR.STATS64.id);
    const s32 = nestOf(nest, IPVS_SVC_ATTR.STATS.id);
    expect(typesIn(s64)).toEqual(ids(IPVS_STATS_ATTR, ["PAD"]));
    expect(typesIn(s32)).toEqual(ids(IPVS_STATS_ATTR, ["PAD"]));
    // STATS carries conns as u32 (the kernel's (u32) cast) but bytes as u64
    const c = new AttrCursor(s32);
    const widths = new Map<number, number>();
    while (c.next()) widths.set(c.type, c.length);
    expect(widths.get(IPVS_STATS_ATTR.CONNS.id)).toBe(4);
    expect(widths.get(IPVS_STATS_ATTR.INBYTES.id)).toBe(8);
  });

  it("falls back to the 32-bit STATS nest when STATS64 is absent, and skips IPVS_STATS_ATTR_PAD", () => {
    const inner = new AttrEncoder().u32(1, 7).bytes(IPVS_STATS_ATTR.PAD.id, new Uint8Array()).u64(4, 5000000000n).u32(6, 3).finish();
    const nest = new AttrEncoder().u16(1, 2).u32(5, 1).string(6, "rr").bytes(IPVS_SVC_ATTR.STATS.id, inner).finish();
    const d = decodeService(new AttrCursor(nest));
    expect(d.ok && d.value.stats).toEqual({ ...stats(0n), conns: 7n, inPkts: 0n, outPkts: 0n, inBytes: 5000000000n, outBytes: 0n, cps: 3n, inPps: 0n, outPps: 0n, inBps: 0n, outBps: 0n, width: 32 });
  });

  it("sends a key with only the identifying attributes", () => {
    const e = new AttrEncoder();
    encodeService(e, { service: { family: "inet", protocol: "tcp", address: "192.0.2.1", port: 80 } });
    expect(toHex(e.finish())).toBe(
      "3000" + "0100" + // IPVS_CMD_ATTR_SERVICE, 48 bytes
        "0600" + "0100" + "02000000" + // AF = AF_INET
        "0600" + "0200" + "06000000" + // PROTOCOL = TCP
        "1400" + "0300" + "c0000201" + "000000000000000000000000" + // ADDR, 16 bytes
        "0600" + "0400" + "00500000", // PORT 80, big-endian
    );
  });

  it("sends a full entry with a flags mask that leaves IP_VS_SVC_F_HASHED to the kernel", () => {
    const a = serviceConfigAttrs({ service: { family: "inet", protocol: "tcp", address: "192.0.2.1", port: 80 }, scheduler: "sh", persistent: true, sched1: true });
    expect(a.flags).toEqual({ flags: 0x1 | 0x8, mask: 0x3d });
    expect(a.timeout).toBe(300);
    const e = new AttrEncoder();
    encodeService(e, a);
    const nest = nestOf(e.finish(), IPVS_CMD_ATTR.SERVICE.id);
    expect(typesIn(nest)).toEqual(new Set([1, 2, 3, 4, 6, 7, 8, 9]));
    expect(toHex(nestOf(nest, IPVS_SVC_ATTR.NETMASK.id))).toBe("ffffffff");
    expect(toHex(nestOf(nest, IPVS_SVC_ATTR.FLAGS.id))).toBe("090000003d000000");
  });

  it("encodes the netmask as ipvsadm does: IPv4 mask in network order, IPv6 prefix as a host-order u32", () => {
    const enc = (svc: Parameters<typeof encodeService>[1]["service"]) => {
      const e = new AttrEncoder();
      encodeService(e, { service: svc, scheduler: "rr" });
      return toHex(nestOf(nestOf(e.finish(), IPVS_CMD_ATTR.SERVICE.id), IPVS_SVC_ATTR.NETMASK.id));
    };
    expect(enc({ family: "inet", fwmark: 1, netmask: { kind: "mask", mask: "255.255.255.0" } })).toBe("ffffff00");
    expect(enc({ family: "inet6", fwmark: 1, netmask: { kind: "prefix", prefix: 64 } })).toBe("40000000");
    expect(enc({ family: "inet6", fwmark: 1 })).toBe("80000000");
    expect(() => enc({ family: "inet6", fwmark: 1, netmask: { kind: "prefix", prefix: 0 } })).toThrow(/1\.\.128/);
    expect(() => enc({ family: "inet", protocol: "tcp", address: "2001:db8::1", port: 1 })).toThrow(/not an IPv4 address/);
    expect(() => enc({ family: "inet", protocol: "tcp", address: "192.0.2.1", port: 65536 })).toThrow(/port/);
  });

  it("keeps unknown attributes and reports bad ones with their path", () => {
    const nest = new AttrEncoder().u16(1, 2).u32(5, 9).string(6, "rr").u32(200, 1234).finish();
    const d = decodeService(new AttrCursor(nest));
    expect(d.ok && d.value.unknown).toEqual([{ type: 200, nested: false, value: Uint8Array.of(0xd2, 0x04, 0, 0) }]);
    const badStats = new AttrEncoder().u16(1, 2).u32(5, 9).nested(IPVS_SVC_ATTR.STATS64.id, (n) => n.u32(IPVS_STATS_ATTR.INBYTES.id, 1)).finish();
    const b = decodeService(new AttrCursor(badStats, "IPVS_CMD_ATTR_SERVICE"));
    expect(b).toEqual({
      ok: false,
      problem: { kind: "truncated", path: "IPVS_CMD_ATTR_SERVICE > IPVS_SVC_ATTR_STATS64 > IPVS_STATS_ATTR_INBYTES", offset: 0, message: "expected a 8-byte payload, got 4" },
    });
    const noAf = decodeService(new AttrCursor(new AttrEncoder().u32(5, 9).finish()));
    expect(noAf).toMatchObject({ ok: false, problem: { kind: "malformed", message: "service has no IPVS_SVC_ATTR_AF" } });
    const badProto = decodeService(new AttrCursor(new AttrEncoder().u16(1, 2).u16(2, 99).bytes(3, new Uint8Array(16)).be16(4, 1).finish()));
    expect(badProto).toMatchObject({ ok: false, problem: { message: "unknown protocol 99" } });
    const shortAddr = decodeService(new AttrCursor(new AttrEncoder().u16(1, 2).u16(2, 6).bytes(3, new Uint8Array(4)).be16(4, 1).finish()));
    expect(shortAddr).toMatchObject({ ok: false, problem: { kind: "truncated", path: "IPVS_SVC_ATTR_ADDR" } });
  });
});

const fullDest: Destination = {
  address: "198.51.100.4",
  port: 80,
  family: "inet",
  forward: "tunnel",
  weight: 4294967295,
  upperThreshold: 1000,
  lowerThreshold: 10,
  activeConns: 4000000000,
  inactiveConns: 5,
  persistentConns: 6,
  tunnel: { type: "gue", port: 6080, csum: true, remcsum: true, rawFlags: 3 },
  stats: stats(1n << 50n),
  unknown: [{ type: 77, nested: false, value: Uint8Array.of(9, 9, 9, 9) }],
};

describe("destination attributes", () => {
  it("round-trips every IPVS_DEST_ATTR_*, with u32 weight and counters over their full range", () => {
    const e = new AttrEncoder();
    encodeDest(e, destinationAttrs(fullDest));
    const stream = e.finish();
    expect(typesIn(nestOf(stream, IPVS_CMD_ATTR.DEST.id))).toEqual(new Set([...ids(IPVS_DEST_ATTR), 77]));
    expect(decodeNest(stream, IPVS_CMD_ATTR.DEST.id, (c) => decodeDest(c, "inet"))).toEqual({ ok: true, value: fullDest });
  });

  it("decodes each forwarding method and tunnel type, and IPv6 via IPVS_DEST_ATTR_ADDR_FAMILY", () => {
    for (const forward of ["masq", "local", "tunnel", "route"] as const) {
      for (const type of ["ipip", "gue", "gre"] as const) {
        const d: Destination = { ...fullDest, address: "::1", family: "inet6", forward, tunnel: { type, port: 0, csum: false, remcsum: false, rawFlags: 0 }, unknown: [] };
        const e = new AttrEncoder();
        encodeDest(e, destinationAttrs(d));
        expect(decodeNest(e.finish(), IPVS_CMD_ATTR.DEST.id, (c) => decodeDest(c, "inet"))).toEqual({ ok: true, value: d });
      }
    }
  });

  it("uses the service's family when IPVS_DEST_ATTR_ADDR_FAMILY is absent (kernels before 3.18)", () => {
    const addr = new Uint8Array(16);
    addr[15] = 1;
    const nest = new AttrEncoder().bytes(1, addr).be16(2, 8080).u32(3, 0).u32(4, 1).finish();
    const d = decodeDest(new AttrCursor(nest), "inet6");
    expect(d).toMatchObject({ ok: true, value: { address: "::1", family: "inet6", port: 8080, forward: "masq", weight: 1 } });
    expect(d.ok && d.value.tunnel).toBeUndefined();
    expect(d.ok && d.value.stats).toBeUndefined();
  });

  it("reports an unknown forwarding method or tunnel type instead of guessing", () => {
    const base = () => new AttrEncoder().bytes(1, new Uint8Array(16)).be16(2, 1).u32(4, 1);
    expect(decodeDest(new AttrCursor(base().u32(3, 5).finish()), "inet")).toMatchObject({ ok: false, problem: { kind: "malformed", message: "unknown forwarding method 5", path: "IPVS_DEST_ATTR_FWD_METHOD" } });
    expect(decodeDest(new AttrCursor(base().u32(3, 2).u8(13, 9).finish()), "inet")).toMatchObject({ ok: false, problem: { message: "unknown tunnel type 9" } });
    expect(decodeDest(new AttrCursor(base().finish()), "inet")).toMatchObject({ ok: false, problem: { message: "destination lacks its address, port or forwarding method" } });
  });

  it("sends NEW_DEST's fields, and DEL_DEST's key only", () => {
    const e = new AttrEncoder();
    encodeDest(e, destConfigAttrs({ address: "198.51.100.2", port: 80, forward: "tunnel", weight: 2147483647, upperThreshold: 9, lowerThreshold: 1, tunnel: { type: "gue", port: 6080, csum: true } }, "inet"));
    const nest = nestOf(e.finish(), IPVS_CMD_ATTR.DEST.id);
    expect(typesIn(nest)).toEqual(new Set([1, 2, 3, 4, 5, 6, 13, 14, 15]));
    expect(toHex(nestOf(nest, IPVS_DEST_ATTR.TUN_PORT.id))).toBe("17c0");
    const k = new AttrEncoder();
    encodeDest(k, { address: "198.51.100.2", port: 80, addressFamily: "inet" });
    expect(typesIn(nestOf(k.finish(), IPVS_CMD_ATTR.DEST.id))).toEqual(new Set([1, 2]));
  });
});

describe("daemon, timeout and info attributes", () => {
  it("round-trips every IPVS_DAEMON_ATTR_* (the IPv4 group, then the IPv6 one)", () => {
    const v4: SyncDaemon = { state: "backup", mcastInterface: "eth1", syncId: 6, syncMaxLen: 1400, mcastGroup: "224.0.0.99", mcastPort: 9000, mcastTtl: 2, unknown: [] };
    const v6: SyncDaemon = { ...v4, state: "master", mcastGroup: "ff02::81" };
    const seen = new Set<number>();
    for (const d of [v4, v6]) {
      const e = new AttrEncoder();
      encodeDaemon(e, d);
      const stream = e.finish();
      for (const t of typesIn(nestOf(stream, IPVS_CMD_ATTR.DAEMON.id))) seen.add(t);
      expect(decodeNest(stream, IPVS_CMD_ATTR.DAEMON.id, decodeDaemon)).toEqual({ ok: true, value: d });
    }
    expect(seen).toEqual(ids(IPVS_DAEMON_ATTR));
  });

  it("round-trips the timeouts (IPVS_CMD_ATTR_TIMEOUT_*) and sends only the ones given", () => {
    const e = new AttrEncoder();
    encodeTimeouts(e, { tcp: 900, tcpFin: 120, udp: 300 });
    const b = e.finish();
    expect(typesIn(b)).toEqual(new Set([IPVS_CMD_ATTR.TIMEOUT_TCP.id, IPVS_CMD_ATTR.TIMEOUT_TCP_FIN.id, IPVS_CMD_ATTR.TIMEOUT_UDP.id]));
    expect(decodeTimeouts(new AttrCursor(b))).toEqual({ ok: true, value: { tcp: 900, tcpFin: 120, udp: 300 } });
    const one = new AttrEncoder();
    encodeTimeouts(one, { udp: 5 });
    expect(typesIn(one.finish())).toEqual(new Set([IPVS_CMD_ATTR.TIMEOUT_UDP.id]));
  });

  it("round-trips IPVS_INFO_ATTR_* and spells the version", () => {
    const e = new AttrEncoder();
    encodeInfo(e, { versionCode: 0x010201, version: "1.2.1", connTableSize: 4096 });
    const b = e.finish();
    expect(typesIn(b)).toEqual(ids(IPVS_INFO_ATTR));
    expect(decodeInfo(new AttrCursor(b))).toEqual({ ok: true, value: { versionCode: 0x010201, version: "1.2.1", connTableSize: 4096 } });
    expect(decodeInfo(new AttrCursor(new AttrEncoder().u32(1, 1).finish()))).toMatchObject({ ok: false });
  });

  it("covers every IPVS_CMD_ATTR_* between the nests and the timeouts", () => {
    const e = new AttrEncoder();
    encodeService(e, { service: { family: "inet", fwmark: 1 } });
    encodeDest(e, { address: "198.51.100.2", port: 0, addressFamily: "inet" });
    encodeDaemon(e, { state: "master" });
    encodeTimeouts(e, { tcp: 1, tcpFin: 2, udp: 3 });
    expect(typesIn(e.finish())).toEqual(ids(IPVS_CMD_ATTR));
  });

  it("reports a reply without the expected nest", () => {
    expect(decodeNest(new Uint8Array(), IPVS_CMD_ATTR.SERVICE.id, decodeService)).toMatchObject({ ok: false, problem: { message: "reply has no IPVS_CMD_ATTR_SERVICE" } });
  });
});
