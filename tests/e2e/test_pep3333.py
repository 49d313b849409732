"""PEP 3333 over real HTTP.  Every application here is wrapped in
``wsgiref.validate.validator``: a violation on either side (server or app)
raises AssertionError or warns with WSGIWarning, which ends up in the error
log.  So besides its own assertions every test checks that the error log
stayed free of warnings and tracebacks (unless marked log_errors_expected)."""

import hashlib
import json
import os
import re
import time

import pytest

from apache import read_all, read_until
from conftest import start_apache

SNIPPET = """
WSGIScriptAlias /pep/ @APPS@/pep3333/
"""

DATA = bytes(range(256)) * 1024          # 256 KiB, what file_wrapper.wsgi serves

SMALL = b"line one\nline two\n" + b"x" * 250 + b"\nlast line without newline"
MIB = bytes((i * 7 + i // 300) % 256 for i in range(1 << 20))

DIRTY = re.compile(r"Warning|Traceback|AssertionError|Exception ignored|"
                   r"garbage collected|\[wsgi:(error|warn)\].*Error")


@pytest.fixture(scope="module")
def server(request, module):
    return start_apache(request, module, SNIPPET,
                        files={"apps/pep3333/data.bin": DATA})


@pytest.fixture(autouse=True)
def clean_log(request, server):
    mark = server.log_mark()
    yield
    if request.node.get_closest_marker("log_errors_expected"):
        return
    log = server.settle_log(mark, quiet=0.2)
    bad = [line for line in log.splitlines() if DIRTY.search(line)]
    assert not bad, "error log has warnings/tracebacks:\n" + log


@pytest.mark.log_errors_expected
def test_validator_is_active(server):
    """Negative control for the clean-log check: an app breaking PEP 3333
    under the validator gives 500 and an AssertionError in the log."""
    mark = server.log_mark()
    assert server.get("/pep/violation.wsgi").status == 500
    server.wait_log("AssertionError: No Content-Type header found in headers",
                    since=mark)


@pytest.mark.parametrize("body", [SMALL, MIB, b""], ids=["small", "1MiB", "empty"])
@pytest.mark.parametrize("method", ["read", "read_n", "readline", "readline_n",
                                    "readlines", "iterate"])
def test_wsgi_input(server, method, body):
    r = server.post("/pep/input.wsgi/" + method, body,
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status == 200, r.body[:300]
    d = json.loads(r.body)
    assert d["length"] == len(body)
    assert d["sha256"] == hashlib.sha256(body).hexdigest()
    assert d["eof"] == ""                      # reads past EOF return b''
    if method == "read_n":
        assert d["max_piece"] <= 8192
    if method == "readline_n":
        assert d["max_piece"] <= 100
    if method in ("readline", "readlines", "iterate") and body:
        assert d["pieces"] == body.count(b"\n") + (not body.endswith(b"\n"))
    if method == "read" and body:
        assert d["pieces"] == 1                # read() returns everything at once


def test_write_callable(server):
    r = server.get("/pep/write.wsgi")
    assert (r.status, r.body) == (200, b"written-1;written-2;returned-3;")


def test_generator_response(server):
    r = server.get("/pep/generator.wsgi")
    assert r.status == 200
    assert r.body == b"".join(b"line %d\n" % i for i in range(100))
    assert r.complete


def test_close_is_called(server):
    tag = "t%d" % time.monotonic_ns()
    mark = server.log_mark()
    r = server.get("/pep/close.wsgi?" + tag)
    assert (r.status, r.body) == (200, b"body of " + tag.encode())
    server.wait_log(r"\[wsgi:error\] .*close\(\) called for " + tag, since=mark)
    with open(os.path.join(server.tmp, "close-" + tag)) as f:
        assert f.read() == "closed"
    assert server.error_log(mark).count("close() called for " + tag) == 1


def test_exc_info_before_output_replaces_status(server):
    """start_response(..., exc_info) before any output: the new status and
    headers replace the old ones (PEP 3333)."""
    r = server.get("/pep/exc_info.wsgi/replace")
    assert r.status == 500
    assert r.body == b"replaced by error page"
    assert r.headers["Content-Type"] == "text/plain"


@pytest.mark.log_errors_expected
def test_exc_info_after_output_reraises(server):
    """start_response(..., exc_info) after output started must re-raise: the
    client keeps the 200 already sent and a cut-off body; one traceback with
    the original exception is logged.

    mod_wsgi: the chunked body is left unterminated and the connection is
    only closed by KeepAliveTimeout (3 s here), not at once."""
    mark = server.log_mark()
    r = server.get("/pep/exc_info.wsgi/after")
    assert r.status == 200
    assert r.body == b"first block;"
    assert not r.complete
    log = server.wait_log("ValueError: exc-info-after-output", since=mark)
    log = server.settle_log(mark)
    assert log.count("Traceback (most recent call last):") == 1
    assert log.count("ValueError: exc-info-after-output") == 1


def test_output_past_content_length_is_dropped(server):
    r = server.get("/pep/content_length.wsgi")
    assert r.status == 200
    assert r.headers["Content-Length"] == "5"
    assert r.body == b"01234"
    # the connection stays usable: nothing extra was written into it
    conn = server.connection()
    try:
        for _ in range(2):
            conn.request("GET", "/pep/content_length.wsgi")
            resp = conn.getresponse()
            assert (resp.status, resp.read()) == (200, b"01234")
    finally:
        conn.close()


@pytest.mark.parametrize("kind", ["file", "bytesio", "filelike"])
def test_file_wrapper(server, kind):
    tag = "t%d" % time.monotonic_ns()
    r = server.get(f"/pep/file_wrapper.wsgi/{kind}?{tag}")
    assert r.status == 200
    assert r.headers["Content-Length"] == str(len(DATA))
    assert r.body == DATA
    if kind == "filelike":
        # FileWrapper.close() calls the wrapped object's close()
        path = os.path.join(server.tmp, "filelike-closed-" + tag)
        deadline = time.monotonic() + 5
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.path.exists(path)


def test_streaming_blocks_are_sent_when_yielded(server):
    with server.socket() as s:
        t0 = time.monotonic()
        s.sendall(b"GET /pep/stream.wsgi HTTP/1.1\r\nHost: e2e\r\n"
                  b"Connection: close\r\n\r\n")
        first = read_until(s, b"first block\n")
        t_first = time.monotonic() - t0
        rest = read_all(s)
        t_all = time.monotonic() - t0
    assert first.startswith(b"HTTP/1.1 200 ")
    assert b"first block\n" in first
    assert b"second block" not in first
    # the app sleeps 1 s between the blocks: the first must not wait for it
    assert t_first < 0.8, t_first
    assert t_all >= 1.0, t_all
    assert b"second block\n" in rest


def test_latin1_header_value(server):
    with server.socket() as s:
        s.sendall(b"GET /pep/latin1.wsgi HTTP/1.1\r\nHost: e2e\r\n"
                  b"Connection: close\r\n\r\n")
        raw = read_all(s)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nX-Latin1: caf\xe9 \xff\r\n" in head, head


def test_expect_100_continue(server):
    with server.socket(timeout=10) as s:
        s.sendall(b"POST /pep/echo.wsgi HTTP/1.1\r\nHost: e2e\r\n"
                  b"Content-Length: 11\r\nExpect: 100-continue\r\n"
                  b"Connection: close\r\n\r\n")
        interim = read_until(s, b"\r\n\r\n")
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"hello world")
        raw = read_all(s)
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert raw.endswith(b"\r\n\r\nhello world")


def test_first_zero_length_read_sends_100_continue(server):
    """An application may call wsgi.input.read(0) to have the client send
    its body: the interim response goes out on that read, as in mod_wsgi,
    not only on the first read that wants bytes (1.5 s later here)."""
    interim, waited, raw = server.post_after_continue("/pep/readzero.wsgi", b"hello")
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert waited < 1.0, f"100 Continue came {waited:.2f} s after the request"
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\n0:hello\r\n" in raw, raw
