"""Directives that configure the Python runtime itself (server-wide, one
Apache each): WSGIPythonPath (with a .pth file), WSGIPythonOptimize,
WSGIPythonHashSeed, WSGIPythonWarnings, WSGIDontWriteBytecode,
WSGIRestrictStdin/WSGIRestrictStdout, WSGIPythonHome (a real venv).
Each is checked in a sub-interpreter and in the main interpreter."""

import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import start_apache

FLAGS_SNIPPET = """
WSGIPythonPath @APPS@/pylib
WSGIPythonOptimize 1
WSGIPythonHashSeed 0
WSGIPythonWarnings ignore::UserWarning
WSGIPythonWarnings error::ResourceWarning
WSGIDontWriteBytecode On
WSGIRestrictStdin On
WSGIRestrictStdout On
WSGIScriptAlias /pyinfo @APPS@/directives/pyinfo.wsgi
WSGIScriptAlias /gpyinfo @APPS@/directives/pyinfo.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /stdio @APPS@/directives/stdio.wsgi
"""

HOME_SNIPPET = """
WSGIPythonHome @VENV@
WSGIScriptAlias /pyinfo @APPS@/directives/pyinfo.wsgi
WSGIScriptAlias /gpyinfo @APPS@/directives/pyinfo.wsgi application-group=%{GLOBAL}
"""

# Empty WSGIPythonPath/python-path entries and an optimisation level
# above 2, as mod_wsgi 4.9.4 takes them.
ODD_SNIPPET = """
WSGIPythonPath @TMP@/odd-a::@TMP@/odd-b:
WSGIPythonOptimize 3
WSGISocketPrefix @ROOT@/run/wsgi
WSGIDaemonProcess odd threads=1 python-path=@TMP@/odd-c::@TMP@/odd-d:
WSGIScriptAlias /pyinfo @APPS@/directives/pyinfo.wsgi
WSGIScriptAlias /gpyinfo @APPS@/directives/pyinfo.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /dpyinfo @APPS@/directives/pyinfo.wsgi process-group=odd \\
    application-group=%{GLOBAL}
"""

BC_MODULE = {"tmp/bc-sub/e2e_bc.py": "X = 1\n", "tmp/bc-main/e2e_bc.py": "X = 1\n"}

INTERPRETERS = pytest.mark.parametrize("path", ["/pyinfo", "/gpyinfo"],
                                       ids=["sub", "main"])


def writable_bytecode_dirs(server):
    for d in ("bc-sub", "bc-main"):
        os.chmod(os.path.join(server.tmp, d), 0o777)


@pytest.fixture(scope="module")
def flags(request, module):
    a = start_apache(request, module, FLAGS_SNIPPET, files=BC_MODULE)
    writable_bytecode_dirs(a)
    return a


