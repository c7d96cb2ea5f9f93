#!/bin/sh
# Starts the Chromium engine's driver (driver.mjs) for `fakeidp run --browser
# chromium`. On first use it installs the pinned puppeteer-core
# (package-lock.json) with `npm ci` into its own folder,
# $FAKEIDP_CHROMIUM_HOME (default ${XDG_CACHE_HOME:-~/.cache}/fakeidp/chromium-engine),
# and reinstalls when the lockfile changes. A missing node, npm or Chromium is
# reported as one JSON line {"error": ...} on stdout, which the runner shows.
set -u
case $0 in */*) here=${0%/*} ;; *) here=. ;; esac
here=$(cd "$here" && pwd)
home=${FAKEIDP_CHROMIUM_HOME:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/fakeidp/chromium-engine}
fail() {
    printf '{"error": "%s"}\n' "$1"
    exit 3
}
command -v node >/dev/null 2>&1 ||
    fail "the Chromium engine needs Node.js (node on PATH, 18 or newer): apt-get install nodejs npm"
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] ||
    fail "the Chromium engine needs Chromium at $chromium: apt-get install chromium (scripts/deps.sh --test) or set CHROMIUM"
mkdir -p "$home" || fail "cannot create $home (set FAKEIDP_CHROMIUM_HOME)"
if ! cmp -s "$here/package-lock.json" "$home/package-lock.json" || [ ! -d "$home/node_modules/puppeteer-core" ]; then
    command -v npm >/dev/null 2>&1 ||
        fail "the Chromium engine installs puppeteer-core with npm on first use: apt-get install npm"
    # One installer at a time: parallel variants start together on first use
    # (copying the package files too: concurrent copies of one file fail).
    (
        cd "$home" &&
        if command -v flock >/dev/null 2>&1; then
            flock "$home/.install.lock" sh -c 'cp "$1/package.json" "$1/package-lock.json" . &&
                { [ -d node_modules/puppeteer-core ] && cmp -s package-lock.json .installed-lock ||
                  { npm ci --silent --no-audit --no-fund >&2 && cp package-lock.json .installed-lock; }; }' sh "$here"
        else
            cp "$here/package.json" "$here/package-lock.json" . && npm ci --silent --no-audit --no-fund >&2
        fi
    ) || fail "installing the Chromium engine's puppeteer-core in $home failed (npm ci; see above)"
fi
cp "$here/driver.mjs" "$home/driver.mjs.$$" && mv "$home/driver.mjs.$$" "$home/driver.mjs" ||
    fail "cannot write to $home"
cd "$home" && exec node driver.mjs
