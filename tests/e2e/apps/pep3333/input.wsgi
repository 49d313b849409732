"""Reads wsgi.input with the method named by PATH_INFO and answers JSON
{"length", "sha256", "pieces", "max_piece"}.  Methods: /read (read() with no
size: a mod_wsgi guarantee beyond PEP 3333, so it goes under the validator to
the server's own input object), /read_n (read(8192) until b''), /readline,
/readline_n (readline(100)), /readlines, /iterate."""
import hashlib
import json
from wsgiref.validate import validator


def pieces(inp, method):
    if method == "/read":
        yield inp.input.read()          # validator forbids read() w/o size
    elif method == "/read_n":
        while True:
            b = inp.read(8192)
            if not b:
                return
            yield b
    elif method == "/readline":
        while True:
            b = inp.readline()
            if not b:
                return
            yield b
    elif method == "/readline_n":
        while True:
            b = inp.readline(100)
            if not b:
                return
            yield b
    elif method == "/readlines":
        yield from inp.readlines()
    elif method == "/iterate":
        yield from inp
    else:
        raise ValueError(method)


def app(environ, start_response):
    h = hashlib.sha256()
    n = count = biggest = 0
    for p in pieces(environ["wsgi.input"], environ["PATH_INFO"]):
        h.update(p)
        n += len(p)
        count += 1
        biggest = max(biggest, len(p))
    # after EOF every read must keep returning b''
    eof = environ["wsgi.input"].read(10)
    body = json.dumps({"length": n, "sha256": h.hexdigest(), "pieces": count,
                       "max_piece": biggest, "eof": eof.decode()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


application = validator(app)
