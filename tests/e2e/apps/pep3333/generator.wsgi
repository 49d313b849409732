"""A generator response of 100 numbered lines."""
from wsgiref.validate import validator


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    for i in range(100):
        yield b"line %d\n" % i


application = validator(app)
