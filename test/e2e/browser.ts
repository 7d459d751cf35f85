// The browser the end-to-end tests drive: Debian's chromium through playwright-core (no downloaded browser),
// and the oracle's answers from the lab guest.
import { join } from "node:path";

import { chromium, type Browser, type Locator, type Page } from "playwright-core";
import { inject } from "vitest";

import { artifactsDir } from "./lab";

const CHROMIUM = process.env.LVSDASH_CHROMIUM ?? "/usr/bin/chromium";

export const dashboardUrl = () => inject("dashboardUrl");

export async function openBrowser(): Promise<Browser> {
  // --no-sandbox: the suite runs as root (npm test on a director), where chromium refuses its sandbox.
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
}

export async function newPage(browser: Browser): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  page.setDefaultTimeout(60_000);
  return page;
}

/** Signs in through the login page as the run's admin or viewer; resolves on the page it lands on. */
export async function signIn(page: Page, who: "admin" | "viewer"): Promise<void> {
  const account = inject("accounts")[who];
  await page.goto(`${dashboardUrl()}/login`);
  await page.locator('input[name="name"]').fill(account.name);
  await page.locator('input[name="password"]').fill(account.password);
  await page.locator('button[type="submit"]').click();
  await page.waitForURL((url) => !url.pathname.startsWith("/login"));
}

/** A full-page screenshot in test-artifacts/e2e/NAME.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  const file = join(artifactsDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

export interface IpvsadmView {
  at: number;
  statsExact: string;
  rate: string;
  list: string;
}

/** What ipvsadm says in the guest's director namespace right now. */
export async function ipvsadm(): Promise<IpvsadmView> {
  const res = await fetch(`${inject("oracleUrl")}/ipvsadm`);
  if (!res.ok) throw new Error(`oracle /ipvsadm: ${res.status} ${await res.text()}`);
  return (await res.json()) as IpvsadmView;
}

/** Restarts the dashboard's web server in the guest (SIGTERM, then start again); resolves once it answers. */
export async function restartWeb(): Promise<void> {
  await oraclePost("/restart-web", {}, 300_000);
}

/** Runs a real server's script (from the wizard's plan) in that real server's namespace, as its admin would. */
export async function runOnRealServer(node: string, script: string): Promise<{ status: number; output: string }> {
  return oraclePost("/rs-script", { node, script });
}

/** `count` requests from the client namespace to host:port: how many each real server answered, and failures. */
export async function clientRequests(host: string, port: number, count: number): Promise<{ byServer: Record<string, number>; failures: number; failureReasons: Record<string, number> }> {
  return oraclePost("/requests", { host, port, count });
}

async function oraclePost<T>(path: string, body: unknown, timeoutMs = 120_000): Promise<T> {
  const res = await fetch(`${inject("oracleUrl")}${path}`, { method: "POST", body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`oracle ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/**
 * Waits until a live page shows a sample pushed over its live stream: the page is live, and its sample time
 * (the live pill's data-t) has moved past what it showed when it went live. What the server rendered before
 * the browser hydrated (or the first query) can be seconds old in the lab; a pushed sample is at most one.
 */
export async function waitForPushedSample(page: Page): Promise<void> {
  const pill = page.locator('[data-testid="live-state"][data-phase="live"]');
  await pill.waitFor();
  const t0 = Number((await pill.getAttribute("data-t")) || 0);
  await page.waitForFunction(
    (t) => Number(document.querySelector('[data-testid="live-state"][data-phase="live"]')?.getAttribute("data-t") || 0) > t,
    t0,
    { timeout: 30_000 },
  );
}

/** A number cell's data-value (`data-metric` cells of the dashboard's tables); NaN when it has none. */
export async function metric(scope: Locator, name: string): Promise<number> {
  const v = await scope.locator(`[data-metric="${name}"]`).first().getAttribute("data-value");
  return v === null || v === "" ? Number.NaN : Number(v);
}

/**
 * True when `shown` lies between two oracle readings taken before and after the page was read, widened by
 * `slack` (what one sample of the page can lag behind the kernel).
 */
export function between(shown: number, a: number, b: number, slack: number): boolean {
  return shown >= Math.min(a, b) - slack && shown <= Math.max(a, b) + slack;
}

export interface RealServerCounts {
  active: number;
  inactive: number;
}

/** `ipvsadm -Ln`'s ActiveConn/InActConn per real server "ip:port" of one virtual service "TCP  ip:port". */
export function connCounts(listing: string, service: string): Map<string, RealServerCounts> {
  const out = new Map<string, RealServerCounts>();
  let inService = false;
  for (const line of listing.split("\n")) {
    const svc = /^(TCP|UDP|SCTP|FWM)\s+(\S+)/.exec(line);
    if (svc) {
      inService = `${svc[1]} ${svc[2]}` === service;
      continue;
    }
    const rs = /^\s+->\s+(\S+)\s+\S+\s+\d+\s+(\d+)\s+(\d+)/.exec(line);
    if (inService && rs) out.set(rs[1]!, { active: Number(rs[2]), inactive: Number(rs[3]) });
  }
  return out;
}
