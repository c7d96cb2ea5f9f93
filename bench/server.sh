#!/usr/bin/env bash
# bench/server.sh: fakeidp server benchmarks, each against a reference measured
# in the same invocation (the machine is shared and noisy, so ratios matter
# more than absolute numbers, and every measurement runs ROUNDS times,
# interleaved with its reference).
#
#   bench/server.sh                 # everything, about 5 minutes on 2 cores
#   SECTIONS="2 3" bench/server.sh  # only some sections
#   ROUNDS=3 DUR=5s bench/server.sh # knobs: see the defaults below
#
# Sections (see bench/README.md for what each one means):
#   1. cold start   launch -> first JWKS 200, fakeidp --key vs nginx      (target <= 30 ms)
#   2. JWKS         wrk -t2 -c32 --latency, fakeidp vs nginx (1 worker)   (target >= 0.7x)
#   3. refresh      chained refresh-token grants vs openssl speed -multi 2 (target >= 0.8x)
#   4. faults       refresh + JWKS with no rule vs one unrelated rule     (target: no cost)
#   5. memory       RSS idle, after JWKS load, across ~1M mixed requests  (target <= 16 MB, flat)
# Everything listens on 127.0.0.1 only; every load is bounded by wrk's -d.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
FAKEIDP=${FAKEIDP:-$ROOT/build/cli/fakeidp}
ROUNDS=${ROUNDS:-2}            # repetitions of every measurement
COLD_RUNS=${COLD_RUNS:-11}     # launches per cold-start round (median reported)
DUR=${DUR:-10s}                # wrk duration of the JWKS and refresh runs
FAULT_DUR=${FAULT_DUR:-5s}     # wrk duration of each fault-engine run (4 per load and round)
THREADS=${THREADS:-2}          # wrk threads
CONNS=${CONNS:-32}             # wrk connections
SESSIONS=${SESSIONS:-64}       # refresh-token chains (must exceed CONNS)
SSL_SECONDS=${SSL_SECONDS:-3}  # openssl speed -seconds (sign and verify each)
SOAK_REQUESTS=${SOAK_REQUESTS:-1000000}
SOAK_JWKS_PER_REFRESH=${SOAK_JWKS_PER_REFRESH:-19} # soak mix: 1 refresh in 20 requests
SOAK_MAX_S=${SOAK_MAX_S:-120}  # the soak's duration cap
SOAK_SAMPLE_S=${SOAK_SAMPLE_S:-5}
SECTIONS=${SECTIONS:-1 2 3 4 5} # which sections to run, e.g. SECTIONS="2 3"

CLIENT=client_01FAKE1DPC0000000000000000
API_KEY=sk_test_fakeidp_0000000000000000000000000000
JWKS_PATH=/sso/jwks/$CLIENT
REDIRECT=http://localhost:3000/callback

want() { [[ " $SECTIONS " == *" $1 "* ]]; }
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- tools -------------------------------------------------------------------
missing=()
for tool in wrk nginx openssl curl cc; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        log "installing: ${missing[*]}"
        pkgs=()
        for t in "${missing[@]}"; do
            case $t in nginx) pkgs+=(nginx-light) ;; cc) pkgs+=(gcc libc6-dev) ;; *) pkgs+=("$t") ;; esac
        done
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
    else
        die "missing tools: ${missing[*]} (apt-get install -y wrk nginx-light openssl curl gcc)"
    fi
fi
NGINX=$(command -v nginx)
if [[ ! -x $FAKEIDP ]]; then
    log "building fakeidp"
    cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$ROOT/build" -j2 --target fakeidp_cli >/dev/null 2>&1 || cmake --build "$ROOT/build" -j2 >/dev/null
fi

