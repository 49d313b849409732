"""What a WSGIDaemonProcess group's settings do inside its processes, as
mod_wsgi 4.9.4 does it: home= (working directory and the front of sys.path),
python-path= instead of WSGIPythonPath, wsgi.run_once, the graceful-timeout
default, and which virtual hosts may send requests to a group."""

import json
import threading
import time

from conftest import start_apache

import pytest


def env(server, path, headers=None):
    r = server.get(path, headers=headers)
    assert r.status == 200, (path, r.status, r.body[:500])
    return json.loads(r.body)


# ---------------------------------------------------------------------------
# wsgi.run_once and graceful-timeout

ONCE = """
WSGISocketPrefix @ROOT@/run/wsgi
WSGIDaemonProcess e2e-once threads=1 maximum-requests=1
WSGIScriptAlias /once @APPS@/environ.wsgi process-group=e2e-once
WSGIDaemonProcess e2e-twice threads=1 maximum-requests=2
WSGIScriptAlias /twice @APPS@/environ.wsgi process-group=e2e-twice
WSGIDaemonProcess e2e-once-mt threads=2 maximum-requests=1
WSGIScriptAlias /once-mt @APPS@/environ.wsgi process-group=e2e-once-mt
WSGIDaemonProcess e2e-drain threads=2 maximum-requests=2
WSGIScriptAlias /drain/sleep @APPS@/daemon/sleep.wsgi process-group=e2e-drain
WSGIScriptAlias /drain/pid @APPS@/daemon/pid.wsgi process-group=e2e-drain
"""


@pytest.fixture(scope="module")
def once(request, module):
    return start_apache(request, module, ONCE)


@pytest.mark.parametrize("path,expected", [
    ("/once", "True"),      # threads=1 maximum-requests=1
    ("/twice", "False"),    # maximum-requests=2
    ("/once-mt", "False"),  # threads=2
])
def test_run_once(once, path, expected):
    """wsgi.run_once is True only for a daemon group with threads=1 and
    maximum-requests=1 (mod_wsgi 4.9.4 Adapter_environ)."""
    for _ in range(2):
        d = env(once, path)
        assert (d["environ"]["wsgi.run_once"], d["types"]["wsgi.run_once"]) == (expected, "bool")


def test_graceful_timeout_defaults_to_15_seconds(once):
    """maximum-requests reached while another request is still running:
    with graceful-timeout unset the process drains (its default is 15 s in
    mod_wsgi 4.9.4) instead of shutting down at once, and the running
    request completes."""
    first = env(once, "/drain/pid")  # a warm process; one request of two used
    mark = once.log_mark()
    result = {}
    slow = threading.Thread(target=lambda: result.update(r=once.get("/drain/sleep?s=2")))
    slow.start()
    try:
        time.sleep(0.7)
        r = once.get("/drain/pid")
        assert r.status == 200
        assert int(r.body) == first, "the second request went to another process"
        log = once.wait_log(r"Maximum requests reached, ", since=mark)
    finally:
        slow.join(30)
    assert result["r"].status == 200 and result["r"].body == b"slept\n"
    first_line = next(l for l in log.splitlines() if "Maximum requests reached, " in l)
    assert "Maximum requests reached, attempt a graceful shutdown 'e2e-drain'." in first_line, log

