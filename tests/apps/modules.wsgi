# Which standard modules an interpreter has loaded (tests/memory.rs).
import sys


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [' '.join(sorted(sys.modules)).encode()]
