"""A header value with a non-ASCII latin-1 character (native str, code
points < 256): it must go out as the single latin-1 byte."""
from wsgiref.validate import validator


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("X-Latin1", "caf\u00e9 \u00ff")])
    return [b"ok"]


application = validator(app)
