// The real servers' side of a wizard change (server/wizards/realservers.ts): two real-server agents with the real
// HTTP listener and transaction journal over in-memory hosts (test/rsagent/fake-host.ts), paired in a real
// registry; the director's agent is a stand-in that keeps a WizardStatus. What is checked: the order (real servers
// first, director last), the undo of every real server when one of them fails, when the director refuses, when
// the director's change ends rolled back (by the watcher, with an audit entry), and a confirm that checks every
// real server first. The real kernels are in test/kernel/wizard.test.ts.
import { existsSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import type { AgentClient } from "@/server/agent/client";
import { createOpDispatcher } from "@/server/agent/dispatcher";
import { AgentError } from "@/server/agent/protocol";
import type { RealServerFacts } from "@/server/kernel/rsnet";
import { createRealServerRegistry, type RealServerRegistry } from "@/server/realservers/registry";
import { RealServerStore } from "@/server/realservers/store";
import { generateToken, listenRsAgent, type RsListener } from "@/server/rsagent/http";
import { createTransactionManager } from "@/server/rsagent/journal";
import { realServerOps } from "@/server/rsagent/ops";
import { RS_OPS } from "@/server/rsagent/protocol";
import type { WizardStatus } from "@/server/wizards/apply";
import { parseWizardInput, type WizardInput } from "@/server/wizards/input";
import { planWizard } from "@/server/wizards/plan";
import { fileSidesStore, RealServerSides, RS_APPLY_ALLOWANCE_S, autoRollbackEntry } from "@/server/wizards/realservers";
import type { DirectorState } from "@/server/wizards/state";

import { drRealServer, FakeHost, type HostState } from "../rsagent/fake-host";

const VIP = "192.0.2.100";

function factsOf(hostname: string, address: string): RealServerFacts {
  return {
    name: hostname,
    hostname,
    kernel: "6.1.0-56-amd64",
    sysctls: {},
    interfaces: [
      { name: "lo", up: true, linkType: "loopback", addresses: [{ address: "127.0.0.1", prefixLen: 8 }] },
      { name: "eth0", up: true, linkType: "ether", mac: "02:00:00:00:00:11", addresses: [{ address, prefixLen: 24 }] },
    ],
    routes: [],
    defaultGateway: null,
    ipipLoaded: false,
    tunl0: null,
    takenAt: 1,
  };
}

interface RealServer {
  address: string;
  host: FakeHost;
  bare: HostState;
  listener: RsListener;
  token: string;
}

async function startRealServer(n: number): Promise<RealServer> {
  const address = `192.0.2.1${n}`;
  const state = drRealServer();
  state.links.eth0!.addresses = [`${address}/24`];
  const host = new FakeHost(state);
  const token = generateToken();
  const exchange = createOpDispatcher(RS_OPS, realServerOps(createTransactionManager({ kernel: host }), async () => factsOf(`rs${n}`, address)));
  const listener = await listenRsAgent({ host: "127.0.0.1", port: 0, token, exchange });
  return { address, host, bare: host.snapshot(), listener, token };
}

function drInput(confirmTimeoutSeconds = 60): WizardInput {
  const parsed = parseWizardInput({
    mode: "dr",
    vip: VIP,
    ports: [80],
    director: { interface: "eth0" },
    realServers: [
      { address: "192.0.2.11", weight: 1 },
      { address: "192.0.2.12", weight: 2 },
      { address: "192.0.2.13", weight: 1 },
    ],
    confirmTimeoutSeconds,
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.input;
}

const EMPTY: DirectorState = { ipvs: null, links: [], addresses: [], routes: [], sysctls: {}, modules: {}, nftTables: [] };

/** The director's agent as far as the coordinator sees it: wizard.status / confirm / rollback over one status. */
class Director {
  status: WizardStatus = { id: null, phase: "idle", steps: [] };
  calls: string[] = [];
  failConfirm = false;
  client: AgentClient = {
    call: (async (op: string) => {
      this.calls.push(op);
      if (op === "wizard.status") return structuredClone(this.status);
      if (op === "wizard.confirm") {
        if (this.failConfirm) throw new AgentError("invalid_input", "no change waits for a confirmation");
        this.status = { ...this.status, phase: "committed", finishedAt: 2 };
        return structuredClone(this.status);
      }
      if (op === "wizard.rollback") {
        this.status = { ...this.status, phase: "rolled-back", finishedAt: 2 };
        return structuredClone(this.status);
      }
      throw new Error(`unexpected op ${op}`);
    }) as AgentClient["call"],
  };
  start = async (): Promise<WizardStatus> => {
    this.calls.push("wizard.apply");
    this.status = { id: "00000000-0000-4000-8000-000000000001", phase: "applying", steps: [], startedAt: 1 };
    return structuredClone(this.status);
  };
}

let servers: RealServer[];
let registry: RealServerRegistry;
let director: Director;
let autoRollbacks: Parameters<typeof autoRollbackEntry>[0][];
let sides: RealServerSides;
const input = drInput();
const plan = planWizard(input, EMPTY).realServers;

beforeEach(async () => {
  servers = [await startRealServer(1), await startRealServer(2), await startRealServer(3)];
  registry = createRealServerRegistry(RealServerStore.open(mkdtempSync(join(tmpdir(), "wizard-rs-"))));
  // rs1 and rs2 have agents; rs3 is run by hand.
  for (const rs of servers.slice(0, 2)) await registry.pair({ url: rs.listener.url, token: rs.token });
  director = new Director();
  autoRollbacks = [];
  sides = new RealServerSides(() => registry, { watchMs: 20, onAutoRollback: (c) => autoRollbacks.push(c) });
});

afterEach(async () => {
  for (const rs of servers) await rs.listener.close().catch(() => undefined);
});

const lo = (rs: RealServer) => rs.host.state.links.lo!.addresses;

describe("a wizard change with paired real-server agents", () => {
  it("applies each paired real server's steps first, pending on its agent, then starts the director", async () => {
    const status = await sides.apply(director.client, input, plan, director.start);
    expect(director.calls).toEqual(["wizard.apply"]);
    expect(status.phase).toBe("applying");
    expect(status.realServers.map((s) => [s.address, s.state, s.agent?.name ?? null])).toEqual([
      ["192.0.2.11", "pending", "rs1"],
      ["192.0.2.12", "pending", "rs2"],
      ["192.0.2.13", "manual", null],
    ]);
    for (const rs of servers.slice(0, 2)) {
      expect(lo(rs)).toContain(`${VIP}/32`);
      expect(rs.host.state.sysctls["all.arp_ignore"]).toBe(1);
    }
    expect(servers[2]!.host.snapshot()).toEqual(servers[2]!.bare);
    // Each agent's own timer outlives the director's by the apply allowance.
    const rs1 = await registry.client(registry.forAddress("192.0.2.11")!.id).call("rs.status", {});
    const window = rs1.pending!.deadline! - rs1.pending!.startedAt;
    expect(window).toBeGreaterThanOrEqual((input.confirmTimeoutSeconds + RS_APPLY_ALLOWANCE_S) * 1000);
    expect(window).toBeLessThan((input.confirmTimeoutSeconds + RS_APPLY_ALLOWANCE_S + 5) * 1000);
  });

  it("a real server whose agent is gone fails the apply: the ones before it are undone, the director is never touched", async () => {
    await servers[1]!.listener.close();
    const failed = sides.apply(director.client, input, plan, director.start);
    await expect(failed).rejects.toMatchObject({ name: "RealServerApplyError", message: expect.stringMatching(/^real server 192\.0\.2\.12 \(agent rs2\): its agent did not apply the steps: .*Nothing was changed on the director; the real servers applied before it were rolled back\.$/) });
    expect(director.calls).toEqual([]);
    expect(servers[0]!.host.snapshot()).toEqual(servers[0]!.bare);
    const err = await failed.catch((e: { sides: { address: string; state: string }[] }) => e.sides.map((s) => [s.address, s.state]));
    expect(err).toEqual([
      ["192.0.2.11", "rolled-back"],
      ["192.0.2.12", "failed"],
      ["192.0.2.13", "manual"],
    ]);
  });

  it("a step that fails on a real server is undone there, and the real servers before it too", async () => {
    servers[1]!.host.failures.set("addAddress", "EPERM");
    await expect(sides.apply(director.client, input, plan, director.start)).rejects.toThrow(/^real server 192\.0\.2\.12 \(agent rs2\): step 5 failed: .*EPERM/);
    for (const rs of servers) expect(rs.host.snapshot()).toEqual(rs.bare);
    expect(director.calls).toEqual([]);
  });

  it("the first real server failing leaves the next one untouched (planned, never applied)", async () => {
    servers[0]!.host.failures.set("writeSysctl", "EIO");
    const sidesAfter = await sides.apply(director.client, input, plan, director.start).catch((e: { sides: { state: string }[] }) => e.sides.map((x) => x.state));
    expect(sidesAfter).toEqual(["failed", "planned", "manual"]);
    expect(servers[1]!.host.calls).toEqual([]);
    for (const rs of servers) expect(rs.host.snapshot()).toEqual(rs.bare);
  });

  it("rollback undoes the real servers even when the director has nothing left to roll back", async () => {
    const started = await sides.apply(director.client, input, plan, director.start);
    director.client.call = (async () => {
      throw new AgentError("invalid_input", "no change to roll back");
    }) as AgentClient["call"];
    await expect(sides.rollback(director.client, started.id!)).rejects.toThrow(/no change to roll back/);
    for (const rs of servers) expect(rs.host.snapshot()).toEqual(rs.bare);
  });

  it("a director that refuses the change has every real server undone, and its refusal passes through", async () => {
    const refuse = async (): Promise<WizardStatus> => {
      throw new AgentError("invalid_input", "the director changed since the plan was shown");
    };
    await expect(sides.apply(director.client, input, plan, refuse)).rejects.toThrow(/changed since the plan/);
    for (const rs of servers) expect(rs.host.snapshot()).toEqual(rs.bare);
  });

  it("a director change that ends rolled back (failed verification, its timer) has the real servers undone by the watcher, audited", async () => {
    await sides.apply(director.client, input, plan, director.start);
    director.status = { ...director.status, phase: "rolled-back", finishedAt: 2, rollback: { ok: true, reason: "not confirmed within 60 s", remaining: [], failures: [] } };
    for (let i = 0; i < 100 && servers.slice(0, 2).some((rs) => lo(rs).includes(`${VIP}/32`)); i++) await new Promise((r) => setTimeout(r, 20));
    for (const rs of servers) expect(rs.host.snapshot()).toEqual(rs.bare);
    expect(autoRollbacks).toHaveLength(1);
    const entry = autoRollbackEntry(autoRollbacks[0]!);
    expect(entry).toMatchObject({ op: "wizards.realServers", kind: "agent", result: "ok" });
    expect(entry.rollback).toMatch(/^the director's change was rolled-back: real servers rolled back\n192\.0\.2\.11: rolled-back \(agent rs1, change [0-9a-f]{16}\)\n192\.0\.2\.12: rolled-back/);
    const status = await sides.status(director.client);
    expect(status.realServers.map((s) => s.state)).toEqual(["rolled-back", "rolled-back", "manual"]);
    // The next change may start.
    await expect(sides.apply(director.client, input, plan, director.start)).resolves.toMatchObject({ phase: "applying" });
  });

  it("confirm checks every real server first, then confirms the director and each of them", async () => {
    const started = await sides.apply(director.client, input, plan, director.start);
    director.status = { ...director.status, phase: "awaiting-confirm" };
    const done = await sides.confirm(director.client, started.id!);
    expect(done.phase).toBe("committed");
    expect(done.realServers.map((s) => s.state)).toEqual(["confirmed", "confirmed", "manual"]);
    for (const rs of servers.slice(0, 2)) expect((await registry.client(registry.forAddress(rs.address)!.id).call("rs.status", {})).pending).toBeNull();
    expect(lo(servers[0]!)).toContain(`${VIP}/32`);
  });

  it("a confirm with a real server's agent gone rolls back the director and the others, and fails", async () => {
    const started = await sides.apply(director.client, input, plan, director.start);
    director.status = { ...director.status, phase: "awaiting-confirm" };
    await servers[1]!.listener.close();
    await expect(sides.confirm(director.client, started.id!)).rejects.toThrow(/^real server 192\.0\.2\.12 \(agent rs2\) cannot be confirmed: its agent did not answer: .*Everything was rolled back/);
    expect(director.calls).toContain("wizard.rollback");
    expect(director.calls).not.toContain("wizard.confirm");
    expect(director.status.phase).toBe("rolled-back");
    expect(servers[0]!.host.snapshot()).toEqual(servers[0]!.bare);
  });

  it("a director confirm that fails (too late) has the real servers undone", async () => {
    const started = await sides.apply(director.client, input, plan, director.start);
    director.failConfirm = true;
    await expect(sides.confirm(director.client, started.id!)).rejects.toThrow(/no change waits/);
    for (const rs of servers) expect(rs.host.snapshot()).toEqual(rs.bare);
  });

  it("rollback undoes the director and every real server", async () => {
    const started = await sides.apply(director.client, input, plan, director.start);
    const back = await sides.rollback(director.client, started.id!);
    expect(back.phase).toBe("rolled-back");
    expect(back.realServers.map((s) => s.state)).toEqual(["rolled-back", "rolled-back", "manual"]);
    for (const rs of servers) expect(rs.host.snapshot()).toEqual(rs.bare);
  });

  it("a web server restarted before the confirmation still confirms the real servers (the change kept in its store)", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "wizard-sides-")), "wizard-realservers.json");
    const before = new RealServerSides(() => registry, { store: fileSidesStore(path) });
    const started = await before.apply(director.client, input, plan, director.start);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    director.status = { ...director.status, phase: "awaiting-confirm" };
    const after = new RealServerSides(() => registry, { store: fileSidesStore(path) });
    expect((await after.status(director.client)).realServers.map((r) => r.state)).toEqual(["pending", "pending", "manual"]);
    const done = await after.confirm(director.client, started.id!);
    expect(done.realServers.map((r) => r.state)).toEqual(["confirmed", "confirmed", "manual"]);
    expect(existsSync(path)).toBe(false);
  });

  it("a web server restarted after the director rolled back undoes the real servers on its first look", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "wizard-sides-")), "wizard-realservers.json");
    await new RealServerSides(() => registry, { store: fileSidesStore(path) }).apply(director.client, input, plan, director.start);
    director.status = { ...director.status, phase: "rolled-back", finishedAt: 2 };
    const after = new RealServerSides(() => registry, { store: fileSidesStore(path) });
    expect((await after.status(director.client)).realServers.map((r) => r.state)).toEqual(["rolled-back", "rolled-back", "manual"]);
    for (const rs of servers) expect(rs.host.snapshot()).toEqual(rs.bare);
    expect(existsSync(path)).toBe(false);
  });

  it("a second change waits while one is pending", async () => {
    await sides.apply(director.client, input, plan, director.start);
    await expect(sides.apply(director.client, input, plan, director.start)).rejects.toThrow(/another wizard change is waiting for its confirmation/);
  });
});
