//! `--https-port` and the `--ssl-*` options for real: Apache with mod_ssl on
//! two loopback ports, certificates made by `openssl` at test time, HTTPS
//! requests made by the Python the module is built for (its `ssl` module
//! pins the generated certificate and answers mod_ssl's request for a
//! client certificate after the handshake, as TLS 1.3 needs for
//! `SSLVerifyClient` in a `<Location>`).

#[macro_use]
mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{Scratch, Server, DEBIAN_MOD_WSGI};

/// What mod_ssl and the module tell the application about the connection.
const TLS_APP: &str = "\
def application(environ, start_response):
    body = ''.join('%s=%s\\n' % (key, environ.get(key)) for key in (
        'wsgi.url_scheme', 'SSL_PROTOCOL', 'SSL_CLIENT_S_DN', 'PATH_INFO'))
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body.encode()]
";

/// One HTTPS GET to 127.0.0.1:PORT with NAME as SNI and `Host`, trusting
/// only CA-FILE, optionally with a client certificate and key. Prints the
/// status, the headers and the body, or `tls-error ...`.
const CLIENT: &str = "\
import http.client, socket, ssl, sys
port, name, path, cafile = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
ctx.post_handshake_auth = True
if len(sys.argv) > 5:
    ctx.load_cert_chain(sys.argv[5], sys.argv[6])
try:
    raw = socket.create_connection(('127.0.0.1', int(port)), timeout=20)
    conn = http.client.HTTPConnection(name, int(port))
    conn.sock = ctx.wrap_socket(raw, server_hostname=name)
    conn.request('GET', path)
    r = conn.getresponse()
    print(r.status)
    for k, v in r.getheaders():
        print('%s: %s' % (k, v))
    print()
    sys.stdout.write(r.read().decode())
except (ssl.SSLError, ConnectionError) as e:
    print('tls-error %s' % e)
";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        common::text(&out.stderr)
    );
}