# --- scratch space and cleanup ------------------------------------------------
T=$(mktemp -d /tmp/fakeidp-bench.XXXXXX)
chmod 755 "$T" # nginx workers (user nobody) read the JWKS file from here
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n ${KEEP:-} ]]; then log "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The binary under test is copied, so a rebuild during the run cannot swap it.
cp "$FAKEIDP" "$T/fakeidp"
BIN=$T/fakeidp
openssl genrsa -out "$T/key.pem" 2048 2>/dev/null
cc -O2 -std=c11 -o "$T/coldstart" "$HERE/coldstart.c"

# A fixed port (cold start and nginx need one) below the ephemeral range, so
# no client connection on this busy machine holds it as its local end.
EPHEMERAL_LOW=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
    local p
    for _ in $(seq 200); do
        p=$((10000 + RANDOM % (EPHEMERAL_LOW - 10000)))
        if "$T/coldstart" --bindable "$p"; then
            echo "$p"
            return
        fi
    done
    die "no free port"
}

TCK=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }          # a process's own CPU
child_ticks() { awk '{print $16 + $17}' "/proc/$$/stat"; }     # this shell's reaped children
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
secs() { local d=$1; case $d in *m) echo $((${d%m} * 60)) ;; *s) echo "${d%s}" ;; *) echo "$d" ;; esac; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
median() { sort -g | awk '{v[NR] = $1} END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mean() { awk '{s += $1; n++} END { printf "%.2f\n", n ? s / n : 0 }'; }

start_fakeidp() { # start_fakeidp NAME [extra args]: sets FPID and FURL
    local name=$1
    shift
    "$BIN" serve --port 0 --key "$T/key.pem" "$@" >"$T/$name.out" 2>"$T/$name.err" &
    FPID=$!
    PIDS+=("$FPID")
    for _ in $(seq 500); do
        grep -q '^listening on ' "$T/$name.out" 2>/dev/null && break
        sleep 0.01
    done
    FURL=$(awk '/^listening on / {print $3; exit}' "$T/$name.out")
    [[ -n $FURL ]] || die "fakeidp did not start: $(cat "$T/$name.err")"
}

stop_pid() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# seed_tokens URL FILE N: N fresh sessions (authorize + code exchange), one refresh token each.
seed_tokens() {
    local url=$1 file=$2 n=$3 loc code body
    : >"$file"
    for _ in $(seq "$n"); do
        loc=$(curl -sS -o /dev/null -w '%{redirect_url}' \
            "$url/user_management/authorize?client_id=$CLIENT&redirect_uri=$REDIRECT&response_type=code&provider=authkit")
        code=${loc##*code=}
        code=${code%%&*}
        body=$(curl -sS -X POST "$url/user_management/authenticate" -H 'Content-Type: application/json' \
            -d "{\"grant_type\":\"authorization_code\",\"client_id\":\"$CLIENT\",\"client_secret\":\"$API_KEY\",\"code\":\"$code\"}")
        sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p' <<<"$body" >>"$file"
    done
    [[ $(grep -c . "$file") == "$n" ]] || die "seeding sessions failed: $body"
}

# run_wrk SERVER_PID OUTFILE URL [wrk args...]: runs wrk, then sets
# W_RPS W_P50 W_P99 (ms) W_REQ W_NON2XX W_SOCKERR W_LUA W_SRV_CPU W_WRK_CPU (% of one core)
# W_US (server CPU microseconds per request: robust to other load on the machine).
run_wrk() {
    local spid=$1 out=$2 url=$3
    shift 3
    local s0 c0 s1 c1 d
    d=$(secs "$DUR")
    s0=$(ticks "$spid")
    c0=$(child_ticks)
    WRK_THREADS=$THREADS wrk -t"$THREADS" -c"$CONNS" -d"$DUR" --latency "$url" "$@" >"$out" 2>&1 || true
    c1=$(child_ticks)
    s1=$(ticks "$spid")
    parse_wrk "$out"
    W_SRV_CPU=$(awk -v t=$((s1 - s0)) -v hz="$TCK" -v d="$d" 'BEGIN {printf "%.0f", 100 * t / hz / d}')
    W_US=$(awk -v t=$((s1 - s0)) -v hz="$TCK" -v n="$W_REQ" 'BEGIN {printf "%.1f", n ? 1e6 * t / hz / n : 0}')
    W_WRK_CPU=$(awk -v t=$((c1 - c0)) -v hz="$TCK" -v d="$d" 'BEGIN {printf "%.0f", 100 * t / hz / d}')
}
parse_wrk() {
    local out=$1
    W_RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
    W_P50=$(awk '$1 == "50%" {print $2}' "$out" | to_ms)
    W_P99=$(awk '$1 == "99%" {print $2}' "$out" | to_ms)
    W_REQ=$(awk '/requests in/ {print $1}' "$out")
    W_NON2XX=$(awk -F': ' '/Non-2xx or 3xx responses/ {print $2}' "$out")
    W_NON2XX=${W_NON2XX:-0}
    W_SOCKERR=$(awk '/Socket errors/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$out")
    W_SOCKERR=${W_SOCKERR:-0}
    W_SOCKLINE=$(sed -n 's/^ *Socket errors: //p' "$out")
    W_LUA=$(sed -n 's/^lua: //p' "$out")
    [[ -n $W_RPS ]] || die "wrk failed: $(cat "$out")"
}
to_ms() {
    awk '{ v = $1; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
           f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : 1;
           printf "%.2f", v * f }'
}
lua_field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" <<<"$W_LUA"; }

SUMMARY=$T/summary
say() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }

# --- header --------------------------------------------------------------------
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
say "fakeidp server benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
say "machine: nproc=$(nproc), cpu='$CPU_MODEL', kernel $(uname -r), load avg at start $(cut -d' ' -f1-3 /proc/loadavg)"
say "fakeidp: $FAKEIDP ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- fakeidp cli 2>/dev/null || echo '+dirty')); $("$NGINX" -v 2>&1); $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2); $(openssl version | cut -d' ' -f1-2)"
say "settings: ROUNDS=$ROUNDS DUR=$DUR FAULT_DUR=$FAULT_DUR wrk -t$THREADS -c$CONNS, SESSIONS=$SESSIONS, COLD_RUNS=$COLD_RUNS"
say ""

# --- nginx reference ----------------------------------------------------------------
NG=$T/nginx
mkdir -p "$NG/root/sso/jwks" "$NG/logs" "$NG/tmp"
write_nginx_conf() { # write_nginx_conf PORT
    cat >"$NG/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $NG/nginx.pid;
error_log $NG/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  server_tokens off;
  keepalive_requests 100000000;
  client_body_temp_path $NG/tmp/body;
  proxy_temp_path $NG/tmp/proxy;
  fastcgi_temp_path $NG/tmp/fastcgi;
  uwsgi_temp_path $NG/tmp/uwsgi;
  scgi_temp_path $NG/tmp/scgi;
  server {
    listen 127.0.0.1:$1;
    root $NG/root;
    location /sso/jwks/ { default_type "application/json; charset=utf-8"; etag off; }
  }
}
EOF
}
NGINX_CMD=("$NGINX" -p "$NG" -e "$NG/logs/error.log" -c "$NG/nginx.conf")

