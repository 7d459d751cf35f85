// First start: while no admin exists, the web server prints a one-time setup link (as Jupyter prints its
// token). Whoever can read the server's console opens it and creates the first admin; the link then stops
// working. Each start prints a new link (the old one stops working); it expires after 24 h. The other way in
// is the command line on the machine: `lvsdash user add NAME --role admin`.
import { hostname } from "node:os";

import { authRuntime } from "./service";

/** The URL the console shows: where this server listens (LVSDASH_HOST/LVSDASH_PORT, as server/main.ts). */
export function setupUrl(token: string, env: NodeJS.ProcessEnv = process.env): string {
  let host = env.LVSDASH_HOST || env.HOSTNAME || "127.0.0.1";
  if (host === "0.0.0.0" || host === "::" || host === "[::]") host = hostname();
  if (host.includes(":") && !host.startsWith("[")) host = `[${host}]`;
  const port = env.LVSDASH_PORT || env.PORT || "3000";
  return `http://${host}:${port}/login?setup=${encodeURIComponent(token)}`;
}

/** Prints the setup link when there is no admin; does nothing otherwise. */
export function announceFirstStart(log: (line: string) => void = (l) => console.log(l)): void {
  let token: string | null;
  try {
    token = authRuntime().auth.store.createSetupToken();
  } catch (e) {
    log(`lvs-dashboard: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  if (!token) return;
  const rule = "-".repeat(78);
  log(
    [
      rule,
      "lvs-dashboard: no admin account yet. To create the first one, open this link (valid once, 24 h):",
      "",
      `    ${setupUrl(token)}`,
      "",
      "or, on this machine: lvsdash user add NAME --role admin   (asks for the password)",
      rule,
    ].join("\n"),
  );
}
