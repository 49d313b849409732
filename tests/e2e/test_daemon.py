"""Daemon mode: WSGIDaemonProcess groups, requests proxied to them
(WSGIScriptAlias process-group=, WSGIProcessGroup), supervision (a killed
daemon is respawned), restart and stop (the harness checks that nothing is
left behind), WSGIRestrictEmbedded On, and an unreachable group (503)."""

import glob
import json
import os
import signal
import time

import pytest

from apache import read_all, read_until
from conftest import start_apache

SNIPPET = """
WSGISocketPrefix @ROOT@/run/wsgi
WSGIDaemonProcess e2e-daemon processes=2 threads=4
WSGIImportScript @APPS@/directives/import_marker.py process-group=e2e-daemon application-group=%{GLOBAL}
WSGIScriptAlias /d/imported @APPS@/directives/imported.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /d/pep/ @APPS@/pep3333/
WSGIScriptAlias /d/bad/ @APPS@/bad/
WSGIScriptAlias /d/env @APPS@/environ.wsgi
WSGIScriptAlias /d/global @APPS@/groups/probe.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /d/hello @APPS@/hello.wsgi process-group=e2e-daemon
WSGIScriptAlias /d/redirect @APPS@/daemon/redirect.wsgi
WSGIScriptAlias /d/404 @APPS@/daemon/status404.wsgi
WSGIScriptAlias /d/200error @APPS@/daemon/status200error.wsgi
WSGIScriptAlias /d/override404 @APPS@/daemon/status404.wsgi
<Location /d/override404>
    WSGIErrorOverride On
</Location>
<Location /d>
    WSGIProcessGroup e2e-daemon
</Location>
WSGIScriptAlias /embedded/env @APPS@/environ.wsgi
WSGIDaemonProcess e2e-owner-ok processes=1 threads=1 script-user=root
WSGIDaemonProcess e2e-owner-bad processes=1 threads=1 script-user=www-data
WSGIScriptAlias /owner/ok @APPS@/hello.wsgi process-group=e2e-owner-ok
WSGIScriptAlias /owner/bad @APPS@/hello.wsgi process-group=e2e-owner-bad
"""

DATA = bytes(range(256)) * 1024  # what pep3333/file_wrapper.wsgi serves


@pytest.fixture(scope="module")
def server(request, module):
    return start_apache(request, module, SNIPPET, files={"apps/pep3333/data.bin": DATA})


def env(server, path):
    r = server.get(path)
    assert r.status == 200, (path, r.status, r.body[:500])
    return json.loads(r.body)


