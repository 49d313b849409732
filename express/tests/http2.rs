//! `--http2`: mod_http2 with `Protocols h2 h2c http/1.1`, served for real
//! and spoken to with curl over cleartext HTTP/2 (h2c), both with prior
//! knowledge and through the HTTP/1.1 `Upgrade`, with Debian's mod_wsgi and
//! with our module (the request reaches the application through
//! mod_http2's own connection handling, so the module matters).

#[macro_use]
mod common;

use std::process::Command;

use common::{Scratch, Server};

/// Reports the protocol Apache saw and echoes the request body's length.
const PROTOCOL_APP: &str = "\
def application(environ, start_response):
    length = int(environ.get('CONTENT_LENGTH') or 0)
    data = environ['wsgi.input'].read(length) if length else b''
    body = ('protocol=%s\\nscheme=%s\\nbody=%d\\n' % (
        environ['SERVER_PROTOCOL'], environ['wsgi.url_scheme'],
        len(data))).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
";

/// `curl ARGS URL` with a bounded duration; returns the body and the HTTP
/// version curl used (`%{http_version}`: `2`, `1.1`...).
fn curl(args: &[&str], url: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--noproxy", "*"])
        .args(args)
        .args(["-w", "\n--version=%{http_version}"])
        .arg(url)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "curl {args:?} {url} failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (body, version) = text.rsplit_once("\n--version=").expect("curl -w output");
    (body.to_string(), version.trim().to_string())
}

fn http2_with(module: &str) {
    let s = Scratch::new("http2");
    s.write("proto.wsgi", PROTOCOL_APP);
    let mut server = Server::start(&s, &["proto.wsgi", "--http2", "--module-path", module], &[]);
    let url = format!("http://127.0.0.1:{}/", server.port);

    // Prior knowledge: HTTP/2 from the first byte.
    let (body, version) = curl(&["--http2-prior-knowledge"], &url);
    assert_eq!(version, "2", "{body}\n{}", server.diagnostics());
    assert!(body.contains("protocol=HTTP/2.0\n"), "{body}");
    assert!(body.contains("scheme=http\n"), "{body}");

    // A request body over HTTP/2 reaches the application whole.
    let data = "x".repeat(100_000);
    let (body, version) = curl(&["--http2-prior-knowledge", "--data-binary", &data], &url);
    assert_eq!(version, "2");
    assert!(body.contains("body=100000\n"), "{body}");

    // HTTP/1.1 with Upgrade: h2c is switched to HTTP/2 too.
    let (body, version) = curl(&["--http2"], &url);
    assert_eq!(version, "2", "{body}");
    assert!(body.contains("protocol=HTTP/2.0\n"), "{body}");

    // Plain HTTP/1.1 clients are still served.
    let (body, version) = curl(&["--http1.1"], &url);
    assert_eq!(version, "1.1");
    assert!(body.contains("protocol=HTTP/1.1\n"), "{body}");

    let conf = std::fs::read_to_string(server.root.join("httpd.conf")).unwrap();
    assert!(conf.contains("\nProtocols h2 h2c http/1.1\n"), "{conf}");
    assert!(server.stop().success());

    // Without --http2 the upgrade is declined: HTTP/1.1 it stays.
    let mut server = Server::start(&s, &["proto.wsgi", "--module-path", module], &[]);
    let url = format!("http://127.0.0.1:{}/", server.port);
    let (body, version) = curl(&["--http2"], &url);
    assert_eq!(version, "1.1", "{body}");
    assert!(body.contains("protocol=HTTP/1.1\n"), "{body}");
    assert!(server.stop().success());
}

both_modules!(
    http2_with_mod_wsgi,
    http2_with_the_wsgirt_module,
    http2_with
);
