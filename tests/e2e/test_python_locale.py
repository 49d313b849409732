"""How Python starts from Apache's environment, as under mod_wsgi's legacy
``Py_Initialize()``: the locale (Debian's ``/etc/apache2/envvars`` sets
``LANG=C``) gives neither UTF-8 mode nor C locale coercion, and
``PYTHONHASHSEED`` counts unless ``WSGIPythonHashSeed`` is configured.

Each check runs in embedded mode and in a daemon process without ``lang=`` /
``locale=``, in a sub-interpreter and in the main interpreter. Each fixture
is one Apache with its own environment (``Apache(env=...)``)."""

import json
import subprocess

import pytest

from conftest import start_apache

PROBE_APP = """
import json
import locale
import os
import sys


def application(environ, start_response):
    body = json.dumps({
        "utf8_mode": sys.flags.utf8_mode,
        "fs_encoding": sys.getfilesystemencoding(),
        "lc_ctype": locale.setlocale(locale.LC_CTYPE, None),
        "environ": {k: v for k, v in os.environ.items()
                    if k.startswith(("LC_", "LANG", "PYTHON"))},
        "hash_randomization": sys.flags.hash_randomization,
        "hash_abc": hash("abc"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
"""

FILES = {"apps/locale/probe.wsgi": PROBE_APP}

SNIPPET = """
WSGISocketPrefix @ROOT@/run/wsgi
WSGIDaemonProcess e2e-plain threads=2
WSGIDaemonProcess e2e-lang threads=2 lang=C.UTF-8
WSGIScriptAlias /sub @APPS@/locale/probe.wsgi
WSGIScriptAlias /main @APPS@/locale/probe.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /daemon-sub @APPS@/locale/probe.wsgi process-group=e2e-plain
WSGIScriptAlias /daemon-main @APPS@/locale/probe.wsgi process-group=e2e-plain \\
    application-group=%{GLOBAL}
WSGIScriptAlias /daemon-lang @APPS@/locale/probe.wsgi process-group=e2e-lang \\
    application-group=%{GLOBAL}
"""

PLACES = pytest.mark.parametrize(
    "path", ["/sub", "/main", "/daemon-sub", "/daemon-main"],
    ids=["embedded-sub", "embedded-main", "daemon-sub", "daemon-main"])


def server_with(request, module, env, snippet=SNIPPET):
    return start_apache(request, module, snippet, files=FILES, env=env,
                        name="python-locale")


def probe(server, path):
    r = server.get(path)
    assert r.status == 200, (r.status, r.body[:300])
    return json.loads(r.body)


def python_hash(seed: str) -> int:
    out = subprocess.run(
        ["/usr/bin/python3", "-c", "print(hash('abc'))"], check=True,
        capture_output=True, text=True,
        env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}).stdout
    return int(out)


# ---------------------------------------------------------------------------
# LANG=C


@pytest.fixture(scope="module")
def c_locale(request, module):
    return server_with(request, module, {"LANG": "C"})


@pytest.fixture(scope="module")
def c_locale_utf8_asked(request, module):
    return server_with(request, module, {"LANG": "C", "PYTHONUTF8": "1"})


@PLACES
def test_c_locale_is_neither_utf8_mode_nor_coerced(c_locale, path):
    """LANG=C: no UTF-8 mode, the locale's (ASCII) file system encoding, and
    the process locale and environment left as Apache had them: no
    setlocale(LC_CTYPE, "C.UTF-8") for the whole process, no LC_CTYPE
    added to os.environ."""
    d = probe(c_locale, path)
    assert d["utf8_mode"] == 0
    assert d["fs_encoding"] == "ascii"
    assert d["lc_ctype"] == "C"
    assert d["environ"] == {"LANG": "C"}


def test_daemon_lang_still_sets_the_ctype_locale(c_locale):
    """Python still sets LC_CTYPE from the environment, so a daemon's
    lang=C.UTF-8 gives UTF-8 file names, without UTF-8 mode."""
    d = probe(c_locale, "/daemon-lang")
    assert d["lc_ctype"] == "C.UTF-8"
    assert d["fs_encoding"] == "utf-8"
    assert d["utf8_mode"] == 0
    assert d["environ"] == {"LANG": "C.UTF-8"}


@PLACES
def test_pythonutf8_is_ignored(c_locale_utf8_asked, path):
    """The legacy initialisation ignores PYTHONUTF8 in Apache's environment."""
    d = probe(c_locale_utf8_asked, path)
    assert d["utf8_mode"] == 0
    assert d["fs_encoding"] == "ascii"
    assert d["lc_ctype"] == "C"
    assert d["environ"] == {"LANG": "C", "PYTHONUTF8": "1"}


# ---------------------------------------------------------------------------
# PYTHONHASHSEED


@pytest.fixture(scope="module")
def env_seed(request, module):
    return server_with(request, module, {"PYTHONHASHSEED": "0"})


@pytest.fixture(scope="module")
def directive_seed(request, module):
    return server_with(request, module, {"PYTHONHASHSEED": "123"},
                       SNIPPET + "WSGIPythonHashSeed 0\n")


@pytest.fixture(scope="module")
def directive_random(request, module):
    return server_with(request, module, {"PYTHONHASHSEED": "0"},
                       SNIPPET + "WSGIPythonHashSeed random\n")


@PLACES
def test_pythonhashseed_counts_without_the_directive(env_seed, path):
    """Without WSGIPythonHashSeed, PYTHONHASHSEED=0 in Apache's environment
    turns hash randomisation off (and stays in os.environ)."""
    d = probe(env_seed, path)
    assert d["hash_randomization"] == 0
    assert d["hash_abc"] == python_hash("0")
    assert d["environ"]["PYTHONHASHSEED"] == "0"


@PLACES
def test_the_directive_wins_over_pythonhashseed(directive_seed, path):
    """WSGIPythonHashSeed 0 beats PYTHONHASHSEED=123 from Apache's
    environment, and the variable is gone from os.environ afterwards (mod_wsgi
    passes the directive as PYTHONHASHSEED and removes that again)."""
    d = probe(directive_seed, path)
    assert d["hash_randomization"] == 0
    assert d["hash_abc"] == python_hash("0")
    assert "PYTHONHASHSEED" not in d["environ"]


@PLACES
def test_directive_random_wins_over_pythonhashseed(directive_random, path):
    d = probe(directive_random, path)
    assert d["hash_randomization"] == 1
    assert "PYTHONHASHSEED" not in d["environ"]
