#!/bin/sh
# The fakeidp command line: help texts, serve's first line, TLS, the
# loopback-only default, the admin token, env and inspect.
fakeidp=$1
work=$(mktemp -d)
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

# serve in the background; waits for "listening on URL" and sets $url.
serve_count=0
serve() {
  serve_count=$((serve_count + 1))
  out="$work/out.$serve_count"
  "$fakeidp" serve --port 0 --no-key-cache "$@" >"$out" 2>"$work/err" &
  pids="$pids $!"
  url=""
  i=0
  while [ $i -lt 100 ] && [ -z "$url" ]; do
    url=$(sed -n 's/^listening on //p' "$out" 2>/dev/null)
    [ -z "$url" ] && sleep 0.05
    i=$((i + 1))
  done
}

for cmd in serve run lint env inspect; do
  if "$fakeidp" "$cmd" --help | grep -q "usage: fakeidp $cmd"; then ok; else bad "$cmd --help"; fi
done
"$fakeidp" --help | grep -q "commands:" && ok || bad "fakeidp --help"
"$fakeidp" nosuch >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "unknown command exits 2"
"$fakeidp" serve --port 99999 >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "bad port exits 2"

# Loopback only unless told otherwise.
"$fakeidp" serve --host 0.0.0.0 --port 0 --no-key-cache >/dev/null 2>"$work/remote"
[ $? -ne 0 ] && grep -q "allow-remote" "$work/remote" && ok || bad "non-loopback bind refused"

# A configuration error names the file and the problem, exit 2.
echo '{"clients":[{"id":"a","bogus":1}]}' >"$work/bad.json"
"$fakeidp" serve --port 0 --no-key-cache --config "$work/bad.json" >/dev/null 2>"$work/cfg"
[ $? -eq 2 ] && grep -q 'bad.json: clients\[0\]: unknown key "bogus"' "$work/cfg" && ok || bad "config error"
echo '{"clients": [' >"$work/broken.json"
"$fakeidp" serve --port 0 --no-key-cache --config "$work/broken.json" >/dev/null 2>"$work/cfg2"
[ $? -eq 2 ] && grep -Eq 'broken.json:[0-9]+:[0-9]+: ' "$work/cfg2" && ok || bad "config parse error position"

# The admin token is required when set.
serve --admin-token sekret
case "$url" in http://127.0.0.1:*) ok ;; *) bad "serve first line: $url" ;; esac
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/_fakeidp/clock")
[ "$code" = 401 ] && ok || bad "admin without token: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer sekret' "$url/_fakeidp/clock")
[ "$code" = 200 ] && ok || bad "admin with token: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/sso/jwks/client_01FAKE1DPC0000000000000000")
[ "$code" = 200 ] && ok || bad "WorkOS routes need no admin token: $code"

# inspect: a real token verifies against the fake's JWKS; a tampered one does not.
c=client_01FAKE1DPC0000000000000000
k=sk_test_fakeidp_0000000000000000000000000000
loc=$(curl -s -o /dev/null -w '%{redirect_url}' "$url/user_management/authorize?client_id=$c&redirect_uri=http://localhost:3000/cb&response_type=code&provider=authkit")
code=$(echo "$loc" | sed 's/.*code=\([^&]*\).*/\1/')
body=$(curl -s -X POST "$url/user_management/authenticate" -H 'Content-Type: application/json' \
  -d "{\"grant_type\":\"authorization_code\",\"client_id\":\"$c\",\"client_secret\":\"$k\",\"code\":\"$code\"}")
token=$(echo "$body" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
"$fakeidp" inspect "$token" --jwks "$url/sso/jwks/$c" >"$work/inspect" && grep -q '"signature": "valid"' "$work/inspect" && ok || bad "inspect valid token"
tampered=$(echo "$token" | sed 's/\.\(.\)/.X\1/')
"$fakeidp" inspect "$tampered" --jwks "$url/sso/jwks/$c" >/dev/null 2>&1; [ $? -ne 0 ] && ok || bad "inspect tampered token"

# env points an SDK at the fake.
"$fakeidp" env --url "$url" >"$work/env"
grep -q "^export WORKOS_API_HTTPS='false'" "$work/env" && grep -q "^export WORKOS_CLIENT_ID='$c'" "$work/env" && ok || bad "env output"
pw=$(sed -n "s/^export WORKOS_COOKIE_PASSWORD='\(.*\)'/\1/p" "$work/env")
[ ${#pw} -ge 32 ] && ok || bad "env cookie password length ${#pw}"

# TLS with a self-signed certificate (fakeidp's own TLS front).
if openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/tls.key" -out "$work/tls.crt" \
     -subj /CN=localhost -days 1 >/dev/null 2>&1; then
  cat "$work/tls.crt" "$work/tls.key" >"$work/tls.pem"
  serve --tls "$work/tls.pem"
  case "$url" in https://*) ok ;; *) bad "TLS url: $url $(cat "$work/err")" ;; esac
  code=$(curl -sk -o /dev/null -w '%{http_code}' "$url/sso/jwks/$c")
  [ "$code" = 200 ] && ok || bad "JWKS over TLS: $code"
  code=$(curl -sk -o /dev/null -w '%{http_code}' -X POST "$url/user_management/authenticate" \
    -H 'Content-Type: application/json' -d '{"grant_type":"refresh_token","client_id":"'$c'","refresh_token":"nope"}')
  [ "$code" = 400 ] && ok || bad "authenticate over TLS: $code"
  echo "not a pem" >"$work/bad.pem"
  "$fakeidp" serve --port 0 --no-key-cache --tls "$work/bad.pem" >/dev/null 2>"$work/tlserr"
  [ $? -ne 0 ] && grep -q "bad.pem" "$work/tlserr" && ok || bad "bad TLS file reported"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
