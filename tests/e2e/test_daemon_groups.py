"""What a WSGIDaemonProcess group's settings do inside its processes, as
mod_wsgi 4.9.4 does it: home= (working directory and the front of sys.path),
python-path= instead of WSGIPythonPath, wsgi.run_once, the graceful-timeout
default, and which virtual hosts may send requests to a group."""

import json
import pwd
import re
import threading
import time

from conftest import start_apache

import pytest


def env(server, path, headers=None):
    r = server.get(path, headers=headers)
    assert r.status == 200, (path, r.status, r.body[:500])
    return json.loads(r.body)


# ---------------------------------------------------------------------------
# home=, python-path= and WSGIPythonPath

PATHS = """
WSGISocketPrefix @ROOT@/run/wsgi
WSGIPythonPath @ROOT@/global-path
WSGIPythonEggs @ROOT@/global-eggs
WSGIDaemonProcess e2e-home threads=2 home=@ROOT@/home python-path=@ROOT@/pp1:@ROOT@/pp2 python-eggs=@ROOT@/home-eggs
WSGIScriptAlias /home/env @APPS@/environ.wsgi process-group=e2e-home
WSGIScriptAlias /home/main @APPS@/environ.wsgi process-group=e2e-home application-group=%{GLOBAL}
WSGIScriptAlias /home/import @APPS@/daemon/import_home.wsgi process-group=e2e-home
WSGIDaemonProcess e2e-nohome threads=2
WSGIScriptAlias /nohome/env @APPS@/environ.wsgi process-group=e2e-nohome
WSGIScriptAlias /embedded/env @APPS@/environ.wsgi
"""

IMPORT_HOME = """
import home_module


def application(environ, start_response):
    body = home_module.WHERE.encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"""


@pytest.fixture(scope="module")
def paths(request, module):
    return start_apache(request, module, PATHS, files={
        "home/home_module.py": "WHERE = 'home'\n",
        "pp1/pp1_module.py": "",
        "pp2/pp2_module.py": "",
        "global-path/global_module.py": "",
        "apps/daemon/import_home.wsgi": IMPORT_HOME,
    })


@pytest.mark.parametrize("path", ["/home/env", "/home/main"])
def test_home_is_first_on_sys_path(paths, path):
    """home= goes to the front of sys.path in every interpreter of the
    daemon (sub-interpreter and %{GLOBAL}), ahead of the python-path
    entries (mod_wsgi 4.9.4 newInterpreterObject: python-path first, then
    home inserted at 0)."""
    d = env(paths, path)
    root = paths.root
    assert d["sys"]["path"][:3] == [f"{root}/home", f"{root}/pp1", f"{root}/pp2"], d["sys"]["path"]
    assert d["sys"]["cwd"] == f"{root}/home"


def test_home_modules_are_importable(paths):
    r = paths.get("/home/import")
    assert (r.status, r.body) == (200, b"home"), r.body[:500]


@pytest.mark.parametrize("path", ["/home/env", "/nohome/env"])
def test_python_path_directive_stays_out_of_daemons(paths, path):
    """WSGIPythonPath is embedded mode's: a daemon process has only its
    group's python-path= (mod_wsgi 4.9.4 wsgi_interp.c: `if
    (!wsgi_daemon_pool) wsgi_python_path = ...->python_path`)."""
    assert f"{paths.root}/global-path" in env(paths, "/embedded/env")["sys"]["path"]
    sys_path = env(paths, path)["sys"]["path"]
    assert f"{paths.root}/global-path" not in sys_path, sys_path


def test_python_eggs_directive_stays_out_of_daemons(paths):
    """Likewise WSGIPythonEggs: a daemon's PYTHON_EGG_CACHE is its group's
    python-eggs=, or unset (mod_wsgi 4.9.4 wsgi_interp.c)."""
    assert env(paths, "/embedded/env")["sys"]["egg_cache"] == f"{paths.root}/global-eggs"
    assert env(paths, "/home/env")["sys"]["egg_cache"] == f"{paths.root}/home-eggs"
    assert env(paths, "/nohome/env")["sys"]["egg_cache"] is None


