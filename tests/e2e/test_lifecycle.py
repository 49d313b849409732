"""Graceful restart (SIGUSR1), restart (SIGHUP) and stop (SIGTERM) under
mpm_event, mpm_worker and mpm_prefork, after sub-interpreters and the main
interpreter have served requests.  Every Apache here runs with
quick_exit=False: the module tears its interpreters down for real.

Bounds: each step finishes within 20 s and leaves no process behind (the
harness's stop() checks the pid-file PID, our process group and every
process naming our ServerRoot).

Debian's mod_wsgi 4.9.4 on Python 3.11 does not exit cleanly: a threaded
child that used a sub-interpreter hangs in Py_EndInterpreter (or, with
another app, segfaults), so Apache escalates to SIGKILL after ~10 s on
restart/stop, and after a graceful restart the old child never exits at all
(it is only killed by the next restart or stop).  Prefork children exit, but
now and then abort ("Fatal Python error: PyInterpreterState_Delete:
remaining subinterpreters", exit signal Abort (6)).  The common tests assert
what Apache's escalation still guarantees; the beyond_modwsgi tests assert
the clean exit that wsgirt must achieve."""

import http.client
import json
import os
import re
import signal
import time

import pytest

from conftest import start_apache

SNIPPET = """
WSGIScriptAlias /sub1 @APPS@/environ.wsgi
WSGIScriptAlias /sub2 @APPS@/groups/probe.wsgi
WSGIScriptAlias /main @APPS@/environ.wsgi application-group=%{GLOBAL}
"""

MPMS = ["event", "worker", "prefork"]
BOUND = 20.0

mpm_param = pytest.mark.parametrize("mpm", MPMS)


def start(request, module, mpm):
    return start_apache(request, module, SNIPPET, mpm=mpm, quick_exit=False,
                        name=f"life-{mpm}")


def use_interpreters(server, timeout=BOUND):
    """Request every app (retrying until the server answers); returns the
    set of PIDs that served the environ apps."""
    deadline = time.monotonic() + timeout
    pids = set()
    for path in ("/sub1", "/sub2", "/main", "/sub1", "/main"):
        while True:
            try:
                r = server.get(path, timeout=5)
                if r.status == 200:
                    break
                err = f"status {r.status}"
            except (OSError, http.client.HTTPException) as e:
                err = repr(e)
            if time.monotonic() > deadline:
                raise AssertionError(f"{path} not answering within {timeout}s: {err}\n"
                                     + server.error_log())
            time.sleep(0.1)
        if path != "/sub2":
            pids.add(json.loads(r.body)["sys"]["pid"])
    return pids


def wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if os.path.exists(f"/proc/{p}")
                 and not _zombie(p)]
        if not alive:
            return []
        time.sleep(0.1)
    return alive


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def timed_stop(server, sig=signal.SIGTERM):
    t0 = time.monotonic()
    server.stop(timeout=BOUND + 5, sig=sig)
    elapsed = time.monotonic() - t0
    assert elapsed < BOUND, f"stop took {elapsed:.1f}s\n" + server.error_log()
    assert not server.processes()


UNCLEAN = ("still did not exit", "exit signal", "SIGKILL", "Segmentation fault",
           "Fatal Python error")


def assert_clean_exits(server):
    bad = [l for l in server.error_log().splitlines() if any(u in l for u in UNCLEAN)]
    assert not bad, "children did not exit cleanly:\n" + "\n".join(bad)


@mpm_param
def test_graceful_restart(request, module, mpm):
    server = start(request, module, mpm)
    old_pids = use_interpreters(server)
    old_children = set(server.children())
    assert old_pids <= old_children
    t0 = time.monotonic()
    server.graceful(timeout=BOUND)
    new_pids = use_interpreters(server, timeout=BOUND - (time.monotonic() - t0))
    if mpm != "prefork":
        # The new generation's child serves (the old one only finishes).
        # Right after SIGUSR1 the old child may still accept a connection
        # or two before it stops listening: ask again until the new
        # generation answers, within the same bound.
        while new_pids & old_pids and time.monotonic() - t0 < BOUND:
            time.sleep(0.2)
            new_pids = use_interpreters(server, timeout=BOUND - (time.monotonic() - t0))
        assert not (new_pids & old_pids), (old_pids, new_pids)
    assert time.monotonic() - t0 < BOUND
    assert server.pidfile_pid() == server.pid
    if mpm == "prefork":
        # single-threaded children do exit after a graceful restart with
        # mod_wsgi 4.9.4 (not always cleanly: see the beyond_modwsgi tests)
        assert not wait_gone(old_children, 10)
    timed_stop(server)


