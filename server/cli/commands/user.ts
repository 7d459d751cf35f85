// lvsdash user add|list|remove|passwd|role: the dashboard's accounts, from the command line, on the machine
// itself (whoever can run this can read the data directory, so they could do it anyway). The way to create
// the first admin without the setup link the web server prints.
//
// Passwords are never taken from the command line (argv is visible to every user in `ps` and lands in shell
// history): they are asked for on the terminal without echo, twice, or read from the first line of stdin when
// stdin is not a terminal (`printf '%s\n' "$PW" | lvsdash user add alice --role admin`).
//
// The stores live in the data directory (LVSDASH_DATA_DIR, else /var/lib/lvs-dashboard, or --data-dir). The
// web server runs as the lvsdash user and must be able to write them: when this runs as root, it hands the
// directory and the files it created to lvsdash.
import { execFileSync } from "node:child_process";
import { chownSync, existsSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";

import { AuditLog, AUDIT_DB_FILE } from "@/server/audit/log";
import { summarizeInput } from "@/server/audit/redact";
import { hashPassword, passwordProblem } from "@/server/auth/password";
import { AuthError, AuthService, isAuthError } from "@/server/auth/service";
import { AUTH_DB_FILE, AuthStore, ROLES, type Role } from "@/server/auth/store";
import { dataDir } from "@/server/history/store";

import { CliUsageError, EXIT, parseCommandArgs, type CliContext } from "../context";

const WEB_USER = "lvsdash";

/** Asks for a secret on the terminal without echoing it; null when there is no terminal. */
export type SecretPrompt = ((question: string) => Promise<string>) | null;

export async function run(args: string[], ctx: CliContext): Promise<number> {
  return runUser(args, ctx, process.stdin.isTTY ? ttyPrompt : null, process.geteuid?.() === 0);
}

export async function runUser(args: string[], ctx: CliContext, prompt: SecretPrompt, asRoot: boolean): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { role: { type: "string" }, "data-dir": { type: "string" } }, true);
  const [action, name, ...extra] = positionals;
  const dir = values["data-dir"] ?? dataDir();
  const who = `cli:${userInfo().username}`;
  const store = AuthStore.open(dir);
  const audit = AuditLog.open(dir);
  const auth = new AuthService(store);
  const record = (op: string, input: unknown, result: "ok" | "error", error: string | null = null) =>
    audit.record({ user: who, role: null, ip: "local", op: `cli.user.${op}`, kind: "cli", input: summarizeInput(input), result, error });
  try {
    switch (action) {
      case "list": {
        for (const u of store.listUsers()) await ctx.io.stdout(`${u.name.padEnd(24)} ${u.role.padEnd(7)} created ${new Date(u.createdAt).toISOString()}\n`);
        return EXIT.ok;
      }
      case "add":
      case "passwd":
      case "remove":
      case "role": {
        if (!name || extra.length > (action === "role" ? 1 : 0)) throw new CliUsageError(`${action} takes ${action === "role" ? "NAME ROLE" : "one NAME"}`);
        return await change(action, name, extra[0], values.role);
      }
      default:
        throw new CliUsageError(action ? `unknown action "${action}"` : "what should be done: add, list, remove, passwd or role");
    }
  } finally {
    store.close();
    audit.close();
    if (asRoot) giveToWebUser(dir);
  }

  async function change(act: "add" | "passwd" | "remove" | "role", user: string, arg: string | undefined, roleOpt: string | undefined): Promise<number> {
    try {
      if (act === "add") {
        const role = parseRole(roleOpt ?? "viewer");
        const password = await readPassword(ctx, prompt, `password for ${user}: `);
        const created = await auth.addUser(user, role, password);
        record("add", { name: user, role }, "ok");
        ctx.io.stderr(`lvsdash user: added ${created.name} (${created.role})\n`);
      } else if (act === "passwd") {
        const found = store.findUser(user);
        if (!found) throw new AuthError("invalid", `no user named ${user}`);
        const password = await readPassword(ctx, prompt, `new password for ${found.name}: `);
        const problem = passwordProblem(password, found.name);
        if (problem) throw new AuthError("invalid", problem);
        store.setPassword(found.id, await hashPassword(password));
        record("passwd", { name: user }, "ok");
        ctx.io.stderr(`lvsdash user: password of ${found.name} changed; their sessions ended\n`);
      } else if (act === "remove") {
        auth.removeUser(user);
        record("remove", { name: user }, "ok");
        ctx.io.stderr(`lvsdash user: removed ${user}; their sessions ended\n`);
      } else {
        const role = parseRole(arg ?? "");
        auth.setRole(user, role);
        record("role", { name: user, role }, "ok");
        ctx.io.stderr(`lvsdash user: ${user} is now ${role}\n`);
      }
      return EXIT.ok;
    } catch (e) {
      if (isAuthError(e)) {
        record(act, { name: user }, "error", e.message);
        ctx.io.stderr(`lvsdash user ${act}: ${e.message}\n`);
        return EXIT.usage;
      }
      throw e;
    }
  }
}

function parseRole(value: string): Role {
  if (!(ROLES as readonly string[]).includes(value)) throw new CliUsageError(`--role must be admin or viewer, not "${value}"`);
  return value as Role;
}

/** The password: asked twice on a terminal, else the first line of stdin. */
async function readPassword(ctx: CliContext, prompt: SecretPrompt, question: string): Promise<string> {
  if (prompt) {
    const first = await prompt(question);
    const again = await prompt("again: ");
    if (first !== again) throw new AuthError("invalid", "the two passwords differ");
    return first;
  }
  const text = await ctx.io.readStdin();
  const line = text.split(/\r?\n/)[0] ?? "";
  if (!line) throw new AuthError("invalid", "no password on stdin (the first line is the password)");
  return line;
}

/** Reads a line from the terminal with echo off (raw mode), writing the question to stderr. */
const ttyPrompt: SecretPrompt = (question) =>
  new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    let text = "";
    const done = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off("data", onData);
      process.stderr.write("\n");
      if (error) reject(error);
      else resolve(text);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return done();
        if (ch === "\u0003") return done(new Error("interrupted"));
        if (ch === "\u007f" || ch === "\b") text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on("data", onData);
  });

/** As root: the data directory and the stores belong to the web server's user (when it exists). */
function giveToWebUser(dir: string): void {
  let uid: number;
  let gid: number;
  try {
    const entry = execFileSync("getent", ["passwd", WEB_USER], { encoding: "utf8" }).trim().split(":");
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  } catch {
    return;
  }
  for (const path of [dir, ...[AUTH_DB_FILE, AUDIT_DB_FILE].flatMap((f) => [f, `${f}-wal`, `${f}-shm`].map((x) => join(dir, x)))]) {
    if (existsSync(path)) chownSync(path, uid, gid);
  }
}
