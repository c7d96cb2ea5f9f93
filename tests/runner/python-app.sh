#!/bin/sh
# External apps the runner starts through the shell: a python3 app
# (tests/runner/python-app) against a `fakeidp serve` on a free port.
#
#   tests/runner/python-app.sh /path/to/fakeidp tests/runner/python-app interrupt|sleep|hosts
#
# hosts (docs/external-apps.md, "localhost or 127.0.0.1"): the app, addressed
#   as 127.0.0.1, redirects after the callback to localhost, where its cookie
#   is not sent: the sign_in step fails and names the cause; the control,
#   which stays on 127.0.0.1, signs in.
#
# sleep (docs/external-apps.md, "Sleeping"): under the default frozen clock
#   and the ticking one, time.sleep(0.2) and Event().wait(0.2) take 0.2 s and
#   raise nothing; the control, without libfakeidp-timefix.so
#   (FAKEIDP_TIMEFIX= empty), shows the failures it repairs: time.sleep raises
#   OSError [Errno 22] (frozen), Event.wait does not return (ticking).
#
# interrupt (docs/external-apps.md, "Interrupted runs"): an interrupted
#   `fakeidp run` leaves nothing behind. The app holds a request while the
#   runner is
#   INT, TERM  signalled: it stops the app's process group and removes its
#              files, then ends with 128+N;
#   INT-GROUP  SIGINT to the runner's process group, as a terminal's ^C: the
#              same (its guard process ignores it);
#   KILL       killed: its guard process (the socket it watches closes)
#              stops the app and removes the files;
#   KILL-ALL   killed with its guard (the whole session): the app survives
#              (the control), and the next run kills it and removes the files
#              before it starts its own app on the same port.
#   After each: nothing listens on the app's port, the app and its shell are
#   gone, no $TMPDIR/fakeidp-app-* and no /dev/shm/*faketime*_SHELLPID is
#   left, and the next run on the same port passes.
#
# Exit 77 (skipped) without python3, setsid, env --default-signal or libfaketime.
set -u
case $1 in /*) fakeidp=$1 ;; *) fakeidp=$(pwd)/$1 ;; esac
app_dir=$(cd "$2" && pwd)
part=${3:-interrupt}
command -v python3 >/dev/null 2>&1 || { echo "skipped: no python3"; exit 77; }
command -v setsid >/dev/null 2>&1 || { echo "skipped: no setsid"; exit 77; }
env --default-signal=INT true 2>/dev/null || { echo "skipped: env has no --default-signal"; exit 77; }
lib_ok=0
for l in ${FAKEIDP_LIBFAKETIME:-} /usr/lib/*/faketime/libfaketime.so.1 /usr/lib*/faketime/libfaketime.so.1; do
    [ -r "$l" ] && lib_ok=1
