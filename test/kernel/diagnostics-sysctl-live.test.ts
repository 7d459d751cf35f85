// The director's own settings in the live diagnostics, on the real kernel: the agent runs in a NAT site's
// director namespace and the test drives it only through its ops, as the web server does. With a capture
// running, forwarding switched off on the director (sysctl net.ipv4.ip_forward=0, which the kernel applies to
// every interface) is reported within 10 s as the director's finding with the fix, and marked resolved within
// 10 s of switching it back on. No packet is needed for this finding: the agent reads the sysctls itself with
// each refresh of the site (every 5 s).
//
// Run inside the lab: npx tsx lab/host/cli.ts test test/kernel/diagnostics-sysctl-live.test.ts

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { Site } from "@/lab/site/site";
import type { AgentClient } from "@/server/agent/client";
import type { FindingView } from "@/server/diagnostics/live";

import { openSiteWithAgent, type SiteWithAgent } from "./agent-process";
import { within } from "./within";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let site: Site;
let lab: SiteWithAgent;
let agent: AgentClient;

const forwardingOff = (f: FindingView) => f.kind === "sysctl-ip-forward" && f.hosts[0]?.role === "director";

beforeAll(async () => {
  lab = await openSiteWithAgent({ name: "ds", mode: "nat" });
  ({ site, agent } = lab);
});

afterAll(async () => {
  await lab?.close();
});

describe("live diagnostics: the director's own sysctls (NAT director)", () => {
  it("forwarding off on the director: reported within 10 s with the fix, resolved within 10 s of turning it on", async () => {
    const started = await agent.call("capture.start", { interfaces: ["eth0"] });
    expect(started.running).toBe(true);
    await sleep(2_000);
    const healthy = await agent.call("diagnostics.findings", { since: 0 });
    expect(healthy.open.filter(forwardingOff)).toEqual([]);

    const onAt = Date.now();
    await site.sh("dir", "sysctl -q -w net.ipv4.ip_forward=0");
    const found = await within(10, async () => (await agent.call("diagnostics.findings", { since: 0 })).open.find(forwardingOff) ?? null);
    const onS = (Date.now() - onAt) / 1000;
    expect(found, "no finding about the director's forwarding within 10 s").not.toBeNull();
    expect(found!.value.severity).toBe("critical");
    expect(found!.value.fix.commands.join("\n")).toContain("net.ipv4.ip_forward=1");

    const offAt = Date.now();
    await site.sh("dir", "sysctl -q -w net.ipv4.ip_forward=1");
    const resolved = await within(10, async () => {
      const r = await agent.call("diagnostics.findings", { since: 0 });
      return r.open.some(forwardingOff) ? null : r;
    });
    process.stdout.write(
      `diagnostics-sysctl-live: reported ${found!.seconds.toFixed(1)} s after the change (${onS.toFixed(1)} s with the script), ` +
        `resolved ${resolved?.seconds.toFixed(1) ?? "never"} s after the fix (${((Date.now() - offAt) / 1000).toFixed(1)} s with the script)\n`,
    );
    expect(resolved, "the finding is still open 10 s after forwarding was turned on").not.toBeNull();
    expect(resolved!.value.resolved.some(forwardingOff)).toBe(true);
    await agent.call("capture.stop", {});
  });
});
