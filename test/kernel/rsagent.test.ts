// The real-server agent on the real kernel (lab guest only): `lvsdash rs-agent` started inside a DR site's real
// server namespace, listening on the real server's own address 192.0.2.11:9443 (plain HTTP: the lab's LAN is a
// bridge inside one guest), paired from the guest's root namespace, which gets an address on the site's LAN
// bridge (192.0.2.250/24) to reach it. Real server state is read with the oracles (`ip`, `sysctl`) in its
// namespace and compared before and after every change. The DR steps applied are the wizard's own plan.
//
// Run inside the lab: /work/main/.lab/lab test test/kernel/rsagent.test.ts
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { buildSite, type Site } from "@/lab/site/site";
import { parseIpAddrJson } from "@/server/kernel/sysctl";
import { createRealServerRegistry, type RealServerRegistry } from "@/server/realservers/registry";
import { realServerFindings } from "@/server/diagnostics/realservers";
import { parseIpvsadmRules } from "@/server/ipvs/rules/parse";
import { buildRuleTable } from "@/server/ipvs/rules/table";
import { tableStateFromRules } from "@/server/ipvs/snapshot/rules";
import { RealServerStore } from "@/server/realservers/store";
import { generateToken } from "@/server/rsagent/http";
import { parseWizardInput } from "@/server/wizards/input";
import { planWizard, type RealServerStep } from "@/server/wizards/plan";
import type { DirectorState } from "@/server/wizards/state";

import { startRsAgentIn, type StartedProcess } from "./agent-process";

const SITE = "rsag";
const NS = `${SITE}-rs1`;
const RS_IP = "192.0.2.11";
const URL_ = `http://${RS_IP}:9443`;
const VIP = "192.0.2.100";
const ROOT_ON_LAN = "192.0.2.250/24";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sh = (script: string) => execFileSync("sh", ["-ec", script], { encoding: "utf8" });
/** One sh inside the real server's namespace. */
const inRs = (script: string) => execFileSync("ip", ["netns", "exec", NS, "sh", "-ec", script], { encoding: "utf8" });

/** Everything a real-server change may touch, as the oracles print it. */
function rsState(): string {
  return inRs(`
    ip -4 -o addr show
    ip -4 route show table main
    ip -o link show | sed 's/ qlen.*//; s/link\\/.*//'
    sysctl net.ipv4.conf.all.arp_ignore net.ipv4.conf.all.arp_announce net.ipv4.conf.eth0.arp_ignore \\
      net.ipv4.conf.eth0.arp_announce net.ipv4.conf.lo.arp_ignore net.ipv4.conf.all.rp_filter net.ipv4.conf.eth0.rp_filter \\
      net.ipv4.ip_forward
  `);
}

/** The wizard's DR plan for this site: its real-server steps for rs1. */
function wizardDrSteps(): RealServerStep[] {
  const parsed = parseWizardInput({ mode: "dr", vip: VIP, ports: [80], director: { interface: "eth0" }, realServers: [{ address: RS_IP, weight: 1 }] });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const state: DirectorState = { ipvs: null, links: [], addresses: [], routes: [], sysctls: {}, modules: {}, nftTables: [] };
  return planWizard(parsed.input, state).realServers[0]!.steps;
}

/** A POST straight to the rs-agent, to see the HTTP status. */
function post(op: string, body: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: RS_IP, port: 9443, path: `/v1/ops/${op}`, method: "POST", headers: { "content-type": "application/json", ...headers } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(body);
  });
}

let site: Site;
let agent: StartedProcess;
let agentEnv: Record<string, string>;
let token: string;
let registry: RealServerRegistry;
let id: number;
let bare: string;

beforeAll(async () => {
  site = await buildSite({ name: SITE, mode: "dr", realServers: [{ name: "rs1", weight: 1 }] });
  // A bare real server: the site builder configured DR on it; take that away (VIP, ARP suppression).
  inRs(`
    ip addr del ${VIP}/32 dev lo
    sysctl -q -w net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 \\
      net.ipv4.conf.eth0.arp_ignore=0 net.ipv4.conf.eth0.arp_announce=0
  `);
  sh(`ip addr add ${ROOT_ON_LAN} dev ${site.lanBridge}`);
  const scratch = mkdtempSync(join(tmpdir(), "rs-agent-"));
  agentEnv = { LVSDASH_RS_TOKEN_FILE: join(scratch, "etc", "rs-token"), LVSDASH_RS_STATE_DIR: join(scratch, "state") };
  agent = await startRsAgentIn(NS, `${RS_IP}:9443`, agentEnv);
  token = /new token written to .*\n\s+(\S+)/.exec(agent.output())?.[1] ?? "";
  registry = createRealServerRegistry(RealServerStore.open(mkdtempSync(join(tmpdir(), "rs-registry-"))));
  bare = rsState();
}, 240_000);

