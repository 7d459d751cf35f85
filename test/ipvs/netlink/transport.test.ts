// GenlSocketTransport's protocol handling, against a scripted kernel: a function from each request message
// to the datagrams the kernel would send back (built with the same framing the kernel uses).
import { describe, expect, it } from "vitest";
import { AttrCursor, AttrEncoder, HOST_LITTLE_ENDIAN } from "@/server/kernel/genl/attrs";
import { GenlError, GenlSocketTransport, GenlTransportPool, fakeGenlTransport, runDumps, type NetlinkConn } from "@/server/kernel/genl/transport";
import {
  CTRL_ATTR_FAMILY_ID,
  CTRL_ATTR_FAMILY_NAME,
  CTRL_CMD_GETFAMILY,
  GENL_ID_CTRL,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_MULTI,
  NLM_F_REQUEST,
  encodeGenlPayload,
  encodeNlMsg,
  splitDatagram,
  type NlMsg,
} from "@/server/kernel/genl/wire";

const FAMILY_ID = 0x22;

function errorMsg(req: NlMsg, errno: number): Uint8Array {
  const p = new Uint8Array(4 + 16);
  new DataView(p.buffer).setInt32(0, -errno, HOST_LITTLE_ENDIAN);
  return encodeNlMsg({ type: NLMSG_ERROR, flags: 0x100 /* CAPPED */, seq: req.seq, pid: req.pid }, p);
}
const done = (req: NlMsg, errno = 0) => {
  const p = new Uint8Array(4);
  new DataView(p.buffer).setInt32(0, -errno, HOST_LITTLE_ENDIAN);
  return encodeNlMsg({ type: NLMSG_DONE, flags: NLM_F_MULTI, seq: req.seq, pid: req.pid }, p);
};
const genl = (req: NlMsg, cmd: number, attrs: Uint8Array, flags = 0) => encodeNlMsg({ type: req.type, flags, seq: req.seq, pid: req.pid }, encodeGenlPayload(cmd, 1, attrs));
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const u32attr = (v: number) => new AttrEncoder().u32(1, v).finish();

/** A kernel that knows family "TEST" (under `id()`, while `known()`) and hands its requests to `family`; a
 *  request to any other family id gets ENOENT, as genetlink answers for an unknown family. */
function scripted(family: (req: NlMsg, cmd: number) => Uint8Array[], known: boolean | (() => boolean) = true, id: () => number = () => FAMILY_ID) {
  const pending: Uint8Array[] = [];
  const requests: NlMsg[] = [];
  const conn: NetlinkConn = {
    portId: 77,
    async send(d) {
      const { messages } = splitDatagram(d);
      const req = messages[0]!;
      requests.push(req);
      if (req.type === GENL_ID_CTRL) {
        const c = new AttrCursor(req.payload.subarray(4));
        let name = "";
        while (c.next()) if (c.type === CTRL_ATTR_FAMILY_NAME) name = c.string();
        const isKnown = typeof known === "function" ? known() : known;
        if (!isKnown || name !== "TEST") pending.push(errorMsg(req, 2));
        else pending.push(cat(encodeNlMsg({ type: GENL_ID_CTRL, flags: 0, seq: req.seq, pid: req.pid }, encodeGenlPayload(1, 2, new AttrEncoder().string(CTRL_ATTR_FAMILY_NAME, "TEST").u16(CTRL_ATTR_FAMILY_ID, id()).finish()))), errorMsg(req, 0));
        return;
      }
      const isKnown = typeof known === "function" ? known() : known;
      if (!isKnown || req.type !== id()) {
        pending.push(errorMsg(req, 2));
        return;
      }
      pending.push(...family(req, req.payload[0]!));
    },
    async receive(timeoutMs) {
      const d = pending.shift();
      if (d) return d;
      await new Promise((r) => setTimeout(r, timeoutMs));
      throw new GenlError("timeout", "nothing");
    },
    close() {},
  };
  return { conn, requests };
}

