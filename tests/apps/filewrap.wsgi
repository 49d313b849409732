# wsgi.file_wrapper over a real file (FILE in the environ) or a BytesIO.
import io

FILES = {}


def application(environ, start_response):
    mode, _, token = environ['QUERY_STRING'].partition(':')
    if mode == 'closed':
        start_response('200 OK', [])
        return [repr(FILES[token].closed).encode()]
    headers = []
    if mode == 'bytesio':
        f = io.BytesIO(b'x' * 20000)
    else:
        f = open(environ['FILE'], 'rb')
    if mode == 'seek':
        f.seek(10)
    elif mode == 'read':
        f.read(7)
    elif mode == 'cl':
        headers.append(('Content-Length', '5'))
    elif mode == 'cl_big':
        headers.append(('Content-Length', '99999999'))
    FILES[token] = f
    start_response('200 OK', headers)
    if mode == 'blksize':
        return environ['wsgi.file_wrapper'](f, 1000)
    return environ['wsgi.file_wrapper'](f)
