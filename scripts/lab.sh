#!/usr/bin/env bash
# `npm run lab`: a demo LVS-DR site inside the real-kernel lab (Debian's kernel with IPVS under qemu), with the
# dashboard running as its director's, on http://127.0.0.1:3000 (LVSDASH_LAB_PORT to change). Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh

setup_debian "${app_packages[@]}"
setup_node_modules
setup_native
setup_build
exec node --import tsx lab/host/cli.ts demo
