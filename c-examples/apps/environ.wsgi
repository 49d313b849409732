# Returns the CGI part of the environ as "KEY=value" lines (values as the
# application sees them: str, latin-1 decoded), plus the request body size.
def application(environ, start_response):
    lines = ['%s=%s' % (k, v) for k, v in sorted(environ.items())
             if isinstance(v, str) and not k.startswith(('wsgi.', 'mod_wsgi.', 'apache.'))]
    lines.append('wsgi.url_scheme=%s' % environ['wsgi.url_scheme'])
    lines.append('body=%d' % len(environ['wsgi.input'].read()))
    body = ('\n'.join(lines) + '\n').encode('utf-8')
    start_response('200 OK', [('Content-Type', 'text/plain; charset=utf-8'),
                              ('Content-Length', str(len(body)))])
    return [body]
