// Live diagnostics through the agent, on the real kernel: the agent runs in a DR site's director namespace as in
// production (agent-only), and the test drives it only through its ops over the Unix socket, as the web server
// does: capture.start on the director's eth0 (the BPF filter from the agent's own IPVS table), rs2's ARP fault
// switched on (diagnostics.findings names rs2 within 10 s), the finding's evidence downloaded
// (diagnostics.evidence) and read back by tshark, which must find rs2's ARP reply for the VIP in it; the fault
// fixed (resolved within 10 s); capture.stop.
//
// Where to capture: a director's own port only sees what is sent to it, and rs2's ARP replies go to the router.
// An admin captures on a mirror (SPAN) port for that; here the LAN bridge forgets MACs at once (ageing_time 0)
// and so floods every frame to every port, the director's included: the same view.
//
// Run inside the lab: npx tsx lab/host/cli.ts test test/kernel/diagnostics-live.test.ts
import { execFile, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { buildSite, type Site, type Traffic } from "@/lab/site/site";
import { createAgentClient, createSocketExchange, type AgentClient, type SocketExchange } from "@/server/agent/client";
import { parseEvidenceId, type FindingView } from "@/server/diagnostics/live";

import { startAgentIn } from "./agent-process";
import { within } from "./within";

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RS2 = { ip: "192.0.2.12", mac: "02:00:00:00:00:12" };
const DIRECTOR_MAC = "02:00:00:00:00:01";
const VIP = "192.0.2.100";

const dir = mkdtempSync(join(tmpdir(), "lvsdash-diag-"));
const socketPath = join(dir, "run", "agent.sock");
let site: Site;
let agentProcess: ChildProcess;
let exchange: SocketExchange;
let agent: AgentClient;
let traffic: Traffic | null = null;

const aboutRs2 = (f: FindingView) => f.hosts[0]?.ip === RS2.ip && f.hosts[0]?.mac === RS2.mac;

beforeAll(async () => {
  site = await buildSite({ name: "dg", mode: "dr" });
  await run("ip", ["link", "set", "dev", site.lanBridge, "type", "bridge", "ageing_time", "0"]);
  agentProcess = await startAgentIn(site.host("dir").netns, socketPath);
  exchange = createSocketExchange({ path: socketPath });
  agent = createAgentClient(exchange.exchange);
});

afterAll(async () => {
  await traffic?.stop();
  exchange?.close();
  if (agentProcess && agentProcess.exitCode === null) agentProcess.kill("SIGKILL");
  await site?.destroy();
});

describe("live diagnostics through the agent (DR director, eth0)", () => {
  it("capture.start; rs2 answering ARP for the VIP found within 10 s; its evidence pcap holds rs2's ARP reply (tshark); resolved within 10 s of the fix", async () => {
    traffic = await site.startTraffic({ intervalMs: 200 });
    await sleep(2_000); // the director resolves the real servers' MACs (its neighbour table names them)

    await expect(agent.call("capture.start", { interfaces: ["../eth0"] })).rejects.toMatchObject({ code: "invalid_input" });
    await expect(agent.call("capture.start", { interfaces: ["nosuch0"] })).rejects.toMatchObject({ code: "invalid_input" });

    const started = await agent.call("capture.start", { interfaces: ["eth0"] });
    expect(started.running).toBe(true);
    expect(started.interfaces.map((i) => i.name)).toContain("eth0");
    expect(started.taps[0]!.filter).toMatch(/^arp or host 192\.0\.2\.1 or host 192\.0\.2\.11 or host 192\.0\.2\.12 or host 192\.0\.2\.100 /);
    expect(started.vips.map((v) => [v.address, v.mode])).toEqual([[VIP, "dr"]]);
    const session = started.session!;

    await sleep(5_000);
    const healthy = await agent.call("diagnostics.findings", { since: 0 });
    expect(healthy.open).toEqual([]);
    const healthyStatus = await agent.call("capture.status", {});
    expect(healthyStatus.taps[0]!.packetsPerSecond).toBeGreaterThan(1);
    expect(healthyStatus.vips[0]!.packetsPerSecond).toBeGreaterThan(1);

    const onAt = Date.now();
    await site.setFault({ kind: "rs-arp", rs: "rs2" }, true);
    const onScriptS = (Date.now() - onAt) / 1000;
    const detected = await within(10, async () => {
      const r = await agent.call("diagnostics.findings", { since: healthy.cursor });
      return r.open.find((f) => aboutRs2(f) && f.kind === "arp-real-server-claims-vip") ?? null;
    });
    expect(detected, "no finding naming rs2 within 10 s of the fault").not.toBeNull();
    const finding = detected!.value;
    expect(finding.severity).toBe("critical");
    expect(finding.fix.commands.join("\n")).toMatch(/arp_ignore/);

    // Who answered ARP for the VIP, as the capture page shows it: the director and rs2, named.
    const status = await agent.call("capture.status", {});
    const answerers = status.vips[0]!.arp.map((a) => [a.mac, a.role]);
    expect(answerers).toContainEqual([RS2.mac, "real-server"]);
    expect(answerers).toContainEqual([DIRECTOR_MAC, "director"]);

    // The evidence, as the download serves it; tshark reads it.
    const id = parseEvidenceId(finding.evidenceId)!;
    expect(id.session).toBe(session);
    const evidence = await agent.call("diagnostics.evidence", id);
    if (!evidence.found) throw new Error(evidence.reason);
    const pcapFile = join(dir, "evidence.pcap");
    writeFileSync(pcapFile, Buffer.from(evidence.pcapBase64, "base64"));
    const { stdout } = await run("tshark", [
      "-r", pcapFile, "-Y", `arp.opcode == 2 && arp.src.proto_ipv4 == ${VIP} && arp.src.hw_mac == ${RS2.mac}`,
      "-T", "fields", "-e", "frame.number", "-e", "eth.src", "-e", "arp.src.proto_ipv4",
    ]);
    const replies = stdout.trim().split("\n").filter(Boolean);
    expect(replies.length, `tshark found no ARP reply from rs2 for the VIP in ${evidence.packets.length} evidence packets`).toBeGreaterThan(0);
    expect(replies[0]!.split("\t")).toEqual([expect.any(String), RS2.mac, VIP]);

    const offAt = Date.now();
    await site.setFault({ kind: "rs-arp", rs: "rs2" }, false);
    const offScriptS = (Date.now() - offAt) / 1000;
    const resolved = await within(10, async () => {
      const r = await agent.call("diagnostics.findings", { since: 0 });
      return r.open.some(aboutRs2) ? null : r;
    });
    const report = {
      detect: { afterScriptSeconds: detected!.seconds, faultScriptSeconds: onScriptS },
      resolve: { afterScriptSeconds: resolved?.seconds ?? null, fixScriptSeconds: offScriptS },
      finding: { title: finding.title, evidence: evidence.packets, tshark: replies },
      answerers: status.vips[0]!.arp,
      taps: status.taps,
    };
    process.stdout.write(`diagnostics-live: ${JSON.stringify(report, null, 2)}\n`);
    const artifacts = process.env.LAB_ARTIFACTS;
    if (artifacts) {
      mkdirSync(artifacts, { recursive: true });
      writeFileSync(join(artifacts, "diagnostics-live.json"), `${JSON.stringify(report, null, 2)}\n`);
      writeFileSync(join(artifacts, "diagnostics-live-evidence.pcap"), Buffer.from(evidence.pcapBase64, "base64"));
    }
    expect(resolved, "findings naming rs2 still open 10 s after the fix").not.toBeNull();
    const gone = resolved!.value.resolved.find((f) => f.evidenceId === finding.evidenceId);
    expect(gone?.resolvedAt).toBeGreaterThanOrEqual(offAt / 1000 - 1);
    expect(resolved!.value.events.map((e) => `${e.type} ${e.evidenceId}`)).toEqual(
      expect.arrayContaining([`opened ${finding.evidenceId}`, `resolved ${finding.evidenceId}`]),
    );

    const stopped = await agent.call("capture.stop", {});
    expect(stopped.running).toBe(false);
    expect(stopped.taps[0]!.kernelDropped).toBe(0);
    // After the stop the findings and their evidence stay readable.
    expect((await agent.call("diagnostics.evidence", id)).found).toBe(true);
  });
});
