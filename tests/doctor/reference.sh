#!/bin/sh
# fakeidp doctor against the embedded reference app (no npm): with its
# default (buggy) knobs, with every fix applied, and with one knob broken at a
# time; the written scenario files lint clean and reproduce the findings;
# usage errors exit 2 and an unreachable fake 3.
fakeidp=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

# verdict JSON PROBE: the verdict doctor gave PROBE (family/probe) in --json.
verdict() {
  jq -r --arg p "$2" '.doctor[] | select(.family + "/" + .probe == $p) | .verdict' "$1"
}
expect_verdicts() { # JSON WANT PROBE...
  json=$1 want=$2
  shift 2
  for p in "$@"; do
    got=$(verdict "$json" "$p")
    [ "$got" = "$want" ] && ok || bad "$json: $p is '$got', expected '$want'"
  done
}

# 1. Default knobs: the reference app models the SDKs before their fixes.
"$fakeidp" doctor --reference --out "$work/buggy" --json "$work/buggy.json" --junit "$work/buggy.xml" \
  >"$work/buggy.txt" 2>&1
status=$?
[ $status -eq 1 ] && ok || bad "default knobs: exit $status, expected 1"
expect_verdicts "$work/buggy.json" vulnerable parallel-refresh/strict refresh-errors/503 \
  refresh-errors/429 refresh-errors/timeout refresh-errors/reply-lost-after-commit \
  cookie-size/many-permissions clock-skew/idp-ahead-30s-nbf
expect_verdicts "$work/buggy.json" "not vulnerable" baseline/sign-in-and-refresh parallel-refresh/grace \
  rotation-persisted/strict-three-refreshes cookie-attributes/safari-over-http \
  issuer-audience/legacy-issuer jwks-rotation/sign-with-new-key-at-once clock-skew/idp-behind-2m \
  expiry-edges/around-exp cookie-password/changed-across-restart revoked-session/admin-revoke \
  session-limits/max-session-length session-limits/inactivity-timeout forged-tokens/alg-none \
  forged-tokens/hs256-key-confusion forged-tokens/expired tampered-cookie/garbage \
  tampered-cookie/one-character-changed
expect_verdicts "$work/buggy.json" "not run" cookie-attributes/sign-out
grep -q "add --logout PATH" "$work/buggy.txt" && ok || bad "a not-run probe says what to add"
grep -q "source: https://github.com/workos/authkit-nextjs/issues/28" "$work/buggy.txt" && ok ||
  bad "the parallel-refresh finding names its source"
grep -q "already_exchanged" "$work/buggy.txt" && ok || bad "the evidence shows the IdP's journal"
grep -q "<testcase" "$work/buggy.xml" && ok || bad "--junit writes testcases"
[ "$(jq '.results | length' "$work/buggy.json")" -ge 25 ] && ok || bad "--json carries the run's results"

# The written files lint clean and reproduce: the vulnerable variant fails
# (exit 1), a not-vulnerable one passes.
"$fakeidp" lint "$work/buggy" >/dev/null && ok || bad "the written scenarios do not lint"
"$fakeidp" run -j 1 --filter doctor-parallel-refresh/strict "$work/buggy/doctor-parallel-refresh.json" \
  >"$work/repro.txt" 2>&1
[ $? -eq 1 ] && ok || bad "doctor-parallel-refresh/strict does not reproduce the finding"
"$fakeidp" run -j 1 --filter doctor-parallel-refresh/grace "$work/buggy/doctor-parallel-refresh.json" \
  >/dev/null 2>&1 && ok || bad "doctor-parallel-refresh/grace fails on its own"

# 2. Every fix applied: nothing vulnerable; the same files pass.
"$fakeidp" doctor --reference --out "$work/fixed" --json "$work/fixed.json" --logout /logout \
  --knob dedupe=true --knob refresh_errors=keep_on_transient --knob chunk_cookie=true \
  --knob leeway=60s >"$work/fixed.txt" 2>&1
status=$?
[ $status -eq 0 ] && ok || { bad "fixed knobs: exit $status, expected 0"; cat "$work/fixed.txt"; }
[ "$(jq '[.doctor[] | select(.verdict != "not vulnerable")] | length' "$work/fixed.json")" = 0 ] && ok ||
  bad "fixed knobs: some verdict is not 'not vulnerable'"
"$fakeidp" run -j 2 "$work/fixed" >/dev/null 2>&1 && ok || bad "the fixed app's scenario files fail"