afterAll(async () => {
  if (agent?.child.exitCode === null) agent.child.kill("SIGKILL");
  await site?.destroy();
});

describe("rs-agent in a DR real server's namespace", () => {
  it("printed a new token once, and listens on the real server's address over plain HTTP", () => {
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(agent.output()).toContain(`rs-agent listening on ${URL_} (plain HTTP`);
  });

  it("refuses a request without a token or with a wrong one (401) and changes nothing", async () => {
    const steps = JSON.stringify({ steps: wizardDrSteps(), confirmTimeoutSeconds: 60 });
    expect(await post("rs.apply", steps, {})).toBe(401);
    expect(await post("rs.apply", steps, { authorization: `Bearer ${generateToken()}` })).toBe(401);
    expect(await post("rs.facts", "{}", { authorization: `Bearer ${token.slice(0, -1)}` })).toBe(401);
    await expect(registry.pair({ url: URL_, token: generateToken() })).rejects.toMatchObject({ code: "permission_denied" });
    expect(registry.list()).toEqual([]);
    expect(rsState()).toBe(bare);
  });

  it("pairs with the printed token and reports facts that agree with ip and sysctl in the namespace", async () => {
    const { server, facts } = await registry.pair({ url: URL_, token });
    id = server.id;
    expect(server).toMatchObject({ url: URL_, hostname: facts.hostname, addresses: [RS_IP] });
    expect(registry.list()).toHaveLength(1);

    const oracle = inRs(`
      ip -j addr show
      echo ---
      for k in all.arp_ignore all.arp_announce all.rp_filter eth0.arp_ignore eth0.arp_announce eth0.rp_filter lo.arp_ignore; do
        echo "net.ipv4.conf.$k $(sysctl -n net.ipv4.conf.$k)"
      done
      echo "net.ipv4.ip_forward $(sysctl -n net.ipv4.ip_forward)"
      echo ---
      hostname
      echo ---
      ip -4 route show default
    `).split("---\n");
    const [addrJson, sysctlText, hostname, defaultRoute] = oracle as [string, string, string, string];
    const want = parseIpAddrJson(addrJson);
    expect(facts.interfaces.map((i) => [i.name, i.up, i.addresses])).toEqual(want.map((i) => [i.name, i.up, i.addresses]));
    expect(facts.interfaces.find((i) => i.name === "eth0")).toMatchObject({ mac: "02:00:00:00:00:11", addresses: [{ address: RS_IP, prefixLen: 24 }] });
    for (const line of sysctlText.trim().split("\n")) {
      const [key, value] = line.split(" ");
      expect([key, facts.sysctls[key!]]).toEqual([key, Number(value)]);
    }
    expect(facts.hostname).toBe(hostname.trim());
    expect(defaultRoute).toMatch(/^default via 192\.0\.2\.254 dev eth0/);
    expect(facts.defaultGateway).toBe("192.0.2.254");
    expect(facts.routes).toContainEqual({ dst: "192.0.2.0/24", dev: "eth0" });
    expect(facts.ipipLoaded).toBe(true); // the lab preloads ipip
    expect(facts.tunl0).toMatchObject({ up: false, addresses: [] });
  });

  it("a failure forced mid-apply (an address on a missing interface) leaves the real server exactly as before", async () => {
    const steps: RealServerStep[] = [...wizardDrSteps(), { kind: "address", ifname: "nosuch0", address: VIP, prefixLen: 32 }];
    const r = await registry.client(id).call("rs.apply", { steps, confirmTimeoutSeconds: 60 });
    expect(r).toMatchObject({ status: "rolled-back", failedStep: steps.length - 1, rollback: { errors: [] } });
    if (r.status !== "rolled-back") throw new Error("not rolled back");
    expect(r.error).toMatch(/ENODEV|Cannot find device|does not exist/);
    expect(r.rollback.undone).toHaveLength(5);
    expect(rsState()).toBe(bare);
  });

  it("an apply that is not confirmed in time is rolled back by the rs-agent's own timer", async () => {
    const client = registry.client(id);
    const r = await client.call("rs.apply", { steps: wizardDrSteps(), confirmTimeoutSeconds: 3 });
    if (r.status !== "pending") throw new Error(JSON.stringify(r));
    const applied = rsState();
    expect(applied).toContain(`inet ${VIP}/32 scope global lo`);
    expect(applied).toContain("net.ipv4.conf.eth0.arp_ignore = 1");
    // Nobody confirms; poll the agent's record of it.
    const until = Date.now() + 30_000;
    let last;
    do {
      await sleep(1_000);
      last = (await client.call("rs.status", {})).recent.find((t) => t.id === r.id);
    } while (!last && Date.now() < until);
    expect(last).toMatchObject({ state: "rolled-back", reason: "confirm-timeout", rollback: { errors: [] } });
    expect(rsState()).toBe(bare);
  });

  it("the wizard's DR steps, applied and confirmed, make the real server answer through the VIP", async () => {
    const before = await site.request(2, { timeoutMs: 2_000 });
    expect(before.failures).toBe(2); // no VIP on the real server: it drops what the director forwards
    // The diagnostics, from the agent's facts and the director's table, say what is wrong with it.
    const table = tableStateFromRules(buildRuleTable(parseIpvsadmRules(await site.ipvsadm(["-S", "-n"])).commands).table);
    const wrong = realServerFindings(table, await registry.facts(id));
    expect(wrong.length).toBeGreaterThan(0);
    expect(wrong.every((f) => f.hosts[0]?.ip === "192.0.2.11" && f.hosts[0].role === "real-server")).toBe(true);

    const client = registry.client(id);
    const r = await client.call("rs.apply", { steps: wizardDrSteps(), confirmTimeoutSeconds: 30 });
    if (r.status !== "pending") throw new Error(JSON.stringify(r));
    expect(r.steps.map((s) => s.outcome)).toEqual(["changed", "changed", "changed", "changed", "changed"]);
    await expect(client.call("rs.confirm", { id: r.id })).resolves.toMatchObject({ state: "confirmed" });

    const state = inRs(`
      ip -4 -o addr show dev lo | awk '{print $4}'
      sysctl -n net.ipv4.conf.all.arp_ignore net.ipv4.conf.all.arp_announce net.ipv4.conf.eth0.arp_ignore net.ipv4.conf.eth0.arp_announce
    `);
    expect(state.trim().split("\n")).toEqual(["127.0.0.1/8", `${VIP}/32`, "1", "2", "1", "2"]);
    const after = await site.request(3, { timeoutMs: 5_000 });
    expect(after.byServer).toEqual({ rs1: 3 });
    expect(realServerFindings(table, await registry.facts(id))).toEqual([]);

    // Applying the same steps again changes nothing (every step "already so").
    const again = await client.call("rs.apply", { steps: wizardDrSteps(), confirmTimeoutSeconds: 30 });
    if (again.status !== "pending") throw new Error(JSON.stringify(again));
    expect(again.steps.map((s) => s.outcome)).toEqual(["unchanged", "unchanged", "unchanged", "unchanged", "unchanged"]);
    await client.call("rs.rollback", { id: again.id });
    expect(inRs(`ip -4 -o addr show dev lo | awk '{print $4}'`).trim().split("\n")).toEqual(["127.0.0.1/8", `${VIP}/32`]);
  });

  it("an rs-agent killed (SIGKILL) with a change unconfirmed rolls it back when it starts again", async () => {
    const before = rsState();
    const r = await registry.client(id).call("rs.apply", {
      steps: [
        { kind: "address", ifname: "lo", address: "192.0.2.101", prefixLen: 32 },
        { kind: "default-route", via: "192.0.2.1" },
      ],
      confirmTimeoutSeconds: 600,
    });
    expect(r).toMatchObject({ status: "pending", steps: [{ outcome: "changed" }, { outcome: "changed" }] });
    expect(rsState()).toContain("default via 192.0.2.1 dev eth0");
    const exited = new Promise((resolve) => agent.child.once("exit", resolve));
    agent.child.kill("SIGKILL");
    await exited;
    expect(rsState()).not.toBe(before); // nobody undid it yet
    agent = await startRsAgentIn(NS, `${RS_IP}:9443`, agentEnv);
    expect(agent.output()).toMatch(/was left unconfirmed by the last run: rolled back \(2 undone\)/);
    expect(rsState()).toBe(before);
    expect((await registry.client(id).call("rs.status", {})).recent[0]).toMatchObject({ id: r.status === "pending" ? r.id : "", reason: "restart" });
  });

  it("unpairs", async () => {
    expect(registry.unpair(id)).toBe(true);
    expect(registry.list()).toEqual([]);
  });
});
