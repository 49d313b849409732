//! `--proxy-mount-point`, `--proxy-url-alias` and `--proxy-virtual-host`:
//! requests passed on by mod_proxy_http to a second HTTP server on
//! loopback (a small Python `http.server` started by the test and stopped
//! by its PID), next to the application, with Debian's mod_wsgi and with
//! our module (mod_proxy must translate the URL before the module's
//! `WSGIScriptAlias /` does).

#[macro_use]
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{free_port, send_signal, wait_until, Scratch, Server, HELLO_APP, SIGKILL, SIGTERM};

/// The backend: answers every GET with the path it got and the forwarding
/// headers, and `/redirect` with a 302 to an absolute URL on itself.
const BACKEND: &str = "\
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == '/redirect' or self.path.endswith('/redirect'):
            self.send_response(302)
            self.send_header('Location', 'http://127.0.0.1:%d/target' %
                             self.server.server_port)
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        lines = ['backend-path=%s' % self.path]
        for name in ('X-Forwarded-Port', 'X-Forwarded-Host',
                     'X-Forwarded-Scheme', 'X-Forwarded-For'):
            lines.append('%s=%s' % (name, self.headers.get(name, '')))
        body = ('\\n'.join(lines) + '\\n').encode('utf-8')
        self.send_response(200)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


HTTPServer(('127.0.0.1', int(sys.argv[1])), Handler).serve_forever()
";

/// The backend process; dropping it stops it by its PID.
struct Backend {
    child: Child,
    port: u16,
}

impl Backend {
    fn start(s: &Scratch) -> Backend {
        let script = s.write("backend.py", BACKEND);
        let port = free_port();
        let child = Command::new("/usr/bin/python3")
            .arg(&script)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the backend");
        let backend = Backend { child, port };
        assert!(
            wait_until(Duration::from_secs(15), || TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()),
            "backend did not listen on {port}"
        );
        backend
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        send_signal(self.child.id(), SIGTERM);
        let child = &mut self.child;
        if !wait_until(Duration::from_secs(5), || {
            matches!(child.try_wait(), Ok(Some(_)))
        }) {
            send_signal(child.id(), SIGKILL);
            let _ = child.wait();
        }
    }
}

/// `GET PATH` with `Host: HOST` (HTTP/1.0, read to the end): the status
/// and the whole reply.
fn get_host(port: u16, host: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, reply)
}

fn field(body: &str, key: &str) -> String {
    let prefix = format!("{key}=");
    body.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {key} in\n{body}"))
        .to_string()
}

fn proxies_with(module: &str) {
    let s = Scratch::new("proxy");
    s.write("hello.wsgi", HELLO_APP);
    let backend = Backend::start(&s);
    let target = format!("http://127.0.0.1:{}", backend.port);
    let sub_target = format!("http://127.0.0.1:{}/sub/", backend.port);
    let mut server = Server::start(
        &s,
        &[
            "hello.wsgi",
            "--proxy-mount-point",
            "/backend",
            &target,
            "--proxy-url-alias",
            "/other/",
            &sub_target,
            "--proxy-virtual-host",
            "proxied.test",
            &target,
            "--module-path",
            module,
        ],
        &[],
    );
    let port = server.port.to_string();

    // The application keeps everything else.
    let r = server.get("/");
    assert_eq!(r.status, 200, "{}", server.diagnostics());
    assert_eq!(r.body, "Hello World!");
    assert_eq!(server.get("/backendish").body, "Hello World!");

    // Under the mount point: the backend, with the rest of the path and
    // the query string, and the forwarding headers.
    let r = server.get("/backend/a/b?q=1");
    assert_eq!(r.status, 200, "{}", server.diagnostics());
    assert_eq!(field(&r.body, "backend-path"), "/a/b?q=1");
    assert_eq!(field(&r.body, "X-Forwarded-Port"), port);
    assert_eq!(
        field(&r.body, "X-Forwarded-Host"),
        format!("127.0.0.1:{port}")
    );
    assert_eq!(field(&r.body, "X-Forwarded-For"), "127.0.0.1");
    assert_eq!(field(&r.body, "X-Forwarded-Scheme"), "", "not over HTTPS");
    assert_eq!(field(&server.get("/backend/").body, "backend-path"), "/");

    // The mount point itself is redirected to its slashed form.
    let r = server.get("/backend?x=y");
    assert_eq!(r.status, 302, "{r:?}");
    let location = r.header("Location").unwrap();
    assert!(
        location.ends_with(&format!("127.0.0.1:{port}/backend/?x=y")),
        "{location}"
    );

    // The backend's own redirects are mapped back under the mount point.
    let r = server.get("/backend/redirect");
    assert_eq!(r.status, 302, "{r:?}");
    let location = r.header("Location").unwrap();
    assert!(location.ends_with("/backend/target"), "{location}");

    // --proxy-url-alias with a slash: the prefix maps onto the URL's path.
    let r = server.get("/other/c");
    assert_eq!(r.status, 200, "{}", server.diagnostics());
    assert_eq!(field(&r.body, "backend-path"), "/sub/c");

    // --proxy-virtual-host: that name goes to the backend, whole; other
    // names still get the site.
    let (status, reply) = get_host(server.port, "proxied.test", "/x?y=z");
    assert_eq!(status, 200, "{reply}\n{}", server.diagnostics());
    assert_eq!(field(&reply, "backend-path"), "/x?y=z");
    assert_eq!(field(&reply, "X-Forwarded-Port"), port);
    assert_eq!(field(&reply, "X-Forwarded-Host"), "proxied.test");
    let (status, reply) = get_host(server.port, "localhost", "/x");
    assert_eq!(status, 200, "{reply}");
    assert!(reply.ends_with("\r\n\r\nHello World!"), "{reply}");

    assert!(server.stop().success());
    drop(backend);
}

both_modules!(
    proxies_with_mod_wsgi,
    proxies_with_the_wsgirt_module,
    proxies_with
);
