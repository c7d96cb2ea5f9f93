#!/usr/bin/env python3
"""Makes a capture richer in secrets than the recorded one: a devtools
export "with sensitive data" of a real app also holds response bodies with
tokens, a sign-in form with a password, Authorization headers and codes in
Location headers. usage: leaky.py IN.har OUT.har"""
import json
import sys

har = json.load(open(sys.argv[1]))
entries = har["log"]["entries"]
api = next(e for e in entries if "/api/" in e["request"]["url"])
api["request"]["headers"].append({"name": "Authorization",
                                  "value": "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyXzAxIn0.c2lnbmF0dXJlLXNlY3JldA"})
api["response"]["content"] = {
    "size": 200, "mimeType": "application/json",
    "text": json.dumps({"accessToken": "eyJhbGciOiJSUzI1NiJ9.eyJzaWQiOiJzZXNzaW9uXzAxIn0.YW5vdGhlci1zZWNyZXQ",
                        "refreshToken": "rt_Zm9vYmFyYmF6cXV4cXV1eA",
                        "user": {"email": "carol@corp.example", "id": "user_01SECRETUSERID"}})}
login = json.loads(json.dumps(api))
login["request"]["method"] = "POST"
login["request"]["url"] = login["request"]["url"].split("/api/")[0] + "/api/session"
login["request"]["postData"] = {"mimeType": "application/x-www-form-urlencoded",
                                "text": "email=carol%40corp.example&password=correct-horse-battery-staple"}
login["response"]["status"] = 302
login["response"]["headers"].append({"name": "Location",
                                     "value": "/callback?code=01SECRETCODEVALUE42&state=c2VjcmV0LXN0YXRl"})
entries.insert(entries.index(api), login)
json.dump(har, open(sys.argv[2], "w"), indent=1)
