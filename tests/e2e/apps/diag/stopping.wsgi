# Writes process_stopping's shutdown_reason (event and shutdown
# subscribers) to files named by the STOP_DIR environ variable, and sleeps
# on request so that a request timeout can fire while it runs.
import os
import threading
import time

import mod_wsgi

STOP_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "tmp")


def note(kind):
    def callback(name, **event):
        if name == "process_stopping":
            path = os.path.join(STOP_DIR, "%s-%d" % (kind, os.getpid()))
            with open(path, "w") as f:
                f.write(event["shutdown_reason"])
    return callback


mod_wsgi.subscribe_events(note("event"))
mod_wsgi.subscribe_shutdown(note("shutdown"))


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/sleep":
        with open(os.path.join(STOP_DIR, "sleeper-%d" % os.getpid()), "w") as f:
            f.write("%d" % threading.get_ident())
        while True:
            time.sleep(0.05)  # e2e: the line a stack dump must show
    if path == "/stuck":
        time.sleep(30)  # e2e: a long call into C that RequestTimeout cannot break
    if path == "/catch":
        try:
            while True:
                time.sleep(0.05)
        except mod_wsgi.RequestTimeout:
            with open(os.path.join(STOP_DIR, "caught-%d" % os.getpid()), "w") as f:
                f.write("caught")
            raise
    body = ("pid=%d" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
