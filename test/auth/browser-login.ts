// For browser tests (test/e2e): sign a playwright page in through the real /login form. The account must
// exist first, e.g. in the guest before the dashboard starts:
//   printf '%s\n' "$PW" | LVSDASH_DATA_DIR=... node bin/lvsdash.js user add e2e --role admin
import type { Page } from "playwright-core";

export async function signIn(page: Page, baseUrl: string, name: string, password: string): Promise<void> {
  await page.goto(`${baseUrl}/login`);
  await page.fill('input[name="name"]', name);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForURL((url) => url.pathname !== "/login"), page.click('button[type="submit"]')]);
}
