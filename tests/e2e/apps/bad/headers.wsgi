"""Bad response headers.  PATH_INFO picks one."""

HEADERS = {
    "/name_bytes": [(b"X-Bytes", "v")],
    "/value_bytes": [("X-Bytes", b"v")],
    "/value_int": [("X-Int", 42)],
    "/value_crlf": [("X-Crlf", "a\r\nX-Injected: yes")],
    "/value_nul": [("X-Nul", "cut\x00here")],
    "/name_space": [("X Space", "v")],
    "/not_tuple": ["X-Not-Tuple: v"],
    "/triple": [("X-Triple", "v", "w")],
    "/not_list": "X-Header: v",
    "/length_trailing_space": [("Content-Length", "18 ")],
    "/value_not_latin1": [("Content-Disposition", "attachment; filename=\u20ac.txt")],
    "/length_signed": [("Content-Length", "+18")],
    "/length_leading_space": [("Content-Length", " 18")],
}


def application(environ, start_response):
    start_response("200 OK", HEADERS[environ["PATH_INFO"]])
    return [b"should not be sent"]
