"""Answers 404 with its own body (WSGIErrorOverride replaces it)."""


def application(environ, start_response):
    body = b"app-404-body\n"
    start_response("404 Not Found", [("Content-Type", "text/plain"),
                                     ("Content-Length", str(len(body)))])
    return [body]
