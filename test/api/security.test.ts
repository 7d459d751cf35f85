// The security walk: EVERY procedure of appRouter (read from the router itself, so routers added later are
// covered without touching this file), called over HTTP through the real route handler as a browser or an
// attacker would:
//   - without a session: every procedure but the public auth ones is refused (401)
//   - as a viewer: every mutation (but the viewer's own logout and password change) is refused (403), and
//     every admin-only read; the other reads get through
//   - as an admin, from another site or without an Origin: every mutation and subscription is refused (403)
//   - as an admin from the dashboard's own page: nothing is refused by the auth layer (the control that shows
//     the refusals above come from auth, not from bad input)
// and no refused request reaches the agent. Then: a viewer's refused attempt is in the audit log.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createAgentClient } from "@/server/agent/client";
import type { AgentRequest } from "@/server/agent/protocol";
import { appRouter } from "@/server/api/root";

import { type TestAuth } from "../auth/context";
import { call, installTestRuntime, type ProcType } from "../auth/http-helpers";

/** Procedures anyone may call: sign in, first-admin setup, "am I signed in / is setup pending". */
const PUBLIC = new Set(["auth.status", "auth.login", "auth.setupFirstAdmin"]);
/** Mutations a viewer may make: on their own session and password only. */
const VIEWER_MUTATIONS = new Set(["auth.logout", "auth.changePassword"]);
/** Reads only admins may make. */
const ADMIN_QUERIES = new Set(["audit.list", "audit.facets", "auth.users"]);

interface Proc {
  path: string;
  type: ProcType;
}

function procedures(): Proc[] {
  const def = (appRouter as unknown as { _def: { procedures: Record<string, { _def: { type: ProcType } }>; lazy?: Record<string, unknown> } })._def;
  // Lazy sub-routers would be missing from `procedures` until loaded: refuse to pretend they are covered.
  expect(Object.keys(def.lazy ?? {})).toEqual([]);
  return Object.entries(def.procedures).map(([path, p]) => ({ path, type: p._def.type }));
}

const agentCalls: AgentRequest[] = [];
let env: TestAuth;
let admin: string;
let viewer: string;
const all = procedures();

beforeAll(() => {
  // An agent that is "not running": whatever gets through fails there, and we count what got through.
  env = installTestRuntime(
    createAgentClient(async (request) => {
      agentCalls.push(request);
      return { ok: false, error: { code: "unavailable", message: "test: the agent is not running" } };
    }),
  );
  const a = env.store.addUser("root", "admin", "$scrypt$placeholder");
  const v = env.store.addUser("victor", "viewer", "$scrypt$placeholder");
  admin = env.store.createSession(a.id, { ip: "192.0.2.1", userAgent: "t" }).token;
  viewer = env.store.createSession(v.id, { ip: "192.0.2.2", userAgent: "t" }).token;
});

/** A session of a new admin (a user keeps at most 20 sessions: the controls must not push out `admin`). */
let controls = 0;
function freshAdmin(): string {
  const user = env.store.addUser(`control${++controls}`, "admin", "$scrypt$placeholder");
  return env.store.createSession(user.id, { ip: "192.0.2.1", userAgent: "t" }).token;
}

afterAll(() => {
  const g = globalThis as { lvsdashAuth?: unknown; lvsdashAgent?: unknown };
  delete g.lvsdashAuth;
  delete g.lvsdashAgent;
});

describe("the router", () => {
  it("has procedures of every kind to walk, and the allow-lists name only procedures that exist", () => {
    const paths = new Set(all.map((p) => p.path));
    expect(all.filter((p) => p.type === "mutation").length).toBeGreaterThan(5);
    for (const p of [...PUBLIC, ...VIEWER_MUTATIONS, ...ADMIN_QUERIES]) expect(paths).toContain(p);
  });
});

