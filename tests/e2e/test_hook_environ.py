"""The environ that access, auth and dispatch scripts see, against both modules.

mod_wsgi 4.9.4 gives access and auth scripts its own cut-down environ
(``Auth_environ``): request headers without ``Authorization``, a few CGI
variables computed from the request, the real peer as ``REMOTE_ADDR`` (no
``WSGITrustedProxyHeaders`` processing: a client-sent ``X-Forwarded-For``
must not reach an IP allowlist), no ``SetEnv`` values, ``wsgi.errors`` as the
only ``wsgi.*`` key, the script's own ``mod_wsgi.application_group`` and
``mod_wsgi.process_group`` ``""``, ``mod_wsgi.script_reloading`` as an int,
and the ``mod_ssl.is_https`` / ``mod_ssl.var_lookup`` callables.  The dispatch
script gets the request's variables as built for the application
(``Dispatch_environ``): ``HTTPS`` and ``PATH`` kept, no ``wsgi.url_scheme``,
no ``mod_wsgi.callable_object``.

Each hook script writes what it saw as JSON to ROOT/tmp/<role>-<token>.json,
the token being the request's query string.  The TLS test runs its own
Apache with Debian's mod_ssl and a self-signed certificate made at test time
(loopback only).
"""

import http.client
import json
import os
import ssl
import subprocess
import uuid

import pytest

from apache import free_port
from conftest import start_apache

RECORD = r'''
import json
import os

KEPT = []


def describe(value):
    if isinstance(value, bool):
        return "<bool>"
    if isinstance(value, (str, int)):
        return value
    if isinstance(value, tuple):
        return list(value)
    return "<callable>" if callable(value) else "<%s>" % type(value).__name__


def record(role, environ, **extra):
    seen = {key: describe(value) for key, value in environ.items()}
    seen["__extra__"] = extra
    path = os.path.join("@TMP@", "%s-%s.json" % (role, environ.get("QUERY_STRING", "")))
    with open(path + ".part", "w") as f:
        json.dump(seen, f)
    os.rename(path + ".part", path)


def error_of(call, *args):
    try:
        return ["ok", call(*args)]
    except Exception as e:
        return [type(e).__name__, str(e)]


def ssl_facts(environ):
    lookup = environ["mod_ssl.var_lookup"]
    facts = {
        "is_https": environ["mod_ssl.is_https"](),
        "HTTPS": lookup("HTTPS"),
        "HTTPS_bytes": lookup(b"HTTPS"),
        "SSL_PROTOCOL": lookup("SSL_PROTOCOL"),
        "bad_type": error_of(lookup, 42),
        "bad_latin1": error_of(lookup, "\u20ac"),
        "is_https_args": error_of(environ["mod_ssl.is_https"], 1)[0],
    }
    if environ.get("PATH_INFO", "").endswith("/stale") and KEPT:
        facts["stale"] = error_of(KEPT[-1], "HTTPS")
    KEPT.append(lookup)
    return facts
'''

ACCESS = RECORD + r'''

def allow_access(environ, host):
    record("access", environ, host=host, ssl=ssl_facts(environ))
    return True
'''

AUTH = RECORD + r'''

def check_password(environ, user, password):
    record("authn", environ, user=user)
    return password == "pw"


def groups_for_user(environ, user):
    record("authz", environ, user=user)
    return ["staff"]
'''

DISPATCH = RECORD + r'''

def callable_object(environ):
    record("dispatch", environ)
    if environ.get("PATH_INFO", "").endswith("/envcall"):
        # Expanded as WSGICallableObject's value: E2E_CALLABLE comes from SetEnv.
        return "%{ENV:E2E_CALLABLE}"
    return None
'''

APP = r'''
import json


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({
        "callable": "application",
        "REMOTE_ADDR": environ["REMOTE_ADDR"],
        "callable_object": environ["mod_wsgi.callable_object"],
    }).encode()]


def other(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({
        "callable": "other",
        "REMOTE_ADDR": environ["REMOTE_ADDR"],
        "callable_object": environ["mod_wsgi.callable_object"],
    }).encode()]
'''

SNIPPET = '''
WSGIApplicationGroup %{GLOBAL}
WSGITrustedProxyHeaders X-Forwarded-For
SetEnv E2E_SETENV from-setenv
SetEnv E2E_CALLABLE other

WSGIScriptAlias /env @ROOT@/hooks/app.wsgi
<Location /env>
    AuthType Basic
    AuthName "e2e"
    AuthBasicProvider wsgi
    WSGIAccessScript @ROOT@/hooks/access.wsgi
    WSGIAuthUserScript @ROOT@/hooks/auth.wsgi application-group=e2e-auth
    WSGIAuthGroupScript @ROOT@/hooks/auth.wsgi application-group=%{SERVER}
    Require wsgi-group staff
</Location>

WSGIScriptAlias /res @ROOT@/hooks/app.wsgi
<Location /res>
    WSGIScriptReloading Off
    WSGIAccessScript @ROOT@/hooks/access.wsgi application-group=%{RESOURCE}
</Location>

WSGIScriptAlias /disp @ROOT@/hooks/app.wsgi
<Location /disp>
    WSGIDispatchScript @ROOT@/hooks/dispatch.wsgi application-group=e2e-dispatch
</Location>

<Directory @ROOT@/hooks>
    Require all granted
</Directory>
'''

