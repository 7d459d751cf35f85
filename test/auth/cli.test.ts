// lvsdash user: accounts from the command line. The password comes from stdin (or a no-echo prompt), never
// from argv; every change is in the audit log.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

import { AuditLog } from "@/server/audit/log";
import { verifyPassword } from "@/server/auth/password";
import { AuthStore } from "@/server/auth/store";
import { runCli } from "@/server/cli/main";
import type { CliContext } from "@/server/cli/context";
import { runUser, type SecretPrompt } from "@/server/cli/commands/user";

import { captureIo } from "../cli/io";

const ctxWith = (stdin: string) => {
  const io = captureIo({}, stdin);
  return { ctx: { io, kernel: {} as CliContext["kernel"] } satisfies CliContext, io };
};
const tempDir = () => mkdtempSync(join(tmpdir(), "lvsdash-user-"));

describe("lvsdash user", () => {
  it("adds an admin with the password from stdin's first line, hashed, and records it in the audit log", { timeout: 20_000 }, async () => {
    const dir = tempDir();
    const { ctx, io } = ctxWith("a long enough password\nignored second line\n");
    expect(await runUser(["add", "alice", "--role", "admin", "--data-dir", dir], ctx, null, false)).toBe(0);
    expect(io.err).toContain("added alice (admin)");
    const store = AuthStore.open(dir);
    const alice = store.findUser("alice")!;
    expect(alice.role).toBe("admin");
    await expect(verifyPassword("a long enough password", alice.passwordHash)).resolves.toBe(true);
    expect(store.createSetupToken()).toBeNull(); // an admin exists: no setup link any more
    store.close();
    const audit = AuditLog.open(dir);
    const [entry] = audit.query({ op: "cli.user.add" }).entries;
    expect(entry).toMatchObject({ kind: "cli", result: "ok", input: '{"name":"alice","role":"admin"}' });
    expect(entry!.user).toMatch(/^cli:/);
    audit.close();
  });

  it("asks twice on a terminal and refuses when the two differ", async () => {
    const dir = tempDir();
    const answers = ["first-password", "other-password"];
    const prompt: SecretPrompt = async () => answers.shift()!;
    const { ctx, io } = ctxWith("");
    expect(await runUser(["add", "bob", "--data-dir", dir], ctx, prompt, false)).toBe(2);
    expect(io.err).toContain("the two passwords differ");
  });

  it("never takes a password from the command line", async () => {
    const dir = tempDir();
    for (const args of [
      ["user", "add", "eve", "--password", "hunter2hunter2", "--data-dir", dir],
      ["user", "add", "eve", "--password=hunter2hunter2", "--data-dir", dir],
      ["user", "add", "eve", "hunter2hunter2", "--data-dir", dir],
    ]) {
      const { ctx } = ctxWith("");
      expect(await runCli(args, ctx)).toBe(2);
    }
    const store = AuthStore.open(dir);
    expect(store.listUsers()).toEqual([]);
    store.close();
  });

  it("refuses a weak password, a bad name and an unknown role, and keeps the last admin", { timeout: 20_000 }, async () => {
    const dir = tempDir();
    const run = (args: string[], stdin = "") => {
      const { ctx, io } = ctxWith(stdin);
      return runUser(["--data-dir", dir, ...args], ctx, null, false).then((code) => ({ code, err: io.err }));
    };
    expect(await run(["add", "alice", "--role", "admin"], "short\n")).toMatchObject({ code: 2, err: expect.stringContaining("at least 8") });
    await expect(run(["add", "-o"], "long enough pw\n")).rejects.toThrow(/Unknown option/);
    expect(await run(["add", "--", "-o"], "long enough pw\n")).toMatchObject({ code: 2, err: expect.stringContaining("user name") });
    expect(await run(["add", "a;b", "--role", "admin"], "long enough pw\n")).toMatchObject({ code: 2, err: expect.stringContaining("user name") });
    expect((await runCli(["user", "add", "x", "--role", "root", "--data-dir", dir], ctxWith("long enough pw\n").ctx))).toBe(2);
    expect(await run(["add", "alice", "--role", "admin"], "long enough pw\n")).toMatchObject({ code: 0 });
    expect(await run(["remove", "alice"])).toMatchObject({ code: 2, err: expect.stringContaining("last admin") });
    expect(await run(["role", "alice", "viewer"])).toMatchObject({ code: 2, err: expect.stringContaining("last admin") });
  });
});
