#!/bin/bash
# `fakeidp serve` as a process under hostile conditions, each bounded in time:
# - SIGTERM ends it within a second with a latency fault, a dribble and an
#   idle keep-alive client in flight;
# - with `ulimit -n 64`, 100 connections do not make it spin (CPU time over
#   2 s stays low) and it answers again once they are gone;
# - with --tls, 300 idle TCP connections do not lock TLS clients out.
# Prints what it measured. Needs bash (/dev/tcp), curl and openssl.
fakeidp=$1
work=$(mktemp -d)
pids=""
cleanup() {
  for p in $pids; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# serve in the background; waits for "listening on URL"; sets $url, $port, $pid.
serve() {
  out="$work/out.$RANDOM"
  "$fakeidp" serve --port 0 --no-key-cache "$@" >"$out" 2>"$work/err" &
  pid=$!
  pids="$pids $pid"
  url=""
  for _ in $(seq 100); do
    url=$(sed -n 's/^listening on //p' "$out" 2>/dev/null)
    [ -n "$url" ] && break
    sleep 0.05
  done
  port=${url##*:}
}

# CPU time (user + system) of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# --- SIGTERM with faults in flight ---------------------------------------------------
serve --fault 'route=jwks,action=latency,delay=30s' \
      --fault 'route=discovery,action=dribble,chunk=1,interval=1h'
curl -s -m 60 "$url/sso/jwks/client_01FAKE1DPC0000000000000000" >/dev/null 2>&1 &
curl -s -m 60 "$url/.well-known/openid-configuration" >/dev/null 2>&1 &
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /_fakeidp/health HTTP/1.1\r\nHost: x\r\n\r\n' >&3
sleep 0.5
start=$(now_ms)
kill -TERM "$pid"
for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.01; done
took=$(($(now_ms) - start))
exec 3>&-
echo "SIGTERM with a latency fault, a dribble and an idle client in flight: exit after $took ms"
if kill -0 "$pid" 2>/dev/null; then bad "serve still running 3 s after SIGTERM"; else
  [ "$took" -lt 1000 ] && ok || bad "SIGTERM took $took ms"
fi

# --- out of file descriptors ------------------------------------------------------------
(ulimit -n 64 && exec "$fakeidp" serve --port 0 --no-key-cache) >"$work/fd.out" 2>"$work/fd.err" &
pid=$!
pids="$pids $pid"
url=""
for _ in $(seq 100); do
  url=$(sed -n 's/^listening on //p' "$work/fd.out" 2>/dev/null)
  [ -n "$url" ] && break
  sleep 0.05
done
port=${url##*:}
if [ -z "$url" ]; then
  bad "serve under ulimit -n 64 did not start: $(cat "$work/fd.err")"
else
  fds=""
  for _ in $(seq 100); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$port" && fds="$fds $fd"
  done
  sleep 0.3
  before=$(cpu_ticks "$pid")
  sleep 2
  after=$(cpu_ticks "$pid")
  ticks=$((after - before))
  echo "100 connections under ulimit -n 64: $ticks CPU ticks in 2 s ($(getconf CLK_TCK)/s)"
  # A spinning accept loop burns ~200 ticks in 2 s; idle is ~0.
  [ "$ticks" -lt 20 ] && ok || bad "serve spins with no descriptors left: $ticks ticks in 2 s"
  for fd in $fds; do exec {fd}>&-; done
  start=$(now_ms)
  code=$(curl -s -m 15 -o /dev/null -w '%{http_code}' "$url/_fakeidp/health")
  echo "health after the connections closed: $code in $(($(now_ms) - start)) ms"
  [ "$code" = 200 ] && ok || bad "no recovery after running out of descriptors: $code"
fi
kill -TERM "$pid" 2>/dev/null

# --- idle TCP connections against the TLS front -----------------------------------------
if openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/tls.key" -out "$work/tls.crt" \
     -subj /CN=localhost -days 1 >/dev/null 2>&1; then
  cat "$work/tls.crt" "$work/tls.key" >"$work/tls.pem"
  serve --tls "$work/tls.pem"
  fds=""
  for _ in $(seq 300); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$port" && fds="$fds $fd"
  done
  sleep 0.3
  start=$(now_ms)
  code=$(curl -sk -m 15 -o /dev/null -w '%{http_code}' "$url/_fakeidp/health")
  took=$(($(now_ms) - start))
  echo "TLS health with 300 idle TCP connections open: $code in $took ms"
  [ "$code" = 200 ] && [ "$took" -lt 2000 ] && ok || bad "TLS locked out by idle connections: $code in $took ms"
  for fd in $fds; do exec {fd}>&-; done
  kill -TERM "$pid" 2>/dev/null
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
