#!/bin/sh
# Runs a compat app on one pinned SDK version:
#
#   run-app.sh nextjs/authkit-4 /path/to/fakeidp
#
# APP/VERSION (e.g. nextjs/authkit-4) holds a package.json and
# package-lock.json; the app's sources (APP/src/) and scenarios
# (APP/scenarios/*.json, plus APP/scenarios/VERSION/ for that version only)
# are copied into it (git ignores the copies), then examples/run-example.sh
# installs, runs the app's prepare.sh if it has one (`next build` when a
# source changed), starts a zero-config `fakeidp serve` and runs the
# scenarios, the app under libfaketime on the virtual clock.
# Node 22 and FAKEIDP_COMPAT_LATEST=1 as in lib.sh.
set -eu
if [ $# -ne 2 ]; then
    echo "usage: $0 APP/VERSION /path/to/fakeidp" >&2
    exit 2
fi
case $2 in
    /*) binary=$2 ;;
    *) binary=$(pwd)/$2 ;;
esac
target=$(cd "$1" && pwd)
app=$(dirname "$target")
version=$(basename "$target")
cd "$(dirname "$0")"
COMPAT_ROOT=$(pwd)
. ./lib.sh
compat_node22
dir=$(compat_prepare "$target")
copy_sources() {
    # cp -p keeps the mtimes, so prepare.sh rebuilds only after a change.
    cp -Rp "$app/src/." "$dir/"
    rm -rf "$dir/scenarios"
    mkdir "$dir/scenarios"
    cp -p "$app/scenarios/"*.json "$dir/scenarios/"
    if [ -d "$app/scenarios/$version" ]; then
        cp -p "$app/scenarios/$version"/*.json "$dir/scenarios/"
    fi
}
compat_locked "$(basename "$app")-$version" copy_sources
exec sh ../../examples/run-example.sh "$binary" "$dir"
