// The user-space cost of IpvsClient.snapshot() alone, on any machine: the real GenlSocketTransport and codec
// over a stand-in socket that answers like the kernel (one GET_SERVICE dump, one GET_DEST dump per service,
// replies built by the codec's own encoders with both STATS and STATS64, as ip_vs_genl_fill_* writes them).
// What the lab run (run.ts) measures minus the kernel and the native socket: the part this code can change.
// With --native, the agent's path instead: NativeGenlTransport over a stand-in for the addon's Engine that
// answers each call with one buffer of genetlink messages plus its index, as native/genl does (the buffer is
// assembled afresh per call from each service's prebuilt replies, as the engine assembles its own).
//   npx tsx bench/ipvs/snapshot-cpu.ts [services] [runs] [--native]   (add --cpu-prof to node for a profile)
import { AttrCursor, AttrEncoder, HOST_LITTLE_ENDIAN } from "@/server/kernel/genl/attrs";
import { NativeGenlTransport, type NativeDumpResult, type NativeEngine } from "@/server/kernel/genl/native";
import { GenlSocketTransport, type GenlTransport, type NetlinkConn } from "@/server/kernel/genl/transport";
import {
  CTRL_ATTR_FAMILY_ID,
  CTRL_ATTR_FAMILY_NAME,
  GENL_ID_CTRL,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLM_F_MULTI,
  encodeGenlPayload,
  encodeNlMsg,
  splitDatagram,
} from "@/server/kernel/genl/wire";
import { IpvsClient } from "@/server/ipvs/netlink/client";
import { destinationAttrs, encodeDest, encodeService, serviceExtendedAttrs } from "@/server/ipvs/netlink/codec";
import { IPVS_CMD, IPVS_CMD_ATTR, IPVS_GENL_NAME, IPVS_GENL_VERSION } from "@/server/ipvs/netlink/constants";
import type { Destination, ServiceExtended, Stats } from "@/server/ipvs/netlink/types";
import { machine, median, timeCall } from "./measure";

const FAMILY = 0x23;
const stats = (k: number): Stats => ({
  conns: BigInt(k), inPkts: BigInt(k * 10), outPkts: 0n, inBytes: BigInt(k * 1000), outBytes: 0n,
  cps: 0n, inPps: 1n, outPps: 0n, inBps: 100n, outBps: 0n, width: 64,
});

function table(n: number): { services: ServiceExtended[]; dests: Destination[][] } {
  const services: ServiceExtended[] = [];
  const dests: Destination[][] = [];
  for (let i = 0; i < n; i++) {
    const port = 1000 + Math.floor(i / 250);
    services.push({
      service: { family: "inet", protocol: "tcp", address: `198.51.100.${1 + (i % 250)}`, port, netmask: { kind: "mask", mask: "255.255.255.255" } as never },
      scheduler: "wlc",
      flags: { raw: 2 } as never,
      timeout: 0,
      stats: stats(i),
      unknown: [],
    });
    dests.push(
      [11, 12, 13, 14].map((h) => ({
        address: `192.0.2.${h}`, port, family: "inet", forward: "route", weight: 1, upperThreshold: 0, lowerThreshold: 0,
        activeConns: 0, inactiveConns: 3, persistentConns: 0, stats: stats(h), unknown: [],
      }) as Destination),
    );
  }
  return { services, dests };
}

/** Replies as the kernel sends a dump: as many messages as fit in a 16 KiB datagram, NLMSG_DONE after. */
function dumpDatagrams(seq: number, pid: number, cmd: number, bodies: Uint8Array[]): Uint8Array[] {
  const msgs = bodies.map((b) => encodeNlMsg({ type: FAMILY, flags: NLM_F_MULTI, seq, pid }, encodeGenlPayload(cmd, IPVS_GENL_VERSION, b)));
  const donePayload = new Uint8Array(4);
  msgs.push(encodeNlMsg({ type: NLMSG_DONE, flags: NLM_F_MULTI, seq, pid }, donePayload));
  const out: Uint8Array[] = [];
  let cur: Uint8Array[] = [];
  let size = 0;
  for (const m of msgs) {
    if (size + m.length > 16384 && cur.length > 0) {
      out.push(Buffer.concat(cur));
      cur = [];
      size = 0;
    }
    cur.push(m);
    size += m.length;
  }
  if (cur.length > 0) out.push(Buffer.concat(cur));
  return out;
}

