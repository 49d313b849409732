"""A script's own say in reloading, as mod_wsgi (since 3.0) gives it: with
WSGIScriptReloading On (the default), a script that defines
``reload_required(resource)`` is asked before each request whose file has
not changed. ``resource`` is the file the request maps to (SCRIPT_FILENAME:
the script itself, or for WSGIHandlerScript the handled file). A true
answer reloads the script in embedded mode and restarts the process in
daemon mode; an exception is logged with its traceback, naming the script,
and the request is served by the loaded code.

An exception a handler script raises while handling a request is logged
naming the requested resource, not the handler script, as mod_wsgi does."""

import json
import os
import re
import time

from conftest import start_apache

import pytest

APP = """
import json
import os
import time

LOADED = time.time_ns()
ASKED = []


# Yes when resource.reload was touched after this copy loaded (so a copy
# loaded after the touch, such as a restarted daemon's preloaded one, says
# no); raises while resource.raise exists.
def reload_required(resource):
    ASKED.append(resource)
    if os.path.exists(resource + ".raise"):
        raise RuntimeError("reload_required failed on purpose")
    try:
        return os.stat(resource + ".reload").st_mtime_ns > LOADED
    except FileNotFoundError:
        return False


def application(environ, start_response):
    if environ["SCRIPT_FILENAME"].endswith("raise.ext"):
        raise RuntimeError("handler failed on purpose")
    body = json.dumps({"loaded": LOADED, "pid": os.getpid(), "asked": ASKED}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


handle_request = application
"""

SNIPPET = """
WSGISocketPrefix @ROOT@/run/wsgi
WSGIScriptAlias /embedded @ROOT@/app/embedded.wsgi application-group=%{GLOBAL}
WSGIDaemonProcess hooked processes=1 threads=2
WSGIScriptAlias /daemon @ROOT@/app/daemon.wsgi process-group=hooked application-group=%{GLOBAL}
WSGIHandlerScript e2e-hooked @ROOT@/app/handler.wsgi
Alias /handled @ROOT@/handled
<Directory @ROOT@/handled>
    AddHandler e2e-hooked .ext
    Require all granted
</Directory>
<Directory @ROOT@/app>
    Require all granted
</Directory>
"""


@pytest.fixture(scope="module")
def server(request, module):
    return start_apache(request, module, SNIPPET, name="reload-hook",
                        modules=["alias"], files={
                            "app/embedded.wsgi": APP,
                            "app/daemon.wsgi": APP,
                            "app/handler.wsgi": APP,
                            "handled/page.ext": "page\n",
                            "handled/raise.ext": "raise\n",
                        })


class Client:
    """One keep-alive connection, so that embedded-mode requests stay with
    the Apache child that loaded the script."""

    def __init__(self, server):
        self.server = server
        self.conn = server.connection()

    def ask(self, path):
        self.conn.request("GET", path)
        r = self.conn.getresponse()
        body = r.read()
        assert r.status == 200, (path, r.status, body[:300],
                                 self.server.error_log()[-2000:])
        return json.loads(body)

    def close(self):
        self.conn.close()


@pytest.fixture
def client(server):
    c = Client(server)
    yield c
    c.close()


def flag(path, kind):
    """Creates ``path.kind`` and returns a function that removes it. File
    times come from a clock that can lag a tick behind: wait that out, so
    the flag is newer than the copy loaded by the request just before."""
    time.sleep(0.05)
    name = path + "." + kind
    with open(name, "w"):
        pass
    return lambda: os.unlink(name)


def test_embedded_script_is_asked_with_its_own_path_and_reloads(server, client):
    script = os.path.join(server.root, "app", "embedded.wsgi")
    first = client.ask("/embedded")
    again = client.ask("/embedded")
    assert again["loaded"] == first["loaded"]
    assert again["asked"][-1] == script
    mark = server.log_mark()
    unflag = flag(script, "reload")
    try:
        reloaded = client.ask("/embedded")
    finally:
        unflag()
    assert reloaded["loaded"] != first["loaded"], "the script was not reloaded"
    assert reloaded["asked"] == [], "the reloaded module was asked, not the new one"
    server.wait_log(r"Reloading WSGI script '" + re.escape(script) + "'", since=mark)
    assert client.ask("/embedded")["loaded"] == reloaded["loaded"]


def test_handler_script_is_asked_with_the_handled_file(server, client):
    page = os.path.join(server.root, "handled", "page.ext")
    first = client.ask("/handled/page.ext")
    again = client.ask("/handled/page.ext")
    assert again["loaded"] == first["loaded"]
    assert again["asked"][-1] == page
    unflag = flag(page, "reload")
    try:
        assert client.ask("/handled/page.ext")["loaded"] != first["loaded"]
    finally:
        unflag()


def test_exception_in_reload_required_is_logged_and_the_loaded_code_serves(server, client):
    script = os.path.join(server.root, "app", "embedded.wsgi")
    before = client.ask("/embedded")
    mark = server.log_mark()
    unflag = flag(script, "raise")
    try:
        after = client.ask("/embedded")
    finally:
        unflag()
    assert after["loaded"] == before["loaded"]
    log = server.wait_log(r"RuntimeError: reload_required failed on purpose", since=mark)
    assert re.search(r"Exception occurred processing WSGI script '"
                     + re.escape(script) + "'", log), log
    assert "Traceback (most recent call last):" in log


def test_handler_exception_names_the_requested_resource(server):
    mark = server.log_mark()
    r = server.get("/handled/raise.ext")
    assert r.status == 500
    log = server.wait_log(r"RuntimeError: handler failed on purpose", since=mark)
    resource = os.path.join(server.root, "handled", "raise.ext")
    assert re.search(r"Exception occurred processing WSGI script '"
                     + re.escape(resource) + "'", log), log
    assert "WSGI script '" + os.path.join(server.root, "app", "handler.wsgi") not in log


def test_daemon_restarts_when_the_script_asks(server, client):
    """The process restarts and the request that asked is served by the new
    one (whose copy of the script, preloaded or not, is asked again)."""
    script = os.path.join(server.root, "app", "daemon.wsgi")
    first = client.ask("/daemon")
    again = client.ask("/daemon")
    assert (again["pid"], again["loaded"]) == (first["pid"], first["loaded"])
    assert again["asked"][-1] == script
    mark = server.log_mark()
    unflag = flag(script, "reload")
    try:
        restarted = client.ask("/daemon")
    finally:
        unflag()
    assert restarted["pid"] != first["pid"], "the daemon process was not restarted"
    server.wait_log(r"Force restart of process 'hooked'", since=mark)
    assert client.ask("/daemon")["pid"] == restarted["pid"]
