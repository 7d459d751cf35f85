// moduleAvailability (server/kernel/modules.ts) over a made-up root: /sys/module, modules.builtin, modules.dep.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { moduleAvailability } from "@/server/kernel/modules";

function root(files: Record<string, string>, dirs: string[] = []): string {
  const r = mkdtempSync(join(tmpdir(), "modules-"));
  for (const d of dirs) mkdirSync(join(r, d), { recursive: true });
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(r, p, ".."), { recursive: true });
    writeFileSync(join(r, p), text);
  }
  return r;
}

describe("moduleAvailability", () => {
  const lib = "lib/modules/6.1.0-56-amd64";
  const r = root(
    {
      "proc/sys/kernel/osrelease": "6.1.0-56-amd64\n",
      [`${lib}/modules.dep`]: "kernel/net/netfilter/ipvs/ip_vs_rr.ko: kernel/net/netfilter/ipvs/ip_vs.ko\nkernel/net/netfilter/ipvs/ip_vs_mh.ko.xz:\n",
      [`${lib}/modules.builtin`]: "kernel/net/netfilter/ipvs/ip_vs_wlc.ko\n",
    },
    ["sys/module/ip_vs_lc"],
  );

  it("tells loaded, built in, loadable and missing apart", async () => {
    const ask = (m: string) => moduleAvailability(m, { root: r });
    expect(await Promise.all(["ip_vs_lc", "ip_vs_wlc", "ip_vs_rr", "ip_vs_mh", "ip_vs_twos"].map(ask))).toEqual(["loaded", "builtin", "loadable", "loadable", "missing"]);
  });

  it("says unknown without a module tree, and missing for a name no module can have", async () => {
    expect(await moduleAvailability("ip_vs_rr", { root: root({ "proc/sys/kernel/osrelease": "9.9\n" }) })).toBe("unknown");
    expect(await moduleAvailability("../etc/passwd", { root: r })).toBe("missing");
  });
});
