#!/bin/sh
# Runs an example app (examples/NAME, with its own scenarios) as a compat
# test, so that FAKEIDP_COMPAT_LATEST=1 also re-runs it against the newest
# SDK on npm (lib.sh); pinned, it is the same run as the external test.
#
#   example.sh examples/authkit-session /path/to/fakeidp
set -eu
if [ $# -ne 2 ]; then
    echo "usage: $0 EXAMPLE_DIR /path/to/fakeidp" >&2
    exit 2
fi
case $2 in
    /*) binary=$2 ;;
    *) binary=$(pwd)/$2 ;;
esac
example=$(cd "$1" && pwd)
cd "$(dirname "$0")"
COMPAT_ROOT=$(pwd)
. ./lib.sh
compat_node22
dir=$(compat_prepare "$example")
exec sh ../../examples/run-example.sh "$binary" "$dir"
