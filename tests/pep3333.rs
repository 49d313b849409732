//! PEP 3333 behaviour through the C API: `write()`, generator and list
//! responses and their flushes, Content-Length clipping, `wsgi.input`,
//! the environ and `wsgi.file_wrapper`.

mod common;
use common::*;

fn pep(mode: &str) -> (Response, wsgirt::capi::request::wsgirt_request_result) {
    let req = Req::new("pep3333.wsgi").query(mode);
    let mut host = Host::new(Vec::new());
    let (status, result) = run(&req, &mut host);
    assert_eq!(status, WSGIRT_STATUS_OK, "{mode}: {}", log_text(req.ctx));
    assert_no_traceback(req.ctx);
    (host.response, result.unwrap())
}

#[test]
fn write_callable() {
    let (r, result) = pep("write");
    assert_eq!(r.body, b"abcd");
    assert_eq!(r.start_calls, 1);
    // write() blocks reach the client at once; the list item is not flushed.
    assert_eq!(r.writes, vec![(1, true), (2, true), (1, false)]);
    assert_eq!(result.bytes_written, 4);
    assert_eq!(result.http_status, 200);
}

#[test]
fn generator_blocks_are_flushed_one_by_one() {
    let (r, _) = pep("generator");
    assert_eq!(r.body, b"onetwothree");
    // The empty block is skipped; every other block is its own flushed write.
    assert_eq!(r.writes, vec![(3, true), (3, true), (5, true)]);
}

#[test]
fn list_and_tuple_responses_do_not_flush() {
    let (r, result) = pep("list");
    assert_eq!(r.body, b"abc");
    assert_eq!(r.flushes(), 0, "{:?}", r.writes);
    assert_eq!(result.bytes_written, 3);
    let (r, _) = pep("tuple");
    assert_eq!(r.body, b"xy");
    assert_eq!(r.flushes(), 0, "{:?}", r.writes);
}

#[test]
fn output_past_content_length_is_dropped() {
    for mode in ["cl_list", "cl_generator", "cl_write"] {
        let (r, result) = pep(mode);
        assert_eq!(r.body, b"01234", "{mode}");
        assert_eq!(result.bytes_written, 5, "{mode}");
        assert!(!result.incomplete, "{mode}");
        assert_eq!(r.header("Content-Length"), Some("5"), "{mode}");
    }
}

#[test]
fn empty_response_still_sends_headers() {
    let (r, result) = pep("empty");
    assert_eq!(r.start_calls, 1);
    assert_eq!(r.status_line, "204 No Content");
    assert_eq!(r.header("X-Empty"), Some("yes"));
    assert!(r.writes.is_empty());
    assert_eq!(result.bytes_written, 0);
    assert_eq!(result.http_status, 204);
}

#[test]
fn only_bytes_are_accepted() {
    let req = Req::new("pep3333.wsgi").query("bytearray");
    let mut host = Host::new(Vec::new());
    let (status, _) = run(&req, &mut host);
    assert_eq!(status, WSGIRT_STATUS_APP_ERROR);
    assert_one_exception(
        req.ctx,
        "TypeError: sequence of byte string values expected, value of type bytearray found",
        false,
    );
    let (r, _) = pep("write_str");
    assert_eq!(
        r.text(),
        "byte string value expected, value of type str found"
    );
}

// ---- wsgi.input ----------------------------------------------------------

const BODY: &[u8] = b"line1\nline2\nlast";

fn input(mode: &str, body: &[u8]) -> (String, Host) {
    let req = Req::new("input.wsgi")
        .query(mode)
        .env("REQUEST_METHOD", "POST");
    let (status, _, host) = run_body(&req, body);
    assert_eq!(status, WSGIRT_STATUS_OK, "{mode}: {}", log_text(req.ctx));
    assert_no_traceback(req.ctx);
    assert_eq!(
        host.reads_after_eof, 0,
        "{mode}: read again after the end of the body"
    );
    (host.response.text(), host)
}

