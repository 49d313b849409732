"""Who a WSGIDaemonProcess group's processes run as, as mod_wsgi 4.9.4 does
it: user= and group= (names or #ids), Apache's Group for user= without
group=, supplementary-groups=, the HOME/USER/USERNAME/LOGNAME a daemon
sees, and the configuration errors for unknown names (Apache's own
AH00543/AH00544, from ap_uname2id/ap_gname2id).

The tests run as root and Apache's User/Group are www-data."""

import grp
import json
import os
import pwd
import re
import signal

import apache
from conftest import start_apache

import pytest


IDENTITY_APP = """
import ctypes
import json
import os


def application(environ, start_response):
    libc = ctypes.CDLL(None, use_errno=True)
    body = json.dumps({
        "pid": os.getpid(),
        "uid": os.getuid(),
        "euid": os.geteuid(),
        "gid": os.getgid(),
        "egid": os.getegid(),
        "groups": sorted(os.getgroups()),
        "cwd": os.getcwd(),
        "env": {k: os.environ.get(k) for k in ("HOME", "USER", "USERNAME", "LOGNAME")},
        "home": os.path.expanduser("~"),
        "dumpable": libc.prctl(3, 0, 0, 0, 0),  # PR_GET_DUMPABLE
        "sigign": next(int(line.split()[1], 16) for line in open("/proc/self/status")
                       if line.startswith("SigIgn:")),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
"""

FILES = {"apps/daemon/identity.wsgi": IDENTITY_APP}


def unused_gids(count):
    """gids with no group entry (and no user with that uid, for clarity)."""
    used = {g.gr_gid for g in grp.getgrall()} | {p.pw_uid for p in pwd.getpwall()}
    found = []
    gid = 4242
    while len(found) < count:
        if gid not in used:
            found.append(gid)
        gid += 1
    return found


GID_A, GID_B = unused_gids(2)
WWW = pwd.getpwnam("www-data")
NOBODY = pwd.getpwnam("nobody")
NOGROUP = grp.getgrnam("nogroup").gr_gid


def memberships(user):
    return {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}


def identity(server, path):
    r = server.get(path)
    assert r.status == 200, (path, r.status, r.body[:500])
    return json.loads(r.body)


# ---------------------------------------------------------------------------
# Apache started from a root shell: HOME, USER and LOGNAME are root's

USERS = f"""
WSGISocketPrefix @ROOT@/run/wsgi
WSGIDaemonProcess e2e-www threads=1
WSGIScriptAlias /www @APPS@/daemon/identity.wsgi process-group=e2e-www
WSGIDaemonProcess e2e-nobody threads=1 user=nobody home=@ROOT@
WSGIScriptAlias /nobody @APPS@/daemon/identity.wsgi process-group=e2e-nobody
WSGIDaemonProcess e2e-nobody-uid threads=1 user=#{NOBODY.pw_uid} home=@ROOT@
WSGIScriptAlias /nobody-uid @APPS@/daemon/identity.wsgi process-group=e2e-nobody-uid
WSGIDaemonProcess e2e-gid threads=1 group=#{GID_A}
WSGIScriptAlias /gid @APPS@/daemon/identity.wsgi process-group=e2e-gid
WSGIDaemonProcess e2e-supp threads=1 user=nobody home=@ROOT@ supplementary-groups=nogroup,#{GID_B}
WSGIScriptAlias /supp @APPS@/daemon/identity.wsgi process-group=e2e-supp
WSGIDaemonProcess e2e-supp-gid threads=1 group=#{GID_A} supplementary-groups=#{GID_B}
WSGIScriptAlias /supp-gid @APPS@/daemon/identity.wsgi process-group=e2e-supp-gid
WSGIDaemonProcess e2e-script-uid threads=1 script-user=#0
WSGIScriptAlias /script-uid @APPS@/daemon/identity.wsgi process-group=e2e-script-uid
WSGIDaemonProcess e2e-script-gid threads=1 script-group=#0
WSGIScriptAlias /script-gid @APPS@/daemon/identity.wsgi process-group=e2e-script-gid
WSGIScriptAlias /embedded @APPS@/daemon/identity.wsgi
"""

