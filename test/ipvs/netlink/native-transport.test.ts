// The native dump engine's JavaScript side (server/kernel/genl/native.ts): cutting the engine's one buffer and
// index into each request's replies, its errors as GenlError kinds, the choice between it and the `netlink`
// package's sockets; then the addon itself (native/genl) against this host's kernel, checked against the socket
// transport (linux.ts) on the same requests. Every Linux kernel has the generic netlink controller ("nlctrl"),
// IPVS or not. The IPVS side is proven in the lab: test/kernel/ipvs-netlink.test.ts.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AttrCursor, AttrEncoder } from "@/server/kernel/genl/attrs";
import { openGenlTransport } from "@/server/kernel/genl/linux";
import {
  NativeGenlTransport,
  loadNativeGenl,
  nativeError,
  openNativeOr,
  splitDumpReplies,
  type NativeDumpResult,
  type NativeGenlAddon,
} from "@/server/kernel/genl/native";
import { GenlError, runDumps, type GenlReply } from "@/server/kernel/genl/transport";
import { CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME, CTRL_CMD_GETFAMILY, GENL_ID_CTRL } from "@/server/kernel/genl/wire";

/** A result as the engine lays it out: `perRequest[i]` are request i's messages (genlmsghdr + attributes), put
 *  in the buffer in the order `order` (the engine appends each dump when it ends, in whatever order they end). */
function engineResult(perRequest: Uint8Array[][], order = perRequest.map((_, i) => i)): NativeDumpResult {
  const parts: Uint8Array[] = [];
  const ranges = new Int32Array(2 * perRequest.length);
  const messages: number[] = [];
  let size = 0;
  for (const i of order) {
    ranges[2 * i] = messages.length / 2;
    ranges[2 * i + 1] = perRequest[i]!.length;
    for (const m of perRequest[i]!) {
      messages.push(size, m.length);
      parts.push(m);
      size += (m.length + 3) & ~3;
    }
  }
  const data = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += (p.length + 3) & ~3;
  }
  return { data, ranges, messages: Int32Array.from(messages) };
}

const genl = (cmd: number, version: number, ...attrs: number[]) => Uint8Array.from([cmd, version, 0, 0, ...attrs]);

describe("splitDumpReplies", () => {
  it("gives each request its own replies, as views into the one buffer, whatever order the dumps ended in", () => {
    const a1 = genl(5, 1, 8, 0, 1, 0, 0xaa, 0xbb, 0xcc, 0xdd);
    const a2 = genl(5, 1, 5, 0, 2, 0, 0x11); // an attribute of 5 bytes: the message is not a multiple of 4
    const c1 = genl(6, 2);
    const result = engineResult([[a1, a2], [], [c1]], [2, 0, 1]);
    const out = splitDumpReplies(result, 3);
    expect(out.map((rs) => rs.length)).toEqual([2, 0, 1]);
    expect(out[0]!.map((r) => [r.cmd, r.version, [...r.attrs]])).toEqual([
      [5, 1, [8, 0, 1, 0, 0xaa, 0xbb, 0xcc, 0xdd]],
      [5, 1, [5, 0, 2, 0, 0x11]],
    ]);
    expect(out[2]![0]).toMatchObject({ cmd: 6, version: 2 });
    expect(out[2]![0]!.attrs.length).toBe(0);
    // no copies: every reply's attributes share the engine's buffer
    for (const r of out.flat()) expect(r.attrs.buffer).toBe(result.data.buffer);
    // c1 ended first, so it is first in the buffer; a1 follows it
    expect(out[2]![0]!.attrs.byteOffset).toBe(4);
    expect(out[0]![0]!.attrs.byteOffset).toBe(8);
  });

  it("refuses an index that does not fit the buffer or the request count", () => {
    const good = engineResult([[genl(1, 1, 4, 0, 1, 0)]]);
    expect(() => splitDumpReplies(good, 2)).toThrow(/1 requests, expected 2/);
    const outside = { ...good, messages: Int32Array.from([4, 8]) };
    expect(() => splitDumpReplies(outside, 1, 7)).toThrow(GenlError);
    expect(() => splitDumpReplies(outside, 1, 7)).toThrow(/outside the 8-byte buffer/);
    const noHeader = { ...good, messages: Int32Array.from([0, 3]) };
    expect(() => splitDumpReplies(noHeader, 1)).toThrow(/no genetlink header/);
    const pastIndex = { ...good, ranges: Int32Array.from([0, 2]) };
    expect(() => splitDumpReplies(pastIndex, 1)).toThrow(/request 0 has messages 0..1 of 1/);
    try {
      splitDumpReplies(outside, 1, 7);
    } catch (e) {
      expect(e).toMatchObject({ kind: "protocol", cmd: 7 });
    }
  });
});

