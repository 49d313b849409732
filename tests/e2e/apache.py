"""Harness: a real Apache httpd (Debian ``apache2``) in a private temp ServerRoot.

One :class:`Apache` object is one Apache instance: its own ServerRoot
(``mkdtemp``), its own loopback port, its own logs, and the WSGI module under
test loaded with ``LoadModule wsgi_module <path>``.  Everything the test gives
it is a config *snippet*; the surrounding config (MPM, logs, user, the
``<Directory>`` for the fixture apps) is written here.

Placeholders in snippets (and in extra files written with ``write_file``):

    @ROOT@    the temp ServerRoot
    @PORT@    the loopback port Apache listens on
    @APPS@    ROOT/apps, a copy of tests/e2e/apps (readable by www-data)
    @TMP@     ROOT/tmp, a directory writable by www-data (marker files)
    @MODDIR@  Debian's Apache module directory

Nothing here imports anything outside the standard library.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

APACHE2 = "/usr/sbin/apache2"
MODDIR = "/usr/lib/apache2/modules"
HERE = os.path.dirname(os.path.abspath(__file__))
APPS_SRC = os.path.join(HERE, "apps")
REPO = os.path.dirname(os.path.dirname(HERE))

# The environment Apache (and so the embedded Python) runs with: nothing of
# the test runner's own (no PYTHON* variables, no pyenv shims on PATH).
APACHE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}

MPM_CONFIG = {
    # One active child process with threads (MaxRequestWorkers ==
    # ThreadsPerChild): every request of a test reaches the same Python
    # interpreters, so per-interpreter state is observable across requests.
    # ServerLimit 2 leaves a scoreboard slot for a child that is still
    # finishing after a graceful restart.
    "event": """\
StartServers 1
ServerLimit 2
ThreadLimit 16
ThreadsPerChild 16
MaxRequestWorkers 16
MinSpareThreads 1
MaxSpareThreads 32
MaxConnectionsPerChild 0
""",
    # mpm_worker only starts children in slots below MaxRequestWorkers /
    # ThreadsPerChild, so a child still finishing after a graceful restart
    # would block its successor with "scoreboard is full": allow two.
    # (wsgi.multiprocess is therefore True under this worker config.)
    "worker": """\
StartServers 1
ServerLimit 2
ThreadLimit 16
ThreadsPerChild 16
MaxRequestWorkers 32
MinSpareThreads 1
MaxSpareThreads 48
MaxConnectionsPerChild 0
""",
    "prefork": """\
StartServers 2
MinSpareServers 1
MaxSpareServers 4
ServerLimit 4
MaxRequestWorkers 4
MaxConnectionsPerChild 0
""",
}

BASE_CONFIG = """\
# Written by tests/e2e/apache.py
ServerRoot "@ROOT@"
DefaultRuntimeDir "@ROOT@/run"
PidFile "@ROOT@/run/httpd.pid"
ErrorLog "@ROOT@/logs/error.log"
LogLevel @LOGLEVEL@
Listen 127.0.0.1:@PORT@
ServerName 127.0.0.1
User www-data
Group www-data

LoadModule mpm_@MPM@_module @MODDIR@/mod_mpm_@MPM@.so
LoadModule authz_core_module @MODDIR@/mod_authz_core.so
LoadModule mime_module @MODDIR@/mod_mime.so
@LOADMODULES@
LoadModule wsgi_module @MODULE@
@QUICKEXIT@
@MPMCONFIG@
Timeout 30
KeepAlive On
KeepAliveTimeout 3
HostnameLookups Off
TypesConfig /etc/mime.types

LogFormat "%h %l %u %t \\"%r\\" %>s %b %D" e2e
CustomLog "@ROOT@/logs/access.log" e2e

<Directory />
    AllowOverride None
    Options None
    Require all denied
</Directory>
DocumentRoot "@ROOT@/htdocs"
<Directory "@ROOT@/htdocs">
    Require all granted
</Directory>
<Directory "@APPS@">
    AllowOverride None
    Require all granted
</Directory>

