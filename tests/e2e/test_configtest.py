"""Directive parsing, checked with ``apache2 -t`` (no server is started):
directives that must be accepted, and bad options/values that must fail
with a message naming the problem."""

import re

import pytest

ACCEPTED = [
    "WSGIErrorOverride On",
    "WSGICaseSensitivity On",
    "WSGIServerMetrics On",
    "WSGIVerboseDebugging On",
    "WSGILazyInitialization Off",
    "WSGIDestroyInterpreter Off",
    "WSGIDestroyInterpreter On",
    "WSGIChunkedRequest On",
    "WSGIMapHEADToGET Auto",
    "WSGIRestrictSignal Off",
    "WSGIRestrictStdin On\nWSGIRestrictStdout On",
    "WSGIPythonHashSeed random",
    "WSGIPythonHashSeed 4294967295",
    "WSGIEnableSendfile On",
    "WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Proto\n"
    "WSGITrustedProxies 127.0.0.1 10.0.0.0/8",
    "WSGIScriptAlias / @APPS@/hello.wsgi application-group=x "
    "callable-object=y pass-authorization=On",
    "WSGIScriptAliasMatch ^/x/(.*) @APPS@/$1.wsgi application-group=%{GLOBAL}",
    "WSGIImportScript @APPS@/hello.wsgi process-group=%{GLOBAL} application-group=%{GLOBAL}",
    "WSGIHandlerScript h @APPS@/hello.wsgi application-group=%{GLOBAL}",
    "<IfModule mod_wsgi.c>\nWSGIScriptAlias /a @APPS@/hello.wsgi\n</IfModule>\n"
    "<IfModule !mod_wsgi.c>\nThisDirectiveDoesNotExist\n</IfModule>",
    "<IfModule wsgi_module>\nWSGIScriptAlias /a @APPS@/hello.wsgi\n</IfModule>\n"
    "<IfModule !wsgi_module>\nThisDirectiveDoesNotExist\n</IfModule>",
]


@pytest.mark.parametrize("snippet", ACCEPTED)
def test_directive_accepted(configtest, snippet):
    rc, out = configtest(snippet)
    assert rc == 0, out
    assert "Syntax OK" in out


REJECTED = [
    # (snippet, message mod_wsgi gives)
    ("WSGIScriptAlias / @APPS@/hello.wsgi proces-group=a",
     "Invalid option to WSGI script alias definition."),
    ("WSGIScriptAlias / @APPS@/hello.wsgi process-group=",
     "Invalid name for WSGI process group."),
    ("WSGIScriptAlias / @APPS@/hello.wsgi pass-authorization=Maybe",
     "Invalid value for authorization flag."),
    ("WSGIScriptAlias /x",
     "WSGIScriptAlias requires at least two arguments, Map location to target "
     "WSGI script file."),
    ("WSGIScriptAliasMatch ^/(x @APPS@/hello.wsgi",
     "Regular expression could not be compiled."),
    ("WSGIImportScript @APPS@/hello.wsgi",
     "Name of WSGI application group required."),
    ("WSGIImportScript @APPS@/hello.wsgi process-group=%{GLOBAL} "
     "application-group=%{GLOBAL} bogus=1",
     "Invalid option to WSGI import script definition."),
    ("WSGIHandlerScript h @APPS@/hello.wsgi bogus=1",
     "Invalid option to WSGI handler script definition."),
    ("WSGIApplicationGroup",
     "WSGIApplicationGroup takes one argument, Application interpreter group."),
    ("WSGIPythonHashSeed abc",
     'WSGIPythonHashSeed must be "random" or an integer in range [0; 4294967295]'),
    ("WSGIRestrictEmbedded Maybe", "WSGIRestrictEmbedded must be one of: Off | On"),
    ("WSGIMapHEADToGET Sometimes", "WSGIMapHEADToGET must be one of: Off | On | Auto"),
    ("WSGIChunkedRequest Of", "WSGIChunkedRequest must be one of: Off | On"),
    ("WSGIDestroyInterpreter Maybe", "WSGIDestroyInterpreter must be one of: Off | On"),
    ("<VirtualHost 127.0.0.1:9>\nWSGIDestroyInterpreter Off\n</VirtualHost>",
     "WSGIDestroyInterpreter cannot occur within <VirtualHost> section"),
    ("WSGITrustedProxies not-an-ip",
     'Unable to parse trusted proxy IP address/subnet of "not-an-ip".'),
]


@pytest.mark.parametrize("snippet, message", REJECTED, ids=[r[0][:50] for r in REJECTED])
def test_directive_rejected(configtest, snippet, message):
    rc, out = configtest(snippet)
    assert rc != 0, out
    # Apache names the file and line; the module names the problem
    assert re.search(r"AH00526: Syntax error on line \d+ of .*/httpd\.conf:", out), out
    assert message in out, out


@pytest.mark.beyond_modwsgi
def test_misspelt_option_is_named(configtest):
    """Generated for wsgirt only.  mod_wsgi says only "Invalid option to WSGI
    script alias definition." without naming the option."""
    rc, out = configtest("WSGIScriptAlias / @APPS@/hello.wsgi proces-group=a")
    assert rc != 0
    assert "Invalid option to WSGI script alias definition" in out
    assert "proces-group" in out, out


@pytest.mark.beyond_modwsgi
def test_non_numeric_optimize_is_rejected(configtest):
    """Generated for wsgirt only.  mod_wsgi parses WSGIPythonOptimize with
    atoi() and so accepts "abc" (as 0) and "1x" (as 1) without a word."""
    for value in ("abc", "1x"):
        rc, out = configtest("WSGIPythonOptimize " + value)
        assert rc != 0, (value, out)
        assert "WSGIPythonOptimize" in out, out


@pytest.mark.parametrize("value", ["3", "-1", "+2"])
def test_any_integer_optimize_is_accepted(configtest, value):
    """mod_wsgi takes any integer (atoi()): a level above 2 reaches Python
    as is, a negative one means 0."""
    rc, out = configtest("WSGIPythonOptimize " + value)
    assert rc == 0, out