describe.each(all.filter((p) => !PUBLIC.has(p.path)))("$path ($type)", ({ path, type }) => {
  it("is refused without a session, with no cookie or with a forged one", async () => {
    const before = agentCalls.length;
    for (const token of [null, "A".repeat(43), `${admin}x`]) {
      const res = await call(path, type, { token });
      expect([res.status, res.code], `${path} token=${String(token).slice(0, 8)}`).toEqual([401, "UNAUTHORIZED"]);
    }
    expect(agentCalls.length).toBe(before);
  });

  if (type === "mutation" && !VIEWER_MUTATIONS.has(path)) {
    it("is refused for a viewer (403), before reaching the agent", async () => {
      const before = agentCalls.length;
      const res = await call(path, type, { token: viewer });
      expect([res.status, res.code]).toEqual([403, "FORBIDDEN"]);
      expect(res.message).toMatch(/needs the admin role/);
      expect(agentCalls.length).toBe(before);
    });
  }

  if (type === "query") {
    it(ADMIN_QUERIES.has(path) ? "is refused for a viewer (admin-only read)" : "is let through for a viewer", async () => {
      const res = await call(path, type, { token: viewer });
      if (ADMIN_QUERIES.has(path)) expect([res.status, res.code]).toEqual([403, "FORBIDDEN"]);
      else expect([401, 403]).not.toContain(res.status);
    });
  }

  if (type !== "query") {
    it("is refused for an admin from another site, with a null Origin, or without Origin", async () => {
      const before = agentCalls.length;
      const attempts = [
        { origin: "http://evil.example" },
        { origin: "http://127.0.0.1:3000.evil.example" },
        { origin: "null" },
        { origin: null, secFetchSite: null },
        { origin: null, secFetchSite: "cross-site" },
        // DNS rebinding: the attacker's name resolves to us, so Origin and Host agree, but the cookie was set
        // for 127.0.0.1 and is never sent to the attacker's name: no session.
      ];
      for (const a of attempts) {
        const res = await call(path, type, { token: admin, ...a });
        expect([res.status, res.code], `${path} ${JSON.stringify(a)}`).toEqual([403, "FORBIDDEN"]);
      }
      expect(agentCalls.length).toBe(before);
    });

    it("is not refused by the auth layer for an admin on the dashboard's own page", async () => {
      // A session of its own: the control calls auth.logout too.
      const res = await call(path, type, { token: freshAdmin() });
      expect([401, 403]).not.toContain(res.status);
      expect(res.code === "UNAUTHORIZED" || res.code === "FORBIDDEN").toBe(false);
    });
  }
});

describe.each(all.filter((p) => PUBLIC.has(p.path)))("public $path ($type)", ({ path, type }) => {
  it("answers without a session (and still refuses a foreign Origin when it changes something)", async () => {
    const res = await call(path, type, { input: type === "mutation" ? { name: "x", password: "y", token: "z" } : undefined });
    expect(res.code === "UNAUTHORIZED" && /sign in first/.test(res.message ?? "")).toBe(false);
    if (type !== "query") expect((await call(path, type, { origin: "http://evil.example" })).status).toBe(403);
  });
});

describe("request shapes a cross-site form or image tag could send", () => {
  it("a mutation over GET is refused (405), and a text/plain POST (a CORS-simple request) too (415)", async () => {
    const { GET, POST } = await import("@/app/api/trpc/[trpc]/route");
    const headers = { host: "127.0.0.1:3000", cookie: `lvsdash_session=${admin}` };
    const before = agentCalls.length;
    for (const path of all.filter((p) => p.type === "mutation").map((p) => p.path)) {
      expect((await GET(new Request(`http://127.0.0.1:3000/api/trpc/${path}?input=%7B%7D`, { headers }))).status, path).toBe(405);
      const post = new Request(`http://127.0.0.1:3000/api/trpc/${path}`, { method: "POST", headers: { ...headers, "content-type": "text/plain" }, body: "{}" });
      expect((await POST(post)).status, path).toBe(415);
    }
    expect(agentCalls.length).toBe(before);
  });
});

describe("the audit log", () => {
  it("records a viewer's refused mutation, and an admin's mutation with its secret redacted", async () => {
    const refusedBefore = env.audit.query({ user: "victor", result: "refused" }).total;
    await call("auth.addUser", "mutation", { token: viewer, input: { name: "eve", role: "admin", password: "let-me-in-please" } });
    const refused = env.audit.query({ user: "victor", result: "refused" });
    expect(refused.total).toBe(refusedBefore + 1);
    expect(refused.entries[0]).toMatchObject({ op: "auth.addUser", role: "viewer", error: "victor is a viewer: this needs the admin role" });
    expect(refused.entries[0]!.input).not.toContain("let-me-in-please");

    const res = await call("auth.addUser", "mutation", { token: admin, input: { name: "walter", role: "viewer", password: "Walter's long passphrase" } });
    expect(res.status).toBe(200);
    const [entry] = env.audit.query({ user: "root", op: "auth.addUser", result: "ok" }).entries;
    expect(entry).toMatchObject({ kind: "mutation", role: "admin", ip: "192.0.2.77" });
    expect(JSON.parse(entry!.input)).toEqual({ name: "walter", role: "viewer", password: "[redacted]" });
    expect(JSON.stringify(env.audit.query({}).entries)).not.toContain("Walter's long passphrase");
  });
});

