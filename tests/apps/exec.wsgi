# Test helper: runs the request body as Python code. The code sees
# `environ`, `G` (a dict kept at module level, so per interpreter and
# per script) and `sys`, and sets `result`; str(result) is the body.
import sys

G = {}


def application(environ, start_response):
    code = environ['wsgi.input'].read().decode('utf-8')
    namespace = {'environ': environ, 'G': G, 'sys': sys}
    exec(code, namespace)
    body = str(namespace.get('result', '')).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'text/plain; charset=utf-8')])
    return [body]
