// Unit suite: runs anywhere (no IPVS needed), on fixtures recorded from the real kernel. The real-kernel suite
// (vitest.kernel.config.ts) and the browser end-to-end suite (vitest.e2e.config.ts) have their own configs.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { alias: { "@": fileURLToPath(new URL(".", import.meta.url)) } },
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/kernel/**", "test/e2e/**", "node_modules/**"],
    environment: "node",
  },
});
