// Paired real-server agents: the SQLite registry (its own file, 0600, tokens never listed), pairing that checks
// the URL and token against a live rs-agent listener before storing anything, and the tRPC router's mapping of
// registry and agent errors. The listener is the real HTTP transport on 127.0.0.1 over an in-memory host.
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createOpDispatcher } from "@/server/agent/dispatcher";
import { createRealServersRouter } from "@/server/api/routers/realservers";
import { createCallerFactory } from "@/server/api/trpc";
import type { RealServerFacts } from "@/server/kernel/rsnet";
import { createRealServerRegistry, ownAddresses, type RealServerRegistry } from "@/server/realservers/registry";
import { REALSERVERS_DB_FILE, RealServerStore } from "@/server/realservers/store";
import { generateToken, listenRsAgent, type RsListener } from "@/server/rsagent/http";
import { createTransactionManager } from "@/server/rsagent/journal";
import { realServerOps } from "@/server/rsagent/ops";
import { RS_OPS } from "@/server/rsagent/protocol";

import { signedIn } from "../auth/context";
import { drRealServer, FakeHost } from "../rsagent/fake-host";

const facts = (hostname: string): RealServerFacts => ({
  name: hostname,
  hostname,
  kernel: "6.1.0-56-amd64",
  sysctls: { "net.ipv4.conf.all.arp_ignore": 1, "net.ipv4.conf.eth0.arp_ignore": 1 },
  interfaces: [
    { name: "lo", up: true, linkType: "loopback", addresses: [{ address: "127.0.0.1", prefixLen: 8 }, { address: "192.0.2.100", prefixLen: 32 }] },
    { name: "eth0", up: true, linkType: "ether", mac: "02:00:00:00:00:11", addresses: [{ address: "192.0.2.11", prefixLen: 24 }] },
    { name: "tunl0", up: true, linkType: "ipip", addresses: [{ address: "192.0.2.100", prefixLen: 32 }] },
  ],
  routes: [{ dst: "default", gateway: "192.0.2.254", dev: "eth0" }],
  defaultGateway: "192.0.2.254",
  ipipLoaded: true,
  tunl0: { up: true, addresses: [{ address: "192.0.2.100", prefixLen: 32 }] },
  takenAt: 1,
});

const TOKEN = generateToken();
let hostname = "rs1";
let listener: RsListener;
let clock = 1_000;

beforeAll(async () => {
  const exchange = createOpDispatcher(RS_OPS, realServerOps(createTransactionManager({ kernel: new FakeHost(drRealServer()) }), async () => facts(hostname)));
  listener = await listenRsAgent({ host: "127.0.0.1", port: 0, token: TOKEN, exchange });
});

afterAll(async () => {
  await listener?.close();
});

function registry(dir = mkdtempSync(join(tmpdir(), "realservers-"))): { registry: RealServerRegistry; store: RealServerStore; dir: string } {
  const store = RealServerStore.open(dir);
  return { registry: createRealServerRegistry(store, undefined, () => ++clock), store, dir };
}

