//! `wsgirt_request_run`: one WSGI request through the host's callbacks.

use crate::capi::boundary::{pairs, status_boundary, text};
use crate::capi::host::CHost;
use crate::capi::runtime::{status_of, wsgirt_runtime};
use crate::capi::status::wsgirt_status::{self, *};
use crate::wsgi::request::{Outcome, RequestSpec};
use std::ffi::{c_char, c_int, c_void};

/// A byte string: `len` bytes at `ptr` (not NUL-terminated; NULL only when
/// `len` is 0).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct wsgirt_str {
    pub ptr: *const c_char,
    pub len: usize,
}

impl wsgirt_str {
    /// A borrowed view of `bytes` (valid while they are).
    pub fn of(bytes: &[u8]) -> wsgirt_str {
        wsgirt_str {
            ptr: bytes.as_ptr().cast(),
            len: bytes.len(),
        }
    }
}

/// A name/value pair of byte strings (environ variables, headers).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct wsgirt_pair {
    pub name: wsgirt_str,
    pub value: wsgirt_str,
}

/// What a host I/O callback reports (returned as `uint32_t`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wsgirt_io {
    /// Done.
    WSGIRT_IO_OK = 0,
    /// The client closed the connection (not logged as an error).
    WSGIRT_IO_CLIENT_GONE = 1,
    /// The client connection timed out (logged).
    WSGIRT_IO_TIMEOUT = 2,
    /// Any other failure (logged).
    WSGIRT_IO_ERROR = 3,
}

/// `wsgirt_write_cb` flag: pass the data to the client now.
pub const WSGIRT_WRITE_FLUSH: u32 = 1;

/// Reads up to `capacity` body bytes into `buf`, storing the count in
/// `*out_len`; 0 means end of body. The host must never return bytes past
/// the request body (it knows Content-Length or the chunked framing).
/// `capacity` 0 comes once at most, for the application's first
/// `read(0)`: read nothing, but do what starting the body takes (answer an
/// `Expect: 100-continue`, as mod_wsgi does then); it does not mean the end.
pub type wsgirt_read_cb = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        buf: *mut u8,
        capacity: usize,
        out_len: *mut usize,
    ) -> u32,
>;

/// Sets the response status (`status_line` is e.g. `200 OK`) and headers
/// (latin-1 bytes, already validated). Called once, before any body data.
pub type wsgirt_start_response_cb = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        status: u16,
        status_line: *const c_char,
        status_line_len: usize,
        headers: *const wsgirt_pair,
        headers_len: usize,
    ) -> u32,
>;

/// Sends `len` body bytes; `flags` may hold `WSGIRT_WRITE_FLUSH`. The data
/// is only valid during the call (copy or send it before returning).
pub type wsgirt_write_cb =
    Option<unsafe extern "C" fn(ctx: *mut c_void, data: *const u8, len: usize, flags: u32) -> u32>;

/// Sends `len` bytes of the regular file `fd` from `offset` (the sendfile
/// path of `wsgi.file_wrapper`). `fd` belongs to the application and is
/// only valid during the call: the host sends (or `dup`s) before returning.
pub type wsgirt_send_file_cb =
    Option<unsafe extern "C" fn(ctx: *mut c_void, fd: c_int, offset: u64, len: u64) -> u32>;

/// The host's callbacks for one request. `struct_size` must be
/// `sizeof(wsgirt_host_io)`. `read`, `start_response` and `write` are
/// required; `send_file` may be NULL (file wrappers are then iterated).
///
/// Every callback is called on the thread running the request, with the
/// GIL released, never re-entered, and must not unwind.
#[repr(C)]
pub struct wsgirt_host_io {
    pub struct_size: usize,
    pub read: wsgirt_read_cb,
    pub start_response: wsgirt_start_response_cb,
    pub write: wsgirt_write_cb,
    pub send_file: wsgirt_send_file_cb,
}

/// What to run. `struct_size` must be `sizeof(wsgirt_request_spec)`.
#[repr(C)]
pub struct wsgirt_request_spec {
    pub struct_size: usize,
    /// Application group (`""` or `%{GLOBAL}`: the main interpreter).
    pub application_group: wsgirt_str,
    /// Absolute path of the WSGI script file.
    pub script_path: wsgirt_str,
    /// Callable name; empty means `application`.
    pub callable_object: wsgirt_str,
    /// Reload the script when its modification time changes, or when the
    /// script's own `reload_required(resource)` function answers true
    /// (`resource` is the environ's `SCRIPT_FILENAME`), as mod_wsgi's
    /// `WSGIScriptReloading On`.
    pub reload_script: bool,
    /// The script's mtime in microseconds if the host knows it (saves a
    /// `stat`), else 0.
    pub script_mtime: i64,
    /// CGI variables (`REQUEST_METHOD`, `HTTP_*`, `mod_wsgi.*`, …), as
    /// bytes; values become latin-1 decoded `str`.
    pub environ: *const wsgirt_pair,
    pub environ_len: usize,
    /// Passed back to the log callback with this request's lines.
    pub log_ctx: *mut c_void,
}

