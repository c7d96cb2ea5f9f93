#!/usr/bin/env bash
# bench/suite.sh: scenario-runner overhead and scaling.
#
#   bench/suite.sh                       # about 3 minutes on 2 cores
#   ROUNDS=3 RUNS=5 KS="10 100" bench/suite.sh
#   BASELINE=/path/to/old/fakeidp bench/suite.sh   # before/after in one run
#
# With BASELINE, every cell is measured for both binaries, alternating
# (baseline first) within each round, and the summary shows both.
#
# 1. K copies of one small scenario (sign in, advance 6m, load -> one refresh,
#    expect the session survives), distinct names, in a temporary folder;
#    `fakeidp run -j JOBS` is timed for K = 1 (the reference: process start,
#    one fake + app pair, one variant) and each K in KS. Reports the median
#    wall time, the median per variant (wall / K) and the marginal cost per
#    variant ((t_K - t_1) / (K - 1)), which is what a bigger suite adds.
#    The marginal cost is also fitted (least squares) over every K >= 10.
# 2. A variant that does nothing ({advance 1s}, no expectation) at -j 1:
#    K_NOTHING copies against one, marginal cost per variant and the median
#    of the variants' own durations (the JSON report).
# 3. The bundled scenarios/ folder: variants, wall time, CPU time, and the
#    slowest variants.
# Every measurement runs ROUNDS times (hyperfine with RUNS runs each, or a
# plain timing loop without hyperfine), and every round is reported.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
FAKEIDP=${FAKEIDP:-$ROOT/build/cli/fakeidp}
ROUNDS=${ROUNDS:-2}
RUNS=${RUNS:-3}         # timed runs per measurement (after one warm-up run)
JOBS=${JOBS:-2}
KS=${KS:-10 50 100 200 1000}
K_NOTHING=${K_NOTHING:-100}
BASELINE=${BASELINE:-}  # an older fakeidp binary measured alongside, or empty
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
BINS=(after)
declare -A BIN_OF=([after]=$T/fakeidp)
if [[ -n $BASELINE ]]; then
    cp "$BASELINE" "$T/fakeidp-before"
    BINS=(before after)
    BIN_OF[before]=$T/fakeidp-before
fi
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

# make_nothing K: K distinct copies of a variant that does nothing in $T/n$K.
make_nothing() {
    local k=$1 dir=$T/n$1 i
    mkdir -p "$dir"
    for i in $(seq "$k"); do
        printf '{ "name": "nothing-%04d", "steps": [ { "advance": "1s" } ], "expect": {} }\n' "$i" >"$dir/n$i.json"
    done
    "$BIN" lint "$dir" >/dev/null || die "the do-nothing scenario does not lint"
}

# time_run OUT_PREFIX PATH [BINARY [JOBS]]: times `fakeidp run -j JOBS PATH` RUNS
# times after a warm-up run; sets TR_MEDIAN TR_MIN TR_MAX (s), TR_CPU (user+sys s
# per run), TR_PASSED TR_TOTAL (from the warm-up's JSON report).
time_run() {
    local out=$1 path=$2 bin=${3:-$BIN} jobs=${4:-$JOBS}
    local cmd=("$bin" run -j "$jobs" --key "$T/key.pem" "$path")
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

log "generating suites: 1 $KS; do-nothing 1 $K_NOTHING"
for k in 1 $KS; do make_suite "$k"; done
make_nothing 1
make_nothing "$K_NOTHING"

# slope K... T...: least-squares ms per variant over the given (K, s) pairs.
slope() {
    awk -v pairs="$*" 'BEGIN { n = split(pairs, a, " "); m = n / 2
        for (i = 1; i <= m; i++) { x = a[i]; y = a[m + i] * 1000; sx += x; sy += y; sxx += x * x; sxy += x * y }
        d = m * sxx - sx * sx; if (d > 0) printf "%.2f", (m * sxy - sx * sy) / d; else print "n/a" }'
}