describe("the registry", () => {
  it("pairs after the agent answered rs.facts, in its own 0600 file, and never lists the token", async () => {
    const { registry: r, dir } = registry();
    const { server, facts: f } = await r.pair({ url: `${listener.url}/`, token: ` ${TOKEN} ` });
    expect(f.hostname).toBe("rs1");
    expect(server).toMatchObject({ name: "rs1", url: listener.url, hostname: "rs1", addresses: ["192.0.2.11"], fingerprint: null, lastSeenAt: server.pairedAt });
    expect(statSync(join(dir, REALSERVERS_DB_FILE)).mode & 0o777).toBe(0o600);
    expect(JSON.stringify(r.list())).not.toContain(TOKEN);
    expect(r.list()).toEqual([server]);
    expect(r.forAddress("192.0.2.11")).toEqual(server);
    expect(r.forAddress("192.0.2.100")).toBeUndefined(); // a VIP on lo is not the real server's address
  });

  it("stores nothing when the agent refuses the token or is not there", async () => {
    const { registry: r } = registry();
    await expect(r.pair({ url: listener.url, token: generateToken() })).rejects.toMatchObject({ code: "permission_denied" });
    await expect(r.pair({ url: "http://127.0.0.1:1", token: TOKEN })).rejects.toMatchObject({ code: "unavailable" });
    expect(r.list()).toEqual([]);
  });

  it.each([
    ["a path", "http://127.0.0.1:9443/etc/passwd"],
    ["credentials in the URL", "http://admin:x@127.0.0.1:9443"],
    ["another scheme", "file:///etc/passwd"],
    ["not a URL", "192.0.2.11:9443 ; reboot"],
  ])("refuses %s before asking any agent", async (_what, url) => {
    const { registry: r } = registry();
    await expect(r.pair({ url, token: TOKEN })).rejects.toMatchObject({ name: "PairingInputError" });
    expect(r.list()).toEqual([]);
  });

  it("refuses a fingerprint that is malformed or given for plain HTTP", async () => {
    const { registry: r } = registry();
    await expect(r.pair({ url: listener.url, token: TOKEN, fingerprint: "12:34" })).rejects.toThrow(/32 hex bytes/);
    await expect(r.pair({ url: listener.url, token: TOKEN, fingerprint: "AB".repeat(32) })).rejects.toThrow(/only makes sense with https/);
  });

  it("re-pairing the same URL replaces its entry; facts refresh hostname and last seen; unpair removes it", async () => {
    const { registry: r, store } = registry();
    const first = (await r.pair({ url: listener.url, token: TOKEN, name: "web-1" })).server;
    const again = (await r.pair({ url: listener.url, token: TOKEN })).server;
    expect(again.id).toBe(first.id);
    expect(again.name).toBe("rs1");
    hostname = "rs1-renamed";
    try {
      await expect(r.facts(first.id)).resolves.toMatchObject({ hostname: "rs1-renamed" });
    } finally {
      hostname = "rs1";
    }
    const seen = r.list()[0]!;
    expect(seen.hostname).toBe("rs1-renamed");
    expect(seen.lastSeenAt).toBeGreaterThan(again.lastSeenAt!);
    expect(store.get(first.id)?.token).toBe(TOKEN);
    expect(r.unpair(first.id)).toBe(true);
    expect(r.unpair(first.id)).toBe(false);
    await expect(r.facts(first.id)).rejects.toMatchObject({ name: "RealServerNotFound" });
  });

  it("survives a restart: the store is read back from its file", async () => {
    const { registry: r, store, dir } = registry();
    const { server } = await r.pair({ url: listener.url, token: TOKEN });
    store.close();
    const reopened = RealServerStore.open(dir);
    expect(reopened.list()).toEqual([server]);
    expect(reopened.get(server.id)?.token).toBe(TOKEN);
    reopened.close();
  });

  it("counts a real server's own addresses, not the VIPs on lo and tunl0", () => {
    expect(ownAddresses(facts("x"))).toEqual(["192.0.2.11"]);
  });
});

describe("the realServers router", () => {
  const caller = (r: RealServerRegistry) => createCallerFactory(createRealServersRouter(() => r))(signedIn());

  it("pairs, lists, reads facts and unpairs", async () => {
    const { registry: r } = registry();
    const c = caller(r);
    const paired = await c.pair({ url: listener.url, token: TOKEN });
    expect(await c.list()).toEqual([paired]);
    await expect(c.facts({ id: paired.id })).resolves.toMatchObject({ hostname: "rs1", defaultGateway: "192.0.2.254" });
    await expect(c.unpair({ id: paired.id })).resolves.toEqual({ id: paired.id });
    expect(await c.list()).toEqual([]);
  });

  it("checks the real server's effective sysctls for a VIP with the diagnostics' evaluator", async () => {
    const { registry: r } = registry();
    const c = caller(r);
    const { id } = await c.pair({ url: listener.url, token: TOKEN });
    const findings = await c.check({ id, vips: [{ address: "192.0.2.100", mode: "dr" }] });
    // The facts have arp_ignore=1 but no arp_announce: the evaluator asks for arp_announce=2 on eth0.
    expect(findings.map((f) => f.id)).toContain("sysctl-arp-announce:192.0.2.11:eth0");
    expect(findings.map((f) => f.id).filter((i) => i.startsWith("sysctl-arp-ignore"))).toEqual([]);
  });

  it("keeps the token out of the audit log", async () => {
    const { registry: r } = registry();
    const ctx = signedIn();
    await createCallerFactory(createRealServersRouter(() => r))(ctx).pair({ url: listener.url, token: TOKEN });
    expect(JSON.stringify(ctx.env.audit.query())).not.toContain(TOKEN);
    expect(JSON.stringify(ctx.env.audit.query())).toMatch(/"op":"pair"|"path":"pair"/);
  });

  it("maps errors: unknown id NOT_FOUND, bad URL and short token BAD_REQUEST, a refused token from the agent", async () => {
    const { registry: r } = registry();
    const c = caller(r);
    await expect(c.facts({ id: 42 })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(c.unpair({ id: 42 })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(c.pair({ url: "http://127.0.0.1:9443/x", token: TOKEN })).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(/no path/) });
    await expect(c.pair({ url: listener.url, token: "short" })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(c.pair({ url: listener.url, token: generateToken() })).rejects.toMatchObject({ message: expect.stringMatching(/refused the token/) });
    expect(await c.list()).toEqual([]);
  });
});
