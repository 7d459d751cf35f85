#!/usr/bin/env bash
# Builds our native addons from source with node-gyp (today one: native/genl, the generic netlink dump engine;
# native/genl/README.md says what it is and why). Idempotent: does nothing when the built addon is newer than its
# sources. Output: native/genl/build/Release/lvs_genl.node (ignored by git).
#
# No download: node-gyp is the one npm bundles (no npm package is added), and the headers are the installed
# node's own (--nodedir: `npm config get nodedir` when set, else the prefix of the running node, e.g. /usr for
# Debian's or NodeSource's nodejs package, whose node_api.h is in /usr/include/node). Needs make, a C compiler
# and python3 (scripts/setup.sh's app_packages). Where the addon is not built the agent still works: it logs one
# line and reads the table through the `netlink` package instead (server/kernel/genl/native.ts).
#
#   scripts/build-native.sh          build when out of date
#   scripts/build-native.sh --force  rebuild
set -euo pipefail
cd "$(dirname "$0")/.."

addon=native/genl
out=$addon/build/Release/lvs_genl.node
say() { printf 'lvs-dashboard: %s\n' "$*" >&2; }

if [ "${1:-}" != "--force" ] && [ -f "$out" ] &&
  [ -z "$(find "$addon/binding.gyp" "$addon/src" -newer "$out" -print -quit)" ] &&
  [ "$(cat "$addon/build/.node-version" 2>/dev/null)" = "$(node -p process.version)" ]; then
  say "native addon up to date ($out)"
  exit 0
fi

# npm's own node-gyp, next to the npm that is on PATH; a node-gyp on PATH (Debian's package) otherwise.
npm_root=$(dirname "$(readlink -f "$(command -v npm)")")/..
gyp="$npm_root/node_modules/node-gyp/bin/node-gyp.js"
if [ -f "$gyp" ]; then
  gyp_cmd=(node "$gyp")
elif command -v node-gyp >/dev/null; then
  gyp_cmd=(node-gyp)
else
  say "node-gyp not found (neither npm's bundled one at $gyp nor on PATH)"
  exit 1
fi

# The headers of the node that runs the app.
nodedir=$(npm config get nodedir 2>/dev/null || true)
[ -n "$nodedir" ] && [ "$nodedir" != undefined ] && [ -f "$nodedir/include/node/node_api.h" ] ||
  nodedir=$(node -p 'require("path").resolve(process.execPath, "../..")')
if [ ! -f "$nodedir/include/node/node_api.h" ]; then
  say "no node headers in $nodedir/include/node (install the nodejs package's headers, e.g. Debian's libnode-dev)"
  exit 1
fi

# A system python3 when there is one: node-gyp runs gyp with it, and pyenv's shims are slow and flaky here.
if [ -z "${PYTHON:-}" ] && [ -x /usr/bin/python3 ]; then export PYTHON=/usr/bin/python3; fi

say "building the native addon $addon (node-gyp, headers from $nodedir)"
(cd "$addon" && "${gyp_cmd[@]}" rebuild --nodedir="$nodedir" --loglevel=warn)
node -p process.version > "$addon/build/.node-version"
# A quick load check: the addon must load in this node, or the agent would fall back without saying so here.
node -e 'const a = require(process.argv[1]); if (typeof a.Engine !== "function") process.exit(1)' "$PWD/$out"
say "built $out"
