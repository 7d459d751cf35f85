// `npm run lab`, the guest half: a DR site with three real servers and a client making steady requests, with
// the dashboard running as that site's director's:
//   - the agent (root, all kernel I/O) inside the director's network namespace, where the site's IPVS is;
//   - the web server in the guest's root namespace, on the address qemu forwards 127.0.0.1:3000 to.
// They meet on the agent's Unix socket: a path in the file system, which network namespaces do not split.
// Runs until the host side is stopped (Ctrl-C), which powers the guest off.
import { spawn, type ChildProcess } from "node:child_process";
import { guestAddress } from "./host/guest";
import { buildSite } from "./site/site";

const socket = "/run/lvs-dashboard/agent.sock";
const tsx = ["--import", "tsx", "server/main.ts"];

function say(line: string): void {
  process.stdout.write(`[demo] ${line}\n`);
}

function start(name: string, argv: string[], env: Record<string, string>): ChildProcess {
  const p = spawn(argv[0]!, argv.slice(1), { stdio: "inherit", env: { ...process.env, ...env } });
  p.on("exit", (code, signal) => {
    say(`${name} stopped (${code ?? signal}): the demo ends`);
    process.exit(1);
  });
  return p;
}

async function main(): Promise<void> {
  say("building a DR site: client 203.0.113.50 -> router -> director 192.0.2.1 (VIP 192.0.2.100:80) -> rs1..rs3");
  const site = await buildSite({
    name: "demo",
    mode: "dr",
    realServers: [
      { name: "rs1", weight: 1 },
      { name: "rs2", weight: 2 },
      { name: "rs3", weight: 3 },
    ],
  });
  await site.startTraffic({ intervalMs: 300 });
  say("steady client traffic started (about 3 requests/s)");

  const director = site.host("dir").netns;
  start("the agent", ["ip", "netns", "exec", director, process.execPath, ...tsx], {
    LVSDASH_AGENT_ONLY: "1",
    LVSDASH_AGENT_SOCKET: socket,
  });
  start("the web server", [process.execPath, ...tsx], {
    LVSDASH_WEB_ONLY: "1",
    LVSDASH_AGENT_SOCKET: socket,
    LVSDASH_HOST: guestAddress,
    LVSDASH_PORT: "3000",
  });
  say(`dashboard starting: open http://127.0.0.1:${process.env.LVSDASH_LAB_PORT ?? 3000} on the host (Ctrl-C there stops everything)`);
}

main().catch((e: unknown) => {
  process.stderr.write(`demo: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
