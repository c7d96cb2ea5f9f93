#!/bin/sh
# After the lifecycle scenarios: no process an app started may be left.
# usage: after.sh WORK_DIR (examples/run-example.sh passes it)
set -eu
left=0
for f in "$1"/pids/*; do
    [ -e "$f" ] || continue
    pid=$(basename "$f")
    if [ -r "/proc/$pid/stat" ] && ! grep -q ') Z' "/proc/$pid/stat"; then
        echo "left behind: pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" >&2
        left=1
    fi
done
count=$(ls "$1"/pids 2>/dev/null | wc -l)
if [ "$count" -lt 3 ]; then
    echo "after.sh: only $count app processes were recorded; expected more" >&2
    exit 1
fi
[ $left -eq 0 ] && echo "after.sh: none of the $count processes the apps started is left"
exit $left
