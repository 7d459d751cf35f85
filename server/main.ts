// The process `npm start` ends in (scripts/start.sh runs it as root after installing and building).
//
//   root ── agent: the op dispatcher on a Unix socket, owns all kernel I/O (server/agent/)
//    └─ child, unprivileged (system user lvsdash, else nobody:nogroup) ── `next start`: the web UI and tRPC,
//       which reaches the agent through LVSDASH_AGENT_SOCKET
//
// The web server never runs as root (Cockpit's model): a bug in it or in a dependency can only ask the agent
// for the allow-listed ops. If the web server dies, this process stops the agent and exits non-zero, so a
// supervisor (systemd, a terminal) sees it. SIGINT/SIGTERM stop both and exit 0.
//
// Environment:
//   LVSDASH_HOST, LVSDASH_PORT   where the web server listens (127.0.0.1:3000)
//   LVSDASH_AGENT_SOCKET         the agent's socket (/run/lvs-dashboard/agent.sock)
//   LVSDASH_AGENT_ONLY=1         run only the agent (e.g. inside a director's network namespace)
//   LVSDASH_WEB_ONLY=1           run only the web server, against an agent started elsewhere
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { createDispatcher } from "@/server/agent/dispatcher";
import { kernelOps } from "@/server/agent/ops";
import { agentSocketPath } from "@/server/agent/protocol";
import { listenUnix, type UnixServer } from "@/server/agent/server";

const PROJECT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const WEB_USER = "lvsdash";
const STOP_GRACE_MS = 10_000;

const log = (message: string) => console.log(`lvs-dashboard: ${message}`);
const fail = (message: string): never => {
  console.error(`lvs-dashboard: ${message}`);
  process.exit(1);
};

interface Account {
  name: string;
  uid: number;
  gid: number;
  group: string;
}

/** A passwd/group entry through NSS (getent), so LDAP or sssd users count too; null when there is none. */
function getent(database: "passwd" | "group", key: string): string[] | null {
  try {
    return execFileSync("getent", [database, key], { encoding: "utf8" }).trim().split(":");
  } catch {
    return null;
  }
}

/** The account the web server runs as: lvsdash if it exists, else nobody:nogroup. */
function webAccount(): Account {
  const entry = getent("passwd", WEB_USER) ?? getent("passwd", "nobody");
  if (!entry) return fail(`neither user ${WEB_USER} nor nobody exists: create ${WEB_USER} (npm start does)`);
  const [name = "", , uid = "", gid = ""] = entry;
  const group = (name === "nobody" ? getent("group", "nogroup") : null) ?? getent("group", gid);
  return {
    name,
    uid: Number(uid),
    gid: group ? Number(group[2]) : Number(gid),
    group: group?.[0] ?? gid,
  };
}

/**
 * The first directory on the way to the project that `account` cannot enter (a project under /root, mode
 * 0700, is the usual case), or null. `next start` would otherwise fail with a bare EACCES.
 */
function unreachableDirectory(account: Account): string | null {
  for (let dir = PROJECT_DIR; ; dir = dirname(dir)) {
    const { mode, uid, gid } = statSync(dir);
    const bits = uid === account.uid ? (mode >> 6) & 7 : gid === account.gid ? (mode >> 3) & 7 : mode & 7;
    if ((bits & 1) === 0) return `${dir} (mode ${(mode & 0o777).toString(8).padStart(4, "0")})`;
    if (dir === dirname(dir)) return null;
  }
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
}

async function startAgent(socketPath: string, gid: number | undefined, groupName: string): Promise<UnixServer> {
  if (process.geteuid?.() !== 0) {
    log("warning: not running as root: the agent can read IPVS but will not be able to change it");
  }
  const exchange = createDispatcher(kernelOps, {
    onInternalError: (op, error) => console.error(`lvs-dashboard: agent op ${op} failed:`, error),
  });
  try {
    const agent = await listenUnix({ path: socketPath, exchange, gid });
    log(`agent listening on ${socketPath} (group ${groupName} may connect)`);
    return agent;
  } catch (error) {
    const hint =
      (error as NodeJS.ErrnoException).code === "EACCES"
        ? ": run as root, or set LVSDASH_AGENT_SOCKET to a path this user may create"
        : "";
    return fail(`cannot start the agent on ${socketPath}: ${error instanceof Error ? error.message : String(error)}${hint}`);
  }
}

function startWeb(socketPath: string, account: Account | null): ChildProcess {
  if (!existsSync(resolve(PROJECT_DIR, ".next/BUILD_ID"))) {
    fail(`no production build in ${PROJECT_DIR}/.next: run npm start (it builds first) or npx next build`);
  }
  const host = process.env.LVSDASH_HOST || "127.0.0.1";
  const port = process.env.LVSDASH_PORT || "3000";
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) fail(`LVSDASH_PORT is not a port: ${port}`);
  if (account) {
    const blocked = unreachableDirectory(account);
    if (blocked) {
      fail(
        `the web server runs as ${account.name}, which cannot enter ${blocked}: move the project to a directory ` +
          `it can read (e.g. /opt/lvs-dashboard) or make the path traversable (chmod o+x)`,
      );
    }
  }
  const nextBin = createRequire(import.meta.url).resolve("next/dist/bin/next");
  const child = spawn(process.execPath, [nextBin, "start", "--hostname", host, "--port", port], {
    cwd: PROJECT_DIR,
    stdio: "inherit",
    ...(account ? { uid: account.uid, gid: account.gid } : {}),
    env: {
      ...process.env,
      LVSDASH_AGENT_SOCKET: socketPath,
      NODE_ENV: "production",
      NEXT_TELEMETRY_DISABLED: "1",
      ...(account ? { HOME: "/nonexistent", USER: account.name, LOGNAME: account.name } : {}),
    },
  });
  const who = account ? `as ${account.name}:${account.group}` : "as the current user";
  log(`web server starting on http://${host.includes(":") ? `[${host}]` : host}:${port} (${who})`);
  return child;
}

async function main(): Promise<void> {
  const agentOnly = process.env.LVSDASH_AGENT_ONLY === "1";
  const webOnly = process.env.LVSDASH_WEB_ONLY === "1";
  if (agentOnly && webOnly) fail("LVSDASH_AGENT_ONLY and LVSDASH_WEB_ONLY exclude each other");
  const socketPath = agentSocketPath();
  // Privileges can only be dropped by root; otherwise everything runs as whoever started us.
  const account = process.geteuid?.() === 0 ? webAccount() : null;

  const stopSignal = waitForSignal();
  const agent = webOnly ? null : await startAgent(socketPath, account?.gid, account?.group ?? "the agent's own");
  if (agentOnly) {
    log(`stopping on ${await stopSignal}`);
    await agent?.close();
    return;
  }

  const web = startWeb(socketPath, account);
  const webExit = new Promise<string>((resolve) => {
    web.once("error", (error) => resolve(`could not be started: ${error.message}`));
    web.once("exit", (code, signal) => resolve(code !== null ? `exited with code ${code}` : `was killed by ${signal}`));
  });

  const first = await Promise.race([
    stopSignal.then((signal) => ({ signal })),
    webExit.then((how) => ({ how })),
  ]);
  if ("how" in first) {
    await agent?.close();
    return fail(`the web server (next start) ${first.how}: stopping`);
  }
  log(`stopping on ${first.signal}`);
  if (web.exitCode === null && web.signalCode === null) {
    web.kill("SIGTERM");
    const killer = setTimeout(() => web.kill("SIGKILL"), STOP_GRACE_MS);
    await webExit;
    clearTimeout(killer);
  }
  await agent?.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => fail(`unexpected failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`),
);
