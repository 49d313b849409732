"""When a daemon process is replaced, seen through Apache as mod_wsgi 4.9.4
does it: a changed WSGI script restarts the daemon process and the request
that saw the change is answered by the new code, inactivity-timeout
replaces an idle process, restart-interval replaces a busy-or-not process
after its time."""

import os
import time

from conftest import start_apache

import pytest

APP = """
import os

VERSION = {version}


def application(environ, start_response):
    body = ("%d %d" % (VERSION, os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"""

SNIPPET = """
WSGISocketPrefix @ROOT@/run/wsgi
WSGIDaemonProcess reload processes=1 threads=2
WSGIScriptAlias /reload @ROOT@/app/reload.wsgi process-group=reload application-group=%{GLOBAL}
WSGIDaemonProcess idle processes=1 threads=2 inactivity-timeout=1
WSGIScriptAlias /idle @ROOT@/app/idle.wsgi process-group=idle application-group=%{GLOBAL}
WSGIDaemonProcess interval processes=1 threads=2 restart-interval=1
WSGIScriptAlias /interval @ROOT@/app/interval.wsgi process-group=interval \\
    application-group=%{GLOBAL}
<Directory @ROOT@/app>
    Require all granted
</Directory>
"""


@pytest.fixture(scope="module")
def server(request, module):
    return start_apache(request, module, SNIPPET, name="daemon-lifetime", files={
        "app/reload.wsgi": APP.format(version=1),
        "app/idle.wsgi": APP.format(version=1),
        "app/interval.wsgi": APP.format(version=1),
    })


def answer(server, path):
    """(version, pid) of the process that served ``path``."""
    r = server.get(path, timeout=30)
    assert r.status == 200, (path, r.status, r.body[:300], server.error_log()[-2000:])
    version, pid = r.body.split()
    return int(version), int(pid)


def test_changed_script_restarts_the_daemon_and_serves_the_new_code(server):
    version, first = answer(server, "/reload")
    assert version == 1
    assert answer(server, "/reload") == (1, first)
    script = os.path.join(server.root, "app", "reload.wsgi")
    with open(script, "w") as f:
        f.write(APP.format(version=2))
    mtime = os.stat(script).st_mtime + 2
    os.utime(script, (mtime, mtime))
    version, second = answer(server, "/reload")
    assert version == 2
    assert second != first, "the daemon process was not restarted"
    assert answer(server, "/reload") == (2, second)


def test_inactivity_timeout_replaces_an_idle_process(server):
    _, first = answer(server, "/idle")
    deadline = time.monotonic() + 15
    while os.path.exists(f"/proc/{first}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{first}"), "idle daemon still running"
    _, second = answer(server, "/idle")
    assert second != first


def test_restart_interval_replaces_the_process(server):
    _, first = answer(server, "/interval")
    deadline = time.monotonic() + 15
    while os.path.exists(f"/proc/{first}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{first}"), "daemon not restarted after its interval"
    _, second = answer(server, "/interval")
    assert second != first
