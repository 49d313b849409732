"""Echoes the request body (read with read(n) up to CONTENT_LENGTH or EOF)."""
from wsgiref.validate import validator


def app(environ, start_response):
    inp = environ["wsgi.input"]
    chunks = []
    while True:
        b = inp.read(65536)
        if not b:
            break
        chunks.append(b)
    body = b"".join(chunks)
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(body)))])
    return [body]


application = validator(app)