# ---- test snippet ----
@SNIPPET@
"""


# Debian's mod_wsgi 4.9.4 on Python 3.11 hangs (or segfaults) in
# Py_EndInterpreter when a child exits after sub-interpreters were used, and
# Apache SIGKILLs the child ~10 s later.  Behaviour tests do not care how a
# child exits, so they skip the interpreter teardown where the module offers a
# switch for it (mod_wsgi >= 4.9.1; ours has it too, so every stop here also
# exercises its Off path).  The harness still checks that nothing is left.
# test_lifecycle.py runs with quick_exit=False and so tests the real teardown
# of both modules.
QUICK_EXIT = """\
<IfDirective WSGIDestroyInterpreter>
    WSGIDestroyInterpreter Off
</IfDirective>
"""


class ApacheError(AssertionError):
    """Apache did not start, stop or answer as the harness requires."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response(tuple):
    """``(status, headers, body)``; also ``.status``, ``.headers``, ``.body``,
    ``.text``, ``.complete`` (False when the body was cut short).  ``headers`` is an ``email.message.Message`` (case-insensitive
    ``get``/``get_all``) for http.client responses, or a dict of lower-cased
    names to lists of values for raw responses."""

    def __new__(cls, status, headers, body, reason="", complete=True):
        self = super().__new__(cls, (status, headers, body))
        self.reason = reason
        self.complete = complete  # False: the body was cut off (IncompleteRead)
        return self

    status = property(lambda self: self[0])
    headers = property(lambda self: self[1])
    body = property(lambda self: self[2])
    text = property(lambda self: self[2].decode("latin-1"))


def _decode_chunked(data: bytes) -> bytes:
    out = b""
    while True:
        line, _, rest = data.partition(b"\r\n")
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return out
        out += rest[:size]
        data = rest[size + 2:]


