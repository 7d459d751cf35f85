// The browser end-to-end tests' guest half (test/e2e/, started by test/e2e/lab.ts): a DR site with three real
// servers and steady client traffic, the dashboard as its director's (lab/dashboard.ts), and an ORACLE: a small
// HTTP server, forwarded to the host next to the dashboard, through which the tests running on the host ask
// the guest what Debian's ipvsadm says at this moment, and restart the dashboard's web server. It answers
// fixed questions only; it is lab code, never part of the product.
//
//   GET  /ready          200 once the site and the dashboard are up
//   GET  /ipvsadm        {"at": ms, "statsExact": `ipvsadm -Ln --stats --exact`, "rate": `ipvsadm -Ln --rate --exact`,
//                         "list": `ipvsadm -Ln`}, read in the director's namespace
//   POST /restart-web    stops the web server (SIGTERM) and starts it again; 200 once it answers
//   POST /rs-script      {"node": "rs1", "script": "..."}: runs a real server's script from the wizard's plan in that
//                        real server's namespace (`sh -e`), as its admin would by hand; {"status", "output"}
//   POST /requests       {"host": "192.0.2.101", "port": 80, "count": 30}: that many requests from the client
//                        namespace; which real server answered each (lab/site's request())
import { createServer, type IncomingMessage } from "node:http";

import { startLabDashboard, type LabDashboard } from "../dashboard";
import { guestAddress } from "../host/guest";
import { buildSite } from "../site/site";

export const ORACLE_PORT = 3001;
const DASHBOARD_PORT = 3000;

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (test/e2e/lab.ts sets it)`);
  return value;
}

function say(line: string): void {
  process.stdout.write(`[e2e-guest] ${line}\n`);
}

async function jsonBody(req: IncomingMessage): Promise<unknown> {
  let text = "";
  for await (const chunk of req) text += String(chunk);
  return JSON.parse(text);
}

async function main(): Promise<void> {
  const site = await buildSite({
    name: "e2e",
    mode: "dr",
    realServers: [
      { name: "rs1", weight: 1 },
      { name: "rs2", weight: 2 },
      { name: "rs3", weight: 3 },
    ],
  });
  await site.startTraffic({ intervalMs: 250 });
  say("DR site up, steady traffic started");

  let dashboard: LabDashboard | null = null;
  let busy: Promise<void> = Promise.resolve();

  const oracle = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const run = async () => {
      if (req.method === "GET" && req.url === "/ready") return send(dashboard ? 200 : 503, { ready: dashboard !== null });
      if (!dashboard) return send(503, { error: "not ready" });
      if (req.method === "GET" && req.url === "/ipvsadm") {
        const at = Date.now();
        const [statsExact, rate, list] = await Promise.all([
          site.ipvsadm(["-Ln", "--stats", "--exact"]),
          site.ipvsadm(["-Ln", "--rate", "--exact"]),
          site.ipvsadm(["-Ln"]),
        ]);
        return send(200, { at, statsExact, rate, list });
      }
      if (req.method === "POST" && req.url === "/rs-script") {
        const { node, script } = (await jsonBody(req)) as { node?: unknown; script?: unknown };
        if (typeof node !== "string" || !/^rs\d$/.test(node) || typeof script !== "string") {
          return send(400, { error: "want {node: rsN, script}" });
        }
        const r = await site.sh(node, script, { allowFailure: true, timeoutMs: 30_000 });
        return send(200, { status: r.code, output: `${r.stdout}${r.stderr}` });
      }
      if (req.method === "POST" && req.url === "/requests") {
        const { host, port, count } = (await jsonBody(req)) as { host?: unknown; port?: unknown; count?: unknown };
        if (typeof host !== "string" || typeof port !== "number" || typeof count !== "number" || count < 1 || count > 200) {
          return send(400, { error: "want {host, port, count <= 200}" });
        }
        const r = await site.request(count, { host, port, timeoutMs: 5000 });
        return send(200, { byServer: r.byServer, failures: r.failures, failureReasons: r.failureReasons });
      }
      if (req.method === "POST" && req.url === "/restart-web") {
        const d = dashboard;
        busy = busy.then(() => d.restartWeb());
        await busy;
        return send(200, { restarted: true });
      }
      return send(404, { error: `no such oracle question: ${req.method} ${req.url}` });
    };
    run().catch((e: unknown) => send(500, { error: e instanceof Error ? e.message : String(e) }));
  });
  oracle.listen(ORACLE_PORT, guestAddress);

  dashboard = await startLabDashboard(site, {
    port: DASHBOARD_PORT,
    // Passwords chosen by the host side (test/e2e/lab.ts) for this run only.
    accounts: [
      { name: "e2e-admin", role: "admin", password: requiredEnv("E2E_ADMIN_PASSWORD") },
      { name: "e2e-viewer", role: "viewer", password: requiredEnv("E2E_VIEWER_PASSWORD") },
    ],
    log: say,
    onUnexpectedExit: (name, how) => {
      say(`${name} stopped (${how}): the e2e guest ends`);
      process.exit(1);
    },
  });
  say("ready");
}

main().catch((e: unknown) => {
  process.stderr.write(`e2e guest: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
