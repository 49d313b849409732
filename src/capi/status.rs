//! Status codes returned by every fallible export.

use crate::capi::boundary::ffi_boundary;
use std::ffi::c_char;

/// Result of a C API call. Values are grouped by area and never renumbered;
/// retired values stay reserved.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wsgirt_status {
    /// Success.
    WSGIRT_STATUS_OK = 0,
    /// A required pointer argument was NULL.
    WSGIRT_STATUS_NULL_ARG = 1,
    /// An argument was out of range or not valid UTF-8.
    WSGIRT_STATUS_INVALID_ARG = 2,
    /// An internal error (a Rust panic) was caught; details are in the log.
    WSGIRT_STATUS_PANIC = 3,
    /// The caller was compiled against an incompatible `WSGIRT_ABI_VERSION`.
    WSGIRT_STATUS_ABI_MISMATCH = 4,
    /// Called from a process other than the one that created the runtime
    /// (for example a forked child).
    WSGIRT_STATUS_WRONG_PROCESS = 5,
    /// Python is already initialised in this process by another runtime.
    WSGIRT_STATUS_ALREADY_INITIALIZED = 6,
    /// The runtime is shutting down.
    WSGIRT_STATUS_SHUTTING_DOWN = 7,
    /// The call does not handle this input (for example a file it does not
    /// map); the caller takes its other path.
    WSGIRT_STATUS_UNSUPPORTED = 8,
    /// Python could not be initialised (see the log).
    WSGIRT_STATUS_PYTHON_INIT_FAILED = 100,
    /// An application group's interpreter could not be created.
    WSGIRT_STATUS_INTERPRETER_FAILED = 101,
    /// The script could not be read, compiled or executed (traceback
    /// logged); mod_wsgi answers 500.
    WSGIRT_STATUS_SCRIPT_LOAD_FAILED = 201,
    /// The script has no such callable (logged); mod_wsgi answers 404.
    WSGIRT_STATUS_CALLABLE_NOT_FOUND = 202,
    /// The application failed before starting a response (traceback
    /// logged); answer 500.
    WSGIRT_STATUS_APP_ERROR = 300,
    /// The client went away before a response was started.
    WSGIRT_STATUS_CLIENT_GONE = 301,
    /// `mod_wsgi.RequestTimeout` (interrupt-timeout) ended the application
    /// before it started a response: answer 504.
    WSGIRT_STATUS_REQUEST_TIMEOUT = 302,
    /// Daemon mode: the daemon process could not be reached (connect
    /// failed or timed out, or it kept restarting); logged. Answer 503.
    WSGIRT_STATUS_DAEMON_UNAVAILABLE = 400,
    /// Daemon mode: the request waited longer than queue-timeout, or the
    /// response head did not arrive within socket-timeout; logged. Answer 504.
    WSGIRT_STATUS_DAEMON_TIMEOUT = 401,
    /// Daemon mode: the daemon process died, closed the connection or broke
    /// the protocol before a response started; logged. Answer 500.
    WSGIRT_STATUS_DAEMON_FAILED = 402,
    /// Daemon mode: reading the request body from the client timed out
    /// (Apache's `Timeout`) and the daemon ended without a response;
    /// logged. Answer 408, as mod_wsgi does.
    WSGIRT_STATUS_BODY_TIMEOUT = 403,
}

/// A static, NUL-terminated description of `status` ("unknown status" for
/// values this library does not know). Never NULL; do not free.
///
/// Threading: callable from any thread at any time.
#[unsafe(no_mangle)]
pub extern "C" fn wsgirt_status_str(status: u32) -> *const c_char {
    ffi_boundary(c"internal error".as_ptr(), || {
        let text = match status {
            0 => c"ok",
            1 => c"required pointer argument was NULL",
            2 => c"invalid argument",
            3 => c"internal error (panic)",
            4 => c"ABI version mismatch",
            5 => c"called from the wrong process",
            6 => c"Python already initialised in this process",
            7 => c"runtime is shutting down",
            8 => c"not supported for this input",
            100 => c"Python initialisation failed",
            101 => c"interpreter creation failed",
            201 => c"WSGI script could not be loaded",
            202 => c"WSGI script has no such callable",
            300 => c"application error",
            301 => c"client connection closed",
            302 => c"request interrupted by RequestTimeout",
            400 => c"daemon process unavailable",
            401 => c"daemon process timed out",
            402 => c"daemon process failed",
            403 => c"request body read timed out",
            _ => c"unknown status",
        };
        text.as_ptr()
    })
}
