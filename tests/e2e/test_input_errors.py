"""Request-body read errors, embedded and daemon mode, over raw sockets:
a client that disconnects mid-upload (Content-Length and chunked), one that
stalls past Apache's ``Timeout``, and one that pauses longer than the
group's ``socket-timeout`` but shorter than ``Timeout``.

The application reads ``wsgi.input`` and lets the ``IOError`` propagate.
As mod_wsgi 4.9.4: the traceback (with APR's text for the failure) is
logged; in daemon mode the worker also logs "Request data read error when
proxying data to daemon process: ..." for a disconnect or a stall; the
status is 500, or 408 for a daemon-mode stall; the next request is served.
"""

import re
import socket
import time

import pytest

from apache import read_all
from conftest import start_apache

# Timeout 3 bounds every stall; ie-st's socket-timeout=1 expires first in
# the daemon, ie-main's (Apache's Timeout, the default) together with the
# worker's.
SNIPPET = """
Timeout 3
WSGISocketPrefix @ROOT@/run/wsgi
WSGIChunkedRequest On
WSGIDaemonProcess ie-main processes=1 threads=4
WSGIDaemonProcess ie-st processes=1 threads=4 socket-timeout=1
WSGIScriptAlias /emb/ @APPS@/inputerr/
WSGIScriptAlias /main/ @APPS@/inputerr/ process-group=ie-main
WSGIScriptAlias /st/ @APPS@/inputerr/ process-group=ie-st
"""

READ_APP = """
def application(environ, start_response):
    inp = environ["wsgi.input"]
    n = 0
    while True:
        block = inp.read(65536)
        if not block:
            break
        n += len(block)
    body = b"%d\\n" % n
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""

READ_ERROR = r"OSError: Apache/mod_wsgi request data read error: "
PARTIAL = "Partial results are valid but processing is incomplete."
TIMEUP = "The timeout specified has expired."
WORKER_LINE = (r"\[wsgi:error\] .*mod_wsgi \(pid=\d+\): Request data read error when "
               r"proxying data to daemon process: ")
WRONG = re.compile(r"Truncated or oversized|WSGIRT040[5-9]|Failed to proxy")


@pytest.fixture(scope="module")
def server(request, module):
    return start_apache(request, module, SNIPPET,
                        files={"apps/inputerr/read.wsgi": READ_APP})


def head(path, framing):
    h = f"POST {path} HTTP/1.1\r\nHost: e2e\r\nConnection: close\r\n"
    if framing == "chunked":
        h += "Transfer-Encoding: chunked\r\n"
    else:
        h += f"Content-Length: {framing}\r\n"
    return (h + "\r\n").encode()


def send_and_close(server, data):
    s = server.socket()
    try:
        s.sendall(data)
        time.sleep(0.2)
    finally:
        s.close()


def status_in_access_log(server, needle):
    line = server.wait_access(needle)
    m = re.search(r'" (\d{3}) ', line)
    assert m, line
    return int(m.group(1))


def assert_next_request_served(server, prefix):
    r = server.post(f"{prefix}/read.wsgi?next", b"x" * 10)
    assert (r.status, r.body) == (200, b"10\n")


def assert_traceback(log, text=None):
    """One app traceback ending in the read error (with ``text``, if given)."""
    assert len(re.findall(r"Exception occurred processing WSGI script '.*read\.wsgi'",
                          log)) == 1, log
    assert re.search(r"Traceback \(most recent call last\):", log), log
    reason = re.escape(text) if text else r"(?:%s|%s)" % (re.escape(PARTIAL), re.escape(TIMEUP))
    assert re.search(re.escape(READ_ERROR) + reason + "$", log, re.M), log


@pytest.mark.parametrize("prefix", ["/emb", "/main"])
@pytest.mark.parametrize("framing", ["cl", "chunked"])
def test_client_disconnect_mid_upload(server, prefix, framing):
    """10 MB announced (or chunked), 1 MiB sent, then the client closes:
    the app's read raises, its traceback is logged, the access log says
    500; daemon mode adds the worker's read-error line."""
    mark = server.log_mark()
    tag = f"dc-{framing}"
    path = f"{prefix}/read.wsgi?{tag}"
    data = b"u" * (1 << 20)
    if framing == "cl":
        payload = head(path, 10_000_000) + data
    else:
        payload = head(path, "chunked") + b"%x\r\n" % len(data) + data + b"\r\n"
    send_and_close(server, payload)
    assert status_in_access_log(server, f"POST {path} ") == 500
    log = server.wait_log(re.escape(READ_ERROR + PARTIAL) + "$", since=mark)
    log = server.settle_log(mark)
    assert_traceback(log, PARTIAL)
    worker = re.findall(WORKER_LINE + re.escape(PARTIAL) + "$", log, re.M)
    assert len(worker) == (1 if prefix == "/main" else 0), log
    assert not WRONG.search(log), log
    assert_next_request_served(server, prefix)


