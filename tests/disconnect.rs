//! Client disconnects and host I/O errors: iteration stops, close() is
//! called, `client_gone` is reported, nothing is logged as an application
//! error; `write()` and `wsgi.input` raise `IOError` into the application.

mod common;
use common::*;
use wsgirt::capi::request::wsgirt_io;

fn state(token: &str) -> String {
    get(&Req::new("disconnect.wsgi").query(&format!("state:{token}"))).text()
}

fn gone_after(
    mode: &str,
    token: &str,
    bytes: u64,
) -> (
    Req,
    Host,
    Option<wsgirt::capi::request::wsgirt_request_result>,
    wsgirt::capi::status::wsgirt_status,
) {
    let req = Req::new("disconnect.wsgi").query(&format!("{mode}:{token}"));
    let mut host = Host::new(Vec::new());
    host.gone_after = Some(bytes);
    let (status, result) = run(&req, &mut host);
    (req, host, result, status)
}

#[test]
fn disconnect_stops_iteration_and_calls_close() {
    let (req, host, result, status) = gone_after("generator", "g1", 5000);
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(req.ctx));
    let result = result.unwrap();
    assert!(result.client_gone);
    assert!(
        !result.incomplete,
        "a disconnect is not an application failure"
    );
    assert_eq!(result.http_status, 200);
    assert_eq!(result.bytes_written, 5000);
    assert_eq!(host.response.body_len, 5000);
    assert_no_traceback(req.ctx);
    // The sixth block hit the closed connection; nothing more was pulled.
    assert_eq!(state("g1"), "{'yielded': 6, 'closed': True}");
    assert!(
        log_for(req.ctx).iter().all(|l| l.level > 3),
        "{}",
        log_text(req.ctx)
    );
}

#[test]
fn disconnect_before_any_body() {
    let (req, host, result, status) = gone_after("generator", "g2", 0);
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(req.ctx));
    let result = result.unwrap();
    assert!(result.client_gone);
    assert_eq!(result.bytes_written, 0);
    assert_eq!(host.response.start_calls, 1);
    assert_no_traceback(req.ctx);
    assert_eq!(state("g2"), "{'yielded': 1, 'closed': True}");
}

#[test]
fn write_raises_ioerror_into_the_application() {
    let (req, _, result, status) = gone_after("write", "w1", 3000);
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(req.ctx));
    assert!(result.unwrap().client_gone);
    assert_no_traceback(req.ctx);
    assert_eq!(
        state("w1"),
        "{'writes': 3, 'error': 'OSError: Apache/mod_wsgi client connection closed.'}"
    );
    // Uncaught, the IOError is not logged as an application error either.
    let (req, _, result, status) = gone_after("write_uncaught", "w2", 3000);
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(req.ctx));
    let result = result.unwrap();
    assert!(result.client_gone);
    assert_eq!(result.bytes_written, 3000);
    assert_no_traceback(req.ctx);
}

fn read_failing(
    mode: &str,
    token: &str,
    code: wsgirt_io,
) -> (Req, wsgirt::capi::status::wsgirt_status, Host) {
    let req = Req::new("disconnect.wsgi")
        .query(&format!("{mode}:{token}"))
        .env("REQUEST_METHOD", "POST")
        .env("CONTENT_LENGTH", "100000");
    let mut host = Host::new(vec![b'r'; 100_000]);
    host.read_error_after = Some((10_000, code));
    let (status, _) = run(&req, &mut host);
    (req, status, host)
}

