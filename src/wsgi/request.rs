//! One request's mutable state, shared by `wsgi.input`, `start_response`,
//! `write()` and the response loop, and the entry point [`run`].
//!
//! Python objects handed to the application (`wsgi.input`,
//! `start_response`) hold a raw pointer to the [`RequestState`] on the
//! stack of [`run`]; at request end the pointers are cleared, so objects the
//! application kept raise "request object has expired" instead of touching
//! freed memory.

use crate::logging::{self, Level};
use crate::python::error::{self, PyException};
use crate::python::interp::Interp;
use crate::python::object::PyOwned;
use crate::python::tstate::{self, Attached};
use crate::wsgi::host::{HostIo, IoError};
use crate::wsgi::tracking::{self, EventContext, Tracking};
use crate::wsgi::{environ, input, response, script, start_response, validate};
use pyo3::ffi;
use std::cell::Cell;
use std::ffi::c_void;
use std::time::{Duration, Instant};

/// What the host asked for.
pub struct RequestSpec<'a> {
    pub script_path: &'a str,
    pub callable: &'a str,
    pub reload_script: bool,
    /// The script's modification time if the host already knows it
    /// (saves a `stat`), else `None`.
    pub script_mtime: Option<i64>,
    /// Whether the script's `reload_required(resource)` is asked, and what
    /// a true answer does (embedded: reload, daemon: restart).
    pub reload_hook: script::ReloadHook,
    pub environ: &'a [(&'a [u8], &'a [u8])],
    pub log_ctx: *mut c_void,
}

impl<'a> RequestSpec<'a> {
    /// The file the request maps to, as mod_wsgi's `r->filename`: the
    /// environ's `SCRIPT_FILENAME` (for `WSGIHandlerScript`, the handled
    /// file rather than the handler), else the script.
    pub fn resource(&self) -> &'a [u8] {
        self.environ
            .iter()
            .find(|(key, _)| *key == b"SCRIPT_FILENAME")
            .map_or(self.script_path.as_bytes(), |(_, value)| *value)
    }

    /// [`Self::resource`] as text, for log lines that name it.
    pub fn resource_name(&self) -> std::borrow::Cow<'a, str> {
        String::from_utf8_lossy(self.resource())
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response was started (and finished or cut short, see the flags).
    Responded,
    /// The script could not be loaded (import/syntax error): answer 500.
    LoadFailed,
    /// The script has no such callable: answer 404, as mod_wsgi does.
    CallableMissing,
    /// The application failed before starting a response: answer 500.
    AppError,
    /// The client went away before a response was started.
    ClientGone,
    /// `mod_wsgi.RequestTimeout` ended the application before a response
    /// was started (interrupt-timeout): answer 504.
    Interrupted,
    /// The script's `reload_required()` asked for a process restart before
    /// anything was read or sent (daemon mode only, [`script::ReloadHook`]):
    /// the daemon restarts and the request is retried.
    RestartRequired,
}

/// The result of [`run`].
#[derive(Debug, Clone, Copy)]
pub struct Completion {
    pub outcome: Outcome,
    pub http_status: u16,
    pub bytes_written: u64,
    pub client_gone: bool,
    /// The application failed after the response had started: the host
    /// must not make the response look complete.
    pub failed_after_start: bool,
}

/// Buffered request body reading for `wsgi.input`.
#[derive(Default)]
pub struct InputState {
    pub buf: Vec<u8>,
    pub pos: usize,
    pub eof: bool,
    /// A host read failed: every later read raises, as in mod_wsgi, so an
    /// application that catches the error cannot take a cut-off body for
    /// a whole one.
    pub failed: bool,
    pub bytes: u64,
    pub reads: u64,
    /// Time spent waiting for the host's reads.
    pub time: Duration,
}

