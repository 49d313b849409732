"""Misbehaving applications (not wrapped in the validator): exceptions at
every stage, start_response misuse, bad return values, bad status lines and
headers, scripts that fail to import or compile or lack the callable.

Each case checks the status code, that the error log has exactly ONE report
for it (the header line, the exception line, and the traceback header when
Python frames exist), and that the next request to a good app is a 200.

The report format mod_wsgi writes, one error-log entry per line:

  [wsgi:error] [pid P:tid T] [client 127.0.0.1:N] mod_wsgi (pid=P): Exception occurred processing WSGI script '<SCRIPT_FILENAME>'.
  [wsgi:error] [pid P:tid T] [client 127.0.0.1:N] Traceback (most recent call last):
  [wsgi:error] [pid P:tid T] [client 127.0.0.1:N]   File "...", line L, in f
  ...
  [wsgi:error] [pid P:tid T] [client 127.0.0.1:N] RuntimeError: message

The "Traceback" line is absent when the exception has no Python frames
(raised by the server itself after the app returned, or a SyntaxError):
that is how traceback.print_exception() formats it.
"""

import os
import re

import pytest

from conftest import start_apache

SNIPPET = """
WSGIScriptAlias /bad/ @APPS@/bad/
WSGIScriptAlias /hello @APPS@/hello.wsgi
"""

PREFIX = r"\[wsgi:error\] \[pid (\d+):tid \d+\] \[client 127\.0\.0\.1:\d+\] (?:WSGIRT\d{4}: )?"


@pytest.fixture(scope="module")
def server(request, module):
    return start_apache(request, module, SNIPPET)


def check_report(server, mark, script, exc_line, tracebacks, before=None):
    """Exactly one exception report for ``script`` after ``mark``."""
    path = f"{server.apps}/bad/{script}"
    server.wait_log(re.escape(exc_line), since=mark)
    log = server.settle_log(mark)
    header = (PREFIX + r"mod_wsgi \(pid=(\d+)\): Exception occurred processing "
              r"WSGI script '" + re.escape(path) + r"'\.$")
    found = re.findall(header, log, re.M)
    assert len(found) == 1, log
    apache_pid, wsgi_pid = found[0]
    assert apache_pid == wsgi_pid
    assert len(re.findall(PREFIX + re.escape(exc_line) + "$", log, re.M)) == 1, log
    assert log.count("Traceback (most recent call last):") == tracebacks, log
    assert log.count("Exception occurred processing") == 1, log
    if before:
        # a line that precedes the report
        m = re.search(PREFIX + before, log, re.M)
        assert m, log
        assert m.start() < log.index("Exception occurred processing"), log
    return log


def assert_next_request_ok(server):
    r = server.get("/hello")
    assert (r.status, r.body) == (200, b"Hello, world!\n")


def assert_500_page(r):
    assert r.status == 500
    assert b"<title>500 Internal Server Error</title>" in r.body


