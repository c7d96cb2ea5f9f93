#!/bin/sh
# HAR import: the committed captures (recorded by record.js with headless
# Chromium against the reference app while F5 and F13 reproduced) become
# scenarios that lint, hold none of the capture's secrets and, run, fail the
# same way production did; the same capture shaped as Firefox and Safari
# export it (no _resourceType, local-time timestamps) gives the same steps;
# bad input gets exit status 2 and a clear message.
fakeidp=$1
dir=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

for name in f05-parallel-refresh f13-oversized-cookie; do
  har="$dir/fixtures/$name.har"
  if "$fakeidp" har "$har" -o "$out/$name.json" 2>"$out/$name.err"; then ok; else bad "$name: har exit $?"; cat "$out/$name.err"; fi
  grep -q "redacted" "$out/$name.err" && ok || bad "$name: stderr does not say what was redacted"
  "$fakeidp" lint "$out/$name.json" >/dev/null && ok || bad "$name: the scenario does not lint"
  python3 "$dir/secrets.py" "$har" "$out/$name.json" && ok || bad "$name: a secret leaked"
  # Same verdict as production: the session is lost.
  "$fakeidp" run --seed 1 --json "$out/$name.result.json" "$out/$name.json" >"$out/$name.console"
  [ $? -eq 1 ] && ok || bad "$name: the replay did not fail"
  grep -q "session: expected it to survive" "$out/$name.console" && ok ||
    bad "$name: the replay failed for another reason"
done
# …and for the same cause.
python3 - "$out" <<'PY' && ok || bad "the replays lost the session for another cause"
import json, sys
out = sys.argv[1]
def texts(name):
    r = json.load(open("%s/%s.result.json" % (out, name)))["results"][0]
    return [e.get("text", "") for e in r["timeline"]]
f05 = texts("f05-parallel-refresh")
refreshes = [t for t in f05 if t.startswith("POST authenticate refresh_token")]
ok5 = len(refreshes) == 3 and sum("-> 200" in t for t in refreshes) == 1 and \
      sum("already_exchanged" in t for t in refreshes) == 2 and \
      len({t.split(" token ")[1].split()[0] for t in refreshes}) == 1
f13 = texts("f13-oversized-cookie")
ok13 = any("over the browsers' 4096-byte limit" in t for t in f13) and \
       any("already_exchanged" in t for t in f13)
print("f05 race reproduced:", ok5, "f13 dropped cookie reproduced:", ok13)
sys.exit(0 if ok5 and ok13 else 1)
PY
# The secrets check can fail: the capture itself is full of secrets.
if python3 "$dir/secrets.py" "$dir/fixtures/f05-parallel-refresh.har" "$dir/fixtures/f05-parallel-refresh.har" >/dev/null; then
  bad "secrets.py found nothing in the capture itself"
else
  ok
fi
# A capture richer in secrets (a password form, bearer headers, tokens in
# response bodies, a code in a Location header): none reaches the scenario,
# and the command counts what it dropped.
python3 "$dir/leaky.py" "$dir/fixtures/f05-parallel-refresh.har" "$out/leaky.har"
"$fakeidp" har "$out/leaky.har" -o "$out/leaky.json" 2>"$out/leaky.err" && ok || bad "leaky: har failed"
python3 "$dir/secrets.py" "$out/leaky.har" "$out/leaky.json" >"$out/leaky.check" && ok ||
  { bad "leaky: a secret leaked"; cat "$out/leaky.check"; }
grep -q "1 request bodies, 2 response bodies, 2 Authorization headers" "$out/leaky.err" && ok ||
  { bad "leaky: the command does not count what it dropped"; cat "$out/leaky.err"; }
