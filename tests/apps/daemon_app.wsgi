# Daemon-mode test application. QUERY_STRING is "<mode>[:<arg>]".
import os
import time

STATE = {}


def application(environ, start_response):
    mode, _, arg = environ['QUERY_STRING'].partition(':')

    if mode == 'hello':
        body = b'Hello world!\n'
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('Content-Length', str(len(body)))])
        return [body]

    if mode == 'environ':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [repr(sorted((k, environ.get(k)) for k in arg.split(','))).encode()]

    if mode == 'pid':
        start_response('200 OK', [])
        return [str(os.getpid()).encode()]

    if mode == 'read':
        inp = environ['wsgi.input']
        if arg == 'all':
            out = [inp.read(), inp.read()]
        elif arg == 'n':
            out = [inp.read(3), inp.read(3), inp.read(0), inp.read(100), inp.read(5)]
        elif arg == 'lines':
            out = inp.readlines()
        elif arg == 'readline':
            out = [inp.readline(), inp.readline(4), inp.readline(), inp.readline()]
        elif arg == 'iter':
            out = list(inp)
        elif arg == 'none':
            out = None
        else:
            out = 'unknown'
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [repr(out).encode('latin-1')]

    if mode == 'stream':
        start_response('200 OK', [('Content-Type', 'text/plain')])

        def blocks():
            for i in range(int(arg)):
                yield b'block%d;' % i
        return blocks()

    if mode == 'list':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'a' * 100, b'b' * 100, b'c' * 100]

    if mode == 'write':
        write = start_response('200 OK', [])
        write(b'written;')
        return [b'returned']

    if mode == 'empty':
        start_response('204 No Content', [('X-Empty', 'yes')])
        return []

    if mode == 'file':
        f = open(environ['FILE'], 'rb')
        if arg:
            f.seek(int(arg))
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](f)

    if mode == 'file_keep':
        # A file-like object whose close() keeps the file open, so that a
        # later 'file_pos' request can report the descriptor's position.
        f = open(environ['FILE'], 'rb')
        f.seek(int(arg))
        STATE['kept'] = f

        class Keep(object):
            def fileno(self):
                return f.fileno()

            def tell(self):
                return f.tell()

            def read(self, n=-1):
                return f.read(n)

            def close(self):
                pass
        start_response('200 OK', [])
        return environ['wsgi.file_wrapper'](Keep())

    if mode == 'file_pos':
        f = STATE.pop('kept')
        pos = os.lseek(f.fileno(), 0, os.SEEK_CUR)
        f.close()
        start_response('200 OK', [])
        return [str(pos).encode()]

    if mode == 'raise':
        raise RuntimeError('daemon boom %s' % arg)

    if mode == 'raise_after':
        start_response('200 OK', [])

        def blocks():
            yield b'partial'
            raise ValueError('daemon boom after %s' % arg)
        return blocks()

    if mode == 'gone':
        st = STATE[arg] = {'yielded': 0, 'closed': False}
        start_response('200 OK', [])

        class Body(object):
            def __iter__(self):
                return self

            def __next__(self):
                if st['yielded'] >= 10000:  # 10 MB: more than socket buffers hold
                    raise StopIteration
                st['yielded'] += 1
                return b'x' * 1000

            def close(self):
                st['closed'] = True
        return Body()

    if mode == 'gone_big':
        # 64 KiB blocks (through the spool ring), up to 128 MiB.
        st = STATE[arg] = {'yielded': 0, 'closed': False}
        start_response('200 OK', [])

        class BigBody(object):
            def __iter__(self):
                return self

            def __next__(self):
                if st['yielded'] >= 2048:
                    raise StopIteration
                st['yielded'] += 1
                return bytes([st['yielded'] & 0xff]) * 65536

            def close(self):
                st['closed'] = True
        return BigBody()

    if mode == 'state':
        start_response('200 OK', [])
        return [repr(STATE.get(arg)).encode()]

    if mode == 'sleep':
        time.sleep(float(arg))
        start_response('200 OK', [])
        return [b'slept']

    if mode == 'hold_gil':
        # A C call made with the GIL held (PyDLL does not release it): the
        # deadlock probe cannot run meanwhile.
        import ctypes
        ctypes.PyDLL(None).usleep(int(float(arg) * 1000000))
        start_response('200 OK', [])
        return [b'held']

    if mode == 'download':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])

        def blocks():
            for i in range(int(arg)):
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

    if mode == 'big_header':
        start_response('200 OK', [('X-Big', 'v' * int(arg))])
        return [b'big']

    start_response('404 Not Found', [])
    return [b'unknown mode']
