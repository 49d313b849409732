"""Answers its VERSION; the reloading test rewrites this file."""
VERSION = "v1"


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [VERSION.encode()]
