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
check filter_fail true
check filter_tag true
check filter_all true
# Printable: the print rules, applied at A4 width (794 px at 96 dpi), hide
# the filters, start each variant on a page and fit the width.
print_probe() {
  sed 's|</body>|<script>'"$(grep -v '^//' "$dir/print_probe.js" | tr '\n' ' ' | sed 's/[&|]/\\&/g')"'</script></body>|' \
    "$1" >"$out/print.html"
  # shellcheck disable=SC2086
  timeout 90 "$chromium" $(echo "$flags" | sed 's/--window-size=[0-9,]*/--window-size=794,1123/') \
    --dump-dom "file://$out/print.html" 2>/dev/null |
    sed -n 's/.*data-print="\([^"]*\)".*/\1/p' | sed 's/&quot;/"/g'
}
print=$(print_probe "$out/r.html")
echo "print: $print"
for want in '"filters_hidden":true' '"page_per_variant":true' '"heads_static":true' '"fits":true'; do
  case "$print" in *"$want"*) ok ;; *) bad "print: not $want" ;; esac
done
# …which fails without the print style.
sed 's/@media print/@media speech/' "$out/r.html" >"$out/noprint.html"
case "$(print_probe "$out/noprint.html")" in
  *'"rules":0,"filters_hidden":false,"page_per_variant":false'*) ok ;;
  *) bad "print check: passes without a print style" ;;
esac
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
