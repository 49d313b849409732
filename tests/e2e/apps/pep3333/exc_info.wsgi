"""start_response and exc_info (PEP 3333).

/replace   : start_response("200 OK"), then an error before any output,
             start_response("500 ...", exc_info) replaces the status: 500 + body
/after     : yields one block, then an error; start_response(..., exc_info)
             must re-raise it (headers already sent): the response is cut off.
"""
import sys
from wsgiref.validate import validator


def replace(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("exc-info-replace")
    except ValueError:
        start_response("500 Internal Server Error",
                       [("Content-Type", "text/plain")], sys.exc_info())
    return [b"replaced by error page"]


def after(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first block;"
    try:
        raise ValueError("exc-info-after-output")
    except ValueError:
        start_response("500 Internal Server Error",
                       [("Content-Type", "text/plain")], sys.exc_info())
    yield b"never sent"


ROUTES = {"/replace": replace, "/after": after}


def application(environ, start_response):
    return validator(ROUTES[environ["PATH_INFO"]])(environ, start_response)
