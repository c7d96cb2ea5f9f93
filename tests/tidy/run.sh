#!/bin/sh
# clang-tidy with the repository's .clang-tidy (the bugprone and
# clang-analyzer families) over every source file of the library, the
# harness and the CLI in the build's compile_commands.json: zero findings.
# run.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1 src=$2
command -v clang-tidy >/dev/null 2>&1 || {
    echo "clang-tidy is missing: scripts/deps.sh --test installs it (Debian package clang-tidy)" >&2
    [ "${CI:-}" = true ] && exit 1 || exit 77
}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
python3 - "$build/compile_commands.json" "$src" > "$out.files" <<'PY'
import json, sys
src = sys.argv[2].rstrip("/") + "/"
files = sorted({e["file"] for e in json.load(open(sys.argv[1]))
                if e["file"].startswith(src) and "/tests/" not in e["file"][len(src) - 1:]})
print("\n".join(files))
PY
count=$(wc -l < "$out.files")
[ "$count" -ge 40 ] || { echo "only $count files in compile_commands.json" >&2; rm -f "$out.files"; exit 1; }
xargs -P "$(nproc)" -n 4 clang-tidy -p "$build" --quiet --extra-arg=-Wno-unknown-warning-option < "$out.files" > "$out" 2>/dev/null || true
rm -f "$out.files"
findings=$(grep -E "(warning|error):" "$out" | sort -u || true)
if [ -n "$findings" ]; then
    printf '%s\n' "$findings"
    echo "clang-tidy: $(printf '%s\n' "$findings" | wc -l) findings in $count files"
    exit 1
fi
echo "clang-tidy: $count files, 0 findings"