MODULES = ["auth_basic", "authn_core", "authz_user", "env"]

FILES = {
    "hooks/access.wsgi": ACCESS,
    "hooks/auth.wsgi": AUTH,
    "hooks/dispatch.wsgi": DISPATCH,
    "hooks/app.wsgi": APP,
}

SPOOFED = "203.0.113.9"

# Auth_environ's keys besides the request headers (REMOTE_HOST only with
# HostnameLookups; CONTENT_TYPE/CONTENT_LENGTH only with those headers).
AUTH_KEYS = {
    "SERVER_SIGNATURE", "SERVER_SOFTWARE", "SERVER_NAME", "SERVER_ADDR",
    "SERVER_PORT", "REMOTE_ADDR", "DOCUMENT_ROOT", "SERVER_ADMIN",
    "REMOTE_PORT", "SERVER_PROTOCOL", "REQUEST_METHOD", "QUERY_STRING",
    "REQUEST_URI", "SCRIPT_NAME", "PATH_INFO",
    "apache.version", "mod_wsgi.version", "mod_wsgi.process_group",
    "mod_wsgi.application_group", "mod_wsgi.script_reloading", "wsgi.errors",
    "mod_ssl.is_https", "mod_ssl.var_lookup",
}


@pytest.fixture(scope="module")
def server(request, module):
    return start_apache(request, module, SNIPPET, modules=MODULES, files=FILES)


def basic(user, password):
    import base64
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": "Basic " + token}


def seen(server, role, token):
    with open(os.path.join(server.tmp, f"{role}-{token}.json")) as f:
        return json.load(f)


def is_version(value):
    return isinstance(value, list) and len(value) == 3 and all(
        isinstance(v, int) for v in value)


def check_auth_environ(env, token, *, path, group, method="GET"):
    """What every access/auth script environ of a /env request holds."""
    keys = {k for k in env if k != "__extra__" and not k.startswith("HTTP_")}
    assert keys - {"CONTENT_TYPE", "CONTENT_LENGTH"} == AUTH_KEYS, sorted(keys)
    # The peer, not the client-sent X-Forwarded-For, which stays visible.
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["HTTP_X_FORWARDED_FOR"] == SPOOFED
    assert "HTTP_AUTHORIZATION" not in env
    assert env["HTTP_X_E2E"] == "hello"  # X_E2E (not a token of letters, digits, '-') is left out
    assert "E2E_SETENV" not in env
    assert [k for k in env if k.startswith("wsgi.")] == ["wsgi.errors"]
    assert env["mod_wsgi.process_group"] == ""
    assert env["mod_wsgi.application_group"] == group
    assert env["mod_wsgi.script_reloading"] == 1
    assert is_version(env["apache.version"]) and is_version(env["mod_wsgi.version"])
    assert env["mod_ssl.is_https"] == env["mod_ssl.var_lookup"] == "<callable>"
    assert env["REQUEST_METHOD"] == method
    assert env["QUERY_STRING"] == token
    assert env["REQUEST_URI"] == f"{path}?{token}"
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/env", path[len("/env"):])
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_ADDR"] == "127.0.0.1"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_PORT"].isdigit()


def test_access_and_auth_environ(server):
    token = uuid.uuid4().hex
    headers = {"X-Forwarded-For": SPOOFED, "X-E2E": "hello", "X_E2E": "underscore",
               **basic("alice", "pw")}
    r = server.get(f"/env/sub?{token}", headers=headers)
    assert r.status == 200, r.body
    # The application itself does see the trusted header's address.
    assert json.loads(r.body)["REMOTE_ADDR"] == SPOOFED

    access = seen(server, "access", token)
    check_auth_environ(access, token, path="/env/sub", group="")
    assert access["__extra__"]["host"] == "127.0.0.1"
    authn = seen(server, "authn", token)
    check_auth_environ(authn, token, path="/env/sub", group="e2e-auth")
    assert authn["__extra__"]["user"] == "alice"
    authz = seen(server, "authz", token)
    # application-group=%{SERVER}: ServerName and the non-default port.
    check_auth_environ(authz, token, path="/env/sub", group=f"127.0.0.1:{server.port}")


def test_auth_environ_content_headers(server):
    token = uuid.uuid4().hex
    headers = {"X-Forwarded-For": SPOOFED, "X-E2E": "hello",
               "Content-Type": "text/plain", **basic("alice", "pw")}
    r = server.post(f"/env?{token}", b"body", headers=headers)
    assert r.status == 200, r.body
    env = seen(server, "authn", token)
    check_auth_environ(env, token, path="/env", group="e2e-auth", method="POST")
    assert (env["CONTENT_TYPE"], env["CONTENT_LENGTH"]) == ("text/plain", "4")
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env


