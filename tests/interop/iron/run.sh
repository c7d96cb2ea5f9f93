#!/bin/sh
# Runs the iron interop test: run.sh /path/to/iron_tool
# Installs the pinned npm packages (package-lock.json) on first use.
set -eu
if [ $# -ne 1 ]; then
    echo "usage: $0 /path/to/iron_tool" >&2
    exit 2
fi
case $1 in
    /*) tool=$1 ;;
    *) tool=$(pwd)/$1 ;;
esac
cd "$(dirname "$0")"
if [ ! -d node_modules ]; then
    npm ci --silent --no-audit --no-fund
fi
exec node interop.mjs "$tool"
