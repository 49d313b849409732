"""Negative control: breaks PEP 3333 (no Content-Type on a 200), so the
validator must raise AssertionError.  Proves that the validator is active
and that its complaints reach the error log."""
from wsgiref.validate import validator


def app(environ, start_response):
    start_response("200 OK", [("X-No-Content-Type", "1")])
    return [b"invalid"]


application = validator(app)