CASES_500 = [
    # (path under /bad/, exception line, traceback headers)
    ("raises.wsgi/call", "RuntimeError: e2e-boom-in-call", 1),
    ("raises.wsgi/iter", "RuntimeError: e2e-boom-in-iter", 1),
    ("start_response.wsgi/none", "RuntimeError: response has not been started", 0),
    ("start_response.wsgi/exc_notuple", "RuntimeError: exception info must be a tuple", 1),
    ("returns.wsgi/none", "TypeError: 'NoneType' object is not iterable", 0),
    ("returns.wsgi/int", "TypeError: 'int' object is not iterable", 0),
    ("returns.wsgi/str",
     "TypeError: sequence of byte string values expected, value of type str found", 0),
    ("returns.wsgi/strs",
     "TypeError: sequence of byte string values expected, value of type str found", 0),
    ("status.wsgi/no_reason", "ValueError: no space following status code", 1),
    ("status.wsgi/abc", "ValueError: status code is not a 3 digit integer", 1),
    ("status.wsgi/short_code", "ValueError: status code is not a 3 digit integer", 1),
    ("status.wsgi/long_code", "ValueError: status code is not a 3 digit integer", 1),
    ("status.wsgi/bytes", "TypeError: expected unicode object, value of type bytes found", 1),
    ("status.wsgi/int", "TypeError: expected unicode object, value of type int found", 1),
    ("status.wsgi/crlf", "ValueError: control character present in reason phrase", 1),
    ("headers.wsgi/name_bytes", "TypeError: expected unicode object, value of type bytes found", 1),
    ("headers.wsgi/value_bytes", "TypeError: expected unicode object, value of type bytes found", 1),
    ("headers.wsgi/value_int", "TypeError: expected unicode object, value of type int found", 1),
    ("headers.wsgi/value_crlf",
     "ValueError: carriage return/line feed character present in header value", 1),
    ("headers.wsgi/name_space", "ValueError: space character present in header name", 1),
    ("headers.wsgi/value_not_latin1",
     "ValueError: unicode object contains non latin-1 characters", 1),
    ("headers.wsgi/not_tuple",
     "TypeError: list of tuple values expected for headers, value of type str found", 1),
    ("headers.wsgi/triple", "ValueError: tuple of length 2 expected for header, length is 3", 1),
    ("headers.wsgi/not_list", "TypeError: start_response() argument 2 must be list, not str", 1),
    ("file_wrapper.wsgi/text", "TypeError: file like object yielded non string type", 0),
]


def test_empty_reason_phrase_is_accepted(server):
    """'200 ' (a space and no reason phrase) is a valid status line (RFC 9112
    allows an empty reason phrase): mod_wsgi accepts it and Apache sends it
    as it is."""
    r = server.get("/bad/status.wsgi/empty_reason")
    # (The body text is written for the failing statuses.)
    assert (r.status, r.reason, r.body) == (200, "", b"should not be sent")


@pytest.mark.parametrize("path, exc_line, tracebacks", CASES_500,
                         ids=[c[0] for c in CASES_500])
def test_error_gives_500_and_one_report(server, path, exc_line, tracebacks):
    mark = server.log_mark()
    r = server.get("/bad/" + path)
    assert_500_page(r)
    assert b"should not be sent" not in r.body
    check_report(server, mark, path.split("/")[0], exc_line, tracebacks)
    assert_next_request_ok(server)


@pytest.mark.beyond_modwsgi
def test_nul_in_header_value_is_500_and_one_report(server):
    """Beyond mod_wsgi: a NUL in a header value is refused in start_response
    (ValueError, 500), as CR/LF are. mod_wsgi 4.9.4 passes the value to
    Apache, which keeps it as a C string: the client silently gets the
    value cut at the NUL ("cut") with a 200."""
    mark = server.log_mark()
    r = server.get("/bad/headers.wsgi/value_nul")
    assert_500_page(r)
    assert r.headers.get("X-Nul") is None
    check_report(server, mark, "headers.wsgi",
                 "ValueError: null character present in header value", 1)
    assert_next_request_ok(server)


def test_raise_after_output_truncates(server):
    """Output already started: the status (200) cannot change any more; the
    body is cut off after the block already yielded.

    mod_wsgi leaves the chunked body unterminated and the connection open
    until KeepAliveTimeout closes it (3 s here)."""
    mark = server.log_mark()
    r = server.get("/bad/raises.wsgi/after_output")
    assert r.status == 200
    assert r.body == b"partial;"
    assert not r.complete
    check_report(server, mark, "raises.wsgi", "RuntimeError: e2e-boom-after-output", 1)
    line = server.wait_access("/bad/raises.wsgi/after_output")
    assert '" 200 ' in line
    assert_next_request_ok(server)


def test_raise_in_close(server):
    """close() raising after the whole body went out: the client gets the
    complete 200 response; the exception is logged once."""
    mark = server.log_mark()
    r = server.get("/bad/raises.wsgi/close")
    assert (r.status, r.body) == (200, b"complete body")
    assert r.complete
    check_report(server, mark, "raises.wsgi", "RuntimeError: e2e-boom-in-close", 1)
    assert_next_request_ok(server)


