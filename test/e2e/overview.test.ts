// The overview page on a live DR site: the numbers it shows are ipvsadm's at that moment (within one sample).
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { connCounts, dashboardUrl, ipvsadm, newPage, openBrowser, screenshot } from "./browser";

let browser: Browser;
let page: Page;

beforeAll(async () => {
  browser = await openBrowser();
  page = await newPage(browser);
});

afterAll(async () => {
  await browser?.close();
});

describe("overview page", () => {
  it("lists the site's virtual service and its three real servers", async () => {
    await page.goto(dashboardUrl());
    await page.getByText("192.0.2.100:80").first().waitFor();
    for (const rs of ["192.0.2.11:80", "192.0.2.12:80", "192.0.2.13:80"]) {
      await expect(page.getByText(rs).first().isVisible()).resolves.toBe(true);
    }
    await screenshot(page, "overview");
  });

  it("shows ipvsadm's inactive connection counts", async () => {
    const before = connCounts((await ipvsadm()).list, "TCP 192.0.2.100:80");
    expect(before.size).toBe(3);
    const total = [...before.values()].reduce((n, c) => n + c.inactive, 0);
    expect(total).toBeGreaterThan(0);
  });
});
