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

# Numbers are parsed strictly: usage errors, exit 2, naming the option.
for args in "serve --port 12ab" "serve --port abc" "serve --port ''" "serve --port -1" \
            "serve --threads x" "serve --threads 0" "serve --seed 1x" "run --jobs x" "run --repeat 2x" \
            "run --seed -5"; do
  eval "set -- $args"
  timeout 10 "$fakeidp" "$@" >/dev/null 2>"$work/num"
  [ $? -eq 2 ] && grep -q "takes a whole number" "$work/num" && ok || bad "strict number: $args: $(cat "$work/num")"
done
"$fakeidp" --help | grep -q -- "--version" && ok || bad "--version in --help"
"$fakeidp" --version | grep -Eq '^fakeidp [0-9]' && ok || bad "--version"

# An admin token that does not fit is refused, not cut (its prefix must not pass).
long=$(printf 'k%.0s' $(seq 200))
timeout 10 "$fakeidp" serve --port 0 --no-key-cache --admin-token "$long" >/dev/null 2>"$work/tok"
[ $? -eq 2 ] && grep -q "admin token is 200 bytes" "$work/tok" && ok || bad "long admin token: $(cat "$work/tok")"

# A host name that merely starts with 127. is not loopback.
timeout 10 "$fakeidp" serve --host 127.example.com --port 0 --no-key-cache >/dev/null 2>"$work/h127"
[ $? -ne 0 ] && grep -q "allow-remote" "$work/h127" && ok || bad "127.example.com counted as loopback: $(cat "$work/h127")"

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

# inspect takes an Authorization header value and standard input.
"$fakeidp" inspect "Bearer $token" --jwks "$url/sso/jwks/$c" 2>&1 | grep -q '"signature": "valid"' && ok || bad "inspect 'Bearer …'"
echo "$token" | timeout 10 "$fakeidp" inspect --jwks "$url/sso/jwks/$c" 2>&1 | grep -q '"signature": "valid"' && ok || bad "inspect from stdin"
printf 'Authorization: Bearer %s\n' "$token" | timeout 10 "$fakeidp" inspect - 2>&1 | grep -q '"claims"' && ok || bad "inspect - with a header line"
# A JWKS that cannot be had says why.
"$fakeidp" inspect "$token" --jwks "$url/sso/jwks/nope/nope" >/dev/null 2>"$work/jw1"
[ $? -eq 2 ] && grep -q "answered 404" "$work/jw1" && ok || bad "inspect JWKS 404: $(cat "$work/jw1")"
"$fakeidp" inspect "$token" --jwks "http://127.0.0.1:1/jwks" >/dev/null 2>"$work/jw2"
[ $? -eq 2 ] && grep -qi "cannot fetch http://127.0.0.1:1/jwks: .*connect" "$work/jw2" && ok || bad "inspect JWKS unreachable: $(cat "$work/jw2")"
"$fakeidp" inspect "$token" --jwks "$url/.well-known/openid-configuration" >/dev/null 2>"$work/jw3"
[ $? -eq 2 ] && grep -q 'not a key set' "$work/jw3" && ok || bad "inspect JWKS not a key set: $(cat "$work/jw3")"

# A port in use says so.
port=${url##*:}
timeout 10 "$fakeidp" serve --port "$port" --no-key-cache >/dev/null 2>"$work/inuse"
[ $? -ne 0 ] && grep -qi "address already in use" "$work/inuse" && ok || bad "port in use: $(cat "$work/inuse")"

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
