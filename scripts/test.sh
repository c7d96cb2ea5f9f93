#!/bin/sh
# The whole test suite: install what is missing, build, run every test
# (unit, wire, interop and SDK compatibility, scenarios, self-tests), then
# again under AddressSanitizer + UndefinedBehaviorSanitizer, and the
# concurrency tests under ThreadSanitizer. With CI=true (as root) the .deb is
# also installed on the machine and runs /usr/share/fakeidp/scenarios.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh --test
jobs=$(nproc)

echo "== build and test (RelWithDebInfo)"
./scripts/build.sh build -DFAKEIDP_WERROR=ON
(cd build && ctest --output-on-failure -j "$jobs")   # label package: the .deb, unpacked in a scratch root
if [ "${CI:-}" = true ] && [ "$(id -u)" = 0 ]; then
    echo "== the Debian package, installed on this machine (CI)"
    (cd build && cpack -G DEB >/dev/null)
    dpkg -i build/fakeidp_*.deb
    /usr/bin/fakeidp run --seed 1 -j "$jobs" /usr/share/fakeidp/scenarios
fi

echo "== AddressSanitizer + UndefinedBehaviorSanitizer"
./scripts/build.sh build-asan -DFAKEIDP_WERROR=ON -DFAKEIDP_SANITIZE=address,undefined \
  -DFAKEIDP_COMPAT_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j "$jobs")

echo "== ThreadSanitizer (concurrency tests)"
./scripts/build.sh build-tsan -DFAKEIDP_SANITIZE=thread -DFAKEIDP_COMPAT_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=Debug
(cd build-tsan && TSAN_OPTIONS="halt_on_error=1 suppressions=$PWD/../tests/tsan.supp" \
  ctest --output-on-failure -L concurrency)
echo "== all test suites passed"
