// The auth store: idle and absolute session expiry on an injected clock, tokens stored hashed, the last admin
// protected, the setup token single-use.
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

import { AuthStore, AuthStoreError } from "@/server/auth/store";

const MIN = 60_000;
const HASH = "$scrypt$ln=4,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

function clocked() {
  let t = Date.UTC(2026, 0, 1);
  const store = AuthStore.open(":memory:", { now: () => t });
  return { store, advance: (ms: number) => (t += ms) };
}

describe("sessions", () => {
  it("end after 30 minutes without a request (idle), and each request starts the idle time again", () => {
    const { store, advance } = clocked();
    const alice = store.addUser("alice", "admin", HASH);
    const { token } = store.createSession(alice.id, { ip: "192.0.2.1", userAgent: "t" });

    advance(29 * MIN);
    expect(store.resolveSession(token)?.user.name).toBe("alice"); // used: idle time starts again
    advance(29 * MIN);
    expect(store.resolveSession(token)?.user.name).toBe("alice");
    advance(30 * MIN);
    expect(store.resolveSession(token)).toBeNull();
    expect(store.sessionCount()).toBe(0); // and it was deleted
  });

  it("end 12 hours after login however busy", () => {
    const { store, advance } = clocked();
    const alice = store.addUser("alice", "viewer", HASH);
    const { token } = store.createSession(alice.id, { ip: "192.0.2.1", userAgent: "t" });
    for (let i = 0; i < 12 * 4 - 1; i++) {
      advance(15 * MIN);
      expect(store.resolveSession(token)).not.toBeNull();
    }
    advance(15 * MIN);
    expect(store.resolveSession(token)).toBeNull();
  });

  it("that nobody presents again are deleted at the next login (no table of abandoned sessions)", () => {
    const { store, advance } = clocked();
    const u = store.addUser("alice", "viewer", HASH);
    for (let i = 0; i < 5; i++) store.createSession(u.id, { ip: "x", userAgent: "t" });
    advance(31 * MIN);
    store.createSession(u.id, { ip: "x", userAgent: "t" });
    expect(store.sessionCount()).toBe(1);
  });

  it("take the idle time from the policy", () => {
    let t = 0;
    const store = AuthStore.open(":memory:", { now: () => t, policy: { idleMs: 5 * MIN } });
    const u = store.addUser("bob", "viewer", HASH);
    const { token, session } = store.createSession(u.id, { ip: "x", userAgent: "t" });
    expect(session.idleExpiresAt).toBe(5 * MIN);
    t = 5 * MIN;
    expect(store.resolveSession(token)).toBeNull();
  });

  it("are stored as SHA-256 of the token: the database file does not contain the token", () => {
    const dir = mkdtempSync(join(tmpdir(), "lvsdash-auth-"));
    const store = AuthStore.open(dir);
    const u = store.addUser("alice", "admin", HASH);
    const { token, session } = store.createSession(u.id, { ip: "192.0.2.1", userAgent: "t" });
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session.id).toMatch(/^[0-9a-f]{64}$/);
    store.close();
    const bytes = readdirSync(dir).map((f) => readFileSync(join(dir, f)).toString("latin1")).join("");
    expect(bytes).toContain(session.id);
    expect(bytes).not.toContain(token);
  });

  it("refuse unknown, malformed and other users' tokens", () => {
    const { store } = clocked();
    const u = store.addUser("alice", "admin", HASH);
    const { token } = store.createSession(u.id, { ip: "x", userAgent: "t" });
    expect(store.resolveSession(token.slice(0, -1) + (token.endsWith("A") ? "B" : "A"))).toBeNull();
    expect(store.resolveSession("")).toBeNull();
    expect(store.resolveSession("' OR 1=1 --")).toBeNull();
    expect(store.resolveSession(`${token}x`)).toBeNull();
  });

  it("end when the user is removed, and a password change ends the user's other sessions", () => {
    const { store } = clocked();
    store.addUser("root2", "admin", HASH);
    const u = store.addUser("alice", "admin", HASH);
    const a = store.createSession(u.id, { ip: "x", userAgent: "t" });
    const b = store.createSession(u.id, { ip: "x", userAgent: "t" });
    store.setPassword(u.id, HASH, a.session.id);
    expect(store.resolveSession(a.token)).not.toBeNull();
    expect(store.resolveSession(b.token)).toBeNull();
    store.removeUser("alice");
    expect(store.resolveSession(a.token)).toBeNull();
  });

  it("are at most maxPerUser per user: logging in again ends the oldest", () => {
    let t = 0;
    const store = AuthStore.open(":memory:", { now: () => t, policy: { maxPerUser: 3 } });
    const u = store.addUser("alice", "admin", HASH);
    const tokens = [1, 2, 3, 4].map((i) => {
      t = i;
      return store.createSession(u.id, { ip: "x", userAgent: "t" }).token;
    });
    expect(store.sessionCount()).toBe(3);
    expect(store.resolveSession(tokens[0]!)).toBeNull();
    expect(store.resolveSession(tokens[3]!)).not.toBeNull();
  });

  it("see a role change at once (the role is read per request, not kept in the session)", () => {
    const { store } = clocked();
    store.addUser("root2", "admin", HASH);
    const u = store.addUser("alice", "admin", HASH);
    const { token } = store.createSession(u.id, { ip: "x", userAgent: "t" });
    store.setRole("alice", "viewer");
    expect(store.resolveSession(token)?.user.role).toBe("viewer");
  });
});

describe("users", () => {
  it("refuses duplicate names (case-insensitively) and names that are not login-shaped", () => {
    const { store } = clocked();
    store.addUser("alice", "admin", HASH);
    expect(() => store.addUser("ALICE", "viewer", HASH)).toThrow(AuthStoreError);
    for (const bad of ["", "1abc", "a b", "a;rm", "../x", "x".repeat(33), "-o"]) expect(() => store.addUser(bad, "viewer", HASH)).toThrow(/user name/);
  });

  it("keeps the last admin: it cannot be removed or demoted", () => {
    const { store } = clocked();
    store.addUser("alice", "admin", HASH);
    store.addUser("bob", "viewer", HASH);
    expect(() => store.removeUser("alice")).toThrow(/last admin/);
    expect(() => store.setRole("alice", "viewer")).toThrow(/last admin/);
    store.setRole("bob", "admin");
    store.removeUser("alice");
    expect(store.listUsers().map((u) => u.name)).toEqual(["bob"]);
  });
});

describe("setup token", () => {
  it("exists only while there is no admin, works once, and is replaced by the next start's", () => {
    const { store, advance } = clocked();
    const first = store.createSetupToken()!;
    const second = store.createSetupToken()!;
    expect(store.setupTokenValid(first)).toBe(false); // replaced
    expect(store.setupTokenValid(second)).toBe(true);
    expect(() => store.setupFirstAdmin("wrong", "root", HASH)).toThrow(/not valid/);
    store.setupFirstAdmin(second, "root", HASH);
    expect(store.setupTokenValid(second)).toBe(false);
    expect(() => store.setupFirstAdmin(second, "eve", HASH)).toThrow(/not valid/);
    expect(store.createSetupToken()).toBeNull();
    expect(store.listUsers().map((u) => [u.name, u.role])).toEqual([["root", "admin"]]);
  });

  it("expires after 24 hours", () => {
    const { store, advance } = clocked();
    const token = store.createSetupToken()!;
    advance(24 * 60 * MIN);
    expect(store.setupTokenValid(token)).toBe(false);
  });
});
