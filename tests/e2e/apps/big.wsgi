"""Streams a large response: 64 KiB blocks, QUERY_STRING of them (default
1024 = 64 MiB), then logs "big.wsgi finished <n>" to wsgi.errors.  Used for
client-disconnect tests."""


def application(environ, start_response):
    n = int(environ.get("QUERY_STRING") or 1024)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    block = b"x" * 65536
    errors = environ["wsgi.errors"]
    sent = 0
    try:
        for _ in range(n):
            yield block
            sent += 1
    finally:
        errors.write("big.wsgi finished after %d blocks\n" % sent)
