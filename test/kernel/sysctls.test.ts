// The sysctl reader and writer (server/kernel/sysctl.ts) on the real kernel, in a DR site's namespaces, and the
// claim the effective-sysctl checks (server/diagnostics/sysctls.ts) rest on: the kernel applies
// max(all, interface) of the interface an ARP request arrives on, so arp_ignore=1 on lo alone leaves a real
// server answering "who-has VIP" on eth0.
// Run inside the lab: npx tsx lab/host/cli.ts test test/kernel/sysctls.test.ts
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostFacts } from "@/lab/recorder/sysctls";
import { ADDR } from "@/lab/site/plan";
import { buildSite, type Site } from "@/lab/site/site";
import { SYSCTL_KINDS, evaluateHostSysctls, type HostFacts } from "@/server/diagnostics/sysctls";

let site: Site;

beforeAll(async () => {
  site = await buildSite({ name: "syt", mode: "dr" });
});

afterAll(async () => {
  await site?.destroy();
});

/** `sysctl -n NAME` for every name, in one sh inside the node's namespace. */
async function sysctlN(node: string, names: readonly string[]): Promise<Record<string, number>> {
  const script = names.map((n) => `printf '%s=%s\\n' '${n}' "$(sysctl -n '${n}')"`).join("\n");
  const { stdout } = await site.sh(node, script);
  return Object.fromEntries(stdout.trim().split("\n").map((l) => {
    const i = l.indexOf("=");
    return [l.slice(0, i), Number(l.slice(i + 1))];
  }));
}

/** MACs that answered "who-has VIP" from the router (arping 2.x prints "... bytes from MAC (IP): ..."). */
async function vipAnswerers(): Promise<{ macs: string[]; output: string }> {
  const r = await site.exec("router", ["arping", "-c", "3", "-w", "4", "-i", "eth1", ADDR.vip], { allowFailure: true, timeoutMs: 20_000 });
  const macs = [...new Set([...r.stdout.matchAll(/bytes from ([0-9a-f:]{17}) \(/g)].map((m) => m[1]!))].sort();
  return { macs, output: r.stdout + r.stderr };
}

const DR_RS = { role: "real-server" as const, vips: [{ address: ADDR.vip, mode: "dr" as const }], advice: false };

describe("sysctl reader in each namespace", () => {
  it("returns what `sysctl -n` says, per namespace (director, rs1, rs2, router)", async () => {
    const seen: Record<string, HostFacts> = {};
    for (const node of ["dir", "rs1", "rs2", "router"]) {
      const facts = await hostFacts(site, node);
      seen[node] = facts;
      const names = Object.keys(facts.sysctls);
      // 5 conf keys for all, default, lo and every interface, plus the globals ip_vs adds in each namespace.
      expect(names.length).toBeGreaterThanOrEqual(5 * 4 + 1);
      expect(await sysctlN(node, names)).toEqual(facts.sysctls);
    }
    // Per namespace: the real servers suppress ARP, the director does not; only the router forwards.
    expect(seen.rs2!.sysctls["net.ipv4.conf.eth0.arp_ignore"]).toBe(1);
    expect(seen.dir!.sysctls["net.ipv4.conf.eth0.arp_ignore"]).toBe(0);
    expect(seen.router!.sysctls["net.ipv4.ip_forward"]).toBe(1);
    expect(seen.dir!.sysctls["net.ipv4.ip_forward"]).toBe(0);
    // Addresses: the VIP on the real server's lo as a /32, on the director's eth0.
    expect(seen.rs2!.interfaces.find((i) => i.name === "lo")?.addresses).toContainEqual({ address: ADDR.vip, prefixLen: 32 });
    expect(seen.dir!.interfaces.find((i) => i.name === "eth0")?.addresses).toContainEqual({ address: ADDR.vip, prefixLen: 32 });
    expect(seen.rs2!.interfaces.find((i) => i.name === "eth0")?.mac).toBe(site.host("rs2").interfaces[0]!.mac);
    for (const node of ["dir", "rs1", "rs2"]) {
      const role = node === "dir" ? { role: "director" as const, vips: DR_RS.vips, advice: false } : DR_RS;
      expect(evaluateHostSysctls(seen[node]!, role).map((f) => f.id), node).toEqual([]);
    }
  });

  it("writeSysctl refuses what is not allow-listed, and a missing interface", async () => {
    const bad = await site.exec("rs2", [process.execPath, "--import", "tsx", "lab/recorder/host-facts.ts", "--write", "arp_ignore", "eth9", "1"], { allowFailure: true, timeoutMs: 60_000 });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("no interface eth9");
    const bad2 = await site.exec("rs2", [process.execPath, "--import", "tsx", "lab/recorder/host-facts.ts", "--write", "arp_ignore", "eth0", "9"], { allowFailure: true, timeoutMs: 60_000 });
    expect(bad2.stderr).toContain("9 is not one of");
  });
});

describe("arp_ignore=1 on lo only", () => {
  it("leaves the real server answering ARP for the VIP on eth0; the evaluator says so; eth0=1 stops it", async () => {
    const dirMac = site.host("dir").interfaces[0]!.mac;
    const rs2Mac = site.host("rs2").interfaces[0]!.mac;
    const healthy = await vipAnswerers();
    expect(healthy.macs, healthy.output).toEqual([dirMac]);

    // all=0, eth0=0 by sysctl(8); lo=1 through writeSysctl.
    await site.sh("rs2", "sysctl -qw net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.eth0.arp_ignore=0");
    const loOnly = await hostFacts(site, "rs2", ["--write", "arp_ignore", "lo", "1"]);
    expect(await sysctlN("rs2", ["net.ipv4.conf.lo.arp_ignore", "net.ipv4.conf.eth0.arp_ignore", "net.ipv4.conf.all.arp_ignore"]))
      .toEqual({ "net.ipv4.conf.lo.arp_ignore": 1, "net.ipv4.conf.eth0.arp_ignore": 0, "net.ipv4.conf.all.arp_ignore": 0 });
    const answered = await vipAnswerers();
    expect(answered.macs, answered.output).toContain(rs2Mac);
    expect(answered.macs).toContain(dirMac);
    const findings = evaluateHostSysctls(loOnly, DR_RS);
    const arp = findings.find((f) => f.id === `${SYSCTL_KINDS.arpIgnore}:${site.host("rs2").realServer!.rip}:eth0`);
    expect(arp?.severity).toBe("critical");
    expect(arp?.hosts[0]?.mac).toBe(rs2Mac);
    expect(arp?.explanation).toContain("net.ipv4.conf.lo.arp_ignore=1 changes nothing");

    // The interface's own value (max(all, eth0) = 1) is what stops it.
    const fixed = await hostFacts(site, "rs2", ["--write", "arp_ignore", "eth0", "1"]);
    const after = await vipAnswerers();
    expect(after.macs, after.output).toEqual([dirMac]);
    expect(evaluateHostSysctls(fixed, DR_RS).map((f) => f.id)).toEqual([]);
  });
});
