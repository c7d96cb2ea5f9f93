#!/bin/sh
# Each case.json must fail `fakeidp lint` with exit status 2 and print
# exactly what case.expected holds: every error, one line each
# (file:line:col: message).
fakeidp=$1
dir=$2
passed=0
failed=0
cd "$dir" || exit 1
for file in *.json; do
  case=${file%.json}
  out=$("$fakeidp" lint "$file" 2>&1)
  status=$?
  want=$(cat "$case.expected")
  got=$out
  if [ "$status" -eq 2 ] && [ "$got" = "$want" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $case: status $status"
    echo "  want: $want"
    echo "  got:  $got"
  fi
done
# A valid file passes with status 0.
if "$fakeidp" lint ../../scenarios >/dev/null 2>&1; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL bundled scenarios do not lint"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