#[test]
fn input_read() {
    assert_eq!(input("read", BODY).0, "[b'line1\\nline2\\nlast', b'']");
    assert_eq!(
        input("read_n", BODY).0,
        "[b'lin', b'e1\\n', b'', b'line2\\nlast', b'']"
    );
    assert_eq!(
        input("read_none", BODY).0,
        "[b'li', b'ne1\\nline2\\nlast', b'']"
    );
    assert_eq!(input("read_neg", BODY).0, "[b'line1\\nline2\\nlast', b'']");
    // An empty body: b'' at once.
    assert_eq!(input("read", b"").0, "[b'', b'']");
    assert_eq!(input("readline", b"").0, "[b'', b'']");
    assert_eq!(input("iter", b"").0, "[]");
}

#[test]
fn input_readline() {
    assert_eq!(
        input("readline", BODY).0,
        "[b'line1\\n', b'line2\\n', b'last', b'', b'']"
    );
    assert_eq!(
        input("readline_n", BODY).0,
        "[b'lin', b'e1\\n', b'line2\\n', b'', b'last', b'', b'']"
    );
    // A line longer than the runtime's internal buffer.
    let long: Vec<u8> = [vec![b'a'; 100_000], b"\nb".to_vec()].concat();
    let (text, _) = input("readline", &long);
    assert_eq!(
        text,
        format!("[b'{}\\n', b'b', b'', b'']", "a".repeat(100_000))
    );
}

#[test]
fn input_readlines_and_iteration() {
    assert_eq!(
        input("readlines", BODY).0,
        "[b'line1\\n', b'line2\\n', b'last']"
    );
    // The hint stops once at least that many bytes were read.
    assert_eq!(
        input("readlines_hint", BODY).0,
        "[[b'line1\\n', b'line2\\n'], [b'last'], []]"
    );
    assert_eq!(input("iter", BODY).0, "[b'line1\\n', b'line2\\n', b'last']");
    assert_eq!(
        input("iter_for", BODY).0,
        "[b'line1\\n', b'line2\\n', b'last', b'']"
    );
    assert_eq!(
        input("mixed", BODY).0,
        "[b'li', b'ne1\\n', [b'line2\\n', b'last'], b'', b'']"
    );
}

#[test]
fn input_never_reads_past_the_body() {
    // The host hands out exactly the body; after it reported the end the
    // runtime must not ask again, however the application reads.
    for mode in [
        "read",
        "read_n",
        "read_none",
        "readline",
        "readline_n",
        "readlines",
        "readlines_hint",
        "iter",
        "iter_for",
        "mixed",
    ] {
        let (_, host) = input(mode, BODY);
        assert!(host.read_calls >= 1, "{mode}");
        assert_eq!(host.bytes_read, BODY.len() as u64, "{mode}");
    }
    // Not reading at all never calls the host.
    let r = get(&Req::new("hello.wsgi"));
    assert_eq!(r.status, 200);
    let mut host = Host::new(BODY.to_vec());
    let (status, _) = run(&Req::new("hello.wsgi"), &mut host);
    assert_eq!(status, WSGIRT_STATUS_OK);
    assert_eq!(host.read_calls, 0);
}

#[test]
fn input_in_chunks() {
    let body = vec![b'q'; 1_000_000];
    let (text, _) = input("chunks", &body);
    assert_eq!(text, "[1000000, 16]");
}

// ---- environ -------------------------------------------------------------

fn environ_probe(req: Req, code: &str) -> String {
    let req = req.env("REQUEST_METHOD", "POST");
    let (status, _, host) = run_body(&req, code.as_bytes());
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(req.ctx));
    host.response.text()
}

#[test]
fn environ_values_are_latin1_decoded() {
    let req = Req::new("exec.wsgi")
        .env_bytes(b"HTTP_X_NAME", b"caf\xe9")
        .env_bytes(b"PATH_INFO", b"/\xff\x80/x");
    assert_eq!(
        environ_probe(
            req,
            "result = ascii((environ['HTTP_X_NAME'], environ['PATH_INFO']))"
        ),
        "('caf\\xe9', '/\\xff\\x80/x')"
    );
    let req = Req::new("exec.wsgi").env_bytes(b"HTTP_X_NAME", b"caf\xe9");
    assert_eq!(
        environ_probe(
            req,
            "result = (environ['HTTP_X_NAME'] == 'caf\\u00e9', \
             type(environ['HTTP_X_NAME']).__name__, \
             environ['HTTP_X_NAME'].encode('latin-1') == b'caf\\xe9')"
        ),
        "(True, 'str', True)"
    );
}

