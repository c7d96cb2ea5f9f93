#!/usr/bin/env python3
"""Fails when two source files call each other (docs/HACKING.md: following a
scenario from file to verdict, no module calls back into the one that called
it), and when a library function that must be called through one file is
called from another (CONFINED). Reads the symbols of the compiled objects with nm, so what counts is what
the compiler saw: a function one object defines (T) and another uses (U).

usage: call_graph.py LIBRARY.a|OBJECT.o ...
exit status: 0 no finding, 1 findings (listed), 2 nm failed."""
import collections
import os
import re
import subprocess
import sys


# Library functions only one file may call, and why.
CONFINED = {
    # CivetWeb's library initialisation is not thread-safe inside mg_start:
    # fakeidp/mg_lifecycle.c does it once before any start.
    **dict.fromkeys(('mg_start', 'mg_start2', 'mg_init_library', 'mg_stop'), 'mg_lifecycle.c'),
}

LINE = re.compile(r'^(?:(.*\.a):)?([^:]+\.o):\s*[0-9a-f]*\s+(\w)\s+(\S+)$')


def label(archive, obj):
    """libharness.a's run.c.o -> harness/run.c; .../fakeidp_cli.dir/run.c.o -> fakeidp_cli/run.c
    (files of one name in two places stay apart)."""
    name = os.path.basename(obj).replace('.c.o', '.c')
    if archive:
        return os.path.basename(archive)[3:-2] + '/' + name
    return os.path.basename(os.path.dirname(obj)).replace('.dir', '') + '/' + name


def symbols(paths):
    """(object name, symbol type, symbol) for every symbol of every object."""
    out = subprocess.run(['nm', '-A', '-g', *paths], capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        sys.exit(2)
    for line in out.stdout.splitlines():
        # "lib.a:file.c.o:0000000000000040 T name" or "file.c.o:                 U name"
        match = LINE.match(line)
        if match:
            yield label(match.group(1), match.group(2)), match.group(3), match.group(4)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    defined, used = {}, collections.defaultdict(set)
    for obj, kind, name in symbols(sys.argv[1:]):
        if kind == 'T':
            defined[name] = obj
        elif kind == 'U':
            used[obj].add(name)
    calls = collections.defaultdict(set)  # (caller, callee file) -> functions
    for obj, names in used.items():
        for name in names:
            if name in defined and defined[name] != obj:
                calls[(obj, defined[name])].add(name)
    pairs = sorted({tuple(sorted(k)) for k in calls if (k[1], k[0]) in calls})
    for a, b in pairs:
        print(f'{a} and {b} call each other: {a} uses {", ".join(sorted(calls[(a, b)]))}; '
              f'{b} uses {", ".join(sorted(calls[(b, a)]))}')
    strays = sorted((obj, name) for obj, names in used.items() for name in names
                    if name in CONFINED and not obj.endswith('/' + CONFINED[name]))
    for obj, name in strays:
        print(f'{obj} calls {name}, which only {CONFINED[name]} may call')
    files = len(used.keys() | set(defined.values()))
    print(f'{files} objects, {len(calls)} file-to-file call edges, {len(pairs)} pairs calling each other')
    sys.exit(1 if pairs or strays else 0)


main()
