"""Sends its headers and a first block, then its daemon process dies
(SIGKILL).  ?cl=1 declares a Content-Length of 100000 first (300000 with
big=1); ?big=1 makes the first block 200000 bytes (wsgirt passes a block
that large through its spool ring instead of the socket)."""
import os
import signal
import time


def application(environ, start_response):
    query = environ.get("QUERY_STRING", "")
    big = "big=1" in query
    headers = [("Content-Type", "application/octet-stream")]
    if "cl=1" in query:
        headers.append(("Content-Length", "300000" if big else "100000"))
    start_response("200 OK", headers)
    yield b"x" * (200000 if big else 1000)
    time.sleep(0.3)
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(5)
    yield b"never"
