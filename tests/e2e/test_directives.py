"""Per-request directives and process-wide defaults that one server can
show side by side: WSGIScriptReloading, WSGIRestrictSignal (default),
sys.stdout/sys.stderr/wsgi.errors logging, WSGIEnableSendfile,
WSGITrustedProxyHeaders/WSGITrustedProxies, WSGIMapHEADToGET; and
WSGIRestrictEmbedded (own server)."""

import json
import os
import re

import pytest

from conftest import start_apache

BLOB = bytes((i * 31 + 7) % 256 for i in range(300_000))
SENDFILE_MOUNTS = ("sendfile", "nosendfile", "nommap")
SENDFILE_PATHS = ["/" + mount for mount in SENDFILE_MOUNTS]
RELOAD_SRC = open(os.path.join(os.path.dirname(__file__), "apps", "directives",
                               "reload.wsgi")).read()

SNIPPET = """
WSGIScriptAlias /stdio @APPS@/directives/stdio.wsgi
WSGIScriptAlias /streams @APPS@/directives/streams.wsgi
WSGIScriptAlias /signal @APPS@/directives/signal.wsgi

WSGIScriptAlias /sendfile @APPS@/directives/sendfile.wsgi
<Location /sendfile>
    WSGIEnableSendfile On
</Location>
WSGIScriptAlias /nosendfile @APPS@/directives/sendfile.wsgi
WSGIScriptAlias /nommap @APPS@/directives/sendfile.wsgi
<Location /nommap>
    EnableMMAP Off
</Location>

WSGIScriptAlias /reload-on @APPS@/directives/reload.wsgi
WSGIScriptAlias /reload-off @APPS@/reload-off/reload.wsgi
<Location /reload-off>
    WSGIScriptReloading Off
</Location>

WSGIScriptAlias /plain @APPS@/environ.wsgi
WSGIScriptAlias /xff @APPS@/environ.wsgi
<Location /xff>
    WSGITrustedProxyHeaders X-Forwarded-For
    WSGITrustedProxies 127.0.0.1
</Location>
WSGIScriptAlias /xff-any @APPS@/environ.wsgi
<Location /xff-any>
    WSGITrustedProxyHeaders X-Forwarded-For
</Location>
WSGIScriptAlias /xff-untrusted @APPS@/environ.wsgi
<Location /xff-untrusted>
    WSGITrustedProxyHeaders X-Forwarded-For
    WSGITrustedProxies 10.9.8.7
</Location>
WSGIScriptAlias /proxy @APPS@/environ.wsgi
<Location /proxy>
    WSGITrustedProxyHeaders X-Forwarded-Proto X-Forwarded-Host X-Script-Name X-Forwarded-Port X-Forwarded-Server
    WSGITrustedProxies 127.0.0.0/8
</Location>
WSGIScriptAlias /proxy-untrusted @APPS@/environ.wsgi
<Location /proxy-untrusted>
    WSGITrustedProxyHeaders X-Forwarded-Proto X-Forwarded-Host X-Script-Name X-Forwarded-Port X-Forwarded-Server
    WSGITrustedProxies 10.9.8.7
</Location>

WSGIScriptAlias /head-on @APPS@/environ.wsgi
<Location /head-on>
    WSGIMapHEADToGET On
</Location>
WSGIScriptAlias /head-off @APPS@/environ.wsgi
<Location /head-off>
    WSGIMapHEADToGET Off
    SetOutputFilter DEFLATE
</Location>
WSGIScriptAlias /head-auto @APPS@/environ.wsgi
<Location /head-auto>
    WSGIMapHEADToGET Auto
    SetOutputFilter DEFLATE
</Location>
WSGIScriptAlias /head-auto-nofilter @APPS@/environ.wsgi
<Location /head-auto-nofilter>
    WSGIMapHEADToGET Auto
</Location>
WSGIScriptAlias /head-default-filter @APPS@/environ.wsgi
<Location /head-default-filter>
    SetOutputFilter DEFLATE
</Location>
"""

PREFIX = r"\[wsgi:error\] \[pid \d+:tid \d+\] \[client 127\.0\.0\.1:\d+\] (?:WSGIRT\d{4}: )?"


@pytest.fixture(scope="module")
def server(request, module):
    return start_apache(
        request, module, SNIPPET, modules=["deflate", "filter"],
        files={"apps/directives/blob.bin": BLOB,
               **{f"apps/directives/own-{mount}.bin": BLOB for mount in SENDFILE_MOUNTS},
               "apps/reload-off/reload.wsgi": RELOAD_SRC})


