#!/usr/bin/env bash
# bench/suite.sh: scenario-runner overhead and scaling.
#
#   bench/suite.sh                       # about 2 minutes on 2 cores
#   ROUNDS=3 RUNS=5 KS="10 100" bench/suite.sh
#
# 1. K copies of one small scenario (sign in, advance 6m, load -> one refresh,
#    expect the session survives), distinct names, in a temporary folder;
#    `fakeidp run -j JOBS` is timed for K = 1 (the reference: process start,
#    one fake + app pair, one variant) and each K in KS. Reports the median
#    wall time, the median per variant (wall / K) and the marginal cost per
#    variant ((t_K - t_1) / (K - 1)), which is what a bigger suite adds.
# 2. The bundled scenarios/ folder: variants, wall time (target <= 3 s for
#    40+ variants on 2 cores), CPU time, and the slowest variants.
# Every measurement runs ROUNDS times (hyperfine with RUNS runs each, or a
# plain timing loop without hyperfine), and every round is reported.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
FAKEIDP=${FAKEIDP:-$ROOT/build/cli/fakeidp}
ROUNDS=${ROUNDS:-2}
RUNS=${RUNS:-3}         # timed runs per measurement (after one warm-up run)
JOBS=${JOBS:-2}
KS=${KS:-10 50 100 200}
SCENARIOS=${SCENARIOS:-$ROOT/scenarios}

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

if ! command -v hyperfine >/dev/null 2>&1 && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing hyperfine"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null || true
fi
if [[ ! -x $FAKEIDP ]]; then
    log "building fakeidp"
    cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$ROOT/build" -j2 >/dev/null
fi

T=$(mktemp -d /tmp/fakeidp-suite.XXXXXX)
trap 'if [[ -n ${KEEP:-} ]]; then log "kept $T"; else rm -rf "$T"; fi' EXIT
cp "$FAKEIDP" "$T/fakeidp" # a rebuild during the run cannot swap the binary under test
BIN=$T/fakeidp
openssl genrsa -out "$T/key.pem" 2048 2>/dev/null

# make_suite K: K distinct copies of the small scenario in $T/k$K.
make_suite() {
    local k=$1 dir=$T/k$1 i name
    mkdir -p "$dir"
    for i in $(seq "$k"); do
        name=$(printf 'bench-%04d' "$i")
        cat >"$dir/$name.json" <<EOF
{
  "name": "$name",
  "description": "runner benchmark: sign in, advance past the access-token lifetime, load (one refresh)",
  "tags": ["bench"],
  "steps": [
    { "sign_in": "alice@example.com" },
    { "advance": "6m" },
    { "load": "/dashboard" }
  ],
  "expect": { "session": "survives", "idp": { "refreshes": 1 } }
}
EOF
    done
    "$BIN" lint "$dir" >/dev/null || die "the generated scenario does not lint"
}

# time_run OUT_PREFIX PATH: times `fakeidp run -j JOBS PATH` RUNS times after a
# warm-up run; sets TR_MEDIAN TR_MIN TR_MAX (s), TR_CPU (user+sys s per run),
# TR_PASSED TR_TOTAL (from the warm-up's JSON report).
time_run() {
    local out=$1 path=$2
    local cmd=("$BIN" run -j "$JOBS" --key "$T/key.pem" "$path")
    "${cmd[@]}" --json "$out.json" >"$out.log" 2>&1 || log "warning: $path: exit $? ($(tail -1 "$out.log"))"
    TR_PASSED=$(sed -n 's/.*"passed": *\([0-9]*\).*/\1/p' "$out.json" | head -1)
    TR_TOTAL=$(sed -n 's/.*"total": *\([0-9]*\).*/\1/p' "$out.json" | head -1)
    if command -v hyperfine >/dev/null 2>&1; then
        hyperfine -N -i --style none --runs "$RUNS" --export-csv "$out.csv" \
            "$(printf '%q ' "${cmd[@]}")" >/dev/null 2>&1 || die "hyperfine failed"
        # command,mean,stddev,median,user,system,min,max
        read -r TR_MEDIAN TR_CPU TR_MIN TR_MAX < <(awk -F, 'NR == 2 {print $4, $5 + $6, $7, $8}' "$out.csv")
    else
        local i t0 t1 c0 c1
        : >"$out.times"
        c0=$(awk '{print $16 + $17}' "/proc/$$/stat")
        for i in $(seq "$RUNS"); do
            t0=$(date +%s%N)
            "${cmd[@]}" >/dev/null 2>&1 || true
            t1=$(date +%s%N)
            echo "$(((t1 - t0) / 1000))" >>"$out.times"
        done
        c1=$(awk '{print $16 + $17}' "/proc/$$/stat")
        TR_CPU=$(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="$RUNS" 'BEGIN {print t / hz / n}')
        read -r TR_MEDIAN TR_MIN TR_MAX < <(sort -n "$out.times" | awk '{v[NR] = $1 / 1e6}
            END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR]}')
    fi
}

SUMMARY=$T/summary
say() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
say "fakeidp runner benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
say "machine: nproc=$(nproc), cpu='$CPU_MODEL', load avg at start $(cut -d' ' -f1-3 /proc/loadavg)"
say "fakeidp: $FAKEIDP ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- fakeidp harness cli 2>/dev/null || echo '+dirty')); $(if command -v hyperfine >/dev/null; then hyperfine --version; else echo 'timing loop'; fi); fakeidp run -j $JOBS; $RUNS timed runs per cell after 1 warm-up"
say ""

log "generating suites: 1 $KS"
for k in 1 $KS; do make_suite "$k"; done

