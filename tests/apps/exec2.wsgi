# A second copy of exec.wsgi (a different script file, so a different
# module): for checks that two scripts share one interpreter.
#
import sys

G = {}


def application(environ, start_response):
    code = environ['wsgi.input'].read().decode('utf-8')
    namespace = {'environ': environ, 'G': G, 'sys': sys}
    exec(code, namespace)
    body = str(namespace.get('result', '')).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'text/plain; charset=utf-8')])
    return [body]
