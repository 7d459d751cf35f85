#!/usr/bin/env bash
# `npm start`: from a fresh Debian machine (root, node and npm present) to a running dashboard.
#   1. Debian packages the native addons build against (libpcap-dev; a C++ toolchain and python3 for node-gyp)
#   2. the system user the web server runs as (lvsdash), and its data directory (history)
#   3. npm ci, when node_modules is missing or older than package-lock.json
#   4. next build, when .next is missing or older than the sources
#   5. server/main.ts: the agent as root, the web server as lvsdash (see that file)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh

setup_debian "${app_packages[@]}"
setup_web_user
# the history store's data directory (LVSDASH_DATA_DIR), created owned by the web server's user
data_dir="${LVSDASH_DATA_DIR:-/var/lib/lvs-dashboard}"
if [ ! -d "$data_dir" ] && is_root && getent passwd lvsdash >/dev/null; then
  say "creating the data directory $data_dir (history), owned by lvsdash"
  install -d -m 0750 -o lvsdash -g "$(id -gn lvsdash)" "$data_dir"
fi
setup_node_modules
setup_native
setup_build
say "starting (Ctrl-C stops)"
# node itself, not npx: npx and tsx's CLI are extra processes that do not all pass SIGTERM on.
exec node --import tsx server/main.ts
