"""When a daemon process is replaced, seen through Apache as mod_wsgi 4.9.4
does it: a changed WSGI script restarts the daemon process and the request
that saw the change is answered by the new code, inactivity-timeout
replaces an idle process, restart-interval replaces a busy-or-not process
after its time, SIGUSR1 evicts a process within eviction-timeout,
requests under WSGIIgnoreActivity On do not keep a process alive, and
maximum-requests with graceful-timeout waits for the process to go idle,
each request ending meanwhile pushing the graceful deadline back."""

import os
import re
import signal
import threading
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
WSGIDaemonProcess maxreq processes=1 threads=4 maximum-requests=2 graceful-timeout=2
WSGIScriptAlias /maxreq/sleep @APPS@/daemon/sleep.wsgi process-group=maxreq \\
    application-group=%{GLOBAL}
WSGIScriptAlias /maxreq/pid @APPS@/daemon/pid.wsgi process-group=maxreq \\
    application-group=%{GLOBAL}
WSGIDaemonProcess maxlong processes=1 threads=2 maximum-requests=1 graceful-timeout=1 \\
    shutdown-timeout=1
WSGIScriptAlias /maxlong/sleep @APPS@/daemon/sleep.wsgi process-group=maxlong \\
    application-group=%{GLOBAL}
WSGIScriptAlias /maxlong/pid @APPS@/daemon/pid.wsgi process-group=maxlong \\
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


def pid_of(server, path):
    r = server.get(path, timeout=30)
    assert r.status == 200, (path, r.status, r.body[:300], server.error_log()[-2000:])
    return int(r.body)


def at(t0, offset):
    """Sleep until ``offset`` seconds after ``t0``."""
    time.sleep(max(0.0, t0 + offset - time.monotonic()))


def test_maximum_requests_waits_for_idle_and_each_end_pushes_the_deadline(server):
    """maximum-requests=2 graceful-timeout=2, reached while a 4.5 s request
    runs: as mod_wsgi 4.9.4 (the check at the end of each request in
    wsgi_daemon_worker), the process keeps accepting requests; every
    request that ends while another is still running logs "attempt a
    graceful shutdown" again and moves the graceful deadline to 2 s from
    then, so the process is still serving after the first deadline; the
    request that ends with nothing else running logs "triggering immediate
    shutdown" and the process goes. The graceful timer never fires."""
    first = pid_of(server, "/maxreq/pid")  # one request of two used
    mark = server.log_mark()
    result = {}
    slow = threading.Thread(
        target=lambda: result.update(r=server.get("/maxreq/sleep?s=4.5", timeout=30)))
    t0 = time.monotonic()
    slow.start()
    try:
        at(t0, 0.5)
        assert pid_of(server, "/maxreq/pid") == first  # the limit: deadline t0+2.5
        server.wait_log(r"Maximum requests reached, attempt a graceful shutdown 'maxreq'\.",
                        since=mark)
        at(t0, 2.0)
        assert pid_of(server, "/maxreq/pid") == first  # accepted meanwhile: t0+4.0
        at(t0, 3.0)
        # Past the first deadline: still the same process.
        assert pid_of(server, "/maxreq/pid") == first  # deadline t0+5.0
    finally:
        slow.join(30)
    assert result["r"].status == 200 and result["r"].body == b"slept\n"
    assert wait_gone(first, timeout=10), "daemon still running after it went idle"
    log = server.wait_log(
        r"Maximum requests reached, triggering immediate shutdown 'maxreq'\.", since=mark)
    log = server.settle_log(mark)
    assert len(re.findall(
        r"Maximum requests reached, attempt a graceful shutdown 'maxreq'\.", log)) == 3, log
    assert len(re.findall(
        r"Maximum requests reached, triggering immediate shutdown 'maxreq'\.", log)) == 1, log
    assert "graceful timer expired 'maxreq'" not in log, log
    assert "Requests have completed, triggering immediate shutdown 'maxreq'" not in log, log
    assert pid_of(server, "/maxreq/pid") != first


def test_maximum_requests_graceful_timer_expires_when_no_request_ends(server):
    """maximum-requests=1 graceful-timeout=1, reached while a 4 s request
    runs and no other request ends: the graceful timer fires about 1 s
    later, well before the long request would have ended."""
    mark = server.log_mark()
    result = {}
    slow = threading.Thread(
        target=lambda: result.update(r=server.get("/maxlong/sleep?s=4", timeout=30)))
    t0 = time.monotonic()
    slow.start()
    try:
        at(t0, 0.7)
        first = pid_of(server, "/maxlong/pid")
        log = server.wait_log(r"Daemon process graceful timer expired 'maxlong'\.",
                              since=mark, timeout=10)
        expired = time.monotonic() - t0
    finally:
        slow.join(30)
    assert expired < 3.5, (expired, log)
    graceful = log.index("Maximum requests reached, attempt a graceful shutdown 'maxlong'.")
    assert graceful < log.index("Daemon process graceful timer expired 'maxlong'."), log
    assert wait_gone(first, timeout=10)
    assert pid_of(server, "/maxlong/pid") != first
