#!/bin/sh
# Builds the app (`next build`) when there is no build yet or a source file
# is newer than it. NEXT_PUBLIC_* variables are inlined at build time, so the
# build runs without NEXT_PUBLIC_WORKOS_REDIRECT_URI: the app then reads it at
# run time, from the environment the harness gives it.
set -eu
cd "$(dirname "$0")"
if [ -f .next/BUILD_ID ] && [ -z "$(find app middleware.js next.config.mjs package-lock.json -newer .next/BUILD_ID -print -quit)" ]; then
    exit 0
fi
echo "== next build in $(pwd)"
env -u NEXT_PUBLIC_WORKOS_REDIRECT_URI NEXT_TELEMETRY_DISABLED=1 node node_modules/next/dist/bin/next build
