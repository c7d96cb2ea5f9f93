#!/bin/sh
# fakeidp exec: apps started by hand follow the fake's clock.
#
#   tests/external/exec.sh /path/to/fakeidp /path/to/examples
#
# 1. the command line: usage (2), unreachable fake (3), the command's exit
#    status, 127 for a missing command, signals forwarded, a terminal's ^C
#    not sent twice;
# 2. a tiny app that answers its Date.now() (examples/lifecycle/app.mjs):
#    under exec its clock moves by exactly the advance (frozen fake) or by
#    the advance plus the real time (running fake); started without exec
#    (the control) it does not move;
# 3. a real example app (examples/node-sealed-session, npm ci on first use):
#    signed in with curl, `advance 6m` makes it refresh under exec; without
#    exec (the control: what the README's curl used to do) it does not; a
#    revoked session is lost at the next refresh (negative control).
set -u
case $1 in /*) fakeidp=$1 ;; *) fakeidp=$(pwd)/$1 ;; esac
examples=$(cd "$2" && pwd)
lockdir=${TMPDIR:-/tmp} # the npm ci lock, shared with examples/run-example.sh
work=$(mktemp -d "$lockdir/fakeidp-exec-test-XXXXXX")
pids=""
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    [ -n "${KEEP:-}" ] && cp -r "$work" /tmp/exec-test-kept; rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# exec's faketime folders go here, so that leftovers can be counted.
mkdir "$work/tmp"
export TMPDIR="$work/tmp"

"$fakeidp" serve --port 0 --key-cache "$work/key.pem" >"$work/serve.out" 2>&1 &
pids="$pids $!"
url=""
i=0
while [ $i -lt 200 ] && [ -z "$url" ]; do
    url=$(sed -n 's/^listening on //p' "$work/serve.out" 2>/dev/null)
    [ -z "$url" ] && sleep 0.05
    i=$((i + 1))
done
[ -n "$url" ] || { echo "fakeidp serve did not start"; cat "$work/serve.out"; exit 1; }

free_port() {
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# POST /_fakeidp/clock with $2 as the body and wait until every exec pid
# given after it acknowledged the change in the journal (cli/exec.c): the
# request id fakeidp-exec-PID-SEQ with SEQ past our POST's seq.
clock() {
    node --input-type=module -e '
const [url, body, ...pids] = process.argv.slice(1);
const get = async (p, init) => (await fetch(url + p, init)).json();
const since = (await get("/_fakeidp/journal?since=9007199254740991")).next;
const id = `exec-test-${process.pid}-${Date.now()}`;
await get("/_fakeidp/clock", { method: "POST", headers: { "X-Request-ID": id }, body });
const deadline = Date.now() + 5000;
for (;;) {
  const { entries } = await get(`/_fakeidp/journal?since=${since}`);
  const mine = entries.find((e) => e.request_id === id)?.seq ?? Infinity;
  const acked = new Set(entries.map((e) => /^fakeidp-exec-(\d+)-(\d+)$/.exec(e.request_id))
    .filter((m) => m && Number(m[2]) > mine).map((m) => m[1]));
  if (pids.every((p) => acked.has(p))) break;
  if (Date.now() > deadline) { console.error(`no acknowledgement from exec ${pids}`); process.exit(1); }
  await new Promise((r) => setTimeout(r, 10));
}' "$url" "$@"
}

wait_url() { # URL: until it answers (30 s)
    n=0
    until curl -s -o /dev/null "$1"; do
        n=$((n + 1))
        [ $n -gt 600 ] && return 1
        sleep 0.05
    done
}

app_clock() { curl -s "$1/clock" | sed -n 's/.*"now":\([0-9]*\).*/\1/p'; }
fake_clock() { curl -s "$url/_fakeidp/clock" | sed -n 's/.*"now_ms":\([0-9]*\).*/\1/p'; }

# ---- 1. the command line -------------------------------------------------

