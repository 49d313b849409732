"""Exceptions at each stage of a request.  PATH_INFO picks the stage; the
message names it so the test can find exactly its traceback.

/call          raise in the application call itself
/iter          raise in the iterable before any output
/after_output  raise in the iterable after a first block was sent
/close         raise in close() after the whole body was produced
"""


def call(environ, start_response):
    raise RuntimeError("e2e-boom-in-call")


def iter_(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    raise RuntimeError("e2e-boom-in-iter")
    yield b"never"


def after_output(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"partial;"
    raise RuntimeError("e2e-boom-after-output")


class CloseRaises:
    def __iter__(self):
        yield b"complete body"

    def close(self):
        raise RuntimeError("e2e-boom-in-close")


def close(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return CloseRaises()


ROUTES = {"/call": call, "/iter": iter_, "/after_output": after_output,
          "/close": close}


def application(environ, start_response):
    return ROUTES[environ["PATH_INFO"]](environ, start_response)
