// `npm run lab`, the guest half: a DR site with three real servers and a client making steady requests, with
// the dashboard running as that site's director's (lab/dashboard.ts). Runs until the host side is stopped
// (Ctrl-C), which powers the guest off.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";

import { startRsAgentIn } from "./agents";
import { startLabDashboard } from "./dashboard";
import { buildSite } from "./site/site";

function say(line: string): void {
  process.stdout.write(`[demo] ${line}\n`);
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
  say("dashboard starting (the first start compiles for a while under emulation)");
  // A fresh admin account for this demo only (the guest forgets it when it stops).
  const password = randomBytes(9).toString("base64url");
  await startLabDashboard(site, {
    accounts: [{ name: "admin", role: "admin", password }],
    log: say,
    onUnexpectedExit: (name, how) => {
      say(`${name} stopped (${how}): the demo ends`);
      process.exit(1);
    },
  });
  // A real-server agent in each real server, as an admin starts it there; the web server (the guest's root
  // namespace) reaches them through an address on the LAN bridge, as a director's web server over its LAN.
  execFileSync("ip", ["addr", "add", "192.0.2.250/24", "dev", site.lanBridge]);
  for (const h of site.hosts) {
    if (!h.realServer) continue;
    const dir = `/run/lvs-dashboard-rs/${h.node}`;
    const agent = await startRsAgentIn(h.netns, `${h.realServer.rip}:9443`, { LVSDASH_RS_TOKEN_FILE: `${dir}/rs-token`, LVSDASH_RS_STATE_DIR: `${dir}/state` });
    const token = /new token written to .*\n\s+(\S+)/.exec(agent.output())?.[1] ?? "(see its output)";
    say(`rs-agent on ${h.node}: pair it on Real servers with URL http://${h.realServer.rip}:9443 and token ${token}`);
  }
  say(`open http://127.0.0.1:${process.env.LVSDASH_LAB_PORT ?? 3000} on the host and sign in as admin / ${password}`);
  say("(Ctrl-C there stops everything)");
}

main().catch((e: unknown) => {
  process.stderr.write(`demo: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