@pytest.fixture(scope="module")
def venv():
    d = tempfile.mkdtemp(prefix="wsgirt-e2e-venv-")
    os.chmod(d, 0o755)
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", d],
                   check=True, env={"PATH": "/usr/bin:/bin"})
    site = subprocess.run(
        [os.path.join(d, "bin", "python"), "-c",
         "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip()
    with open(os.path.join(site, "e2e_venv_mod.py"), "w") as f:
        f.write('VALUE = "from-venv"\n')
    subprocess.run(["chmod", "-R", "a+rX", d], check=True)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def home(request, module, venv):
    a = start_apache(request, module, HOME_SNIPPET.replace("@VENV@", venv),
                     files=BC_MODULE)
    writable_bytecode_dirs(a)
    return a


@pytest.fixture(scope="module")
def odd(request, module):
    return start_apache(request, module, ODD_SNIPPET)


def info(server, path):
    r = server.get(path)
    assert r.status == 200, (r.status, r.body[:300])
    return json.loads(r.body)


@INTERPRETERS
def test_python_path_and_pth_file(flags, path):
    d = info(flags, path + "?import=e2e_pylib_mod")
    assert d["import"]["value"] == "from-pylib"
    assert d["import"]["file"] == flags.apps + "/pylib/e2e_pylib_mod.py"
    d = info(flags, path + "?import=e2e_pth_mod")       # via pylib/e2e.pth
    assert d["import"]["value"] == "from-pth"
    assert flags.apps + "/pylib" in d["path"]
    assert flags.apps + "/pylib/extra" in d["path"]


@INTERPRETERS
def test_python_path_unset_means_not_importable(home, path):
    d = info(home, path + "?import=e2e_pylib_mod")
    assert "error" in d["import"]


@INTERPRETERS
def test_python_optimize(flags, path):
    d = info(flags, path)
    assert d["optimize"] == 1
    assert d["debug_builtin"] is False
    assert d["asserts"] == "stripped"


@INTERPRETERS
def test_python_optimize_default(home, path):
    d = info(home, path)
    assert d["optimize"] == 0
    assert d["asserts"] == "active"


@INTERPRETERS
def test_python_hash_seed(flags, path):
    d = info(flags, path)
    assert d["hash_randomization"] == 0
    expected = subprocess.run(
        ["/usr/bin/python3", "-c", "print(hash('abc'))"], check=True,
        capture_output=True, text=True,
        env={"PYTHONHASHSEED": "0", "PATH": "/usr/bin:/bin"}).stdout.strip()
    assert d["hash_abc"] == int(expected)


@INTERPRETERS
def test_python_hash_seed_default_is_random(home, path):
    assert info(home, path)["hash_randomization"] == 1


@INTERPRETERS
def test_python_warnings(flags, path):
    d = info(flags, path)
    assert d["warnoptions"] == ["ignore::UserWarning", "error::ResourceWarning"]
    # the last -W option is the first filter
    assert d["warnings_filters"][0].startswith("('error', None, <class 'ResourceWarning'>")
    assert d["warnings_filters"][1].startswith("('ignore', None, <class 'UserWarning'>")


@pytest.mark.parametrize("path, bcdir", [("/pyinfo", "bc-sub"), ("/gpyinfo", "bc-main")],
                         ids=["sub", "main"])
def test_dont_write_bytecode(flags, home, path, bcdir):
    d = info(flags, f"{path}?bytecode={flags.tmp}/{bcdir}")
    assert d["dont_write_bytecode"] is True
    assert d["pycache"] is False
    # control: without the directive the same import writes __pycache__
    d = info(home, f"{path}?bytecode={home.tmp}/{bcdir}")
    assert d["dont_write_bytecode"] is False
    assert d["pycache"] is True


@pytest.mark.parametrize("stream", ["stdout", "stdin"])
def test_restrict_stdin_stdout(flags, stream):
    r = flags.get("/stdio/" + stream)
    assert r.status == 200
    assert r.body == f"OSError: sys.{stream} access restricted by mod_wsgi".encode()


def test_restrict_stdout_leaves_stderr_alone(flags):
    mark = flags.log_mark()
    assert flags.get("/stdio/stderr").body == b"ok"
    flags.wait_log(r"\[wsgi:error\] .*e2e-stderr-2$", since=mark)


@INTERPRETERS
def test_python_home_venv(home, venv, path):
    d = info(home, path + "?import=e2e_venv_mod")
    assert d["prefix"] == venv
    assert d["exec_prefix"] == venv
    assert d["base_prefix"] == "/usr"
    assert d["import"]["value"] == "from-venv"
    assert any(p.startswith(venv + "/lib/python3") and p.endswith("site-packages")
               for p in d["path"]), d["path"]


@INTERPRETERS
def test_sys_argv(flags, path):
    assert info(flags, path)["argv"] == ["mod_wsgi"]


@INTERPRETERS
def test_no_python_home_means_system_prefix(flags, path):
    d = info(flags, path)
    assert d["prefix"] == "/usr"


DAEMON_HOME_SNIPPET = """
WSGISocketPrefix @ROOT@/run/wsgi
WSGIDaemonProcess e2e-venv threads=2 python-home=@VENV@
WSGIScriptAlias /dpyinfo @APPS@/directives/pyinfo.wsgi process-group=e2e-venv
WSGIScriptAlias /dgpyinfo @APPS@/directives/pyinfo.wsgi process-group=e2e-venv \\
    application-group=%{GLOBAL}
WSGIScriptAlias /epyinfo @APPS@/directives/pyinfo.wsgi
"""


@pytest.mark.parametrize("path", ["/dpyinfo", "/dgpyinfo"], ids=["sub", "main"])
def test_daemon_python_home_venv(request, module, venv, path):
    """python-home= gives the daemon group's processes the venv while
    embedded mode keeps the system Python."""
    server = start_apache(request, module, DAEMON_HOME_SNIPPET.replace("@VENV@", venv),
                          name="daemon-venv")
    d = info(server, path + "?import=e2e_venv_mod")
    assert (d["prefix"], d["base_prefix"]) == (venv, "/usr")
    assert d["argv"] == ["mod_wsgi"]
    assert d["import"]["value"] == "from-venv"
    assert info(server, "/epyinfo")["prefix"] == "/usr"


SINGLE_PROCESS_APP = """
import json
import sys


def application(environ, start_response):
    body = json.dumps({
        "stdout_is_console": sys.stdout is sys.__stdout__,
        "stdin_is_console": sys.stdin is sys.__stdin__,
        "stderr_is_console": sys.stderr is sys.__stderr__,
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
"""


@pytest.mark.parametrize("single", [True, False])
def test_single_process_mode_keeps_the_console_streams(request, module, single):
    """Under apache2 -X, Apache serves from its own process and mod_wsgi
    leaves sys.stdout and sys.stdin as Python made them (the console), so
    pdb works (even with WSGIRestrictStdin On); sys.stderr still goes to
    the error log. Otherwise all three are replaced."""
    server = start_apache(request, module, """
WSGIRestrictStdin On
WSGIScriptAlias /sub @ROOT@/app/streams.wsgi
WSGIScriptAlias /main @ROOT@/app/streams.wsgi application-group=%{GLOBAL}
<Directory @ROOT@/app>
    Require all granted
</Directory>
""", name="single-process", files={"app/streams.wsgi": SINGLE_PROCESS_APP},
        args=("-X",) if single else ())
    for path in ("/sub", "/main"):
        r = server.get(path)
        assert r.status == 200, r.body[:300]
        assert json.loads(r.body) == {"stdout_is_console": single,
                                      "stdin_is_console": single,
                                      "stderr_is_console": False}


def test_a_failing_site_dir_is_logged_and_python_still_serves(request, module):
    """A WSGIPythonPath directory whose .pth file cannot be decoded (UTF-8
    bytes under Debian's LANG=C) makes site.addsitedir() raise. As in
    mod_wsgi, that is one error line and the interpreter still serves; the
    directories before it were added, each with an info line."""
    server = start_apache(request, module, """
WSGIPythonPath @ROOT@/good:@ROOT@/bad
WSGIScriptAlias /sub @ROOT@/app/paths.wsgi
WSGIScriptAlias /main @ROOT@/app/paths.wsgi application-group=%{GLOBAL}
<Directory @ROOT@/app>
    Require all granted
</Directory>
""", name="bad-site-dir", env={"LANG": "C"}, files={
        "app/paths.wsgi": "import json, sys\n"
                          "def application(environ, start_response):\n"
                          "    start_response('200 OK', [])\n"
                          "    return [json.dumps(sys.path).encode()]\n",
        "good/placeholder.py": "",
        "bad/broken.pth": "# caf\u00e9\n",
    })
    for path in ("/sub", "/main"):
        r = server.get(path)
        assert r.status == 200, (path, r.status, server.error_log()[-3000:])
        assert server.root + "/good" in json.loads(r.body)
    log = server.error_log()
    assert re.search(r"mod_wsgi \(pid=\d+\): Adding '" + re.escape(server.root)
                     + r"/good' to path\.$", log, re.M), log
    assert re.search(r"mod_wsgi \(pid=\d+\): Call to 'site\.addsitedir\(\)' failed for '"
                     + re.escape(server.root) + r"/bad'\.$", log, re.M), log


@pytest.mark.parametrize("path,first,second", [
    ("/pyinfo", "odd-a", "odd-b"),
    ("/gpyinfo", "odd-a", "odd-b"),
    ("/dpyinfo", "odd-c", "odd-d"),
], ids=["sub", "main", "daemon"])
def test_python_path_empty_entries_add_the_current_directory(odd, path, first, second):
    """mod_wsgi 4.9.4 splits WSGIPythonPath (and python-path=) at every
    ':' and hands each piece to site.addsitedir(), empty ones included:
    site.addsitedir('') adds the absolute current directory, once (the
    trailing ':' finds it already there). It goes to the front with the
    rest, in order."""
    d = info(odd, path)
    expected = [os.path.join(odd.tmp, first), d["cwd"], os.path.join(odd.tmp, second)]
    assert d["path"][:3] == expected, d["path"]
    assert d["path"].count(d["cwd"]) == 1, d["path"]


def test_python_path_empty_entries_are_logged(odd):
    """Each entry, empty or not, gets mod_wsgi's "Adding '...' to path."."""
    info(odd, "/pyinfo")
    log = odd.wait_log(r"Adding '' to path\.", count=2)
    assert "Adding '%s/odd-b' to path." % odd.tmp in log, log


@INTERPRETERS
def test_python_optimize_above_two(odd, path):
    """WSGIPythonOptimize 3: mod_wsgi sets Py_OptimizeFlag to atoi()'s
    value; Python takes it as python -OOO does (sys.flags.optimize 3,
    asserts and docstrings stripped)."""
    d = info(odd, path)
    assert d["optimize"] == 3
    assert d["asserts"] == "stripped"