done
[ $lib_ok -eq 1 ] || { echo "skipped: no libfaketime"; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/fakeidp-python-app-test-XXXXXX")
passed=0
failed=0
serve_pid=
runner=
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
cleanup() {
    [ -n "$runner" ] && kill -9 "-$runner" 2>/dev/null
    for f in "$work"/*/app.pid; do
        [ -r "$f" ] && kill -KILL $(cat "$f") 2>/dev/null
    done
    [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir "$work/tmp"
export TMPDIR="$work/tmp" # the runner's fakeidp-app-* folders go here

"$fakeidp" serve --port 0 --key-cache "$work/key.pem" >"$work/serve.out" 2>&1 &
serve_pid=$!
url=""
i=0
while [ $i -lt 200 ] && [ -z "$url" ]; do
    url=$(sed -n 's/^listening on //p' "$work/serve.out" 2>/dev/null)
    [ -z "$url" ] && sleep 0.05
    i=$((i + 1))
done
[ -n "$url" ] || { echo "fakeidp serve did not start"; cat "$work/serve.out"; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export FAKEIDP_URL="$url" APP_URL="http://127.0.0.1:$port"

listening() { python3 -c 'import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(0 if s.connect_ex(("127.0.0.1",int(sys.argv[1])))==0 else 1)' "$port"; }
alive() { [ -r "/proc/$1/stat" ] && ! grep -q ') Z' "/proc/$1/stat"; }
until_true() { # tenths of a second, command...: until the command succeeds
    n=$1; shift
    while [ "$n" -gt 0 ]; do "$@" && return 0; sleep 0.1; n=$((n - 1)); done
    "$@"
}
gone() { ! alive "$app" && ! alive "$shell" && ! listening; }
no_files() {
    [ -z "$(ls "$TMPDIR" | grep '^fakeidp-app-')" ] &&
        [ -z "$(ls /dev/shm 2>/dev/null | grep "faketime_[a-z]*_$shell\$")" ]
}

quick_run() { # the run after: starts its own app on the same port and passes
    APP_WORK="$work/$1" "$fakeidp" run -j 1 "$app_dir/quick.json" >"$work/$1.next" 2>&1; rc=$?
    [ $rc -eq 0 ] && ok || { bad "$1: the next run exited $rc"; tail -15 "$work/$1.next"; }
}

if [ "$part" = hosts ]; then
    mkdir "$work/hosts"
    export APP_WORK="$work/hosts"
    "$fakeidp" run -j 1 --filter same-host "$app_dir/hosts.json" >"$work/same.out" 2>&1; rc=$?
    [ $rc -eq 0 ] && ok || { bad "same host: exit $rc"; tail -30 "$work/same.out"; }
    "$fakeidp" run -j 1 --filter redirected-to-localhost "$app_dir/hosts.json" >"$work/other.out" 2>&1; rc=$?
    [ $rc -eq 1 ] && ok || bad "redirected to localhost: exit $rc (want 1)"
    grep -q "sign_in: the flow did not end signed in (200 at http://localhost:$port/): the app redirected to another host than the one its cookie was set for" "$work/other.out" && ok ||
        { bad "redirected to localhost: the cause is not named"; grep -i "sign" "$work/other.out" | head; }
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
fi
if [ "$part" = sleep ]; then
    mkdir "$work/sleep"
    export APP_WORK="$work/sleep"
    "$fakeidp" run -j 1 "$app_dir/sleep.json" >"$work/sleep.out" 2>&1; rc=$?
    [ $rc -eq 0 ] && ok || { bad "sleep: exit $rc"; tail -30 "$work/sleep.out"; }
    FAKEIDP_TIMEFIX= "$fakeidp" run -j 1 -v "$app_dir/sleep.json" >"$work/control.out" 2>&1; rc=$?
    [ $rc -eq 1 ] && ok || bad "control: exit $rc (want 1)"
    grep -q "slept failed: OSError: \[Errno 22\] Invalid argument, waited 0.2 s" "$work/control.out" && ok ||
        bad "control: frozen clock without the fix: no EINVAL from time.sleep"
    grep -q "slept 0.2 s, waited stuck" "$work/control.out" && ok ||
        bad "control: ticking clock without the fix: Event.wait returned"
    grep -q "without libfakeidp-timefix.so" "$work/control.out" && ok ||
        bad "control: the timeline does not say that the fix is missing"
    [ "$failed" -eq 0 ] || { grep -E "slept|timefix" "$work/control.out" | head; }
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
fi

for how in INT INT-GROUP TERM KILL KILL-ALL; do
    mkdir "$work/$how"
    # setsid: a session of its own, so that KILL-ALL reaches the runner and
    # its guard; env: a shell's background job ignores SIGINT otherwise.
    APP_WORK="$work/$how" setsid env --default-signal=INT "$fakeidp" run -j 1 "$app_dir/slow.json" \
        >"$work/$how.out" 2>&1 &
    runner=$!
    if ! until_true 200 test -e "$work/$how/slow"; then
        bad "$how: the app did not get the slow request"; tail -15 "$work/$how.out"; break
    fi
    read app shell <"$work/$how/app.pid"
    started=$(date +%s%N)
    case $how in
        KILL-ALL) kill -9 "-$runner" ;;
        INT-GROUP) kill -INT "-$runner" ;;
        *) kill "-$how" "$runner" ;;
    esac
    wait "$runner"; rc=$?
    [ "$how" = KILL-ALL ] || echo "$how: runner ended $(( ($(date +%s%N) - started) / 1000000 )) ms after the signal"
    runner=
    case $how in
        INT | INT-GROUP) [ $rc -eq 130 ] && ok || bad "$how: runner exit status $rc (want 130)" ;;
        TERM) [ $rc -eq 143 ] && ok || bad "$how: runner exit status $rc (want 143)" ;;
    esac
    if [ "$how" = KILL-ALL ]; then
        # Nobody was left to clean up: the app still answers (the control).
        sleep 0.5
        listening && ok || bad "$how: the app died with the runner's session (the control)"
        quick_run "$how"
        grep -q "cleaned up after an earlier run" "$work/$how.next" && ok ||
            bad "$how: the next run did not say that it cleaned up"
        gone && ok || bad "$how: the next run left the previous app (pid $app, sh $shell) running"
        no_files && ok || bad "$how: the next run left the previous run's files: $(ls "$TMPDIR") $(ls /dev/shm | grep "_$shell\$")"
        continue
    fi
    if until_true 60 gone; then
        ok
        echo "$how: app gone after $(( ($(date +%s%N) - started) / 1000000 )) ms"
    else
        bad "$how: app (pid $app, sh $shell) still running or port $port still listening"
        ps -o pid,ppid,pgid,stat,args -p "$app" -p "$shell" 2>/dev/null
    fi
    until_true 30 no_files && ok || bad "$how: left behind: $(ls "$TMPDIR") $(ls /dev/shm | grep "_$shell\$")"
    kill -KILL "$app" "$shell" 2>/dev/null # so that the next case starts clean either way
    until_true 30 sh -c '! python3 -c "import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex((\"127.0.0.1\",$1))==0 else 1)"' sh "$port"
    quick_run "$how"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