describe("dumpEach with doneSpans: the replies handed over in place", () => {
  /** A stand-in for the addon's Engine that answers every call with `answer(requests)`. */
  const withEngine = (answer: (requests: readonly Uint8Array[]) => NativeDumpResult) => {
    const engine = { dump: async (_t: number, _c: number, _v: number, requests: readonly Uint8Array[]) => answer(requests), close() {}, ports: () => [1] };
    const fallback = { resolveFamily: async () => 0x20, request: async () => [], close() {} };
    return new NativeGenlTransport({ Engine: function () { return engine; } as never }, fallback, { version: 1, chunk: 2 });
  };
  const replyFor = (r: Uint8Array) => [genl(5, 1, 5, 0, 1, 0, r[0]!), genl(5, 1, 8, 0, 2, 0, r[0]!, 0, 0, 0)];

  it("gives each request spans of the engine's buffer, the same bytes done() gets, and never calls done()", async () => {
    const t = withEngine((requests) => engineResult(requests.map(replyFor), requests.map((_, i) => requests.length - 1 - i)));
    const requests = [1, 2, 3, 4, 5].map((n) => Uint8Array.of(n));
    const viaSpans: number[][][] = [];
    await runDumps(
      t,
      8,
      requests,
      () => {
        throw new Error("done() called although doneSpans was given");
      },
      (i, { data, messages, first, count }) => {
        const got: number[][] = [];
        for (let k = first; k < first + count; k++) got.push([...data.subarray(messages[2 * k]!, messages[2 * k]! + messages[2 * k + 1]!)]);
        viaSpans[i] = got;
      },
    );
    const viaReplies: number[][][] = [];
    await runDumps(t, 8, requests, (i, rs) => (viaReplies[i] = rs.map((r) => [r.cmd, r.version, 0, 0, ...r.attrs])));
    expect(viaSpans).toEqual(viaReplies);
    expect(viaSpans[4]).toEqual([[...genl(5, 1, 5, 0, 1, 0, 5)], [...genl(5, 1, 8, 0, 2, 0, 5, 0, 0, 0)]]);
  });

  it("checks the index before handing anything over", async () => {
    const t = withEngine((requests) => ({ ...engineResult(requests.map(replyFor)), messages: Int32Array.from([0, 9, 12, 400, 24, 9, 36, 12]) }));
    const handed: number[] = [];
    const err = await runDumps(t, 8, [Uint8Array.of(1), Uint8Array.of(2)], () => handed.push(-1), (i) => handed.push(i)).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "protocol" });
    expect(String(err)).toMatch(/reply 1 \(400 bytes at 12\) is outside/);
    expect(handed).toEqual([]);
  });
});

describe("nativeError: the addon's failures as GenlSocketTransport's GenlError kinds", () => {
  const addonError = (fields: Record<string, unknown>) => Object.assign(new Error(String(fields.message ?? "x")), fields);

  it("maps each kind", () => {
    expect(nativeError(addonError({ kind: "errno", errno: 22, extack: "bad attr" }), 4, 1000)).toMatchObject({
      kind: "errno",
      errno: 22,
      code: "EINVAL",
      cmd: 4,
      extack: "bad attr",
      message: "the kernel rejected the request (EINVAL): bad attr",
    });
    expect(nativeError(addonError({ kind: "errno", errno: 1 }), 4, 1000)).toMatchObject({ kind: "permission", code: "EPERM" });
    expect(nativeError(addonError({ kind: "errno", errno: 13 }), 4, 1000)).toMatchObject({ kind: "permission", code: "EACCES" });
    expect(nativeError(addonError({ kind: "permission", errno: 1 }), 4, 1000)).toMatchObject({ kind: "permission", code: "EPERM" });
    expect(nativeError(addonError({ kind: "timeout", message: "the kernel sent nothing for 250 ms" }), 4, 250)).toMatchObject({
      kind: "timeout",
      message: "the kernel sent nothing for 250 ms",
    });
    expect(nativeError(addonError({ kind: "interrupted", message: "kept changing (4 attempts)" }), 4, 1)).toMatchObject({ kind: "interrupted", message: "kept changing (4 attempts)" });
    expect(nativeError(addonError({ kind: "protocol", message: "malformed" }), 4, 1)).toMatchObject({ kind: "protocol" });
    expect(nativeError(addonError({ kind: "closed", message: "closed" }), 4, 1)).toMatchObject({ kind: "closed" });
    expect(nativeError(addonError({ kind: "socket", errno: 105, syscall: "recvmmsg", message: "reading the replies failed" }), 4, 1)).toMatchObject({
      kind: "socket",
      code: "ENOBUFS",
      message: "netlink socket failed: reading the replies failed",
    });
    expect(nativeError(addonError({ kind: "busy", errno: 16, message: "already running" }), 4, 1)).toMatchObject({ kind: "socket", code: "EBUSY" });
  });

  it("keeps a GenlError as it is, and calls anything else a socket failure with the cause kept", () => {
    const g = new GenlError("timeout", "t");
    expect(nativeError(g, 1, 1)).toBe(g);
    const odd = new TypeError("dump: every request must be a Uint8Array");
    const e = nativeError(odd, 3, 1);
    expect(e).toMatchObject({ kind: "socket", cmd: 3, message: "native netlink engine failed: dump: every request must be a Uint8Array" });
    expect(e.cause).toBe(odd);
  });
});

