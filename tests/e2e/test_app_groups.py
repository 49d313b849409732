"""Application groups (sub-interpreters) and the directives that select
what runs: WSGIApplicationGroup and its expansions, the application-group=
and callable-object= options, WSGICallableObject, WSGIImportScript,
WSGIHandlerScript, and AddHandler wsgi-script with/without ExecCGI.

Isolation is observed through the per-interpreter ``sys`` module: the probe
app stores a marker on it (?set=NAME) and reports the marker it sees."""

import hashlib
import json
import re
import time

import pytest

from conftest import start_apache

SNIPPET = """
WSGIImportScript @APPS@/directives/import_marker.py process-group=%{GLOBAL} application-group=%{GLOBAL}

WSGIScriptAlias /g/global1 @APPS@/groups/probe.wsgi
WSGIScriptAlias /g/global2 @APPS@/groups/probe2.wsgi
<LocationMatch "^/g/global[12]">
    WSGIApplicationGroup %{GLOBAL}
</LocationMatch>
WSGIScriptAlias /g/res1 @APPS@/groups/probe.wsgi
WSGIScriptAlias /g/res2 @APPS@/groups/probe2.wsgi
WSGIScriptAlias /g/server @APPS@/groups/probe.wsgi
<Location /g/server>
    WSGIApplicationGroup %{SERVER}
</Location>
WSGIScriptAlias /g/host @APPS@/groups/probe.wsgi
<Location /g/host>
    WSGIApplicationGroup %{HOST}
</Location>
WSGIScriptAlias /g/env @APPS@/groups/probe.wsgi
<Location /g/env>
    SetEnv E2E_GROUP from-env-var
    WSGIApplicationGroup %{ENV:E2E_GROUP}
</Location>
WSGIScriptAlias /g/envglobal @APPS@/groups/probe2.wsgi
<Location /g/envglobal>
    SetEnv E2E_GROUP2 %{GLOBAL}
    WSGIApplicationGroup %{ENV:E2E_GROUP2}
</Location>
WSGIScriptAlias /g/envunset @APPS@/groups/probe.wsgi
<Location /g/envunset>
    WSGIApplicationGroup %{ENV:E2E_UNSET_VARIABLE}
</Location>
WSGIScriptAlias /g/literal @APPS@/groups/probe.wsgi
<Location /g/literal>
    WSGIApplicationGroup e2e-literal
</Location>
WSGIScriptAlias /g/opt @APPS@/groups/probe2.wsgi application-group=e2e-literal

WSGIScriptAlias /case/upper @APPS@/case/App.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /case/lower @APPS@/case/app.wsgi application-group=%{GLOBAL}

WSGIScriptAlias /imported @APPS@/directives/imported.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /imported-sub @APPS@/directives/imported.wsgi

WSGIScriptAlias /callable @APPS@/directives/callable.wsgi
<Location /callable>
    WSGICallableObject alt
</Location>
WSGIScriptAlias /callable-opt @APPS@/directives/callable.wsgi callable-object=alt2
WSGIScriptAlias /callable-default @APPS@/directives/callable.wsgi
WSGIScriptAlias /callable-missing @APPS@/directives/callable.wsgi callable-object=nope

WSGIHandlerScript e2e-handler @APPS@/directives/handler.wsgi
Alias /handled @APPS@/handled
<Directory @APPS@/handled>
    AddHandler e2e-handler .ext
</Directory>

Alias /cgi @APPS@/scripts
<Directory @APPS@/scripts>
    Options ExecCGI
    AddHandler wsgi-script .wsgi
</Directory>
Alias /nocgi @APPS@/noexec
<Directory @APPS@/noexec>
    AddHandler wsgi-script .wsgi
</Directory>
"""


@pytest.fixture(scope="module")
def server(request, module):
    return start_apache(request, module, SNIPPET, modules=["alias", "env"])


def probe(server, path, set_marker=None, **kw):
    if set_marker:
        path += "?set=" + set_marker
    r = server.get(path, **kw)
    assert r.status == 200, (path, r.status, r.body[:300])
    return json.loads(r.body)


def tag():
    return "m%d" % time.monotonic_ns()


def test_global_group_is_shared_between_scripts(server):
    t = tag()
    a = probe(server, "/g/global1", set_marker=t)
    b = probe(server, "/g/global2")
    assert a["group"] == b["group"] == ""
    assert a["module_group"] == b["module_group"] == ""
    assert b["marker"] == t
    assert a["script"] != b["script"]


def test_resource_groups_are_isolated(server):
    t = tag()
    a = probe(server, "/g/res1", set_marker=t)
    b = probe(server, "/g/res2")
    assert a["group"] == f"127.0.0.1:{server.port}|/g/res1"
    assert b["group"] == f"127.0.0.1:{server.port}|/g/res2"
    assert a["marker"] == t
    assert b["marker"] != t
    # and the first one keeps its own state across requests
    assert probe(server, "/g/res1")["marker"] == t


def test_state_does_not_leak_between_global_and_sub_interpreters(server):
    t1, t2 = tag(), tag()
    probe(server, "/g/global1", set_marker=t1)
    probe(server, "/g/literal", set_marker=t2)
    assert probe(server, "/g/global2")["marker"] == t1
    assert probe(server, "/g/res2")["marker"] not in (t1, t2)
    assert probe(server, "/g/literal")["marker"] == t2


def test_server_group(server):
    d = probe(server, "/g/server")
    assert d["group"] == d["module_group"] == f"127.0.0.1:{server.port}"