/// How a request ended. `struct_size` must be set by the caller to
/// `sizeof(wsgirt_request_result)`.
#[repr(C)]
pub struct wsgirt_request_result {
    pub struct_size: usize,
    /// The status the application set (0 if none).
    pub http_status: u16,
    /// Body bytes handed to the host.
    pub bytes_written: u64,
    /// The client went away during the request.
    pub client_gone: bool,
    /// The response started but is incomplete (the application failed
    /// mid-body): the host must let the client see the truncation (no
    /// final chunk, or close the connection).
    pub incomplete: bool,
}

/// Runs one WSGI request: loads (or reloads) the script into the group's
/// interpreter, builds the environ, calls the application and delivers its
/// response through `io`.
///
/// Returns `OK` when a response was started (`*out` says how it ended);
/// `SCRIPT_LOAD_FAILED` (answer 500), `CALLABLE_NOT_FOUND` (answer 404, as
/// mod_wsgi), `APP_ERROR` (answer 500) or `CLIENT_GONE` when none was, with
/// the reason logged; `*out` is then left untouched.
///
/// Threading: any host thread, concurrently; the thread is bound to the
/// main interpreter on first use and keeps one thread state per
/// interpreter. `io_ctx` is passed to every callback.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `(pointer, length)` pairs must describe readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_request_run(
    runtime: *const wsgirt_runtime,
    spec: *const wsgirt_request_spec,
    io: *const wsgirt_host_io,
    io_ctx: *mut c_void,
    out: *mut wsgirt_request_result,
) -> wsgirt_status {
    status_boundary(|| {
        if runtime.is_null() || spec.is_null() || io.is_null() || out.is_null() {
            return WSGIRT_STATUS_NULL_ARG;
        }
        // SAFETY: non-NULL pointers to live objects, per the contract.
        let (rt, spec, io) = unsafe { (&*runtime, &*spec, &*io) };
        if spec.struct_size < std::mem::size_of::<wsgirt_request_spec>() || !io.usable() {
            return WSGIRT_STATUS_INVALID_ARG;
        }
        // SAFETY: the spec's strings and pairs are valid per the contract.
        let strings = unsafe {
            (
                text(spec.application_group.ptr, spec.application_group.len),
                text(spec.script_path.ptr, spec.script_path.len),
                text(spec.callable_object.ptr, spec.callable_object.len),
            )
        };
        let (Some(group), Some(script_path), Some(callable)) = strings else {
            return WSGIRT_STATUS_INVALID_ARG;
        };
        // SAFETY: the spec's pairs are valid per the contract.
        let pairs = match unsafe { pairs(spec.environ, spec.environ_len) } {
            Ok(pairs) => pairs,
            Err(status) => return status,
        };
        let request = RequestSpec {
            script_path,
            callable: if callable.is_empty() {
                "application"
            } else {
                callable
            },
            reload_script: spec.reload_script,
            script_mtime: (spec.script_mtime != 0).then_some(spec.script_mtime),
            reload_hook: crate::wsgi::script::ReloadHook::ReloadModule,
            environ: &pairs,
            log_ctx: spec.log_ctx,
        };
        let host = CHost::new(io, io_ctx);
        let completion = match rt.inner.run_request(group, &request, &host) {
            Ok(completion) => completion,
            Err(err) => return status_of(&err),
        };
        match completion.outcome {
            Outcome::Responded => {
                // SAFETY: `out` is non-NULL and writable per the contract.
                unsafe {
                    (*out).http_status = completion.http_status;
                    (*out).bytes_written = completion.bytes_written;
                    (*out).client_gone = completion.client_gone;
                    (*out).incomplete = completion.failed_after_start;
                }
                WSGIRT_STATUS_OK
            }
            Outcome::LoadFailed => WSGIRT_STATUS_SCRIPT_LOAD_FAILED,
            Outcome::CallableMissing => WSGIRT_STATUS_CALLABLE_NOT_FOUND,
            Outcome::AppError => WSGIRT_STATUS_APP_ERROR,
            Outcome::ClientGone => WSGIRT_STATUS_CLIENT_GONE,
            Outcome::Interrupted => WSGIRT_STATUS_REQUEST_TIMEOUT,
            // Never here: this entry point reloads a script in place
            // (`ReloadHook::ReloadModule`); only daemon processes restart.
            Outcome::RestartRequired => WSGIRT_STATUS_SCRIPT_LOAD_FAILED,
        }
    })
}
