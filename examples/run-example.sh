#!/bin/sh
# Runs an example app's scenarios against a real fakeidp, with the app started
# by the harness (target.start), all on loopback:
#
#   examples/run-example.sh /path/to/fakeidp examples/node-sealed-session [fakeidp run options...]
#
# 1. `npm ci` when node_modules is missing (pinned by package-lock.json), then
#    the example's prepare.sh if it has one (e.g. `next build`);
# 2. `fakeidp serve` on a free port in the background;
# 3. the scenario files copied with the free ports in place of the defaults
#    they are written with (fakeidp http://127.0.0.1:8787, app
#    http://localhost:3000), since scenario files hold fixed URLs;
# 4. `fakeidp run -j 1` from the example's folder (variants share the fake
#    and the app's port, so they run one at a time).
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

cd "$example"
if [ ! -d node_modules ]; then
    echo "== npm ci in $example"
    npm ci --no-audit --no-fund --loglevel=error || exit 4
fi
if [ -x ./prepare.sh ]; then
    ./prepare.sh || exit 4
fi

free_port() {
    node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
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

mkdir "$work/scenarios"
for f in scenarios/*.json; do
    sed -e "s#http://127.0.0.1:8787#http://127.0.0.1:$idp_port#g" \
        -e "s#http://localhost:3000#http://localhost:$app_port#g" \
        "$f" >"$work/scenarios/$(basename "$f")"
done

echo "== $(basename "$example"): fakeidp on 127.0.0.1:$idp_port, app on localhost:$app_port"
status=0
"$fakeidp" run -j 1 --seed 1 --timeout 300s "$@" "$work/scenarios" || status=$?
exit $status
