"""Returns wsgi.file_wrapper over a real file (ROOT/apps/directives/blob.bin,
written by the test), not wrapped in the validator, so the server sees its
own FileWrapper and may take the sendfile path.  /partial sends a
Content-Length smaller than the file.

/changing serves changing.bin, which the test rewrites between requests.
/own serves own-<mount>.bin (one file per mount point), and /mapped says
whether that file is still mapped into this process after it was served
(1 or 0), to show how the server sent it."""
import os

HERE = os.path.dirname(__file__)
PATH = os.path.join(HERE, "blob.bin")


def own_file(environ):
    return os.path.join(HERE, "own-%s.bin" % environ["SCRIPT_NAME"].strip("/"))


def application(environ, start_response):
    path_info = environ["PATH_INFO"]
    headers = [("Content-Type", "application/octet-stream"),
               ("X-Enable-Sendfile", environ.get("mod_wsgi.enable_sendfile", "?"))]
    if path_info == "/mapped":
        with open("/proc/self/maps") as maps:
            mapped = any(line.rstrip("\n").endswith(own_file(environ)) for line in maps)
        start_response("200 OK", headers)
        return [b"1" if mapped else b"0"]
    path = {"/changing": os.path.join(HERE, "changing.bin"),
            "/own": own_file(environ)}.get(path_info, PATH)
    size = os.path.getsize(path)
    if path_info == "/partial":
        headers.append(("Content-Length", str(size // 2)))
    elif path_info in ("/length", "/changing", "/own"):
        headers.append(("Content-Length", str(size)))
    start_response("200 OK", headers)
    return environ["wsgi.file_wrapper"](open(path, "rb"), 65536)