def test_content_length_with_trailing_characters_is_500(server):
    """'18 ' is refused as mod_wsgi refuses it.  mod_wsgi notices at the
    first output, so its report has no traceback; we refuse it in
    start_response, whose line the traceback then shows."""
    mark = server.log_mark()
    r = server.get("/bad/headers.wsgi/length_trailing_space")
    assert_500_page(r)
    server.wait_log(PREFIX + re.escape("ValueError: invalid content length") + "$", since=mark)
    log = server.settle_log(mark)
    assert log.count("Exception occurred processing") == 1, log
    assert_next_request_ok(server)


@pytest.mark.parametrize("path", ["length_signed", "length_leading_space"])
def test_content_length_parsed_as_mod_wsgi_parses_it(server, path):
    """A sign or leading white space is accepted (C's strtoll, as in
    mod_wsgi); trailing characters are not (the case above)."""
    r = server.get("/bad/headers.wsgi/" + path)
    assert (r.status, r.body) == (200, b"should not be sent")
    assert r.headers["Content-Length"] == "18"


def test_file_wrapper_subclass_is_sent_as_the_file(server):
    """wsgi.file_wrapper can be subclassed, as mod_wsgi's can."""
    r = server.get("/bad/file_wrapper.wsgi/subclass")
    assert r.status == 200
    with open(f"{server.apps}/bad/file_wrapper.wsgi", "rb") as f:
        assert r.body == f.read()


def test_file_wrapper_close_error_is_dropped(server):
    """An exception from the wrapped object's close() is not reported."""
    mark = server.log_mark()
    r = server.get("/bad/file_wrapper.wsgi/close_fails")
    assert (r.status, r.body) == (200, b"closing body")
    log = server.settle_log(mark, quiet=0.2)
    assert "e2e-close-fails" not in log, log
    assert_next_request_ok(server)


def test_unreadable_script_is_500_with_its_cause(request, module):
    """A script Apache's user cannot read (0600, owned by root): 500 and the
    cause, PermissionError with the path, in the log."""
    server = start_apache(request, module, "WSGIScriptAlias /locked @APPS@/bad/locked.wsgi\n",
                          name="locked", files={"apps/bad/locked.wsgi": "application = None\n"})
    path = f"{server.apps}/bad/locked.wsgi"
    os.chmod(path, 0o600)
    mark = server.log_mark()
    assert server.get("/locked").status == 500
    server.wait_log(re.escape("Could not read/compile source file '" + path + "'."), since=mark)
    server.wait_log(re.escape(f"PermissionError: [Errno 13] Permission denied: '{path}'"),
                    since=mark)


def test_system_exit_while_loading_is_500_with_its_traceback(request, module):
    """sys.exit() at import: 500, the exec line, then mod_wsgi's 'ignored'
    line with the traceback that shows where the script exited."""
    server = start_apache(request, module, "WSGIScriptAlias /exits @APPS@/bad/exits.wsgi\n",
                          name="exits", files={"apps/bad/exits.wsgi":
                                               "import sys\nsys.exit('e2e-exit-at-import')\n"})
    path = f"{server.apps}/bad/exits.wsgi"
    mark = server.log_mark()
    assert server.get("/exits").status == 500
    server.wait_log(re.escape("SystemExit exception raised when doing exec of Python script "
                              f"file '{path}'."), since=mark)
    server.wait_log(re.escape(f"SystemExit exception raised by WSGI script '{path}' ignored."),
                    since=mark)
    log = server.wait_log(re.escape("SystemExit: e2e-exit-at-import"), since=mark)
    assert "Traceback (most recent call last):" in log, log


LENGTH_APP = r'''
def application(environ, start_response):
    declared, produced = environ["PATH_INFO"].strip("/").split("/")
    start_response("200 OK", [("Content-Length", declared)])
    return [b"x" * int(produced)]
'''


