"""Bad status lines (and one good one).  PATH_INFO picks one."""

STATUSES = {
    "/no_reason": "200",
    "/empty_reason": "200 ",
    "/abc": "abc",
    "/bytes": b"200 OK",
    "/int": 200,
    "/crlf": "200 OK\r\nX-Injected: yes",
    "/short_code": "20 OK",
    "/long_code": "2000 OK",
}


def application(environ, start_response):
    start_response(STATUSES[environ["PATH_INFO"]], [("Content-Type", "text/plain")])
    return [b"should not be sent"]
