#!/bin/sh
# Runs the differential cookie suite: run.sh /path/to/model_cases [case-name]
# Installs the pinned npm packages (package-lock.json) on first use. Exit 77
# (skipped) when Chromium is missing outside CI; under CI=true that fails.
set -eu
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 /path/to/model_cases [case-name]" >&2
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
exec node differential.mjs "$binary" cookie-cases.json ${2:+"$2"}
