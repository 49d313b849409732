# start_response misuse: QUERY_STRING names a bad status or header; the
# error raised by start_response propagates (500, traceback logged).
import sys

CASES = {
    'status_bytes': (b'200 OK', []),
    'status_int': (200, []),
    'status_no_space': ('200', []),
    'status_two_digits': ('20 OK', []),
    'status_letters': ('2x0 OK', []),
    'status_crlf': ('200 OK\r\nX-Injected: 1', []),
    'status_lf': ('200 OK\nX', []),
    'headers_tuple': ('200 OK', (('A', 'b'),)),
    'headers_dict': ('200 OK', {'A': 'b'}),
    'header_not_tuple': ('200 OK', [['A', 'b']]),
    'header_3_tuple': ('200 OK', [('A', 'b', 'c')]),
    'header_1_tuple': ('200 OK', [('A',)]),
    'header_name_bytes': ('200 OK', [(b'A', 'b')]),
    'header_value_bytes': ('200 OK', [('A', b'b')]),
    'header_value_int': ('200 OK', [('A', 1)]),
    'header_value_crlf': ('200 OK', [('A', 'b\r\nX-Injected: 1')]),
    'header_value_lf': ('200 OK', [('A', 'b\nc')]),
    'header_value_cr': ('200 OK', [('A', 'b\rc')]),
    'header_name_space': ('200 OK', [('A B', 'c')]),
    'content_length_text': ('200 OK', [('Content-Length', 'ten')]),
    'content_length_negative': ('200 OK', [('Content-Length', '-1')]),
    'header_value_not_latin1': ('200 OK', [('X-Name', '\u20ac uro')]),
    'header_name_not_latin1': ('200 OK', [('X-\u20ac', 'v')]),
}


def application(environ, start_response):
    case = environ['QUERY_STRING']
    status, headers = CASES[case]
    start_response(status, headers)
    return [b'should not be sent']
