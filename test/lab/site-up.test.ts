// Runs the parts of a site's `up` script that need no IPVS (namespaces, veths, bridges, addresses, routes,
// sysctls, HTTP servers, nftables) on THIS machine, in a private network and mount namespace, then `down`.
// The IPVS and ipip steps run only in the lab guest (test/kernel/site.test.ts).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { joinSteps, planSite, type Needs, type SitePlan } from "@/lab/site/plan";

const work = mkdtempSync(join(tmpdir(), "lab-site-up-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// Needs root (namespaces, veths, bridges); skipped with a warning elsewhere.
const probe = spawnSync("unshare", ["-n", "-m", "true"]);
const canNetns = probe.status === 0 && process.getuid?.() === 0;
if (!canNetns) console.warn(`lab site up/down tests skipped: needs root and unshare -n -m (${probe.stderr?.toString().trim()})`);

/** Runs the plan's steps that this host supports, then `checks`, then `down`; returns checks' "key=value" lines. */
function runOnHost(plan: SitePlan, supported: readonly Needs[], checks: string): Record<string, string> {
  const dir = mkdtempSync(join(work, `${plan.spec.name}-`));
  writeFileSync(join(dir, "up.sh"), joinSteps(plan.steps.filter((s) => supported.includes(s.needs))));
  writeFileSync(join(dir, "down.sh"), plan.down);
  writeFileSync(join(dir, "checks.sh"), checks);
  const driver = [
    "set -e",
    // A private /run/netns: `ip netns add` here stays invisible to the rest of the machine.
    "mkdir -p /run/netns && mount -t tmpfs lab-netns /run/netns",
    `trap 'sh ${dir}/down.sh' EXIT`,
    `sh -e ${dir}/up.sh`,
    `sh ${dir}/checks.sh`,
  ].join("\n");
  const r = spawnSync("unshare", ["-n", "-m", "sh", "-c", driver], { encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new Error(`site ${plan.spec.name} failed on the host (${r.status}):\n${r.stderr}`);
  return Object.fromEntries(
    r.stdout.split("\n").filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

// (busybox 1.35 wget -T segfaults here: timeout(1) instead.)
const wget = (ns: string, url: string) => `ip netns exec ${ns} timeout 5 busybox wget -q -O - ${url} 2>&1 || echo FAILED`;

/** Checks common to all modes, then the site torn down: nothing of it may stay. */
function commonChecks(plan: SitePlan): string {
  const nss = plan.hosts.map((h) => h.netns).join(" ");
  return [
    `echo "rs2mac=$(ip -n ${plan.spec.name}-rs2 -br link show eth0 | awk '{print $3}')"`,
    `echo "ipv6=$(for ns in ${nss}; do ip -n $ns -6 -o addr show; done | wc -l)"`,
    `echo "lanports=$(ip -br link show master ${plan.lanBridge} | awk '{print $1}' | sed 's/@.*//' | sort | tr '\\n' ' ')"`,
    `echo "httpd=$(for ns in ${nss}; do ip netns pids $ns; done | tr '\\n' ' ')"`,
    `sh ${"$(dirname $0)"}/down.sh`,
    `echo "after_links=$(ip -br link | awk '{print $1}' | tr '\\n' ' ')"`,
    `echo "after_netns=$(ls /run/netns | wc -l)"`,
  ].join("\n");
}

function expectCommon(plan: SitePlan, out: Record<string, string>, modeMacRs2: string) {
  expect(out.rs2mac).toBe(modeMacRs2);
  expect(out.ipv6).toBe("0");
  expect(out.after_links!.trim()).toBe("lo");
  expect(out.after_netns).toBe("0");
  // The HTTP servers were running before down, and down killed them.
  const pids = out.httpd!.trim().split(/\s+/).filter(Boolean);
  expect(pids.length).toBe(plan.spec.realServers.length);
  // (A killed process may take a moment to exit and be reaped.)
  const alive = () => pids.filter((pid) => spawnSync("kill", ["-0", pid]).status === 0);
  for (let i = 0; i < 30 && alive().length > 0; i++) spawnSync("sleep", ["0.1"]);
  expect(alive()).toEqual([]);
}

// Each test starts some 40 processes: seconds on a loaded machine, beyond vitest's default 5 s.
describe.skipIf(!canNetns)("site up/down on this host (no IPVS: network, HTTP and nftables only)", { timeout: 60_000 }, () => {
  it("DR: client reaches a real server through the router; the LAN bridge holds router, director and real servers", () => {
    const plan = planSite({ name: "u1", mode: "dr" }, { workRoot: work });
    const out = runOnHost(plan, ["base"], [
      `echo "client_rs1=$(${wget("u1-client", "http://192.0.2.11/")})"`,
      `echo "router_rs2_peer=$(${wget("u1-router", "http://192.0.2.12/cgi-bin/peer")})"`,
      `echo "rs1_arp=$(ip netns exec u1-rs1 sysctl -n net.ipv4.conf.eth0.arp_ignore net.ipv4.conf.all.arp_announce | tr '\\n' ' ')"`,
      `echo "rs1_lo=$(ip -n u1-rs1 -4 -o addr show dev lo | grep -c 192.0.2.100/32)"`,
      commonChecks(plan),
    ].join("\n"));
    expect(out.client_rs1).toBe("rs1");
    expect(out.router_rs2_peer).toBe("rs2 192.0.2.254");
    expect(out.rs1_arp!.trim()).toBe("1 2");
    expect(out.rs1_lo).toBe("1");
    expect(out.lanports!.trim()).toBe("u1-dir-l u1-router-l u1-rs1-l u1-rs2-l");
    expectCommon(plan, out, "02:00:00:00:00:12");
  });

  it("NAT: real servers on the inner net, default route via the DIP, one on a mapped port", () => {
    const plan = planSite(
      { name: "u2", mode: "nat", realServers: [{ name: "rs1", weight: 1 }, { name: "rs2", weight: 2, port: 8080 }] },
      { workRoot: work },
    );
    const out = runOnHost(plan, ["base"], [
      `echo "dir_rs2=$(${wget("u2-dir", "http://198.51.100.12:8080/")})"`,
      `echo "rs1_route=$(ip -n u2-rs1 route show default)"`,
      `echo "dir_fwd=$(ip netns exec u2-dir sysctl -n net.ipv4.ip_forward)"`,
      commonChecks(plan),
    ].join("\n"));
    expect(out.dir_rs2).toBe("rs2");
    expect(out.rs1_route).toBe("default via 198.51.100.1 dev eth0 ");
    expect(out.dir_fwd).toBe("1");
    expectCommon(plan, out, "02:00:00:00:02:12");
  });

  it("FULLNAT: the SNAT rule loads; real servers route to their own gateway, not the director", () => {
    const plan = planSite({ name: "u3", mode: "fullnat" }, { workRoot: work });
    const out = runOnHost(plan, ["base", "nft"], [
      `echo "snat=$(ip netns exec u3-dir nft list ruleset | grep -c 'snat to 198.51.100.1')"`,
      `echo "gw_peer=$(${wget("u3-gw", "http://198.51.100.11/cgi-bin/peer")})"`,
      `echo "rs2_route=$(ip -n u3-rs2 route show default)"`,
      commonChecks(plan),
    ].join("\n"));
    expect(out.snat).toBe("1");
    expect(out.gw_peer).toBe("rs1 198.51.100.254");
    expect(out.rs2_route).toBe("default via 198.51.100.254 dev eth0 ");
    expectCommon(plan, out, "02:00:00:00:02:12");
  });

  it("TUN: the network and HTTP steps run here too (tunl0 needs ipip: lab only)", () => {
    const plan = planSite({ name: "u4", mode: "tun" }, { workRoot: work });
    const out = runOnHost(plan, ["base"], [`echo "nodes=$(ls /run/netns | wc -l)"`, commonChecks(plan)].join("\n"));
    expect(Number(out.nodes)).toBe(plan.hosts.length);
    expectCommon(plan, out, "02:00:00:00:00:12");
  });
});
