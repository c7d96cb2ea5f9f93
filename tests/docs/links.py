#!/usr/bin/env python3
"""Documentation links: every relative link in README.md, scenarios/README.md
and docs/*.md names a file that exists and, for a link into a Markdown
file with a #fragment, a heading with that anchor (GitHub's slugs); every
docs/*.md page is listed in README.md's documentation table.

usage: links.py ROOT
Prints one line per broken link; exit 1 when any."""
import os
import re
import sys

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slugs(path):
    out = set()
    in_code = False
    for line in open(path, encoding="utf-8"):
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line.startswith("#"):
            continue
        title = line.lstrip("#").strip().lower()
        slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
        base, n = slug, 1
        while slug in out:
            slug = "%s-%d" % (base, n)
            n += 1
        out.add(slug)
    return out


def main():
    root = sys.argv[1]
    pages = ["README.md", "scenarios/README.md"] + sorted(
        "docs/" + f for f in os.listdir(os.path.join(root, "docs")) if f.endswith(".md"))
    bad = []
    for page in pages:
        text = open(os.path.join(root, page), encoding="utf-8").read()
        text = re.sub(r"```.*?```", "", text, flags=re.S)  # links in code are examples
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path, _, frag = target.partition("#")
            full = os.path.normpath(os.path.join(root, os.path.dirname(page), path))
            if not os.path.exists(full):
                bad.append("%s: %s: no such file" % (page, target))
            elif frag and full.endswith(".md") and frag not in slugs(full):
                bad.append("%s: %s: no heading #%s" % (page, target, frag))
    readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
    for page in pages:
        if page.startswith("docs/") and "](%s)" % page not in readme:
            bad.append("README.md does not list %s" % page)
    for b in bad:
        print("FAIL " + b)
    print("%d pages, %d broken links" % (len(pages), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
