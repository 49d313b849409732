# Client disconnects: records what the application saw under a token,
# reported by "state:<token>" in a later request.
STATE = {}


def application(environ, start_response):
    mode, _, token = environ['QUERY_STRING'].partition(':')

    if mode == 'state':
        start_response('200 OK', [])
        return [repr(STATE.get(token)).encode()]

    if mode == 'generator':
        st = STATE[token] = {'yielded': 0, 'closed': False}
        start_response('200 OK', [])

        class Body(object):
            def __iter__(self):
                return self

            def __next__(self):
                if st['yielded'] >= 100:
                    raise StopIteration
                st['yielded'] += 1
                return b'x' * 1000

            def close(self):
                st['closed'] = True
        return Body()

    if mode == 'list':
        # Small blocks in a list: held back and handed over at request end.
        start_response('200 OK', [])
        return [b'a' * 1000, b'b' * 1000, b'c' * 1000]

    if mode == 'write':
        st = STATE[token] = {'writes': 0, 'error': None}
        write = start_response('200 OK', [])
        try:
            for i in range(100):
                write(b'x' * 1000)
                st['writes'] += 1
        except IOError as e:
            st['error'] = '%s: %s' % (type(e).__name__, e)
        return []

    if mode == 'write_uncaught':
        write = start_response('200 OK', [])
        for i in range(100):
            write(b'x' * 1000)
        return [b'not reached']

    if mode == 'read':
        st = STATE[token] = {'error': None}
        try:
            environ['wsgi.input'].read()
        except IOError as e:
            st['error'] = '%s: %s' % (type(e).__name__, e)
        start_response('200 OK', [])
        return [b'read']

    if mode == 'read_again':
        # After a failed read every way of reading raises again (mod_wsgi's
        # "already in error state"), even with bytes still buffered.
        stream = environ['wsgi.input']
        st = STATE[token] = {'first': None, 'again': []}
        try:
            while stream.read(4096):
                pass
        except IOError as e:
            st['first'] = type(e).__name__
        for attempt in (lambda: stream.read(10), stream.read, stream.readline,
                        stream.readlines, lambda: next(iter(stream))):
            try:
                attempt()
                st['again'].append('no error')
            except IOError as e:
                st['again'].append(str(e))
        start_response('200 OK', [])
        return [b'read']

    if mode == 'read_uncaught':
        environ['wsgi.input'].read()
        start_response('200 OK', [])
        return [b'read']