const open = (conn: NetlinkConn, extra = {}) => new GenlSocketTransport(conn, { family: "TEST", version: 1, timeoutMs: 200, firstSeq: 100, ...extra });

describe("GenlSocketTransport", () => {
  it("resolves the family once through CTRL_CMD_GETFAMILY and sends requests to its id", async () => {
    const k = scripted((req, cmd) => [cat(genl(req, cmd, u32attr(7))), errorMsg(req, 0)]);
    const t = open(k.conn);
    const a = await t.request(5, u32attr(1));
    const b = await t.request(6, new Uint8Array());
    expect(a).toHaveLength(1);
    expect(a[0]!.cmd).toBe(5);
    expect(new AttrCursor(a[0]!.attrs).next()).toBe(true);
    expect(b[0]!.cmd).toBe(6);
    expect(k.requests.map((r) => r.type)).toEqual([GENL_ID_CTRL, FAMILY_ID, FAMILY_ID]);
    expect(k.requests[0]!.payload[0]).toBe(CTRL_CMD_GETFAMILY);
    // sequence numbers advance, our port id is in every request, a doit asks for an ACK
    expect(k.requests.map((r) => r.seq)).toEqual([101, 102, 103]);
    expect(k.requests.every((r) => r.pid === 77)).toBe(true);
    expect(k.requests[1]!.flags).toBe(NLM_F_REQUEST | NLM_F_ACK);
  });

  it("reports an absent family as family-missing", async () => {
    const t = open(scripted(() => [], false).conn);
    await expect(t.request(1, new Uint8Array())).rejects.toMatchObject({ kind: "family-missing", errno: 2 });
  });

  it("looks the family up again on ENOENT: follows a new id, reports a family gone, keeps the family's own ENOENT", async () => {
    let id = FAMILY_ID;
    let loaded = true;
    const k = scripted((req, cmd) => (cmd === 9 ? [errorMsg(req, 2)] : [cat(genl(req, cmd, u32attr(1)), errorMsg(req, 0))]), () => loaded, () => id);
    const t = open(k.conn);
    expect(await t.request(1, new Uint8Array())).toHaveLength(1);
    id = FAMILY_ID + 1; // module reloaded under another id
    expect(await t.request(1, new Uint8Array())).toHaveLength(1);
    expect(k.requests.map((r) => r.type)).toEqual([GENL_ID_CTRL, FAMILY_ID, FAMILY_ID, GENL_ID_CTRL, FAMILY_ID + 1]);
    // the family's own ENOENT (same id after the lookup) is passed on
    await expect(t.request(9, new Uint8Array())).rejects.toMatchObject({ kind: "errno", code: "ENOENT", cmd: 9 });
    loaded = false; // module unloaded
    await expect(t.request(1, new Uint8Array())).rejects.toMatchObject({ kind: "family-missing" });
  });

  it("collects a dump spread over several datagrams until NLMSG_DONE", async () => {
    const k = scripted((req, cmd) => [
      cat(genl(req, cmd, u32attr(1), NLM_F_MULTI), genl(req, cmd, u32attr(2), NLM_F_MULTI)),
      genl(req, cmd, u32attr(3), NLM_F_MULTI),
      cat(genl(req, cmd, u32attr(4), NLM_F_MULTI), done(req)),
    ]);
    const replies = await open(k.conn).request(4, new Uint8Array(), { dump: true });
    expect(replies.map((r) => new DataView(r.attrs.buffer, r.attrs.byteOffset + 4, 4).getUint32(0, true))).toEqual([1, 2, 3, 4]);
    expect(k.requests[1]!.flags).toBe(NLM_F_REQUEST | NLM_F_DUMP);
  });

  it("turns NLMSG_ERROR into a GenlError carrying the errno, and EPERM into the capability hint", async () => {
    const t = open(scripted((req) => [errorMsg(req, 17)]).conn);
    const e = await t.request(1, new Uint8Array()).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(GenlError);
    expect(e).toMatchObject({ kind: "errno", errno: 17, code: "EEXIST", cmd: 1 });
    const p = await open(scripted((req) => [errorMsg(req, 1)]).conn).request(1, new Uint8Array()).catch((x: unknown) => x);
    expect(p).toMatchObject({ kind: "permission", message: "permission denied: run as root or grant CAP_NET_ADMIN", errno: 1 });
  });

  it("reports a dump that fails in NLMSG_DONE", async () => {
    const t = open(scripted((req, cmd) => [cat(genl(req, cmd, u32attr(1), NLM_F_MULTI), done(req, 22))]).conn);
    await expect(t.request(4, new Uint8Array(), { dump: true })).rejects.toMatchObject({ kind: "errno", code: "EINVAL" });
  });

  it("starts an interrupted dump again, and gives up after the retry budget", async () => {
    let calls = 0;
    const k = scripted((req, cmd) => {
      calls++;
      const flags = NLM_F_MULTI | (calls < 3 ? NLM_F_DUMP_INTR : 0);
      return [cat(genl(req, cmd, u32attr(calls), flags), done(req))];
    });
    const replies = await open(k.conn).request(4, new Uint8Array(), { dump: true });
    expect(calls).toBe(3);
    expect(replies).toHaveLength(1); // only the clean attempt's messages
    let always = 0;
    const k2 = scripted((req, cmd) => {
      always++;
      return [cat(genl(req, cmd, u32attr(1), NLM_F_MULTI | NLM_F_DUMP_INTR), done(req))];
    });
    await expect(open(k2.conn, { maxDumpRetries: 2 }).request(4, new Uint8Array(), { dump: true })).rejects.toMatchObject({ kind: "interrupted" });
    expect(always).toBe(3);
  });

  it("skips datagrams of another sequence number (a late reply to an earlier request)", async () => {
    const k = scripted((req, cmd) => [genl({ ...req, seq: req.seq - 1 }, cmd, u32attr(666)), cat(genl(req, cmd, u32attr(1)), errorMsg(req, 0))]);
    const r = await open(k.conn).request(4, new Uint8Array());
    expect(r).toHaveLength(1);
    expect(new DataView(r[0]!.attrs.buffer, r[0]!.attrs.byteOffset + 4, 4).getUint32(0, true)).toBe(1);
  });

  it("times out a request the kernel never finishes, and the next request still works", async () => {
    let n = 0;
    const k = scripted((req, cmd) => (n++ === 0 ? [genl(req, cmd, u32attr(1), NLM_F_MULTI)] : [errorMsg(req, 0)]));
    const t = open(k.conn, { timeoutMs: 50 });
    await expect(t.request(4, new Uint8Array(), { dump: true })).rejects.toMatchObject({ kind: "timeout" });
    await expect(t.request(1, new Uint8Array())).resolves.toEqual([]);
  });

  it("rejects a malformed datagram as a protocol error instead of decoding garbage", async () => {
    const k = scripted((req, cmd) => {
      const d = genl(req, cmd, u32attr(1));
      new DataView(d.buffer).setUint32(0, 4000, HOST_LITTLE_ENDIAN); // nlmsg_len past the datagram
      return [d];
    });
    await expect(open(k.conn).request(4, new Uint8Array())).rejects.toMatchObject({ kind: "protocol" });
  });

  it("keeps one request on the wire at a time", async () => {
    const order: number[] = [];
    const k = scripted((req, cmd) => {
      order.push(cmd);
      return [cat(genl(req, cmd, u32attr(cmd), NLM_F_MULTI)), done(req)];
    });
    const t = open(k.conn);
    const [a, b] = await Promise.all([t.request(1, new Uint8Array(), { dump: true }), t.request(2, new Uint8Array(), { dump: true })]);
    expect(a[0]!.cmd).toBe(1);
    expect(b[0]!.cmd).toBe(2);
    expect(order).toEqual([1, 2]);
  });
});

