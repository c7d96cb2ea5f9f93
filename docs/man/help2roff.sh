#!/bin/sh
# help2roff.sh FAKEIDP CMD VERSION OUT: writes the man page of `fakeidp CMD`
# (CMD "-" for fakeidp(1) itself) from its --help text, so the page says
# exactly what the command says. The build runs this for every command.
set -eu
bin=$1 cmd=$2 version=$3 out=$4
if [ "$cmd" = - ]; then
    name=fakeidp; help=$("$bin" --help)
    summary="fake WorkOS AuthKit identity provider and session scenario runner"
    also="fakeidp-serve(1), fakeidp-run(1), fakeidp-lint(1), fakeidp-env(1), fakeidp-inspect(1)"
else
    name=fakeidp-$cmd; help=$("$bin" "$cmd" --help)
    # the command's line in fakeidp --help: "  serve    run the fake WorkOS server"
    summary=$("$bin" --help | sed -n "s/^  $cmd  *//p")
    also="fakeidp(1)"
fi
upper=$(echo "$name" | tr a-z A-Z)
{
    echo ".TH $upper 1 \"\" \"fakeidp $version\" \"User Commands\""
    echo ".SH NAME"
    echo "$name \\- $summary"
    echo ".SH DESCRIPTION"
    echo ".nf"
    # roff: escape backslashes, and protect lines starting with . or '
    printf '%s\n' "$help" | sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
    echo ".fi"
    echo ".SH SEE ALSO"
    echo "$also; /usr/share/doc/fakeidp/ (README.md, scenarios.md, ci.md and the other guides)"
} > "$out.tmp"
mv "$out.tmp" "$out"
