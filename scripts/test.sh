#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run) and as the README's one test command (`npm test`):
#   1. set-up (Debian packages, npm packages, the lab's kernel and initramfs);
#   2. type check;
#   3. the unit suite on this host (fixtures recorded from the real kernel);
#   4. the real-kernel suite inside the lab guest (Debian's kernel with IPVS, under qemu);
#   5. the browser end-to-end suite: Debian's chromium on this host, the dashboard in the lab guest.
# It fails if any part fails, and ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
set -e
setup_debian "${app_packages[@]}" chromium  # chromium: the browser end-to-end suite
setup_web_user
setup_node_modules
setup_native
setup_build
npx tsx lab/host/cli.ts prepare
set +e

mkdir -p test-artifacts
status=0
say "type check (tsc --noEmit)"
npx tsc --noEmit -p . || status=1

say "unit suite (host)"
npx vitest run --reporter=default --reporter=json --outputFile.json=test-artifacts/unit.json || status=1

say "real-kernel suite (lab guest)"
npx tsx lab/host/cli.ts test --reporter=default --reporter=json --outputFile.json=/lab-io/artifacts/kernel.json \
  2>&1 | tee test-artifacts/kernel.log
[ "${PIPESTATUS[0]}" = 0 ] || status=1
latest=$(ls -td .lab/runs/*/ 2>/dev/null | head -1)
[ -n "$latest" ] && [ -f "$latest/artifacts/kernel.json" ] && cp "$latest/artifacts/kernel.json" test-artifacts/kernel.json

say "browser end-to-end suite (chromium here, dashboard in the lab guest; screenshots in test-artifacts/e2e/)"
npx vitest run -c vitest.e2e.config.ts --reporter=default --reporter=json --outputFile.json=test-artifacts/e2e.json || status=1

node scripts/summary.mjs test-artifacts/unit.json test-artifacts/kernel.json test-artifacts/e2e.json || status=1
exit $status