describe("GenlSocketTransport.dumpEach / runDumps", () => {
  // The request's attribute (a u32) picks the reply; the second dump is interrupted once.
  const echo = () => {
    const seen = new Map<number, number>();
    return scripted((req, cmd) => {
      const c = new AttrCursor(req.payload.subarray(4));
      let v = 0;
      while (c.next()) v = c.u32();
      const n = (seen.get(v) ?? 0) + 1;
      seen.set(v, n);
      const flags = NLM_F_MULTI | (v === 2 && n === 1 ? NLM_F_DUMP_INTR : 0);
      return [cat(genl(req, cmd, u32attr(v * 10), flags), genl(req, cmd, u32attr(v * 10 + 1), flags)), done(req)];
    });
  };
  const value = (r: { attrs: Uint8Array }) => new DataView(r.attrs.buffer, r.attrs.byteOffset + 4, 4).getUint32(0, true);

  it("runs every dump once, hands over only clean attempts' replies, in the caller's indexes", async () => {
    const k = echo();
    const got: number[][] = [];
    await runDumps(open(k.conn), 4, [1, 2, 3].map(u32attr), (i, replies) => {
      got[i] = replies.map(value);
    });
    expect(got).toEqual([[10, 11], [20, 21], [30, 31]]);
    expect(k.requests.filter((r) => r.type === FAMILY_ID)).toHaveLength(4); // dump 2 twice
  });

  it("stops taking dumps after a failure, and reports it", async () => {
    const k = scripted((req, cmd) => (req.payload.length > 4 && new DataView(req.payload.buffer, req.payload.byteOffset + 8).getUint32(0, true) === 2 ? [done(req, 22)] : [cat(genl(req, cmd, u32attr(1), NLM_F_MULTI)), done(req)]));
    const done_: number[] = [];
    await expect(runDumps(open(k.conn), 4, [1, 2, 3, 4].map(u32attr), (i) => done_.push(i))).rejects.toMatchObject({ kind: "errno", code: "EINVAL" });
    expect(done_).toEqual([0]);
    expect(k.requests.filter((r) => r.type === FAMILY_ID)).toHaveLength(2);
  });

  it("falls back to request() for a transport without dumpEach, and a pool mixes both kinds of member", async () => {
    const plain = fakeGenlTransport((req) => [{ cmd: 1, version: 1, attrs: req.attrs }]);
    const got: number[] = [];
    await runDumps(plain, 4, [5, 6, 7].map(u32attr), (i, [r]) => {
      got[i] = new DataView(r!.attrs.buffer, r!.attrs.byteOffset + 4, 4).getUint32(0, true);
    });
    expect(got).toEqual([5, 6, 7]);
    const pool = new GenlTransportPool([open(echo().conn), fakeGenlTransport((req) => [{ cmd: 1, version: 1, attrs: req.attrs }])]);
    const all: number[][] = [];
    await runDumps(pool, 4, Array.from({ length: 20 }, (_, i) => u32attr(i + 3)), (i, replies) => {
      all[i] = replies.map(value);
    });
    expect(all).toHaveLength(20);
    // each dump answered by one of the two members: the echo kernel (v*10, v*10+1) or the fake (v)
    all.forEach((vals, i) => expect([[(i + 3) * 10, (i + 3) * 10 + 1], [i + 3]]).toContainEqual(vals));
  });
});

describe("fakeGenlTransport", () => {
  it("answers with the function and keeps the requests", async () => {
    const t = fakeGenlTransport((req) => (req.cmd === 1 ? [{ cmd: 9, version: 1, attrs: req.attrs }] : []));
    expect(await t.request(1, Uint8Array.of(1, 2, 3, 4), { dump: true })).toEqual([{ cmd: 9, version: 1, attrs: Uint8Array.of(1, 2, 3, 4) }]);
    expect(t.requests).toEqual([{ cmd: 1, attrs: Uint8Array.of(1, 2, 3, 4), dump: true }]);
  });
});
