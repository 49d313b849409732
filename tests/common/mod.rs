//! An in-memory host driving the C API, shared by the Rust integration
//! tests. One runtime per test process (CPython is global): every test
//! binary calls [`runtime`] (or [`runtime_with`] to adjust the
//! configuration first) and runs its requests through [`run`].
//!
//! Every request gets its own `log_ctx` value, so tests running in
//! parallel in one binary can pick out the log lines of their own request
//! ([`log_for`], [`count_for`]).
//!
//! The host itself, log capture and the runtime live in tests/support,
//! shared with tests/daemon_support.

#![allow(dead_code)]

#[path = "../support/mod.rs"]
mod support;
pub use support::*;

use std::path::PathBuf;
use wsgirt::capi::request::*;
use wsgirt::capi::status::wsgirt_status;

pub use wsgirt::capi::status::wsgirt_status::*;

/// A fresh, empty directory for this test process (removed first if left over).
pub fn temp_dir(name: &str) -> PathBuf {
    fresh_dir(&std::env::temp_dir(), "wsgirt-test-", name)
}

impl Req {
    /// A GET for a script in tests/apps (or an absolute path).
    pub fn new(script: &str) -> Req {
        let script = if script.starts_with('/') {
            script.to_owned()
        } else {
            app(script)
        };
        Req::script(&script)
    }
}

/// Runs a request; returns the status and, when a response started, its result.
pub fn run(req: &Req, host: &mut Host) -> Outcome {
    run_on(runtime(), req, host)
}

/// [`run`] on an explicit runtime.
pub fn run_on(rt: &Runtime, req: &Req, host: &mut Host) -> Outcome {
    req.submit(host, |spec, io, ctx, result| {
        // SAFETY: every pointer refers to a local of `submit` that outlives
        // the call, and the host is only used through `ctx` until it returns.
        unsafe { wsgirt_request_run(rt.0, spec, io, ctx, result) }
    })
}

/// Runs a request with `body` as its input; returns status, result and host.
pub fn run_body(req: &Req, body: &[u8]) -> (wsgirt_status, Option<wsgirt_request_result>, Host) {
    let req = req.clone().env("CONTENT_LENGTH", &body.len().to_string());
    let mut host = Host::new(body.to_vec());
    let (status, result) = run(&req, &mut host);
    (status, result, host)
}

/// Runs a GET and returns the response (asserting a response started).
pub fn get(req: &Req) -> Response {
    let mut host = Host::new(Vec::new());
    let (status, _) = run(req, &mut host);
    assert_eq!(
        status,
        WSGIRT_STATUS_OK,
        "request to {} failed; log:\n{}",
        req.script,
        log_text(req.ctx)
    );
    host.response
}

/// Runs `code` in tests/apps/exec.wsgi in `group`: the code sees
/// `environ`, `G` (a module-level dict) and `sys`, and sets `result`,
/// whose `str()` is the body.
pub fn exec_in(group: &str, code: &str) -> String {
    let req = Req::new("exec.wsgi")
        .group(group)
        .env("REQUEST_METHOD", "POST");
    let (status, _, host) = run_body(&req, code.as_bytes());
    assert_eq!(
        status,
        WSGIRT_STATUS_OK,
        "exec in group {group:?} failed; log:\n{}",
        log_text(req.ctx)
    );
    assert_eq!(host.response.status, 200, "{}", log_text(req.ctx));
    host.response.text()
}

/// A request's log, for assertion messages.
pub fn log_text(ctx: usize) -> String {
    log_for(ctx)
        .iter()
        .map(|l| format!("  [{}] {}", l.level, l.text))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts that the request logged exactly one traceback (the mod_wsgi
/// header line and Python's "Traceback" line) containing `message`.
pub fn assert_one_traceback(ctx: usize, message: &str) {
    assert_one_exception(ctx, message, true)
}

/// Asserts that the request logged exactly one exception containing
/// `message`; `traceback` says whether it has Python frames (an error the
/// runtime raises itself, outside any Python code, has none: then Python
/// prints no "Traceback" line, as with mod_wsgi).
pub fn assert_one_exception(ctx: usize, message: &str, traceback: bool) {
    let log = log_text(ctx);
    assert_eq!(
        count_for(ctx, "Exception occurred processing WSGI script"),
        1,
        "expected one exception header; log:\n{log}"
    );
    assert_eq!(
        count_for(ctx, "Traceback (most recent call last):"),
        usize::from(traceback),
        "expected {} traceback; log:\n{log}",
        if traceback { "one" } else { "no" }
    );
    assert_eq!(
        count_for(ctx, message),
        1,
        "expected {message:?} once in the log:\n{log}"
    );
    for line in log_for(ctx) {
        if line.text.contains("Traceback") || line.text.contains(message) {
            assert_eq!(line.level, 3, "traceback lines are logged at err level");
        }
    }
}

/// Asserts that the request logged no traceback.
pub fn assert_no_traceback(ctx: usize) {
    let log = log_text(ctx);
    assert_eq!(
        count_for(ctx, "Traceback"),
        0,
        "unexpected traceback; log:\n{log}"
    );
    assert_eq!(
        count_for(ctx, "Exception occurred"),
        0,
        "unexpected exception; log:\n{log}"
    );
}