// ---------------------------------------------------------------------------------------------------------
// Injection regressions (the classes of hole Webmin and Cockpit had): every parameter that reaches an argv,
// a file path, nft or the kernel is refused at the agent's door (AGENT_OPS schemas, checked by the real
// dispatcher before any handler runs) and again by the kernel module that would use it.
// ---------------------------------------------------------------------------------------------------------

const EVIL_NAMES = ["eth0; rm -rf /", "-o", "--help", "../../etc/passwd", "..", ".", "eth0\n", "eth0 up", "$(reboot)", "`id`", "eth0|nc", "a".repeat(16), ""];
const EVIL_ADDRESSES = ["192.0.2.1; rm -rf /", "-o", "192.0.2.1\nlo", "192.0.2.1/32 dev lo", "::1", "0x7f.1", "../../etc/passwd", ""];
/** Refused by the schema (semantic) check, which the kernel modules' lexical second lock does not repeat. */
const BAD_ADDRESSES = ["192.0.2.256", "300.1.1.1", "1.2.3"];

function validWizard() {
  return {
    mode: "dr",
    vip: "192.0.2.100",
    ports: [80],
    protocol: "tcp",
    scheduler: "wrr",
    director: { interface: "eth0" },
    realServers: [{ address: "192.0.2.11", weight: 1, interface: "eth0" }],
    verify: { probes: 6, path: "/", fromNetns: "client" },
  };
}

/** Every string in a value, at any depth. */
function strings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === "object") return Object.values(value).flatMap(strings);
  return [];
}