# 3. One knob broken at a time: the family that models it finds it.
one() { # KNOB FAMILY/PROBE
  "$fakeidp" doctor --reference --knob "$1" --only "${2%%/*}" --out "$work/one" \
    --json "$work/one.json" >"$work/one.txt" 2>&1
  s=$?
  [ $s -eq 1 ] && [ "$(verdict "$work/one.json" "$2")" = vulnerable ] && ok ||
    { bad "--knob $1: $2 is '$(verdict "$work/one.json" "$2")' (exit $s)"; cat "$work/one.txt"; }
}
one cookie_secure=always cookie-attributes/safari-over-http
one refresh_where=render rotation-persisted/strict-three-refreshes
one jwks_refetch_unknown_kid=false jwks-rotation/sign-with-new-key-at-once
one issuer=https://api.workos.com/user_management/client_01FAKE1DPC0000000000000000 issuer-audience/legacy-issuer
# 4. Could not tell / could not run.
"$fakeidp" doctor --reference --signed-in-text "no such text" --only baseline --out "$work/cnt" \
  >"$work/cnt.txt" 2>&1
[ $? -eq 3 ] && grep -q "could not tell" "$work/cnt.txt" && ok || bad "a baseline that cannot sign in exits 3"
"$fakeidp" doctor --url http://127.0.0.1:9 --idp-url http://127.0.0.1:9 --only baseline \
  --out "$work/down" >"$work/down.txt" 2>&1
[ $? -eq 3 ] && ok || bad "an unreachable fake exits 3"

# The restart_app step the cookie-password probe uses: lint checks it, and
# it refuses a target the harness did not start.
printf '{"name": "r", "steps": [{"sign_in": true}, {"restart_app": {"env": {"X": "1"}}}], "expect": {"session": "survives"}}' \
  >"$work/restart.json"
"$fakeidp" lint "$work/restart.json" >/dev/null && ok || bad "restart_app with env does not lint"
"$fakeidp" run "$work/restart.json" >"$work/restart.txt" 2>&1
[ $? -eq 1 ] && grep -q "restart_app: restart_app restarts an external app" "$work/restart.txt" && ok ||
  bad "restart_app on the reference app does not fail clearly"
printf '{"name": "r", "steps": [{"restart_app": {"env": 3}}], "expect": {"session": "survives"}}' \
  >"$work/restart-bad.json"
"$fakeidp" lint "$work/restart-bad.json" 2>"$work/restart-bad.txt"
[ $? -eq 2 ] && grep -q "restart-bad.json:1:.*restart_app env must be an object" "$work/restart-bad.txt" && ok ||
  bad "a bad restart_app env: $(cat "$work/restart-bad.txt")"
# A configuration file instead of flags.
printf '{"reference": true, "knobs": {"dedupe": true}}' >"$work/doctor.json"
"$fakeidp" doctor --config "$work/doctor.json" --only parallel-refresh --out "$work/cfg" \
  --json "$work/cfg.json" >/dev/null 2>&1
[ $? -eq 0 ] && [ "$(verdict "$work/cfg.json" parallel-refresh/strict)" = "not vulnerable" ] && ok ||
  bad "--config with knobs: $(verdict "$work/cfg.json" parallel-refresh/strict)"

# 5. Usage.
"$fakeidp" doctor --help | grep -q "usage: fakeidp doctor" && ok || bad "doctor --help"
"$fakeidp" doctor --list | grep -q "forged-tokens/alg-none" && ok || bad "doctor --list"
usage() { # WHAT ARGS...
  what=$1
  shift
  "$fakeidp" doctor "$@" >/dev/null 2>"$work/usage.err"
  s=$?
  [ $s -eq 2 ] && [ -s "$work/usage.err" ] && ok || bad "$what: exit $s, expected 2 with a message"
}
usage "no app" --out "$work/u"
usage "not an http URL" --url ftp://example.com --start true
usage "an own app without --start or --idp-url" --url http://localhost:3000
usage "--knob without --reference" --url http://localhost:3000 --start true --knob dedupe=true
usage "--only selecting nothing" --reference --only nosuch --out "$work/u"
usage "a bad --env" --url http://localhost:3000 --start true --env NOEQUALS
usage "a bad start clock" --url http://localhost:3000 --start true --config /dev/null
printf '{"url": "http://localhost:3000", "colour": "blue"}' >"$work/bad.json"
usage "an unknown config key" --config "$work/bad.json"
printf '{"url": "http://localhost:3000", "start": {"command": "x", "clock": "sundial"}}' >"$work/bad2.json"
usage "a bad start block" --config "$work/bad2.json"
usage "a bad knob" --reference --knob dedupe=maybe --out "$work/u"

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