"$fakeidp" exec --help | grep -q "usage: fakeidp exec" && ok || bad "exec --help"
"$fakeidp" exec --url "$url" >/dev/null 2>"$work/err"; rc=$?
[ $rc -eq 2 ] && grep -q "no command given" "$work/err" && ok || bad "no command: $rc"
"$fakeidp" exec --url "$url" --clock sometimes -- true 2>"$work/err"; rc=$?
[ $rc -eq 2 ] && grep -q "frozen, ticking or off" "$work/err" && ok || bad "bad --clock: $rc"
"$fakeidp" exec --url ftp://x -- true 2>"$work/err"; rc=$?
[ $rc -eq 2 ] && ok || bad "bad --url: $rc"
dead=$(free_port)
"$fakeidp" exec --url "http://127.0.0.1:$dead" -- sh -c 'echo ran >"$1"' sh "$work/ran" 2>"$work/err"; rc=$?
[ $rc -eq 3 ] && grep -q "cannot reach the fake at http://127.0.0.1:$dead" "$work/err" && [ ! -e "$work/ran" ] &&
    ok || bad "unreachable fake: $rc $(cat "$work/err")"
"$fakeidp" exec --url "$url" -- sh -c 'exit 7'; rc=$?
[ $rc -eq 7 ] && ok || bad "exit status: $rc"
"$fakeidp" exec --url "$url" -- /nonexistent/command 2>"$work/err"; rc=$?
[ $rc -eq 127 ] && grep -q "cannot run '/nonexistent/command'" "$work/err" && ok || bad "missing command: $rc"
"$fakeidp" exec --url "$url" -- sh -c 'kill -KILL $$'; rc=$?
[ $rc -eq 137 ] && ok || bad "killed command: $rc (want 128+9)"
out=$("$fakeidp" exec --url "$url" -- sh -c 'echo "$WORKOS_API_HOSTNAME $WORKOS_API_PORT $WORKOS_API_HTTPS $WORKOS_CLIENT_ID $FAKEIDP_URL"')
[ "$out" = "127.0.0.1 ${url##*:} false client_01FAKE1DPC0000000000000000 $url" ] && ok || bad "variables: $out"
out=$(WORKOS_COOKIE_PASSWORD=mine-mine-mine-mine-mine-mine-mine-mine FAKETIME=@2000-01-01 \
      "$fakeidp" exec --url "$url" -- sh -c 'echo "$WORKOS_COOKIE_PASSWORD ${FAKETIME:-none}"')
[ "$out" = "mine-mine-mine-mine-mine-mine-mine-mine none" ] && ok || bad "inherited password / FAKETIME: $out"
# The command can sleep in both clock modes (libfakeidp-timefix.so); the
# control without it: time.sleep raises EINVAL under the frozen clock.
if command -v python3 >/dev/null 2>&1; then
    # "ok" when it took 0.2 s (up to 5 s on a loaded machine)
    sleeper='import time; t = time.monotonic(); time.sleep(0.2); d = time.monotonic() - t
print("ok" if 0.19 <= d < 5 else "took %.3f s" % d)'
    for c in frozen ticking; do
        out=$("$fakeidp" exec --url "$url" --clock $c -- python3 -c "$sleeper" 2>&1)
        [ "$out" = "ok" ] && ok || bad "time.sleep under --clock $c: $out"
    done
    out=$(FAKEIDP_TIMEFIX= "$fakeidp" exec --url "$url" --clock frozen -- python3 -c "$sleeper" 2>&1)
    case $out in *"[Errno 22] Invalid argument"*) ok ;; *) bad "control: time.sleep without the fix: $out" ;; esac
fi
# Signals sent to exec reach the command; its status is exec's.
"$fakeidp" exec --url "$url" -- sh -c 'trap "exit 5" TERM; while :; do sleep 0.05; done' &
epid=$!
sleep 0.5
kill -TERM $epid
wait $epid; rc=$?
[ $rc -eq 5 ] && ok || bad "SIGTERM forwarded: $rc"
"$fakeidp" exec --url "$url" -- sh -c 'trap "exit 6" INT; while :; do sleep 0.05; done' &
epid=$!
sleep 0.5
kill -INT $epid
wait $epid; rc=$?
[ $rc -eq 6 ] && ok || bad "SIGINT forwarded: $rc"
# A terminal's ^C reaches the command once (it shares exec's process group;
# exec does not forward what the terminal sent to the whole group).
if command -v python3 >/dev/null 2>&1; then
    out=$(python3 - "$fakeidp" "$url" <<'PY'
import os, pty, sys, time
fakeidp, url = sys.argv[1], sys.argv[2]
script = ("n=0; trap 'n=$((n+1))' INT; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.1; done; "
          "echo total $n; exit $n")
pid, fd = pty.fork()
if pid == 0:
    os.execv(fakeidp, [fakeidp, "exec", "--url", url, "--", "sh", "-c", script])
time.sleep(0.5)
os.write(fd, b"\x03")
out = b""
while True:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
print(out.decode(errors="replace").split("total")[-1].strip(), os.waitstatus_to_exitcode(status))
PY
)
    [ "$out" = "1 1" ] && ok || bad "terminal ^C: '$out' (want the command to count one SIGINT and exit 1)"
