#!/usr/bin/python3
"""End-to-end tests of unit_host over real HTTP on 127.0.0.1.

Each run starts the host binary with one application from c-examples/apps
on a port the kernel picks (PORT 0; the host prints the one it got), makes
real requests with http.client, raw sockets or curl, then stops the host
with SIGTERM by PID and checks that it exited cleanly (status 0).

    http_test.py --host BUILD/unit_host --apps c-examples/apps CASE [CASE ...]
    http_test.py --list

Standard library only; run it with /usr/bin/python3.
"""

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def equal(actual, expected, what):
    check(actual == expected, '%s: expected %r, got %r' % (what, expected, actual))


class Host:
    """A running unit_host process and everything it wrote to stderr."""

    def __init__(self, binary, app, threads=4):
        self.app = app
        self.proc = subprocess.Popen(
            [binary, app, '0', str(threads)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.lines = []
        self._lock = threading.Lock()
        self._listening = threading.Event()
        self.port = None
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        if not self._listening.wait(START_TIMEOUT) or self.port is None:
            self.proc.kill()
            self.proc.wait()
            self._reader.join(5)
            raise Failure('unit_host did not start listening; its log:\n' + self.log())

    def _read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode('utf-8', 'replace').rstrip('\n')
            with self._lock:
                self.lines.append(line)
            m = re.search(r'listening on http://127\.0\.0\.1:(\d+)/', line)
            if m:
                self.port = int(m.group(1))
                self._listening.set()
        self._listening.set()  # the process ended: stop waiting

    def log(self):
        with self._lock:
            return '\n'.join(self.lines)

    def wait_for_log(self, pattern, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.log()):
                return
            time.sleep(0.05)
        raise Failure('no log line matches %r; log:\n%s' % (pattern, self.log()))

    def connection(self, timeout=10.0):
        return http.client.HTTPConnection('127.0.0.1', self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None):
        """One request on a fresh connection: (response, body bytes)."""
        conn = self.connection()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp, resp.read()
        finally:
            conn.close()

    def raw(self, data, timeout=10.0):
        """Sends raw bytes, returns everything until the server closes."""
        with socket.create_connection(('127.0.0.1', self.port), timeout=timeout) as s:
            s.sendall(data)
            chunks = []
            while True:
                block = s.recv(65536)
                if not block:
                    return b''.join(chunks)
                chunks.append(block)

    def stop(self):
        """SIGTERM by PID; the host must exit 0 after a clean shutdown."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            code = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Failure('unit_host did not stop within %ds of SIGTERM' % STOP_TIMEOUT)
        self._reader.join(5)
        equal(code, 0, 'unit_host exit status')
        check('unit_host: stopped' in self.log(), 'no "unit_host: stopped" line')


# --- Cases -------------------------------------------------------------------
# Each case names the application it runs and takes the started Host.

CASES = {}


def case(app):
    def register(fn):
        CASES[fn.__name__] = (app, fn)
        return fn
    return register


@case('hello.wsgi')
def hello(host):
    resp, body = host.request('GET', '/')
    equal(resp.status, 200, 'status')
    equal(body, b'Hello world!\n', 'body')
    equal(resp.getheader('Content-Type'), 'text/plain', 'Content-Type')
    equal(resp.getheader('Content-Length'), '13', 'Content-Length')
    check(resp.getheader('Date'), 'no Date header')
    # HEAD: the same headers, no body.
    resp, body = host.request('HEAD', '/')
    equal(resp.status, 200, 'HEAD status')
    equal(resp.getheader('Content-Length'), '13', 'HEAD Content-Length')
    equal(body, b'', 'HEAD body')
    host.wait_for_log(r'\[info\] .*\[client 127\.0\.0\.1:\d+\] "GET / HTTP/1\.1" 200 13')


@case('echo.wsgi')
def post_echo(host):
    payload = bytes(range(256)) * 4 + b'end'
    resp, body = host.request('POST', '/echo', body=payload,
                              headers={'Content-Type': 'application/x-test'})
    equal(resp.status, 200, 'status')
    equal(body, payload, 'echoed body')
    equal(resp.getheader('Content-Type'), 'application/x-test', 'Content-Type')
    # An empty body.
    resp, body = host.request('POST', '/echo', body=b'')
    equal((resp.status, body), (200, b''), 'empty POST')
    # GET: the application's own 405.
    resp, body = host.request('GET', '/echo')
    equal((resp.status, body), (405, b'POST only\n'), 'GET on the echo app')


@case('echo.wsgi')
def post_echo_curl(host):
    """A 1 MiB POST with curl, which sends Expect: 100-continue first."""
    curl = shutil.which('curl')
    if curl is None:
        raise Failure('curl is not installed')
    payload = os.urandom(1 << 20)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, 'in.bin')
        with open(src, 'wb') as f:
            f.write(payload)
        out = subprocess.run(
            [curl, '-sS', '--fail', '--max-time', '20', '--data-binary', '@' + src,
             '-H', 'Content-Type: application/octet-stream',
             '-w', '\\n%{http_code} %{size_download}',
             'http://127.0.0.1:%d/echo' % host.port],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    check(out.returncode == 0, 'curl failed: %s' % out.stderr.decode(errors='replace'))
    body, _, trailer = out.stdout.rpartition(b'\n')
    equal(trailer, b'200 %d' % len(payload), 'curl status and size')
    check(body == payload, 'curl: echoed body differs')


@case('readzero.wsgi')
def expect_continue_on_read_zero(host):
    """A first read(0) reaches the host, which answers Expect: 100-continue
    then, not only when the application reads bytes (1.5 s later)."""
    with socket.create_connection(('127.0.0.1', host.port), timeout=10) as s:
        start = time.monotonic()
        s.sendall(b'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n'
                  b'Expect: 100-continue\r\nConnection: close\r\n\r\n')
        interim = b''
        while not interim.endswith(b'\r\n\r\n'):
            block = s.recv(1)
            if not block:
                break
            interim += block
        waited = time.monotonic() - start
        equal(interim, b'HTTP/1.1 100 Continue\r\n\r\n', 'interim response')
        check(waited < 1.0, '100 Continue came %.2f s after the request' % waited)
        s.sendall(b'hello')
        data = b''
        while True:
            block = s.recv(65536)
            if not block:
                break
            data += block
    check(data.startswith(b'HTTP/1.1 200 '), 'final response: %r' % data[:40])
    check(b'\r\n0:hello\r\n' in data, 'body: %r' % data[-40:])


@case('error.wsgi')
def app_error(host):
    conn = host.connection()
    try:
        for attempt in (1, 2):  # the connection stays usable after a 500
            conn.request('GET', '/boom')
            resp = conn.getresponse()
            body = resp.read()
            equal(resp.status, 500, 'status (request %d)' % attempt)
            equal(body, b'500 Internal Server Error\n', 'body (request %d)' % attempt)
    finally:
        conn.close()
    # The traceback reached the log callback, tagged with the request's client.
    host.wait_for_log(r'RuntimeError: unit_host test: deliberate failure')
    host.wait_for_log(r'\[error\] \[pid \d+\] \[client 127\.0\.0\.1:\d+\] ')


@case('hello.wsgi')
def keep_alive(host):
    conn = host.connection()
    try:
        conn.request('GET', '/')
        resp = conn.getresponse()
        first = resp.read()
        sock = conn.sock
        conn.request('GET', '/')
        resp = conn.getresponse()
        second = resp.read()
        equal((first, second), (b'Hello world!\n',) * 2, 'bodies')
        check(conn.sock is sock, 'the second request used a new connection')
    finally:
        conn.close()
    # Two pipelined requests in one send; the second asks to close.
    data = host.raw(b'GET /a HTTP/1.1\r\nHost: x\r\n\r\n'
                    b'GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    equal(data.count(b'HTTP/1.1 200 OK\r\n'), 2, 'pipelined responses')
    equal(data.count(b'Hello world!\n'), 2, 'pipelined bodies')
    check(b'Connection: close\r\n' in data, 'no Connection: close on the last response')
    # HTTP/1.0: one response, then the server closes.
    data = host.raw(b'GET / HTTP/1.0\r\n\r\n')
    check(data.startswith(b'HTTP/1.1 200 OK\r\n'), 'HTTP/1.0 response: %r' % data[:40])
    check(data.endswith(b'\r\n\r\nHello world!\n'), 'HTTP/1.0 body: %r' % data[-40:])


@case('stream.wsgi')
def chunked(host):
    resp, body = host.request('GET', '/')
    equal(resp.status, 200, 'status')
    equal(resp.getheader('Transfer-Encoding'), 'chunked', 'Transfer-Encoding')
    equal(resp.getheader('Content-Length'), None, 'Content-Length')
    equal(body, b''.join(b'block %d\n' % i for i in range(5)) + b'end\n', 'body')
    # Raw framing: one chunk per block, the empty block skipped, a final chunk.
    data = host.raw(b'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    _, _, payload = data.partition(b'\r\n\r\n')
    equal(payload, b''.join(b'8\r\nblock %d\n\r\n' % i for i in range(5))
          + b'4\r\nend\n\r\n0\r\n\r\n', 'chunked framing')


@case('stream.wsgi')
def chunked_failure(host):
    """The application raises after its first block: no final chunk, closed."""
    data = host.raw(b'GET /fail HTTP/1.1\r\nHost: x\r\n\r\n')
    check(data.startswith(b'HTTP/1.1 200 OK\r\n'), 'status line: %r' % data[:40])
    _, _, payload = data.partition(b'\r\n\r\n')
    equal(payload, b'8\r\nblock 0\n\r\n', 'truncated body (server must close)')
    host.wait_for_log(r'RuntimeError: unit_host test: failure mid-body')


@case('environ.wsgi')
def environ(host):
    conn = host.connection()
    try:
        conn.putrequest('POST', '/a%20b/c%2Fd?x=1&y=%20', skip_accept_encoding=True)
        for name, value in [('Content-Type', 'text/x-test'), ('Content-Length', '5'),
                            ('X-Test', 'one'), ('X-Test', 'two'), ('X_Spoof', 'no'),
                            ('Cookie', 'a=1'), ('Cookie', 'b=2'), ('X-Latin', 'caf\xe9')]:
            conn.putheader(name, value.encode('latin-1'))
        conn.endheaders(b'hello')
        resp = conn.getresponse()
        text = resp.read().decode('utf-8')
    finally:
        conn.close()
    equal(resp.status, 200, 'status')
    env = dict(line.split('=', 1) for line in text.splitlines())
    expected = {
        'REQUEST_METHOD': 'POST', 'SCRIPT_NAME': '', 'PATH_INFO': '/a b/c/d',
        'QUERY_STRING': 'x=1&y=%20', 'REQUEST_URI': '/a%20b/c%2Fd?x=1&y=%20',
        'SERVER_PROTOCOL': 'HTTP/1.1', 'SERVER_NAME': '127.0.0.1',
        'SERVER_PORT': str(host.port), 'REMOTE_ADDR': '127.0.0.1',
        'CONTENT_TYPE': 'text/x-test', 'CONTENT_LENGTH': '5',
        'HTTP_HOST': '127.0.0.1:%d' % host.port, 'HTTP_X_TEST': 'one, two',
        'HTTP_COOKIE': 'a=1; b=2', 'HTTP_X_LATIN': 'caf\xe9',
        'GATEWAY_INTERFACE': 'CGI/1.1', 'SCRIPT_FILENAME': host.app,
        'wsgi.url_scheme': 'http', 'body': '5',
    }
    for key, value in expected.items():
        equal(env.get(key), value, key)
    for key in ('HTTP_X_SPOOF', 'HTTP_CONTENT_TYPE', 'HTTP_CONTENT_LENGTH'):
        check(key not in env, '%s must not be in the environ' % key)
    check(env.get('REMOTE_PORT', '').isdigit(), 'REMOTE_PORT')


@case('threads.wsgi')
def concurrency(host):
    """Four 0.5 s requests at once overlap on different worker threads."""
    results, errors = [], []

    def one():
        try:
            resp, body = host.request('GET', '/')
            results.append((resp.status, body))
        except Exception as e:  # reported below
            errors.append(e)

    start = time.monotonic()
    workers = [threading.Thread(target=one) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    elapsed = time.monotonic() - start
    check(not errors, 'requests failed: %r' % errors)
    equal([status for status, _ in results], [200] * 4, 'statuses')
    idents = {body for _, body in results}
    check(len(idents) >= 2, 'all requests ran on one thread: %r' % idents)
    check(elapsed < 1.9, 'requests did not overlap (%.2f s for 4 x 0.5 s)' % elapsed)


@case('threading_lazy.wsgi')
def shutdown_after_lazy_threading(host):
    """`import threading` first happens on a worker thread; stop() then
    checks that the host still exits cleanly."""
    resp, _ = host.request('GET', '/')
    equal(resp.status, 200, 'status')


@case('hello.wsgi')
def bad_requests(host):
    for raw, status in [(b'NONSENSE\r\n\r\n', b'400'),
                        (b'GET / HTTP/2.0\r\n\r\n', b'505'),
                        (b'GET / HTTP/1.1\r\nBad Header\r\n\r\n', b'400'),
                        (b'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
                         b'501'),
                        (b'GET /%zz HTTP/1.1\r\n\r\n', b'400'),
                        (b'GET / HTTP/1.1\r\nX: ' + b'a' * 20000 + b'\r\n\r\n', b'431')]:
        data = host.raw(raw)
        check(data.startswith(b'HTTP/1.1 ' + status + b' '),
              '%r...: expected %s, got %r' % (raw[:30], status.decode(), data[:40]))
    # The host still serves.
    resp, body = host.request('GET', '/')
    equal((resp.status, body), (200, b'Hello world!\n'), 'after bad requests')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--host', help='unit_host binary')
    parser.add_argument('--apps', help='directory of the test applications')
    parser.add_argument('--list', action='store_true', help='list the cases')
    parser.add_argument('cases', nargs='*')
    args = parser.parse_args()
    if args.list:
        print('\n'.join(CASES))
        return 0
    if not args.host or not args.apps or not args.cases:
        parser.error('--host, --apps and at least one CASE are required')
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error('unknown case(s): %s' % ', '.join(unknown))

    failed = 0
    for name in args.cases:
        app, fn = CASES[name]
        host = None
        try:
            host = Host(os.path.abspath(args.host), os.path.abspath(os.path.join(args.apps, app)))
            try:
                fn(host)
            finally:
                host.stop()
            print('ok   %s (port %d)' % (name, host.port))
        except Exception as e:
            failed += 1
            print('FAIL %s: %s: %s' % (name, type(e).__name__, e))
            if host is not None:
                print('--- unit_host log ---\n%s\n---' % host.log())
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