@mpm_param
def test_restart(request, module, mpm):
    server = start(request, module, mpm)
    old_pids = use_interpreters(server)
    old_children = set(server.children())
    t0 = time.monotonic()
    server.restart(timeout=BOUND)
    alive = wait_gone(old_children, BOUND - (time.monotonic() - t0))
    assert not alive, f"old children {alive} still running after SIGHUP"
    new_pids = use_interpreters(server, timeout=BOUND)
    assert not (new_pids & old_pids)
    assert server.pidfile_pid() == server.pid
    timed_stop(server)


@mpm_param
def test_stop(request, module, mpm):
    server = start(request, module, mpm)
    use_interpreters(server)
    env = json.loads(server.get("/sub1").body)["environ"]
    assert env["wsgi.multithread"] == ("False" if mpm == "prefork" else "True")
    # event: one child at most; worker: room for two (see MPM_CONFIG);
    # prefork: several single-threaded children
    assert env["wsgi.multiprocess"] == ("False" if mpm == "event" else "True")
    children = server.children()
    timed_stop(server)
    assert wait_gone(children, 0.1) == []


@pytest.mark.beyond_modwsgi
@mpm_param
def test_graceful_old_children_exit(request, module, mpm):
    """Generated for wsgirt only (mod_wsgi 4.9.4's old threaded child hangs
    forever in Py_EndInterpreter).  After a graceful restart the idle old
    children exit on their own within 10 s, without Apache's SIGTERM/SIGKILL
    and without crashing."""
    server = start(request, module, mpm)
    use_interpreters(server)
    old_children = set(server.children())
    server.graceful(timeout=BOUND)
    alive = wait_gone(old_children, 10)
    assert not alive, f"old children {alive} still running 10 s after graceful"
    use_interpreters(server)
    # A graceful stop: on SIGTERM, mpm_event's close_worker_sockets() can
    # read a socket a finishing worker has just freed and crash the child
    # before any module code runs (httpd's race, seen with either module
    # and after static-file requests alone; docs/status.md). This test is
    # about the old generation's exit, not that race.
    timed_stop(server, sig=signal.SIGWINCH)
    assert_clean_exits(server)


@pytest.mark.beyond_modwsgi
@mpm_param
def test_clean_exit_on_restart_and_stop(request, module, mpm):
    """Generated for wsgirt only.  Children that ran sub-interpreters exit
    promptly on SIGHUP and SIGTERM: no escalation to SIGKILL, no crash."""
    server = start(request, module, mpm)
    use_interpreters(server)
    t0 = time.monotonic()
    server.restart(timeout=BOUND)
    use_interpreters(server)
    assert time.monotonic() - t0 < 5
    # Let the worker finish closing the last connection first: httpd's event
    # MPM can crash in its own socket cleanup when SIGTERM lands exactly then
    # (seen in a core dump with no wsgirt frame on the stack); this test is
    # about how children that ran sub-interpreters exit, not that race.
    time.sleep(0.5)
    t0 = time.monotonic()
    server.stop()
    assert time.monotonic() - t0 < 5
    assert_clean_exits(server)


SLEEPER = """
import sys
import time

import mod_wsgi


def stopping(name, **event):
    if name == "process_stopping":
        sys.stderr.write("e2e process_stopping %s\\n" % event["shutdown_reason"])
        sys.stderr.flush()


mod_wsgi.subscribe_events(stopping)


def application(environ, start_response):
    sys.stderr.write("e2e sleeping\\n")
    sys.stderr.flush()
    time.sleep(30)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"woke"]
"""


def stop_prefork_during_sleep(request, module, group):
    """Stops a prefork Apache while a request of ``group`` sleeps in
    time.sleep; returns the error log."""
    server = start_apache(request, module, f"""
WSGIScriptAlias /sleep @ROOT@/app/sleeper.wsgi application-group={group}
<Directory @ROOT@/app>
    Require all granted
</Directory>
""", mpm="prefork", quick_exit=False, name="prefork-stop",
        files={"app/sleeper.wsgi": SLEEPER})
    conn = server.connection(timeout=30)
    conn.request("GET", "/sleep")
    server.wait_log(r"e2e sleeping$")
    server.stop()
    conn.close()
    return server.error_log()


