# An application failing at each stage of a request. QUERY_STRING is
# "<mode>:<token>"; every iterable it returns records its close() call
# under the token, which "closed:<token>" reports in a later request.
import sys

CLOSED = set()


class Body(object):
    def __init__(self, token, blocks):
        self.token = token
        self.blocks = iter(blocks)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self.blocks)

    def close(self):
        CLOSED.add(self.token)
        if self.token.startswith('raise'):
            raise ValueError('boom in close %s' % self.token)


def application(environ, start_response):
    mode, _, token = environ['QUERY_STRING'].partition(':')

    if mode == 'closed':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'yes' if token in CLOSED else b'no']

    if mode == 'call':
        raise RuntimeError('boom in call %s' % token)

    if mode == 'sr_args':
        start_response('200 OK')

    if mode == 'no_start':
        return Body(token, [b'never started'])

    if mode == 'sr_twice':
        def blocks():
            start_response('200 OK', [])
            yield b'first'
            start_response('200 OK', [])
            yield b'never'
        return Body(token, blocks())

    if mode == 'iter_before':
        def blocks():
            start_response('200 OK', [])
            raise KeyError('boom before output %s' % token)
            yield b''
        return Body(token, blocks())

    if mode == 'iter_after':
        def blocks():
            start_response('200 OK', [])
            yield b'partial'
            raise LookupError('boom after output %s' % token)
        return Body(token, blocks())

    if mode == 'close':
        start_response('200 OK', [('Content-Length', '4')])
        return Body(token, [b'body'])

    if mode == 'bad_item':
        start_response('200 OK', [])
        return Body(token, ['text is not bytes'])

    if mode == 'system_exit':
        raise SystemExit(3)

    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