# …and the check sees those secrets when they are there.
python3 - "$out/leaky.har" "$out/leaky.json" "$out/planted.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[2]))
doc["description"].append("correct-horse-battery-staple rt_Zm9vYmFyYmF6cXV4cXV1eA 01SECRETCODEVALUE42")
json.dump(doc, open(sys.argv[3], "w"))
PY
n=$(python3 "$dir/secrets.py" "$out/leaky.har" "$out/planted.json" | grep -c '^LEAKED')
[ "$n" -eq 3 ] && ok || bad "secrets.py found $n of 3 planted secrets"
# A sanitized export (Chromium's default drops Cookie and Set-Cookie): the
# command still writes a scenario but warns that it cannot see the cookies.
python3 - "$dir/fixtures/f05-parallel-refresh.har" "$out/sanitized.har" <<'PY'
import json, sys
har = json.load(open(sys.argv[1]))
for e in har["log"]["entries"]:
    for side in ("request", "response"):
        e[side]["headers"] = [h for h in e[side]["headers"]
                              if h["name"].lower() not in ("cookie", "set-cookie", "authorization")]
        e[side]["cookies"] = []
json.dump(har, open(sys.argv[2], "w"))
PY
"$fakeidp" har "$out/sanitized.har" -o "$out/sanitized.json" 2>"$out/sanitized.err" && ok || bad "sanitized: har failed"
grep -q "warning: .*no Cookie or Set-Cookie header.*sanitized" "$out/sanitized.err" && ok ||
  { bad "sanitized: no warning"; cat "$out/sanitized.err"; }
grep -q "sanitized export" "$out/sanitized.json" && ok || bad "sanitized: the description does not say so"
grep -q "  deleted\|left  " "$out/sanitized.err" "$out/sanitized.json" && bad "sanitized: a blank cookie name" || ok
grep -q "warning" "$out/f05-parallel-refresh.err" && bad "a full capture got the sanitized warning" || ok
# Firefox and Safari exports: no _resourceType, times with a UTC offset.
python3 - "$dir/fixtures/f05-parallel-refresh.har" "$out/firefox.har" <<'PY'
import json, sys
from datetime import datetime, timedelta, timezone
har = json.load(open(sys.argv[1]))
for e in har["log"]["entries"]:
    e.pop("_resourceType", None)
    t = datetime.fromisoformat(e["startedDateTime"].replace("Z", "+00:00"))
    e["startedDateTime"] = t.astimezone(timezone(timedelta(hours=1))).isoformat(timespec="milliseconds")
har["log"]["creator"] = {"name": "Firefox", "version": "140"}
json.dump(har, open(sys.argv[2], "w"))
PY
"$fakeidp" har "$out/firefox.har" --name har-f05-parallel-refresh -o "$out/firefox.json" 2>/dev/null
python3 -c "
import json, sys
a = json.load(open('$out/f05-parallel-refresh.json'))['steps']
b = json.load(open('$out/firefox.json'))['steps']
sys.exit(0 if a == b else 1)" && ok || bad "a Firefox-shaped export gives other steps"
# Bad input.
"$fakeidp" har "$dir/fixtures/no-auth.har" >"$out/none.out" 2>"$out/none.err"
[ $? -eq 2 ] && ok || bad "no auth traffic: exit status not 2"
grep -q "no auth traffic" "$out/none.err" && ok || bad "no auth traffic: unclear message"
[ -s "$out/none.out" ] && bad "no auth traffic: wrote a scenario" || ok
printf '{"not": "a har"}' >"$out/x.har"
"$fakeidp" har "$out/x.har" >/dev/null 2>"$out/x.err"
[ $? -eq 2 ] && grep -q "not a HAR" "$out/x.err" && ok || bad "not a HAR: no clear error"
printf '{"log": ' >"$out/broken.har"
"$fakeidp" har "$out/broken.har" >/dev/null 2>"$out/broken.err"
[ $? -eq 2 ] && grep -q "broken.har:1:" "$out/broken.err" && ok || bad "broken JSON: no file:line:col"
"$fakeidp" har >/dev/null 2>&1
[ $? -eq 2 ] && ok || bad "no argument: exit status not 2"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