def test_without_home_the_daemon_keeps_apaches_directory(paths):
    """Without home= a daemon running as Apache's own user does not change
    directory (mod_wsgi 4.9.4 only moves to the user's home directory when
    user= names another user than Apache's): it works where Apache's
    children work, not in www-data's home, and that is not on sys.path."""
    embedded = env(paths, "/embedded/env")["sys"]
    daemon = env(paths, "/nohome/env")["sys"]
    assert daemon["pid"] != embedded["pid"]
    assert daemon["cwd"] == embedded["cwd"], (daemon["cwd"], embedded["cwd"])
    assert daemon["cwd"] != "/var/www"
    assert daemon["cwd"] not in daemon["path"]


# ---------------------------------------------------------------------------
# wsgi.run_once and graceful-timeout

ONCE = """
WSGISocketPrefix @ROOT@/run/wsgi
WSGIDaemonProcess e2e-once threads=1 maximum-requests=1
WSGIScriptAlias /once @APPS@/environ.wsgi process-group=e2e-once
WSGIDaemonProcess e2e-twice threads=1 maximum-requests=2
WSGIScriptAlias /twice @APPS@/environ.wsgi process-group=e2e-twice
WSGIDaemonProcess e2e-once-mt threads=2 maximum-requests=1
WSGIScriptAlias /once-mt @APPS@/environ.wsgi process-group=e2e-once-mt
WSGIDaemonProcess e2e-drain threads=2 maximum-requests=2
WSGIScriptAlias /drain/sleep @APPS@/daemon/sleep.wsgi process-group=e2e-drain
WSGIScriptAlias /drain/pid @APPS@/daemon/pid.wsgi process-group=e2e-drain
"""


@pytest.fixture(scope="module")
def once(request, module):
    return start_apache(request, module, ONCE)


@pytest.mark.parametrize("path,expected", [
    ("/once", "True"),      # threads=1 maximum-requests=1
    ("/twice", "False"),    # maximum-requests=2
    ("/once-mt", "False"),  # threads=2
])
def test_run_once(once, path, expected):
    """wsgi.run_once is True only for a daemon group with threads=1 and
    maximum-requests=1 (mod_wsgi 4.9.4 Adapter_environ)."""
    for _ in range(2):
        d = env(once, path)
        assert (d["environ"]["wsgi.run_once"], d["types"]["wsgi.run_once"]) == (expected, "bool")


def test_graceful_timeout_defaults_to_15_seconds(once):
    """maximum-requests reached while another request is still running:
    with graceful-timeout unset the process drains (its default is 15 s in
    mod_wsgi 4.9.4) instead of shutting down at once, and the running
    request completes."""
    first = env(once, "/drain/pid")  # a warm process; one request of two used
    mark = once.log_mark()
    result = {}
    slow = threading.Thread(target=lambda: result.update(r=once.get("/drain/sleep?s=2")))
    slow.start()
    try:
        time.sleep(0.7)
        r = once.get("/drain/pid")
        assert r.status == 200
        assert int(r.body) == first, "the second request went to another process"
        log = once.wait_log(r"Maximum requests reached, ", since=mark)
    finally:
        slow.join(30)
    assert result["r"].status == 200 and result["r"].body == b"slept\n"
    first_line = next(l for l in log.splitlines() if "Maximum requests reached, " in l)
    assert "Maximum requests reached, attempt a graceful shutdown 'e2e-drain'." in first_line, log


# ---------------------------------------------------------------------------
# Virtual hosts and daemon groups