ROOT_SHELL = {"HOME": "/root", "USER": "root", "LOGNAME": "root"}


@pytest.fixture(scope="module")
def users(request, module):
    # Apache's environment (apache.APACHE_ENV) as a root login shell has
    # it, for this start only; USERNAME stays unset.
    with pytest.MonkeyPatch.context() as mp:
        for key, value in ROOT_SHELL.items():
            mp.setitem(apache.APACHE_ENV, key, value)
        return start_apache(request, module, USERS, name="daemon-users", files=FILES)


def test_daemon_as_apaches_user_gets_its_home_and_name(users):
    """No user=: the daemon runs as www-data, and HOME, USER and LOGNAME
    are www-data's; USERNAME, unset in Apache's environment, stays unset
    (mod_wsgi 4.9.4 wsgi_interp.c: USER/USERNAME/LOGNAME only when set,
    HOME always)."""
    d = identity(users, "/www")
    assert (d["uid"], d["gid"]) == (WWW.pw_uid, WWW.pw_gid)
    assert d["env"] == {"HOME": WWW.pw_dir, "USER": "www-data", "USERNAME": None,
                        "LOGNAME": "www-data"}
    assert d["home"] == WWW.pw_dir


def test_daemon_ignores_sigpipe_and_sigxfsz(users):
    """As mod_wsgi's daemon (where Python's initialization ignores them): a
    closed pipe or a write past RLIMIT_FSIZE fails with an error instead of
    killing the process."""
    ignored = identity(users, "/www")["sigign"]
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):
        assert ignored & (1 << (sig - 1)), (sig, hex(ignored))


@pytest.mark.parametrize("path", ["/nobody", "/nobody-uid"])
def test_user_without_group_runs_with_apaches_group(users, path):
    """user=nobody (or #uid) without group=: uid nobody, gid Apache's Group
    (www-data), not nobody's primary group (mod_wsgi 4.9.4 and its
    documentation), and initgroups() for nobody with that gid. HOME is
    nobody's home directory even though home= moved the process
    elsewhere."""
    d = identity(users, path)
    assert (d["uid"], d["euid"]) == (NOBODY.pw_uid, NOBODY.pw_uid)
    assert (d["gid"], d["egid"]) == (WWW.pw_gid, WWW.pw_gid)
    assert set(d["groups"]) == {WWW.pw_gid} | memberships("nobody")
    assert d["cwd"] == users.root
    assert d["env"] == {"HOME": NOBODY.pw_dir, "USER": "nobody", "USERNAME": None,
                        "LOGNAME": "nobody"}


def test_group_by_number_without_an_entry(users):
    """group=#gid for a gid that has no group entry: accepted (Apache's
    ap_gname2id reads the number), and the daemon runs with it."""
    d = identity(users, "/gid")
    assert d["uid"] == WWW.pw_uid
    assert (d["gid"], d["egid"]) == (GID_A, GID_A)
    assert set(d["groups"]) == {GID_A} | memberships("www-data")


def test_supplementary_groups_by_name_and_number(users):
    """supplementary-groups=nogroup,#gid: the groups are exactly the
    daemon's group (Apache's Group here) and the listed ones, in place of
    the user's own (no initgroups())."""
    d = identity(users, "/supp")
    assert d["uid"] == NOBODY.pw_uid
    assert d["gid"] == WWW.pw_gid
    assert set(d["groups"]) == {WWW.pw_gid, NOGROUP, GID_B}


def test_supplementary_groups_follow_group(users):
    d = identity(users, "/supp-gid")
    assert d["gid"] == GID_A
    assert set(d["groups"]) == {GID_A, GID_B}


@pytest.mark.parametrize("path", ["/script-uid", "/script-gid"])
def test_script_owner_by_number(users, path):
    """script-user=#0 / script-group=#0 name root: a script (and its
    directory) owned by root:root passes the check, as in mod_wsgi, which
    keeps the name the number stands for."""
    assert identity(users, path)["uid"] == WWW.pw_uid


