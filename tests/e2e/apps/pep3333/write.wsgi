"""Uses the write() callable returned by start_response, then returns the
rest of the body as an iterable."""
from wsgiref.validate import validator


def app(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written-1;")
    write(b"written-2;")
    return [b"returned-3;"]


application = validator(app)
