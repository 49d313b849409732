"""wsgi.file_wrapper edge cases.  PATH_INFO picks one.

/subclass     a subclass of wsgi.file_wrapper around this very file
/text         a text-mode file-like object (no fileno): an error
/close_fails  a file-like object whose close() raises: dropped
"""
import io


class Closing(io.BytesIO):
    def close(self):
        super().close()
        raise RuntimeError("e2e-close-fails")


def application(environ, start_response):
    what = environ["PATH_INFO"]
    wrapper = environ["wsgi.file_wrapper"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    if what == "/subclass":
        class Sub(wrapper):
            pass
        return Sub(open(__file__, "rb"), 4096)
    if what == "/text":
        return wrapper(io.StringIO("text, not bytes"))
    if what == "/close_fails":
        return wrapper(Closing(b"closing body"))
    raise KeyError(what)