/// Mutable state of one request.
pub struct RequestState<'a> {
    pub io: &'a dyn HostIo,
    pub log_ctx: *mut c_void,
    pub status: Option<(u16, Vec<u8>)>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub headers_sent: bool,
    pub content_length: Option<u64>,
    pub bytes_written: u64,
    /// Body bytes the application produced, before clipping to
    /// `Content-Length` (for mod_wsgi's "Content length mismatch" line).
    pub generated: u64,
    /// Host output calls made and the time spent in them (`request_finished`).
    pub output_writes: u64,
    pub output_time: Cell<Duration>,
    pub client_gone: bool,
    pub input: InputState,
    /// The application raised after the response started.
    pub failed: bool,
    /// The application was ended by `mod_wsgi.RequestTimeout`.
    pub interrupted: bool,
    /// This interpreter's `RequestTimeout` type.
    pub request_timeout_type: *mut ffi::PyObject,
    /// This interpreter's `FileWrapper` type (for the send-file path).
    pub file_wrapper_type: *mut ffi::PyObject,
    /// This interpreter's interned `"close"` (borrowed from its cache).
    pub name_close: *mut ffi::PyObject,
    /// Set while a host call is in flight with the GIL released, so another
    /// Python thread using the same request objects gets an error instead
    /// of a concurrent host call.
    pub busy: Cell<bool>,
    /// Set when the interpreter had event subscribers at request start.
    pub events: Option<EventContext>,
    /// Body bytes held back by [`RequestState::output`] (see [`DEFER_LIMIT`]).
    deferred: Vec<u8>,
    /// The status and headers are held back with `deferred`.
    deferred_headers: bool,
}

/// Unflushed output (a list or tuple body) up to this many bytes is copied
/// and handed to the host only after the request has released the GIL at
/// its end, instead of releasing and re-taking the GIL around a host call
/// mid-request. Under load every GIL hand-off can cost a thread switch; a
/// hello-world response then takes the GIL once instead of twice. The host
/// buffers unflushed data anyway (Apache's core output filter does), so
/// the client sees the same bytes at practically the same time.
pub const DEFER_LIMIT: usize = 16 * 1024;

/// Why output could not be sent.
pub enum OutputError {
    /// Python exception set (e.g. response not started).
    Raised,
    /// Host I/O failed.
    Io(IoError),
}

impl<'a> RequestState<'a> {
    pub fn new(io: &'a dyn HostIo, log_ctx: *mut c_void) -> Self {
        RequestState {
            io,
            log_ctx,
            status: None,
            headers: Vec::new(),
            headers_sent: false,
            content_length: None,
            bytes_written: 0,
            generated: 0,
            output_writes: 0,
            output_time: Cell::new(Duration::ZERO),
            client_gone: false,
            input: InputState::default(),
            failed: false,
            interrupted: false,
            request_timeout_type: std::ptr::null_mut(),
            file_wrapper_type: std::ptr::null_mut(),
            name_close: std::ptr::null_mut(),
            busy: Cell::new(false),
            events: None,
            deferred: Vec::new(),
            deferred_headers: false,
        }
    }

    /// Hands status and headers to the host if not yet done (headers held
    /// back with output count as done: they go out at request end). GIL
    /// held.
    pub fn send_headers(&mut self) -> Result<(), OutputError> {
        if self.headers_sent {
            return Ok(());
        }
        if self.status.is_none() {
            // SAFETY: called with the GIL held (from the response loop or a Python callback).
            unsafe { error::set(ffi::PyExc_RuntimeError, "response has not been started") };
            return Err(OutputError::Raised);
        }
        self.send_with_pending(&[], false)
    }

    /// Sends a body block (headers first), clipped to `Content-Length`.
    /// GIL held on entry and exit; released around the host call. Small
    /// unflushed blocks are held back instead ([`DEFER_LIMIT`]).
    pub fn output(&mut self, data: &[u8], flush: bool) -> Result<(), OutputError> {
        self.generated += data.len() as u64;
        let data = match self.content_length {
            Some(limit) => {
                let left = limit.saturating_sub(self.bytes_written);
                &data[..data.len().min(left as usize)]
            }
            None => data,
        };
        if self.status.is_none() {
            // Raises "response has not been started".
            return self.send_headers();
        }
        if !flush && !data.is_empty() && self.deferred.len() + data.len() <= DEFER_LIMIT {
            if !self.headers_sent {
                // Committed: start_response may no longer replace them.
                self.headers_sent = true;
                self.deferred_headers = true;
            }
            self.deferred.extend_from_slice(data);
        } else {
            self.send_with_pending(data, flush)?;
        }
        self.bytes_written += data.len() as u64;
        self.output_writes += 1;
        Ok(())
    }