/** A socket stand-in that answers like the kernel, each datagram handed over on a later turn of the loop
 *  (setImmediate, as the native socket's 'message' events come). */
function kernelConn(services: ServiceExtended[], dests: Destination[][]): NetlinkConn {
  const svcBodies = services.map((s) => {
    const e = new AttrEncoder();
    encodeService(e, serviceExtendedAttrs(s));
    return e.finish();
  });
  const byKey = new Map<string, Uint8Array[]>();
  services.forEach((s, i) => {
    const key = Buffer.from((() => { const e = new AttrEncoder(); encodeService(e, { service: s.service }); return e.finish(); })()).toString("hex");
    byKey.set(key, (dests[i] ?? []).map((d) => { const e = new AttrEncoder(); encodeDest(e, destinationAttrs(d)); return e.finish(); }));
  });
  const queue: Uint8Array[] = [];
  let waiter: ((d: Uint8Array) => void) | null = null;
  const deliver = (d: Uint8Array) => setImmediate(() => (waiter ? (waiter(d), (waiter = null)) : queue.push(d)));
  return {
    portId: 99,
    async send(d) {
      const m = splitDatagram(d).messages[0]!;
      const dv = new DataView(d.buffer, d.byteOffset);
      const seq = dv.getUint32(8, HOST_LITTLE_ENDIAN);
      if (m.type === GENL_ID_CTRL) {
        const attrs = new AttrEncoder().string(CTRL_ATTR_FAMILY_NAME, IPVS_GENL_NAME).u16(CTRL_ATTR_FAMILY_ID, FAMILY).finish();
        const ack = new Uint8Array(20);
        deliver(Buffer.concat([encodeNlMsg({ type: GENL_ID_CTRL, flags: 0, seq, pid: 99 }, encodeGenlPayload(1, 2, attrs)), encodeNlMsg({ type: NLMSG_ERROR, flags: 0x100, seq, pid: 99 }, ack)]));
        return;
      }
      const cmd = m.payload[0]!;
      if (cmd === IPVS_CMD.GET_SERVICE.id) {
        for (const g of dumpDatagrams(seq, 99, IPVS_CMD.NEW_SERVICE.id, svcBodies)) deliver(g);
      } else if (cmd === IPVS_CMD.GET_DEST.id) {
        const c = new AttrCursor(m.payload.subarray(4));
        let key = "";
        while (c.next()) if (c.type === IPVS_CMD_ATTR.SERVICE.id) key = Buffer.from(new AttrEncoder().put(c.type, c.bytes()).finish()).toString("hex");
        for (const g of dumpDatagrams(seq, 99, IPVS_CMD.NEW_DEST.id, byKey.get(key) ?? [])) deliver(g);
      } else throw new Error(`unexpected command ${cmd}`);
    },
    receive: () => {
      const d = queue.shift();
      return d ? Promise.resolve(d) : new Promise((r) => (waiter = r));
    },
    close() {},
  };
}

/** The addon's Engine as a stand-in: each dump() call resolves on a later turn of the loop with one fresh
 *  Buffer of the requests' genetlink messages (genlmsghdr + attributes) and the index native/genl returns.
 *  Kept cheap (a GET_DEST request is matched to its service by its port and address, then checked byte for
 *  byte), so what is timed is mostly the transport's and the client's JavaScript. */
