"""shutdown-timeout bounds a daemon process's whole shutdown, as mod_wsgi
4.9.4's reaper thread does: from "Shutdown requested", the wait for
requests in progress and Python's teardown (atexit callbacks) together get
shutdown-timeout; then the process logs "Aborting process 'g'." and
"Exiting process 'g'." and exits with status -1 (255), nothing logged
after.  A teardown that finishes in time exits normally.

Python's teardown only runs with WSGIDestroyInterpreter On (mod_wsgi's
default), so these servers start with quick_exit=False."""

import os
import re
import signal
import threading
import time

from conftest import start_apache

import pytest

APP = """
import atexit
import os
import time

SLEEP = {sleep}


def _teardown():
    with open("@ROOT@/tmp/atexit-%d" % os.getpid(), "w") as f:
        f.write("started")
    time.sleep(SLEEP)


atexit.register(_teardown)


def application(environ, start_response):
    query = environ.get("QUERY_STRING", "")
    if query.startswith("sleep="):
        time.sleep(float(query[6:]))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
"""

SNIPPET = """
WSGISocketPrefix @ROOT@/run/wsgi
WSGIDaemonProcess stuck processes=1 threads=2 shutdown-timeout=2
WSGIScriptAlias /stuck @ROOT@/app/stuck.wsgi process-group=stuck application-group=%{GLOBAL}
WSGIDaemonProcess quick processes=1 threads=2 shutdown-timeout=5
WSGIScriptAlias /quick @ROOT@/app/quick.wsgi process-group=quick application-group=%{GLOBAL}
<Directory @ROOT@/app>
    Require all granted
</Directory>
"""

FILES = {
    "app/stuck.wsgi": APP.format(sleep=60),
    "app/quick.wsgi": APP.format(sleep=0.2),
}


@pytest.fixture(scope="module")
def server(request, module):
    return start_apache(request, module, SNIPPET, name="daemon-shutdown",
                        quick_exit=False, files=FILES)


def daemon_pid(server, path):
    r = server.get(path, timeout=30)
    assert r.status == 200, (path, r.status, r.body[:300], server.error_log()[-2000:])
    return int(r.body)


def exited(pid):
    """True once ``pid`` has exited: gone, or a zombie its parent has not
    reaped yet (mod_wsgi's parent reaps daemons on its next maintenance
    tick, up to a second later)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def wait_exited(pid, timeout):
    """Seconds until ``pid`` exited, or None after ``timeout``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if exited(pid):
            return time.monotonic() - t0
        time.sleep(0.02)
    return None


def own_lines(log, pid):
    """The lines process ``pid`` wrote itself (Apache's ``[pid N:tid T]``)."""
    return [line for line in log.splitlines() if re.search(rf"\[pid {pid}[:\]]", line)]


def check_aborted(server, log, pid, group):
    """The reaper's two lines are the last the process wrote, after its
    "Shutdown requested" and after its teardown started."""
    lines = own_lines(log, pid)
    text = "\n".join(lines)
    assert f"mod_wsgi (pid={pid}): Shutdown requested '{group}'." in text, log[-4000:]
    assert len(lines) >= 2, log[-4000:]
    assert lines[-2].endswith(f"mod_wsgi (pid={pid}): Aborting process '{group}'."), text
    assert lines[-1].endswith(f"mod_wsgi (pid={pid}): Exiting process '{group}'."), text
    assert text.count("Exiting process") == 1, text
    assert text.index("Shutdown requested") < text.index("Aborting process"), text
    # The teardown ran (and was cut short), not only the drain.
    with open(os.path.join(server.tmp, f"atexit-{pid}")) as f:
        assert f.read() == "started"