def environ_of(r):
    assert r.status == 200, (r.status, r.body[:300])
    return json.loads(r.body)["environ"]


# ---------------------------------------------------------------- logging

@pytest.mark.parametrize("stream", ["stdout", "stderr", "errors"])
def test_output_streams_go_to_error_log_line_buffered(server, stream):
    """print()/sys.stdout, sys.stderr and wsgi.errors end up in the error
    log at level error, tagged with the client, one entry per complete line:
    "e2e-X-a" written without a newline is joined with the next write."""
    mark = server.log_mark()
    r = server.get("/stdio/" + stream)
    assert (r.status, r.body) == (200, b"ok")
    log = server.wait_log(PREFIX + f"e2e-{stream}-2$", since=mark)
    assert re.search(PREFIX + f"e2e-{stream}-a-b$", log, re.M), log
    assert not re.search(f"e2e-{stream}-a$", log, re.M), log
    assert log.index(f"e2e-{stream}-a-b") < log.index(f"e2e-{stream}-2")


def test_output_streams_are_text_streams(server):
    """mod_wsgi's sys.stdout, sys.stderr and wsgi.errors are io.TextIOWrapper
    objects over its log: io.TextIOBase instances with a name, line
    buffering, a bytes `buffer`, reconfigure(), a write() that returns the
    count, and a fileno() that raises OSError."""
    mark = server.log_mark()
    r = server.get("/streams")
    assert r.status == 200, r.body[:2000]
    streams = json.loads(r.body)
    for key, name in (("stdout", "<stdout>"), ("stderr", "<stderr>"),
                      ("errors", "<wsgi.errors>")):
        expected = {"text_stream": True, "name": name, "line_buffering": True,
                    "writable": True, "write": len(f"e2e-streams-{name}\n"),
                    "fileno": "OSError"}
        assert streams[key] == expected, (key, streams[key])
        server.wait_log(PREFIX + re.escape(f"e2e-streams-{name}") + "$", since=mark)
        # UTF-8 bytes through `buffer`; Apache escapes non-ASCII in its log.
        server.wait_log(PREFIX + re.escape(f"e2e-streams-buffer-{name}-\\xc3\\xa9") + "$",
                        since=mark)


def test_stdin_not_restricted_by_default(server):
    """WSGIRestrictStdin defaults to Off (mod_wsgi's code; the current docs
    agree): reading sys.stdin does not raise.  Apache's stdin is /dev/null."""
    r = server.get("/stdio/stdin")
    assert (r.status, r.body) == (200, b"read ''")


# ---------------------------------------------------------------- signals

def test_signal_registration_is_ignored_with_warning(server):
    """WSGIRestrictSignal is On by default: signal.signal() installs
    nothing, returns the handler it was given, and logs a warning followed
    by the Python stack of the caller."""
    mark = server.log_mark()
    r = server.get("/signal")
    assert r.status == 200
    assert r.body.startswith(b"returned=<function handler at ")
    assert r.body.endswith(b"installed=False")
    log = server.wait_log(
        r"\[wsgi:warn\] \[pid (\d+):tid \d+\] (?:WSGIRT0304: )?mod_wsgi \(pid=\1\): "
        r"Callback registration for signal 12 ignored\.$", since=mark)
    log = server.wait_log(r"\[wsgi:warn\] .*  File \"" + re.escape(server.apps)
                          + r"/directives/signal\.wsgi\", line \d+, in application$",
                          since=mark)
    assert "Traceback" not in log


# ---------------------------------------------------------------- sendfile

@pytest.mark.parametrize("path, flag", [("/sendfile", "1"), ("/nosendfile", "0")])
def test_file_wrapper_real_file(server, path, flag):
    r = server.get(path + "/length")
    assert r.status == 200
    assert r.headers["X-Enable-Sendfile"] == flag     # mod_wsgi.enable_sendfile
    assert r.headers["Content-Length"] == str(len(BLOB))
    assert r.body == BLOB
    r = server.get(path)                               # no Content-Length given
    assert (r.status, r.body) == (200, BLOB)


