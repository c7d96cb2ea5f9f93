#!/usr/bin/env python3
"""Structural check of fakeidp's HTML report.

usage: html_check.py REPORT.html RESULTS.json [JUNIT.xml]

- the file parses, every element is closed in order (void elements aside);
- it is self-contained: no <link>, no script or image source, no url() in
  the style, no http(s) address in any attribute;
- the overview gives the run's seed and a replay command with every
  scenario file;
- every variant of RESULTS.json has an overview row and a section, with its
  verdict written out;
- the lane headers are there: a browser lane per tab and an app lane per
  instance that the variant's timeline (in RESULTS.json) names, the backend
  and the IdP;
- every browser request of a variant's timeline has one arrow, from its
  tab's lane, to the app instance that served it, labelled with the access
  token it showed (bearer header or session cookie);
- readable without colour and printable: every token chip is labelled
  (AT/RT/code and its hash), every status chip holds its number, a print
  style exists;
- for f05's strict-no-dedupe variant (required when RESULTS.json has it):
  one group of three concurrent requests drawn after a "+6m" gap, each
  request showing the same access-token hash, each with an app -> IdP
  refresh presenting the same refresh-token hash (labelled "×3"), the
  barrier's fault marked on the IdP's answers, the IdP answering one 200
  and two 400s, the app's "-> refresh" line in the app lane, the last
  response to land deleting the session cookie and the cookie jar after
  the group showing it deleted and changed;
- for report-lanes (two app instances), when present: two app lanes and
  the race's two requests going to different instances;
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


def lane_of(node):
    m = re.match(r"grid-column:(\d+)", node.attrs.get("style", ""))
    return int(m.group(1)) if m else None


def check_race(race):
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
        heads = [n.content() for n in race.find(lambda n: "hd" in n.cls())]
        app = heads.index("app")  # its column in a block's grid (time is not there)
        ats, faults = [], 0
        for col in cols:
            req = col.find(lambda n: "req" in n.cls() and "arr" in n.cls())
            ats += [t.content() for t in req[0].find(lambda n: "tok" in n.cls())] if req else []
            faults += sum(1 for r in col.find(lambda n: "ret" in n.cls())
                          if r.find(lambda n: "fault" in n.cls()))
            logs = [n for n in col.find(lambda n: "log" in n.cls()) if "-> refresh" in n.content()]
            check(len(logs) == 1 and lane_of(logs[0]) == app,
                  "f05: the app's refresh line is not in the app lane")
        check(len(ats) == 3 and len(set(ats)) == 1 and ats[0].startswith("AT "),
              "f05: access-token hashes %s, expected three of the same" % ats)
        check(faults == 3, "f05: the barrier's fault is marked on %d IdP answers, not 3" % faults)
        check(all(h.endswith(" ×3") for h in hashes), "f05: the refresh token does not say ×3")
        # The gap before the race, and the jar after it.
        kids = g.parent.children
        before = kids[:kids.index(g)]
        gaps = [n for n in before if "gap" in n.cls()]
        check(gaps and gaps[-1].attrs.get("data-gap-ms") == "360000" and
              gaps[-1].content().startswith("+6m"), "f05: no '+6m' gap before the race")
        after = kids[kids.index(g) + 1]
        jar = after.find(lambda n: "ck" in n.cls() and "wos-session" in n.content())
        check(after.cls() == ["jarcell"] and jar and {"chg", "del"} <= set(jar[0].cls()) and
              "deleted" in jar[0].content(), "f05: the jar after the race does not show "
              "wos-session deleted and changed")


def check_requests(a, sec, tl, heads):
    """Every browser request of the timeline has its arrow: from its tab's
    lane, to the instance that served it, with the access token it showed."""
    arrows = {}
    for n in sec.find(lambda n: "req" in n.cls() and "arr" in n.cls()):
        m = re.match(r"#(\d+) ", n.content())
        if m:
            arrows.setdefault(int(m.group(1)), []).append(n)
    served = {e["req"]: e["instance"] for e in tl if e.get("kind") == "served"}
    shown = {e["req"]: e["access_token"] for e in tl if e.get("kind") == "presented"}
    for e in tl:
        if e.get("kind") != "request":
            continue
        req = e["req"]
        found = arrows.get(req, [])
        if not check(len(found) == 1, "%s: request #%d has %d arrows" % (a, req, len(found))):
            continue
        m = re.match(r"grid-column:(\d+)/(\d+)", found[0].attrs.get("style", ""))
        start, end = int(m.group(1)), int(m.group(2)) - 1  # heads[i] is lane i-1's; time is heads[0]
        want = "browser tab " + e["tab"] if e.get("tab") else heads[1]
        check(heads[start] == want, "%s: request #%d starts in %s, not %s" % (a, req, heads[start], want))
        if req in served:
            # one lane "app" when only instance 0 shows up, as the report draws it
            multi = any(isinstance(x.get("instance"), int) and x["instance"] > 0 for x in tl)
            want = "app instance %d" % (served[req] + 1) if multi else "app"
            check(heads[end] == want, "%s: request #%d ends in %s, not %s" % (a, req, heads[end], want))
        token = e.get("access_token") or shown.get(req)
        if token:
            chips = [t.content() for t in found[0].find(lambda n: "tok" in n.cls())]
            check("AT " + token in chips, "%s: request #%d does not show AT %s" % (a, req, token))


def check_instances(sec):
    heads = [n.content() for n in sec.find(lambda n: "hd" in n.cls())]
    groups = sec.find(lambda n: "par" in n.cls())
    if not check(groups and "app instance 2" in heads, "report-lanes: no second app lane or no race"):
        return
    lanes = set()
    for col in groups[0].find(lambda n: "col" in n.cls()):
        req = col.find(lambda n: "req" in n.cls() and "arr" in n.cls())
        m = re.match(r"grid-column:(\d+)/(\d+)", req[0].attrs.get("style", "")) if req else None
        if m:
            lanes.add(heads[int(m.group(2)) - 1])  # the arrow ends in its lane: time is not in a block
    check(lanes == {"app instance 1", "app instance 2"},
          "report-lanes: the two requests went to %s, expected one per instance" % sorted(lanes))



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
        tl = r.get("timeline", [])
        tabs = []
        for e in tl:
            if e.get("tab") and e["tab"] not in tabs:
                tabs.append(e["tab"])
        instances = sorted({e["instance"] for e in tl if isinstance(e.get("instance"), int)})
        want = ["time"] + (["browser tab " + t for t in tabs] or ["browser"])
        want += (["app instance %d" % (k + 1) for k in range(instances[-1] + 1)]
                 if instances and instances[-1] > 0 else ["app"])
        want += ["backend", "IdP", "cookie jar"]
        check(heads == want, "%s: lanes %s, expected %s" % (a, heads, want))
        grid = sec.find(lambda n: "main" in n.cls() and "sw" in n.cls())
        check(grid and grid[0].attrs.get("data-lanes") == str(len(want) - 2),
              a + ": the grid does not have %d lanes" % (len(want) - 2))
        check_requests(a, sec, tl, heads)
        for chip in sec.find(lambda n: "tok" in n.cls()):
            check(re.match(r"(AT|RT|code|token) [0-9a-f]{8}( ×\d+)?$", chip.content()) is not None,
                  a + ": a token chip without its label: %r" % chip.content())
        for st in sec.find(lambda n: "st" in n.cls()):
            check(re.match(r"\d{3}$|no response$", st.content()) is not None,
                  a + ": a status chip without its number: %r" % st.content())
        check(any(("#" + a) == n.attrs.get("href") for n in rows[0].parent.find(lambda n: n.tag == "a")),
              a + ": no overview link")
        for failure in r["failures"][:1]:
            boxes = [n.content() for n in sec.find(lambda n: "fail" in n.cls())]
            check(any("FIRST FAILED EXPECTATION" in b and failure in b for b in boxes),
                  a + ": the first failed expectation is not drawn")
        check("--seed %d" % results["seed"] in sec.content(), a + ": no replay command with the seed")
        check(r["replay"] in sec.content(), a + ": the replay command is not the one of the JSON report: "
              "%r" % r["replay"])
    check(str(results["seed"]) in ids.get("seed").content() if "seed" in ids else False,
          "the run's seed is not shown")
    whole = ids["replay"].content() if "replay" in ids else ""
    check(whole.startswith("fakeidp run --seed %d " % results["seed"]) and
          all(" " + r["file"] in whole for r in results["results"]),
          "the overview's replay command is not the whole run: %r" % whole[:80])
    check("@media print" in tree.style, "no print style")
    # f05: the race.
    race = ids.get("v-f05-parallel-refresh-spends-one-token--strict-no-dedupe")
    wanted = any(r["scenario"] == "f05-parallel-refresh-spends-one-token" and
                 r["variant"] == "strict-no-dedupe" for r in results["results"])
    if check(race is not None or not wanted, "f05: the race's variant has no section"):
        check_race(race) if race is not None else None
    lanes = ids.get("v-report-lanes--default")
    if lanes is not None:
        check_instances(lanes)
    # JUnit links.
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
