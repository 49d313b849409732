"""start_response misuse.

/twice       start_response twice without exc_info (before any output);
             the second one is "201 Created"
/none        returns a body without ever calling start_response
/exc_notuple exc_info that is not a tuple
/exc_short   an empty exc_info tuple before any output (only re-raising
             needs three items); the response goes on
"""


def twice(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-First", "1")])
    start_response("201 Created", [("Content-Type", "text/plain"), ("X-Second", "1")])
    return [b"second start_response won"]


def none(environ, start_response):
    return [b"no start_response"]


def exc_notuple(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")], "not-a-tuple")
    return [b"nope"]


def exc_short(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")], ())
    return [b"short exc_info accepted"]


ROUTES = {"/twice": twice, "/none": none, "/exc_notuple": exc_notuple,
          "/exc_short": exc_short}


def application(environ, start_response):
    return ROUTES[environ["PATH_INFO"]](environ, start_response)
