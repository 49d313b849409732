"""Answers "200 Error": mod_wsgi's daemon mode turns it into a 500."""


def application(environ, start_response):
    start_response("200 Error", [("Content-Type", "text/plain")])
    return [b"app-200-error-body\n"]