@pytest.mark.parametrize("path", ["/sendfile", "/nosendfile", "/nommap"])
def test_file_wrapper_follows_a_changing_file(server, path):
    """Each response has the file as it is when the request starts: grown,
    shrunk, rewritten in place at the same size, or replaced by a rename
    (wsgirt keeps a mapping of the file between requests when it may)."""
    target = os.path.join(server.apps, "directives", "changing.bin")
    versions = [
        ("written", bytes((i * 7) % 256 for i in range(200_000)), False),
        ("shrunk", bytes((i * 13 + 1) % 256 for i in range(90_000)), False),
        ("same size", bytes((i * 17 + 5) % 256 for i in range(90_000)), False),
        ("grown", bytes((i * 3 + 2) % 256 for i in range(400_000)), False),
        ("renamed over", bytes((i * 11 + 9) % 256 for i in range(250_000)), True),
    ]
    for what, data, rename in versions:
        if rename:
            os.rename(server.write_file("apps/directives/changing.new", data), target)
        else:
            with open(target, "r+b" if os.path.exists(target) else "wb") as f:
                f.write(data)
                f.truncate()
            os.chmod(target, 0o644)
        for _ in range(2):
            r = server.get(path + "/changing")
            assert r.status == 200, what
            assert r.headers["Content-Length"] == str(len(data)), what
            assert r.body == data, what


@pytest.mark.parametrize("path", SENDFILE_PATHS)
def test_file_wrapper_answers_range_requests(server, path):
    """Apache's byterange filter answers Range requests on a file_wrapper
    response (the file reaches Apache in one brigade with the response's
    end), single and multipart, and the next plain request is whole."""
    r = server.get(path + "/length", headers={"Range": "bytes=100-199"})
    assert r.status == 206
    assert r.headers["Content-Range"] == f"bytes 100-199/{len(BLOB)}"
    assert r.body == BLOB[100:200]
    r = server.get(path + "/length", headers={"Range": "bytes=-10"})
    assert (r.status, r.body) == (206, BLOB[-10:])
    r = server.get(path + "/length", headers={"Range": "bytes=0-9,1000-1009"})
    assert r.status == 206
    assert r.headers["Content-Type"].startswith("multipart/byteranges; boundary=")
    assert BLOB[0:10] in r.body and BLOB[1000:1010] in r.body
    r = server.get(path + "/length")
    assert (r.status, r.body) == (200, BLOB)


@pytest.mark.parametrize("path", ["/sendfile", "/nommap"])
def test_file_wrapper_file_is_not_kept_mapped(server, path):
    """With WSGIEnableSendfile On, or EnableMMAP Off, the file is not left
    mapped into the child after its response."""
    r = server.get(path + "/own")
    assert (r.status, r.body) == (200, BLOB)
    assert server.get(path + "/mapped").body == b"0"


@pytest.mark.beyond_modwsgi
def test_file_wrapper_file_stays_mapped_for_the_next_response(server):
    """wsgirt sends a file_wrapper file (WSGIEnableSendfile Off, EnableMMAP
    On: the defaults) from one mapping kept between requests, where mod_wsgi
    reads it through Python for every response."""
    r = server.get("/nosendfile/own")
    assert (r.status, r.body) == (200, BLOB)
    assert server.get("/nosendfile/mapped").body == b"1"
    r = server.get("/nosendfile/own")
    assert (r.status, r.body) == (200, BLOB)


