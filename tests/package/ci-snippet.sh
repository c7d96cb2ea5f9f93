#!/bin/sh
# ci-snippet.sh SOURCE_DIR: docs/ci.md's "Build or install fakeidp" snippet,
# run as written. The first ```sh block after that heading is extracted and
# every line runs in a scratch folder, except `apt-get` (scripts/deps.sh
# installs the packages) and `git clone` (fakeidp-src/ is a copy of the
# working tree instead). DESTDIR makes `cmake --install` land in the scratch
# folder, and the installed fakeidp runs the last line (`fakeidp --version`).
set -eu
src=$(cd "$1" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/fakeidp-snippet-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }

awk '/^## Build or install fakeidp/ {h = 1; next}
     h && /^```sh$/ {b = 1; next}
     b && /^```$/ {exit}
     b {print}' "$src/docs/ci.md" > "$work/snippet.sh"
grep -q '^cmake --install fakeidp-src/build$' "$work/snippet.sh" || fail "no install line in the snippet"
grep -v -e '^apt-get ' -e '^git clone ' "$work/snippet.sh" > "$work/run.sh"
echo "running docs/ci.md's snippet:"; sed 's/^/  /' "$work/run.sh"

mkdir "$work/fakeidp-src"
tar -C "$src" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$work/fakeidp-src" -xf -
export DESTDIR="$work/root"
# -j"$(nproc)" as written, but never more than the machine's two shared cores here
mkdir "$work/bin"; printf '#!/bin/sh\necho 2\n' > "$work/bin/nproc"; chmod +x "$work/bin/nproc"
# the snippet's last line runs the installed fakeidp
PATH="$work/bin:$DESTDIR/usr/local/bin:$PATH"
cd "$work"
nice sh -eu "$work/run.sh" > "$work/log" 2>&1 || { tail -30 "$work/log" >&2; fail "the snippet failed"; }
[ -x "$DESTDIR/usr/local/bin/fakeidp" ] || fail "the snippet installed no fakeidp in /usr/local/bin"
[ -s "$DESTDIR/usr/local/share/man/man1/fakeidp-run.1" ] || fail "no man page installed"
[ -s "$DESTDIR/usr/local/share/fakeidp/schema.json" ] || fail "no schema.json installed"
tail -1 "$work/log"
echo "ok: docs/ci.md's build snippet builds and installs fakeidp"
