"""The WSGI environ as an application sees it over real HTTP (embedded
mode, mpm_event with one threaded child): CGI variables, HTTP_* headers,
wsgi.* and mod_wsgi.* keys, Authorization passing, Apache basic auth."""

import ast
import base64
import hashlib
import json

import pytest

from conftest import start_apache

PASSWORD = "s3cret"
HTPASSWD = "alice:{SHA}%s\n" % base64.b64encode(
    hashlib.sha1(PASSWORD.encode()).digest()).decode()
BASIC = "Basic " + base64.b64encode(b"alice:" + PASSWORD.encode()).decode()

SNIPPET = """
WSGIScriptAlias /env @APPS@/environ.wsgi
WSGIScriptAlias /passauth @APPS@/environ.wsgi
<Location /passauth>
    WSGIPassAuthorization On
</Location>
WSGIScriptAlias /passopt @APPS@/environ.wsgi pass-authorization=On
WSGIScriptAlias /slowimport @ROOT@/slow/slow_import.wsgi
<Directory @ROOT@/slow>
    Require all granted
</Directory>
WSGIScriptAlias /setenv @APPS@/environ.wsgi
<Location /setenv>
    SetEnv wsgi.multithread 0
    SetEnv wsgi.version 9
    SetEnv wsgi.run_once 1
    SetEnv mod_wsgi.version 0
    SetEnv E2E_PLAIN plain
</Location>
WSGIScriptAlias /basic @APPS@/environ.wsgi
<Location /basic>
    AuthType Basic
    AuthName "e2e realm"
    AuthBasicProvider file
    AuthUserFile "@ROOT@/htpasswd"
    Require valid-user
</Location>
"""


SLOW_IMPORT = """
import time
time.sleep(0.5)


def application(environ, start_response):
    body = ("%s %s" % (environ["mod_wsgi.request_start"],
                       environ["mod_wsgi.script_start"])).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"""


@pytest.fixture(scope="module")
def server(request, module):
    return start_apache(
        request, module, SNIPPET,
        modules=["authn_core", "authn_file", "auth_basic", "authz_user", "env"],
        files={"htpasswd": HTPASSWD, "slow/slow_import.wsgi": SLOW_IMPORT})


def describe(r):
    assert r.status == 200, (r.status, r.body[:300])
    return json.loads(r.body)


def environ_of(r):
    return describe(r)["environ"]


def test_cgi_variables(server):
    env = environ_of(server.get("/env/p/q?x=1", headers={"X-Custom-Header": "v1"}))
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == "/env"
    assert env["PATH_INFO"] == "/p/q"
    assert env["QUERY_STRING"] == "x=1"
    assert env["REQUEST_URI"] == "/env/p/q?x=1"
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(server.port)
    assert env["SERVER_ADDR"] == "127.0.0.1"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"].isdigit()
    assert env["GATEWAY_INTERFACE"] == "CGI/1.1"
    assert env["REQUEST_SCHEME"] == "http"
    assert env["SCRIPT_FILENAME"] == server.apps + "/environ.wsgi"
    assert env["DOCUMENT_ROOT"] == server.root + "/htdocs"
    assert env["SERVER_SOFTWARE"].startswith("Apache/2.4")
    assert env["HTTP_HOST"] == f"127.0.0.1:{server.port}"
    assert env["HTTP_X_CUSTOM_HEADER"] == "v1"
    # GET without a body: no CONTENT_LENGTH / CONTENT_TYPE
    assert "CONTENT_LENGTH" not in env
    assert "CONTENT_TYPE" not in env


def test_every_cgi_variable_is_a_native_string(server):
    d = describe(server.get("/env"))
    cgi = {k: t for k, t in d["types"].items() if "." not in k}
    assert cgi, d
    assert set(cgi.values()) == {"str"}, cgi


def test_content_type_and_length_for_post(server):
    env = environ_of(server.post("/env", b"abc", headers={"Content-Type": "text/x-e2e"}))
    assert env["REQUEST_METHOD"] == "POST"
    assert env["CONTENT_LENGTH"] == "3"
    assert env["CONTENT_TYPE"] == "text/x-e2e"
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env


