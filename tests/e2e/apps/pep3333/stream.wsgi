"""Streaming: yields a block, sleeps 1 s, yields another.  Each block must
reach the client when it is yielded."""
import time
from wsgiref.validate import validator


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first block\n"
    time.sleep(1.0)
    yield b"second block\n"


application = validator(app)
