"""Returns wsgi.file_wrapper over a real file (ROOT/apps/directives/blob.bin,
written by the test), not wrapped in the validator, so the server sees its
own FileWrapper and may take the sendfile path.  /partial sends a
Content-Length smaller than the file."""
import os

PATH = os.path.join(os.path.dirname(__file__), "blob.bin")


def application(environ, start_response):
    size = os.path.getsize(PATH)
    headers = [("Content-Type", "application/octet-stream"),
               ("X-Enable-Sendfile", environ.get("mod_wsgi.enable_sendfile", "?"))]
    if environ["PATH_INFO"] == "/partial":
        headers.append(("Content-Length", str(size // 2)))
    elif environ["PATH_INFO"] == "/length":
        headers.append(("Content-Length", str(size)))
    start_response("200 OK", headers)
    return environ["wsgi.file_wrapper"](open(PATH, "rb"), 65536)
