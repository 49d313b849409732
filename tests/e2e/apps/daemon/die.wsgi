"""Sends its headers and a first block, then its daemon process dies
(SIGKILL).  ?cl=1 declares a Content-Length of 100000 first."""
import os
import signal
import time


def application(environ, start_response):
    headers = [("Content-Type", "application/octet-stream")]
    if "cl=1" in environ.get("QUERY_STRING", ""):
        headers.append(("Content-Length", "100000"))
    start_response("200 OK", headers)
    yield b"x" * 1000
    time.sleep(0.3)
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(5)
    yield b"never"