    /// True when headers or body bytes are held back.
    fn has_deferred(&self) -> bool {
        self.deferred_headers || !self.deferred.is_empty()
    }

    /// One host call (one GIL release) for the headers if not yet sent,
    /// the held-back bytes, then `data`. GIL held; a status is set.
    fn send_with_pending(&mut self, data: &[u8], flush: bool) -> Result<(), OutputError> {
        let Some((code, line)) = &self.status else {
            return Ok(());
        };
        let headers_now = !self.headers_sent || self.deferred_headers;
        let held = std::mem::take(&mut self.deferred);
        let (code, io, headers) = (*code, self.io, &self.headers);
        let result = self.host_call(|| {
            hand_over(
                io,
                code,
                line,
                headers_now.then_some(&headers[..]),
                &held,
                data,
                flush,
            )
        });
        self.headers_sent = true;
        self.deferred_headers = false;
        result.map_err(OutputError::Io)
    }

    /// Hands held-back output to the host at request end. Called with the
    /// GIL released (the request's Python objects are expired by then).
    /// A failure makes the response incomplete, as a failed write would
    /// have mid-request.
    fn send_deferred(&mut self) {
        if !self.has_deferred() {
            return;
        }
        let Some((code, line)) = &self.status else {
            return;
        };
        let headers = self.deferred_headers.then_some(&self.headers[..]);
        let result = hand_over(self.io, *code, line, headers, &self.deferred, &[], false);
        self.deferred_headers = false;
        self.deferred = Vec::new();
        match result {
            Ok(()) => {}
            Err(IoError::ClientGone) => self.client_gone = true,
            Err(err) => {
                self.failed = true;
                let reason = match err {
                    IoError::Timeout => "Connection timed out",
                    _ => "write failed",
                };
                let message = format!(
                    "WSGIRT0305: mod_wsgi (pid={}): Failed to write response data: {reason}.",
                    std::process::id()
                );
                logging::log(Level::Err, self.log_ctx, &message);
            }
        }
    }

    /// Runs a host call with the GIL released, marking the request busy.
    pub fn host_call<R>(&self, f: impl FnOnce() -> Result<R, IoError>) -> Result<R, IoError> {
        self.busy.set(true);
        let started = Instant::now();
        let result = tstate::allow_threads(f);
        self.output_time
            .set(self.output_time.get() + started.elapsed());
        self.busy.set(false);
        result
    }

    /// Records the effect of a failed response write (never of a body read:
    /// see `input::input_failed`).
    pub fn note_io_error(&mut self, err: IoError) {
        if err == IoError::ClientGone {
            self.client_gone = true;
        }
    }
}

/// The host calls that hand output over, in order: the status and
/// `headers` (when they are due), the held-back bytes `held`, then `data`.
/// Only the last write carries `flush`.
fn hand_over(
    io: &dyn HostIo,
    code: u16,
    line: &[u8],
    headers: Option<&[(Vec<u8>, Vec<u8>)]>,
    held: &[u8],
    data: &[u8],
    flush: bool,
) -> Result<(), IoError> {
    if let Some(headers) = headers {
        io.start_response(code, line, headers)?;
    }
    if !held.is_empty() {
        io.write(held, flush && data.is_empty())?;
    }
    if !data.is_empty() {
        io.write(data, flush)?;
    }
    Ok(())
}

/// Raises the `IOError` mod_wsgi raises for a failed client write.
///
/// # Safety
/// GIL held.
pub unsafe fn raise_write_error(err: IoError) {
    let message = match err {
        IoError::ClientGone => "Apache/mod_wsgi client connection closed.",
        IoError::Timeout => "Apache/mod_wsgi failed to write response data: Connection timed out",
        IoError::Failed => "Apache/mod_wsgi failed to write response data",
    };
    // SAFETY: per contract.
    unsafe { error::set(ffi::PyExc_OSError, message) }
}

