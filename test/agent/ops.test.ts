// The real ops on this machine's kernel (whatever it is): what /proc says, read through the allow-list.
import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";

import { describe, expect, it } from "vitest";

import { capNetAdminFromStatus, IPVS_NOT_LOADED, kernelOps } from "@/server/agent/ops";
import { ProcFileTooLargeError, readProcFile } from "@/server/kernel/procfs";

const signal = new AbortController().signal;

describe("capNetAdminFromStatus", () => {
  // CapEff lines as /proc/self/status prints them: root with every capability, a user with none, and
  // a process granted only CAP_NET_ADMIN (1 << 12 = 0x1000) by setcap / AmbientCapabilities.
  it.each([
    ["CapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\n", true],
    ["CapEff:\t0000000000000000\n", false],
    ["CapEff:\t0000000000001000\n", true],
    ["CapEff:\t0000000000000fff\n", false],
    ["Name:\tnode\n", null],
  ])("%j -> %s", (status, expected) => {
    expect(capNetAdminFromStatus(status)).toBe(expected);
  });
});

describe("kernelOps on this host", () => {
  it("host.info reports this host's name, kernel and privileges", async () => {
    const info = await kernelOps["host.info"]({}, { signal });
    expect(info.hostname).toBe(hostname());
    expect(info.kernelRelease).toBe(readFileSync("/proc/sys/kernel/osrelease", "utf8").trim());
    expect(info.uid).toBe(process.geteuid?.());
    expect(info.capNetAdmin).toBe(capNetAdminFromStatus(readFileSync("/proc/self/status", "utf8")));
  });

  it("ipvs.status tells whether this kernel has IPVS", async () => {
    const status = await kernelOps["ipvs.status"]({}, { signal });
    if (existsSync("/proc/net/ip_vs")) {
      expect(status.available).toBe(true);
    } else {
      expect(status).toEqual({ available: false, reason: IPVS_NOT_LOADED });
    }
  });
});

describe("readProcFile", () => {
  it("reads an allow-listed file whole", async () => {
    expect(await readProcFile("self/status")).toMatch(/^Name:/);
  });

  it("refuses a file larger than the cap", async () => {
    await expect(readProcFile("self/status", { maxBytes: 64 })).rejects.toBeInstanceOf(ProcFileTooLargeError);
  });
});
