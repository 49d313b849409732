"""Where a daemon process logs about a request, as mod_wsgi 4.9.4 does: the
lines carry the client's address (``[remote IP:PORT]``, Apache's form for a
request without a scoreboard slot) and go to the ErrorLog of the virtual
host that received the request, even when the daemon group is defined for
the whole server. Tracebacks and ``wsgi.errors`` output alike."""

import os
import re
import time

from conftest import start_apache

import pytest

APP = """
def application(environ, start_response):
    if environ["PATH_INFO"] == "/errors":
        environ["wsgi.errors"].write("e2e-said-%s\\n" % environ["HTTP_HOST"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    raise RuntimeError("e2e-daemon-boom-%s" % environ["HTTP_HOST"])
"""

SNIPPET = """
WSGISocketPrefix @ROOT@/run/wsgi
WSGIDaemonProcess e2e-logging processes=1 threads=2
<VirtualHost *:@PORT@>
    ServerName main.test
    WSGIScriptAlias /app @ROOT@/app/app.wsgi process-group=e2e-logging
</VirtualHost>
<VirtualHost *:@PORT@>
    ServerName logged.test
    ErrorLog @ROOT@/logged_error.log
    WSGIScriptAlias /app @ROOT@/app/app.wsgi process-group=e2e-logging
</VirtualHost>
<Directory @ROOT@/app>
    Require all granted
</Directory>
"""


@pytest.fixture(scope="module")
def server(request, module):
    return start_apache(request, module, SNIPPET, name="daemon-logging",
                        files={"app/app.wsgi": APP})


def ask(server, host, path):
    """Status of ``path`` asked as ``host``, and the client's own port."""
    with server.socket() as s:
        port = s.getsockname()[1]
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            block = s.recv(65536)
            if not block:
                break
            data += block
    return int(data.split(b" ", 2)[1]), port


def vhost_log(server):
    path = os.path.join(server.root, "logged_error.log")
    with open(path, errors="replace") as f:
        return f.read()


def lines_with(text, needle):
    return [line for line in text.splitlines() if needle in line]


def test_traceback_names_the_client(server):
    mark = server.log_mark()
    status, port = ask(server, "main.test", "/app")
    assert status == 500
    log = server.wait_log(r"RuntimeError: e2e-daemon-boom-main\.test", since=mark)
    header = lines_with(log, "Exception occurred processing WSGI script")
    assert header, log
    assert f"[remote 127.0.0.1:{port}]" in header[0], header[0]
    last = lines_with(log, "RuntimeError: e2e-daemon-boom-main.test")
    assert f"[remote 127.0.0.1:{port}]" in last[0], last[0]


def test_lines_go_to_the_virtual_hosts_error_log(server):
    mark = server.log_mark()
    status, port = ask(server, "logged.test", "/app")
    assert status == 500
    status, _ = ask(server, "logged.test", "/app/errors")
    assert status == 200
    # The lines reach the vhost's log ...
    deadline = time.monotonic() + 10
    log = vhost_log(server)
    while time.monotonic() < deadline and not (
            "e2e-said-logged.test" in log
            and "RuntimeError: e2e-daemon-boom-logged.test" in log):
        time.sleep(0.05)
        log = vhost_log(server)
    assert "RuntimeError: e2e-daemon-boom-logged.test" in log, log
    assert re.search(r"\[remote 127\.0\.0\.1:\d+\] e2e-said-logged\.test$", log, re.M), log
    header = lines_with(log, "Exception occurred processing WSGI script")
    assert f"[remote 127.0.0.1:{port}]" in header[-1], header
    # ... and not the main server's.
    main = server.error_log(mark)
    assert "e2e-daemon-boom-logged.test" not in main, main
    assert "e2e-said-logged.test" not in main, main