VHOSTS = """
WSGISocketPrefix @ROOT@/run/wsgi
WSGIDaemonProcess e2e-main threads=2
<VirtualHost *:@PORT@>
    ServerName a.test
    WSGIDaemonProcess e2e-va threads=2
    WSGIScriptAlias /env @APPS@/environ.wsgi
    SetEnv E2E_GROUP e2e-va
    WSGIProcessGroup %{ENV:E2E_GROUP}
</VirtualHost>
<VirtualHost *:@PORT@>
    ServerName b.test
    WSGIScriptAlias /env @APPS@/environ.wsgi
    WSGIScriptAlias /literal @APPS@/environ.wsgi
    WSGIScriptAlias /main @APPS@/environ.wsgi
    <Location /env>
        SetEnv E2E_GROUP e2e-va
        WSGIProcessGroup %{ENV:E2E_GROUP}
    </Location>
    <Location /literal>
        WSGIProcessGroup e2e-va
    </Location>
    <Location /main>
        SetEnv E2E_GROUP e2e-main
        WSGIProcessGroup %{ENV:E2E_GROUP}
    </Location>
</VirtualHost>
<VirtualHost *:@PORT@>
    ServerName a.test
    ServerAlias c.test
    WSGIScriptAlias /env @APPS@/environ.wsgi
    WSGIProcessGroup e2e-va
</VirtualHost>
"""


@pytest.fixture(scope="module")
def vhosts(request, module):
    return start_apache(request, module, VHOSTS, modules=("env",))


def group_of(server, host, path):
    return env(server, path, headers={"Host": host})["environ"]["mod_wsgi.process_group"]


def test_vhost_uses_its_own_group_through_env(vhosts):
    assert group_of(vhosts, "a.test", "/env") == "e2e-va"


def test_vhost_with_the_same_server_name_may_use_the_group(vhosts):
    # c.test is an alias of the second vhost named a.test
    assert group_of(vhosts, "c.test", "/env") == "e2e-va"


def test_group_of_the_main_server_is_open_to_every_vhost(vhosts):
    assert group_of(vhosts, "b.test", "/main") == "e2e-main"


@pytest.mark.parametrize("path", ["/env", "/literal"])
def test_group_of_another_vhost_is_refused_at_request_time(vhosts, path):
    """A WSGIProcessGroup (an %{ENV:...} value or a plain name, which is not
    checked when the configuration is read) naming a group defined in a
    virtual host with another ServerName: 500, and mod_wsgi 4.9.4's line
    (wsgi_execute_remote)."""
    mark = vhosts.log_mark()
    r = vhosts.get(path, headers={"Host": "b.test"})
    assert r.status == 500
    assert b"mod_wsgi.process_group" not in r.body
    vhosts.wait_log(r"Daemon process called 'e2e-va' cannot be accessed by this WSGI "
                    r"application: " + vhosts.apps + "/environ.wsgi$", since=mark)


# ---------------------------------------------------------------------------
# lang=, locale= and umask=

PROCESS_ENV_APP = """
import json
import pwd
import re
import locale
import os


def application(environ, start_response):
    mask = os.umask(0)
    os.umask(mask)
    body = json.dumps({
        "LANG": os.environ.get("LANG"),
        "LC_ALL": os.environ.get("LC_ALL"),
        "LC_CTYPE": locale.setlocale(locale.LC_CTYPE),
        "umask": mask,
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
"""

PROCESS_ENV = """
WSGISocketPrefix @ROOT@/run/wsgi
WSGIDaemonProcess e2e-locale threads=2 lang=C.UTF-8 locale=C.UTF-8 umask=0027
WSGIScriptAlias /locale @APPS@/daemon/process_env.wsgi process-group=e2e-locale \\
    application-group=%{GLOBAL}
"""


def test_lang_locale_and_umask(request, module):
    """lang= sets LANG, locale= sets LC_ALL and the C locale, umask= the
    process's file mode mask."""
    server = start_apache(request, module, PROCESS_ENV, name="daemon-locale", files={
        "apps/daemon/process_env.wsgi": PROCESS_ENV_APP,
    })
    assert env(server, "/locale") == {
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "LC_CTYPE": "C.UTF-8", "umask": 0o027}


def test_starting_line_names_the_user_when_apache_started_as_root(paths):
    """A daemon forked by a root parent (as here: Apache starts as root and
    switches its children to www-data) logs the user and group it takes;
    a daemon of a non-root Apache logs only its threads, as mod_wsgi."""
    env(paths, "/nohome/env")
    log = paths.error_log()
    www = pwd.getpwnam("www-data")
    assert re.search(r"mod_wsgi \(pid=\d+\): Starting process 'e2e-nohome' with "
                     rf"uid={www.pw_uid}, gid={www.pw_gid} and threads=2\.$", log, re.M), log
