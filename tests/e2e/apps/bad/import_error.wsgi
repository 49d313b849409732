"""Fails at import time with ImportError."""
import e2e_module_that_does_not_exist  # noqa: F401


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"unreachable"]