function nativeTransport(services: ServiceExtended[], dests: Destination[][]): GenlTransport {
  const genl = (cmd: number, body: Uint8Array) => Buffer.from(encodeGenlPayload(cmd, IPVS_GENL_VERSION, body));
  const block = (msgs: Buffer[]) => ({ bytes: Buffer.concat(msgs), lens: msgs.map((m) => m.length) });
  const svcBlock = block(services.map((s) => {
    const e = new AttrEncoder();
    encodeService(e, serviceExtendedAttrs(s));
    return genl(IPVS_CMD.NEW_SERVICE.id, e.finish());
  }));
  const keys: Buffer[] = [];
  const destBlocks = services.map((s, i) => {
    const e = new AttrEncoder();
    encodeService(e, { service: s.service });
    keys.push(Buffer.from(e.finish()));
    return block((dests[i] ?? []).map((d) => { const f = new AttrEncoder(); encodeDest(f, destinationAttrs(d)); return genl(IPVS_CMD.NEW_DEST.id, f.finish()); }));
  });
  // table(): service i is 198.51.100.(1 + i % 250), port 1000 + i / 250; in the key, the address's last byte is
  // at 27 and the big-endian port at 44.
  const serviceOf = (r: Uint8Array) => {
    const i = (((r[44]! << 8) | r[45]!) - 1000) * 250 + r[27]! - 1;
    const key = keys[i];
    if (!key || Buffer.compare(key, Buffer.from(r.buffer, r.byteOffset, r.byteLength)) !== 0) throw new Error("stand-in engine: unexpected GET_DEST request");
    return i;
  };
  const engine: NativeEngine = {
    dump(_type, cmd, _version, requests): Promise<NativeDumpResult> {
      const blocks = requests.map((r) => (cmd === IPVS_CMD.GET_SERVICE.id ? svcBlock : destBlocks[serviceOf(r)]!));
      const count = blocks.reduce((n, b) => n + b.lens.length, 0);
      const ranges = new Int32Array(2 * requests.length);
      const messages = new Int32Array(2 * count);
      let k = 0;
      let off = 0;
      blocks.forEach((b, i) => {
        ranges[2 * i] = k;
        ranges[2 * i + 1] = b.lens.length;
        for (const len of b.lens) {
          messages[2 * k] = off;
          messages[2 * k + 1] = len;
          off += len;
          k++;
        }
      });
      const data = Buffer.concat(blocks.map((b) => b.bytes), off);
      return new Promise((r) => setImmediate(() => r({ data, ranges, messages })));
    },
    close() {},
    ports: () => [1],
  };
  const fallback = { resolveFamily: async () => FAMILY, request: async () => [], close() {} };
  return new NativeGenlTransport({ Engine: class { constructor() { return engine; } } as never }, fallback, { version: IPVS_GENL_VERSION });
}

const args = process.argv.slice(2).filter((a) => a !== "--native");
const n = Number(args[0] ?? 10_000);
const runs = Number(args[1] ?? 5);
const { services, dests } = table(n);
const transport = process.argv.includes("--native")
  ? nativeTransport(services, dests)
  : new GenlSocketTransport(kernelConn(services, dests), { family: IPVS_GENL_NAME, version: IPVS_GENL_VERSION });
const client = new IpvsClient(transport);
const wall: number[] = [];
const cpu: number[] = [];
for (let i = 0; i <= runs; i++) {
  const { sample, value } = await timeCall(() => client.snapshot());
  if (value.length !== n || value[n - 1]?.destinations.length !== 4) throw new Error("bad snapshot");
  if (i > 0) {
    wall.push(sample.wallMs);
    cpu.push(sample.cpuMs);
  }
}
console.log(JSON.stringify({ services: n, transport: process.argv.includes("--native") ? "native (stand-in engine)" : "socket (stand-in kernel)", wallMs: median(wall), cpuMs: median(cpu), perServiceUs: (median(cpu) * 1000) / n, machine: machine() }));
