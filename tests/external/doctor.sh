#!/bin/sh
# fakeidp doctor against an example app (examples/NAME), started by doctor
# itself (--start) with its own fake: the verdicts must match what the
# example's own scenarios say about its known-bad and fixed variants, the
# written scenario files must lint clean, and the vulnerable variant must
# reproduce the finding under `fakeidp run` (exit 1) while a not-vulnerable
# one passes (exit 0).
#
#   tests/external/doctor.sh /path/to/fakeidp EXAMPLES_DIR NAME
set -u
fakeidp=$1
examples=$(cd "$2" && pwd)
name=$3
dir=$examples/$name
FAKEIDP_EXAMPLE_PREPARE_ONLY=1 sh "$examples/run-example.sh" "$fakeidp" "$dir" || exit 4
COMPAT_ROOT=$(cd "$examples/../tests/compat" && pwd)
. "$COMPAT_ROOT/lib.sh"
compat_node22 || exit 4

work=$(mktemp -d "${TMPDIR:-/tmp}/fakeidp-doctor-XXXXXX")
fake_pid=
cleanup() {
  [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

free_port() {
  node -e '
const net = require("net");
function attempt(n) {
  if (n > 100) { console.log(0); return; }
  const port = 20000 + Math.floor(Math.random() * 12000);
  const s = net.createServer();
  s.once("error", () => attempt(n + 1));
  s.listen(port, "127.0.0.1", () => { console.log(port); s.close(); });
}
attempt(0);'
}
app_url=http://localhost:$(free_port)

# doctor LABEL EXIT [doctor options]: runs a checkup into $work/LABEL(.json).
doctor() {
  label=$1 want=$2
  shift 2
  t0=$(date +%s)
  (cd "$dir" && "$fakeidp" doctor --url "$app_url" --out "$work/$label" --json "$work/$label.json" \
     --timeout 180s "$@") >"$work/$label.txt" 2>&1
  s=$?
  echo "== doctor $name $label: exit $s in $(($(date +%s) - t0)) s"
  if [ $s -ne "$want" ]; then
    bad "$label: exit $s, expected $want"
    cat "$work/$label.txt"
  else
    ok
  fi
}
verdict() { # LABEL PROBE [field]
  jq -r --arg p "$2" --arg f "${3:-verdict}" \
    '.doctor[] | select(.family + "/" + .probe == $p) | .[$f]' "$work/$1.json"
}
expect() { # LABEL VERDICT PROBE...
  label=$1 want=$2
  shift 2
  for p in "$@"; do
    got=$(verdict "$label" "$p")
    [ "$got" = "$want" ] && ok || bad "$name $label: $p is '$got', expected '$want' ($(verdict "$label" "$p" why))"
  done
}
why_starts() { # LABEL PROBE PREFIX
  case $(verdict "$1" "$2" why) in
    "$3"*) ok ;;
    *) bad "$name $1: $2 failed with '$(verdict "$1" "$2" why)', expected '$3…'" ;;
  esac
}
# A `fakeidp serve` on a free port, once; its URL in $FAKEIDP_URL.
serve() {
  [ -n "$fake_pid" ] && return
  "$fakeidp" serve --port 0 >"$work/serve.log" 2>&1 &
  fake_pid=$!
  i=0
  until grep -q "listening on" "$work/serve.log" 2>/dev/null || [ $i -gt 200 ]; do
    sleep 0.05
    i=$((i + 1))
  done
  FAKEIDP_URL=$(sed -n 's/^listening on //p' "$work/serve.log")
  export FAKEIDP_URL
}
# reproduce LABEL FAMILY/PROBE EXIT: the written file under `fakeidp run`
# against a `fakeidp serve` (the files read its URL from $FAKEIDP_URL).
reproduce() {
  serve
  "$fakeidp" run -j 1 --seed 1 --filter "doctor-$2" "$work/$1/doctor-${2%%/*}.json" >"$work/repro.txt" 2>&1
  s=$?
  [ $s -eq "$3" ] && ok || { bad "$name $1: fakeidp run doctor-$2 exits $s, expected $3"; cat "$work/repro.txt"; }
}
lints() {
  "$fakeidp" lint "$work/$1" >/dev/null && ok || bad "$name $1: the written files do not lint"
}

