#!/usr/bin/env python3
"""Structural check of fakeidp's HTML report.

usage: html_check.py REPORT.html RESULTS.json [JUNIT.xml]

- the file parses, every element is closed in order (void elements aside);
- it is self-contained: no <link>, no script or image source, no url() in
  the style, no http(s) address in any attribute;
- every variant of RESULTS.json has an overview row and a section, with its
  verdict written out;
- the lane headers are there;
- for f05's strict-no-dedupe variant (when present): one group of three
  concurrent requests, each with an app -> IdP refresh presenting the same
  refresh-token hash, the IdP answering one 200 and two 400s, and the last
  response to land deleting the session cookie;
- the JUnit file, when given, links every testcase to an anchor that exists.
Prints one line per failed check; exit 1 when any failed.
"""
import json
import re
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "area", "base", "source"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent = tag, dict(attrs), parent
        self.children, self.parts = [], []  # parts: text and children, in order

    def cls(self):
        return (self.attrs.get("class") or "").split()

    def all(self):
        yield self
        for c in self.children:
            yield from c.all()

    def find(self, pred):
        return [n for n in self.all() if pred(n)]

    def content(self):
        return "".join(p if isinstance(p, str) else p.content() for p in self.parts)


class Tree(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", [], None)
        self.cur = self.root
        self.errors = []
        self.style = ""
        self.in_style = False

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.cur)
        self.cur.children.append(node)
        self.cur.parts.append(node)
        if tag not in VOID:
            self.cur = node
        self.in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if self.cur.tag != tag:
            self.errors.append("line %d: </%s> closes <%s>" % (self.getpos()[0], tag, self.cur.tag))
            return
        self.cur = self.cur.parent
        self.in_style = False

    def handle_data(self, data):
        self.cur.parts.append(data)
        if self.in_style:
            self.style += data


failures = []


def check(cond, message):
    if not cond:
        failures.append(message)
    return cond


def anchor(r):
    name = "%s--%s" % (r["scenario"], r["variant"])
    if r.get("repeat"):
        name += "--%d" % (r["repeat"] + 1)
    return "v-" + re.sub(r"[^A-Za-z0-9_-]", "_", name)


def main():
    html_path, results_path = sys.argv[1], sys.argv[2]
    text = open(html_path, encoding="utf-8").read()
    results = json.load(open(results_path))
    tree = Tree()
    tree.feed(text)
    tree.close()
    check(not tree.errors, "the HTML does not nest: " + "; ".join(tree.errors[:3]))
    check(tree.cur is tree.root, "unclosed element <%s>" % tree.cur.tag)
    check(text.startswith("<!DOCTYPE html>"), "no doctype")
    root = tree.root
    # Self-contained.
    check(not root.find(lambda n: n.tag == "link"), "a <link> element")
    check(not root.find(lambda n: n.tag in ("img", "iframe", "script") and "src" in n.attrs),
          "an element loads a source")
    check("url(" not in tree.style and "@import" not in tree.style, "the style fetches something")
    for n in root.all():
        for k, v in n.attrs.items():
            check(not (v and re.match(r"\s*(https?:)?//", v)),
                  "<%s %s=%s> points to the network" % (n.tag, k, v))
    # Every variant.
    ids = {n.attrs.get("id"): n for n in root.all() if n.attrs.get("id")}
    rows = root.find(lambda n: n.tag == "tr" and "data-verdict" in n.attrs)
    check(len(rows) == len(results["results"]),
          "%d overview rows for %d variants" % (len(rows), len(results["results"])))
    for r in results["results"]:
        a = anchor(r)
        sec = ids.get(a)
        if not check(sec is not None and sec.tag == "section", "no section #" + a):
            continue
        verdict = "PASS" if r["passed"] else "FAIL"
        check(sec.attrs.get("data-verdict") == verdict.lower(), a + ": wrong data-verdict")
        h2 = sec.find(lambda n: n.tag == "h2")
        check(h2 and verdict in h2[0].content(), a + ": the heading does not say " + verdict)
        heads = [n.content() for n in sec.find(lambda n: "hd" in n.cls())]
        for lane in ("browser", "app", "backend", "IdP", "cookie jar"):
            check(lane in heads, a + ": no lane " + lane)
        check(any(("#" + a) == n.attrs.get("href") for n in rows[0].parent.find(lambda n: n.tag == "a")),
              a + ": no overview link")
        for failure in r["failures"][:1]:
            boxes = [n.content() for n in sec.find(lambda n: "fail" in n.cls())]
            check(any("FIRST FAILED EXPECTATION" in b and failure in b for b in boxes),
                  a + ": the first failed expectation is not drawn")
        check("--seed %d" % results["seed"] in sec.content(), a + ": no replay command with the seed")
    check(str(results["seed"]) in ids.get("seed").content() if "seed" in ids else False,
          "the run's seed is not shown")
    # f05: the race.
    race = ids.get("v-f05-parallel-refresh-spends-one-token--strict-no-dedupe")
    if race is not None:
        groups = race.find(lambda n: "par" in n.cls())
        if check(len(groups) >= 1, "f05: no group of concurrent requests"):
            g = groups[0]
            check(g.attrs.get("data-concurrent") == "3", "f05: the group holds %s requests, not 3"
                  % g.attrs.get("data-concurrent"))
            cols = g.find(lambda n: "col" in n.cls())
            check(len(cols) == 3, "f05: %d columns side by side, not 3" % len(cols))
            hashes, statuses = [], []
            for col in cols:
                calls = col.find(lambda n: "call" in n.cls())
                rets = col.find(lambda n: "ret" in n.cls())
                for c in calls:
                    toks = [t.content() for t in c.find(lambda n: "tok" in n.cls())]
                    if "refresh_token" in c.content() and toks:
                        hashes.append(toks[0])
                # The IdP's answer is the first return arrow after the call.
                idp = [r.content() for r in rets if "#" not in r.content()]
                statuses += [int(re.match(r"\s*(\d+)", s).group(1)) for s in idp]
            check(len(hashes) == 3 and len(set(hashes)) == 1 and hashes[0].startswith("RT "),
                  "f05: refresh-token hashes %s, expected three of the same" % hashes)
            check(sorted(statuses) == [200, 400, 400], "f05: IdP statuses %s, expected 200, 400, 400"
                  % statuses)
            last = cols[-1].find(lambda n: "setck" in n.cls())
            check(last and last[-1].attrs.get("data-change") == "deleted",
                  "f05: the last response to land does not delete the cookie")
            check("landed 3 of 3" in cols[-1].content(), "f05: the landing order is not written")
    # JUnit links.
    if len(sys.argv) > 3:
        suites = ET.parse(sys.argv[3]).getroot()
        cases = suites.findall(".//testcase")
        check(len(cases) == len(results["results"]), "junit: %d testcases" % len(cases))
        for case in cases:
            props = [p.get("value") for p in case.findall("./properties/property")
                     if p.get("name") == "html_report"]
            if check(len(props) == 1, "junit: %s has no html_report property" % case.get("name")):
                frag = props[0].split("#", 1)[1]
                check(frag in ids, "junit: %s links to #%s, not in the HTML" % (case.get("name"), frag))
            out = case.find("system-out")
            check(out is not None and "#" in (out.text or ""), "junit: %s has no link line" % case.get("name"))
    for f in failures:
        print("FAIL " + f)
    # The last line tells a finished check from a crash.
    print("%d checks failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
