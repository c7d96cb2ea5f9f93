#!/bin/sh
# Runs an example app's scenarios against a real fakeidp, with the app started
# by the harness (target.start), all on loopback:
#
#   examples/run-example.sh /path/to/fakeidp examples/node-sealed-session [fakeidp run options...]
#
# 1. `npm ci` when node_modules is missing or older than package-lock.json
#    (versions pinned there), then the example's prepare.sh if it has one
#    (e.g. `next build`), under a lock in $TMPDIR;
# 2. `fakeidp serve` on a free port in the background;
# 3. the scenario files copied with the free ports in place of the defaults
#    they are written with (fakeidp http://127.0.0.1:8787, app
#    http://localhost:3000), since scenario files hold fixed URLs;
# 4. `fakeidp run -j 2` from the example's folder (variants share the fake
#    and the app's port: the runner has external variants take turns, so -j 2
#    shows that it does), with FAKEIDP_EXAMPLE_WORK naming a scratch folder the
#    apps inherit;
# 5. the example's after.sh, if it has one, with that folder.
# With FAKEIDP_EXAMPLE_PREPARE_ONLY=1 only step 1 runs.
# Everything runs on Node 22 from tests/compat/node22 (installed on first use).
# Exit status: that of `fakeidp run` (0 all held, 1 an expectation failed,
# 2 usage); 3 when the fake did not start, 4 when npm ci or prepare failed.
set -eu

if [ $# -lt 2 ]; then
    echo "usage: $0 /path/to/fakeidp EXAMPLE_DIR [fakeidp run options...]" >&2
    exit 2
fi
case $1 in
    /*) fakeidp=$1 ;;
    *) fakeidp=$(pwd)/$1 ;;
esac
example=$(cd "$2" && pwd)
shift 2

# Node.js 22 from the npm registry (tests/compat/lib.sh): authkit-nextjs 4.x
# needs Node >= 22.11, and every example runs on the same Node.
COMPAT_ROOT=$(cd "$(dirname "$0")/../tests/compat" && pwd)
. "$COMPAT_ROOT/lib.sh"
compat_node22 || exit 4

cd "$example"
# npm ci when node_modules is missing or older than package-lock.json, then
# prepare.sh; under a lock, since two test runs may share this folder.
prepare() {
    if [ -f package.json ] && { [ ! -f node_modules/.package-lock.json ] ||
        [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
        echo "== npm ci in $example"
        npm ci --no-audit --no-fund --loglevel=error || return 4
    fi
    if [ -x ./prepare.sh ]; then
        ./prepare.sh || return 4
    fi
}
lock="${TMPDIR:-/tmp}/fakeidp-example-$(basename "$example").lock"
if command -v flock >/dev/null 2>&1; then
    status=0
    ( flock 9 && prepare ) 9>"$lock" || status=$?
    [ $status -eq 0 ] || exit 4
else
    prepare || exit 4
fi

# FAKEIDP_EXAMPLE_PREPARE_ONLY=1: stop here (tests/external/doctor.sh runs
# `fakeidp doctor` on the prepared example itself).
if [ "${FAKEIDP_EXAMPLE_PREPARE_ONLY:-}" = 1 ]; then
    exit 0
fi

# A free port below Linux's ephemeral range (32768-60999), so that no
# outgoing connection takes it between this check and the bind.
free_port() {
    node -e '
const net = require("net");
function attempt(n) {
  if (n > 100) { console.log(0); return; }
  const port = 20000 + Math.floor(Math.random() * 12000);
  const s = net.createServer();
  s.once("error", () => attempt(n + 1));
  s.listen(port, "127.0.0.1", () => { console.log(port); s.close(); });
}
attempt(0);'
}

work=$(mktemp -d "${TMPDIR:-/tmp}/fakeidp-example-XXXXXX")
fake_pid=
cleanup() {
    if [ -n "$fake_pid" ]; then
        kill "$fake_pid" 2>/dev/null || true
        wait "$fake_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

idp_port=$(free_port)
app_port=$(free_port)
while [ "$app_port" = "$idp_port" ]; do app_port=$(free_port); done
if [ "$idp_port" = 0 ] || [ "$app_port" = 0 ]; then
    echo "no free port found between 20000 and 32000" >&2
    exit 3
fi

"$fakeidp" serve --host 127.0.0.1 --port "$idp_port" >"$work/fakeidp.log" 2>&1 &
fake_pid=$!
tries=0
until grep -q "listening on" "$work/fakeidp.log" 2>/dev/null; do
    tries=$((tries + 1))
    if [ $tries -gt 200 ] || ! kill -0 "$fake_pid" 2>/dev/null; then
        echo "fakeidp serve did not start:" >&2
        cat "$work/fakeidp.log" >&2
        exit 3
    fi
    sleep 0.05
done

# Scenario files name the ports through ${FAKEIDP_URL} and ${APP_URL}.
export FAKEIDP_URL="http://127.0.0.1:$idp_port"
export APP_URL="http://localhost:$app_port"

echo "== $(basename "$example"): fakeidp on 127.0.0.1:$idp_port, app on localhost:$app_port"
status=0
FAKEIDP_EXAMPLE_WORK=$work "$fakeidp" run -j 2 --seed 1 --timeout 300s "$@" scenarios || status=$?
if [ -x ./after.sh ]; then
    ./after.sh "$work" || { [ $status -ne 0 ] || status=1; }
fi
exit $status
