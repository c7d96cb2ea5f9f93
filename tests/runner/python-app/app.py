"""A tiny external app for the runner's tests, started through the shell
(`python3 app.py`, so that sh is its parent and the runner's child):

  /healthz  200
  /slow     touches $APP_WORK/slow, then holds the request for 60 s
  /sleep    time.sleep(0.2) and Event().wait(0.2) under the app's clock; prints
            and answers "slept ..." or the exception (docs/external-apps.md)

It writes "PID PPID" to $APP_WORK/app.pid when it listens."""
import http.server
import os
import threading
import time
import traceback

work = os.environ.get("APP_WORK", ".")


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
            try:
                t = time.monotonic()
                time.sleep(0.2)
                slept = time.monotonic() - t
                t = time.monotonic()
                threading.Event().wait(0.2)
                waited = time.monotonic() - t
                text = "slept %.1f s, waited %.1f s" % (slept, waited)
            except Exception:
                text = "sleep failed: " + traceback.format_exc().strip().splitlines()[-1]
            print(text, flush=True)
            self.answer(200, text)
        else:
            self.answer(200, "ok")


server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
server.daemon_threads = True
with open(os.path.join(work, "app.pid"), "w") as f:
    f.write("%d %d\n" % (os.getpid(), os.getppid()))
print("listening on", os.environ["PORT"], flush=True)
server.serve_forever()
