//! Applications failing at each stage of a request, start_response misuse
//! (every bad status and header type) and `exc_info` semantics.
//!
//! Each failure must give the right status (APP_ERROR when no response
//! started, OK with `incomplete` when it had), log exactly one traceback
//! with the exception message, always call `close()`, and leave the
//! runtime serving the next request.

mod common;
use common::*;

/// Whether errors.wsgi recorded close() for `token` (asked in `group`).
fn closed(group: &str, token: &str) -> bool {
    let r = get(&Req::new("errors.wsgi")
        .group(group)
        .query(&format!("closed:{token}")));
    match r.body.as_slice() {
        b"yes" => true,
        b"no" => false,
        other => panic!("unexpected body {other:?}"),
    }
}

/// The next request in the group works normally.
fn next_request_ok(group: &str) {
    let r = get(&Req::new("errors.wsgi").group(group).query("ok:"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"ok");
}

struct Case {
    mode: &'static str,
    /// `None`: APP_ERROR expected; `Some(body)`: OK with this body.
    body: Option<&'static [u8]>,
    incomplete: bool,
    message: &'static str,
    /// The app returned an iterable, whose close() must be called.
    has_close: bool,
    /// The exception comes from Python code (so has a traceback).
    traceback: bool,
}

const CASES: &[Case] = &[
    Case {
        mode: "call",
        body: None,
        incomplete: false,
        message: "RuntimeError: boom in call",
        has_close: false,
        traceback: true,
    },
    Case {
        mode: "sr_args",
        body: None,
        incomplete: false,
        message:
            "TypeError: start_response() takes from 2 to 3 positional arguments but 1 were given",
        has_close: false,
        traceback: true,
    },
    Case {
        mode: "no_start",
        body: None,
        incomplete: false,
        message: "RuntimeError: response has not been started",
        has_close: true,
        traceback: false,
    },
    Case {
        mode: "iter_before",
        body: None,
        incomplete: false,
        message: "KeyError: 'boom before output",
        has_close: true,
        traceback: true,
    },
    Case {
        mode: "bad_item",
        body: None,
        incomplete: false,
        message: "TypeError: sequence of byte string values expected, value of type str found",
        has_close: true,
        traceback: false,
    },
    Case {
        mode: "sr_twice",
        body: Some(b"first"),
        incomplete: true,
        message: "RuntimeError: headers have already been sent",
        has_close: true,
        traceback: true,
    },
    Case {
        mode: "iter_after",
        body: Some(b"partial"),
        incomplete: true,
        message: "LookupError: boom after output",
        has_close: true,
        traceback: true,
    },
    // close() raising after a complete body: logged, but the response is
    // complete (mod_wsgi 4.9.4 still ends a chunked response normally).
    Case {
        mode: "close",
        body: Some(b"body"),
        incomplete: false,
        message: "ValueError: boom in close raise-",
        has_close: true,
        traceback: true,
    },
];

fn check_case(group: &str, case: &Case) {
    let token = if case.mode == "close" {
        format!("raise-{group}")
    } else {
        format!("{}-{group}", case.mode)
    };
    let req = Req::new("errors.wsgi")
        .group(group)
        .query(&format!("{}:{token}", case.mode));
    let mut host = Host::new(Vec::new());
    let (status, result) = run(&req, &mut host);
    let log = log_text(req.ctx);
    match case.body {
        None => {
            assert_eq!(
                status, WSGIRT_STATUS_APP_ERROR,
                "{}: status; log:\n{log}",
                case.mode
            );
            assert_eq!(
                host.response.start_calls, 0,
                "{}: no response may be started",
                case.mode
            );
            assert!(host.response.writes.is_empty(), "{}", case.mode);
        }
        Some(body) => {
            assert_eq!(
                status, WSGIRT_STATUS_OK,
                "{}: status; log:\n{log}",
                case.mode
            );
            let result = result.unwrap();
            assert_eq!(result.http_status, 200, "{}", case.mode);
            assert_eq!(
                result.incomplete, case.incomplete,
                "{}: incomplete",
                case.mode
            );
            assert!(!result.client_gone, "{}", case.mode);
            assert_eq!(host.response.body, body, "{}", case.mode);
            assert_eq!(result.bytes_written, body.len() as u64, "{}", case.mode);
            assert_eq!(host.response.start_calls, 1, "{}", case.mode);
        }
    }
    assert_one_exception(req.ctx, case.message, case.traceback);
    if case.has_close {
        assert!(closed(group, &token), "{}: close() not called", case.mode);
    }
    next_request_ok(group);
}

#[test]
fn failures_at_each_stage_main_interpreter() {
    for case in CASES {
        check_case("", case);
    }
}

#[test]
fn failures_at_each_stage_sub_interpreter() {
    for case in CASES {
        check_case("errors-sub", case);
    }
}

#[test]
fn system_exit_does_not_stop_the_runtime() {
    let req = Req::new("errors.wsgi").query("system_exit:x");
    let mut host = Host::new(Vec::new());
    let (status, _) = run(&req, &mut host);
    assert_eq!(status, WSGIRT_STATUS_APP_ERROR);
    assert_eq!(
        count_for(req.ctx, "SystemExit exception raised by WSGI script"),
        1,
        "{}",
        log_text(req.ctx)
    );
    next_request_ok("");
}

/// Every bad status and header type: APP_ERROR and the message logged.
#[test]
fn bad_status_and_headers() {
    let cases: &[(&str, &str)] = &[
        (
            "status_bytes",
            "TypeError: expected unicode object, value of type bytes found",
        ),
        (
            "status_int",
            "TypeError: expected unicode object, value of type int found",
        ),
        (
            "status_no_space",
            "ValueError: no space following status code",
        ),
        (
            "status_two_digits",
            "ValueError: status code is not a 3 digit integer",
        ),
        (
            "status_letters",
            "ValueError: status code is not a 3 digit integer",
        ),
        (
            "status_crlf",
            "ValueError: control character present in reason phrase",
        ),
        (
            "status_lf",
            "ValueError: control character present in reason phrase",
        ),
        (
            "headers_tuple",
            "TypeError: start_response() argument 2 must be list, not tuple",
        ),
        (
            "headers_dict",
            "TypeError: start_response() argument 2 must be list, not dict",
        ),
        (
            "header_not_tuple",
            "TypeError: list of tuple values expected for headers, value of type list found",
        ),
        (
            "header_3_tuple",
            "ValueError: tuple of length 2 expected for header, length is 3",
        ),
        (
            "header_1_tuple",
            "ValueError: tuple of length 2 expected for header, length is 1",
        ),
        (
            "header_name_bytes",
            "TypeError: expected unicode object, value of type bytes found",
        ),
        (
            "header_value_bytes",
            "TypeError: expected unicode object, value of type bytes found",
        ),
        (
            "header_value_int",
            "TypeError: expected unicode object, value of type int found",
        ),
        (
            "header_value_crlf",
            "ValueError: carriage return/line feed character present in header value",
        ),
        (
            "header_value_lf",
            "ValueError: carriage return/line feed character present in header value",
        ),
        (
            "header_value_cr",
            "ValueError: carriage return/line feed character present in header value",
        ),
        (
            "header_name_space",
            "ValueError: space character present in header name",
        ),
        ("content_length_text", "ValueError: invalid content length"),
        (
            "content_length_negative",
            "ValueError: invalid content length",
        ),
        (
            "header_value_not_latin1",
            "ValueError: unicode object contains non latin-1 characters",
        ),
        (
            "header_name_not_latin1",
            "ValueError: unicode object contains non latin-1 characters",
        ),
    ];
    for group in ["", "bad-sub"] {
        for (case, message) in cases {
            let req = Req::new("badresponse.wsgi").group(group).query(case);
            let mut host = Host::new(Vec::new());
            let (status, _) = run(&req, &mut host);
            assert_eq!(
                status,
                WSGIRT_STATUS_APP_ERROR,
                "{case}: log:\n{}",
                log_text(req.ctx)
            );
            assert_eq!(host.response.start_calls, 0, "{case}");
            assert!(host.response.body.is_empty(), "{case}");
            assert_one_traceback(req.ctx, message);
        }
    }
    next_request_ok("");
}

fn excinfo(mode: &str) -> (wsgirt::capi::status::wsgirt_status, Host, usize) {
    let req = Req::new("excinfo.wsgi").query(mode);
    let mut host = Host::new(Vec::new());
    let (status, _) = run(&req, &mut host);
    (status, host, req.ctx)
}

#[test]
fn exc_info_before_headers_replaces_the_status() {
    let (status, host, ctx) = excinfo("replace");
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(ctx));
    assert_eq!(host.response.status, 500);
    assert_eq!(host.response.status_line, "500 Oops");
    assert_eq!(host.response.header("X-Second"), Some("2"));
    assert_eq!(host.response.header("X-First"), None);
    assert_eq!(host.response.body, b"error page");
    assert_no_traceback(ctx);

    let (status, host, ctx) = excinfo("replace_kw");
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(ctx));
    assert_eq!(host.response.status_line, "503 Busy");
    assert_eq!(host.response.body, b"busy");
}