# The fakeidp instance for sections 2-5; its idle RSS is taken before any load.
start_fakeidp main
MAIN_PID=$FPID
MAIN_URL=$FURL
sleep 1
RSS_IDLE=$(rss_kb "$MAIN_PID")
curl -sSf "$MAIN_URL$JWKS_PATH" -o "$NG/root$JWKS_PATH"
chmod -R a+rX "$NG"

# --- 1. cold start --------------------------------------------------------------------
if want 1; then
log "1/5 cold start ($ROUNDS x $COLD_RUNS launches each)"
CS_PORT=$(free_port)
write_nginx_conf "$CS_PORT"
say "1. cold start: fork+exec -> first JWKS 200 (poll every 0.1 ms), median of $COLD_RUNS launches [min-max]"
printf '%-6s %-26s %-26s %s\n' round "fakeidp --key (ms)" "nginx 1 worker (ms)" "fakeidp/nginx" | tee -a "$SUMMARY"
CS_MEDIANS=()
for r in $(seq "$ROUNDS"); do
    f=$("$T/coldstart" "$CS_PORT" "$JWKS_PATH" "$COLD_RUNS" -- "$BIN" serve --port "$CS_PORT" --key "$T/key.pem" | tail -1 || true)
    n=$("$T/coldstart" "$CS_PORT" "$JWKS_PATH" "$COLD_RUNS" -- "${NGINX_CMD[@]}" | tail -1 || true)
    fm=$(sed 's/.*median_ms=\([0-9.]*\).*/\1/' <<<"$f")
    nm=$(sed 's/.*median_ms=\([0-9.]*\).*/\1/' <<<"$n")
    fr=$(sed 's/.*min_ms=\([0-9.]*\) max_ms=\([0-9.]*\).*/\1-\2/' <<<"$f")
    nr=$(sed 's/.*min_ms=\([0-9.]*\) max_ms=\([0-9.]*\).*/\1-\2/' <<<"$n")
    CS_MEDIANS+=("$fm")
    printf '%-6s %-26s %-26s %s\n' "$r" "$fm [$fr]" "$nm [$nr]" "$(ratio "$fm" "$nm")" | tee -a "$SUMMARY"