describe("openNativeOr: the native engine when it loads, else today's transport with one log line", () => {
  const fakeAddon = {} as NativeGenlAddon;

  it("uses the addon when it loads, logging nothing", () => {
    const lines: string[] = [];
    expect(openNativeOr(() => ({ ok: true, addon: fakeAddon }), (a) => (a === fakeAddon ? "native" : "?"), () => "fallback", (l) => lines.push(l))).toBe("native");
    expect(lines).toEqual([]);
  });

  it("falls back, saying why, when the addon is missing or fails to open", () => {
    const lines: string[] = [];
    expect(openNativeOr(() => ({ ok: false, reason: "/x/lvs_genl.node is not built" }), () => "native", () => "fallback", (l) => lines.push(l))).toBe("fallback");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/\/x\/lvs_genl\.node is not built.*scripts\/build-native\.sh/);
    const failing = () => {
      throw new Error("could not open a NETLINK_GENERIC socket");
    };
    expect(openNativeOr(() => ({ ok: true, addon: fakeAddon }), failing, () => "fallback", (l) => lines.push(l))).toBe("fallback");
    expect(lines[1]).toMatch(/failed to open \(could not open a NETLINK_GENERIC socket\)/);
  });

  it("loadNativeGenl says what is wrong with a missing or broken addon file", () => {
    const missing = loadNativeGenl("/nonexistent/lvs_genl.node");
    expect(missing).toEqual({ ok: false, reason: "/nonexistent/lvs_genl.node is not built" });
    const dir = mkdtempSync(join(tmpdir(), "lvs-genl-"));
    const broken = join(dir, "lvs_genl.node");
    writeFileSync(broken, "not an ELF file");
    const r = loadNativeGenl(broken);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/does not load/);
  });
});

// ---- the addon itself, against this host's kernel -------------------------------------------------------

const CTRL_CMD_GETPOLICY = 10; // include/uapi/linux/genetlink.h (Linux 5.8+)
const loaded = loadNativeGenl();
const nameOf = (attrs: Uint8Array) => {
  const c = new AttrCursor(attrs);
  let name = "";
  while (c.next()) if (c.type === CTRL_ATTR_FAMILY_NAME) name = c.string();
  return name;
};
const familyIdOf = (rs: GenlReply[]) => {
  const ids = new Set<number>();
  for (const r of rs) {
    const c = new AttrCursor(r.attrs);
    while (c.next()) if (c.type === CTRL_ATTR_FAMILY_ID) ids.add(c.u16());
  }
  return [...ids];
};
const plain = (rs: GenlReply[]) => rs.map((r) => ({ cmd: r.cmd, version: r.version, attrs: Buffer.from(r.attrs).toString("hex") }));

