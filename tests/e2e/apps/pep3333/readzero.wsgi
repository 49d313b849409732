"""Reads zero bytes from wsgi.input first (mod_wsgi passes that read to
Apache's input filters, which answers an `Expect: 100-continue`), waits
1.5 s, then answers with what a full read returns."""
import time


def application(environ, start_response):
    first = environ["wsgi.input"].read(0)
    time.sleep(1.5)
    rest = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%d:%s" % (len(first), rest)]
