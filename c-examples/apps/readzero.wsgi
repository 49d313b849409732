# Reads zero bytes first (the host is asked to start the body: a client
# that sent Expect: 100-continue gets its interim response then), waits
# 1.5 s, then answers "<first read's length>:<the rest of the body>".
import time


def application(environ, start_response):
    first = environ['wsgi.input'].read(0)
    time.sleep(1.5)
    rest = environ['wsgi.input'].read()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'%d:%s' % (len(first), rest)]