describe("the agent's door: AGENT_OPS schemas through the real dispatcher", () => {
  let handled: string[];
  let received: unknown[];
  let exchange: import("@/server/agent/protocol").AgentExchange;

  beforeAll(async () => {
    const { AGENT_OPS } = await import("@/server/agent/protocol");
    const { createDispatcher } = await import("@/server/agent/dispatcher");
    handled = [];
    received = [];
    const handlers = Object.fromEntries(
      Object.keys(AGENT_OPS).map((op) => [
        op,
        async (input: unknown) => {
          handled.push(op);
          received.push(input);
          return {};
        },
      ]),
    ) as unknown as import("@/server/agent/dispatcher").OpHandlers;
    exchange = createDispatcher(handlers);
  });

  async function refused(op: string, input: unknown) {
    const before = handled.length;
    const reply = await exchange({ op, input } as import("@/server/agent/protocol").AgentRequest);
    expect(reply.ok, `${op} ${JSON.stringify(input)}`).toBe(false);
    if (!reply.ok) expect(reply.error.code).toBe("invalid_input");
    expect(handled.length).toBe(before);
  }

  /** Refused, or what reaches the handler is made of safe words only (the schema trimmed and normalized it). */
  async function refusedOrCleaned(op: string, input: unknown) {
    const before = received.length;
    const reply = await exchange({ op, input } as import("@/server/agent/protocol").AgentRequest);
    if (!reply.ok) {
      expect(reply.error.code).toBe("invalid_input");
      expect(received.length).toBe(before);
      return;
    }
    for (const word of strings(received.at(-1))) {
      expect(word, `${op} ${JSON.stringify(input)} reached the handler as ${JSON.stringify(word)}`).toMatch(/^(?![-.]{1,2}$)(?!-)[A-Za-z0-9_.:/~-]*$/);
      expect(word).not.toContain("..");
    }
  }

  it("accepts the valid wizard input (the control: the refusals below are about the field changed)", async () => {
    const reply = await exchange({ op: "wizard.plan", input: validWizard() } as import("@/server/agent/protocol").AgentRequest);
    expect(reply.ok).toBe(true);
  });

  it("refuses shell, option and path injection in interface names (wizard director, real servers)", async () => {
    for (const name of EVIL_NAMES) {
      await refusedOrCleaned("wizard.plan", { ...validWizard(), director: { interface: name } });
      await refusedOrCleaned("wizard.preflight", { ...validWizard(), realServers: [{ address: "192.0.2.11", weight: 1, interface: name }] });
    }
  });

  it("refuses shell, option and path injection in capture interface names", async () => {
    // capture.start's names go to libpcap (pcap_create), not to an argv, but the rule is the same everywhere:
    // nothing that starts with "-" (server/capture/live/limits.ts INTERFACE_NAME allows it today).
    for (const name of EVIL_NAMES) await refusedOrCleaned("capture.start", { interfaces: [name] });
  });

  it("refuses injection in addresses (VIP, real servers, FULLNAT's SNAT address), and addresses that are not ones", async () => {
    for (const address of [...EVIL_ADDRESSES, ...BAD_ADDRESSES]) {
      await refused("wizard.plan", { ...validWizard(), vip: address });
      await refused("wizard.plan", { ...validWizard(), realServers: [{ address, weight: 1 }] });
      await refused("wizard.plan", { ...validWizard(), mode: "fullnat", director: { interface: "eth0", innerInterface: "eth1", snatAddress: address } });
    }
  });

  it("refuses unknown or smuggled scheduler names", async () => {
    for (const scheduler of ["wrr\n", "wrr; reboot", "-s", "../wrr", "WRR", "wrr ", "rr\u0000", "ip_vs_wrr"]) {
      await refused("wizard.plan", { ...validWizard(), scheduler });
    }
  });

  it("refuses namespace names, probe paths and ids that could become options, shell words or paths", async () => {
    for (const fromNetns of ["-o", "ns; reboot", "../../proc/1/ns/net", "ns name", ""]) await refused("wizard.plan", { ...validWizard(), verify: { fromNetns } });
    for (const path of ["health", "/a b", "/$(id)", "/`id`", "/x;y", "/x\nHost: evil", "-O/etc/passwd", "/%2e%2e/"]) await refused("wizard.plan", { ...validWizard(), verify: { path } });
    for (const id of ["../../etc/passwd", "-o", "x; rm", ""]) await refused("wizard.confirm", { id });
    for (const session of ["../../../etc", "0a1b2c3d/..", "-o"]) await refused("diagnostics.evidence", { session, ref: 1 });
  });

  it("refuses unknown keys (nothing can ride along to a handler)", async () => {
    await refused("capture.start", { interfaces: ["eth0"], filter: "host 192.0.2.1 or (tcp and $(reboot))" });
    await refused("wizard.plan", { ...validWizard(), extraArgs: ["-o"] });
  });
});

