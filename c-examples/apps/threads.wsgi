# Sleeps (without the GIL) and reports which host thread served the
# request: concurrent requests must overlap on different threads.
import threading
import time


def application(environ, start_response):
    time.sleep(0.5)
    body = str(threading.get_ident()).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
