#!/bin/sh
# engine-missing.sh FAKEIDP SCENARIO: --browser chromium without Chromium
# (CHROMIUM names no file) or without node (PATH without it) must not skip
# silently: exit status 3 and a message saying what to install.
set -u
fakeidp=$1
scenario=$2
failed=0
out=$(CHROMIUM=/nonexistent/chromium "$fakeidp" run --seed 1 -j 1 --browser chromium "$scenario" 2>&1)
status=$?
if [ "$status" -ne 3 ] || ! printf '%s\n' "$out" | grep -q "needs Chromium at /nonexistent/chromium: apt-get install chromium"; then
    echo "FAIL no Chromium: exit $status"; printf '%s\n' "$out" | head -5; failed=1
else
    echo "ok   no Chromium: exit 3 and what to install"
fi
bin=$(mktemp -d)
ln -s "$(command -v sh)" "$bin/sh"
out=$(PATH=$bin "$fakeidp" run --seed 1 -j 1 --browser chromium "$scenario" 2>&1)
status=$?
rm -rf "$bin"
if [ "$status" -ne 3 ] || ! printf '%s\n' "$out" | grep -q "needs Node.js"; then
    echo "FAIL no node: exit $status"; printf '%s\n' "$out" | head -5; failed=1
else
    echo "ok   no node: exit 3 and what to install"
fi
exit $failed
