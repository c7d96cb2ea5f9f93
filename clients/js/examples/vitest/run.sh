#!/bin/sh
# The example Vitest suite, as ctest runs it:
#
#   clients/js/examples/vitest/run.sh /path/to/fakeidp
#
# npm ci here and in examples/node-sealed-session when node_modules is
# missing or older than package-lock.json (versions pinned there), under the
# locks examples/run-example.sh uses; then `vitest run` with FAKEIDP_BIN.
# Exit status: vitest's; 4 when npm ci failed.
set -eu
if [ $# -ne 1 ]; then
    echo "usage: $0 /path/to/fakeidp" >&2
    exit 2
fi
case $1 in
    /*) FAKEIDP_BIN=$1 ;;
    *) FAKEIDP_BIN=$(pwd)/$1 ;;
esac
export FAKEIDP_BIN
here=$(cd "$(dirname "$0")" && pwd)
app=$(cd "$here/../../../../examples/node-sealed-session" && pwd)

prepare() { # DIR
    cd "$1"
    if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
        echo "== npm ci in $1"
        npm ci --no-audit --no-fund --loglevel=error
    fi
}
locked() { # NAME DIR
    lock="${TMPDIR:-/tmp}/fakeidp-example-$1.lock"
    if command -v flock >/dev/null 2>&1; then
        ( flock 9 && prepare "$2" ) 9>"$lock"
    else
        ( prepare "$2" )
    fi
}
locked node-sealed-session "$app" || exit 4
locked js-vitest "$here" || exit 4
cd "$here"
exec ./node_modules/.bin/vitest run
