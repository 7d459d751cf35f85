# Set-up steps shared by scripts/start.sh (npm start), scripts/test.sh (npm test) and scripts/lab.sh
# (npm run lab). Sourced, not run. Each step says what it does, and does nothing when its result is there.

say() { printf 'lvs-dashboard: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

# Packages the app needs to build and run (libpcap for capture; a compiler and python3 for the native addons).
app_packages=(libpcap-dev g++ make python3)

# setup_debian PKG...: apt-get install those not installed yet (needs root).
setup_debian() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "Debian packages present: $*"
  elif is_root; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    die "missing Debian packages ${missing[*]}: run this as root, or apt-get install them"
  fi
}

# setup_web_user: the system user the web server runs as (the agent stays root).
setup_web_user() {
  if getent passwd lvsdash >/dev/null; then
    say "user lvsdash exists"
  elif is_root; then
    say "creating the system user lvsdash (the web server runs as it; the agent stays root)"
    useradd --system --no-create-home --shell /usr/sbin/nologin lvsdash
  else
    say "not root: no user lvsdash is created, and everything runs as $(id -un)"
  fi
}

# setup_node_modules: install the locked dependencies when node_modules is missing or older than
# package-lock.json (npm writes node_modules/.package-lock.json last: it stamps a complete install). The
# native addons (pcap, netlink, better-sqlite3) build from source; package.json's allowScripts lets their
# install scripts run. `npm install`, not `npm ci`: the registry reachable here has no darwin/win32 builds of
# Next's optional @next/swc-* packages, so npm leaves them out of the lock and `npm ci` then refuses it
# ("Missing: @next/swc-darwin-arm64@ from lock file"); `npm install` installs the locked versions and skips
# optional packages it cannot have.
setup_node_modules() {
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing dependencies (npm install, from package-lock.json)"
    npm install --no-audit --no-fund --loglevel=error
  else
    say "dependencies up to date"
  fi
}

# setup_native: our own native addon (native/genl: the agent's generic netlink dump engine), built from source
# by scripts/build-native.sh when out of date. Not fatal: without it the agent reads through the netlink package,
# slower, and says so once.
setup_native() {
  bash scripts/build-native.sh || say "native addon not built: the agent will read IPVS through the netlink package (slower)"
}

# setup_build: next build when .next is missing or older than the sources (.next/BUILD_ID is written last).
setup_build() {
  local sources=(app server next.config.js tsconfig.json package-lock.json proxy.ts middleware.ts)
  if [ ! -f .next/BUILD_ID ]; then
    say "building the web app (next build): no build yet"
    npx next build
  elif [ -n "$(find "${sources[@]}" -newer .next/BUILD_ID -print -quit 2>/dev/null)" ]; then
    say "building the web app (next build): sources changed since the last build"
    npx next build
  else
    say "web app build up to date"
  fi
}