def test_embedded_mode_keeps_apaches_environment(users):
    """Only daemon processes change these variables: an Apache child
    (embedded mode) keeps what Apache was started with."""
    d = identity(users, "/embedded")
    assert d["uid"] == WWW.pw_uid
    assert d["env"] == {"HOME": "/root", "USER": "root", "USERNAME": None,
                        "LOGNAME": "root"}


# ---------------------------------------------------------------------------
# Apache started without HOME/USER (as under systemd), CoreDumpDirectory

PLAIN = """
WSGISocketPrefix @ROOT@/run/wsgi
CoreDumpDirectory @TMP@
WSGIDaemonProcess e2e-plain threads=1
WSGIScriptAlias /plain @APPS@/daemon/identity.wsgi process-group=e2e-plain
WSGIScriptAlias /embedded @APPS@/daemon/identity.wsgi
"""


@pytest.fixture(scope="module")
def plain(request, module):
    assert not {"HOME", "USER", "USERNAME", "LOGNAME"} & set(apache.APACHE_ENV)
    return start_apache(request, module, PLAIN, name="daemon-plain", files=FILES)


def test_daemon_gets_home_when_apache_has_none(plain):
    """Apache started without HOME (systemd): a daemon still gets its
    user's HOME; USER, USERNAME and LOGNAME are not invented."""
    d = identity(plain, "/plain")
    assert d["env"] == {"HOME": WWW.pw_dir, "USER": None, "USERNAME": None, "LOGNAME": None}
    assert identity(plain, "/embedded")["env"]["HOME"] is None


def test_core_dump_directory_keeps_daemons_dumpable(plain, users):
    """With CoreDumpDirectory a daemon re-enables core dumps after dropping
    root (setuid() clears the flag), as Apache's children do; without it,
    it stays off."""
    assert identity(plain, "/plain")["dumpable"] == 1
    assert identity(plain, "/embedded")["dumpable"] == 1
    assert identity(users, "/www")["dumpable"] == 0


# ---------------------------------------------------------------------------
# apache2 -t

NGROUPS_MAX = os.sysconf("SC_NGROUPS_MAX")


@pytest.mark.parametrize("snippet,message", [
    ("WSGIDaemonProcess g user=e2e-nosuch-user",
     "AH00543: apache2: bad user name e2e-nosuch-user"),
    ("WSGIDaemonProcess g group=e2e-nosuch-group",
     "AH00544: apache2: bad group name e2e-nosuch-group"),
    ("WSGIDaemonProcess g user=nobody supplementary-groups=nogroup,e2e-nosuch-group",
     "AH00544: apache2: bad group name e2e-nosuch-group"),
    ("WSGIDaemonProcess g script-user=e2e-nosuch-user",
     "AH00543: apache2: bad user name e2e-nosuch-user"),
    ("WSGIDaemonProcess g script-group=e2e-nosuch-group",
     "AH00544: apache2: bad group name e2e-nosuch-group"),
    ("WSGIDaemonProcess g socket-user=e2e-nosuch-user",
     "AH00543: apache2: bad user name e2e-nosuch-user"),
])
def test_unknown_names_stop_apache_with_its_own_message(configtest, snippet, message):
    """An unknown user or group name is Apache's ap_uname2id/ap_gname2id
    error (the process exits at once; no "Syntax error on line")."""
    rc, out = configtest(snippet)
    assert rc != 0, out
    assert message in out, out
    assert "Syntax OK" not in out


@pytest.mark.parametrize("snippet,message", [
    (f"WSGIDaemonProcess g user=#{GID_A}", "Couldn't determine user name from uid."),
    (f"WSGIDaemonProcess g socket-user=#{GID_A}",
     "Couldn't determine user name from socket user."),
    (f"WSGIDaemonProcess g script-user=#{GID_A}", "Couldn't determine uid from script user."),
    (f"WSGIDaemonProcess g script-group=#{GID_A}", "Couldn't determine gid from script group."),
    ("WSGIDaemonProcess g user=#0", "WSGI process blocked from running as root."),
    ("WSGIDaemonProcess g supplementary-groups=" + ",".join(["#1"] * NGROUPS_MAX),
     "Too many supplementary groups WSGI daemon process"),
])
def test_numbers_without_entries_and_limits(configtest, snippet, message):
    rc, out = configtest(snippet)
    assert rc != 0, out
    assert re.search(r"AH00526: Syntax error on line \d+ of .*/httpd\.conf:", out), out
    assert message in out, out


