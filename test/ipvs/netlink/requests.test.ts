// Request encoding against ipvsadm's own requests, captured from the real kernel's netlink traffic (tcpdump on
// an nlmon interface in the lab: test/fixtures/netlink/ipvsadm-requests.json). For each ipvsadm command the
// client is asked for the same thing; every attribute it sends must carry the bytes ipvsadm sent. Where the
// two differ on purpose, the test says so:
//   - IPVS_SVC_ATTR_FLAGS: same flags word; ipvsadm's mask is ~0, ours leaves IP_VS_SVC_F_HASHED out;
//   - ipvsadm fills every service attribute even for a key (DEL/ZERO/NEW_DEST...), the kernel reads only
//     the identity there; it sends a destination's ADDR_FAMILY and zero tunnel attributes always, and an
//     empty interface and sync id to stop a daemon, which the kernel does not read either.
import { describe, expect, it } from "vitest";
import { AttrCursor, fromHex, toHex } from "@/server/kernel/genl/attrs";
import { fakeGenlTransport } from "@/server/kernel/genl/transport";
import { splitDatagram } from "@/server/kernel/genl/wire";
import { IpvsClient } from "@/server/ipvs/netlink/client";
import { IPVS_CMD } from "@/server/ipvs/netlink/constants";
import type { Service } from "@/server/ipvs/netlink/types";
import { loadFixture } from "./helpers";

const fixture = loadFixture("ipvsadm-requests") as ReturnType<typeof loadFixture> & { commands: string[]; messages: string[] };

type Tree = Map<number, string | Tree>;
const NESTS = new Set([1, 2, 3]); // IPVS_CMD_ATTR_SERVICE, _DEST, _DAEMON
function tree(b: Uint8Array, top = true): Tree {
  const c = new AttrCursor(b);
  const t: Tree = new Map();
  while (c.next()) t.set(c.type, top && NESTS.has(c.type) ? tree(c.bytes(), false) : toHex(c.bytes()));
  expect(c.problem).toBeUndefined();
  return t;
}

/** ipvsadm's IPVS requests, in command order: its controller lookups and GET_INFO calls left out. */
function ipvsadmRequests(): { cmd: number; attrs: Tree }[] {
  const out: { cmd: number; attrs: Tree }[] = [];
  for (const hex of fixture.messages) {
    const m = splitDatagram(fromHex(hex)).messages[0]!;
    const isRequest = (m.flags & 1) !== 0 && m.type >= 0x11;
    if (isRequest && m.payload[0] !== IPVS_CMD.GET_INFO.id) out.push({ cmd: m.payload[0]!, attrs: tree(m.payload.subarray(4)) });
  }
  return out;
}

const vip: Service = { family: "inet", protocol: "tcp", address: "192.0.2.1", port: 80 };
/** The client calls that mean the same as fixture.commands, in order. */
const calls: ((c: IpvsClient) => Promise<unknown>)[] = [
  (c) => c.newService({ service: { ...vip, netmask: { kind: "mask", mask: "255.255.255.0" } }, scheduler: "wlc", persistent: true, timeout: 300 }),
  (c) => c.newDest(vip, { address: "198.51.100.2", port: 80, forward: "masq", weight: 5, upperThreshold: 100, lowerThreshold: 10 }),
  (c) => c.newDest(vip, { address: "198.51.100.4", port: 80, forward: "tunnel", weight: 100000, tunnel: { type: "gue", port: 6080, csum: true } }),
  (c) => c.setDest(vip, { address: "198.51.100.2", port: 80, forward: "route", weight: 7 }),
  (c) => c.delDest(vip, { address: "198.51.100.2", port: 80 }),
  (c) => c.setService({ service: vip, scheduler: "rr" }),
  (c) => c.newService({ service: { family: "inet6", protocol: "udp", address: "::ffff:192.0.2.1", port: 53, netmask: { kind: "prefix", prefix: 64 } }, scheduler: "sh", sched2: true, onePacket: true, persistent: true, timeout: 60 }),
  (c) => c.newService({ service: { family: "inet", protocol: "sctp", address: "192.0.2.1", port: 5000 }, scheduler: "mh" }),
  (c) => c.newService({ service: { family: "inet", fwmark: 42 }, scheduler: "lc", persistenceEngine: "sip" }),
  (c) => c.zero(vip),
  (c) => c.zero(),
  (c) => c.setConfig({ tcp: 900, tcpFin: 120, udp: 300 }),
  (c) => c.newDaemon({ state: "backup", mcastInterface: "v1", syncId: 6, syncMaxLen: 1400, mcastGroup: "224.0.0.99", mcastPort: 9000, mcastTtl: 2 }),
  (c) => c.delDaemon("backup"),
  (c) => c.delService(vip),
  (c) => c.flush(),
];

