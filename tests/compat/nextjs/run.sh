#!/bin/sh
# Runs the Next.js compat app on one pinned @workos-inc/authkit-nextjs:
#
#   run.sh authkit-4 /path/to/fakeidp
#
# authkit-*/ hold a package.json and package-lock.json each; the app's
# sources (src/) and the scenarios (scenarios/*.json, plus
# scenarios/authkit-N/ for that version only) are copied into the folder
# (git ignores the copies), then examples/run-example.sh installs, builds
# (`next build` when a source changed), starts a zero-config `fakeidp serve`
# and runs the scenarios, the app under libfaketime on the virtual clock.
# Node 22 and FAKEIDP_COMPAT_LATEST=1 as in ../lib.sh.
set -eu
if [ $# -ne 2 ]; then
    echo "usage: $0 authkit-DIR /path/to/fakeidp" >&2
    exit 2
fi
case $2 in
    /*) binary=$2 ;;
    *) binary=$(pwd)/$2 ;;
esac
cd "$(dirname "$0")"
COMPAT_ROOT=$(cd .. && pwd)
. ../lib.sh
compat_node22
version=$(basename "$1")
dir=$(compat_prepare "$version")
copy_sources() {
    # cp -p keeps the mtimes, so prepare.sh rebuilds only after a change.
    cp -Rp src/. "$dir/"
    rm -rf "$dir/scenarios"
    mkdir "$dir/scenarios"
    cp -p scenarios/*.json "$dir/scenarios/"
    if [ -d "scenarios/$version" ]; then
        cp -p "scenarios/$version"/*.json "$dir/scenarios/"
    fi
}
compat_locked "nextjs-$version" copy_sources
exec sh ../../../examples/run-example.sh "$binary" "$dir"
