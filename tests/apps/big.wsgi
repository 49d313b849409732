# Large bodies: a streamed response of `n` fresh 1 MiB blocks, and an
# upload read in 64 KiB chunks. QUERY_STRING is "<mode>:<n>".
def application(environ, start_response):
    mode, _, n = environ['QUERY_STRING'].partition(':')
    if mode == 'download':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])

        def blocks():
            for i in range(int(n)):
                yield b'x' * (1 << 20)
        return blocks()
    if mode == 'upload':
        inp = environ['wsgi.input']
        total = 0
        while True:
            chunk = inp.read(65536)
            if not chunk:
                break
            total += len(chunk)
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [str(total).encode()]
