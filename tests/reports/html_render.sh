#!/bin/sh
# Renders the HTML report of a known failing run (report.json's "fails"
# variant, with f05's race) in headless Chromium at a laptop's window size:
# a screenshot checked by png_check.py (decodes, not blank, ink across the
# width, the FAIL red present), and the DOM's layout measured by
# layout_probe.js (lane headers in one row, left to right; no horizontal
# overflow; every arrow inside the window; the race's three requests side
# by side; the failed expectation drawn). Not pixel-exact.
fakeidp=$1
dir=$2
root=$3
chromium=${CHROMIUM:-chromium}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
if ! command -v "$chromium" >/dev/null 2>&1; then
  echo "SKIP: no chromium (scripts/deps.sh --test installs it)"
  exit 77
fi
"$fakeidp" run -j 2 --seed 5 --html "$out/r.html" \
  "$root/scenarios/f05-parallel-refresh-race.json" "$dir/report.json" >/dev/null
[ -s "$out/r.html" ] && ok || bad "no report written"
flags="--headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
--disable-extensions --hide-scrollbars --user-data-dir=$out/profile --window-size=1280,900"
# shellcheck disable=SC2086
timeout 90 "$chromium" $flags --screenshot="$out/shot.png" "file://$out/r.html" >/dev/null 2>&1
if python3 "$dir/png_check.py" "$out/shot.png" 1280 900; then ok; else bad "screenshot"; fi
# The screenshot check can fail: a near-empty page must not pass it.
printf '<!DOCTYPE html><p>x</p>' >"$out/empty.html"
# shellcheck disable=SC2086
timeout 90 "$chromium" $flags --screenshot="$out/empty.png" "file://$out/empty.html" >/dev/null 2>&1
if python3 "$dir/png_check.py" "$out/empty.png" 1280 900 >/dev/null; then
  bad "png_check accepted a blank page"
else
  ok
fi
sed 's|</body>|<script>'"$(grep -v '^//' "$dir/layout_probe.js" | tr '\n' ' ' | sed 's/[&|]/\\&/g')"'</script></body>|' \
  "$out/r.html" >"$out/probe.html"
# shellcheck disable=SC2086
timeout 90 "$chromium" $flags --dump-dom "file://$out/probe.html" 2>/dev/null >"$out/dom.html"
layout=$(sed -n 's/.*data-layout="\([^"]*\)".*/\1/p' "$out/dom.html" | sed 's/&quot;/"/g')
echo "layout: $layout"
check() {
  case "$layout" in
    *"\"$1\":$2"*) ok ;;
    *) bad "layout: $1 is not $2" ;;
  esac
}
check overflow false
check lanes 6
check ordered true
check one_row true
check fail_visible true
check arrows_inside true
check side_by_side true
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
