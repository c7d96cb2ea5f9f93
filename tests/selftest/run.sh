#!/bin/sh
# Runs scenarios whose expectations are false on purpose: the runner must
# exit 1, fail every variant, and report each failure text listed in
# <case>.expected (one per line).
fakeidp=$1
dir=$2
passed=0
failed=0
for file in "$dir"/*.json; do
  case=${file%.json}
  out=$("$fakeidp" run --seed 7 -j 2 "$file" 2>&1)
  status=$?
  if [ "$status" -ne 1 ]; then
    echo "FAIL $(basename "$case"): exit status $status, expected 1"
    failed=$((failed + 1))
  fi
  variants=$(printf '%s\n' "$out" | grep -c '^FAIL ')
  oks=$(printf '%s\n' "$out" | grep -c '^ok ')
  if [ "$oks" -ne 0 ]; then
    echo "FAIL $(basename "$case"): $oks variant(s) passed that must fail"
    failed=$((failed + 1))
  fi
  while IFS= read -r line; do
    [ -z "$line" ] && continue
    if printf '%s\n' "$out" | grep -qF -- "- $line"; then
      passed=$((passed + 1))
    else
      echo "FAIL $(basename "$case"): no failure reported as: $line"
      failed=$((failed + 1))
    fi
  done < "$case.expected"
  echo "$(basename "$case"): $variants variants failed as they must"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