@pytest.mark.parametrize("path", ["/sendfile", "/nosendfile"])
def test_file_wrapper_honours_shorter_content_length(server, path):
    r = server.get(path + "/partial")
    assert r.status == 200
    assert r.headers["Content-Length"] == str(len(BLOB) // 2)
    assert r.body == BLOB[:len(BLOB) // 2]


# ---------------------------------------------------------------- reloading

def rewrite(path, old, new):
    with open(path) as f:
        src = f.read()
    with open(path, "w") as f:
        f.write(src.replace(old, new))
    st = os.stat(path)
    os.utime(path, (st.st_atime, st.st_mtime + 5))


def test_script_reloading_on_and_off(server):
    assert server.get("/reload-on").body == b"v1"
    assert server.get("/reload-off").body == b"v1"
    mark = server.log_mark()
    rewrite(os.path.join(server.apps, "directives", "reload.wsgi"), '"v1"', '"v2"')
    rewrite(os.path.join(server.apps, "reload-off", "reload.wsgi"), '"v1"', '"v2"')
    assert server.get("/reload-on").body == b"v2"
    assert server.get("/reload-off").body == b"v1"     # WSGIScriptReloading Off
    server.wait_log(
        r"\[wsgi:info\] \[pid (\d+):tid \d+\] \[client 127\.0\.0\.1:\d+\] "
        r"mod_wsgi \(pid=\1, process='', application='127\.0\.0\.1:" + str(server.port)
        + r"\|/reload-on'\): Reloading WSGI script '" + re.escape(server.apps)
        + r"/directives/reload\.wsgi'\.$", since=mark)
    assert "reload-off/reload.wsgi'" not in server.error_log(mark)


# ---------------------------------------------------------------- proxies

def test_no_proxy_headers_trusted_by_default(server):
    env = environ_of(server.get("/plain", headers={
        "X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "https"}))
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["wsgi.url_scheme"] == "http"
    assert env["HTTP_X_FORWARDED_FOR"] == "1.2.3.4"      # passed on untouched


@pytest.mark.parametrize("xff, remote, header", [
    ("1.2.3.4", "1.2.3.4", "1.2.3.4"),
    # right to left: the first address that is not a trusted proxy is the
    # client; entries left of it are dropped from the header
    ("5.6.7.8, 1.2.3.4", "1.2.3.4", "1.2.3.4"),
    ("1.2.3.4, 127.0.0.1", "1.2.3.4", "1.2.3.4, 127.0.0.1"),
])
def test_trusted_x_forwarded_for(server, xff, remote, header):
    env = environ_of(server.get("/xff", headers={"X-Forwarded-For": xff}))
    assert env["REMOTE_ADDR"] == remote
    assert env["HTTP_X_FORWARDED_FOR"] == header


def test_x_forwarded_for_without_trusted_proxies_list(server):
    """WSGITrustedProxyHeaders alone trusts every hop: the leftmost entry."""
    env = environ_of(server.get("/xff-any", headers={"X-Forwarded-For": "5.6.7.8, 1.2.3.4"}))
    assert env["REMOTE_ADDR"] == "5.6.7.8"


def test_untrusted_variants_of_client_ip_headers_are_stripped(server):
    env = environ_of(server.get("/xff", headers={
        "X-Forwarded-For": "1.2.3.4", "X-Real-IP": "9.9.9.9", "X-Client-IP": "7.7.7.7"}))
    assert env["REMOTE_ADDR"] == "1.2.3.4"
    assert "HTTP_X_REAL_IP" not in env
    assert "HTTP_X_CLIENT_IP" not in env
    env = environ_of(server.get("/xff", headers={"X-Real-IP": "9.9.9.9"}))
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert "HTTP_X_REAL_IP" not in env


def test_proxy_headers_from_untrusted_peer_are_ignored_and_stripped(server):
    env = environ_of(server.get("/xff-untrusted", headers={
        "X-Forwarded-For": "1.2.3.4", "X-Real-IP": "9.9.9.9"}))
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert "HTTP_X_FORWARDED_FOR" not in env
    assert "HTTP_X_REAL_IP" not in env


PROXY_HEADERS = {
    "X-Forwarded-Proto": "https", "X-Forwarded-SSL": "on", "X-Scheme": "http",
    "X-Forwarded-Host": "fwd.test", "X-Host": "xhost.test",
    "X-Script-Name": "/mnt",
    "X-Forwarded-Port": "8443", "X-Forwarded-Server": "fs.test",
}


def test_trusted_scheme_host_script_name_server_port(server):
    env = environ_of(server.get("/proxy/p", headers=PROXY_HEADERS))
    assert env["wsgi.url_scheme"] == "https"
    assert "HTTPS" not in env
    assert env["HTTP_HOST"] == "fwd.test"
    assert env["SCRIPT_NAME"] == "/mnt"
    assert env["mod_wsgi.mount_point"] == "/mnt"
    assert env["mod_wsgi.script_name"] == "/proxy"
    assert env["PATH_INFO"] == "/p"
    assert env["SERVER_NAME"] == "fs.test"
    assert env["SERVER_PORT"] == "8443"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    # variants that were not chosen are stripped
    for key in ("HTTP_X_FORWARDED_SSL", "HTTP_X_SCHEME", "HTTP_X_HOST"):
        assert key not in env, key


def test_proxy_headers_from_untrusted_peer(server):
    env = environ_of(server.get("/proxy-untrusted/p", headers=PROXY_HEADERS))
    assert env["wsgi.url_scheme"] == "http"
    assert env["HTTP_HOST"] == f"127.0.0.1:{server.port}"
    assert env["SCRIPT_NAME"] == "/proxy-untrusted"
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(server.port)
    assert "mod_wsgi.mount_point" not in env
    for key in ("HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_SSL", "HTTP_X_SCHEME",
                "HTTP_X_FORWARDED_HOST", "HTTP_X_HOST", "HTTP_X_SCRIPT_NAME"):
        assert key not in env, key
    # X-Forwarded-Port / X-Forwarded-Server: see the beyond_modwsgi test below


@pytest.mark.beyond_modwsgi
def test_untrusted_x_forwarded_server_and_port_are_stripped(server):
    """Generated for wsgirt only.  mod_wsgi (4.6 and still 4.9.4) passes
    X-Forwarded-Port / X-Forwarded-Server from an untrusted peer through to
    the application; the documented behaviour (and mod_wsgi 6.0) strips
    them like every other untrusted proxy header."""
    env = environ_of(server.get("/proxy-untrusted/p", headers=PROXY_HEADERS))
    assert "HTTP_X_FORWARDED_PORT" not in env
    assert "HTTP_X_FORWARDED_SERVER" not in env


# ---------------------------------------------------------------- HEAD

@pytest.mark.parametrize("path, method", [
    ("/head-on", "GET"),
    ("/head-off", "HEAD"),
    ("/head-auto", "GET"),               # Auto + an output filter -> GET
    ("/head-auto-nofilter", "HEAD"),     # Auto without one -> HEAD
    ("/plain", "HEAD"),                  # default, no output filter
])
def test_map_head_to_get(server, path, method):
    r = server.head(path)
    assert r.status == 200
    assert r.headers["X-Request-Method"] == method
    assert r.body == b""


@pytest.mark.beyond_modwsgi
def test_map_head_to_get_default_is_auto(server):
    """Generated for wsgirt only.  The documented default of
    WSGIMapHEADToGET is Auto; mod_wsgi's server config leaves it at Off
    (reference §7; still so in 4.9.4), so with an output filter mod_wsgi
    passes HEAD where the documented default maps it to GET."""
    r = server.head("/head-default-filter")
    assert r.status == 200
    assert r.headers["X-Request-Method"] == "GET"


# ---------------------------------------------------------------- restrict embedded

@pytest.fixture(scope="module")
def restricted(request, module):
    return start_apache(request, module, """
WSGIScriptAlias /preloaded @APPS@/hello.wsgi process-group=%{GLOBAL} application-group=%{GLOBAL}
WSGIRestrictEmbedded On
WSGIScriptAlias /hello @APPS@/hello.wsgi
""")


def test_restrict_embedded(restricted):
    mark = restricted.log_mark()
    r = restricted.get("/hello")
    assert r.status == 500
    restricted.wait_log(
        PREFIX + r"Embedded mode of mod_wsgi disabled by runtime configuration: "
        + re.escape(restricted.apps + "/hello.wsgi") + "$", since=mark)
    # Python is never asked to run the script
    assert "Loading Python script file" not in restricted.error_log()


def test_restrict_embedded_starts_no_python_for_a_preloading_alias(restricted):
    """An alias naming both groups as %{GLOBAL} would preload its script in
    every child, but with embedded mode off no child starts Python for it
    (it is not an import script), so nothing is loaded and it answers 500."""
    r = restricted.get("/preloaded")
    assert r.status == 500
    log = restricted.error_log()
    assert "Initializing Python" not in log, log
    assert "Loading Python script file" not in log, log


# ---------------------------------------------------------------- restrict process

@pytest.fixture(scope="module")
def restrict_process(request, module):
    return start_apache(request, module, """
WSGISocketPrefix @ROOT@/run/wsgi
WSGIDaemonProcess allowed processes=1 threads=2
WSGIDaemonProcess other processes=1 threads=2
WSGIScriptAlias /rp/allowed @APPS@/hello.wsgi process-group=allowed application-group=%{GLOBAL}
WSGIScriptAlias /rp/other @APPS@/hello.wsgi process-group=other application-group=%{GLOBAL}
WSGIScriptAlias /rp/embedded @APPS@/hello.wsgi
<Location /rp>
    WSGIRestrictProcess allowed
</Location>
""", name="restrict-process")


def test_restrict_process_allows_a_listed_group(restrict_process):
    r = restrict_process.get("/rp/allowed")
    assert (r.status, r.body) == (200, b"Hello, world!\n")


@pytest.mark.parametrize("path, group", [("/rp/other", "other"), ("/rp/embedded", "")])
def test_restrict_process_refuses_other_groups(restrict_process, path, group):
    """A group not listed (embedded mode is %{GLOBAL}, the empty group) gets
    500 and one line naming it; the next request is served."""
    mark = restrict_process.log_mark()
    r = restrict_process.get(path)
    assert r.status == 500
    restrict_process.wait_log(
        PREFIX + re.escape(f"Daemon process called '{group}' cannot be accessed by this "
                           "WSGI application as not a member of allowed groups: "
                           + restrict_process.apps + "/hello.wsgi") + "$", since=mark)
    assert restrict_process.get("/rp/allowed").status == 200