@pytest.mark.parametrize("declared, produced", [(5, 10), (10, 5)])
def test_content_length_mismatch_is_logged_at_debug(request, module, declared, produced):
    """mod_wsgi's debug line for a body longer or shorter than its
    Content-Length (the longer one is clipped)."""
    server = start_apache(request, module, """
LogLevel info wsgi:debug
WSGIScriptAlias /length @ROOT@/length.wsgi
<Directory @ROOT@>
    Require all granted
</Directory>
""", name="length-mismatch", files={"length.wsgi": LENGTH_APP})
    mark = server.log_mark()
    r = server.get(f"/length/{declared}/{produced}")
    assert r.status == 200
    assert r.body == b"x" * min(declared, produced)
    server.wait_log(re.escape(f"Content length mismatch, expected {declared}, response "
                              f"generated {produced}: {server.root}/length.wsgi") + "$",
                    since=mark)


def test_short_exc_info_before_output_is_accepted(server):
    """exc_info must be a tuple, but its items only matter when it is
    re-raised (output already sent); before that mod_wsgi accepts any tuple."""
    r = server.get("/bad/start_response.wsgi/exc_short")
    assert (r.status, r.body) == (200, b"short exc_info accepted")


def test_start_response_twice_without_exc_info(server):
    """PEP 3333 calls this a fatal error, but mod_wsgi accepts a second
    start_response() without exc_info as long as nothing was sent yet: the
    last call wins, nothing is logged."""
    mark = server.log_mark()
    r = server.get("/bad/start_response.wsgi/twice")
    assert r.status == 201
    assert r.body == b"second start_response won"
    assert r.headers["X-Second"] == "1"
    assert r.headers.get("X-First") is None
    log = server.settle_log(mark, quiet=0.2)
    assert "Exception occurred" not in log, log


def test_import_error(server):
    mark = server.log_mark()
    assert_500_page(server.get("/bad/import_error.wsgi"))
    path = re.escape(f"{server.apps}/bad/import_error.wsgi")
    check_report(server, mark, "import_error.wsgi",
                 "ModuleNotFoundError: No module named 'e2e_module_that_does_not_exist'", 1,
                 before=r"mod_wsgi \(pid=\d+\): Failed to exec Python script file '"
                 + path + r"'\.$")
    assert_next_request_ok(server)
    # a script that failed to load is not cached: the next request retries it
    mark = server.log_mark()
    assert_500_page(server.get("/bad/import_error.wsgi"))
    server.wait_log("ModuleNotFoundError", since=mark)


def test_syntax_error(server):
    mark = server.log_mark()
    assert_500_page(server.get("/bad/syntax_error.wsgi"))
    path = re.escape(f"{server.apps}/bad/syntax_error.wsgi")
    log = check_report(
        server, mark, "syntax_error.wsgi", "SyntaxError: expected ':'", 0,
        before=(r"mod_wsgi \(pid=\d+, process='', application='127\.0\.0\.1:"
                + str(server.port) + r"\|/bad/syntax_error\.wsgi'\): "
                r"Could not read/compile source file '" + path + r"'\.$"))
    assert re.search(PREFIX + r'  File "' + path + r'", line 3$', log, re.M), log
    assert_next_request_ok(server)


def test_missing_application_callable(server):
    """mod_wsgi answers 404 (not 500) when the script has no callable of the
    configured name, and logs one line, no traceback."""
    mark = server.log_mark()
    r = server.get("/bad/no_application.wsgi")
    assert r.status == 404
    path = re.escape(f"{server.apps}/bad/no_application.wsgi")
    log = server.wait_log(
        PREFIX + r"mod_wsgi \(pid=\d+\): Target WSGI script '" + path
        + r"' does not contain WSGI application 'application'\.$", since=mark)
    log = server.settle_log(mark)
    assert "Traceback" not in log and "Exception occurred" not in log, log
    assert_next_request_ok(server)
