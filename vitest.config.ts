// Unit suite: runs anywhere (no IPVS needed), on fixtures recorded from the real kernel.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { alias: { "@": fileURLToPath(new URL(".", import.meta.url)) } },
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/kernel/**", "node_modules/**"],
    environment: "node",
  },
});
