# Answers a POST with its own body, read from wsgi.input in pieces, and
# the request's content type.
def application(environ, start_response):
    if environ['REQUEST_METHOD'] != 'POST':
        start_response('405 Method Not Allowed', [('Content-Type', 'text/plain'),
                                                  ('Allow', 'POST')])
        return [b'POST only\n']
    length = int(environ.get('CONTENT_LENGTH') or 0)
    stream = environ['wsgi.input']
    parts = []
    while length > 0:
        block = stream.read(min(length, 8192))
        if not block:
            break
        parts.append(block)
        length -= len(block)
    body = b''.join(parts)
    start_response('200 OK', [
        ('Content-Type', environ.get('CONTENT_TYPE', 'application/octet-stream')),
        ('Content-Length', str(len(body))),
    ])
    return [body]
