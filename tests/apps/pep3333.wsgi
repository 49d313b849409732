# Response shapes: write(), generators, lists, Content-Length clipping.
KEPT = []


def application(environ, start_response):
    mode = environ['QUERY_STRING']

    if mode == 'write':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        write(b'a')
        write(b'bc')
        return [b'd']

    if mode == 'generator':
        start_response('200 OK', [])

        def blocks():
            yield b'one'
            yield b''
            yield b'two'
            yield b'three'
        return blocks()

    if mode == 'list':
        start_response('200 OK', [])
        return [b'a', b'b', b'', b'c']

    if mode == 'tuple':
        start_response('200 OK', [])
        return (b'x', b'y')

    if mode == 'cl_list':
        start_response('200 OK', [('Content-Length', '5')])
        return [b'0123456789']

    if mode == 'cl_generator':
        start_response('200 OK', [('Content-Length', '5')])

        def blocks():
            yield b'012'
            yield b'345'
            yield b'6789'
        return blocks()

    if mode == 'cl_write':
        write = start_response('200 OK', [('content-length', '5')])
        write(b'0123')
        write(b'4567')
        return [b'89']

    if mode == 'empty':
        start_response('204 No Content', [('X-Empty', 'yes')])
        return []

    if mode == 'latin1':
        start_response('200 \u00c7a va', [('X-Latin', 'caf\u00e9'), ('X-Empty', '')])
        return [b'latin-1']

    if mode == 'keep':
        # Keeps start_response and write() past the request.
        KEPT.append(start_response)
        KEPT.append(start_response('200 OK', []))
        return [b'kept']

    if mode == 'use_kept':
        start_response('200 OK', [])
        out = []
        for call in (lambda: KEPT[1](b'late'), lambda: KEPT[0]('200 OK', [])):
            try:
                call()
                out.append('no error')
            except RuntimeError as e:
                out.append(str(e))
        return ['|'.join(out).encode()]

    if mode == 'bytearray':
        start_response('200 OK', [])
        return [bytearray(b'not bytes')]

    if mode == 'write_str':
        write = start_response('200 OK', [])
        try:
            write('text')
        except TypeError as e:
            return [str(e).encode()]
        return [b'no error']
