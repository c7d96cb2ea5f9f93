#!/bin/sh
# run.sh BUILD_DIR: the installed fakeidp works from its installed files alone.
# Builds the .deb with CPack and unpacks it into a scratch root with dpkg -x
# (FAKEIDP_PACKAGE_DEB=0, or no dpkg-deb: cmake --install --prefix instead),
# checks that the binary, a man page per command, schema.json, the scenarios
# and the docs are there, then runs the installed scenarios with the installed
# binary (from a folder outside the source tree) and checks the exit status.
set -eu
build=$1
root=$(mktemp -d "${TMPDIR:-/tmp}/fakeidp-pkg-XXXXXX")
trap 'rm -rf "$root"' EXIT INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }

deb_mode=${FAKEIDP_PACKAGE_DEB:-1}
command -v dpkg-deb >/dev/null || deb_mode=0
if [ "$deb_mode" = 1 ]; then
    (cd "$build" && cpack -G DEB -B "$root/pkg" >/dev/null) || fail "cpack -G DEB"
    deb=$(ls "$root"/pkg/fakeidp_*.deb) || fail "no .deb built"
    dpkg-deb -f "$deb" Depends | grep -q libcivetweb1 || fail "the .deb does not depend on libcivetweb1"
    dpkg -x "$deb" "$root/inst" || fail "dpkg -x $deb"
    echo "package: $(basename "$deb")"
    prefix=$root/inst/usr
else
    cmake --install "$build" --prefix "$root/inst/usr" >/dev/null || fail "cmake --install"
    prefix=$root/inst/usr
fi

for f in bin/fakeidp share/fakeidp/schema.json share/doc/fakeidp/README.md share/doc/fakeidp/ci.md \
         share/man/man1/fakeidp.1; do
    [ -s "$prefix/$f" ] || fail "not installed: $f"
done
for cmd in serve run lint env inspect; do
    page=$prefix/share/man/man1/fakeidp-$cmd.1
    [ -s "$page" ] || fail "no man page for $cmd"
    # the page carries the command's own usage line
    usage=$("$prefix/bin/fakeidp" "$cmd" --help | head -1)
    grep -qF -- "$usage" "$page" || fail "fakeidp-$cmd.1 does not match 'fakeidp $cmd --help'"
done
n=$(ls "$prefix/share/fakeidp/scenarios"/*.json | wc -l)
[ "$n" -ge 20 ] || fail "only $n scenarios installed"
[ ! -e "$prefix/share/fakeidp/scenarios/schema.json" ] || fail "schema.json among the scenarios"

# From the installed files only: a folder that is not the source tree.
cd "$root"
"$prefix/bin/fakeidp" lint "$prefix/share/fakeidp/scenarios" >/dev/null || fail "lint of the installed scenarios"
status=0
"$prefix/bin/fakeidp" run --seed 1 -j 2 --timeout 60s "$prefix/share/fakeidp/scenarios" \
    > "$root/run.log" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
    tail -40 "$root/run.log" >&2
    fail "fakeidp run of the installed scenarios exited $status"
fi
tail -1 "$root/run.log"
echo "ok: installed fakeidp ran $n scenario files from $prefix/share/fakeidp/scenarios"