def test_prefork_stop_while_a_request_waits_without_the_gil(request, module):
    """prefork runs the module's cleanup from the exit signal's handler, on
    the thread of a request whose Python code is waiting with the GIL
    released (time.sleep): the child takes the GIL back for the
    interpreter's shutdown (process_stopping is delivered) and exits
    without a crash."""
    log = stop_prefork_during_sleep(request, module, "%{GLOBAL}")
    assert "e2e process_stopping" in log, log[-3000:]
    assert not [l for l in log.splitlines() if any(u in l for u in UNCLEAN)], log[-3000:]


@pytest.mark.beyond_modwsgi
def test_prefork_stop_while_a_sub_interpreter_request_waits(request, module):
    """The same in a sub-interpreter. mod_wsgi 4.9.4 on Python 3.11 aborts
    here ("Fatal Python error: PyInterpreterState_Delete: remaining
    subinterpreters"); wsgirt delivers process_stopping and exits
    cleanly."""
    log = stop_prefork_during_sleep(request, module, "sub")
    assert "e2e process_stopping" in log, log[-3000:]
    assert not [l for l in log.splitlines() if any(u in l for u in UNCLEAN)], log[-3000:]


FLUSHER = """
import atexit
import sys
import threading

wake = threading.Event()
pending = []


def worker():
    wake.wait()
    sys.stderr.write("e2e flushed %d\\n" % len(pending))
    sys.stderr.flush()


thread = threading.Thread(target=worker, daemon=True)
thread.start()


def flush():
    wake.set()
    thread.join(5)


atexit.register(flush)


def application(environ, start_response):
    pending.append(1)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"queued"]
"""


def test_atexit_can_still_use_a_daemon_thread(request, module):
    """The pattern of error-reporting clients: an atexit handler wakes a
    daemon=True worker thread and joins it so it flushes its queue. As in
    mod_wsgi, atexit callbacks run before the interpreter's remaining
    thread states go, so the worker still runs (a daemon process's
    sub-interpreter, torn down when Apache stops)."""
    server = start_apache(request, module, """
WSGISocketPrefix @ROOT@/run/wsgi
WSGIDaemonProcess flusher processes=1 threads=2
WSGIScriptAlias /flush @ROOT@/app/flusher.wsgi process-group=flusher application-group=sub
<Directory @ROOT@/app>
    Require all granted
</Directory>
""", quick_exit=False, name="atexit-thread", files={"app/flusher.wsgi": FLUSHER})
    for _ in range(3):
        assert server.get("/flush").body == b"queued"
    server.stop()
    assert re.search(r"e2e flushed 3$", server.error_log(), re.M), server.error_log()[-3000:]


def test_interpreter_lifecycle_lines_of_a_daemon(request, module):
    """A daemon process's lines as mod_wsgi writes them: the main
    interpreter attached at start, and at stop each sub-interpreter
    destroyed and ended (in the order they were created), then the main
    interpreter cleaned up and Python terminated."""
    server = start_apache(request, module, """
WSGISocketPrefix @ROOT@/run/wsgi
WSGIDaemonProcess lines processes=1 threads=2
WSGIScriptAlias /one @APPS@/hello.wsgi process-group=lines application-group=one
WSGIScriptAlias /two @APPS@/hello.wsgi process-group=lines application-group=two
""", quick_exit=False, name="interp-lines")
    assert server.get("/one").status == 200
    assert server.get("/two").status == 200
    server.stop()
    log = server.error_log()
    pid = re.search(r"mod_wsgi \(pid=(\d+)\): Starting process 'lines'", log).group(1)
    mine = [re.sub(r"^.*mod_wsgi \(pid=\d+\): ", "", line) for line in log.splitlines()
            if f"mod_wsgi (pid={pid})" in line and "interpreter" in line.lower()
            or f"mod_wsgi (pid={pid}): Terminating Python" in line]
    wanted = ["Attach interpreter ''.", "Create interpreter 'one'.", "Create interpreter 'two'.",
              "Destroying interpreters.", "Destroy interpreter 'one'.", "End interpreter 'one'.",
              "Destroy interpreter 'two'.", "End interpreter 'two'.", "Cleanup interpreter ''.",
              "Terminating Python."]
    assert [line for line in mine if line in wanted] == wanted, mine
