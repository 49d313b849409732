# wsgi.input operations; the body is the repr of what they returned.
def application(environ, start_response):
    inp = environ['wsgi.input']
    mode = environ['QUERY_STRING']
    if mode == 'read':
        out = [inp.read(), inp.read()]
    elif mode == 'read_n':
        out = [inp.read(3), inp.read(3), inp.read(0), inp.read(100), inp.read(5)]
    elif mode == 'read_none':
        out = [inp.read(2), inp.read(None), inp.read(-1)]
    elif mode == 'read_neg':
        out = [inp.read(-1), inp.read(1)]
    elif mode == 'readline':
        out = []
        while True:
            line = inp.readline()
            out.append(line)
            if not line:
                break
        out.append(inp.readline())
    elif mode == 'readline_n':
        out = [inp.readline(3), inp.readline(3), inp.readline(100), inp.readline(0),
               inp.readline(-1), inp.readline(2), inp.readline(2)]
    elif mode == 'readlines':
        out = inp.readlines()
    elif mode == 'readlines_hint':
        out = [inp.readlines(8), inp.readlines(1), inp.readlines()]
    elif mode == 'iter':
        out = list(inp)
    elif mode == 'iter_for':
        out = []
        for line in inp:
            out.append(line)
        out.append(inp.read())
    elif mode == 'mixed':
        out = [inp.read(2), inp.readline(), inp.readlines(), inp.read(), inp.readline()]
    elif mode == 'read_huge':
        # A size far beyond the body (as read(int(CONTENT_LENGTH)) with a
        # lying client): returns what there is, allocating nothing huge.
        out = [inp.read(10 ** 12), inp.read(2 ** 62), inp.readline(2 ** 62)]
    elif mode == 'chunks':
        total = 0
        reads = 0
        while True:
            chunk = inp.read(65536)
            if not chunk:
                break
            total += len(chunk)
            reads += 1
        out = [total, reads]
    elif mode == 'read_error':
        try:
            inp.read()
            out = 'no error'
        except IOError as e:
            out = '%s: %s' % (type(e).__name__, e)
    else:
        out = None
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [repr(out).encode('latin-1')]