def test_wsgi_keys(server):
    d = describe(server.get("/env"))
    env, types = d["environ"], d["types"]
    assert (env["wsgi.version"], types["wsgi.version"]) == ("(1, 0)", "tuple")
    assert env["wsgi.url_scheme"] == "http"
    # mpm_event, ThreadsPerChild 16, one active child process
    assert (env["wsgi.multithread"], types["wsgi.multithread"]) == ("True", "bool")
    assert (env["wsgi.multiprocess"], types["wsgi.multiprocess"]) == ("False", "bool")
    assert (env["wsgi.run_once"], types["wsgi.run_once"]) == ("False", "bool")
    assert (env["wsgi.input_terminated"], types["wsgi.input_terminated"]) == ("True", "bool")
    for key in ("wsgi.input", "wsgi.errors", "wsgi.file_wrapper"):
        assert key in env


def test_mod_wsgi_keys(server):
    d = describe(server.get("/env/x"))
    env, types = d["environ"], d["types"]
    assert env["mod_wsgi.process_group"] == ""
    # default WSGIApplicationGroup %{RESOURCE}: "<ServerName>:<port>|<SCRIPT_NAME>"
    # (the port is left out only when it is 80 or 443)
    assert env["mod_wsgi.application_group"] == f"127.0.0.1:{server.port}|/env"
    assert env["mod_wsgi.callable_object"] == "application"
    assert env["mod_wsgi.script_reloading"] == "1"
    assert env["mod_wsgi.request_handler"] == "wsgi-script"
    assert env["mod_wsgi.handler_script"] == ""
    assert env["mod_wsgi.script_name"] == "/env"
    assert env["mod_wsgi.path_info"] == "/x"
    assert env["mod_wsgi.listener_host"] == "127.0.0.1"
    assert env["mod_wsgi.listener_port"] == str(server.port)
    assert env["mod_wsgi.enable_sendfile"] == "0"
    assert env["mod_wsgi.ignore_activity"] == "0"
    assert types["mod_wsgi.request_id"] == "str" and env["mod_wsgi.request_id"]
    # mod_wsgi.connection_id is only set when Apache already generated a log
    # id for the connection (something logged with it): not asserted.
    for key in ("mod_wsgi.request_start", "mod_wsgi.script_start"):
        assert types[key] == "str" and env[key].isdigit(), key   # microseconds
    # the Python-visible mod_wsgi module agrees with the environ
    assert d["mod_wsgi"]["process_group"] == ""
    assert d["mod_wsgi"]["application_group"] == env["mod_wsgi.application_group"]


def test_resource_group_takes_port_from_host_header(server):
    """%{RESOURCE} uses ServerName plus the port the client asked for (Host
    header, UseCanonicalName Off); a Host without a port means port 80,
    which is left out."""
    env = environ_of(server.get("/env", headers={"Host": "e2e.example"}))
    assert env["mod_wsgi.application_group"] == "127.0.0.1|/env"
    assert env["SERVER_NAME"] == "e2e.example"
    env = environ_of(server.get("/env", headers={"Host": "e2e.example:8123"}))
    assert env["mod_wsgi.application_group"] == "127.0.0.1:8123|/env"
    assert env["SERVER_PORT"] == "8123"


def test_request_ids_differ_per_request(server):
    ids = {environ_of(server.get("/env"))["mod_wsgi.request_id"] for _ in range(3)}
    assert len(ids) == 3


@pytest.mark.parametrize("key", ["apache.version", "mod_wsgi.version"])
def test_version_tuples(server, key):
    d = describe(server.get("/env"))
    assert d["types"][key] == "tuple"
    value = ast.literal_eval(d["environ"][key])
    assert len(value) == 3 and all(isinstance(v, int) for v in value), value
    if key == "apache.version":
        # Debian's mod_wsgi reports the httpd headers it was compiled with
        # (2.4.55), not the running server, so only the major.minor is fixed.
        assert value[:2] == (2, 4)
    else:
        assert value[0] == 4


def test_header_with_underscore_is_dropped(server):
    # Apache drops headers whose names contain characters other than
    # alphanumerics and '-' so that X_Auth_User cannot spoof X-Auth-User.
    env = environ_of(server.get("/env", headers={"X_Auth_User": "evil"}))
    assert "HTTP_X_AUTH_USER" not in env
    env = environ_of(server.get("/env", headers={"X-Auth-User": "good",
                                                  "X_Auth_User": "evil"}))
    assert env["HTTP_X_AUTH_USER"] == "good"


def test_no_authorization_by_default(server):
    env = environ_of(server.get("/env", headers={"Authorization": BASIC}))
    assert "HTTP_AUTHORIZATION" not in env
    assert "REMOTE_USER" not in env