done
say ""

fi

# --- 2. JWKS throughput -----------------------------------------------------------------
if want 2; then
NG_PORT=$(free_port)
write_nginx_conf "$NG_PORT"
"${NGINX_CMD[@]}" >/dev/null 2>&1 &
NG_PID=$!
PIDS+=("$NG_PID")
for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$NG_PORT$JWKS_PATH" -o "$T/ng.jwks" && break
    sleep 0.01
done
cmp -s "$T/ng.jwks" "$NG/root$JWKS_PATH" || die "nginx does not serve the JWKS body"
NG_WORKER=$(pgrep -P "$NG_PID" | head -1)
[[ -n $NG_WORKER ]] || die "no nginx worker"

log "2/5 JWKS throughput ($ROUNDS x 2 x $DUR)"
say "2. JWKS throughput: wrk -t$THREADS -c$CONNS -d$DUR --latency GET $JWKS_PATH ($(wc -c <"$NG/root$JWKS_PATH") B body)"
printf '%-6s %-8s %9s %8s %8s %7s %8s %8s %11s\n' round server "req/s" "p50 ms" "p99 ms" errors "srv cpu" "wrk cpu" "srv us/req" | tee -a "$SUMMARY"
JWKS_RATIOS=()
JWKS_CPU_RATIOS=()
JWKS_F=()
for r in $(seq "$ROUNDS"); do
    run_wrk "$MAIN_PID" "$T/jwks-f$r.txt" "$MAIN_URL$JWKS_PATH"
    f_rps=$W_RPS
    f_us=$W_US
    JWKS_F+=("$W_RPS")
    printf '%-6s %-8s %9s %8s %8s %7s %7s%% %7s%% %11s\n' "$r" fakeidp "$W_RPS" "$W_P50" "$W_P99" "$((W_NON2XX + W_SOCKERR))" "$W_SRV_CPU" "$W_WRK_CPU" "$W_US" | tee -a "$SUMMARY"
    run_wrk "$NG_WORKER" "$T/jwks-n$r.txt" "http://127.0.0.1:$NG_PORT$JWKS_PATH"
    printf '%-6s %-8s %9s %8s %8s %7s %7s%% %7s%% %11s\n' "$r" nginx "$W_RPS" "$W_P50" "$W_P99" "$((W_NON2XX + W_SOCKERR))" "$W_SRV_CPU" "$W_WRK_CPU" "$W_US" | tee -a "$SUMMARY"
    JWKS_RATIOS+=("$(ratio "$f_rps" "$W_RPS")")
    JWKS_CPU_RATIOS+=("$(ratio "$f_us" "$W_US")")
