#!/bin/sh
# Builds the libFuzzer targets with clang in a separate build folder (the
# libraries instrumented with -fsanitize=fuzzer-no-link and ASan + UBSan) and
# fuzzes each target for a bounded time, starting from its committed corpus.
# New inputs go to the build folder, never to the source tree; a crash leaves
# its input in <build>/fuzz-work/<target>/artifacts/ and fails the run: copy
# it into tests/fuzz/corpus/<target>/ as a regression input once fixed.
#
#   tests/fuzz/run.sh [target...]        default: every target
#   CC=clang FUZZ_SECONDS=30 FUZZ_JOBS=2 FUZZ_BUILD_DIR=build-fuzz tests/fuzz/run.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
cc=${CC:-clang}
build=${FUZZ_BUILD_DIR:-$src/build-fuzz}
seconds=${FUZZ_SECONDS:-30}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
targets=${*:-"scenario authenticate authorize cookies iron jwt jsonpos duration"}

mkdir -p "$build"
# One run at a time per build folder (ctest and a person may both start one).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$build/.fuzz-lock"
  flock 9
fi
echo "fuzz: configuring $build with $cc"
if ! cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
     -DFAKEIDP_SANITIZE=address,undefined -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link \
     -DFAKEIDP_FUZZ=ON -DFAKEIDP_COMPAT_TESTS=OFF >"$build/fuzz-configure.log" 2>&1; then
  cat "$build/fuzz-configure.log"
  exit 1
fi
echo "fuzz: building"
if ! cmake --build "$build" --target fuzzers -j "$jobs" >"$build/fuzz-build.log" 2>&1; then
  tail -50 "$build/fuzz-build.log"
  exit 1
fi

fuzz_one() {
  t=$1
  work=$build/fuzz-work/$t
  rm -rf "$work/artifacts" "$work/status"
  mkdir -p "$work/corpus" "$work/artifacts"
  dict=""
  [ -f "$here/dict/$t.dict" ] && dict="-dict=$here/dict/$t.dict"
  # shellcheck disable=SC2086
  if "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -max_len=16384 -print_final_stats=1 $dict -artifact_prefix="$work/artifacts/" \
       "$work/corpus" "$here/corpus/$t" >"$work/log" 2>&1; then
    echo 0 >"$work/status"
  else
    echo 1 >"$work/status"
  fi
}

echo "fuzz: $seconds s per target, $jobs at a time: $targets"
running=0
for t in $targets; do
  fuzz_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait
    running=0
  fi
done
wait

failed=0
for t in $targets; do
  work=$build/fuzz-work/$t
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  if [ "$(cat "$work/status" 2>/dev/null || echo 1)" = 0 ]; then
    echo "fuzz: $t ok, ${runs:-?} executions in $seconds s"
  else
    failed=1
    echo "fuzz: $t FAILED (log: $work/log)"
    grep -A 30 -E "^==[0-9]+==ERROR|runtime error|deadly signal|Test unit written" "$work/log" | head -60 || true
    ls "$work/artifacts" 2>/dev/null || true
  fi
done
exit $failed
