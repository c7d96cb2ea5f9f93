#!/bin/sh
# The documentation's links hold (links.py), and the check fails on a copy
# with a page missing and on one with a link to a heading that is gone.
root=$1
dir=$(dirname "$0")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
python3 "$dir/links.py" "$root" && ok || bad "broken links"
copy() {
  rm -rf "$out/r" && mkdir "$out/r" &&
    tar -C "$root" --exclude=.git --exclude=node_modules --exclude='build*' -cf - . | tar -C "$out/r" -xf -
}
copy && python3 "$dir/links.py" "$out/r" >/dev/null && ok || bad "a full copy does not pass"
copy && rm "$out/r/docs/har.md"
python3 "$dir/links.py" "$out/r" >"$out/why" && bad "accepted a missing docs/har.md" || ok
copy && sed -i 's/^## JUnit links/## Links/' "$out/r/docs/reports.md"
python3 "$dir/links.py" "$out/r" >"$out/why" && bad "accepted a link to a heading that is gone" || ok
grep -q "no heading #junit-links" "$out/why" && ok || bad "no message for the missing heading"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