def test_access_environ_without_mod_ssl(server):
    """mod_ssl.* exist without mod_ssl: 0 and None."""
    token = uuid.uuid4().hex
    r = server.get(f"/res?{token}")
    assert r.status == 200, r.body
    facts = seen(server, "access", token)["__extra__"]["ssl"]
    assert facts["is_https"] == 0
    assert facts["HTTPS"] is None and facts["SSL_PROTOCOL"] is None
    assert facts["bad_type"] == [
        "TypeError", "byte string value expected, value of type int found"]
    assert facts["bad_latin1"] == [
        "TypeError", "byte string value expected, value containing non 'latin-1' "
        "characters found"]
    assert facts["is_https_args"] == "TypeError"


def test_access_script_group_and_reloading(server):
    """application-group= of a hook script knows only %{GLOBAL}, %{SERVER}
    and %{HOST}: %{RESOURCE} names an interpreter as written.
    WSGIScriptReloading Off is mod_wsgi.script_reloading 0."""
    token = uuid.uuid4().hex
    assert server.get(f"/res?{token}").status == 200
    env = seen(server, "access", token)
    assert env["mod_wsgi.application_group"] == "%{RESOURCE}"
    assert env["mod_wsgi.script_reloading"] == 0


def test_dispatch_environ(server):
    token = uuid.uuid4().hex
    r = server.get(f"/disp/x?{token}", headers={"X-Forwarded-For": SPOOFED})
    assert r.status == 200, r.body
    assert json.loads(r.body)["callable"] == "application"
    env = seen(server, "dispatch", token)
    # The request's variables as built for the application, trusted
    # proxy headers applied.
    assert env["REMOTE_ADDR"] == SPOOFED
    assert env["E2E_SETENV"] == "from-setenv"
    assert "PATH" in env
    assert "HTTPS" not in env  # plain HTTP; set ("1") on a TLS connection
    assert [k for k in env if k.startswith("wsgi.")] == ["wsgi.errors"]
    assert not [k for k in env if k.startswith(("mod_ssl.", "apache."))]
    assert "mod_wsgi.version" not in env
    assert env["mod_wsgi.process_group"] == ""
    assert env["mod_wsgi.application_group"] == "e2e-dispatch"
    assert "mod_wsgi.callable_object" not in env
    assert env["mod_wsgi.script_reloading"] == "1"
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/disp", "/x")


def test_dispatch_callable_expands_env(server):
    token = uuid.uuid4().hex
    r = server.get(f"/disp/envcall?{token}")
    assert r.status == 200, r.body
    assert json.loads(r.body) == {
        "callable": "other", "REMOTE_ADDR": "127.0.0.1", "callable_object": "other"}


# --------------------------------------------------------------------- TLS

TLS_SNIPPET = '''
WSGIApplicationGroup %{GLOBAL}
Listen 127.0.0.1:@TLSPORT@

WSGIScriptAlias /tls @ROOT@/hooks/app.wsgi
<VirtualHost 127.0.0.1:@TLSPORT@>
    ServerName 127.0.0.1
    SSLEngine on
    SSLCertificateFile @ROOT@/tls/cert.pem
    SSLCertificateKeyFile @ROOT@/tls/key.pem
    WSGIScriptAlias /tls @ROOT@/hooks/app.wsgi
</VirtualHost>

<Location /tls>
    WSGIAccessScript @ROOT@/hooks/access.wsgi
</Location>

<Directory @ROOT@/hooks>
    Require all granted
</Directory>
'''


def self_signed(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return key.read_bytes(), cert.read_bytes()


def test_mod_ssl_lookups(request, module, tmp_path):
    key, cert = self_signed(tmp_path)
    tls_port = free_port()
    server = start_apache(
        request, module, TLS_SNIPPET.replace("@TLSPORT@", str(tls_port)),
        modules=["ssl"],
        files={**FILES, "tls/key.pem": key, "tls/cert.pem": cert})

    def tls_get(path):
        conn = http.client.HTTPSConnection(
            "127.0.0.1", tls_port, timeout=30,
            context=ssl._create_unverified_context())
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    token = uuid.uuid4().hex
    assert tls_get(f"/tls?{token}")[0] == 200
    facts = seen(server, "access", token)["__extra__"]["ssl"]
    assert facts["is_https"] == 1
    assert facts["HTTPS"] == facts["HTTPS_bytes"] == "on"
    assert facts["SSL_PROTOCOL"].startswith("TLSv1")

    # The plain-HTTP listener of the same server: mod_ssl is loaded but the
    # connection is not TLS.
    token = uuid.uuid4().hex
    assert server.get(f"/tls?{token}").status == 200
    facts = seen(server, "access", token)["__extra__"]["ssl"]
    assert facts["is_https"] == 0
    assert facts["HTTPS"] == "off"

    # A callable kept past its request raises, as mod_wsgi's does.
    token = uuid.uuid4().hex
    assert tls_get(f"/tls/stale?{token}")[0] == 200
    facts = seen(server, "access", token)["__extra__"]["ssl"]
    assert facts["stale"] == ["RuntimeError", "request object has expired"]
