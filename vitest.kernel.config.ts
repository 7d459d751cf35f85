// Real-kernel suite: runs only inside the lab guest (Debian's kernel with IPVS, under qemu). Started by
// `npm run test:kernel` (lab/host/cli.ts), never directly on a host without IPVS.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { alias: { "@": fileURLToPath(new URL(".", import.meta.url)) } },
  test: {
    include: ["test/kernel/**/*.test.ts"],
    environment: "node",
    // One site at a time: the guest has 2 emulated CPUs and every process start is slow under TCG.
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 240_000,
    globalSetup: ["test/kernel/global-setup.ts"],
    reporters: ["default"],
  },
});