done
say "   fakeidp/nginx req/s: ${JWKS_RATIOS[*]}; server CPU per request, fakeidp/nginx: ${JWKS_CPU_RATIOS[*]}"
say "   (srv cpu = server process, wrk cpu = load generator, % of one core: 200% = both cores)"
RSS_JWKS=$(rss_kb "$MAIN_PID")
stop_pid "$NG_PID"
say ""

fi

# --- 3. refresh-grant throughput -----------------------------------------------------
if want 3; then
log "3/5 refresh grants ($ROUNDS x ($DUR wrk + 3 openssl speed runs))"
say "3. refresh grants: wrk -s refresh.lua ($SESSIONS chained sessions) vs openssl speed -seconds $SSL_SECONDS rsa2048"
printf '%-6s %9s %8s %8s %6s %8s %8s %10s %11s %11s %7s %10s\n' round "tokens/s" "p50 ms" "p99 ms" errors "srv cpu" "wrk cpu" "us/token" "ssl 2-core" "ssl 1-core" "ratio" "sign share" | tee -a "$SUMMARY"
REFRESH_RATIOS=()
REFRESH_RPS=()
REFRESH_SHARES=()
ssl_rate() { # ssl_rate [-multi 2]: RSA-2048 signs per second
    openssl speed -seconds "$SSL_SECONDS" "$@" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {v = $6} END {printf "%.0f", v}'
}
for r in $(seq "$ROUNDS"); do
    ssl2a=$(ssl_rate -multi 2)
    seed_tokens "$MAIN_URL" "$T/tokens" "$SESSIONS"
    run_wrk "$MAIN_PID" "$T/refresh$r.txt" "$MAIN_URL/user_management/authenticate" \
        -s "$HERE/refresh.lua" -- "$T/tokens" "$CLIENT" "$API_KEY"
    ssl2b=$(ssl_rate -multi 2)
    ssl1=$(ssl_rate)
    ssl2=$((ssl2a > ssl2b ? ssl2a : ssl2b)) # noise only lowers a reading: the larger is nearer the capacity
    ok=$(lua_field refresh_ok)
    errs=$(($(lua_field bad) + W_SOCKERR))
    REFRESH_RPS+=("$W_RPS")
    REFRESH_RATIOS+=("$(ratio "$W_RPS" "$ssl2")")
    # sign share: one signature's CPU (1 / single-core sign rate) over the server's CPU per token.
    share=$(awk -v us="$W_US" -v s1="$ssl1" 'BEGIN { if (us > 0 && s1 > 0) printf "%.2f", (1e6 / s1) / us; else print "n/a" }')
    REFRESH_SHARES+=("$share")
    printf '%-6s %9s %8s %8s %6s %7s%% %7s%% %10s %11s %11s %7s %10s\n' "$r" "$W_RPS" "$W_P50" "$W_P99" "$errs" "$W_SRV_CPU" "$W_WRK_CPU" "$W_US" "$ssl2a/$ssl2b" "$ssl1" "${REFRESH_RATIOS[-1]}" "$share" | tee -a "$SUMMARY"
    [[ $ok -gt 0 && $errs == 0 ]] || log "warning: refresh run $r: ok=$ok errors=$errs ($W_LUA)"
done
say "   ratio = tokens/s / two-core sign/s (the larger of openssl -multi 2 before/after the wrk run); errors = non-200 + socket errors"
say "   sign share = CPU of one RSA-2048 signature (1-core openssl) / server CPU per token: the rest is HTTP, JSON, store"
say ""

fi

