"""A tiny external app for the runner's tests, started through the shell
(`python3 app.py`, so that sh is its parent and the runner's child):

  /healthz  200
  /slow     touches $APP_WORK/slow, then holds the request for 60 s
  /sleep    time.sleep(0.2) and Event().wait(0.2) under the app's clock; prints
            and answers "slept 0.2 s, waited 0.2 s", or what went wrong
            (docs/external-apps.md, "Sleeping")

  /login    to the fake's /user_management/authorize, back to /callback
  /callback sets the cookie "session" (host-only), then redirects to
            http://$REDIRECT_HOST:$PORT/ when REDIRECT_HOST is set (what
            Next.js does when it rewrites 127.0.0.1 to localhost), else to /
  /         {"signed_in":true} with the cookie, else {"signed_in":false}

It writes "PID PPID" to $APP_WORK/app.pid when it listens."""
import http.server
import os
import urllib.parse
import select
import threading
import time

work = os.environ.get("APP_WORK", ".")


def timed(wait):
    """Runs wait() in a thread: "0.2 s" (when it took 0.19 to 2.5 s on the
    monotonic clock, else the time it took),
    "failed: ERROR", or "stuck" when it has not returned after 3 s (counted
    with select, whose relative timeout libfaketime leaves alone)."""
    result = []

    def run():
        t = time.monotonic()
        try:
            wait()
            took = time.monotonic() - t
            result.append("0.2 s" if 0.19 <= took < 2.5 else "%.3f s" % took)
        except Exception as e:
            result.append("failed: %s: %s" % (type(e).__name__, e))

    threading.Thread(target=run, daemon=True).start()
    for _ in range(60):
        if result:
            return result[0]
        select.select([], [], [], 0.05)
    return "stuck"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def answer(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/slow"):
            open(os.path.join(work, "slow"), "w").close()
            threading.Event().wait(60)
            self.answer(200, "slow")
        elif self.path.startswith("/sleep"):
            text = "slept %s, waited %s" % (timed(lambda: time.sleep(0.2)),
                                           timed(lambda: threading.Event().wait(0.2)))
            print(text, flush=True)
            self.answer(200, text)
        elif self.path.startswith("/login"):
            query = urllib.parse.urlencode({
                "client_id": os.environ["WORKOS_CLIENT_ID"], "response_type": "code",
                "provider": "authkit", "redirect_uri": os.environ["WORKOS_REDIRECT_URI"]})
            self.redirect(os.environ["FAKEIDP_URL"] + "/user_management/authorize?" + query, None)
        elif self.path.startswith("/callback"):
            code = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("code", [""])[0]
            host = os.environ.get("REDIRECT_HOST")
            where = "http://%s:%s/" % (host, os.environ["PORT"]) if host else "/"
            self.redirect(where, "session=%s; Path=/; HttpOnly" % code)
        elif self.path == "/":
            signed_in = "session=" in (self.headers.get("Cookie") or "")
            self.answer(200, '{"signed_in":%s}' % ("true" if signed_in else "false"))
        else:
            self.answer(200, "ok")

    def redirect(self, where, cookie):
        self.send_response(302)
        self.send_header("Location", where)
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", "0")
        self.end_headers()


server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
server.daemon_threads = True
with open(os.path.join(work, "app.pid"), "w") as f:
    f.write("%d %d\n" % (os.getpid(), os.getppid()))
print("listening on", os.environ["PORT"], flush=True)
server.serve_forever()
