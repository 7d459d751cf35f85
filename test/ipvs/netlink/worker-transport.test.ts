// GenlWorkerTransport (server/kernel/genl/worker.ts): native sockets in a worker thread, against this machine's
// own generic netlink controller ("nlctrl", on every Linux kernel, IPVS or not), compared with the same
// requests over a socket of this thread; and the reply packing it uses, on its own.
import { describe, expect, it } from "vitest";
import { AttrCursor } from "@/server/kernel/genl/attrs";
import { openGenlTransport } from "@/server/kernel/genl/linux";
import { GenlTransportPool, runDumps, type GenlReply } from "@/server/kernel/genl/transport";
import { GenlWorkerTransport, packReplies, unpackReplies } from "@/server/kernel/genl/worker";
import { CTRL_ATTR_FAMILY_NAME, CTRL_CMD_GETFAMILY } from "@/server/kernel/genl/wire";

const familyNames = (replies: GenlReply[]) =>
  replies.map((r) => {
    const c = new AttrCursor(r.attrs);
    let name = "";
    while (c.next()) if (c.type === CTRL_ATTR_FAMILY_NAME) name = c.string();
    return name;
  });

describe("packReplies / unpackReplies", () => {
  it("carries every dump's replies, empty dumps included, through one buffer", () => {
    const r = (cmd: number, ...bytes: number[]): GenlReply => ({ cmd, version: 1, attrs: new Uint8Array(bytes) });
    const perDump = [[r(1, 1, 2, 3, 4), r(2)], [], [r(3, 9, 9, 9, 9, 8, 8, 8, 8)]];
    const back = unpackReplies(packReplies(7, perDump));
    expect(back.map((rs) => rs.map((x) => [x.cmd, x.version, [...x.attrs]]))).toEqual(perDump.map((rs) => rs.map((x) => [x.cmd, x.version, [...x.attrs]])));
  });
});

describe.runIf(process.platform === "linux")("GenlWorkerTransport (this host's nlctrl)", () => {
  it("answers requests and runs dumps like a socket of this thread, alone and pooled with one", async () => {
    const local = openGenlTransport({ family: "nlctrl", version: 2, timeoutMs: 5000 });
    const worker = new GenlWorkerTransport({ family: "nlctrl", version: 2, timeoutMs: 5000, sockets: 2 });
    const pool = new GenlTransportPool([openGenlTransport({ family: "nlctrl", version: 2, timeoutMs: 5000 }), worker]);
    try {
      const expected = familyNames(await local.request(CTRL_CMD_GETFAMILY, new Uint8Array(), { dump: true }));
      expect(expected).toContain("nlctrl");
      expect(familyNames(await worker.request(CTRL_CMD_GETFAMILY, new Uint8Array(), { dump: true }))).toEqual(expected);
      // 150 dumps: more than two of the worker's chunks, so both lanes and the pool's other member take some
      const requests = Array.from({ length: 150 }, () => new Uint8Array());
      for (const t of [worker, pool]) {
        const got: string[][] = new Array(requests.length);
        await runDumps(t, CTRL_CMD_GETFAMILY, requests, (i, replies) => {
          got[i] = familyNames(replies);
        });
        expect(got.every((names) => JSON.stringify(names) === JSON.stringify(expected))).toBe(true);
        expect(got.length).toBe(150);
      }
    } finally {
      local.close();
      pool.close();
    }
  }, 60_000);

  it("brings the worker's errors back as GenlError with their kind", async () => {
    const worker = new GenlWorkerTransport({ family: "no-such-family", version: 1, timeoutMs: 5000, sockets: 1 });
    try {
      await expect(worker.request(1, new Uint8Array())).rejects.toMatchObject({ name: "GenlError", kind: "family-missing", code: "ENOENT" });
      await expect(runDumps(worker, 1, [new Uint8Array()], () => undefined)).rejects.toMatchObject({ kind: "family-missing" });
    } finally {
      worker.close();
    }
  }, 60_000);
});