#[test]
fn environ_path_and_https() {
    let probe = "result = ('PATH' in environ, 'HTTPS' in environ, environ['wsgi.url_scheme'])";
    let req = Req::new("exec.wsgi").env("PATH", "/usr/bin:/bin");
    assert_eq!(environ_probe(req, probe), "(False, False, 'http')");
    for on in ["on", "ON", "1"] {
        let req = Req::new("exec.wsgi").env("HTTPS", on);
        assert_eq!(
            environ_probe(req, probe),
            "(False, False, 'https')",
            "HTTPS={on}"
        );
    }
    let req = Req::new("exec.wsgi").env("HTTPS", "off");
    assert_eq!(environ_probe(req, probe), "(False, False, 'http')");
}

#[test]
fn environ_wsgi_keys() {
    let probe = r#"
import mod_wsgi
result = repr((
    environ['wsgi.version'],
    environ['wsgi.input_terminated'],
    environ['wsgi.multithread'],
    environ['wsgi.multiprocess'],
    environ['wsgi.run_once'],
    environ['wsgi.url_scheme'],
    environ['wsgi.file_wrapper'] is mod_wsgi.FileWrapper,
    hasattr(environ['wsgi.errors'], 'write'),
    hasattr(environ['wsgi.input'], 'read'),
    environ['REQUEST_METHOD'], environ['SERVER_NAME'], environ['QUERY_STRING'],
    all(type(k) is str for k in environ),
    all(type(v) is str for k, v in environ.items() if not k.startswith(('wsgi.', 'apache.', 'mod_wsgi.'))),
))
"#;
    let req = Req::new("exec.wsgi").query("a=1&b=%20");
    assert_eq!(
        environ_probe(req.clone(), probe),
        "((1, 0), True, True, False, False, 'http', True, True, True, 'POST', 'localhost', 'a=1&b=%20', True, True)"
    );
    // The same in a sub-interpreter.
    assert_eq!(
        environ_probe(req.group("environ-sub"), probe),
        "((1, 0), True, True, False, False, 'http', True, True, True, 'POST', 'localhost', 'a=1&b=%20', True, True)"
    );
}

#[test]
fn environ_is_fresh_per_request() {
    let code = "environ['wsgi.leak'] = 1; G['env'] = environ; \
                result = sorted(k for k in environ if k.startswith('wsgi.leak'))";
    let req = Req::new("exec.wsgi").group("fresh");
    assert_eq!(environ_probe(req.clone(), code), "['wsgi.leak']");
    let again = environ_probe(
        req.again(),
        "result = ('wsgi.leak' in environ, G['env'] is environ)",
    );
    assert_eq!(again, "(False, False)");
    // Objects kept from an earlier request are expired.
    let expired = environ_probe(
        req.again(),
        "try:\n    G['env']['wsgi.input'].read()\n    result = 'read'\n\
         except RuntimeError as e:\n    result = str(e)",
    );
    assert_eq!(expired, "request object has expired");
    // close() and iter() too, as in mod_wsgi.
    let expired = environ_probe(
        req.again(),
        "out = []\nfor call in (G['env']['wsgi.input'].close, lambda: iter(G['env']['wsgi.input'])):\n\
         \x20   try:\n        call()\n        out.append('ok')\n\
         \x20   except RuntimeError as e:\n        out.append(str(e))\nresult = '|'.join(out)",
    );
    assert_eq!(
        expired,
        "request object has expired|request object has expired"
    );
}

// ---- wsgi.file_wrapper ---------------------------------------------------

/// A 100,000-byte file in a directory of the test's own (`name`): tests run
/// in parallel, and a shared directory is removed and rewritten under
/// another test's reads.
fn data_file(name: &str) -> (std::path::PathBuf, Vec<u8>) {
    let dir = temp_dir(name);
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let path = dir.join("data.bin");
    std::fs::write(&path, &data).unwrap();
    (path, data)
}

