"""Returns an iterable with close(); close() writes a line to wsgi.errors
and creates ROOT/tmp/close-<QUERY_STRING>."""
import os
from wsgiref.validate import validator

TMP = os.path.join(__file__[:__file__.rindex("/apps/")], "tmp")


class Body:
    def __init__(self, environ):
        self.errors = environ["wsgi.errors"]
        self.tag = environ["QUERY_STRING"]

    def __iter__(self):
        yield b"body of "
        yield self.tag.encode()

    def close(self):
        self.errors.write("close() called for %s\n" % self.tag)
        self.errors.flush()
        with open(os.path.join(TMP, "close-" + self.tag), "w") as f:
            f.write("closed")


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Body(environ)


application = validator(app)
