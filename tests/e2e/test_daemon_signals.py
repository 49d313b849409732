"""Signal dispositions of daemon processes, as mod_wsgi 4.9.4's.

mod_wsgi's daemons inherit the Apache parent's SIGHUP and SIGWINCH
dispositions at fork: the first generation, forked before Apache installs
its handlers, has the defaults; daemons forked later (respawned, or after a
restart) have Apache's handlers, which do nothing in a daemon.  Either way
neither signal is *ignored*, so a program the application starts has the
default dispositions (a caught signal is reset at exec, an ignored one is
not).  wsgirt's daemons catch both with a handler that does nothing, in
every generation."""

import os
import signal
import time

from conftest import start_apache

import pytest

APP = """
import os
import subprocess


def application(environ, start_response):
    if environ.get("QUERY_STRING") == "child":
        body = subprocess.check_output(["grep", "^Sig", "/proc/self/status"])
    else:
        body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"""

SNIPPET = """
WSGISocketPrefix @ROOT@/run/wsgi
WSGIDaemonProcess sig processes=1 threads=2
WSGIScriptAlias /sig @ROOT@/app/sig.wsgi process-group=sig application-group=%{GLOBAL}
<Directory @ROOT@/app>
    Require all granted
</Directory>
"""

HUP, WINCH = 1 << (signal.SIGHUP - 1), 1 << (signal.SIGWINCH - 1)


@pytest.fixture(scope="module")
def server(request, module):
    return start_apache(request, module, SNIPPET, name="daemon-signals",
                        files={"app/sig.wsgi": APP})


def daemon_pid(server):
    """The pid of the daemon serving now (waits for a respawn)."""
    deadline = time.monotonic() + 15
    while True:
        r = server.get("/sig", timeout=30)
        if r.status == 200:
            return int(r.body)
        assert time.monotonic() < deadline, (r.status, server.error_log()[-2000:])
        time.sleep(0.1)


def ignored(status_text):
    """The SigIgn mask in a /proc/<pid>/status text."""
    for line in status_text.splitlines():
        if line.startswith("SigIgn:"):
            return int(line.split()[1], 16)
    raise AssertionError(status_text)


def check_not_ignored(server, pid):
    with open(f"/proc/{pid}/status") as f:
        assert ignored(f.read()) & (HUP | WINCH) == 0, "daemon ignores SIGHUP/SIGWINCH"
    r = server.get("/sig?child")
    assert r.status == 200, (r.status, r.body[:300])
    assert ignored(r.body.decode()) & (HUP | WINCH) == 0, \
        "a program the daemon starts ignores SIGHUP/SIGWINCH"


def test_no_generation_ignores_sighup_or_sigwinch(server):
    """First generation, a respawned daemon, and one after a graceful
    restart: neither the daemon nor a program it starts ignores SIGHUP or
    SIGWINCH."""
    pid = daemon_pid(server)
    check_not_ignored(server, pid)
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    respawned = daemon_pid(server)
    assert respawned != pid
    check_not_ignored(server, respawned)
    server.graceful()
    restarted = daemon_pid(server)
    assert restarted != respawned
    check_not_ignored(server, restarted)


def test_sigwinch_leaves_a_daemon_running(server):
    """SIGWINCH (Apache's graceful-stop signal) sent to a daemon: it keeps
    serving, in the same process."""
    pid = daemon_pid(server)
    mark = server.log_mark()
    os.kill(pid, signal.SIGWINCH)
    time.sleep(0.5)
    assert daemon_pid(server) == pid, server.error_log(mark)
    assert "Shutdown requested" not in server.error_log(mark)


def test_sighup_leaves_a_later_daemon_running(server):
    """SIGHUP sent to a daemon forked after Apache started (here: after a
    graceful restart) leaves it serving.  (A first-generation mod_wsgi
    daemon has SIGHUP's default action and dies from it; wsgirt's do not:
    docs/status.md.)"""
    server.graceful()
    pid = daemon_pid(server)
    mark = server.log_mark()
    os.kill(pid, signal.SIGHUP)
    time.sleep(0.5)
    assert daemon_pid(server) == pid, server.error_log(mark)
    assert "Shutdown requested" not in server.error_log(mark)
