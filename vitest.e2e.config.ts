// Browser end-to-end suite: runs on this host. Its global setup (test/e2e/lab.ts) boots the lab guest with a DR
// site, the dashboard as its director's and an oracle (lab/e2e/guest.ts), forwarded to 127.0.0.1; the tests
// drive Debian's chromium through playwright-core and compare what the pages show with what ipvsadm says in the
// guest at that moment. Needs a production build (npx next build; npm test does it).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { alias: { "@": fileURLToPath(new URL(".", import.meta.url)) } },
  test: {
    include: ["test/e2e/**/*.test.ts"],
    environment: "node",
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 300_000,
    globalSetup: ["test/e2e/lab.ts"],
  },
});