/// `certs/server.{crt,key}` (self-signed, for localhost), `certs/ca.crt`
/// and `certs/client.{crt,key}` (CN=alice, signed by that CA).
fn make_certificates(s: &Scratch) {
    let dir = s.join("certs");
    fs::create_dir_all(&dir).unwrap();
    let days = ["-days", "2"];
    let new_key = ["-newkey", "rsa:2048", "-nodes"];
    openssl(
        &dir,
        &[
            &["req", "-x509"][..],
            &new_key,
            &days,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.crt",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat(),
    );
    openssl(
        &dir,
        &[
            &["req", "-x509"][..],
            &new_key,
            &days,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-subj",
                "/CN=Test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        &dir,
        &[
            &["req"][..],
            &new_key,
            &[
                "-keyout",
                "client.key",
                "-out",
                "client.csr",
                "-subj",
                "/CN=alice",
            ],
        ]
        .concat(),
    );
    openssl(
        &dir,
        &[
            &[
                "x509",
                "-req",
                "-in",
                "client.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
            ][..],
            &["-CAcreateserial", "-out", "client.crt"],
            &days,
        ]
        .concat(),
    );
    // Apache's parent reads the key; as root it then serves as www-data,
    // which needs none of these.
    for f in fs::read_dir(&dir).unwrap() {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(f.unwrap().path(), fs::Permissions::from_mode(0o644)).unwrap();
    }
}

struct Reply {
    status: u16,
    text: String,
}

fn https_get(s: &Scratch, port: u16, name: &str, path: &str, client_cert: bool) -> Reply {
    let certs = s.join("certs");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg("-I")
        .arg("-c")
        .arg(CLIENT)
        .arg(port.to_string())
        .arg(name)
        .arg(path)
        .arg(certs.join("server.crt"));
    if client_cert {
        cmd.arg(certs.join("client.crt"))
            .arg(certs.join("client.key"));
    }
    let out = cmd.output().expect("run the HTTPS client");
    let text = common::text(&out.stdout);
    assert!(
        out.status.success(),
        "client: {text}{}",
        common::text(&out.stderr)
    );
    let status = text
        .lines()
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    Reply { status, text }
}

/// HTTPS on its own port next to HTTP, without `--server-name`: the site
/// on both (`wsgi.url_scheme` tells them apart), mod_ssl's variables with
/// `--ssl-environment`, and a client certificate required only under the
/// `--ssl-verify-client` URL (and that URL refused over plain HTTP).
fn https_with(module: &str) {
    let s = Scratch::new("https");
    make_certificates(&s);
    s.write("tls.wsgi", TLS_APP);
    let https_port = common::free_port();
    let https = https_port.to_string();
    let mut server = Server::start(
        &s,
        &[
            "tls.wsgi",
            "--https-port",
            &https,
            "--ssl-certificate",
            "certs/server",
            "--ssl-ca-certificate-file",
            "certs/ca.crt",
            "--ssl-verify-client",
            "/secure",
            "--ssl-environment",
            "--module-path",
            module,
        ],
        &[],
    );
    let stdout = fs::read_to_string(&server.stdout).unwrap();
    assert!(
        stdout.contains(&format!(
            "Server URL (HTTPS) : https://127.0.0.1:{https_port}/\n"
        )),
        "{stdout}"
    );
    let r = https_get(&s, https_port, "localhost", "/page", false);
    assert_eq!(r.status, 200, "{}\n{}", r.text, server.diagnostics());
    assert!(r.text.contains("wsgi.url_scheme=https\n"), "{}", r.text);
    assert!(r.text.contains("SSL_PROTOCOL=TLSv1."), "{}", r.text);
    assert!(r.text.contains("SSL_CLIENT_S_DN=None\n"), "{}", r.text);
    let r = server.get("/page");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("wsgi.url_scheme=http\n"), "{}", r.body);
    assert!(r.body.contains("SSL_PROTOCOL=None\n"), "{}", r.body);

    // /secure needs a certificate from the CA.
    let r = https_get(&s, https_port, "localhost", "/secure/x", false);
    assert!(
        r.text.starts_with("tls-error") || r.status == 403,
        "no client certificate: {}",
        r.text
    );
    let r = https_get(&s, https_port, "localhost", "/secure/x", true);
    assert_eq!(r.status, 200, "{}\n{}", r.text, server.diagnostics());
    assert!(r.text.contains("SSL_CLIENT_S_DN=CN=alice\n"), "{}", r.text);
    assert!(r.text.contains("PATH_INFO=/secure/x\n"), "{}", r.text);
    assert_eq!(server.get("/secure/x").status, 403, "plain HTTP is refused");
    let status = server.stop();
    assert!(status.success(), "{status}");
}

both_modules!(
    https_with_mod_wsgi,
    https_with_the_wsgirt_module,
    https_with
);

/// `--https-only` and `--hsts-policy` with `--server-name`, as 4.9.4's
/// virtual hosts: plain HTTP for the name is redirected to the same URL
/// over HTTPS, HTTPS serves the name with the HSTS header, and other names
/// get 403 on the HTTPS port too.
#[test]
fn https_only_redirects_to_the_named_host() {
    let s = Scratch::new("https-only");
    make_certificates(&s);
    s.write("tls.wsgi", TLS_APP);
    let https_port = common::free_port();
    let https = https_port.to_string();
    let mut server = Server::start(
        &s,
        &[
            "tls.wsgi",
            "--server-name",
            "app.example.test",
            "--https-port",
            &https,
            "--ssl-certificate-file",
            "certs/server.crt",
            "--ssl-certificate-key-file",
            "certs/server.key",
            "--https-only",
            "--hsts-policy",
            "max-age=60; includeSubDomains",
            "--module-path",
            DEBIAN_MOD_WSGI,
        ],
        &[],
    );
    let reply = raw_get(server.port, "app.example.test", "/page?q=1");
    assert!(reply.starts_with("HTTP/1.1 302 "), "{reply}");
    assert!(
        reply.contains(&format!(
            "Location: https://app.example.test:{https_port}/page?q=1\r\n"
        )),
        "{reply}"
    );
    let r = https_get(&s, https_port, "app.example.test", "/page", false);
    assert_eq!(r.status, 200, "{}\n{}", r.text, server.diagnostics());
    assert!(r.text.contains("wsgi.url_scheme=https\n"), "{}", r.text);
    assert!(
        r.text
            .contains("Strict-Transport-Security: max-age=60; includeSubDomains\n"),
        "{}",
        r.text
    );
    // No --ssl-environment: no mod_ssl variables.
    assert!(r.text.contains("SSL_PROTOCOL=None\n"), "{}", r.text);
    let r = https_get(&s, https_port, "other.test", "/page", false);
    assert_eq!(r.status, 403, "{}", r.text);
    let status = server.stop();
    assert!(status.success(), "{status}");
}

/// A plain HTTP/1.1 GET with only the given `Host`; the whole reply.
fn raw_get(port: u16, host: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    common::text(&reply)
}