def parse_raw_response(raw: bytes) -> Response:
    """Parse one HTTP/1.x response (skipping interim 1xx ones)."""
    while True:
        head, sep, body = raw.partition(b"\r\n\r\n")
        if not sep:
            raise ApacheError(f"incomplete response: {raw[:300]!r}")
        lines = head.split(b"\r\n")
        status_line = lines[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        status = int(parts[1])
        if 100 <= status < 200:
            raw = body
            continue
        headers: dict[str, list[str]] = {}
        for line in lines[1:]:
            k, _, v = line.decode("latin-1").partition(":")
            headers.setdefault(k.strip().lower(), []).append(v.strip())
        if "chunked" in ",".join(headers.get("transfer-encoding", [])).lower():
            body = _decode_chunked(body)
        return Response(status, headers, body, parts[2] if len(parts) > 2 else "")


def _proc_table():
    """{pid: (ppid, pgid, cmdline)} for every process we can read."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read().decode("latin-1")
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("latin-1")
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        # rest[0]=state rest[1]=ppid rest[2]=pgrp
        if rest[0] == "Z":
            cmd = cmd or "<zombie>"
        table[int(d)] = (int(rest[1]), int(rest[2]), cmd, rest[0])
    return table


class Apache:
    """One private Apache instance.  ``start()`` it, talk to it, ``stop()`` it.

    module_path  the .so loaded as ``wsgi_module``
    snippet      config text appended to the base config (placeholders above)
    mpm          "event" (default), "worker" or "prefork" (MPM_CONFIG sizes it)
    log_level    LogLevel (default "info": mod_wsgi's lifecycle lines)
    modules      extra Debian modules to load, by short name ("alias", "env")
    files        {path relative to ROOT: str or bytes} written before start
    quick_exit   see QUICK_EXIT; False for tests of the real teardown
    env          changes to APACHE_ENV for this instance: {name: value},
                 a value of None removes the variable
    """

    def __init__(
        self,
        module_path: str,
        snippet: str = "",
        *,
        mpm: str = "event",
        log_level: str = "info",
        modules=(),
        files: dict | None = None,
        mpm_config: str | None = None,
        quick_exit: bool = True,
        name: str = "e2e",
        env: dict | None = None,
        args: tuple = (),
    ):
        self.module_path = module_path
        self.args = tuple(args)
        self.snippet = snippet
        self.mpm = mpm
        self.log_level = log_level
        self.modules = list(modules)
        self.files = dict(files or {})
        self.mpm_config = MPM_CONFIG[mpm] if mpm_config is None else mpm_config
        self.quick_exit = quick_exit
        self.name = name
        self.env = dict(APACHE_ENV)
        for key, value in (env or {}).items():
            if value is None:
                self.env.pop(key, None)
            else:
                self.env[key] = value
        self.root = None
        self.port = None
        self.proc = None
        self.pid = None
        self._stdout = None
        self.stopped = False

    # ------------------------------------------------------------------ setup

    @property
    def apps(self) -> str:
        return os.path.join(self.root, "apps")

    @property
    def tmp(self) -> str:
        return os.path.join(self.root, "tmp")

    @property
    def conf_path(self) -> str:
        return os.path.join(self.root, "httpd.conf")

    def render(self, text: str) -> str:
        for key, value in (
            ("@ROOT@", self.root),
            ("@PORT@", str(self.port)),
            ("@APPS@", self.apps),
            ("@TMP@", self.tmp),
            ("@MODDIR@", MODDIR),
        ):
            text = text.replace(key, value)
        return text

    def _prepare(self):
        if self.root is None:
            self.root = tempfile.mkdtemp(prefix=f"wsgirt-{self.name}-")
            os.chmod(self.root, 0o755)
            for sub in ("logs", "run", "htdocs"):
                os.mkdir(os.path.join(self.root, sub), 0o755)
            os.mkdir(self.tmp)
            os.chmod(self.tmp, 0o1777)
            shutil.copytree(APPS_SRC, self.apps,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            for dirpath, dirnames, filenames in os.walk(self.apps):
                os.chmod(dirpath, 0o755)
                for fn in filenames:
                    os.chmod(os.path.join(dirpath, fn), 0o644)
        if self.port is None:
            self.port = free_port()
        for rel, content in self.files.items():
            self.write_file(rel, content)
        loads = "\n".join(
            f"LoadModule {m}_module @MODDIR@/mod_{m}.so" for m in self.modules)
        conf = BASE_CONFIG
        for key, value in (
            ("@SNIPPET@", self.snippet),
            ("@MPMCONFIG@", self.mpm_config),
            ("@LOADMODULES@", loads),
            ("@QUICKEXIT@", QUICK_EXIT if self.quick_exit else ""),
            ("@LOGLEVEL@", self.log_level),
            ("@MPM@", self.mpm),
            ("@MODULE@", self.module_path),
        ):
            conf = conf.replace(key, value)
        with open(self.conf_path, "w") as f:
            f.write(self.render(conf))

    def write_file(self, rel: str, content, mode=0o644, render=True):
        """Write ROOT/rel (placeholders rendered for str content)."""
        path = os.path.join(self.root, rel)
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent)
            d = parent
            while d != self.root:           # readable by www-data whatever the umask
                os.chmod(d, 0o755)
                d = os.path.dirname(d)
        if isinstance(content, str):
            data = (self.render(content) if render else content).encode()
        else:
            data = content
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path

    # -------------------------------------------------------------- lifecycle

    def configtest(self):
        """Run ``apache2 -t`` on this config; return (returncode, output)."""
        self._prepare()
        p = subprocess.run(
            [APACHE2, "-t", "-d", self.root, "-f", self.conf_path],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=self.env, timeout=60)
        return p.returncode, p.stdout.decode("latin-1")

    def start(self, timeout: float = 15.0, attempts: int = 3):
        """Start Apache in the foreground (own process group) and wait until
        its port answers.  A port taken meanwhile by someone else is retried
        with a new port."""
        for attempt in range(attempts):
            try:
                return self._start_once(timeout)
            except ApacheError:
                if (attempt + 1 < attempts and self.proc is not None
                        and self.proc.poll() is not None
                        and "Address already in use" in self._diagnostics()):
                    self._stdout.close()
                    self.port = None
                    log = os.path.join(self.root, "logs", "error.log")
                    if os.path.exists(log):
                        os.truncate(log, 0)
                    continue
                raise

    def _start_once(self, timeout: float):
        self._prepare()
        self._stdout = open(os.path.join(self.root, "logs", "stdout.log"), "wb")
        self.proc = subprocess.Popen(
            [APACHE2, "-d", self.root, "-f", self.conf_path, "-DFOREGROUND", *self.args],
            stdin=subprocess.DEVNULL, stdout=self._stdout,
            stderr=subprocess.STDOUT, env=self.env, cwd=self.root,
            start_new_session=True)
        self.pid = self.proc.pid
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise ApacheError(
                    f"apache2 exited with {self.proc.returncode} during startup\n"
                    + self._diagnostics())
            # The parent writes its pid file after it bound its listener: only
            # then is an answer on the port known to be ours.
            if self.pidfile_pid() == self.pid and self._port_answers():
                break
            if time.monotonic() > deadline:
                raise ApacheError(
                    f"apache2 did not answer on port {self.port} within "
                    f"{timeout}s\n" + self._diagnostics())
            time.sleep(0.05)
        return self

    def _port_answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def _diagnostics(self) -> str:
        out = ""
        try:
            with open(os.path.join(self.root, "logs", "stdout.log"), "rb") as f:
                out += "--- apache2 stdout/stderr ---\n" + f.read().decode("latin-1")
        except OSError:
            pass
        out += "\n--- error.log ---\n" + self.error_log()
        return out

    def pidfile_pid(self):
        try:
            with open(os.path.join(self.root, "run", "httpd.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def processes(self) -> dict:
        """Live processes belonging to this instance: same process group as the
        parent, or a cmdline naming our ServerRoot.  {pid: cmdline}."""
        found = {}
        for pid, (ppid, pgid, cmd, state) in _proc_table().items():
            if state == "Z" and ppid == os.getpid():
                continue  # our own unreaped child; Popen.wait() reaps it
            if (self.pid and pgid == self.pid) or (self.root and self.root in cmd):
                found[pid] = cmd
        return found

    def children(self) -> list[int]:
        """PIDs of the parent's direct children (the MPM's worker processes)."""
        return sorted(pid for pid, (ppid, _pg, _c, state) in _proc_table().items()
                      if ppid == self.pid and state != "Z")

    def _signal(self, sig):
        if self.proc is None or self.proc.poll() is not None:
            raise ApacheError(f"apache2 is not running (signal {sig!r})\n"
                              + self._diagnostics())
        os.kill(self.pid, sig)

    def _count(self, needle: str) -> int:
        return self.error_log().count(needle)

    def _wait_generation(self, before: int, timeout: float):
        """Wait until the parent logs one more 'resuming normal operations'."""
        deadline = time.monotonic() + timeout
        while self._count("resuming normal operations") <= before:
            if self.proc.poll() is not None:
                raise ApacheError("apache2 exited during restart\n" + self._diagnostics())
            if time.monotonic() > deadline:
                raise ApacheError(f"no new generation within {timeout}s\n"
                                  + self._diagnostics())
            time.sleep(0.05)

    def graceful(self, timeout: float = 20.0):
        """SIGUSR1 to the parent; return when the new generation is running."""
        before = self._count("resuming normal operations")
        self._signal(signal.SIGUSR1)
        self._wait_generation(before, timeout)

    def restart(self, timeout: float = 20.0):
        """SIGHUP to the parent; return when the new generation is running."""
        before = self._count("resuming normal operations")
        self._signal(signal.SIGHUP)
        self._wait_generation(before, timeout)

    def stop(self, timeout: float = 20.0, sig=signal.SIGTERM) -> float:
        """SIGTERM (or ``sig``: SIGWINCH is a graceful stop) to the parent
        PID, wait, then make sure nothing of this instance is left.  Returns
        the seconds the stop took.  Raises ApacheError (after SIGKILLing
        them) if processes were left behind."""
        if self.stopped or self.proc is None:
            return 0.0
        self.stopped = True
        t0 = time.monotonic()
        problems = []
        pidfile = self.pidfile_pid()
        if pidfile is not None and pidfile != self.pid:
            problems.append(f"pid file names {pidfile}, we started {self.pid}")
        if self.proc.poll() is None:
            os.kill(self.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                problems.append(f"parent {self.pid} still running {timeout}s after "
                                f"{signal.Signals(sig).name}")
        elapsed = time.monotonic() - t0
        # Children are signalled by the parent and normally gone before it
        # exits; allow a short grace for the last exit to be visible.
        deadline = time.monotonic() + 2.0
        left = self.processes()
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = self.processes()
        if pidfile is not None and os.path.exists(f"/proc/{pidfile}"):
            left.setdefault(pidfile, "<pid file pid>")
        if left:
            problems.append(f"processes left after stop: {left}")
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self._stdout:
            self._stdout.close()
        if problems:
            raise ApacheError("; ".join(problems) + "\n" + self._diagnostics())
        return elapsed

    def cleanup(self):
        if self.root and not os.environ.get("WSGIRT_E2E_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------------- logs

    def error_log(self, since: int = 0) -> str:
        try:
            with open(os.path.join(self.root, "logs", "error.log"), "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    def log_mark(self) -> int:
        """Current size of the error log: pass to error_log(since=...)."""
        try:
            return os.path.getsize(os.path.join(self.root, "logs", "error.log"))
        except OSError:
            return 0

    def access_log(self) -> list[str]:
        try:
            with open(os.path.join(self.root, "logs", "access.log"), "rb") as f:
                return f.read().decode("latin-1").splitlines()
        except OSError:
            return []

    def wait_log(self, pattern: str, since: int = 0, timeout: float = 10.0,
                 count: int = 1) -> str:
        """Wait until regex ``pattern`` (re.M) matches ``count`` times in the error log
        after ``since``; return that part of the log."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            text = self.error_log(since)
            if len(rx.findall(text)) >= count:
                return text
            if time.monotonic() > deadline:
                raise ApacheError(
                    f"error log has no {count}x {pattern!r} within {timeout}s; "
                    f"log since mark:\n{text}")
            time.sleep(0.05)

    def settle_log(self, since: int, quiet: float = 0.3, timeout: float = 5.0) -> str:
        """Wait until the error log stops growing for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        size = self.log_mark()
        last_change = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = self.log_mark()
            if now != size:
                size, last_change = now, time.monotonic()
            elif time.monotonic() - last_change >= quiet:
                break
        return self.error_log(since)

    def wait_access(self, needle: str, timeout: float = 10.0) -> str:
        """Wait for (and return) the last access-log line containing needle."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [l for l in self.access_log() if needle in l]
            if lines:
                return lines[-1]
            if time.monotonic() > deadline:
                raise ApacheError(f"no access-log line with {needle!r}:\n"
                                  + "\n".join(self.access_log()[-20:]))
            time.sleep(0.05)

    # ------------------------------------------------------------------- HTTP

    def connection(self, timeout: float = 30.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method: str, path: str, body=None, headers=None,
                timeout: float = 30.0) -> Response:
        conn = self.connection(timeout)
        try:
            hdrs = dict(headers or {})
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            try:
                data, complete = r.read(), True
            except http.client.IncompleteRead as e:
                data, complete = e.partial, False
            return Response(r.status, r.headers, data, r.reason, complete)
        finally:
            conn.close()

    def get(self, path: str, headers=None, **kw) -> Response:
        return self.request("GET", path, headers=headers, **kw)

    def post(self, path: str, body, headers=None, **kw) -> Response:
        return self.request("POST", path, body=body, headers=headers, **kw)

    def head(self, path: str, headers=None, **kw) -> Response:
        return self.request("HEAD", path, headers=headers, **kw)

    # ------------------------------------------------------------- raw socket

    def socket(self, timeout: float = 30.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def raw(self, data: bytes, timeout: float = 30.0) -> bytes:
        """Send raw bytes, read until the server closes; return all bytes.
        Send ``Connection: close`` in the request to get a prompt close."""
        with self.socket(timeout) as s:
            s.sendall(data)
            return read_all(s)

    def raw_request(self, data: bytes, timeout: float = 30.0) -> Response:
        return parse_raw_response(self.raw(data, timeout))

    def post_after_continue(self, path: str, body: bytes, timeout: float = 10.0):
        """POST with ``Expect: 100-continue``: sends the head, waits for the
        interim response, then sends ``body``. Returns (the interim response,
        seconds it took to come, the rest until the server closed)."""
        with self.socket(timeout) as s:
            t0 = time.monotonic()
            s.sendall(f"POST {path} HTTP/1.1\r\nHost: e2e\r\n"
                      f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n"
                      "Connection: close\r\n\r\n".encode())
            interim = read_until(s, b"\r\n\r\n")
            waited = time.monotonic() - t0
            s.sendall(body)
            return interim, waited, read_all(s)


def read_all(s: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


def read_at_least(s: socket.socket, n: int) -> bytes:
    """Read from s until n bytes have arrived (or the peer closed)."""
    buf = b""
    while len(buf) < n:
        b = s.recv(65536)
        if not b:
            break
        buf += b
    return buf


def read_until(s: socket.socket, marker: bytes, limit: int = 1 << 20) -> bytes:
    """Read from s until ``marker`` has been seen; return everything read."""
    buf = b""
    while marker not in buf:
        b = s.recv(65536)
        if not b:
            break
        buf += b
        if len(buf) > limit:
            break
    return buf