describe("the second lock: kernel modules check again before exec, nft or a /proc write", () => {
  it("ip address add|del: interface names and addresses are refused before ip runs", async () => {
    const { addAddress, delAddress } = await import("@/server/kernel/rtnl");
    for (const name of EVIL_NAMES) await expect(addAddress(name, "192.0.2.1", 32)).rejects.toMatchObject({ name: "RtnlError", code: "EINVAL" });
    for (const address of EVIL_ADDRESSES) await expect(delAddress("eth0", address, 32)).rejects.toMatchObject({ name: "RtnlError", code: "EINVAL" });
  });

  it("HTTP probes: address, path and namespace are refused before `ip netns exec` runs", async () => {
    const { httpProbe } = await import("@/server/kernel/probe");
    const base = { address: "192.0.2.100", port: 80, path: "/", timeoutMs: 100 };
    for (const netns of ["-o", "ns; reboot", "../x", "ns name"]) expect(await httpProbe({ ...base, netns })).toEqual({ ok: false, error: expect.stringMatching(/^refused probe/) });
    for (const path of ["-O/etc/passwd", "/x y", "/$(id)"]) expect(await httpProbe({ ...base, path, netns: "client" })).toEqual({ ok: false, error: expect.stringMatching(/^refused probe/) });
    for (const address of ["192.0.2.1;id", "-o", "localhost"]) expect(await httpProbe({ ...base, address, netns: "client" })).toEqual({ ok: false, error: expect.stringMatching(/^refused probe/) });
  });

  it("sysctl writes: only allow-listed names, and interface names that cannot leave /proc/sys/net/ipv4/conf", async () => {
    const { writeSysctl } = await import("@/server/kernel/sysctl");
    const { parseSysctlKey } = await import("@/server/kernel/rsnet");
    for (const iface of ["..", ".", "../../kernel", "eth0/../..", "eth0; rm", "eth0\n"]) {
      await expect(writeSysctl("arp_ignore", iface, 1)).rejects.toMatchObject({ name: "SysctlError", kind: "bad-interface" });
    }
    await expect(writeSysctl("../../kernel/core_pattern" as "arp_ignore", "eth0", 1)).rejects.toMatchObject({ kind: "unknown-name" });
    for (const key of ["net.ipv4.conf....arp_ignore", "net/ipv4/conf/../arp_ignore", "net.ipv4.conf.-o.arp_ignore", "kernel.core_pattern", "net.ipv4.conf.eth0.arp_ignore\n"]) {
      expect(parseSysctlKey(key), key).toBeNull();
    }
  });

  it("nftables: table names, interfaces and addresses are refused before nft runs", async () => {
    const { snatTableBatch, deleteTable } = await import("@/server/kernel/nft");
    const good = { table: "lvsdash_snat", oifname: "eth1", snatTo: "198.51.100.1", daddrs: ["198.51.100.11"] };
    expect(() => snatTableBatch(good)).not.toThrow();
    for (const table of ["x; flush ruleset", "-f", "../x", ""]) expect(() => snatTableBatch({ ...good, table })).toThrow(/refused SNAT table/);
    for (const oifname of EVIL_NAMES.filter((n) => n !== "." && n !== "..")) expect(() => snatTableBatch({ ...good, oifname })).toThrow(/refused SNAT table/);
    for (const a of ["198.51.100.1 } ; flush ruleset", "-o"]) expect(() => snatTableBatch({ ...good, snatTo: a })).toThrow(/refused SNAT table/);
    await expect(deleteTable("ip", "x; flush ruleset")).rejects.toMatchObject({ name: "NftError", code: "EINVAL" });
  });
});

describe("rules import (ipvsadm-save and keepalived.conf text): schedulers, addresses and includes", () => {
  it("refuses smuggled scheduler names, addresses with shell words, and keepalived includes of other files", async () => {
    const { loadIpvsadmRules } = await import("@/server/ipvs/rules/table");
    const { importKeepalived } = await import("@/server/ipvs/keepalived/parse");
    expect(loadIpvsadmRules("-A -t 192.0.2.1:80 -s wrr\n").errors).toEqual([]);
    for (const text of [
      "-A -t 192.0.2.1:80 -s wrr;reboot\n",
      "-A -t 192.0.2.1:80 -s ../../lib/modules/x\n",
      "-A -t 192.0.2.1:80 -s -o\n",
      "-A -t 192.0.2.1:80;id -s wrr\n",
      "-A -t 192.0.2.1:80 -s wrr\n-a -t 192.0.2.1:80 -r 192.0.2.11:80$(id) -g\n",
    ]) {
      expect(loadIpvsadmRules(text).errors.length, text).toBeGreaterThan(0);
    }
    for (const text of [
      "include /etc/shadow\n",
      "virtual_server 192.0.2.1 80 {\n  lb_algo wrr;reboot\n  lb_kind DR\n  protocol TCP\n}\n",
      "virtual_server 192.0.2.1 80 {\n  lb_algo ../../x\n  lb_kind DR\n  protocol TCP\n}\n",
    ]) {
      expect(importKeepalived(text).errors.length, text).toBeGreaterThan(0);
    }
  });
});

describe("downloads: path traversal and header injection in evidence ids", () => {
  it("answers 400 without asking the agent for anything but the one id form", async () => {
    const { evidenceResponse } = await import("@/app/api/evidence/respond");
    const asked: AgentRequest[] = [];
    const agent = createAgentClient(async (request) => {
      asked.push(request);
      return { ok: true, output: { found: false, reason: "no such evidence" } };
    });
    for (const id of ["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "0a1b2c3d-4/../../x", "0a1b2c3d-4\r\nSet-Cookie: x=y", "0a1b2c3d-0", "0A1B2C3D-4", "-o", ""]) {
      const res = await evidenceResponse(id, agent);
      expect(res.status, id).toBe(400);
    }
    expect(asked).toEqual([]);
    expect((await evidenceResponse("0a1b2c3d-4", agent)).status).toBe(404);
    expect(asked).toEqual([{ op: "diagnostics.evidence", input: { session: "0a1b2c3d", ref: 4 } }]);
  });
});
