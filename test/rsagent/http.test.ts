// The rs-agent's HTTP(S) transport and the dashboard's client, over real sockets on 127.0.0.1: the token
// (refused without it or with a wrong one, before any op runs), size limits, methods, content types, op
// errors as HTTP statuses, timeouts, HTTPS with a pinned self-signed certificate.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { request } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createOpDispatcher } from "@/server/agent/dispatcher";
import { isAgentError } from "@/server/agent/protocol";
import type { RealServerFacts } from "@/server/kernel/rsnet";
import { createRsAgentClient } from "@/server/realservers/client";
import { generateToken, listenRsAgent, loadOrCreateToken, tokenMatches, type RsListener } from "@/server/rsagent/http";
import { createTransactionManager } from "@/server/rsagent/journal";
import { realServerOps } from "@/server/rsagent/ops";
import { RS_OPS } from "@/server/rsagent/protocol";

import { drRealServer, FakeHost } from "./fake-host";

const FACTS: RealServerFacts = {
  name: "rs1",
  hostname: "rs1",
  kernel: "6.1.0-56-amd64",
  sysctls: { "net.ipv4.conf.all.arp_ignore": 0 },
  interfaces: [{ name: "eth0", up: true, linkType: "ether", mac: "02:00:00:00:00:11", addresses: [{ address: "192.0.2.11", prefixLen: 24 }] }],
  routes: [{ dst: "default", gateway: "192.0.2.254", dev: "eth0" }],
  defaultGateway: "192.0.2.254",
  ipipLoaded: false,
  tunl0: null,
  takenAt: 1,
};

const TOKEN = generateToken();
let host: FakeHost;
let factsCalls = 0;
let listener: RsListener;
const log: string[] = [];

function start(tls?: { cert: string; key: string }) {
  const tx = createTransactionManager({ kernel: host });
  const exchange = createOpDispatcher(RS_OPS, realServerOps(tx, async () => (factsCalls++, FACTS)));
  return listenRsAgent({ host: "127.0.0.1", port: 0, token: TOKEN, exchange, log: (l) => log.push(l), maxRequestBytes: 4096, ...(tls ? { tls } : {}) });
}

/** A raw request, to see statuses and headers the client hides. */
function raw(path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const url = new URL(listener.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: opts.method ?? "POST", headers: opts.headers ?? {} }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

const auth = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };

beforeAll(async () => {
  host = new FakeHost(drRealServer());
  listener = await start();
});

afterAll(async () => {
  await listener?.close();
});

