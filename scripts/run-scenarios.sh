#!/bin/sh
# The main job: install what is missing, build, run the bundled scenarios
# against the embedded reference app. Extra arguments go to `fakeidp run`.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/build.sh build
exec ./build/cli/fakeidp run scenarios --junit build/scenarios-junit.xml "$@"
