#!/bin/sh
# run.sh FAKEIDP SCENARIOS: `fakeidp run --shard auto` under GitLab's,
# CircleCI's and Buildkite's parallel-job variables, 3 shards each, with and
# without --shard-timings: the union of the shards' --json reports is the
# whole set with no duplicate. Without variables: one shard, said on stderr;
# malformed variables are a usage error (exit 2).
set -eu
fakeidp=$1 scenarios=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/fakeidp-shard-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }
ci_vars="CI_NODE_INDEX CI_NODE_TOTAL CIRCLE_NODE_INDEX CIRCLE_NODE_TOTAL BUILDKITE_PARALLEL_JOB BUILDKITE_PARALLEL_JOB_COUNT"
unset $ci_vars

# "scenario/variant" per line from a --json report (result members are at indent 6)
names() {
    awk '/^      "scenario": / {s = $2} /^      "variant": / {print s "/" $2}' "$@" | tr -d '",'
}

run() { # run NAME [VAR=VALUE...] -- [more options]: one shard, its report in $work/NAME.json
    name=$1; shift
    set -- env "$@"
    status=0
    "$@" "$fakeidp" run --seed 1 -j 2 --shard auto $extra --json "$work/$name.json" "$scenarios" \
        > "$work/$name.out" 2> "$work/$name.err" || status=$?
    [ "$status" -eq 0 ] || { cat "$work/$name.err" >&2; fail "$name exited $status"; }
}

# the whole set, one shard: no variables
extra=
run all
grep -q "no CI parallel-job variables" "$work/all.err" || fail "no note on stderr without CI variables"
names "$work/all.json" | sort > "$work/all.names"
total=$(wc -l < "$work/all.names")
[ "$total" -ge 10 ] || fail "only $total variants in the whole set"

check_union() { # check_union LABEL FILES...: every variant exactly once
    label=$1; shift
    names "$@" | sort > "$work/union.names"
    dup=$(uniq -d "$work/union.names" | head -3)
    [ -z "$dup" ] || fail "$label: in two shards: $dup"
    cmp -s "$work/union.names" "$work/all.names" || {
        diff "$work/all.names" "$work/union.names" | head >&2; fail "$label: the union is not the whole set"; }
    for f in "$@"; do
        [ "$(names "$f" | wc -l)" -lt "$total" ] || fail "$label: $f holds every variant"
    done
    echo "ok: $label: 3 shards, $total variants, each exactly once"
}

for timings in no yes; do
    extra=
    [ "$timings" = no ] || extra="--shard-timings $work/all.json"
    for i in 1 2 3; do run gitlab$i CI_NODE_INDEX=$i CI_NODE_TOTAL=3; done
    grep -q "shard 2/3 from GitLab" "$work/gitlab2.err" || fail "GitLab index 2 is not shard 2/3"
    check_union "GitLab (timings: $timings)" "$work"/gitlab?.json
    for i in 0 1 2; do run circle$i CIRCLE_NODE_INDEX=$i CIRCLE_NODE_TOTAL=3; done
    grep -q "shard 1/3 from CircleCI" "$work/circle0.err" || fail "CircleCI index 0 is not shard 1/3"
    check_union "CircleCI (timings: $timings)" "$work"/circle?.json
    for i in 0 1 2; do run bk$i BUILDKITE_PARALLEL_JOB=$i BUILDKITE_PARALLEL_JOB_COUNT=3; done
    check_union "Buildkite (timings: $timings)" "$work"/bk?.json
    # the same CI index gives the same shard whichever system says it
    names "$work/gitlab1.json" > "$work/a"; names "$work/circle0.json" > "$work/b"
    cmp -s "$work/a" "$work/b" || fail "GitLab 1/3 and CircleCI 0/3 differ (timings: $timings)"
done

# malformed variables and timings: usage errors
status=0
env CI_NODE_INDEX=0 CI_NODE_TOTAL=3 "$fakeidp" run --shard auto "$scenarios" >/dev/null 2>"$work/bad.err" || status=$?
[ "$status" -eq 2 ] && grep -q "GitLab" "$work/bad.err" || fail "CI_NODE_INDEX=0 (GitLab is 1-based): exit $status"
status=0
echo '{"total": 0}' > "$work/not-a-report.json"
"$fakeidp" run --shard 1/2 --shard-timings "$work/not-a-report.json" "$scenarios" >/dev/null 2>&1 || status=$?
[ "$status" -eq 2 ] || fail "--shard-timings with a file that is not a report: exit $status"
echo "ok: --shard auto and --shard-timings"
