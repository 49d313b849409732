"""Three entry points: application, alt (for WSGICallableObject) and alt2
(for the callable-object= option).  Each answers its own name."""


def make(name):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("X-Callable", environ["mod_wsgi.callable_object"])])
        return [name.encode()]
    return app


application = make("application")
alt = make("alt")
alt2 = make("alt2")
