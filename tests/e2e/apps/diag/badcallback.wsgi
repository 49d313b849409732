# A subscriber that always raises: requests must still succeed and the
# error log must show the callback's traceback.
import mod_wsgi


def broken(name, **event):
    raise KeyError("e2e broken subscriber " + name)


mod_wsgi.subscribe_events(broken)


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"still served"]
