//! `wsgirt_runtime`: Python's lifecycle in this process and application groups.

use crate::capi::boundary::{status_boundary, text};
use crate::capi::config::wsgirt_config;
use crate::capi::status::wsgirt_status::{self, *};
use crate::capi::version::WSGIRT_ABI_VERSION;
use crate::logging;
use crate::runtime::{Runtime, RuntimeError};
use std::ffi::c_char;
use std::sync::Arc;

/// Opaque runtime handle, backed by an `Arc<Runtime>`. One per process.
/// Methods: `wsgirt_runtime_new`, `wsgirt_runtime_free`,
/// `wsgirt_runtime_prepare_group`, `wsgirt_runtime_import_script`,
/// `wsgirt_request_run`.
pub struct wsgirt_runtime {
    pub(crate) inner: Arc<Runtime>,
}

/// Maps runtime errors onto statuses.
pub(crate) fn status_of(err: &RuntimeError) -> wsgirt_status {
    match err {
        RuntimeError::AlreadyInitialized => WSGIRT_STATUS_ALREADY_INITIALIZED,
        RuntimeError::PythonInitFailed(_) => WSGIRT_STATUS_PYTHON_INIT_FAILED,
        RuntimeError::WrongProcess => WSGIRT_STATUS_WRONG_PROCESS,
        RuntimeError::ShuttingDown => WSGIRT_STATUS_SHUTTING_DOWN,
        RuntimeError::InterpreterFailed => WSGIRT_STATUS_INTERPRETER_FAILED,
        RuntimeError::ScriptLoadFailed => WSGIRT_STATUS_SCRIPT_LOAD_FAILED,
    }
}

/// Starts Python in the calling process with `config` (which is copied;
/// free it whenever convenient) and returns the runtime.
///
/// Call it in the process that will serve, after any fork and privilege
/// drop (for Apache: in `child_init`, never in the parent). The calling
/// thread becomes Python's main thread. `abi_version` must be the
/// `WSGIRT_ABI_VERSION` the caller was compiled with.
///
/// Ownership: on success `*out` is owned by the caller; release it with
/// `wsgirt_runtime_free`. Threading: call once per process.
/// Returns `ABI_MISMATCH`, `ALREADY_INITIALIZED`, `PYTHON_INIT_FAILED`.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `(pointer, length)` pairs must describe readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_runtime_new(
    abi_version: u32,
    config: *const wsgirt_config,
    out: *mut *mut wsgirt_runtime,
) -> wsgirt_status {
    status_boundary(|| {
        if config.is_null() || out.is_null() {
            return WSGIRT_STATUS_NULL_ARG;
        }
        if abi_version != WSGIRT_ABI_VERSION {
            return WSGIRT_STATUS_ABI_MISMATCH;
        }
        // SAFETY: non-NULL and, per the contract, a live configuration.
        let config = unsafe { &*config };
        // Refuse before touching the log sink, which belongs to the
        // runtime already running.
        if crate::runtime::python_started() {
            return WSGIRT_STATUS_ALREADY_INITIALIZED;
        }
        logging::set_sink(config.log, config.log_userdata);
        // The hooks take the log callback's userdata, whichever was set first.
        logging::set_request_log_hooks(config.request_log.map(|hooks| logging::RequestLogHooks {
            userdata: config.log_userdata,
            ..hooks
        }));
        crate::diagnostics::metrics::set_scoreboard_reader(
            config.scoreboard.clone().map(|read| {
                Box::new(move || read()) as crate::diagnostics::metrics::ScoreboardReader
            }),
        );
        match Runtime::start(config.config.clone()) {
            Ok(inner) => {
                let handle = Box::new(wsgirt_runtime { inner });
                // SAFETY: `out` is non-NULL and writable per the contract.
                unsafe { *out = Box::into_raw(handle) };
                WSGIRT_STATUS_OK
            }
            Err(err) => status_of(&err),
        }
    })
}

