# Identifies the group, echoes QUERY_STRING and reports the thread's
# ident and a per-thread request counter kept in threading.local (which
# only persists if the thread keeps its thread state between requests).
import threading

import mod_wsgi

local = threading.local()


def application(environ, start_response):
    count = getattr(local, 'count', 0) + 1
    local.count = count
    body = '%s|%s|%d|%d' % (mod_wsgi.application_group, environ['QUERY_STRING'],
                            threading.get_ident(), count)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body.encode('ascii')]
