# exc_info semantics of start_response (PEP 3333).
import sys


def application(environ, start_response):
    mode = environ['QUERY_STRING']

    if mode == 'replace':
        # Before headers are sent, exc_info replaces the status and headers.
        start_response('200 OK', [('X-First', '1')])
        try:
            raise ValueError('handled')
        except ValueError:
            start_response('500 Oops', [('X-Second', '2')], sys.exc_info())
        return [b'error page']

    if mode == 'replace_kw':
        start_response('200 OK', [])
        try:
            raise ValueError('handled')
        except ValueError:
            start_response('503 Busy', [], exc_info=sys.exc_info())
        return [b'busy']

    if mode == 'reraise':
        # After headers are sent, exc_info re-raises the original exception.
        write = start_response('200 OK', [])
        write(b'partial')
        try:
            raise ValueError('original error xyzzy')
        except ValueError:
            start_response('500 Oops', [], sys.exc_info())
        return [b'not reached']

    if mode == 'reraise_caught':
        write = start_response('200 OK', [])
        write(b'partial')
        try:
            raise ValueError('original error')
        except ValueError:
            try:
                start_response('500 Oops', [], sys.exc_info())
            except ValueError as e:
                return [('|reraised %s' % e).encode()]
        return [b'|not reraised']

    if mode == 'twice_before':
        # Without exc_info but before headers are sent: mod_wsgi allows it.
        start_response('200 OK', [])
        start_response('202 Accepted', [])
        return [b'second wins']

    if mode == 'twice_after':
        write = start_response('200 OK', [])
        write(b'partial')
        try:
            start_response('200 OK', [])
        except RuntimeError as e:
            return [('|%s: %s' % (type(e).__name__, e)).encode()]
        return [b'|no error']

    if mode == 'bad_exc_info':
        try:
            start_response('200 OK', [], 'not a tuple')
        except RuntimeError as e:
            start_response('200 OK', [])
            return [str(e).encode()]
