"""WSGIAccessScript, WSGIAuthUserScript (Basic and Digest), WSGIAuthGroupScript
and WSGIDispatchScript through a real Apache, against both modules.

Every status below is what Debian's mod_wsgi 4.9.4 answers for the same
config and request. Error paths (mod_wsgi 4.6.0 fixes) must log one
traceback with the request's context and no secondary error line.

The leak check sends 10,000 requests through a raising hook on one
keep-alive connection and compares the Apache child's RSS and the main
interpreter's ``len(gc.get_objects())`` (``sys.gettotalrefcount`` only exists
in debug builds of Python) before and after, after a warm-up.
"""

import hashlib
import http.client
import os
import re
import time
import uuid

import pytest

from conftest import start_apache

AUTH = r'''
import hashlib

USERS = {"alice": "secret", "bob": "pw", "dave": "pw2", "erin": "pw3"}


def check_password(environ, user, password):
    environ["wsgi.errors"].write("e2e-hook-errors user=%s\n" % user)
    if user == "boom":
        raise RuntimeError("e2e-auth-boom")
    if user == "wrongtype":
        return 42
    if user == "alias":
        return "renamed" if password == "pw" else False
    if user not in USERS:
        return None
    return USERS[user] == password


def get_realm_hash(environ, user, realm):
    if user == "boom":
        raise RuntimeError("e2e-digest-boom")
    if user not in USERS:
        return None
    text = "%s:%s:%s" % (user, realm, USERS[user])
    return hashlib.md5(text.encode()).hexdigest()


def groups_for_user(environ, user):
    if user == "bob":
        raise RuntimeError("e2e-group-boom")
    if user == "erin":
        return 42
    return {"alice": ["staff", "users"], "dave": ["other"]}.get(user, [])
'''

ACCESS = r'''
def allow_access(environ, host):
    path = environ.get("PATH_INFO", "")
    if path.endswith("/deny"):
        return False
    if path.endswith("/raise"):
        raise RuntimeError("e2e-access-boom")
    if path.endswith("/none"):
        return None
    if path.endswith("/badtype"):
        return 3
    return host is not None
'''

DISPATCH = r'''
def process_group(environ):
    # Expanded as WSGIProcessGroup's value is: %{GLOBAL} is embedded mode.
    return "%{GLOBAL}"


def application_group(environ):
    return "dispatched"


def callable_object(environ):
    if environ.get("PATH_INFO", "").endswith("/raise"):
        raise RuntimeError("e2e-dispatch-boom")
    return "other"
'''

APP = r'''
import gc


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/gc":
        gc.collect()
        body = str(len(gc.get_objects()))
    else:
        body = "%s|%s|application" % (environ.get("REMOTE_USER"),
                                      environ["mod_wsgi.application_group"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]


def other(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%s|%s|other" % (environ.get("REMOTE_USER"),
                              environ["mod_wsgi.application_group"])).encode()]
'''

HTACCESS = '''
AuthType Basic
AuthName "e2e-ht"
AuthBasicProvider wsgi
WSGIAuthUserScript @ROOT@/auth/auth.wsgi
WSGIAuthGroupScript @ROOT@/auth/auth.wsgi
WSGIAccessScript @ROOT@/auth/access.wsgi
Require wsgi-group staff
'''

SNIPPET = '''
KeepAlive On
MaxKeepAliveRequests 0
WSGIApplicationGroup %{GLOBAL}

WSGIScriptAlias /basic @ROOT@/auth/app.wsgi
<Location /basic>
    AuthType Basic
    AuthName "e2e"
    AuthBasicProvider wsgi
    WSGIAuthUserScript @ROOT@/auth/auth.wsgi
    Require valid-user
</Location>

WSGIScriptAlias /digest @ROOT@/auth/app.wsgi
<Location /digest>
    AuthType Digest
    AuthName "e2e-digest"
    AuthDigestProvider wsgi
    WSGIAuthUserScript @ROOT@/auth/auth.wsgi application-group=%{GLOBAL}
    Require valid-user
</Location>

WSGIScriptAlias /group @ROOT@/auth/app.wsgi
<Location /group>
    AuthType Basic
    AuthName "e2e"
    AuthBasicProvider wsgi
    WSGIAuthUserScript @ROOT@/auth/auth.wsgi
    WSGIAuthGroupScript @ROOT@/auth/auth.wsgi
    Require wsgi-group staff
</Location>

WSGIScriptAlias /access @ROOT@/auth/app.wsgi
<Location /access>
    WSGIAccessScript @ROOT@/auth/access.wsgi
</Location>

WSGIScriptAlias /dispatch @ROOT@/auth/app.wsgi
<Location /dispatch>
    WSGIDispatchScript @ROOT@/auth/dispatch.wsgi
</Location>

WSGIScriptAlias /stats @ROOT@/auth/app.wsgi

<Directory @ROOT@/auth>
    Require all granted
</Directory>

WSGIScriptAlias /ht @ROOT@/ht/app.wsgi
<Directory @ROOT@/ht>
    AllowOverride AuthConfig
</Directory>
'''