fi

# ---- 2. a tiny app that answers its clock ---------------------------------

lifecycle=$examples/lifecycle/app.mjs
start_tiny() { # NAME EXEC(yes|no) [exec options]: sets $app, $app_pid
    name=$1 under=$2
    shift 2
    port=$(free_port)
    app="http://127.0.0.1:$port"
    if [ "$under" = yes ]; then
        PORT=$port "$fakeidp" exec --url "$url" "$@" -- node "$lifecycle" >"$work/$name.log" 2>&1 &
    else
        PORT=$port node "$lifecycle" >"$work/$name.log" 2>&1 &
    fi
    app_pid=$!
    pids="$pids $app_pid"
    wait_url "$app/" || bad "$name did not start: $(cat "$work/$name.log")"
}

# A frozen fake: the app's clock is the fake's, to the millisecond.
curl -s -X POST "$url/_fakeidp/clock" -d '{"freeze": true, "set": 1768478400000}' >/dev/null
start_tiny frozen yes
t0=$(app_clock "$app")
[ "$t0" = 1768478400000 ] && ok || bad "frozen: app clock $t0 at start"
clock '{"advance": "6m"}' $app_pid || bad "frozen: no acknowledgement"
t1=$(app_clock "$app")
[ "$t1" = 1768478760000 ] && ok || bad "frozen: app clock $t1 after advance 6m"
clock '{"advance": -60}' $app_pid
t2=$(app_clock "$app")
[ "$t2" = 1768478700000 ] && ok || bad "frozen: app clock $t2 after advance -60 s"
kill -TERM $app_pid; wait $app_pid 2>/dev/null

# A running fake (the default of fakeidp serve): a ticking clock, ahead by the advance.
curl -s -X POST "$url/_fakeidp/clock" -d '{"freeze": false}' >/dev/null
start_tiny ticking yes
running_pid=$app_pid
running_app=$app
start_tiny control no
control_app=$app
a0=$(app_clock "$running_app")
c0=$(app_clock "$control_app")
f0=$(fake_clock)
d=$((a0 - f0))
[ $d -gt -2000 ] && [ $d -lt 2000 ] && ok || bad "ticking: app clock $a0 vs fake $f0 at start"
clock '{"advance": "6m"}' $running_pid || bad "ticking: no acknowledgement"
a1=$(app_clock "$running_app")
c1=$(app_clock "$control_app")
moved=$((a1 - a0))
[ $moved -ge 360000 ] && [ $moved -lt 365000 ] && ok || bad "ticking: app clock moved $moved ms for advance 6m"
control=$((c1 - c0))
[ $control -ge 0 ] && [ $control -lt 5000 ] && ok || bad "control: an app started by hand moved $control ms"
kill -TERM $running_pid; wait $running_pid 2>/dev/null

# ---- 3. a real example app: node-sealed-session ---------------------------

sealed=$examples/node-sealed-session
lock="$lockdir/fakeidp-example-node-sealed-session.lock"
prepare() {
    cd "$sealed" || return 1
    if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
        npm ci --no-audit --no-fund --loglevel=error || return 1
    fi
}
if command -v flock >/dev/null 2>&1; then
    ( flock 9 && prepare ) 9>"$lock"
else
    ( prepare )
fi || { echo "npm ci in $sealed failed"; exit 1; }