def test_shutdown_timeout_ends_a_stuck_teardown(server):
    """SIGTERM to an idle daemon whose atexit callback never returns: the
    reaper ends it shutdown-timeout (2 s) after the shutdown started, with
    mod_wsgi's two lines.  (The exit status, 255, is not visible here:
    Apache hands the module an exit code where mod_wsgi's "terminated
    normally, exit code" line expects a wait status, so neither module
    logs it.)"""
    pid = daemon_pid(server, "/stuck")
    mark = server.log_mark()
    os.kill(pid, signal.SIGTERM)
    took = wait_exited(pid, 10)
    assert took is not None, server.error_log(mark)[-4000:]
    assert 1.5 < took < 3.5, (took, server.error_log(mark)[-4000:])
    log = server.wait_log(
        rf"mod_wsgi \(pid={pid}\): Process 'stuck' has died",
        since=mark, timeout=10)
    check_aborted(server, log, pid, "stuck")
    # The parent replaced it.
    assert daemon_pid(server, "/stuck") != pid


def test_one_deadline_covers_requests_and_teardown(server):
    """A request still running when the shutdown starts uses up most of the
    deadline; the teardown only gets what is left, not shutdown-timeout
    again: the process is gone about 2 s after the signal, not 1.8 + 2."""
    pid = daemon_pid(server, "/stuck")
    result = {}

    def slow():
        result["response"] = server.get("/stuck?sleep=1.8", timeout=30)

    client = threading.Thread(target=slow)
    mark = server.log_mark()
    client.start()
    time.sleep(0.3)  # the request is in the daemon
    os.kill(pid, signal.SIGTERM)
    took = wait_exited(pid, 10)
    client.join(30)
    log = server.error_log(mark)
    assert took is not None, log[-4000:]
    assert took < 3.2, (took, log[-4000:])
    # The request in progress finished normally.
    assert result["response"].status == 200, (result, log[-4000:])
    assert int(result["response"].body) == pid
    log = server.wait_log(
        rf"mod_wsgi \(pid={pid}\): Process 'stuck' has died",
        since=mark, timeout=10)
    check_aborted(server, log, pid, "stuck")


def test_a_teardown_in_time_exits_normally(server):
    """A teardown that ends within shutdown-timeout: no "Aborting process",
    one "Exiting process"."""
    pid = daemon_pid(server, "/quick")
    mark = server.log_mark()
    os.kill(pid, signal.SIGTERM)
    took = wait_exited(pid, 10)
    assert took is not None and took < 4, (took, server.error_log(mark)[-4000:])
    log = server.wait_log(
        rf"mod_wsgi \(pid={pid}\): Process 'quick' has died",
        since=mark, timeout=10)
    text = "\n".join(own_lines(log, pid))
    assert "Aborting process" not in text, text
    assert text.count(f"mod_wsgi (pid={pid}): Exiting process 'quick'.") == 1, text
    with open(os.path.join(server.tmp, f"atexit-{pid}")) as f:
        assert f.read() == "started"


RESTART_SNIPPET = """
WSGISocketPrefix @ROOT@/run/wsgi
WSGIDaemonProcess stuck processes=1 threads=2 shutdown-timeout=1
WSGIScriptAlias /stuck @ROOT@/app/stuck.wsgi process-group=stuck application-group=%{GLOBAL}
<Directory @ROOT@/app>
    Require all granted
</Directory>
"""


def test_graceful_restart_reaps_a_stuck_teardown(request, module):
    """Apache's graceful restart stops the daemons; one stuck in its
    teardown is ended by its own reaper (shutdown-timeout=1, before the
    parent's SIGKILL 3 s after its SIGTERM), with mod_wsgi's lines, and the
    new generation serves."""
    server = start_apache(request, module, RESTART_SNIPPET, name="daemon-shutdown-restart",
                          quick_exit=False, files={"app/stuck.wsgi": APP.format(sleep=60)})
    pid = daemon_pid(server, "/stuck")
    mark = server.log_mark()
    t0 = time.monotonic()
    server.graceful()
    assert wait_exited(pid, 10) is not None, server.error_log(mark)[-4000:]
    took = time.monotonic() - t0
    log = server.wait_log(rf"mod_wsgi \(pid={pid}\): Exiting process", since=mark)
    assert took < 6, (took, log[-4000:])
    check_aborted(server, log, pid, "stuck")
    assert daemon_pid(server, "/stuck") != pid