@pytest.mark.parametrize("snippet", [
    f"WSGIDaemonProcess g group=#{GID_A}",
    f"WSGIDaemonProcess g supplementary-groups=#{GID_A},nogroup",
    # one fewer than NGROUPS_MAX: with the daemon's own group, exactly the limit
    "WSGIDaemonProcess g supplementary-groups=" + ",".join(["#1"] * (NGROUPS_MAX - 1)),
])
def test_numbers_accepted(configtest, snippet):
    rc, out = configtest(snippet)
    assert rc == 0, out
    assert "Syntax OK" in out


def test_a_failed_setup_step_is_followed_by_mod_wsgis_restart_line(request, module):
    """A daemon that cannot enter its home= directory logs why, then
    mod_wsgi's line saying it will restart after a delay."""
    server = start_apache(request, module, """
WSGISocketPrefix @ROOT@/run/wsgi
WSGIDaemonProcess e2e-nohome threads=1 home=@ROOT@/does-not-exist
""", name="daemon-setup-fails")
    log = server.wait_log(r"mod_wsgi \(pid=\d+\): Failure to configure the daemon process "
                          r"correctly and process left in unspecified state\. Restarting "
                          r"daemon process after delay\.$")
    assert re.search(r"Unable to change working directory to '"
                     + re.escape(server.root) + "/does-not-exist'", log), log


NONROOT_CONF = """
ServerRoot {root}
ServerName localhost
Listen 127.0.0.1:{port}
PidFile {root}/httpd.pid
ErrorLog {root}/error.log
LogLevel info
LoadModule mpm_event_module {moddir}/mod_mpm_event.so
LoadModule authz_core_module {moddir}/mod_authz_core.so
LoadModule wsgi_module {module}
User www-data
Group www-data
WSGISocketPrefix {root}/wsgi
WSGISocketRotation Off
WSGIDaemonProcess e2e-nonroot threads=1
"""


def test_socket_rotation_off_names_the_configured_user_when_not_root(module):
    """Apache started as nobody (not root, so it cannot switch to User
    www-data): with WSGISocketRotation Off, mod_wsgi 4.9.4 still names the
    daemon socket after the configured user's uid (`.u33.`), not the uid
    the processes run as. Only the socket's name shows it; the harness
    runs Apache as root, so this test starts its own."""
    import shutil
    import subprocess
    import tempfile
    import time
    nobody = pwd.getpwnam("nobody")
    root = tempfile.mkdtemp(prefix="wsgirt-nonroot-")
    os.chmod(root, 0o777)
    conf = os.path.join(root, "httpd.conf")
    # nobody must be able to load the module: a checkout (or a mktemp -d
    # clone) may sit in a directory only its owner can enter.
    module_copy = os.path.join(root, "module-under-test.so")
    shutil.copy(module.path, module_copy)
    os.chmod(module_copy, 0o755)
    with open(conf, "w") as f:
        f.write(NONROOT_CONF.format(root=root, port=apache.free_port(),
                                    moddir=apache.MODDIR, module=module_copy))
    os.chmod(conf, 0o644)
    proc = subprocess.Popen(
        [apache.APACHE2, "-d", root, "-f", conf, "-DFOREGROUND"],
        user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[],
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, cwd=root,
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        socks = []
        while time.monotonic() < deadline and not socks:
            time.sleep(0.1)
            socks = [n for n in os.listdir(root) if n.endswith(".sock")]
        www = pwd.getpwnam("www-data").pw_uid
        assert len(socks) == 1, (os.listdir(root), proc.poll())
        assert re.fullmatch(r"wsgi\.%d\.u%d\.1\.sock" % (proc.pid, www), socks[0]), socks
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(root, ignore_errors=True)
