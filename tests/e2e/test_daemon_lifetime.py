"""When a daemon process is replaced, seen through Apache as mod_wsgi 4.9.4
does it: a changed WSGI script restarts the daemon process and the request
that saw the change is answered by the new code, inactivity-timeout
replaces an idle process, restart-interval replaces a busy-or-not process
after its time, SIGUSR1 evicts a process within eviction-timeout, and
requests under WSGIIgnoreActivity On do not keep a process alive."""

import os
import signal
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
WSGIDaemonProcess evict processes=1 threads=2 eviction-timeout=1 graceful-timeout=30
WSGIScriptAlias /evict @ROOT@/app/evict.wsgi process-group=evict application-group=%{GLOBAL}
WSGIDaemonProcess ignored processes=1 threads=2 inactivity-timeout=2
WSGIScriptAlias /ignored @ROOT@/app/ignored.wsgi process-group=ignored \\
    application-group=%{GLOBAL}
WSGIScriptAlias /counted @ROOT@/app/ignored.wsgi process-group=ignored \\
    application-group=%{GLOBAL}
<Location /ignored>
    WSGIIgnoreActivity On
</Location>
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
        "app/evict.wsgi": APP.format(version=1),
        "app/ignored.wsgi": APP.format(version=1),
    })


def answer(server, path):
    """(version, pid) of the process that served ``path``."""
    r = server.get(path, timeout=30)
    assert r.status == 200, (path, r.status, r.body[:300], server.error_log()[-2000:])
    version, pid = r.body.split()
    return int(version), int(pid)


def wait_gone(pid, timeout=15):
    """True once process ``pid`` has gone (within ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.1)
    return not os.path.exists(f"/proc/{pid}")


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
    assert wait_gone(first), "idle daemon still running"
    _, second = answer(server, "/idle")
    assert second != first


def test_restart_interval_replaces_the_process(server):
    _, first = answer(server, "/interval")
    assert wait_gone(first), "daemon not restarted after its interval"
    _, second = answer(server, "/interval")
    assert second != first


def test_sigusr1_evicts_within_eviction_timeout(server):
    """SIGUSR1 asks a daemon process to restart gracefully; with
    eviction-timeout=1 it goes within about a second even though its
    graceful-timeout is 30 s, and a new process serves."""
    _, first = answer(server, "/evict")
    os.kill(first, signal.SIGUSR1)
    assert wait_gone(first, timeout=10), "evicted daemon still running"
    _, second = answer(server, "/evict")
    assert second != first


def test_ignored_activity_does_not_keep_a_process_alive(server):
    """Requests to a location with WSGIIgnoreActivity On do not count as
    activity: once a counted request has started the inactivity timer (2 s),
    the process is replaced on time while ignored requests keep coming.
    (Before any counted request, mod_wsgi's timer is not running at all.)"""
    _, first = answer(server, "/counted")
    deadline = time.monotonic() + 12
    while time.monotonic() < deadline:
        _, pid = answer(server, "/ignored")
        if pid != first:
            break
        time.sleep(0.4)
    assert pid != first, "the ignored requests kept the daemon alive"
