# Marks, in files named <kind>-<pid> in the server's tmp directory, that
# process_stopping was published ("event") and that the interpreter's
# atexit callbacks ran ("atexit"): WSGIDestroyInterpreter Off must give
# the first without the second.
import atexit
import os

import mod_wsgi

MARK_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "tmp")


def mark(kind, text=""):
    with open(os.path.join(MARK_DIR, "%s-%d" % (kind, os.getpid())), "w") as f:
        f.write(text)


def on_event(name, **event):
    if name == "process_stopping":
        mark("event", event["shutdown_reason"])


mod_wsgi.subscribe_events(on_event)
atexit.register(mark, "atexit")


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("pid=%d" % os.getpid()).encode()]
