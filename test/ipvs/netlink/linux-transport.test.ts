// The native transport (server/kernel/genl/linux.ts) against this machine's own kernel. Every Linux kernel has
// the generic netlink controller ("nlctrl"), IPVS or not, so this runs on any Linux host: family resolution,
// several requests in a row over one socket, a multipart dump, and the family-missing error.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { AttrCursor, AttrEncoder } from "@/server/kernel/genl/attrs";
import { openIpvsClient } from "@/server/kernel/genl/ipvs";
import { openGenlTransport } from "@/server/kernel/genl/linux";
import { CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME, CTRL_CMD_GETFAMILY, GENL_ID_CTRL } from "@/server/kernel/genl/wire";

const familyName = (attrs: Uint8Array) => {
  const c = new AttrCursor(attrs);
  let name = "";
  while (c.next()) if (c.type === CTRL_ATTR_FAMILY_NAME) name = c.string();
  return name;
};

describe.runIf(process.platform === "linux")("native generic netlink transport (this host's kernel)", () => {
  it("resolves nlctrl and answers requests in a row, then a dump, over one socket", async () => {
    const t = openGenlTransport({ family: "nlctrl", version: 2, timeoutMs: 5000 });
    try {
      expect(await t.resolveFamily()).toBe(GENL_ID_CTRL);
      // Each reply resolves the next request from inside the socket's receive path: the binding must survive it.
      for (let i = 0; i < 5; i++) {
        const [r] = await t.request(CTRL_CMD_GETFAMILY, new AttrEncoder().string(CTRL_ATTR_FAMILY_NAME, "nlctrl").finish());
        expect(familyName(r!.attrs)).toBe("nlctrl");
        const c = new AttrCursor(r!.attrs);
        let id = 0;
        while (c.next()) if (c.type === CTRL_ATTR_FAMILY_ID) id = c.u16();
        expect(id).toBe(GENL_ID_CTRL);
      }
      const all = await t.request(CTRL_CMD_GETFAMILY, new Uint8Array(), { dump: true });
      expect(all.map((r) => familyName(r.attrs))).toContain("nlctrl");
    } finally {
      t.close();
    }
  });

  it("survives requests started from inside the previous reply, in a plain node process", () => {
    const child = fileURLToPath(new URL("./native-sequence.child.ts", import.meta.url));
    const r = spawnSync(process.execPath, ["--import", "tsx/esm", child], { encoding: "utf8", timeout: 60_000 });
    expect(r.stderr).not.toMatch(/terminate called|Napi::Error/);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("reply 0: 1\nreply 1: 1\nreply 2: 1\nreply 3: 1\nreply 4: 1\ndump: several\ndone\n");
    // A child node with tsx takes seconds to start on a loaded 2-core machine: more than vitest's default 5 s.
  }, 90_000);

  it("reports a family the kernel does not have", async () => {
    const t = openGenlTransport({ family: "no-such-family", version: 1, timeoutMs: 5000 });
    try {
      await expect(t.request(1, new Uint8Array())).rejects.toMatchObject({ kind: "family-missing", code: "ENOENT" });
    } finally {
      t.close();
    }
  });
});

// The development hosts have no IPVS (shared/kernel-lab.md); where a kernel has it, the lab tests cover it.
describe.runIf(process.platform === "linux" && !existsSync("/proc/net/ip_vs"))("IpvsClient on a kernel without IPVS", () => {
  it("says IPVS is not loaded, with the errno kept as a field", async () => {
    const ipvs = openIpvsClient({ timeoutMs: 5000 });
    try {
      await expect(ipvs.listServices()).rejects.toMatchObject({ kind: "not-loaded", message: "IPVS is not loaded in this kernel: modprobe ip_vs", code: "ENOENT" });
    } finally {
      ipvs.close();
    }
  });
});
