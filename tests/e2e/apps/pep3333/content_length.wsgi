"""Says Content-Length: 5 but yields 10 bytes: the server must send only 5."""
from wsgiref.validate import validator


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", "5")])
    return [b"01234", b"56789"]


application = validator(app)