/// Raises "request object has expired" and returns NULL.
///
/// # Safety
/// GIL held.
pub unsafe fn expired() -> *mut ffi::PyObject {
    // SAFETY: per contract.
    unsafe { error::set(ffi::PyExc_RuntimeError, "request object has expired") };
    std::ptr::null_mut()
}

/// Raises an error for concurrent use of one request's objects.
///
/// # Safety
/// GIL held.
pub unsafe fn busy() -> *mut ffi::PyObject {
    // SAFETY: per contract.
    unsafe {
        error::set(
            ffi::PyExc_RuntimeError,
            "request object used concurrently from another thread",
        )
    };
    std::ptr::null_mut()
}

/// Logs the pending Python exception the way mod_wsgi does: a header line
/// naming the script, then the traceback, one log line per line; clears it.
///
/// # Safety
/// GIL held.
pub unsafe fn log_exception(script_path: &str, log_ctx: *mut c_void) {
    // SAFETY: per contract.
    unsafe { log_request_exception(script_path, log_ctx, None) }
}

/// [`log_exception`] for an exception the application raised during a
/// request: with subscribers (`events`), `request_exception` is published
/// after the traceback was formatted, as mod_wsgi does.
///
/// # Safety
/// GIL held.
pub unsafe fn log_request_exception(
    script_path: &str,
    log_ctx: *mut c_void,
    events: Option<&EventContext>,
) {
    // SAFETY: per contract.
    let Some(exc) = (unsafe { PyException::fetch() }) else {
        return;
    };
    // SAFETY: GIL held; SystemExit is a static exception type.
    let system_exit = unsafe { exc.matches(ffi::PyExc_SystemExit) };
    let pid = std::process::id();
    let mut lines = Vec::with_capacity(16);
    if system_exit {
        lines.push(format!(
            "WSGIRT0302: mod_wsgi (pid={pid}): SystemExit exception raised by WSGI script '{script_path}' ignored."
        ));
    } else {
        lines.push(format!(
            "WSGIRT0301: mod_wsgi (pid={pid}): Exception occurred processing WSGI script '{script_path}'."
        ));
    }
    // SAFETY: GIL held; format_lines never leaves an exception pending.
    lines.extend(unsafe { exc.format_lines() });
    if let Some(context) = events {
        let value = exc
            .value
            .as_ref()
            .map_or(std::ptr::null_mut(), |v| v.as_ptr());
        let tb = exc
            .traceback
            .as_ref()
            .map_or(std::ptr::null_mut(), |v| v.as_ptr());
        // SAFETY: GIL held, the request's interpreter attached; no exception pending.
        unsafe { tracking::request_exception(context, exc.ptype.as_ptr(), value, tb) };
    }
    drop(exc);
    tstate::allow_threads(|| {
        for line in &lines {
            logging::log(Level::Err, log_ctx, line);
        }
    });
}

/// mod_wsgi's debug line when the body did not match its `Content-Length`:
/// more bytes than declared, or (after a clean finish) fewer.
fn log_length_mismatch(spec: &RequestSpec<'_>, state: &RequestState<'_>, outcome: Outcome) {
    let Some(expected) = state.content_length else {
        return;
    };
    let clean = outcome == Outcome::Responded && !state.failed && !state.client_gone;
    if state.generated > expected || (clean && state.generated != expected) {
        logging::log(
            Level::Debug,
            spec.log_ctx,
            &format!(
                "mod_wsgi (pid={}): Content length mismatch, expected {expected}, response generated {}: {}",
                std::process::id(),
                state.generated,
                spec.resource_name()
            ),
        );
    }
}

/// Runs one request in `interp` and reports how it ended.
pub fn run(interp: &Interp, spec: &RequestSpec<'_>, io: &dyn HostIo) -> Completion {
    let cpu_start = tracking::cpu_sample(interp);
    let attached = tstate::attach(interp);
    let mut state = RequestState::new(io, spec.log_ctx);
    let previous = logging::set_current_request(spec.log_ctx);
    let outcome = run_attached(&attached, spec, &mut state, cpu_start);
    logging::set_current_request(previous);
    if attached.is_nested() {
        tstate::allow_threads(|| state.send_deferred());
    } else {
        drop(attached);
        state.send_deferred();
    }
    log_length_mismatch(spec, &state, outcome);
    Completion {
        outcome,
        http_status: state.status.as_ref().map_or(0, |(code, _)| *code),
        bytes_written: state.bytes_written,
        client_gone: state.client_gone,
        failed_after_start: outcome == Outcome::Responded && state.failed,
    }
}