say "1. runner scaling: K copies of {sign_in, advance 6m, load; expect survives + 1 refresh}, -j $JOBS"
printf '%-6s %-7s %5s %9s %17s %8s %12s %13s %7s\n' round binary K "median s" "[min-max] s" "cpu s" "ms/variant" "marginal ms" passed | tee -a "$SUMMARY"
declare -A MARGINAL=() FIT=() K1000=()
for r in $(seq "$ROUNDS"); do
    for b in "${BINS[@]}"; do
        ks=() ts=()
        for k in 1 $KS; do
            log "round $r: $b K=$k"
            time_run "$T/r$r-$b-k$k" "$T/k$k" "${BIN_OF[$b]}"
            [[ $k == 1 ]] && t1=$TR_MEDIAN
            per=$(awk -v t="$TR_MEDIAN" -v k="$k" 'BEGIN {printf "%.1f", 1000 * t / k}')
            if [[ $k == 1 ]]; then marg="(reference)"; else
                marg=$(awk -v t="$TR_MEDIAN" -v t1="$t1" -v k="$k" 'BEGIN {printf "%.2f", 1000 * (t - t1) / (k - 1)}')
                MARGINAL[$b,$k]+="$marg "
                ks+=("$k")
                ts+=("$TR_MEDIAN")
            fi
            [[ $k == 1000 ]] && K1000[$b]+="$(printf %.2f "$TR_MEDIAN") "
            printf '%-6s %-7s %5s %9.3f %17s %8.2f %12s %13s %7s\n' "$r" "$b" "$k" "$TR_MEDIAN" \
                "$(printf '[%.3f-%.3f]' "$TR_MIN" "$TR_MAX")" "$TR_CPU" "$per" "$marg" "$TR_PASSED/$TR_TOTAL" | tee -a "$SUMMARY"
        done
        FIT[$b]+="$(slope "${ks[@]}" "${ts[@]}") "
    done
done
say "   ms/variant = median wall / K; marginal = (t_K - t_1) / (K - 1): the cost of one more variant at -j $JOBS"
for b in "${BINS[@]}"; do say "   $b: least-squares marginal ms per variant over K = ${KS// /, }: ${FIT[$b]}"; done
say ""