say "1. runner scaling: K copies of {sign_in, advance 6m, load; expect survives + 1 refresh}"
printf '%-6s %5s %9s %17s %8s %12s %13s %7s\n' round K "median s" "[min-max] s" "cpu s" "ms/variant" "marginal ms" passed | tee -a "$SUMMARY"
declare -A MARGINAL=()
for r in $(seq "$ROUNDS"); do
    for k in 1 $KS; do
        log "round $r: K=$k"
        time_run "$T/r$r-k$k" "$T/k$k"
        [[ $k == 1 ]] && t1=$TR_MEDIAN
        per=$(awk -v t="$TR_MEDIAN" -v k="$k" 'BEGIN {printf "%.1f", 1000 * t / k}')
        if [[ $k == 1 ]]; then marg="(reference)"; else
            marg=$(awk -v t="$TR_MEDIAN" -v t1="$t1" -v k="$k" 'BEGIN {printf "%.1f", 1000 * (t - t1) / (k - 1)}')
            MARGINAL[$k]+="$marg "
        fi
        printf '%-6s %5s %9.3f %17s %8.2f %12s %13s %7s\n' "$r" "$k" "$TR_MEDIAN" \
            "$(printf '[%.3f-%.3f]' "$TR_MIN" "$TR_MAX")" "$TR_CPU" "$per" "$marg" "$TR_PASSED/$TR_TOTAL" | tee -a "$SUMMARY"
    done
done
say "   ms/variant = median wall / K; marginal = (t_K - t_1) / (K - 1): the cost of one more variant at -j $JOBS"
say ""

log "bundled scenarios: $SCENARIOS"
say "2. bundled scenarios: fakeidp run -j $JOBS $SCENARIOS"
printf '%-6s %8s %9s %17s %8s %11s %7s\n' round variants "median s" "[min-max] s" "cpu s" "ms/variant" passed | tee -a "$SUMMARY"
BUNDLED=()
for r in $(seq "$ROUNDS"); do
    time_run "$T/r$r-bundled" "$SCENARIOS"
    BUNDLED+=("$(printf %.2f "$TR_MEDIAN")")
    printf '%-6s %8s %9.3f %17s %8.2f %11.1f %7s\n' "$r" "$TR_TOTAL" "$TR_MEDIAN" \
        "$(printf '[%.3f-%.3f]' "$TR_MIN" "$TR_MAX")" "$TR_CPU" "$(awk -v t="$TR_MEDIAN" -v n="$TR_TOTAL" 'BEGIN {print 1000 * t / n}')" \
        "$TR_PASSED/$TR_TOTAL" | tee -a "$SUMMARY"
done
# Where the time goes: the slowest variants (per-variant wall time from the JSON report).
slowest() {
    awk '/^ *"scenario": "/    { s = $0; sub(/^ *"scenario": "/, "", s); sub(/",?$/, "", s) }
         /^ *"variant": "/     { v = $0; sub(/^ *"variant": "/, "", v); sub(/",?$/, "", v) }
         /^ *"duration_ms": /  { d = $0; sub(/^ *"duration_ms": /, "", d); sub(/,$/, "", d);
                                 printf "%.0f %s/%s\n", d, s, v }' "$1" | sort -rn
}
slowest "$T/r1-bundled.json" >"$T/variants.txt" || true
if [[ -s $T/variants.txt ]]; then
    sum=$(awk '{s += $1} END {printf "%.2f", s / 1000}' "$T/variants.txt")
    say "   sum of variant wall times ${sum} s (/$JOBS jobs = $(awk -v s="$sum" -v j="$JOBS" 'BEGIN {printf "%.2f", s / j}') s); slowest variants (ms):"
    head -5 "$T/variants.txt" | awk '{printf "     %6s  %s\n", $1, $2}' | tee -a "$SUMMARY"
fi
say ""

# The mechanism behind the per-variant floor: sleeps on the runner's threads.
# strace slows thread exits, so mg_stop loops more often here than untraced.
if command -v strace >/dev/null 2>&1; then
    strace -f -e trace=clock_nanosleep,nanosleep -o "$T/strace.txt" "$BIN" run -j 1 --key "$T/key.pem" "$T/k10" >/dev/null 2>&1 || true
    say "3. diagnostic: sleep calls during 'fakeidp run -j 1' of the K=10 suite, under strace -f:"
    grep -o 'tv_sec=[0-9]*, tv_nsec=[0-9]*' "$T/strace.txt" | awk -F'[=,]' '{ms = $2 * 1000 + $4 / 1e6; n[ms]++}
        END {for (m in n) printf "     %5d sleeps of %g ms (%.1f per variant)\n", n[m], m, n[m] / 10}' | sort -rn | tee -a "$SUMMARY"
    say "   10 ms: libcivetweb's mg_stop, which sleeps in 10 ms steps until its threads are gone (fakeidp and app"
    say "   each run one CivetWeb server per variant); 2 ms: fakeidp's mgstop waker, which connects to the"
    say "   listener every 2 ms until mg_stop returns"
    say ""
fi

say "targets"
ok=$(printf '%s\n' "${BUNDLED[@]}" | awk '$1 > 3 {bad = 1} END {print bad ? "MISSED" : "MET"}')
say "   bundled scenarios <= 3 s ($TR_TOTAL variants, -j $JOBS)   $ok  (${BUNDLED[*]} s)"
for k in $KS; do say "   marginal cost per variant, K=$k: ${MARGINAL[$k]}ms"; done
say "load avg at end $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ -n ${RESULTS:-} ]]; then cp "$SUMMARY" "$RESULTS"; fi
