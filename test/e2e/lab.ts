// Global setup of the browser end-to-end suite: boots the lab guest running lab/e2e/guest.ts (a DR site with
// steady traffic, the dashboard as its director's, and an oracle that answers with ipvsadm's view), forwards
// both to free ports on 127.0.0.1, and waits until both answer. The guest's output goes to
// test-artifacts/e2e/guest.log. Teardown powers the guest off.
import { randomBytes } from "node:crypto";
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

import type { TestProject } from "vitest/node";

import { runInGuest } from "@/lab/host/guest";
import { prepareLab, projectRoot } from "@/lab/host/prepare";

declare module "vitest" {
  export interface ProvidedContext {
    dashboardUrl: string;
    oracleUrl: string;
    accounts: { admin: { name: string; password: string }; viewer: { name: string; password: string } };
  }
}

export const artifactsDir = join(projectRoot, "test-artifacts", "e2e");
const READY_TIMEOUT_MS = 15 * 60_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    return res.ok;
  } catch {
    return false;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  mkdirSync(artifactsDir, { recursive: true });
  const guestLog = join(artifactsDir, "guest.log");
  writeFileSync(guestLog, "");
  const log = (line: string) => appendFileSync(guestLog, `[lab] ${line}\n`);
  const image = prepareLab(log);
  const [dashboardPort, oraclePort] = [await freePort(), await freePort()];
  const abort = new AbortController();
  const accounts = {
    admin: { name: "e2e-admin", password: randomBytes(12).toString("base64url") },
    viewer: { name: "e2e-viewer", password: randomBytes(12).toString("base64url") },
  };
  const guest = runInGuest(image, {
    env: { E2E_ADMIN_PASSWORD: accounts.admin.password, E2E_VIEWER_PASSWORD: accounts.viewer.password },
    command: "node node_modules/tsx/dist/cli.mjs lab/e2e/guest.ts",
    timeoutMs: 40 * 60_000,
    forwards: [
      { hostPort: dashboardPort, guestPort: 3000 },
      { hostPort: oraclePort, guestPort: 3001 },
    ],
    onOutput: (chunk) => appendFileSync(guestLog, chunk),
    signal: abort.signal,
  });
  let ended: string | null = null;
  guest.then(
    (r) => (ended = `the guest ended with status ${r.exitCode}`),
    (e: unknown) => (ended = e instanceof Error ? e.message : String(e)),
  );

  const dashboardUrl = `http://127.0.0.1:${dashboardPort}`;
  const oracleUrl = `http://127.0.0.1:${oraclePort}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await answers(`${oracleUrl}/ready`))) {
    if (ended !== null) throw new Error(`the e2e lab guest stopped before it was ready: ${ended} (see ${guestLog})`);
    if (Date.now() > deadline) {
      abort.abort();
      throw new Error(`the e2e lab guest was not ready in ${READY_TIMEOUT_MS / 60_000} min (see ${guestLog})`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  project.provide("dashboardUrl", dashboardUrl);
  project.provide("oracleUrl", oracleUrl);
  project.provide("accounts", accounts);

  return async () => {
    abort.abort();
    await guest.catch(() => undefined);
  };
}
