#!/bin/sh
# The HTML report: runs f05 (the parallel refresh race) and report.json (one
# failing variant) with --html, --json and --junit, and checks the HTML's
# structure with html_check.py; then checks that the checker does fail on
# damaged copies (a variant missing, a status changed, an external script).
fakeidp=$1
dir=$2
root=$3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
# The whole bundled set, as the "done when" runs it, with report.json
# (a failing variant) and lanes.json (two app instances).
"$fakeidp" run -j 2 --seed 5 --html "$out/r.html" --json "$out/r.json" --junit "$out/j.xml" \
  "$root/scenarios/" "$dir/report.json" "$dir/lanes.json" >"$out/console"
[ $? -eq 1 ] && ok || bad "exit status not 1 with a failing variant"
grep -q 'f05-parallel-refresh-spends-one-token/strict-no-dedupe' "$out/console" && ok ||
  bad "f05's race was not run"
if python3 "$dir/html_check.py" "$out/r.html" "$out/r.json" "$out/j.xml"; then ok; else bad "html_check"; fi
# Repeated variants: each section's replay command is the JSON report's (with --repeat N).
"$fakeidp" run --seed 5 --repeat 2 --html "$out/rep.html" --json "$out/rep.json" "$dir/lanes.json" >/dev/null
python3 "$dir/html_check.py" "$out/rep.html" "$out/rep.json" >/dev/null && ok || bad "the report of a --repeat run"
# Damaged copies must be caught: of a smaller report (f05's race, f06's two
# tabs, report.json and lanes.json), quicker to parse a dozen times.
"$fakeidp" run -j 2 --seed 5 --html "$out/s.html" --json "$out/s.json" \
  "$root/scenarios/f05-parallel-refresh-race.json" "$root/scenarios/f06-cross-tab-refresh.json" \
  "$dir/report.json" "$dir/lanes.json" >/dev/null
python3 "$dir/html_check.py" "$out/s.html" "$out/s.json" >/dev/null && ok || bad "the smaller report"
damage() {
  what=$1
  shift
  sed "$@" "$out/s.html" >"$out/bad.html"
  python3 "$dir/html_check.py" "$out/bad.html" "$out/s.json" >"$out/why" 2>&1
  # Caught: exit 1 and a finished check (a crash would also exit 1).
  if [ $? -eq 1 ] && grep -q "^[1-9][0-9]* checks failed" "$out/why"; then
    [ -n "${VERBOSE:-}" ] && cat "$out/why"
    ok
  else
    bad "html_check accepted a report with $what"; cat "$out/why"
  fi
}
damage "a variant missing" -e 's/id="v-report-golden--holds"/id="v-gone"/'
damage "an IdP 400 shown as 200" -e '0,/<span class="st s4">400<\/span> already_exchanged/s//<span class="st s2">200<\/span> already_exchanged/'
damage "an external script" -e 's|<script>|<script src="https://example.com/x.js">|'
damage "a tag left open" -e '0,/<\/h2>/s///'
damage "the cookie deletion landing first" -e 's/data-change="deleted"/data-change="set"/g'
race='/id="v-f05-parallel-refresh-spends-one-token--strict-no-dedupe"/,/<\/section>/'
damage "the race's refresh tokens differ" -e "$race"'s/RT \([0-9a-f]*\) ×3/RT 00000000 ×3/3'
damage "the race's access tokens differ" -e "$race"'s/\(<b>#[0-9]*<\/b> GET \/api\/[a-z]* <span[^>]*>\)AT [0-9a-f]*/\1AT 00000000/'
damage "the race's 'token expired' line outside the app lane" -e "$race"'s/\(<div class="log" style="grid-column:\)2\(\/-1"><span class="who">app:<\/span> token expired\)/\13\2/'
damage "a fault not marked" -e 's/<span class="fault">[^<]*<\/span>//'
tabs='/id="v-f06-two-tabs-refresh-without-a-lock--no-lock"/,/<\/section>/'
damage "a request drawn from the wrong tab" -e "$tabs"'s/grid-column:2\(\/[0-9]*"><span class="lbl"><b>#4<\/b>\)/grid-column:1\1/'
damage "a request's access token not shown" -e "$race"'s/\(<b>#4<\/b> GET \/dashboard\) <span class="tok"[^>]*>AT [0-9a-f]*<\/span>/\1/'
damage "a tab lane missing" -e '0,/>browser tab second</s//>browser</'
damage "an app instance lane missing" -e 's/>app instance 2</>app</'
damage "a file missing from the replay command" -e 's|\(<code id="replay">[^<]*\) [^ <]*report.json|\1|'
damage "no print style" -e 's/@media print/@media screen/'
damage "the gap unlabelled" -e 's/data-gap-ms="360000">+6m/data-gap-ms="360000">/'
damage "the jar not highlighting the deletion" -e "$race"'s/class="ck chg del"/class="ck del"/g'
damage "a token chip told by colour only" -e '0,/>AT \([0-9a-f]\)/s//>\1/'
# Without --html the JUnit file has no links (the golden test pins it).
grep -q 'html_report' "$out/j.xml" && ok || bad "junit has no html_report property"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
