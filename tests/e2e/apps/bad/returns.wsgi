"""Bad return values from the application.

/none   returns None
/int    returns 42
/str    returns a str (iterable of str, not bytes)
/strs   returns ["text"] (list of str)
"""


def make(value):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return value
    return app


ROUTES = {"/none": make(None), "/int": make(42), "/str": make("a str"),
          "/strs": make(["a str in a list"])}


def application(environ, start_response):
    return ROUTES[environ["PATH_INFO"]](environ, start_response)