#[test]
fn exc_info_after_headers_reraises_the_original() {
    // Uncaught: the original exception propagates, is logged once, and the
    // already-started response is marked incomplete.
    let req = Req::new("excinfo.wsgi").query("reraise");
    let mut host = Host::new(Vec::new());
    let (status, result) = run(&req, &mut host);
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(req.ctx));
    let result = result.unwrap();
    assert!(result.incomplete);
    assert_eq!(result.http_status, 200);
    assert_eq!(host.response.status_line, "200 OK");
    assert_eq!(host.response.body, b"partial");
    assert_one_traceback(req.ctx, "ValueError: original error xyzzy");

    // Caught: the application sees its own exception.
    let (status, host, ctx) = excinfo("reraise_caught");
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(ctx));
    assert_eq!(host.response.text(), "partial|reraised original error");
    assert_no_traceback(ctx);
}

#[test]
fn start_response_twice() {
    // Before headers are sent, a second call without exc_info is allowed
    // (as in mod_wsgi) and the second status wins.
    let (status, host, ctx) = excinfo("twice_before");
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(ctx));
    assert_eq!(host.response.status_line, "202 Accepted");
    assert_eq!(host.response.body, b"second wins");
    // After headers are sent: RuntimeError.
    let (status, host, ctx) = excinfo("twice_after");
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(ctx));
    assert_eq!(host.response.status_line, "200 OK");
    assert_eq!(
        host.response.text(),
        "partial|RuntimeError: headers have already been sent"
    );
    // exc_info that is not a tuple.
    let (status, host, ctx) = excinfo("bad_exc_info");
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(ctx));
    assert_eq!(host.response.text(), "exception info must be a tuple");
}

/// A panic inside the library is reported through the host's log
/// callback as WSGIRT0104 with its message, followed by a symbolised
/// backtrace (docs/log-messages.md), and the process carries on.
#[test]
fn a_panic_is_logged_with_a_backtrace() {
    runtime();
    let caught = std::panic::catch_unwind(|| panic!("wsgirt-test: deliberate panic"));
    assert!(caught.is_err());
    let report = log_lines_with("wsgirt-test: deliberate panic");
    assert!(
        report
            .iter()
            .any(|l| l.text.starts_with("WSGIRT0104: wsgirt (pid=")
                && l.text.contains("internal error")),
        "{report:?}"
    );
    let frames = log_lines_with("a_panic_is_logged_with_a_backtrace");
    assert!(!frames.is_empty(), "the backtrace names this test's frame");
}
