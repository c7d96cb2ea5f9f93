#!/bin/sh
# The runner's exit statuses and limits: 0 all held, 1 an expectation failed,
# 2 a scenario error, 3 the run could not be carried out; an empty shard is
# not an error; a scenario timeout holds inside repeat.
fakeidp=$1
dir=$2
scenarios=$3
passed=0
failed=0
check() { # name, expected status, actual status, [text that must be in the output]
  if [ "$3" -eq "$2" ] && { [ -z "$4" ] || printf '%s\n' "$out" | grep -qF -- "$4"; }; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $1: status $3 (want $2)${4:+, output must contain: $4}"
    printf '%s\n' "$out" | head -20
  fi
}
out=$("$fakeidp" run --seed 1 "$scenarios/healthy-baseline.json" 2>&1); check pass 0 $?
out=$("$fakeidp" run --seed 1 "$dir/../selftest/must-fail.json" --filter status 2>&1); check expectation-fails 1 $?
out=$("$fakeidp" run --seed 1 "$dir/../lint/unknown-step.json" 2>&1); check scenario-error 2 $? "unknown step"
out=$("$fakeidp" run --seed 1 "$dir/unreachable-fake.json" 2>&1)
check unreachable-fake 3 $? "cannot reach fakeidp at http://127.0.0.1:9: "
out=$("$fakeidp" run --seed 1 --shard 7/7 "$dir/unreachable-fake.json" 2>&1)
check empty-shard 0 $? "selects no variant"
out=$("$fakeidp" run --seed 1 --filter nothing-matches "$scenarios/healthy-baseline.json" 2>&1)
check empty-filter 2 $? "no variant matched"
start=$(date +%s)
out=$("$fakeidp" run --seed 1 "$dir/timeout-in-repeat.json" 2>&1); status=$?
took=$(( $(date +%s) - start ))
check timeout-in-repeat 1 $status "timed out after 1000 ms"
if [ "$took" -le 4 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL timeout-in-repeat: ran ${took}s"; fi
# sign_in through the app's custom sign-in pages: when it cannot go on, the
# runner says why.
for v in "no-organization-named:the IdP asks to choose an organization; the app offers" \
         "organization-not-offered:the organization to choose is not among those offered" \
         "totp-never-enrolled:the app cannot go on from mfa_challenge"; do
  out=$("$fakeidp" run -v --seed 1 --filter "/${v%%:*}" "$dir/sign-in-steps-fail.json" 2>&1)
  check "${v%%:*}" 1 $? "${v#*:}"
done
out=$("$fakeidp" run -v --seed 1 "$dir/restart-app-reference.json" 2>&1)
check restart-app-reference 1 $? "restart_app: restart_app restarts an external app that the harness started"
# A reused worker stops the apps of every variant with "apps" (one app
# server left running per variant would pile up its threads): the process's
# thread count stays bounded.
"$fakeidp" run --seed 1 -j 1 --repeat 30 "$scenarios/f25-tls-proxy.json" >/dev/null 2>&1 &
pid=$!
most=0
while kill -0 "$pid" 2>/dev/null; do
  n=$(ls "/proc/$pid/task" 2>/dev/null | wc -l)
  [ "$n" -gt "$most" ] && most=$n
  sleep 0.1
done
wait "$pid"; status=$?
if [ "$status" -eq 0 ] && [ "$most" -lt 400 ]; then passed=$((passed + 1)); else
  failed=$((failed + 1)); echo "FAIL world-apps-stopped: status $status, up to $most threads"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