def test_host_group(server):
    d = probe(server, "/g/host", headers={"Host": "other.test:81"})
    assert d["group"] == d["module_group"] == "other.test:81"
    # port 80 (no port in Host) is left out
    d = probe(server, "/g/host", headers={"Host": "other.test"})
    assert d["group"] == "other.test"


def test_interpreters_are_keyed_by_name(server):
    """%{HOST} for Host 127.0.0.1:PORT names the same interpreter as
    %{SERVER}: they share state."""
    t = tag()
    probe(server, "/g/server", set_marker=t)
    d = probe(server, "/g/host")
    assert d["group"] == f"127.0.0.1:{server.port}"
    assert d["marker"] == t


def test_env_group(server):
    d = probe(server, "/g/env")
    assert d["group"] == d["module_group"] == "from-env-var"


def test_env_group_value_is_expanded_again(server):
    """An %{ENV:var} whose value is itself %{GLOBAL} selects the main
    interpreter."""
    t = tag()
    probe(server, "/g/global1", set_marker=t)
    d = probe(server, "/g/envglobal")
    assert d["group"] == ""
    assert d["marker"] == t


def test_env_group_with_unset_variable(server):
    """mod_wsgi: an unset variable leaves the expression itself as the group
    name."""
    d = probe(server, "/g/envunset")
    assert d["group"] == "%{ENV:E2E_UNSET_VARIABLE}"


def test_literal_group_and_application_group_option(server):
    t = tag()
    a = probe(server, "/g/literal", set_marker=t)
    b = probe(server, "/g/opt")        # application-group=e2e-literal
    assert a["group"] == b["group"] == "e2e-literal"
    assert b["module_group"] == "e2e-literal"
    assert b["marker"] == t
    assert a["script"] != b["script"]


@pytest.mark.parametrize("path, name", [
    ("/callable-default", "application"),
    ("/callable", "alt"),            # WSGICallableObject alt
    ("/callable-opt", "alt2"),       # callable-object=alt2
])
def test_callable_object(server, path, name):
    r = server.get(path)
    assert (r.status, r.body) == (200, name.encode())
    assert r.headers["X-Callable"] == name


def test_callable_object_missing(server):
    mark = server.log_mark()
    assert server.get("/callable-missing").status == 404
    server.wait_log(r"Target WSGI script '" + re.escape(server.apps)
                    + r"/directives/callable\.wsgi' does not contain WSGI "
                    r"application 'nope'\.$", since=mark)


def test_import_script_runs_at_process_start(server):
    d = json.loads(server.get("/imported").body)
    assert d["imported_group"] == ""
    assert d["imported_pid"] == d["pid"]
    assert d["imported_at"] < d["now"]
    log = server.error_log()
    loaded = log.index("e2e import script loaded pid=%d" % d["pid"])
    # ... before the first request was handled by that process
    first_request = re.search(r"\[pid %d:tid \d+\] \[client " % d["pid"], log)
    assert first_request and loaded < first_request.start(), log
    assert log.count("e2e import script loaded") == 1
    # only the %{GLOBAL} interpreter got it
    sub = json.loads(server.get("/imported-sub").body)
    assert sub["imported_at"] is None


def test_handler_script(server):
    r = server.get("/handled/page.ext")
    assert r.status == 200, r.body[:300]
    d = json.loads(r.body)
    assert d["script_filename"] == server.apps + "/handled/page.ext"
    assert d["content"] == "handled page\n"
    assert d["handler_script"] == server.apps + "/directives/handler.wsgi"
    assert d["request_handler"] == "e2e-handler"


def test_add_handler_with_exec_cgi(server):
    r = server.get("/cgi/hello.wsgi")
    assert (r.status, r.body) == (200, b"Hello, world!\n")


def test_add_handler_without_exec_cgi_is_403(server):
    mark = server.log_mark()
    assert server.get("/nocgi/hello.wsgi").status == 403
    server.wait_log(r"\[wsgi:error\] .*Options ExecCGI is off in this directory: "
                    + re.escape(server.apps + "/noexec/hello.wsgi") + "$", since=mark)


def test_scripts_differing_only_in_case(server):
    """Two scripts whose paths differ only in case, in one interpreter: each
    request runs its own script.  The script's module is named
    _mod_wsgi_<32 hex digits>."""
    for _ in range(2):
        for path, name in (("/case/upper", b"App.wsgi "), ("/case/lower", b"app.wsgi ")):
            r = server.get(path)
            assert r.status == 200
            assert r.body.startswith(name), r.body
            assert re.fullmatch(rb"_mod_wsgi_[0-9a-f]{32}", r.body[len(name):]), r.body


@pytest.mark.beyond_modwsgi
def test_module_name_keeps_case_on_case_sensitive_filesystem(server):
    """Generated for wsgirt only.  WSGICaseSensitivity defaults to On on
    Linux, and the docs say On means the path's case matters.  mod_wsgi
    inverts the test and lowercases the path when it is On (reference §7,
    unchanged in 4.9.4), so App.wsgi and app.wsgi share one module name and
    every alternate request logs "Reloading WSGI script"."""
    mark = server.log_mark()
    names = {}
    for _ in range(2):
        for path, script in (("/case/upper", "App.wsgi"), ("/case/lower", "app.wsgi")):
            body = server.get(path).body.decode()
            names[script] = body.split(" ", 1)[1]
    for script, name in names.items():
        full = f"{server.apps}/case/{script}"
        assert name == "_mod_wsgi_" + hashlib.md5(full.encode()).hexdigest()
    assert "Reloading WSGI script" not in server.settle_log(mark, quiet=0.2)
