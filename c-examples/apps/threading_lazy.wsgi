# Imports `threading` inside a request, i.e. on a host worker thread, not
# when the script is loaded. Stopping the host afterwards must still be
# clean: Python's threading._shutdown() at finalisation must not wait for
# the worker thread, which threading then takes for the main thread.
def application(environ, start_response):
    import threading
    body = threading.current_thread().name.encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
