// globalSetup of the real-kernel suite (vitest.kernel.config.ts): stop at once, with one clear message, when the
// kernel has no IPVS, instead of every test failing on its own.
import { existsSync } from "node:fs";

export default function setup(): void {
  if (!existsSync("/proc/net/ip_vs")) {
    throw new Error(
      "real-kernel tests run only inside the lab: npm run test:kernel " +
        "(/proc/net/ip_vs does not exist: this kernel has no IPVS loaded)",
    );
  }
}
