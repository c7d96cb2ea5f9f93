#!/usr/bin/env python3
"""Redaction check: no secret of a HAR capture appears in a text.

usage: secrets.py CAPTURE.har GENERATED.json
Secrets: every cookie value (Cookie and Set-Cookie headers, and the HAR's
cookies lists), every query parameter value (of the request URL and of
Location headers), every request body and each of its form or JSON values,
every Authorization header value, the JSON string values of response bodies
(tokens, users) and the code and state of each URL (every query value but
the protocol words in PUBLIC). Values shorter than 6 characters (flags such
as "1") are not counted. Prints how many secrets were checked and any found;
exit 1 when one leaked or when the capture held none (the check would be
empty)."""
import json
import sys

# Query parameters that are protocol words, not secrets ("sign-in" would
# otherwise "leak" through any text that says sign-in).
PUBLIC = {"screen_hint", "provider", "response_type", "code_challenge_method", "returnPathname"}
from urllib.parse import parse_qsl, urlsplit


def secrets(har):
    out = set()
    for e in har["log"]["entries"]:
        req, resp = e["request"], e["response"]
        for h in req.get("headers", []):
            name = h["name"].lower()
            if name == "cookie":
                for part in h["value"].split(";"):
                    if "=" in part:
                        out.add(part.split("=", 1)[1].strip())
            elif name == "authorization":
                out.add(h["value"].split(" ", 1)[-1])
        for h in resp.get("headers", []):
            if h["name"].lower() == "set-cookie":
                out.add(h["value"].split(";", 1)[0].split("=", 1)[-1].strip())
        for k, v in parse_qsl(urlsplit(req["url"]).query):
            if k not in PUBLIC:
                out.add(v)
        for q in req.get("queryString", []):
            if q["name"] not in PUBLIC:
                out.add(q["value"])
        for h in resp.get("headers", []):
            if h["name"].lower() == "location":
                out.update(v for k, v in parse_qsl(urlsplit(h["value"]).query) if k not in PUBLIC)
        for c in req.get("cookies", []) + resp.get("cookies", []):
            out.add(c.get("value", ""))
        body = (req.get("postData") or {}).get("text")
        if body:
            out.add(body)
            out.update(v for _, v in parse_qsl(body))
            out.update(json_strings(body))
        content = (resp.get("content") or {}).get("text")
        if content:
            out.update(json_strings(content))
    return {s for s in out if len(s) >= 6}


def json_strings(text):
    """Every string value in a JSON text (none when it is not JSON)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return []
    found, todo = [], [doc]
    while todo:
        v = todo.pop()
        if isinstance(v, str):
            found.append(v)
        elif isinstance(v, dict):
            todo.extend(v.values())
        elif isinstance(v, list):
            todo.extend(v)
    return found


def main():
    har = json.load(open(sys.argv[1]))
    text = open(sys.argv[2]).read()
    found = secrets(har)
    leaked = [s for s in found if s in text]
    # Pieces too: a 40-character window of any long secret.
    for s in found:
        if len(s) > 40 and s not in leaked:
            for i in range(0, len(s) - 40, 20):
                if s[i:i + 40] in text:
                    leaked.append(s)
                    break
    for s in leaked:
        print("LEAKED %s…" % s[:12])
    print("%d secrets checked, %d leaked" % (len(found), len(leaked)))
    return 1 if leaked or not found else 0


if __name__ == "__main__":
    sys.exit(main())