def wait_ok(server, path, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        r = server.get(path)
        if r.status == 200 or time.monotonic() > deadline:
            return r
        time.sleep(0.1)


def test_hello(server):
    for _ in range(5):
        r = server.get("/d/hello")
        assert r.status == 200, r.body[:300]
        assert r.body == b"Hello, world!\n"


def test_process_group_in_environ(server):
    d = env(server, "/d/env")
    assert d["environ"]["mod_wsgi.process_group"] == "e2e-daemon"
    assert d["mod_wsgi"]["process_group"] == "e2e-daemon"
    assert d["environ"]["wsgi.multiprocess"] == "True"
    assert d["environ"]["wsgi.multithread"] == "True"
    for key in ("mod_wsgi.queue_start", "mod_wsgi.daemon_start", "mod_wsgi.script_start"):
        assert key in d["environ"], key
    e = d["environ"]
    assert (int(e["mod_wsgi.request_start"]) <= int(e["mod_wsgi.queue_start"])
            <= int(e["mod_wsgi.daemon_start"]) <= int(e["mod_wsgi.script_start"]))


def test_runs_in_another_process(server):
    daemon = env(server, "/d/env")["sys"]["pid"]
    embedded = env(server, "/embedded/env")["sys"]["pid"]
    assert embedded != daemon
    # a daemon is a child of the Apache parent, as the MPM's children are
    assert daemon in server.children()
    assert env(server, "/embedded/env")["environ"]["mod_wsgi.process_group"] == ""


def test_post_body(server):
    body = os.urandom(300_000)
    r = server.post("/d/pep/echo.wsgi", body,
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status == 200
    assert r.body == body


def test_streamed_response(server):
    with server.socket() as s:
        t0 = time.monotonic()
        s.sendall(b"GET /d/pep/stream.wsgi HTTP/1.1\r\nHost: e2e\r\n"
                  b"Connection: close\r\n\r\n")
        first = read_until(s, b"first block\n")
        t_first = time.monotonic() - t0
        rest = read_all(s)
    assert first.startswith(b"HTTP/1.1 200 ")
    assert b"second block" not in first
    assert t_first < 0.8, t_first
    assert b"second block\n" in rest


@pytest.mark.parametrize("kind", ["file", "bytesio"])
def test_file_wrapper(server, kind):
    r = server.get(f"/d/pep/file_wrapper.wsgi/{kind}?t{time.monotonic_ns()}")
    assert r.status == 200
    assert r.body == DATA


def test_app_error_is_500_with_traceback(server):
    mark = server.log_mark()
    r = server.get("/d/bad/raises.wsgi/call")
    assert r.status == 500
    log = server.wait_log(r"RuntimeError: e2e-boom-in-call", since=mark)
    assert "Traceback (most recent call last):" in log


def test_global_application_group_in_daemon(server):
    tag = "m%d" % time.monotonic_ns()
    d = env(server, "/d/global?set=" + tag)
    assert d["group"] == d["module_group"] == ""


def test_import_script_runs_in_the_daemon(server):
    for _ in range(4):
        d = env(server, "/d/imported")
        assert d["imported_pid"] == d["pid"]
        assert d["imported_group"] == ""
        assert d["imported_at"] < d["now"]
    assert env(server, "/embedded/env")["sys"]["pid"] != d["pid"]


def test_location_200_is_an_internal_redirect(server):
    r = server.post("/d/redirect", b"some body", headers={"Content-Type": "text/plain"})
    assert r.status == 200
    assert r.body == b"Hello, world!\n"


def test_error_override(server):
    r = server.get("/d/404")
    assert (r.status, r.body) == (404, b"app-404-body\n")
    r = server.get("/d/override404")
    assert r.status == 404
    assert b"app-404-body" not in r.body
    assert b"Not Found" in r.body


def test_200_error_becomes_500(server):
    r = server.get("/d/200error")
    assert r.status == 500
    assert b"app-200-error-body" not in r.body


def test_script_user(server):
    # the harness's copy of the apps is owned by root
    assert server.get("/owner/ok").status == 200
    mark = server.log_mark()
    assert server.get("/owner/bad").status == 403
    server.wait_log(r"Owner of WSGI script file does not match required user for daemon "
                    r"process, user=root", since=mark)


def test_killed_daemon_is_respawned(server):
    victim = env(server, "/d/env")["sys"]["pid"]
    mark = server.log_mark()
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 10
    seen = set()
    while time.monotonic() < deadline:
        r = server.get("/d/env")
        assert r.status in (200, 500, 503), r.status
        if r.status == 200:
            seen.add(json.loads(r.body)["sys"]["pid"])
        if victim not in server.children() and len(seen - {victim}) >= 1:
            break
        time.sleep(0.1)
    assert victim not in server.children()
    # every request is served again
    for _ in range(10):
        r = server.get("/d/hello")
        assert r.status == 200
    server.wait_log(r"Process 'e2e-daemon' has died", since=mark)


def test_graceful_restart_replaces_daemons(server):
    before = env(server, "/d/env")["sys"]["pid"]
    server.graceful()
    r = wait_ok(server, "/d/env")
    assert r.status == 200
    deadline = time.monotonic() + 15
    while before in server.children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert before not in server.children()
    assert wait_ok(server, "/d/hello").status == 200


RESTRICTED = """
WSGISocketPrefix @ROOT@/run/wsgi
WSGIRestrictEmbedded On
WSGIDaemonProcess e2e-only processes=1 threads=2 connect-timeout=1
WSGIScriptAlias /only @APPS@/environ.wsgi process-group=e2e-only
WSGIScriptAlias /embedded @APPS@/hello.wsgi
"""


@pytest.fixture(scope="module")
def restricted(request, module):
    return start_apache(request, module, RESTRICTED)


def test_restrict_embedded_with_daemon(restricted):
    d = env(restricted, "/only")
    assert d["environ"]["mod_wsgi.process_group"] == "e2e-only"
    assert restricted.get("/embedded").status == 500


def test_unreachable_group_is_503(restricted):
    socks = glob.glob(os.path.join(restricted.root, "run", "wsgi*.sock"))
    assert socks
    for path in socks:
        os.unlink(path)
    r = restricted.get("/only")
    assert r.status == 503


RECYCLE = """
WSGISocketPrefix @ROOT@/run/wsgi
WSGISocketRotation Off
WSGIDaemonProcess e2e-recycle processes=1 threads=1 maximum-requests=3 display-name=%{GROUP}
WSGIScriptAlias /r @APPS@/environ.wsgi process-group=e2e-recycle
"""


@pytest.fixture(scope="module")
def recycle(request, module):
    return start_apache(request, module, RECYCLE)


def test_maximum_requests_recycles_the_process(recycle):
    pids = []
    for _ in range(7):
        r = wait_ok(recycle, "/r")
        assert r.status == 200, r.status
        pids.append(json.loads(r.body)["sys"]["pid"])
    assert pids[0] == pids[1] == pids[2], pids
    assert pids[3] != pids[0], pids
    assert len(set(pids)) >= 3, pids


def test_socket_rotation_off_name_and_permissions(recycle):
    import pwd
    www = pwd.getpwnam("www-data").pw_uid
    socks = glob.glob(os.path.join(recycle.root, "run", "wsgi.*.sock"))
    assert len(socks) == 1, socks
    name = os.path.basename(socks[0])
    assert f".{recycle.pid}.u{www}." in name, name
    st = os.stat(socks[0])
    assert st.st_uid == www
    assert st.st_mode & 0o077 == 0, oct(st.st_mode)


def test_display_name(recycle):
    pid = json.loads(wait_ok(recycle, "/r").body)["sys"]["pid"]
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        title = f.read().split(b"\0")[0]
    # the title is cut to the length of Apache's original argv (as mod_wsgi does)
    assert len(title) >= 10 and b"(wsgi:e2e-recycle)".startswith(title), title


def test_hard_restart_replaces_daemons(recycle):
    before = json.loads(wait_ok(recycle, "/r").body)["sys"]["pid"]
    recycle.restart()
    r = wait_ok(recycle, "/r")
    assert r.status == 200
    deadline = time.monotonic() + 15
    while before in recycle.children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert before not in recycle.children()


def test_daemon_as_root_is_refused(configtest):
    rc, out = configtest("WSGIDaemonProcess e2e-root user=root\n")
    assert rc != 0
    assert "WSGI process blocked from running as root." in out


@pytest.mark.beyond_modwsgi
def test_overlong_socket_path_fails_startup(module, tmp_path):
    from apache import Apache, ApacheError
    prefix = "/tmp/" + "x" * 120
    a = Apache(module.path, f"WSGISocketPrefix {prefix}\n"
                            "WSGIDaemonProcess e2e-long\n")
    try:
        with pytest.raises(ApacheError) as failed:
            a.start(attempts=1, timeout=5)
        assert "WSGISocketPrefix" in str(failed.value)
    finally:
        try:
            a.stop()
        except Exception:
            pass
        a.cleanup()
