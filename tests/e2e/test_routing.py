"""URL mapping: WSGIScriptAlias / WSGIScriptAliasMatch, SCRIPT_NAME and
PATH_INFO, HEAD, query strings, missing scripts and directory targets."""

import json
import re

import pytest

from conftest import start_apache

SNIPPET = """
WSGIScriptAlias /hello @APPS@/hello.wsgi
WSGIScriptAlias /app @APPS@/environ.wsgi
WSGIScriptAlias /missing @APPS@/does-not-exist.wsgi
# a directory of scripts: /sdir/<file>/<path_info>
WSGIScriptAlias /sdir/ @APPS@/scripts/
# a directory as the target of a plain alias
WSGIScriptAlias /adir @APPS@/scripts
WSGIScriptAliasMatch ^/match/([^/]+) @APPS@/scripts/$1.wsgi
WSGIScriptAliasMatch ^/envmatch/([a-z]+) @APPS@/environ.wsgi
# the root mount comes last: aliases are tried in configuration order
WSGIScriptAlias / @APPS@/environ.wsgi
"""


@pytest.fixture(scope="module")
def server(request, module):
    return start_apache(request, module, SNIPPET)


def environ_of(r):
    assert r.status == 200, (r.status, r.body[:300])
    return json.loads(r.body)["environ"]


def test_hello_world(server):
    status, headers, body = server.get("/hello")
    assert status == 200
    assert body == b"Hello, world!\n"
    assert headers["Content-Type"] == "text/plain"
    assert headers["Content-Length"] == "14"


def test_head_has_headers_but_no_body(server):
    r = server.head("/hello")
    assert r.status == 200
    assert r.body == b""
    assert r.headers["Content-Length"] == "14"
    assert r.headers["Content-Type"] == "text/plain"


def test_head_reaches_app_as_head_by_default(server):
    # No output filter is configured, so even the documented default (Auto)
    # leaves the method alone: the application sees HEAD.
    r = server.head("/app")
    assert r.status == 200
    assert r.headers["X-Request-Method"] == "HEAD"
    assert r.body == b""


def test_query_string(server):
    env = environ_of(server.get("/app/x?a=1&b=%20two&c"))
    assert env["QUERY_STRING"] == "a=1&b=%20two&c"
    assert env["PATH_INFO"] == "/x"
    env = environ_of(server.get("/app/x"))
    assert env["QUERY_STRING"] == ""


@pytest.mark.parametrize("path, script_name, path_info", [
    ("/app", "/app", ""),
    ("/app/", "/app", "/"),
    ("/app/x/y", "/app", "/x/y"),
    # repeated slashes are collapsed, in the mount point and in PATH_INFO
    ("//app///x//y", "/app", "/x/y"),
    ("/app//", "/app", "/"),
    # percent-escapes are decoded in PATH_INFO
    ("/app/a%20b", "/app", "/a b"),
])
def test_script_name_path_info_split(server, path, script_name, path_info):
    env = environ_of(server.get(path))
    assert env["SCRIPT_NAME"] == script_name
    assert env["PATH_INFO"] == path_info
    assert env["REQUEST_URI"] == path
    assert env["SCRIPT_FILENAME"] == server.apps + "/environ.wsgi"


def test_alias_matches_whole_path_segments(server):
    # /appx is not under /app: it falls through to the root mount.
    env = environ_of(server.get("/appx"))
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/appx"


@pytest.mark.parametrize("path, path_info", [
    ("/", "/"),
    ("/foo", "/foo"),
    ("/foo//bar/", "/foo/bar/"),
    ("//", "/"),
])
def test_root_mount(server, path, path_info):
    env = environ_of(server.get(path))
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == path_info
    # %{RESOURCE} with an empty SCRIPT_NAME: "host:port|"
    assert env["mod_wsgi.application_group"] == f"127.0.0.1:{server.port}|"


def test_encoded_slash_is_rejected_by_apache(server):
    # AllowEncodedSlashes Off (default): Apache core answers 404 before any
    # module runs.
    m = server.log_mark()
    assert server.get("/app/x%2Fy").status == 404
    server.wait_log(r"AH00026: found %2f \(encoded '/'\) in URI path", since=m)


@pytest.mark.parametrize("path", ["/missing", "/missing/x"])
def test_missing_script_file_is_404(server, path):
    m = server.log_mark()
    r = server.get(path)
    assert r.status == 404
    server.wait_log(
        r"\[wsgi:error\] \[pid \d+:tid \d+\] \[client 127\.0\.0\.1:\d+\] "
        r"(?:WSGIRT\d{4}: )?"
        r"Target WSGI script not found or unable to stat: "
        + re.escape(server.apps + "/does-not-exist.wsgi") + "$", since=m)


def test_script_directory_alias(server):
    r = server.get("/sdir/hello.wsgi/p")
    assert (r.status, r.body) == (200, b"Hello, world!\n")
    m = server.log_mark()
    assert server.get("/sdir/nothere.wsgi").status == 404
    server.wait_log("Target WSGI script not found or unable to stat: "
                    + re.escape(server.apps + "/scripts/nothere.wsgi") + "$", since=m)


@pytest.mark.parametrize("path, target", [
    ("/sdir/", "/scripts/"),
    ("/adir", "/scripts"),
    ("/adir/", "/scripts/"),
])
def test_directory_target_is_403(server, path, target):
    m = server.log_mark()
    r = server.get(path)
    assert r.status == 403
    server.wait_log(
        r"\[wsgi:error\] .*Attempt to invoke directory as WSGI application: "
        + re.escape(server.apps + target) + "$", since=m)


def test_script_alias_match_substitutes_group(server):
    r = server.get("/match/hello/x")
    assert (r.status, r.body) == (200, b"Hello, world!\n")
    assert server.get("/match/nothere/x").status == 404


def test_script_alias_match_script_name(server):
    env = environ_of(server.get("/envmatch/abc/rest//of/path"))
    # SCRIPT_NAME is what the regex matched; the remainder is PATH_INFO
    assert env["SCRIPT_NAME"] == "/envmatch/abc"
    assert env["PATH_INFO"] == "/rest/of/path"
    assert env["mod_wsgi.application_group"] == f"127.0.0.1:{server.port}|/envmatch/abc"
