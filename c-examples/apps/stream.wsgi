# A generator without Content-Length: the host sends it chunked, one chunk
# per block. /fail raises after the first block: the response is then
# incomplete and the client must be able to tell (no final chunk).
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    fail = environ['PATH_INFO'] == '/fail'

    def blocks():
        for i in range(5):
            yield ('block %d\n' % i).encode()
            if fail:
                raise RuntimeError('unit_host test: failure mid-body')
        yield b''  # an empty block must not end the chunked body early
        yield b'end\n'
    return blocks()