MODULES = ["auth_basic", "auth_digest", "authn_core", "authz_user"]

PREFIX = r"\[wsgi:error\] \[pid \d+:tid \d+\] \[client 127\.0\.0\.1:\d+\] (?:WSGIRT\d{4}: )?"


@pytest.fixture(scope="module")
def server(request, module):
    files = {
        "auth/auth.wsgi": AUTH,
        "auth/access.wsgi": ACCESS,
        "auth/dispatch.wsgi": DISPATCH,
        "auth/app.wsgi": APP,
        "ht/app.wsgi": APP,
        "ht/.htaccess": HTACCESS,
    }
    return start_apache(request, module, SNIPPET, modules=MODULES, files=files)


def basic(user, password):
    import base64
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": "Basic " + token}


def one_report(server, mark, script, exc_line, tracebacks=1):
    """Exactly one traceback for ``script`` and no secondary error line."""
    server.wait_log(re.escape(exc_line), since=mark)
    log = server.settle_log(mark)
    header = (PREFIX + r"mod_wsgi \(pid=\d+\): Exception occurred processing "
              r"WSGI script '" + re.escape(script) + r"'\.$")
    assert len(re.findall(header, log, re.M)) == 1, log
    assert len(re.findall(PREFIX + re.escape(exc_line) + "$", log, re.M)) == 1, log
    assert log.count("Traceback (most recent call last):") == tracebacks, log
    for bad in ("SystemError", "Exception ignored", "sys.excepthook",
                "returned a result with an exception set"):
        assert bad not in log, log
    return log


# ------------------------------------------------------------------ Basic


def test_basic_allowed(server):
    mark = server.log_mark()
    r = server.get("/basic", headers=basic("alice", "secret"))
    assert (r.status, r.body) == (200, b"alice||application")
    # environ['wsgi.errors'] of a hook goes to the error log, with the request.
    server.wait_log(PREFIX + r"e2e-hook-errors user=alice$", since=mark)


def test_basic_wrong_password(server):
    r = server.get("/basic", headers=basic("alice", "nope"))
    assert r.status == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="e2e"'


def test_basic_unknown_user(server):
    r = server.get("/basic", headers=basic("mallory", "x"))
    assert r.status == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="e2e"'


def test_basic_no_credentials(server):
    r = server.get("/basic")
    assert r.status == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="e2e"'


def test_basic_str_renames_user(server):
    r = server.get("/basic", headers=basic("alias", "pw"))
    assert (r.status, r.body) == (200, b"renamed||application")
    assert server.get("/basic", headers=basic("alias", "x")).status == 401


def test_basic_raises(server):
    mark = server.log_mark()
    r = server.get("/basic", headers=basic("boom", "x"))
    assert r.status == 500
    one_report(server, mark, f"{server.root}/auth/auth.wsgi",
               "RuntimeError: e2e-auth-boom")


def test_basic_wrong_type(server):
    mark = server.log_mark()
    r = server.get("/basic", headers=basic("wrongtype", "x"))
    assert r.status == 500
    one_report(server, mark, f"{server.root}/auth/auth.wsgi",
               "TypeError: Basic auth provider must return True, False None or "
               "user name as string", tracebacks=0)


# ------------------------------------------------------------------ Digest