#[test]
fn read_errors_raise_ioerror_into_the_application() {
    let (req, status, host) = read_failing("read", "r1", wsgirt_io::WSGIRT_IO_ERROR);
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(req.ctx));
    assert_eq!(host.response.text(), "read");
    assert_eq!(
        state("r1"),
        "{'error': 'OSError: Apache/mod_wsgi request data read error: Partial results are valid but processing is incomplete.'}"
    );
    let (req, status, _) = read_failing("read", "r2", wsgirt_io::WSGIRT_IO_TIMEOUT);
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(req.ctx));
    assert_eq!(
        state("r2"),
        "{'error': 'OSError: Apache/mod_wsgi request data read error: The timeout specified has expired.'}"
    );
    // Uncaught, a read error is an application error (logged)...
    let (req, status, _) = read_failing("read_uncaught", "r3", wsgirt_io::WSGIRT_IO_ERROR);
    assert_eq!(status, WSGIRT_STATUS_APP_ERROR);
    assert_one_traceback(req.ctx, "OSError: Apache/mod_wsgi request data read error");
    // ...and so is one from a client that went away mid-body: as in
    // mod_wsgi, only failed response writes are the quiet client-gone case.
    let (req, status, host) = read_failing("read_uncaught", "r4", wsgirt_io::WSGIRT_IO_CLIENT_GONE);
    assert_eq!(status, WSGIRT_STATUS_APP_ERROR, "{}", log_text(req.ctx));
    assert_eq!(host.response.start_calls, 0);
    assert_one_traceback(
        req.ctx,
        "OSError: Apache/mod_wsgi request data read error: Partial results are valid but processing is incomplete.",
    );
}

#[test]
fn a_failed_read_leaves_the_input_in_error() {
    let (req, status, _) = read_failing("read_again", "ra", wsgirt_io::WSGIRT_IO_TIMEOUT);
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(req.ctx));
    let again = "'Apache/mod_wsgi request data read error: Input is already in error state.'";
    assert_eq!(
        state("ra"),
        format!("{{'first': 'OSError', 'again': [{again}, {again}, {again}, {again}, {again}]}}")
    );
}

/// A small list body is handed to the host in one write after the
/// application has finished (the request takes the GIL once).
#[test]
fn small_list_body_is_one_write_at_the_end() {
    let req = Req::new("disconnect.wsgi").query("list:l0");
    let mut host = Host::new(Vec::new());
    host.keep_body = true;
    let (status, result) = run(&req, &mut host);
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(req.ctx));
    let result = result.unwrap();
    assert_eq!(result.bytes_written, 3000);
    assert!(!result.incomplete && !result.client_gone);
    assert_eq!(host.response.start_calls, 1);
    assert_eq!(host.response.writes, vec![(3000, false)]);
    let mut expected = vec![b'a'; 1000];
    expected.extend([b'b'; 1000]);
    expected.extend([b'c'; 1000]);
    assert_eq!(host.response.body, expected);
}

/// A held-back list body the client never takes: a disconnect is reported
/// and not logged; a timeout cuts the response short with one clear line.
#[test]
fn held_back_body_failures() {
    let (req, _, result, status) = gone_after("list", "l1", 0);
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(req.ctx));
    let result = result.unwrap();
    assert!(result.client_gone);
    assert!(!result.incomplete);
    assert!(
        log_for(req.ctx).iter().all(|l| l.level > 3),
        "{}",
        log_text(req.ctx)
    );

    let req = Req::new("disconnect.wsgi").query("list:l2");
    let mut host = Host::new(Vec::new());
    host.gone_after = Some(0);
    host.write_error_code = wsgirt_io::WSGIRT_IO_TIMEOUT;
    let (status, result) = run(&req, &mut host);
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(req.ctx));
    let result = result.unwrap();
    assert!(
        result.incomplete,
        "a timed-out response must not look complete: {}",
        log_text(req.ctx)
    );
    assert!(!result.client_gone);
    assert_no_traceback(req.ctx);
    let errors: Vec<_> = log_for(req.ctx)
        .into_iter()
        .filter(|l| l.level <= 3)
        .map(|l| l.text)
        .collect();
    assert_eq!(errors.len(), 1, "{}", log_text(req.ctx));
    assert!(
        errors[0].starts_with("WSGIRT0305: ") && errors[0].ends_with("Connection timed out."),
        "{errors:?}"
    );
}