fn file_req(mode: &str, token: &str, path: &std::path::Path, send_file: bool) -> (Response, Req) {
    let req = Req::new("filewrap.wsgi")
        .query(&format!("{mode}:{token}"))
        .env("FILE", path.to_str().unwrap());
    let mut host = Host::new(Vec::new());
    host.send_file = send_file;
    let (status, result) = run(&req, &mut host);
    assert_eq!(status, WSGIRT_STATUS_OK, "{mode}: {}", log_text(req.ctx));
    assert_no_traceback(req.ctx);
    assert_eq!(
        result.unwrap().bytes_written,
        host.response.body_len,
        "{mode}"
    );
    (host.response, req)
}

fn file_closed(token: &str) -> bool {
    let r = get(&Req::new("filewrap.wsgi").query(&format!("closed:{token}")));
    match r.text().as_str() {
        "True" => true,
        "False" => false,
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn file_wrapper_uses_send_file() {
    let (path, data) = data_file("filewrap-sendfile");
    let (r, _) = file_req("plain", "f1", &path, true);
    assert_eq!(r.files, vec![(0, data.len() as u64, true)]);
    assert!(r.writes.is_empty());
    assert_eq!(r.body, data);
    // Content-Length is added when the application set none.
    assert_eq!(r.header("Content-Length"), Some("100000"));
    assert!(file_closed("f1"), "FileWrapper.close() must close the file");

    // After a seek, or a partial read, the file is sent from there.
    let (r, _) = file_req("seek", "f2", &path, true);
    assert_eq!(r.files, vec![(10, data.len() as u64 - 10, true)]);
    assert_eq!(r.body, &data[10..]);
    assert_eq!(r.header("Content-Length"), Some("99990"));
    let (r, _) = file_req("read", "f3", &path, true);
    assert_eq!(r.files, vec![(7, data.len() as u64 - 7, true)]);
    assert_eq!(r.body, &data[7..]);
    assert!(file_closed("f3"));

    // The application's Content-Length limits what is sent, and is kept.
    let (r, _) = file_req("cl", "f4", &path, true);
    assert_eq!(r.files, vec![(0, 5, true)]);
    assert_eq!(r.body, &data[..5]);
    assert_eq!(r.header("Content-Length"), Some("5"));
    assert_eq!(
        r.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .count(),
        1
    );
}

#[test]
fn file_wrapper_without_send_file_is_iterated() {
    let (path, data) = data_file("filewrap-iterated");
    let (r, _) = file_req("plain", "g1", &path, false);
    assert!(r.files.is_empty());
    assert_eq!(r.body, data);
    assert_eq!(r.header("Content-Length"), Some("100000"));
    // Blocks of the default 8192 bytes.
    assert_eq!(r.writes.len(), 100_000usize.div_ceil(8192));
    assert!(r.writes.iter().all(|(n, _)| *n <= 8192));
    assert!(file_closed("g1"));
    let (r, _) = file_req("read", "g2", &path, false);
    assert_eq!(r.body, &data[7..]);
    let (r, _) = file_req("blksize", "g3", &path, false);
    assert_eq!(r.body, data);
    assert_eq!(r.writes.len(), 100);
}

#[test]
fn file_wrapper_over_bytesio_is_iterated() {
    let (path, _) = data_file("filewrap-bytesio");
    let (r, _) = file_req("bytesio", "h1", &path, true);
    assert!(r.files.is_empty(), "a BytesIO has no descriptor");
    assert_eq!(r.body, vec![b'x'; 20000]);
    assert_eq!(r.writes, vec![(8192, true), (8192, true), (3616, true)]);
    assert_eq!(r.header("Content-Length"), None);
    assert!(file_closed("h1"));
}

#[test]
fn input_read_size_far_beyond_the_body() {
    assert_eq!(
        input("read_huge", BODY).0,
        "[b'line1\\nline2\\nlast', b'', b'']"
    );
}

#[test]
fn latin1_status_and_headers_reach_the_host_as_bytes() {
    let (r, _) = pep("latin1");
    assert_eq!(r.status_line, "200 \u{c7}a va");
    assert_eq!(r.header("X-Latin"), Some("caf\u{e9}"));
    assert_eq!(r.header("X-Empty"), Some(""));
}

#[test]
fn start_response_and_write_expire_with_their_request() {
    let (r, _) = pep("keep");
    assert_eq!(r.body, b"kept");
    let (r, _) = pep("use_kept");
    assert_eq!(
        r.text(),
        "request object has expired|request object has expired"
    );
}