/** What ipvsadm sends that the client leaves out, per nest (see the header). */
const SVC_KEY_EXTRAS = [6, 7, 8, 9]; // SCHED_NAME, FLAGS, TIMEOUT, NETMASK
const DEST_EXTRAS = [11, 13, 14, 15]; // ADDR_FAMILY, TUN_TYPE, TUN_PORT, TUN_FLAGS
const DEST_KEY_EXTRAS = [3, 4, 5, 6, 11, 13, 14, 15]; // + FWD_METHOD, WEIGHT, U/L_THRESH
const allowedExtras: Record<string, Record<number, number[]>> = {
  "ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.2:80 -m -w 5 -x 100 -y 10": { 1: SVC_KEY_EXTRAS, 2: DEST_EXTRAS },
  "ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.4:80 -i -w 100000 --tun-type gue --tun-port 6080 --tun-csum": { 1: SVC_KEY_EXTRAS, 2: [11] },
  "ipvsadm -e -t 192.0.2.1:80 -r 198.51.100.2:80 -g -w 7": { 1: SVC_KEY_EXTRAS, 2: DEST_EXTRAS },
  "ipvsadm -d -t 192.0.2.1:80 -r 198.51.100.2:80": { 1: SVC_KEY_EXTRAS, 2: DEST_KEY_EXTRAS },
  "ipvsadm -Z -t 192.0.2.1:80": { 1: SVC_KEY_EXTRAS },
  "ipvsadm --stop-daemon backup": { 3: [2, 3] }, // MCAST_IFN "", SYNC_ID 0
  "ipvsadm -D -t 192.0.2.1:80": { 1: SVC_KEY_EXTRAS },
};

describe("requests, compared with ipvsadm's (ipvsadm-requests.json)", () => {
  const theirs = ipvsadmRequests();

  it("has one captured request per ipvsadm command", () => {
    expect(theirs).toHaveLength(fixture.commands.length);
    expect(calls).toHaveLength(fixture.commands.length);
  });

  fixture.commands.forEach((command, i) => {
    it(command, async () => {
      const t = fakeGenlTransport(() => []);
      await calls[i]!(new IpvsClient(t));
      const [mine] = t.requests;
      const ref = theirs[i]!;
      expect(mine!.cmd).toBe(ref.cmd);
      const ours = tree(mine!.attrs);
      expect([...ours.keys()].sort()).toEqual([...ref.attrs.keys()].sort());
      for (const [type, value] of ref.attrs) {
        const mineValue = ours.get(type)!;
        if (typeof value === "string") {
          expect(mineValue, `attribute ${type}`).toBe(value);
          continue;
        }
        const mineNest = mineValue as Tree;
        const extras = [...value.keys()].filter((k) => !mineNest.has(k)).sort((a, b) => a - b);
        expect(extras, `attributes only ipvsadm sends in nest ${type}`).toEqual(allowedExtras[command]?.[type] ?? []);
        for (const [k, v] of mineNest) {
          if (type === 1 && k === 7) {
            // IPVS_SVC_ATTR_FLAGS: the flags word must match; the mask is ours (no HASHED bit)
            expect((v as string).slice(0, 8), "flags word").toBe((value.get(7) as string).slice(0, 8));
            expect(v as string).toMatch(/^[0-9a-f]{8}3d000000$/);
          } else {
            expect(v, `nest ${type} attribute ${k}`).toBe(value.get(k));
          }
        }
      }
    });
  });
});
