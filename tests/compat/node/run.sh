#!/bin/sh
# Runs the WorkOS Node SDK compatibility test: run.sh /path/to/fakeidp
# Installs the pinned npm packages (package-lock.json) on first use.
set -eu
if [ $# -ne 1 ]; then
    echo "usage: $0 /path/to/fakeidp" >&2
    exit 2
fi
case $1 in
    /*) binary=$1 ;;
    *) binary=$(pwd)/$1 ;;
esac
cd "$(dirname "$0")"
if [ ! -d node_modules ]; then
    npm ci --silent --no-audit --no-fund
fi
exec node compat.mjs "$binary"