# --- 4. fault-engine overhead ------------------------------------------------------------
if want 4; then
log "4/5 fault engine ($ROUNDS x 2 loads x 4 x $FAULT_DUR)"
add_rule() {
    curl -sSf -X POST "$MAIN_URL/_fakeidp/faults" -d '{"route":"users","status":503}' |
        sed -n 's/.*"added":\["\([^"]*\)".*/\1/p'
}
say "4. fault engine: no rule (A) vs one unrelated rule {\"route\":\"users\",\"status\":503} (B), runs in A B B A order, $FAULT_DUR each"
printf '%-6s %-8s %-6s %9s %8s %8s %7s %11s\n' round load rule "req/s" "p50 ms" "p99 ms" errors "srv us/req" | tee -a "$SUMMARY"
FAULT_LINES=()
FAULT_OK=1
fault_run() { # fault_run ROUND LOAD RULE(A|B): appends "rps us" to $T/fault-ROUND-LOAD-RULE
    local r=$1 load=$2 rule=$3 id="" errs dur_saved=$DUR
    [[ $rule == B ]] && id=$(add_rule)
    DUR=$FAULT_DUR
    if [[ $load == jwks ]]; then
        run_wrk "$MAIN_PID" "$T/fault.txt" "$MAIN_URL$JWKS_PATH"
        errs=$((W_NON2XX + W_SOCKERR))
    else
        seed_tokens "$MAIN_URL" "$T/tokens" "$SESSIONS"
        run_wrk "$MAIN_PID" "$T/fault.txt" "$MAIN_URL/user_management/authenticate" \
            -s "$HERE/refresh.lua" -- "$T/tokens" "$CLIENT" "$API_KEY"
        errs=$(($(lua_field bad) + W_SOCKERR))
    fi
    DUR=$dur_saved
    if [[ -n $id ]]; then
        curl -sSf "$MAIN_URL/_fakeidp/faults" | grep -q '"matched":0' || log "warning: the unrelated rule matched"
        curl -sSf -X DELETE "$MAIN_URL/_fakeidp/faults/$id" >/dev/null
    fi
    echo "$W_RPS $W_US" >>"$T/fault-$r-$load-$rule"
    printf '%-6s %-8s %-6s %9s %8s %8s %7s %11s\n' "$r" "$load" "$rule" "$W_RPS" "$W_P50" "$W_P99" "$errs" "$W_US" | tee -a "$SUMMARY"
}
for r in $(seq "$ROUNDS"); do
    for load in jwks refresh; do
        for rule in A B B A; do fault_run "$r" "$load" "$rule"; done
        # B/A throughput and CPU-per-request ratios; noise = how far the two A runs differ.
        line=$(paste -d' ' "$T/fault-$r-$load-A" "$T/fault-$r-$load-B" | awk -v load="$load" -v r="$r" '
            {ar += $1; au += $2; br += $3; bu += $4; a[NR] = $1}
            END { noise = (a[1] > a[2] ? a[1] - a[2] : a[2] - a[1]) / ((a[1] + a[2]) / 2);
                  printf "round %s %-7s B/A req/s %.3f  B/A cpu/req %.3f  (A-vs-A noise %.1f%%)", r, load, br / ar, bu / au, 100 * noise;
                  ok = (br / ar >= 1 - (noise > 0.03 ? noise : 0.03)) || (bu / au <= 1.03);
                  printf " %s\n", ok ? "ok" : "COST" }')
        FAULT_LINES+=("$line")
        [[ $line == *" ok" ]] || FAULT_OK=0
    done
done
for line in "${FAULT_LINES[@]}"; do say "   $line"; done
say "   a run is 'ok' when B/A req/s is within the A-vs-A noise (at least 3%) or B costs no more CPU per request (<= +3%)"
say ""

fi

# --- 5. memory -------------------------------------------------------------------------
if want 5; then
log "5/5 memory soak (~$SOAK_REQUESTS mixed requests)"
RSS_PRE_SOAK=$(rss_kb "$MAIN_PID")
count_sessions() { curl -sS "$MAIN_URL/_fakeidp/sessions" | grep -o '"object":"session"' | wc -l; }
SESSIONS_PRE_SOAK=$(count_sessions)
seed_tokens "$MAIN_URL" "$T/tokens" "$SESSIONS"
journal_next() { curl -sS "$MAIN_URL/_fakeidp/journal?since=18446744073709551615" | sed -n 's/.*"next":\([0-9]*\).*/\1/p'; }
# One wrk run, stopped with SIGINT (wrk then prints its report) once the server's
# journal has counted SOAK_REQUESTS requests, or after SOAK_MAX_S.
SOAK_N0=$(journal_next)
WRK_THREADS=$THREADS wrk -t"$THREADS" -c"$CONNS" -d"${SOAK_MAX_S}s" --latency "$MAIN_URL/user_management/authenticate" \
    -s "$HERE/refresh.lua" -- "$T/tokens" "$CLIENT" "$API_KEY" "$JWKS_PATH" "$SOAK_JWKS_PER_REFRESH" >"$T/soak.txt" 2>&1 &
SOAK_WRK=$!
PIDS+=("$SOAK_WRK")
: >"$T/soak.samples"
t=0
while kill -0 "$SOAK_WRK" 2>/dev/null; do
    sleep 1
    t=$((t + 1))
    n=$(($(journal_next) - SOAK_N0))
    if ((t % SOAK_SAMPLE_S == 0)); then printf '%s %s %s\n' "$t" "$n" "$(rss_kb "$MAIN_PID")" >>"$T/soak.samples"; fi
    if ((n >= SOAK_REQUESTS)); then
        kill -INT "$SOAK_WRK" 2>/dev/null || true
        break
    fi
done
wait "$SOAK_WRK" 2>/dev/null || true
parse_wrk "$T/soak.txt"
SOAK_S=$t
SOAK_ERRS=$(($(lua_field bad) + W_SOCKERR))
SOAK_ERR_DETAIL="non-200: $(lua_field bad) (first status $(lua_field first_bad_status)); socket errors: ${W_SOCKLINE:-none}"
SOAK_REQ=$W_REQ
SOAK_RPS=$W_RPS
RSS_END=$(rss_kb "$MAIN_PID")
HWM_END=$(hwm_kb "$MAIN_PID")
TOTAL_REQ=$(($(journal_next) - 1))
SESSIONS_END=$(count_sessions)

# Diagnostic: the same JWKS load on a fresh server with a 100-entry journal
# (default 10,000 entries of ~600 B) isolates the journal ring's share of the growth.
start_fakeidp small --set journal_size=100
sleep 1
SMALL_IDLE=$(rss_kb "$FPID")
run_wrk "$FPID" "$T/small.txt" "$FURL$JWKS_PATH"
SMALL_JWKS=$(rss_kb "$FPID")
stop_pid "$FPID"

say "5. memory (VmRSS of the fakeidp process, KB)"
say "   idle after start                    $RSS_IDLE"
say "   after the JWKS runs (section 2)      ${RSS_JWKS:-n/a}"
say "   after refresh + fault runs (3-4)     $RSS_PRE_SOAK   ($SESSIONS_PRE_SOAK sessions in the store, each keeping up to 8 refresh tokens and their cached replies)"
say "   soak: wrk ${SOAK_S}s, $SOAK_REQ requests (1 refresh : $SOAK_JWKS_PER_REFRESH JWKS, $SESSIONS chains), $SOAK_RPS req/s, errors $SOAK_ERRS"
[[ $SOAK_ERRS == 0 ]] || say "   soak errors: $SOAK_ERR_DETAIL"
printf '   %-8s %12s %10s\n' "t (s)" "requests" "RSS KB" | tee -a "$SUMMARY"
printf '   %-8s %12s %10s\n' 0 0 "$RSS_PRE_SOAK" | tee -a "$SUMMARY"
awk -v every=$(((SOAK_S / SOAK_SAMPLE_S + 7) / 8 + (SOAK_S < 8 * SOAK_SAMPLE_S))) 'NR == 1 || NR % every == 0 {printf "   %-8s %12s %10s\n", $1, $2, $3}' "$T/soak.samples" | tee -a "$SUMMARY"
printf '   %-8s %12s %10s\n' end "$SOAK_REQ" "$RSS_END" | tee -a "$SUMMARY"
say "   after soak: RSS $RSS_END KB, peak (VmHWM) $HWM_END KB; requests served by this process in total: $TOTAL_REQ; sessions $SESSIONS_END"
say "   diagnostic, fresh server with --set journal_size=100: idle $SMALL_IDLE KB, after one JWKS run $SMALL_JWKS KB"
FIRST_SAMPLE=$(awk 'NR == 1 {print $3}' "$T/soak.samples")
FIRST_AT="${SOAK_SAMPLE_S}s into the soak"
[[ -n $FIRST_SAMPLE ]] || { FIRST_SAMPLE=$RSS_PRE_SOAK; FIRST_AT="before the soak (too short to sample)"; }
say ""

fi

# --- verdicts --------------------------------------------------------------------------
verdict() { if [[ $1 == 1 ]]; then echo MET; else echo MISSED; fi; }
all_le() { local lim=$1 v; shift; for v in "$@"; do awk -v v="$v" -v l="$lim" 'BEGIN {exit !(v <= l)}' || return 1; done; }
all_ge() { local lim=$1 v; shift; for v in "$@"; do awk -v v="$v" -v l="$lim" 'BEGIN {exit !(v >= l)}' || return 1; done; }
say "targets (every round must meet it)"
if want 1; then
    all_le 30 "${CS_MEDIANS[@]}" && ok=1 || ok=0
    say "   cold start <= 30 ms               $(verdict $ok)  (medians ${CS_MEDIANS[*]} ms)"
fi
if want 2; then
    all_ge 0.7 "${JWKS_RATIOS[@]}" && ok=1 || ok=0
    say "   JWKS >= 0.7x nginx                $(verdict $ok)  (${JWKS_RATIOS[*]}; CPU/request ${JWKS_CPU_RATIOS[*]}x nginx's)"
fi
if want 3; then
    all_ge 0.8 "${REFRESH_RATIOS[@]}" && ok=1 || ok=0
    say "   refresh >= 0.8x 2-core sign/s     $(verdict $ok)  (${REFRESH_RATIOS[*]}; only meaningful on an idle machine)"
    all_ge 0.8 "${REFRESH_SHARES[@]}" && ok=1 || ok=0
    say "   refresh, CPU-normalized >= 0.8    $(verdict $ok)  (sign share ${REFRESH_SHARES[*]}: the ratio a load-free 2-core box could reach at best)"
fi
if want 4; then
    say "   unrelated fault rule: no cost     $(verdict $FAULT_OK)  (section 4)"
fi
all_le 16384 "$RSS_IDLE" && ok=1 || ok=0
say "   RSS idle <= 16 MB                 $(verdict $ok)  ($RSS_IDLE KB)"
if want 5; then
    growth=$((RSS_END - FIRST_SAMPLE))
    all_le 1024 "$growth" && ok=1 || ok=0
    say "   RSS flat during soak (<= 1 MB)    $(verdict $ok)  (${FIRST_SAMPLE} KB $FIRST_AT -> $RSS_END KB at the end; $RSS_IDLE KB before any load)"
    all_le 16384 "$RSS_END" && ok=1 || ok=0
    say "   RSS <= 16 MB after load           $(verdict $ok)  ($RSS_END KB)"
fi
say "load avg at end $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ -n ${RESULTS:-} ]]; then cp "$SUMMARY" "$RESULTS"; fi
