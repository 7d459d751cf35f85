// The dashboard as a lab site's director runs it (guest only), shared by `npm run lab` (lab/demo.ts) and the
// browser end-to-end tests (lab/e2e/guest.ts):
//   - the agent (root, all kernel I/O) inside the director's network namespace, where the site's IPVS is;
//   - the web server in the guest's root namespace, on the address qemu forwards a host port to.
// They meet on the agent's Unix socket: a path in the file system, which network namespaces do not split.
// Both are started through server/main.ts, exactly as `npm start` starts them, so the web server drops to the
// lvsdash user. The data directory (history, accounts, audit log) is a fresh one in the guest's /run: the
// host's own /var/lib/lvs-dashboard shows through the guest's overlay, with files the guest must not share.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { request } from "node:http";

import { guestAddress } from "./host/guest";
import type { Site } from "./site/site";

const MAIN = ["--import", "tsx", "server/main.ts"];
const READY_TIMEOUT_MS = 180_000;

export interface LabDashboard {
  /** The web server's URL inside the guest. */
  url: string;
  /** Stops the web server (SIGTERM, as systemd would) and starts it again; resolves once it answers. */
  restartWeb(): Promise<void>;
  stop(): Promise<void>;
}

export interface LabDashboardOptions {
  socket?: string;
  port?: number;
  /** Extra environment for both processes. */
  env?: Record<string, string>;
  /** Accounts created with `lvsdash user add` before the web server starts (none: the setup link is printed). */
  accounts?: { name: string; role: "admin" | "viewer"; password: string }[];
  /** Called when a process stops on its own (not through restartWeb/stop). */
  onUnexpectedExit?: (name: string, how: string) => void;
  log?: (line: string) => void;
}

export async function startLabDashboard(site: Site, opts: LabDashboardOptions = {}): Promise<LabDashboard> {
  const socket = opts.socket ?? "/run/lvs-dashboard/agent.sock";
  const port = opts.port ?? 3000;
  const log = opts.log ?? (() => {});
  const expected = new Set<ChildProcess>();
  const dataDir = "/run/lvs-dashboard-data";
  execFileSync("install", ["-d", "-m", "0750", "-o", "lvsdash", "-g", "lvsdash", dataDir]);
  for (const a of opts.accounts ?? []) {
    execFileSync(process.execPath, ["bin/lvsdash.js", "user", "add", a.name, "--role", a.role, "--data-dir", dataDir], {
      input: `${a.password}\n`,
      stdio: ["pipe", "inherit", "inherit"],
    });
  }

  // Node used to die of SIGSEGV now and then under qemu TCG (never on a real machine; lab/guest/node-wasm-flags.cjs
  // tells why and stops it): such a death is still restarted, twice at most, and said; any other exit ends it.
  const procs: Partial<Record<"agent" | "web", ChildProcess>> = {};
  const start = (key: "agent" | "web", name: string, argv: string[], env: Record<string, string>, crashesLeft = 2): ChildProcess => {
    const p = spawn(argv[0]!, argv.slice(1), {
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, LVSDASH_DATA_DIR: dataDir, ...opts.env, ...env },
    });
    procs[key] = p;
    p.on("exit", (code, signal) => {
      if (expected.has(p)) return;
      if ((signal === "SIGSEGV" || signal === "SIGBUS") && crashesLeft > 0) {
        log(`${name} died of ${signal} (node under the emulator): starting it again`);
        start(key, name, argv, env, crashesLeft - 1);
        return;
      }
      opts.onUnexpectedExit?.(name, code !== null ? `status ${code}` : `signal ${signal}`);
    });
    return p;
  };

  start("agent", "the agent", ["ip", "netns", "exec", site.host("dir").netns, process.execPath, ...MAIN], {
    LVSDASH_AGENT_ONLY: "1",
    LVSDASH_AGENT_SOCKET: socket,
  });
  const startWeb = () =>
    start("web", "the web server", [process.execPath, ...MAIN], {
      LVSDASH_WEB_ONLY: "1",
      LVSDASH_AGENT_SOCKET: socket,
      LVSDASH_HOST: guestAddress,
      LVSDASH_PORT: String(port),
    });
  startWeb();
  const url = `http://${guestAddress}:${port}`;
  await waitForHttp(url, READY_TIMEOUT_MS);
  log(`dashboard answers on ${url}`);

  const stopProcess = async (p: ChildProcess) => {
    expected.add(p);
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((resolve) => p.once("exit", resolve));
    p.kill("SIGTERM");
    await exited;
  };

  return {
    url,
    async restartWeb() {
      await stopProcess(procs.web!);
      log("web server stopped; starting it again");
      startWeb();
      await waitForHttp(url, READY_TIMEOUT_MS);
      log("web server answers again");
    },
    async stop() {
      await Promise.all([stopProcess(procs.web!), stopProcess(procs.agent!)]);
    },
  };
}

/** Resolves once `url` answers with any HTTP status. */
export async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answered = await new Promise<boolean>((resolve) => {
      const req = request(url, { method: "HEAD", timeout: 5000 }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on("error", () => resolve(false));
      req.on("timeout", () => req.destroy());
      req.end();
    });
    if (answered) return;
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
