#!/bin/sh
# Runs the WorkOS Node SDK probe (probe.mjs) against one pinned SDK version:
#
#   run.sh sdk-12 /path/to/fakeidp
#
# sdk-*/ hold a package.json and package-lock.json each (exact versions);
# their npm dependencies are installed on first use, on Node 22 (../lib.sh).
# FAKEIDP_COMPAT_LATEST=1 installs the newest versions into a scratch folder
# instead.
set -eu
if [ $# -ne 2 ]; then
    echo "usage: $0 sdk-DIR /path/to/fakeidp" >&2
    exit 2
fi
case $2 in
    /*) binary=$2 ;;
    *) binary=$(pwd)/$2 ;;
esac
# SDK_DIR: a path from here, or a folder name next to this script.
if [ -d "$1" ]; then sdk=$(cd "$1" && pwd); else sdk=$1; fi
cd "$(dirname "$0")"
COMPAT_ROOT=$(cd .. && pwd)
. ../lib.sh
compat_node22
dir=$(compat_prepare "$sdk")
exec node --experimental-import-meta-resolve probe.mjs "$dir" "$binary"