@pytest.mark.parametrize("path", ["/passauth", "/passopt"])
def test_pass_authorization(server, path):
    """WSGIPassAuthorization On, and the pass-authorization=On option of
    WSGIScriptAlias."""
    env = environ_of(server.get(path, headers={"Authorization": BASIC}))
    assert env["HTTP_AUTHORIZATION"] == BASIC


def test_path_is_not_passed(server):
    env = environ_of(server.get("/env"))
    assert "PATH" not in env


def test_basic_auth_sets_remote_user(server):
    r = server.get("/basic")
    assert r.status == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="e2e realm"'
    wrong = "Basic " + base64.b64encode(b"alice:wrong").decode()
    assert server.get("/basic", headers={"Authorization": wrong}).status == 401
    env = environ_of(server.get("/basic", headers={"Authorization": BASIC}))
    assert env["REMOTE_USER"] == "alice"
    assert env["AUTH_TYPE"] == "Basic"
    # Apache authenticated; the credentials themselves stay hidden
    assert "HTTP_AUTHORIZATION" not in env


APACHE_MODULE = """
WSGISocketPrefix @ROOT@/run/wsgi
WSGIDaemonProcess apachemod processes=2 threads=3
WSGIScriptAlias /embedded @APPS@/apache_module.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /daemon @APPS@/apache_module.wsgi process-group=apachemod \\
    application-group=%{GLOBAL}
"""


def test_apache_module_describes_the_server(request, module):
    """The Python ``apache`` module: version, Apache's description, MPM name
    and build date, and the MPM's process and thread figures.  A daemon
    process reports the same Apache figures while its ``mod_wsgi`` ones
    are its group's."""
    server = start_apache(request, module, APACHE_MODULE, name="apache-module")
    embedded = json.loads(server.get("/embedded").body)
    daemon = json.loads(server.get("/daemon").body)
    info = embedded["apache"]
    assert info["version"][:2] == [2, 4], info
    assert info["description"].startswith("Apache/2.4"), info
    assert "Python/3" in info["description"], info
    assert info["mpm_name"] == "event", info
    assert isinstance(info["build_date"], str) and info["build_date"], info
    assert info["threads_per_process"] > 1, info
    assert (embedded["mod_wsgi"]["maximum_processes"],
            embedded["mod_wsgi"]["threads_per_process"]) == (
        info["maximum_processes"], info["threads_per_process"])
    assert daemon["mod_wsgi"] == {"process_group": "apachemod",
                                  "maximum_processes": 2, "threads_per_process": 3}
    assert daemon["apache"] == info


def test_setenv_cannot_replace_the_servers_own_keys(server):
    """A variable set with SetEnv reaches the environ as a string, but the
    keys the server itself defines keep their values and types, as mod_wsgi
    sets them after copying the request's variables."""
    d = describe(server.get("/setenv"))
    env, types = d["environ"], d["types"]
    assert env["E2E_PLAIN"] == "plain"
    assert (env["wsgi.multithread"], types["wsgi.multithread"]) == ("True", "bool")
    assert (env["wsgi.version"], types["wsgi.version"]) == ("(1, 0)", "tuple")
    assert (env["wsgi.run_once"], types["wsgi.run_once"]) == ("False", "bool")
    assert types["mod_wsgi.version"] == "tuple"


def test_script_start_is_after_the_script_loaded(server):
    """mod_wsgi.script_start marks when the application is about to be
    called: after its interpreter was acquired and its script imported
    (0.5 s here, on the first request), as mod_wsgi stamps it."""
    r = server.get("/slowimport")
    assert r.status == 200, r.body[:300]
    request_start, script_start = map(int, r.body.split())
    assert script_start - request_start >= 500_000, (request_start, script_start)


MANY_CHILDREN = """\
StartServers 2
ServerLimit 6
ThreadLimit 16
ThreadsPerChild 16
MaxRequestWorkers 96
MinSpareThreads 1
MaxSpareThreads 96
MaxConnectionsPerChild 0
"""


def test_apache_maximum_processes_in_a_daemon_is_mod_wsgis_figure(request, module):
    """mod_wsgi reports as apache.maximum_processes the highest scoreboard
    slot in use when the process starts, at least 1, not the MPM's limit:
    a daemon forked before Apache's children says 1 even with ServerLimit
    6."""
    server = start_apache(request, module, APACHE_MODULE, name="apache-module-many",
                          mpm_config=MANY_CHILDREN)
    daemon = json.loads(server.get("/daemon").body)
    assert daemon["apache"]["maximum_processes"] == 1, daemon
    assert daemon["apache"]["threads_per_process"] == 16, daemon