fn run_attached(
    attached: &Attached<'_>,
    spec: &RequestSpec<'_>,
    state: &mut RequestState<'_>,
    cpu_start: Option<(f64, f64)>,
) -> Outcome {
    let interp = attached.interp;
    let loaded = match script::load(attached, spec) {
        Ok(loaded) => loaded,
        Err(script::LoadError::Failed) => return Outcome::LoadFailed,
        Err(script::LoadError::RestartRequired) => return Outcome::RestartRequired,
    };
    // SAFETY: attached (GIL held); the module and name are alive (owned).
    let callable = unsafe {
        let dict = ffi::PyModule_GetDict(loaded.module.as_ptr());
        let found = ffi::PyDict_GetItemWithError(dict, loaded.callable_name.as_ptr());
        if found.is_null() {
            // A failing key comparison counts as "not found", as before.
            ffi::PyErr_Clear();
        }
        PyOwned::from_borrowed(found)
    };
    let Some(callable) = callable else {
        let message = format!(
            "WSGIRT0303: mod_wsgi (pid={}): Target WSGI script '{}' does not contain WSGI application '{}'.",
            std::process::id(),
            spec.script_path,
            spec.callable
        );
        let ctx = spec.log_ctx;
        tstate::allow_threads(|| logging::log(Level::Err, ctx, &message));
        return Outcome::CallableMissing;
    };
    drop(loaded);

    // SAFETY: GIL held; objects below live for this scope and the raw
    // state pointer is cleared before `state` goes out of scope.
    unsafe {
        let types = interp.types();
        state.file_wrapper_type = types.file_wrapper;
        state.request_timeout_type = types.request_timeout;
        state.name_close = interp.cache().name_close;
        let state_ptr = (state as *mut RequestState<'_>).cast::<c_void>();
        // From here on an exception belongs to the request: mod_wsgi names
        // the requested resource (`r->filename`), not a handler script.
        let Some(wsgi_input) = input::new_input(types.input, state_ptr) else {
            log_exception(&spec.resource_name(), spec.log_ctx);
            return Outcome::AppError;
        };
        let Some(errors) = crate::module::log_object::new_log(types.log, Level::Err, spec.log_ctx)
        else {
            log_exception(&spec.resource_name(), spec.log_ctx);
            return Outcome::AppError;
        };
        let Some(start) = start_response::new_start_response(types.start_response, state_ptr)
        else {
            log_exception(&spec.resource_name(), spec.log_ctx);
            return Outcome::AppError;
        };
        let environ = environ::build(interp, spec.environ, wsgi_input.as_ptr(), errors.as_ptr());
        let tracked = environ.and_then(|environ| {
            let tracking = Tracking::begin(interp, spec, cpu_start)?;
            Some((environ, tracking))
        });
        let outcome = match tracked {
            Some((environ, tracking)) => {
                state.events = tracking.event_context(interp);
                let callable = tracking.request_started(interp, spec, callable, environ.as_ptr());
                let outcome = response::respond(
                    callable.as_ptr(),
                    environ.as_ptr(),
                    start.as_ptr(),
                    state,
                    spec,
                    errors.as_ptr(),
                );
                tracking.finish(interp, state);
                state.events = None;
                outcome
            }
            None => {
                log_exception(&spec.resource_name(), spec.log_ctx);
                Outcome::AppError
            }
        };
        input::expire(wsgi_input.as_ptr());
        start_response::expire(start.as_ptr());
        crate::module::log_object::finish(errors.as_ptr());
        outcome
    }
}

/// Validation of a status line from Python, for `start_response`.
pub fn check_status(line: &[u8]) -> Result<u16, validate::Invalid> {
    validate::status_line(line)
}
