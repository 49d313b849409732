"""Request bodies at the HTTP level (raw sockets): chunked requests with
and without WSGIChunkedRequest, odd Transfer-Encodings, LimitRequestBody,
and a client that disconnects in the middle of a large response."""

import hashlib
import json
import re

import pytest

from apache import read_at_least
from conftest import start_apache

SNIPPET = """
WSGIScriptAlias /echo @APPS@/pep3333/echo.wsgi
WSGIScriptAlias /chunked @APPS@/pep3333/input.wsgi
<Location /chunked>
    WSGIChunkedRequest On
</Location>
WSGIScriptAlias /limited @APPS@/pep3333/echo.wsgi
<Location /limited>
    WSGIChunkedRequest On
    LimitRequestBody 1000
</Location>
WSGIScriptAlias /big @APPS@/big.wsgi
WSGIScriptAlias /hello @APPS@/hello.wsgi
"""

CHUNKED_HELLO = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"


@pytest.fixture(scope="module")
def server(request, module):
    return start_apache(request, module, SNIPPET)


def post_raw(server, path, headers, body):
    head = f"POST {path} HTTP/1.1\r\nHost: e2e\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers)
    return server.raw_request(head.encode() + b"\r\n" + body)


def chunk(data: bytes, size: int) -> bytes:
    out = b""
    for i in range(0, len(data), size):
        piece = data[i:i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def test_chunked_request_refused_by_default(server):
    mark = server.log_mark()
    r = post_raw(server, "/echo", [("Transfer-Encoding", "chunked")], CHUNKED_HELLO)
    assert r.status == 411
    server.wait_log(
        r"\[wsgi:error\] \[pid \d+:tid \d+\] \[client 127\.0\.0\.1:\d+\] "
        r"(?:WSGIRT\d{4}: )?"
        r"Received request requiring chunked transfer encoding, but optional "
        r"support for chunked transfer encoding has not been enabled\.: "
        + re.escape(server.apps + "/pep3333/echo.wsgi") + "$", since=mark)
    assert '" 411 ' in server.wait_access("POST /echo ")


@pytest.mark.parametrize("method", ["read", "read_n", "readline", "readline_n",
                                    "readlines", "iterate"])
def test_chunked_request_with_wsgi_chunked_request_on(server, method):
    body = bytes((i * 13) % 251 for i in range(300_000)) + b"\nend\n"
    r = post_raw(server, "/chunked/" + method, [("Transfer-Encoding", "chunked")],
                 chunk(body, 7000))
    assert r.status == 200, r.body[:300]
    d = json.loads(r.body)
    assert d["length"] == len(body)
    assert d["sha256"] == hashlib.sha256(body).hexdigest()
    assert d["eof"] == ""


def test_chunked_echo(server):
    r = post_raw(server, "/limited", [("Transfer-Encoding", "chunked")], CHUNKED_HELLO)
    assert (r.status, r.body) == (200, b"hello world")


def test_unknown_transfer_encoding_is_400(server):
    # Apache core itself rejects a Transfer-Encoding whose last coding is not
    # "chunked"; the module never sees the request.
    r = post_raw(server, "/chunked/read", [("Transfer-Encoding", "gzip")], CHUNKED_HELLO)
    assert r.status == 400


def test_transfer_encoding_other_than_chunked_is_501(server):
    mark = server.log_mark()
    r = post_raw(server, "/chunked/read", [("Transfer-Encoding", "gzip, chunked")],
                 CHUNKED_HELLO)
    assert r.status == 501
    server.wait_log(
        r"\[wsgi:error\] .*Unexpected value for Transfer-Encoding of 'gzip, chunked' "
        r"supplied\. Only 'chunked' supported\.: "
        + re.escape(server.apps + "/pep3333/input.wsgi") + "$", since=mark)


@pytest.mark.parametrize("path, status", [("/limited", 200), ("/echo", 411)])
def test_transfer_encoding_and_content_length(server, path, status):
    """Both Transfer-Encoding: chunked and Content-Length: Apache (2.4.71)
    drops the Content-Length and reads the chunked body; it does not answer
    400.  The connection is closed after such a request."""
    r = post_raw(server, path, [("Transfer-Encoding", "chunked"),
                                ("Content-Length", "3")], CHUNKED_HELLO)
    assert r.status == status
    if status == 200:
        assert r.body == b"hello world"
    assert r.headers["connection"] == ["close"]


def test_body_over_limit_request_body_is_413(server):
    mark = server.log_mark()
    r = post_raw(server, "/limited", [("Content-Length", "2000")], b"y" * 2000)
    assert r.status == 413
    server.wait_log("AH01588: Requested content-length of 2000 is larger than "
                    "the configured limit of 1000", since=mark)
    r = post_raw(server, "/limited", [("Content-Length", "1000")], b"y" * 1000)
    assert (r.status, r.body) == (200, b"y" * 1000)


def test_chunked_body_over_limit_request_body_is_413(server):
    r = post_raw(server, "/limited", [("Transfer-Encoding", "chunked")],
                 chunk(b"z" * 2000, 500))
    assert r.status == 413


def test_client_disconnect_mid_response(server):
    """The client reads ~1 MiB of a 64 MiB streamed response and closes.  The
    access log keeps the app's 200, the app's iterable is closed early, and
    nothing about the disconnect is logged as an error."""
    mark = server.log_mark()
    with server.socket() as s:
        s.sendall(b"GET /big?1024 HTTP/1.1\r\nHost: e2e\r\n\r\n")
        got = read_at_least(s, 1 << 20)
        assert got.startswith(b"HTTP/1.1 200 OK\r\n")
    line = server.wait_access("GET /big?1024 ")
    assert re.search(r'" 200 \d+ ', line), line
    log = server.wait_log(r"big\.wsgi finished after (\d+) blocks", since=mark)
    log = server.settle_log(mark)
    blocks = int(re.search(r"big\.wsgi finished after (\d+) blocks", log).group(1))
    assert blocks < 1024, "the app was iterated to the end despite the disconnect"
    others = [l for l in log.splitlines()
              if l.strip() and not re.search(
                  r"big\.wsgi finished after|Create interpreter|Attach interpreter|"
                  r"Loading Python script file", l)]
    assert not others, "unexpected error-log lines:\n" + "\n".join(others)
    r = server.get("/hello")
    assert r.status == 200