def digest_get(server, path, user, password):
    conn = server.connection()
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        assert r.status == 401
        challenge = r.headers["WWW-Authenticate"]
        assert challenge.startswith("Digest ")
        params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
        realm, nonce = params["realm"], params["nonce"]
        assert realm == "e2e-digest"
        ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"GET:{path}".encode()).hexdigest()
        nc, cnonce = "00000001", uuid.uuid4().hex[:16]
        response = hashlib.md5(
            f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
        auth = (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", '
                f'uri="{path}", algorithm=MD5, response="{response}", '
                f'qop=auth, nc={nc}, cnonce="{cnonce}"')
        conn.request("GET", path, headers={"Authorization": auth})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_digest_allowed(server):
    assert digest_get(server, "/digest", "alice", "secret") == (200, b"alice||application")


def test_digest_wrong_password(server):
    assert digest_get(server, "/digest", "alice", "nope")[0] == 401


def test_digest_unknown_user(server):
    assert digest_get(server, "/digest", "mallory", "x")[0] == 401


def test_digest_raises(server):
    mark = server.log_mark()
    assert digest_get(server, "/digest", "boom", "x")[0] == 500
    one_report(server, mark, f"{server.root}/auth/auth.wsgi",
               "RuntimeError: e2e-digest-boom")


# ------------------------------------------------------------------ groups


def test_group_member(server):
    r = server.get("/group", headers=basic("alice", "secret"))
    assert (r.status, r.body) == (200, b"alice||application")


def test_group_not_member(server):
    mark = server.log_mark()
    r = server.get("/group", headers=basic("dave", "pw2"))
    assert r.status == 401
    server.wait_log(r"Authorization of user 'dave' to access '/group' failed\. "
                    r"User is not a member of designated groups\.", since=mark)


def test_group_no_groups(server):
    mark = server.log_mark()
    r = server.get("/group", headers=basic("alias", "pw"))
    assert r.status == 401
    server.wait_log(r"Authorization of user 'renamed' to access '/group' failed\. "
                    r"User is not a member of any groups\.", since=mark)


def test_group_raises(server):
    mark = server.log_mark()
    r = server.get("/group", headers=basic("bob", "pw"))
    assert r.status == 401
    one_report(server, mark, f"{server.root}/auth/auth.wsgi",
               "RuntimeError: e2e-group-boom")


def test_group_wrong_type(server):
    mark = server.log_mark()
    r = server.get("/group", headers=basic("erin", "pw3"))
    assert r.status == 401
    server.wait_log(PREFIX + r"mod_wsgi \(pid=\d+\): Groups for user returned from '"
                    + re.escape(server.root) + r"/auth/auth\.wsgi' must be an iterable "
                    r"sequence of byte strings\.$", since=mark)
    assert "Traceback" not in server.settle_log(mark)


# ------------------------------------------------------------------ access


def test_access_allowed(server):
    r = server.get("/access/ok")
    assert (r.status, r.body) == (200, b"None||application")


def test_access_none_declines(server):
    assert server.get("/access/none").status == 200


def test_access_denied(server):
    mark = server.log_mark()
    r = server.get("/access/deny")
    assert r.status == 403
    server.wait_log(r"Client denied by server configuration: '"
                    + re.escape(server.root) + r"/auth/app\.wsgi'\.", since=mark)


def test_access_raises(server):
    mark = server.log_mark()
    assert server.get("/access/raise").status == 403
    one_report(server, mark, f"{server.root}/auth/access.wsgi",
               "RuntimeError: e2e-access-boom")


def test_access_wrong_type(server):
    mark = server.log_mark()
    assert server.get("/access/badtype").status == 403
    server.wait_log(r"Indicator of host accessibility returned from '"
                    + re.escape(server.root) + r"/auth/access\.wsgi' must a boolean "
                    r"or None\.", since=mark)
    assert "Traceback" not in server.settle_log(mark)


# ------------------------------------------------------------------ .htaccess


def test_htaccess_member(server):
    r = server.get("/ht", headers=basic("alice", "secret"))
    assert (r.status, r.body) == (200, b"alice||application")


def test_htaccess_denied(server):
    assert server.get("/ht").status == 401
    assert server.get("/ht", headers=basic("alice", "bad")).status == 401
    assert server.get("/ht", headers=basic("dave", "pw2")).status == 401
    assert server.get("/ht/deny", headers=basic("alice", "secret")).status == 403


# ------------------------------------------------------------------ dispatch


def test_dispatch_chooses_group_and_callable(server):
    r = server.get("/dispatch")
    assert (r.status, r.body) == (200, b"None|dispatched|other")


def test_dispatch_raises(server):
    mark = server.log_mark()
    assert server.get("/dispatch/raise").status == 500
    one_report(server, mark, f"{server.root}/auth/dispatch.wsgi",
               "RuntimeError: e2e-dispatch-boom")


def test_authoritative_directives(module, configtest):
    """Debian's mod_wsgi is built with the authn/authz providers and so has no
    WSGIUserAuthoritative/WSGIGroupAuthoritative (they belong to the
    pre-provider hooks); wsgirt accepts and ignores them, so configurations
    written for either build load."""
    rc, out = configtest("""
<Location /x>
    WSGIUserAuthoritative Off
    WSGIGroupAuthoritative On
</Location>
""")
    if module.name == "modwsgi":
        assert rc != 0 and "Invalid command 'WSGIUserAuthoritative'" in out, out
    else:
        assert rc == 0, out


# ------------------------------------------------------------------ leaks


def child_rss(server):
    (pid,) = server.children()
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def hammer(server, count):
    conn = server.connection()
    headers = basic("boom", "x")
    try:
        for _ in range(count):
            conn.request("GET", "/basic", headers=headers)
            r = conn.getresponse()
            r.read()
            assert r.status == 500
    finally:
        conn.close()


def gc_objects(server):
    r = server.get("/stats/gc")
    assert r.status == 200
    return int(r.body)


def test_raising_hook_does_not_leak(server):
    start = time.monotonic()
    # Warm-up: each event-MPM worker thread grows its pools and allocator
    # arenas once (RSS plateaus after a few thousand requests on mod_wsgi).
    hammer(server, 5000)
    rss0, objs0 = child_rss(server), gc_objects(server)
    trace = [rss0]
    for _ in range(10):
        hammer(server, 1000)
        trace.append(child_rss(server))
    rss1, objs1 = child_rss(server), gc_objects(server)
    print("RSS kB per 1000 requests:", trace, "gc objects:", objs0, objs1)
    # One leaked traceback/frame per request would be >= 10,000 objects and
    # several MB; allow small slack for allocator noise.
    assert objs1 - objs0 < 500, (objs0, objs1)
    assert rss1 - rss0 < 2560, trace
    assert time.monotonic() - start < 120
