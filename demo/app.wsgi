"""wsgirt demo: a small WSGI app served by Apache through mod_wsgirt.

/          an HTML page with what the runtime passed in
/echo      POST a body, get it back
/stream    a response sent in chunks, one per 0.2 s
"""
import html
import sys
import time

import mod_wsgi

KEYS = ('REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'SERVER_NAME',
        'SERVER_PORT', 'REMOTE_ADDR', 'wsgi.url_scheme', 'wsgi.multithread',
        'wsgi.multiprocess', 'mod_wsgi.application_group', 'mod_wsgi.request_id')


def page(environ):
    rows = ''.join('<tr><th>%s</th><td>%s</td></tr>' % (html.escape(k), html.escape(repr(environ.get(k))))
                   for k in KEYS)
    return ('<!doctype html><title>wsgirt demo</title>'
            '<h1>Hello from wsgirt</h1>'
            '<p>Python %s, mod_wsgi API version %s, Apache %s.</p>'
            '<table>%s</table>'
            '<p>Try <a href="echo">/echo</a> (POST) and <a href="stream">/stream</a>.</p>'
            % (html.escape(sys.version.split()[0]), mod_wsgi.version,
               environ.get('apache.version'), rows)).encode('utf-8')


def stream():
    for i in range(5):
        yield ('chunk %d\n' % i).encode('ascii')
        time.sleep(0.2)


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    if path == '/echo':
        body = environ['wsgi.input'].read()
        start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                                  ('Content-Length', str(len(body)))])
        return [body]
    if path == '/stream':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return stream()
    body = page(environ)
    start_response('200 OK', [('Content-Type', 'text/html; charset=utf-8'),
                              ('Content-Length', str(len(body)))])
    return [body]