start_sealed() { # NAME EXEC(yes|no): sets $app, $app_pid, $jar
    name=$1 under=$2
    port=$(free_port)
    app="http://localhost:$port"
    jar="$work/$name.jar"
    if [ "$under" = yes ]; then
        (cd "$sealed" && PORT=$port WORKOS_REDIRECT_URI="$app/callback" \
            exec "$fakeidp" exec --url "$url" -- node server.mjs) >"$work/$name.log" 2>&1 &
    else
        # By hand, as the README used to say: eval "$(fakeidp env)", then start.
        (cd "$sealed" && eval "$("$fakeidp" env --url "$url" --redirect-uri "$app/callback")" &&
            PORT=$port exec node server.mjs) >"$work/$name.log" 2>&1 &
    fi
    app_pid=$!
    pids="$pids $app_pid"
    wait_url "$app/healthz" || bad "$name did not start: $(cat "$work/$name.log")"
}
sign_in() { curl -s -L -c "$jar" -b "$jar" "$app/login"; }
api_me() { curl -s -o "$work/me.json" -w '%{http_code}' -c "$jar" -b "$jar" "$app/api/me"; }
refreshes_since() { # SEQ: refresh_token grants answered 200 since SEQ
    curl -s "$url/_fakeidp/journal?since=$1" |
        node -e 'let t="";process.stdin.on("data",d=>t+=d).on("end",()=>console.log(JSON.parse(t).entries.filter(e=>e.grant_type==="refresh_token"&&e.status===200).length))'
}
journal_next() { curl -s "$url/_fakeidp/journal?since=9007199254740991" | sed -n 's/.*"next":\([0-9]*\).*/\1/p'; }

curl -s -X POST "$url/_fakeidp/reset" >/dev/null
start_sealed sealed yes
sign_in | grep -q '"signed_in":true' && ok || bad "sealed: sign-in: $(tail -3 "$work/sealed.log")"
seq=$(journal_next)
clock '{"advance": "6m"}' $app_pid || bad "sealed: no acknowledgement"
code=$(api_me)
[ "$code" = 200 ] && grep -q '"signed_in":true' "$work/me.json" && ok || bad "sealed: after 6m: $code $(cat "$work/me.json")"
n=$(refreshes_since "$seq")
[ "$n" = 1 ] && ok || bad "sealed: $n refreshes after advance 6m under exec (want 1)"
grep -q "GET /api/me: refreshed: new session cookie" "$work/sealed.log" && ok || bad "sealed: the app did not say it refreshed"
for round in 2 3; do
    clock '{"advance": "6m"}' $app_pid
    code=$(api_me)
    [ "$code" = 200 ] && ok || bad "sealed: round $round: $code"
done
n=$(refreshes_since "$seq")
[ "$n" = 3 ] && ok || bad "sealed: $n refreshes after three advances (want 3)"
# Negative control: revoked at the IdP, the session is lost at the next refresh.
sid=$(curl -s "$url/_fakeidp/sessions" | sed -n 's/.*"id":"\(session_[0-9A-Z]*\)".*/\1/p' | head -1)
curl -s -X POST "$url/_fakeidp/sessions/$sid/revoke" >/dev/null
clock '{"advance": "6m"}' $app_pid
code=$(api_me)
[ "$code" = 401 ] && grep -q '"signed_in":false' "$work/me.json" && ok || bad "sealed: revoked session survived: $code"
kill -TERM $app_pid; wait $app_pid 2>/dev/null

# Control: started by hand without exec, the app never sees the advance.
# The fake's clock back on the wall clock first: the earlier advances and the
# frozen 2026-01-15 would make every token look expired to a real clock.
curl -s -X POST "$url/_fakeidp/reset" >/dev/null
curl -s -X POST "$url/_fakeidp/clock" -d "{\"set\": $(date +%s%3N)}" >/dev/null
start_sealed byhand no
sign_in | grep -q '"signed_in":true' && ok || bad "by hand: sign-in"
seq=$(journal_next)
curl -s -X POST "$url/_fakeidp/clock" -d '{"advance": "6m"}' >/dev/null
sleep 0.3
code=$(api_me)
n=$(refreshes_since "$seq")
[ "$code" = 200 ] && [ "$n" = 0 ] && ok || bad "by hand: $n refreshes, status $code (want none: its clock is real)"
kill -TERM $app_pid; wait $app_pid 2>/dev/null

# exec removed its faketime folder.
leftover=$(find "$work/tmp" -maxdepth 1 -name 'fakeidp-app-*' | head -1)
[ -z "$leftover" ] && ok || bad "faketime folder left behind: $leftover"

echo "exec: $passed passed, $failed failed"
[ $failed -eq 0 ]
