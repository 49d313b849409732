"""wsgi.file_wrapper: /file wraps a real file (ROOT/apps/pep3333/data.bin),
/bytesio wraps an io.BytesIO (no fileno), /filelike wraps an object that has
only read() and close(); close() of the wrapped object must be called."""
import io
import os
from wsgiref.validate import validator

HERE = os.path.dirname(__file__)
TMP = os.path.join(__file__[:__file__.rindex("/apps/")], "tmp")


class FileLike:
    def __init__(self, data, tag):
        self.buf = io.BytesIO(data)
        self.tag = tag

    def read(self, n=-1):
        return self.buf.read(n)

    def close(self):
        with open(os.path.join(TMP, "filelike-closed-" + self.tag), "w") as f:
            f.write("closed")


def app(environ, start_response):
    kind = environ["PATH_INFO"]
    data = bytes(range(256)) * 1024            # 256 KiB, same as data.bin
    if kind == "/file":
        obj = open(os.path.join(HERE, "data.bin"), "rb")
    elif kind == "/bytesio":
        obj = io.BytesIO(data)
    else:
        obj = FileLike(data, environ["QUERY_STRING"])
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(data)))])
    return environ["wsgi.file_wrapper"](obj, 8192)


application = validator(app)
