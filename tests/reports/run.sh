#!/bin/sh
# Runs report.json with each reporter and compares the output, with times
# masked, to the golden files next to this script. The seed is not masked:
# every reporter prints the run's seed (7), in the form --seed takes.
fakeidp=$1
dir=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
passed=0
failed=0
mask() {
  sed -E -e 's/ *[0-9]+\.[0-9]+ ?(ms|s)/ T/g' -e 's/time="[0-9.]+"/time="T"/g' \
         -e 's/"(duration_ms|wall_ms)": [0-9.e+-]+/"\1": T/g' -e "s|$dir/||g"
}
check() {
  if diff -u "$dir/$1" "$out/$1" >"$out/diff" 2>&1; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $1 differs from the golden file:"
    cat "$out/diff"
  fi
}
"$fakeidp" run -j 1 --seed 7 --tap "$dir/report.json" >"$out/tap.raw"
status=$?
mask <"$out/tap.raw" >"$out/expected.tap"
# TAP's run also says (exit status 1) that an expectation failed.
[ "$status" -eq 1 ] && passed=$((passed + 1)) || { echo "FAIL --tap: exit status $status, not 1"; failed=$((failed + 1)); }
"$fakeidp" run -j 1 --seed 7 --junit "$out/junit.raw" --json "$out/json.raw" "$dir/report.json" \
  | mask >"$out/expected.console"
mask <"$out/junit.raw" >"$out/expected.junit.xml"
mask <"$out/json.raw" >"$out/expected.json"
for f in expected.tap expected.console expected.junit.xml expected.json; do check "$f"; done
# The exit status says one expectation failed.
if "$fakeidp" run -j 1 --seed 7 "$dir/report.json" >/dev/null 2>&1; then
  echo "FAIL exit status 0 with a failing variant"; failed=$((failed + 1))
else
  [ $? -eq 1 ] && passed=$((passed + 1)) || { echo "FAIL exit status not 1"; failed=$((failed + 1)); }
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