/// Stops Python (sub-interpreters first, each waiting for its non-daemon
/// threads and running its `atexit` callbacks) and frees the runtime.
/// NULL is a no-op. No request may be running and no other thread may call
/// into the runtime any more; call it from the thread that created it when
/// possible. Python cannot be started again in this process.
///
/// With `WSGIRT_FLAG_DESTROY_INTERPRETER` off the runtime only publishes
/// `process_stopping` and stops serving: Python keeps running (no `atexit`
/// callbacks) and its memory is left to the process exit, which the host
/// is expected to reach next.
///
/// Ownership: consumes `runtime`.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `(pointer, length)` pairs must describe readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_runtime_free(runtime: *mut wsgirt_runtime) {
    let _ = status_boundary(|| {
        if runtime.is_null() {
            return WSGIRT_STATUS_OK;
        }
        // SAFETY: `runtime` came from `wsgirt_runtime_new` and is freed once.
        let handle = unsafe { Box::from_raw(runtime) };
        if handle.inner.config().destroy_interpreter {
            let _ = handle.inner.shutdown();
        } else {
            let _ = handle.inner.abandon();
            // Python stays up until the process exits, so the runtime's
            // Python references must never be released: leak it on purpose.
            std::mem::forget(handle);
        }
        WSGIRT_STATUS_OK
    });
}

/// Borrows a runtime (NULL: `NULL_ARG`) and runs `f` on it, mapping its
/// error to a status.
pub(crate) fn with_runtime(
    runtime: *const wsgirt_runtime,
    f: impl FnOnce(&Runtime) -> Result<(), RuntimeError>,
) -> wsgirt_status {
    status_boundary(|| {
        if runtime.is_null() {
            return WSGIRT_STATUS_NULL_ARG;
        }
        // SAFETY: non-NULL, and live per the calling export's contract.
        let rt = unsafe { &*runtime };
        match f(&rt.inner) {
            Ok(()) => WSGIRT_STATUS_OK,
            Err(err) => status_of(&err),
        }
    })
}

/// Borrows a runtime and a UTF-8 argument, checking both.
fn with_runtime_text(
    runtime: *const wsgirt_runtime,
    ptr: *const c_char,
    len: usize,
    f: impl FnOnce(&Runtime, &str) -> wsgirt_status,
) -> wsgirt_status {
    status_boundary(|| {
        if runtime.is_null() || (ptr.is_null() && len != 0) {
            return WSGIRT_STATUS_NULL_ARG;
        }
        // SAFETY: the caller passes a live runtime and `len` readable bytes.
        let (rt, value) = unsafe { (&*runtime, text(ptr, len)) };
        match value {
            Some(value) => f(&rt.inner, value),
            None => WSGIRT_STATUS_INVALID_ARG,
        }
    })
}

/// Creates the interpreter for an application group now rather than on its
/// first request (`""` or `%{GLOBAL}`: the main interpreter, always present).
///
/// Threading: any thread, concurrently with requests.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `(pointer, length)` pairs must describe readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_runtime_prepare_group(
    runtime: *const wsgirt_runtime,
    group: *const c_char,
    group_len: usize,
) -> wsgirt_status {
    with_runtime_text(runtime, group, group_len, |rt, group| {
        match rt.group(group) {
            Ok(_) => WSGIRT_STATUS_OK,
            Err(err) => status_of(&err),
        }
    })
}

/// Loads a WSGI script into an application group ahead of requests
/// (`WSGIImportScript`). A load failure is logged with its traceback and
/// returns `WSGIRT_STATUS_SCRIPT_LOAD_FAILED`.
///
/// Threading: any thread, concurrently with requests.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `(pointer, length)` pairs must describe readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_runtime_import_script(
    runtime: *const wsgirt_runtime,
    group: *const c_char,
    group_len: usize,
    script_path: *const c_char,
    script_path_len: usize,
) -> wsgirt_status {
    with_runtime_text(runtime, group, group_len, |rt, group| {
        if script_path.is_null() {
            return WSGIRT_STATUS_NULL_ARG;
        }
        // SAFETY: the caller passes `script_path_len` readable bytes.
        let Some(path) = (unsafe { text(script_path, script_path_len) }) else {
            return WSGIRT_STATUS_INVALID_ARG;
        };
        match rt.import_script(group, path) {
            Ok(()) => WSGIRT_STATUS_OK,
            Err(err) => status_of(&err),
        }
    })
}
