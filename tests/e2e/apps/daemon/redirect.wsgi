"""Daemon mode: status 200 with a local Location header is an internal
redirect (mod_wsgi, as CGI); this body must never reach the client."""


def application(environ, start_response):
    start_response("200 OK", [("Location", "/d/hello"),
                              ("Content-Type", "text/plain")])
    return [b"must be discarded\n"]