say "2. a variant that does nothing ({advance 1s}), -j 1: $K_NOTHING copies against 1"
printf '%-6s %-7s %11s %13s %15s %19s\n' round binary "t_1 s" "t_$K_NOTHING s" "marginal ms" "median variant ms" | tee -a "$SUMMARY"
declare -A NOTHING=()
for r in $(seq "$ROUNDS"); do
    for b in "${BINS[@]}"; do
        time_run "$T/r$r-$b-n1" "$T/n1" "${BIN_OF[$b]}" 1
        n1=$TR_MEDIAN
        time_run "$T/r$r-$b-nk" "$T/n$K_NOTHING" "${BIN_OF[$b]}" 1
        marg=$(awk -v t="$TR_MEDIAN" -v t1="$n1" -v k="$K_NOTHING" 'BEGIN {printf "%.2f", 1000 * (t - t1) / (k - 1)}')
        med=$(awk '/"duration_ms"/ {gsub(/,/, "", $2); print $2}' "$T/r$r-$b-nk.json" | sort -n |
            awk '{v[NR] = $1} END {printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
        NOTHING[$b]+="$marg "
        printf '%-6s %-7s %11.3f %13.3f %15s %19s\n' "$r" "$b" "$n1" "$TR_MEDIAN" "$marg" "$med" | tee -a "$SUMMARY"
    done
done
say "   marginal = (t_$K_NOTHING - t_1) / ($K_NOTHING - 1); median variant = the variants' own durations (JSON report)"
say ""

log "bundled scenarios: $SCENARIOS"
say "3. bundled scenarios: fakeidp run -j $JOBS $SCENARIOS"
printf '%-6s %-7s %8s %9s %17s %8s %11s %7s\n' round binary variants "median s" "[min-max] s" "cpu s" "ms/variant" passed | tee -a "$SUMMARY"
declare -A BUNDLED=()
for r in $(seq "$ROUNDS"); do
    for b in "${BINS[@]}"; do
        time_run "$T/r$r-$b-bundled" "$SCENARIOS" "${BIN_OF[$b]}"
        BUNDLED[$b]+="$(printf %.2f "$TR_MEDIAN") "
        printf '%-6s %-7s %8s %9.3f %17s %8.2f %11.1f %7s\n' "$r" "$b" "$TR_TOTAL" "$TR_MEDIAN" \
            "$(printf '[%.3f-%.3f]' "$TR_MIN" "$TR_MAX")" "$TR_CPU" "$(awk -v t="$TR_MEDIAN" -v n="$TR_TOTAL" 'BEGIN {print 1000 * t / n}')" \
            "$TR_PASSED/$TR_TOTAL" | tee -a "$SUMMARY"
    done
done
# Where the time goes: the slowest variants (per-variant wall time from the JSON report).
slowest() {
    awk '/^ *"scenario": "/    { s = $0; sub(/^ *"scenario": "/, "", s); sub(/",?$/, "", s) }
         /^ *"variant": "/     { v = $0; sub(/^ *"variant": "/, "", v); sub(/",?$/, "", v) }
         /^ *"duration_ms": /  { d = $0; sub(/^ *"duration_ms": /, "", d); sub(/,$/, "", d);
                                 printf "%.0f %s/%s\n", d, s, v }' "$1" | sort -rn
}
slowest "$T/r1-after-bundled.json" >"$T/variants.txt" || true
if [[ -s $T/variants.txt ]]; then
    sum=$(awk '{s += $1} END {printf "%.2f", s / 1000}' "$T/variants.txt")
    say "   after, round 1: sum of variant wall times ${sum} s (/$JOBS jobs = $(awk -v s="$sum" -v j="$JOBS" 'BEGIN {printf "%.2f", s / j}') s); slowest variants (ms):"
    head -5 "$T/variants.txt" | awk '{printf "     %6s  %s\n", $1, $2}' | tee -a "$SUMMARY"
fi
say ""

# The mechanism behind the per-variant floor: sleeps on the runner's threads.
# strace slows thread exits, so mg_stop loops more often here than untraced.
if command -v strace >/dev/null 2>&1; then
    strace -f -e trace=clock_nanosleep,nanosleep -o "$T/strace.txt" "$BIN" run -j 1 --key "$T/key.pem" "$T/k10" >/dev/null 2>&1 || true
    say "4. diagnostic: sleep calls during 'fakeidp run -j 1' of the K=10 suite (after), under strace -f:"
    grep -o 'tv_sec=[0-9]*, tv_nsec=[0-9]*' "$T/strace.txt" | awk -F'[=,]' '{ms = $2 * 1000 + $4 / 1e6; n[ms]++}
        END {for (m in n) printf "     %5d sleeps of %g ms (%.1f per variant)\n", n[m], m, n[m] / 10}' | sort -rn | tee -a "$SUMMARY"
    say "   10 ms: libcivetweb's mg_stop, which sleeps in 10 ms steps until its threads are gone; 2 ms: fakeidp's"
    say "   mg_lifecycle.c waker, which connects to the listener every 2 ms until mg_stop returns. Each worker keeps its"
    say "   fakeidp and app between variants, so both run once per worker, not once per variant."
    say ""
fi

say "targets (issue #18)"
met() { awk -v lim="$2" -v vals="$1" 'BEGIN { n = split(vals, v, " "); bad = n == 0
    for (i = 1; i <= n; i++) if (v[i] == "n/a" || v[i] + 0 > lim) bad = 1; print bad ? "MISSED" : "MET" }'; }
for b in "${BINS[@]}"; do
    say "   $b:"
    say "     marginal ms per variant, -j $JOBS, fitted over K >= 10 <= 2 ms  $(met "${FIT[$b]}" 2)  (${FIT[$b]}ms)"
    for k in $KS; do say "       marginal at K=$k: ${MARGINAL[$b,$k]}ms"; done
    [[ -n ${K1000[$b]:-} ]] && say "     1,000 variants, -j $JOBS <= 5 s                        $(met "${K1000[$b]}" 5)  (${K1000[$b]}s)"
    say "     bundled scenarios ($TR_TOTAL variants) <= 0.8 s             $(met "${BUNDLED[$b]}" 0.8)  (${BUNDLED[$b]}s)"
    say "     a variant that does nothing, -j 1, marginal <= 3 ms  $(met "${NOTHING[$b]}" 3)  (${NOTHING[$b]}ms)"
done
say "load avg at end $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ -n ${RESULTS:-} ]]; then cp "$SUMMARY" "$RESULTS"; fi
