// The fixed-path streaming read of server/kernel/ipvs-conn.ts, over a plain file standing in for procfs
// (the real /proc is exercised by test/kernel/conntable.test.ts in the lab): 4 KiB reads through one reused
// buffer, the byte and time caps, abort.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

import { summarizeConnections } from "@/server/ipvs/proc/conn-summary";
import { IpvsConnReadLimitError, readIpvsConnTable } from "@/server/kernel/ipvs-conn";
import { generateConnFile } from "../proc/conn-generator";

function fakeProc(text: Buffer): string {
  const root = mkdtempSync(join(tmpdir(), "lvsdash-proc-"));
  mkdirSync(join(root, "net"));
  writeFileSync(join(root, "net", "ip_vs_conn"), text);
  return root;
}

describe("readIpvsConnTable", () => {
  const text = generateConnFile({ lines: 3_000, seed: 11 });
  const procRoot = fakeProc(text);

  it("reads 4 KiB at a time, and a consumer that copies as it goes gets the file exactly", async () => {
    const sizes: number[] = [];
    const copies: Buffer[] = [];
    for await (const c of readIpvsConnTable({ procRoot })) {
      sizes.push(c.length);
      copies.push(Buffer.from(c));
    }
    expect(Buffer.concat(copies).equals(text)).toBe(true);
    expect(Math.max(...sizes)).toBe(4096);
    expect(sizes.length).toBe(Math.ceil(text.length / 4096));
  });

  it("streams into the summary as the whole text would", async () => {
    expect(await summarizeConnections(readIpvsConnTable({ procRoot }))).toEqual(await summarizeConnections([text]));
  });

  it("stops past the byte cap", async () => {
    const read = async () => {
      for await (const _ of readIpvsConnTable({ procRoot, maxBytes: 10_000 }));
    };
    await expect(read()).rejects.toMatchObject({ name: "IpvsConnReadLimitError", limit: "bytes", bytesRead: 12_288 });
  });

  it("stops past the time cap", async () => {
    const read = async () => {
      for await (const _ of readIpvsConnTable({ procRoot, maxMs: 50 })) await new Promise((r) => setTimeout(r, 60));
    };
    const e = await read().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(IpvsConnReadLimitError);
    expect(e).toMatchObject({ limit: "time" });
    expect((e as IpvsConnReadLimitError).bytesRead).toBeGreaterThanOrEqual(4096);
    expect((e as IpvsConnReadLimitError).bytesRead).toBeLessThan(text.length);
  });

  it("stops when aborted, with the signal's reason", async () => {
    const ac = new AbortController();
    const read = async () => {
      for await (const _ of readIpvsConnTable({ procRoot, signal: ac.signal })) ac.abort(new Error("enough"));
    };
    await expect(read()).rejects.toThrow("enough");
  });

  it("passes the file system's errors through with their code", async () => {
    const empty = mkdtempSync(join(tmpdir(), "lvsdash-proc-"));
    const read = async () => {
      for await (const _ of readIpvsConnTable({ procRoot: empty }));
    };
    await expect(read()).rejects.toMatchObject({ code: "ENOENT" });
  });
});