node_start="node server.mjs"
case $name in
node-sealed-session)
  # Its scenarios: parallel-refresh-race strict-no-dedupe (lost), grace-window-
  # hides-it (survives), strict-keep-cookie (survives, two calls 401),
  # revoked-negative-control (lost), healthy-long-session (survives).
  doctor all 1 --start "$node_start" --ready /healthz --api /api/me --logout /logout
  expect all vulnerable parallel-refresh/strict
  why_starts all parallel-refresh/strict "session:"
  expect all "not vulnerable" baseline/sign-in-and-refresh parallel-refresh/grace \
    revoked-session/admin-revoke session-limits/max-session-length session-limits/inactivity-timeout \
    rotation-persisted/strict-three-refreshes expiry-edges/around-exp cookie-attributes/sign-out \
    cookie-password/changed-across-restart forged-tokens/alg-none forged-tokens/hs256-key-confusion \
    forged-tokens/unpublished-key forged-tokens/right-kid-wrong-key forged-tokens/tampered-payload \
    forged-tokens/expired tampered-cookie/one-character-changed tampered-cookie/truncated \
    tampered-cookie/garbage refresh-errors/503
  # Beyond its scenarios: no cookie chunking (the seal outgrows 4096 bytes),
  # and jose without a clock tolerance refreshes on every request when the
  # IdP's nbf is ahead.
  expect all vulnerable cookie-size/many-permissions clock-skew/idp-ahead-30s-nbf
  lints all
  reproduce all parallel-refresh/strict 1
  reproduce all parallel-refresh/grace 0
  doctor keep-cookie 1 --start "$node_start" --ready /healthz --api /api/me \
    --env CLEAR_COOKIE_ON_REFRESH_FAILURE=0 --only parallel-refresh
  expect keep-cookie vulnerable parallel-refresh/strict
  why_starts keep-cookie parallel-refresh/strict "never_lost:"
  expect keep-cookie "not vulnerable" parallel-refresh/grace
  # An app started by hand under `fakeidp exec --clock frozen`, pointed at a
  # running fake: doctor only drives it (--idp-url, no --start).
  serve
  port=${app_url##*:}
  (cd "$dir" && PORT=$port exec "$fakeidp" exec --clock frozen --url "$FAKEIDP_URL" \
     --redirect-uri "$app_url/callback" -- node server.mjs) >"$work/by-hand-app.log" 2>&1 &
  app_pid=$!
  i=0
  until curl -s -o /dev/null "$app_url/healthz" || [ $i -gt 200 ]; do sleep 0.05; i=$((i + 1)); done
  doctor by-hand 1 --idp-url "$FAKEIDP_URL" --api /api/me --only baseline,parallel-refresh,revoked-session
  kill "$app_pid" 2>/dev/null
  wait "$app_pid" 2>/dev/null
  cat "$work/by-hand.txt" "$work/by-hand-app.log" | tail -40
  expect by-hand vulnerable parallel-refresh/strict
  expect by-hand "not vulnerable" baseline/sign-in-and-refresh parallel-refresh/grace revoked-session/admin-revoke
  ;;
authkit-session)
  # Its scenarios: one process de-duplicates (strict survives), two processes
  # do not (a call fails, the cookie is kept), the grace window hides it.
  doctor one-process 0 --start "$node_start" --ready /healthz --api /api/me --logout /logout \
    --only baseline,parallel-refresh,revoked-session,cookie-password,tampered-cookie/garbage
  expect one-process "not vulnerable" baseline/sign-in-and-refresh parallel-refresh/strict \
    parallel-refresh/grace revoked-session/admin-revoke cookie-password/changed-across-restart \
    tampered-cookie/garbage
  doctor two-processes 1 --start "$node_start" --ready /healthz --api /api/me --env WORKERS=2 \
    --only parallel-refresh
  expect two-processes vulnerable parallel-refresh/strict
  why_starts two-processes parallel-refresh/strict "never_lost:"
  expect two-processes "not vulnerable" parallel-refresh/grace
  lints two-processes
  reproduce two-processes parallel-refresh/strict 1
  ;;
nextjs)
  # Its scenarios: strict-no-dedupe (lost), grace-window-hides-it (survives),
  # revoked-negative-control (lost), healthy-long-session (survives).
  doctor some 1 --start "node node_modules/next/dist/bin/next start -H 127.0.0.1" --ready /healthz \
    --ready-timeout 60s --env NEXT_TELEMETRY_DISABLED=1 --api /api/me \
    --only baseline,parallel-refresh,revoked-session,forged-tokens/alg-none
  expect some vulnerable parallel-refresh/strict
  why_starts some parallel-refresh/strict "session:"
  expect some "not vulnerable" baseline/sign-in-and-refresh parallel-refresh/grace \
    revoked-session/admin-revoke forged-tokens/alg-none
  lints some
  reproduce some parallel-refresh/strict 1
  ;;
*)
  echo "no doctor expectations for $name" >&2
  exit 2
  ;;
esac
echo "$name: $passed passed, $failed failed"
[ $failed -eq 0 ]
