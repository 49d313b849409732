"""Daemon mode: the worker's log line when relaying a response fails after
its headers were sent, in mod_wsgi 4.9.4's words with the ``(errno)text: ``
prefix Apache writes for the status mod_wsgi logs (operators grep for
these): the daemon killed mid-stream, socket-timeout between two blocks,
and response-socket-timeout towards a client that stopped reading."""

import re
import socket
import time

import pytest

from conftest import start_apache

SNIPPET = """
Timeout 10
WSGISocketPrefix @ROOT@/run/wsgi
WSGIDaemonProcess pe-die processes=1 threads=2
WSGIDaemonProcess pe-st processes=1 threads=2 socket-timeout=1
WSGIDaemonProcess pe-rst processes=1 threads=2 response-socket-timeout=1
WSGIScriptAlias /die @APPS@/daemon/die.wsgi process-group=pe-die
WSGIScriptAlias /die-pid @APPS@/daemon/pid.wsgi process-group=pe-die
WSGIScriptAlias /st/ @APPS@/proxyerr/ process-group=pe-st
WSGIScriptAlias /rst/ @APPS@/proxyerr/ process-group=pe-rst
"""

SILENT_APP = """
import time
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first\\n"
    time.sleep(3)
    yield b"second\\n"
"""

BIG_APP = """
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    for i in range(200):
        yield b"z" * 262144
"""

HELLO_APP = """
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""

PREFIX_104 = r"\(104\)Connection reset by peer: "
PREFIX_TIMEUP = r"\(70007\)The timeout specified has expired: "
FROM_DAEMON = r"mod_wsgi \(pid=\d+\): Failed to proxy response from daemon\.$"
TO_CLIENT = r"mod_wsgi \(pid=\d+\): Failed to proxy response to client\.$"


@pytest.fixture(scope="module")
def server(request, module):
    return start_apache(request, module, SNIPPET, files={
        "apps/proxyerr/silent.wsgi": SILENT_APP,
        "apps/proxyerr/big.wsgi": BIG_APP,
        "apps/proxyerr/hello.wsgi": HELLO_APP,
    })


def lines_matching(log, pattern):
    return re.findall(pattern, log, re.M)


def test_daemon_killed_mid_stream(server):
    mark = server.log_mark()
    r = server.get("/die?chunked", headers={"Connection": "close"})
    assert r.status == 200
    assert not r.complete or len(r.body) == 1000
    server.wait_log(PREFIX_104 + r".*" + FROM_DAEMON, since=mark)
    log = server.settle_log(mark)
    assert len(lines_matching(log, r"Failed to proxy")) == 1, log
    deadline = time.monotonic() + 15
    while server.get("/die-pid").status != 200:
        assert time.monotonic() < deadline, "the daemon was not respawned"
        time.sleep(0.2)


def test_socket_timeout_after_headers(server):
    mark = server.log_mark()
    r = server.get("/st/silent.wsgi", headers={"Connection": "close"})
    assert r.status == 200
    assert r.body.startswith(b"first\n")
    server.wait_log(PREFIX_TIMEUP + r".*" + FROM_DAEMON, since=mark)
    log = server.settle_log(mark)
    assert len(lines_matching(log, r"Failed to proxy")) == 1, log
    # Let the app finish its sleep so the thread is free again.
    time.sleep(2.5)
    assert server.get("/st/hello.wsgi").status == 200


def test_response_socket_timeout(server):
    mark = server.log_mark()
    s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /rst/big.wsgi HTTP/1.1\r\nHost: e2e\r\nConnection: close\r\n\r\n")
        server.wait_log(PREFIX_TIMEUP + r".*" + TO_CLIENT, since=mark, timeout=20)
    finally:
        s.close()
    log = server.settle_log(mark)
    assert len(lines_matching(log, r"Failed to proxy")) == 1, log
    assert server.get("/rst/hello.wsgi").status == 200