describe.runIf(process.platform === "linux" && loaded.ok)(`native dump engine on this host's kernel${loaded.ok ? "" : ` (skipped: ${loaded.reason}; run scripts/build-native.sh)`}`, () => {
  const addon = (loaded as { ok: true; addon: NativeGenlAddon }).addon;
  const open = (chunk?: number) => new NativeGenlTransport(addon, openGenlTransport({ family: "nlctrl", version: 2, timeoutMs: 5000 }), { version: 2, sockets: 3, timeoutMs: 5000, chunk });

  it("answers the controller's family dump and per-family policy dumps as the socket transport does, each request its own", async () => {
    const native = open(4);
    const socket = openGenlTransport({ family: "nlctrl", version: 2, timeoutMs: 5000 });
    try {
      const families = await native.request(CTRL_CMD_GETFAMILY, new Uint8Array(), { dump: true });
      expect(plain(families)).toEqual(plain(await socket.request(CTRL_CMD_GETFAMILY, new Uint8Array(), { dump: true })));
      const names = families.map((r) => nameOf(r.attrs));
      expect(names).toContain("nlctrl");
      // Families whose policy dump works on this kernel (some have none: ENODATA), found through the socket
      // transport; then the same requests, many times over, through the native engine in chunks of 4.
      const withPolicy: string[] = [];
      for (const n of names) {
        try {
          await socket.request(CTRL_CMD_GETPOLICY, new AttrEncoder().string(CTRL_ATTR_FAMILY_NAME, n).finish(), { dump: true });
          withPolicy.push(n);
        } catch (e) {
          expect(e).toMatchObject({ kind: "errno" });
        }
      }
      expect(withPolicy).toContain("nlctrl");
      const asked = Array.from({ length: 40 }, (_, i) => withPolicy[i % withPolicy.length]!);
      const requests = asked.map((n) => new AttrEncoder().string(CTRL_ATTR_FAMILY_NAME, n).finish());
      const got: GenlReply[][] = new Array(asked.length);
      await runDumps(native, CTRL_CMD_GETPOLICY, requests, (i, rs) => {
        expect(got[i]).toBeUndefined();
        got[i] = rs;
      });
      const idOf = new Map(families.map((r) => [nameOf(r.attrs), familyIdOf([r])[0]]));
      for (let i = 0; i < asked.length; i++) {
        expect(familyIdOf(got[i]!)).toEqual([idOf.get(asked[i]!)]);
        expect(plain(got[i]!)).toEqual(plain(await socket.request(CTRL_CMD_GETPOLICY, requests[i]!, { dump: true })));
      }
    } finally {
      native.close();
      socket.close();
    }
  });

  it("rejects with the kernel's errno and starts nothing after it; the engine works again afterwards", async () => {
    const native = open(100);
    try {
      const good = new AttrEncoder().string(CTRL_ATTR_FAMILY_NAME, "nlctrl").finish();
      const bad = new AttrEncoder().string(CTRL_ATTR_FAMILY_NAME, "no-such-family").finish();
      const done: number[] = [];
      const requests = [good, good, bad, ...Array.from({ length: 50 }, () => good)];
      const err = await runDumps(native, CTRL_CMD_GETPOLICY, requests, (i) => done.push(i)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GenlError);
      expect(err).toMatchObject({ kind: "errno", code: "ENOENT", cmd: CTRL_CMD_GETPOLICY });
      expect(done).toEqual([]); // a chunk's replies are handed over only when the whole chunk succeeded
      const again: number[] = [];
      await runDumps(native, CTRL_CMD_GETPOLICY, [good, good], (i, rs) => {
        expect(familyIdOf(rs)).toEqual([GENL_ID_CTRL]);
        again.push(i);
      });
      expect(again.sort()).toEqual([0, 1]);
    } finally {
      native.close();
    }
  });

  it("fails the run when done() throws, and queues concurrent runs instead of refusing them", async () => {
    const native = open(2);
    try {
      const req = new AttrEncoder().string(CTRL_ATTR_FAMILY_NAME, "nlctrl").finish();
      const reqs = Array.from({ length: 9 }, () => req);
      await expect(
        runDumps(native, CTRL_CMD_GETPOLICY, reqs, (i) => {
          if (i === 3) throw new Error("decoder refused reply 3");
        }),
      ).rejects.toThrow("decoder refused reply 3");
      const counts = await Promise.all(
        [0, 1, 2].map(async () => {
          let n = 0;
          await runDumps(native, CTRL_CMD_GETPOLICY, reqs, () => n++);
          return n;
        }),
      );
      expect(counts).toEqual([9, 9, 9]);
    } finally {
      native.close();
    }
  });

  it("the engine itself: one call at a time (EBUSY), a family id the kernel does not have (ENOENT), closed", async () => {
    const engine = new addon.Engine(2, 8192, 2);
    expect(() => engine.dump(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 2, ["x" as unknown as Uint8Array], 5000, 3)).toThrow(/must be a Uint8Array/);
    const first = engine.dump(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 2, [new Uint8Array()], 5000, 3);
    await expect(engine.dump(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 2, [new Uint8Array()], 5000, 3)).rejects.toMatchObject({ kind: "busy", errno: 16 });
    const r = await first;
    expect(r.ranges.length).toBe(2);
    expect(r.ranges[1]).toBeGreaterThan(0);
    await expect(engine.dump(0x7ff0, 1, 1, [new Uint8Array(), new Uint8Array()], 5000, 3)).rejects.toMatchObject({ kind: "errno", errno: 2 });
    expect(engine.ports().every((p) => p > 0)).toBe(true);
    engine.close();
    await expect(engine.dump(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 2, [new Uint8Array()], 5000, 3)).rejects.toMatchObject({ kind: "closed" });
  });
});