@pytest.mark.parametrize("prefix", ["/main", "/st"])
def test_daemon_stalled_upload_is_408(server, prefix):
    """Content-Length 1000, 100 bytes sent, then silence past Timeout: the
    client gets 408, the worker logs the timeout, the daemon the app's
    traceback; nothing about truncated headers."""
    mark = server.log_mark()
    path = f"{prefix}/read.wsgi?stall"
    with server.socket(timeout=20) as s:
        started = time.monotonic()
        s.sendall(head(path, 1000) + b"s" * 100)
        raw = read_all(s)
        took = time.monotonic() - started
    assert raw.startswith(b"HTTP/1.1 408 "), raw[:200]
    assert took < 10, took
    server.wait_log(WORKER_LINE + re.escape(TIMEUP) + "$", since=mark)
    server.wait_log(re.escape(READ_ERROR), since=mark)
    log = server.settle_log(mark, quiet=1.5)
    # The daemon's own read fails with socket-timeout's text (ie-st), or
    # with whatever reached it first when both timeouts are Timeout.
    assert_traceback(log, TIMEUP if prefix == "/st" else None)
    assert len(re.findall(WORKER_LINE, log)) == 1, log
    assert not WRONG.search(log), log
    assert status_in_access_log(server, f"POST {path} ") == 408
    assert_next_request_served(server, prefix)


def test_embedded_stalled_upload_is_500(server):
    """Embedded mode answers a stall with the app's 500 (both modules)."""
    mark = server.log_mark()
    path = "/emb/read.wsgi?stall"
    with server.socket(timeout=20) as s:
        s.sendall(head(path, 1000) + b"s" * 100)
        raw = read_all(s)
    assert raw.startswith(b"HTTP/1.1 500 "), raw[:200]
    server.wait_log(re.escape(READ_ERROR + TIMEUP) + "$", since=mark)
    log = server.settle_log(mark)
    assert_traceback(log, TIMEUP)
    assert not re.search(WORKER_LINE, log), log
    assert_next_request_served(server, "/emb")


def test_daemon_upload_pause_past_socket_timeout_is_500(server):
    """The upload pauses 2 s (past socket-timeout=1, within Timeout 3): the
    daemon's read times out, the app's 500 reaches the client, and only the
    traceback is logged."""
    mark = server.log_mark()
    path = "/st/read.wsgi?pause"
    with server.socket(timeout=20) as s:
        s.sendall(head(path, 1000) + b"p" * 100)
        time.sleep(2)
        try:
            s.sendall(b"p" * 900)
        except OSError:
            pass
        raw = read_all(s)
    assert raw.startswith(b"HTTP/1.1 500 "), raw[:200]
    server.wait_log(re.escape(READ_ERROR + TIMEUP) + "$", since=mark)
    # A wrong "truncated" line would come once the worker's read ends.
    log = server.settle_log(mark, quiet=2.5, timeout=10)
    assert_traceback(log, TIMEUP)
    assert not re.search(WORKER_LINE, log), log
    assert not WRONG.search(log), log
    assert_next_request_served(server, "/st")