describe("rs-agent over HTTP", () => {
  it("answers rs.facts to the paired token", async () => {
    const client = createRsAgentClient({ url: listener.url, token: TOKEN });
    await expect(client.call("rs.facts", {})).resolves.toEqual(FACTS);
  });

  it.each([
    ["no Authorization header", {}],
    ["a wrong token", { authorization: `Bearer ${generateToken()}` }],
    ["the token as Basic", { authorization: `Basic ${TOKEN}` }],
    ["an empty bearer", { authorization: "Bearer " }],
    ["the token with a suffix", { authorization: `Bearer ${TOKEN}x` }],
  ])("refuses %s with 401 and runs nothing", async (_what, headers: Record<string, string>) => {
    const before = host.snapshot();
    const calls = factsCalls;
    const steps = JSON.stringify({ steps: [{ kind: "address", ifname: "lo", address: "192.0.2.100", prefixLen: 32 }] });
    for (const op of ["rs.facts", "rs.apply"]) {
      const r = await raw(`/v1/ops/${op}`, { headers: { "content-type": "application/json", ...headers }, body: op === "rs.apply" ? steps : "{}" });
      expect(r.status).toBe(401);
      expect(r.headers["www-authenticate"]).toMatch(/^Bearer/);
      expect(JSON.parse(r.body)).toMatchObject({ ok: false, error: { code: "permission_denied" } });
    }
    expect(factsCalls).toBe(calls);
    expect(host.state).toEqual(before);
    expect(host.calls).toEqual([]);
  });

  it("gives the client a permission_denied AgentError for a wrong token", async () => {
    const client = createRsAgentClient({ url: listener.url, token: generateToken() });
    const error = await client.call("rs.facts", {}).catch((e: unknown) => e);
    expect(isAgentError(error) && error.code).toBe("permission_denied");
    expect((error as Error).message).toMatch(/refused the token/);
  });

  it("refuses a body over the limit with 413 (declared or streamed) and changes nothing", async () => {
    const before = host.snapshot();
    const big = JSON.stringify({ steps: [], pad: "x".repeat(5000) });
    const declared = await raw("/v1/ops/rs.apply", { headers: auth, body: big });
    expect(declared.status).toBe(413);
    const chunked = await raw("/v1/ops/rs.apply", { headers: { ...auth, "transfer-encoding": "chunked" }, body: big });
    expect(chunked.status).toBe(413);
    expect(host.state).toEqual(before);
  });

  it("refuses other methods, paths, content types and non-JSON bodies", async () => {
    expect((await raw("/v1/ops/rs.facts", { method: "GET", headers: auth })).status).toBe(405);
    expect((await raw("/", { headers: auth, body: "{}" })).status).toBe(404);
    expect((await raw("/v1/ops/../../etc/passwd", { headers: auth, body: "{}" })).status).toBe(404);
    expect((await raw("/v1/ops/rs.facts", { headers: { ...auth, "content-type": "text/plain" }, body: "{}" })).status).toBe(415);
    expect((await raw("/v1/ops/rs.facts", { headers: auth, body: "{nope" })).status).toBe(400);
    const unknown = await raw("/v1/ops/rs.shell", { headers: auth, body: "{}" });
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toMatchObject({ error: { code: "unknown_op" } });
  });

  it.each([
    ["a shell word in an interface name", { kind: "address", ifname: "lo;reboot", address: "192.0.2.100", prefixLen: 32 }],
    ["an option as an interface name", { kind: "link-up", ifname: "-all" }],
    ["an interface name of 16 characters", { kind: "link-up", ifname: "abcdefghijklmnop" }],
    ["a bad address", { kind: "address", ifname: "lo", address: "192.0.2.300", prefixLen: 32 }],
    ["an address with a space", { kind: "default-route", via: "192.0.2.1 dev eth0" }],
    ["a prefix of 33", { kind: "address", ifname: "lo", address: "192.0.2.100", prefixLen: 33 }],
    ["a module not allow-listed", { kind: "module", name: "evil" }],
    ["a sysctl outside net.ipv4", { kind: "sysctl", key: "kernel.core_pattern", value: "1" }],
    ["a sysctl value that is not a number", { kind: "sysctl", key: "net.ipv4.conf.all.arp_ignore", value: "1; reboot" }],
    ["an unknown key", { kind: "link-up", ifname: "eth0", extra: 1 }],
    ["an unknown step", { kind: "exec", command: "id" }],
  ])("refuses %s with 400 invalid_input, nothing run", async (_what, step) => {
    const r = await raw("/v1/ops/rs.apply", { headers: auth, body: JSON.stringify({ steps: [step] }) });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ ok: false, error: { code: "invalid_input" } });
    expect(host.calls).toEqual([]);
  });

  it("applies, confirms and rolls back through the client", async () => {
    const before = host.snapshot();
    const client = createRsAgentClient({ url: listener.url, token: TOKEN });
    const r = await client.call("rs.apply", { steps: [{ kind: "address", ifname: "lo", address: "192.0.2.100", prefixLen: 32 }], confirmTimeoutSeconds: 30 });
    if (r.status !== "pending") throw new Error(JSON.stringify(r));
    expect(host.state.links.lo!.addresses).toContain("192.0.2.100/32");
    expect((await client.call("rs.status", {})).pending?.id).toBe(r.id);
    await expect(client.call("rs.confirm", { id: "0123456789abcdef" })).rejects.toMatchObject({ code: "invalid_input" });
    await expect(client.call("rs.rollback", { id: r.id })).resolves.toMatchObject({ state: "rolled-back" });
    expect(host.state).toEqual(before);
  });

  it("rolls back when the dashboard goes away mid-apply (the connection closes before the reply)", async () => {
    const before = host.snapshot();
    // Each sysctl write takes 100 ms; the client gives up after the second has started.
    const write = host.writeSysctl.bind(host);
    host.writeSysctl = async (ref, value) => {
      await new Promise((r) => setTimeout(r, 100));
      await write(ref, value);
    };
    try {
      const steps = [
        { kind: "sysctl", key: "net.ipv4.conf.all.arp_ignore", value: "1" },
        { kind: "sysctl", key: "net.ipv4.conf.eth0.arp_ignore", value: "1" },
        { kind: "sysctl", key: "net.ipv4.conf.all.arp_announce", value: "2" },
        { kind: "address", ifname: "lo", address: "192.0.2.100", prefixLen: 32 },
      ] as const;
      const gone = new AbortController();
      setTimeout(() => gone.abort(), 150);
      const client = createRsAgentClient({ url: listener.url, token: TOKEN });
      await expect(client.call("rs.apply", { steps: [...steps] }, gone.signal)).rejects.toMatchObject({ code: "unavailable" });
      const status = await (async () => {
        for (;;) {
          const s = await client.call("rs.status", {});
          if (s.recent[0]?.reason === "aborted") return s;
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      expect(status.pending).toBeNull();
      expect(status.recent[0]).toMatchObject({ state: "rolled-back", reason: "aborted", rollback: { errors: [] } });
      expect(host.state).toEqual(before);
    } finally {
      host.writeSysctl = write;
    }
  });

  it("times out on the client side when the agent does not answer in time", async () => {
    // A listener that accepts and never answers.
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    try {
      const client = createRsAgentClient({ url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, token: TOKEN, timeoutMs: 300 });
      await expect(client.call("rs.facts", {})).rejects.toMatchObject({ code: "timeout", message: expect.stringMatching(/within 300 ms/) });
    } finally {
      silent.close();
    }
  });

  it("says when nothing listens", async () => {
    const client = createRsAgentClient({ url: "http://127.0.0.1:1", token: TOKEN });
    await expect(client.call("rs.facts", {})).rejects.toMatchObject({ code: "unavailable", message: expect.stringMatching(/nothing listens/) });
  });
});

describe("tokens", () => {
  it("matches only the exact bearer token", () => {
    expect(tokenMatches(TOKEN, `Bearer ${TOKEN}`)).toBe(true);
    expect(tokenMatches(TOKEN, undefined)).toBe(false);
    expect(tokenMatches(TOKEN, TOKEN)).toBe(false);
    expect(tokenMatches(TOKEN, `Bearer ${TOKEN.slice(0, -1)}`)).toBe(false);
  });

  it("creates a 0600 token file once and reads it back after", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "rs-token-")), "etc", "rs-token");
    const first = await loadOrCreateToken(file);
    expect(first.created).toBe(true);
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, "utf8").trim()).toBe(first.token);
    await expect(loadOrCreateToken(file)).resolves.toEqual({ token: first.token, created: false });
  });
});

describe("rs-agent over HTTPS", () => {
  let tls: RsListener;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "rs-tls-"));
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=rs1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
    tls = await start({ cert: readFileSync(join(dir, "cert.pem"), "utf8"), key: readFileSync(join(dir, "key.pem"), "utf8") });
  });
  afterAll(async () => {
    await tls?.close();
  });

  it("pins the self-signed certificate by its fingerprint", async () => {
    expect(tls.url).toMatch(/^https:/);
    expect(tls.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const pinned = createRsAgentClient({ url: tls.url, token: TOKEN, fingerprint: tls.fingerprint!.toLowerCase() });
    await expect(pinned.call("rs.facts", {})).resolves.toEqual(FACTS);
  });

  it("refuses another fingerprint, and an unpinned self-signed certificate", async () => {
    const other = createRsAgentClient({ url: tls.url, token: TOKEN, fingerprint: "AB".repeat(32) });
    await expect(other.call("rs.facts", {})).rejects.toMatchObject({ code: "unavailable", message: expect.stringMatching(/fingerprint/) });
    const unpinned = createRsAgentClient({ url: tls.url, token: TOKEN });
    await expect(unpinned.call("rs.facts", {})).rejects.toMatchObject({ code: "unavailable" });
  });
});
