// AuthService: login (with a hash upgrade that keeps sessions), the first-admin setup, password changes.
import { describe, expect, it } from "vitest";

import { hashPassword, verifyPassword } from "@/server/auth/password";
import { AuthService, isAuthError, isLoginRefused } from "@/server/auth/service";
import { AuthStore } from "@/server/auth/store";

const OLD = { ln: 4, r: 8, p: 1 };
const NEW = { ln: 5, r: 8, p: 1 };
const meta = { ip: "192.0.2.9", userAgent: "t" };

const service = () => {
  const store = AuthStore.open(":memory:");
  return { store, auth: new AuthService(store, { scrypt: NEW }) };
};

describe("login", () => {
  it("upgrades a hash made with weaker parameters and keeps the user's other sessions", async () => {
    const { store, auth } = service();
    const u = store.addUser("alice", "admin", await hashPassword("alice's passphrase", OLD));
    const other = store.createSession(u.id, meta);
    const { session } = await auth.login("alice", "alice's passphrase", meta);
    expect(session.user.name).toBe("alice");
    const stored = store.findUser("alice")!.passwordHash;
    expect(stored.startsWith("$scrypt$ln=5,")).toBe(true);
    await expect(verifyPassword("alice's passphrase", stored)).resolves.toBe(true);
    expect(store.resolveSession(other.token)).not.toBeNull();
  });

  it("finds the user whatever the case of the name", async () => {
    const { store, auth } = service();
    store.addUser("Alice", "viewer", await hashPassword("alice's passphrase", NEW));
    await expect(auth.login("ALICE", "alice's passphrase", meta)).resolves.toMatchObject({ session: { user: { name: "Alice" } } });
  });

  it("throws errors the router can tell apart without instanceof (Next loads a module once per layer)", async () => {
    const { auth } = service();
    const wrong = await auth.login("nobody", "x", meta).catch((e: unknown) => e);
    expect(isAuthError(wrong) && wrong.kind).toBe("credentials");
    expect(isLoginRefused(wrong)).toBe(false);
    for (let i = 0; i < 4; i++) await auth.login("nobody", "x", meta).catch(() => undefined);
    const throttled = await auth.login("nobody", "x", meta).catch((e: unknown) => e);
    expect(isLoginRefused(throttled)).toBe(true);
    expect(isAuthError(new Error("AuthError"))).toBe(false);
  });
});

describe("setupFirstAdmin", () => {
  it("refuses a weak password without spending the token, then creates the admin and signs in", async () => {
    const { store, auth } = service();
    const token = store.createSetupToken()!;
    await expect(auth.setupFirstAdmin(token, "root", "short", meta)).rejects.toMatchObject({ kind: "invalid" });
    const { session } = await auth.setupFirstAdmin(token, "root", "a good passphrase", meta);
    expect(session.user).toMatchObject({ name: "root", role: "admin" });
    await expect(auth.setupFirstAdmin(token, "eve", "a good passphrase", meta)).rejects.toMatchObject({ kind: "forbidden" });
  });
});

describe("changePassword", () => {
  it("needs the current password, ends the other sessions, keeps this one", async () => {
    const { store, auth } = service();
    store.addUser("alice", "viewer", await hashPassword("first passphrase", NEW));
    const a = await auth.login("alice", "first passphrase", meta);
    const b = await auth.login("alice", "first passphrase", { ...meta, ip: "192.0.2.10" });
    await expect(auth.changePassword(a.session, "wrong", "second passphrase", meta)).rejects.toMatchObject({ kind: "credentials" });
    await auth.changePassword(a.session, "first passphrase", "second passphrase", meta);
    expect(store.resolveSession(a.token)).not.toBeNull();
    expect(store.resolveSession(b.token)).toBeNull();
    await expect(auth.login("alice", "second passphrase", meta)).resolves.toBeDefined();
  });
});
