//! Calling the application and delivering its response (PEP 3333):
//! the iterable is sent block by block as produced (a list or tuple in one
//! pass without flushes), a `FileWrapper` around a real file goes to the
//! host's send-file callback, output past `Content-Length` is dropped, and
//! `close()` is always called, also after errors and client disconnects.

use crate::logging::{self, Level};
use crate::python::error::PyException;
use crate::python::object::{self, PyOwned};
use crate::python::tstate;
use crate::wsgi::file_wrapper;
use crate::wsgi::host::IoError;
use crate::wsgi::request::{self, Outcome, OutputError, RequestSpec, RequestState};
use pyo3::ffi;
use std::ffi::CStr;

/// How sending the body ended.
enum Sent {
    Done,
    /// The client went away; stop quietly.
    ClientGone,
    /// A Python exception is pending.
    Raised,
}

/// Calls `callable(environ, start_response)` and sends the response.
///
/// # Safety
/// GIL held with the request's interpreter attached; all pointers valid.
pub unsafe fn respond(
    callable: *mut ffi::PyObject,
    environ: *mut ffi::PyObject,
    start_response: *mut ffi::PyObject,
    state: &mut RequestState<'_>,
    spec: &RequestSpec<'_>,
    _errors: *mut ffi::PyObject,
) -> Outcome {
    // SAFETY: per contract.
    unsafe {
        let Some(result) = object::call(callable, &[environ, start_response]) else {
            report_exception(state, spec);
            return outcome(state);
        };
        let sent = send_body(result.as_ptr(), state, spec);
        if let Sent::Raised = sent {
            report_exception(state, spec);
        }
        if let Sent::Done = sent {
            // An empty body still needs its headers (or raises if
            // start_response was never called).
            if let Err(err) = state.send_headers() {
                if let OutputError::Io(err) = err {
                    state.note_io_error(err);
                }
                report_exception(state, spec);
            }
        }
        call_close(result.as_ptr(), state, spec);
        outcome(state)
    }
}

fn outcome(state: &RequestState<'_>) -> Outcome {
    if state.headers_sent {
        Outcome::Responded
    } else if state.interrupted {
        Outcome::Interrupted
    } else if state.client_gone {
        Outcome::ClientGone
    } else {
        Outcome::AppError
    }
}

/// Logs the pending exception unless it is the `IOError` raised into the
/// application because a response write found the client gone (that is
/// not an app error). A failed body read does not set `client_gone`, so
/// its `IOError` is logged like any other exception, as mod_wsgi does.
unsafe fn report_exception(state: &mut RequestState<'_>, spec: &RequestSpec<'_>) {
    // SAFETY: GIL held by the caller.
    unsafe {
        if ffi::PyErr_Occurred().is_null() {
            return;
        }
        if state.headers_sent {
            state.failed = true;
        }
        if !state.request_timeout_type.is_null()
            && ffi::PyErr_ExceptionMatches(state.request_timeout_type) != 0
        {
            state.interrupted = true;
        }
        if state.client_gone && ffi::PyErr_ExceptionMatches(ffi::PyExc_OSError) != 0 {
            drop(PyException::fetch());
            let ctx = spec.log_ctx;
            let message = format!(
                "mod_wsgi (pid={}): Client closed connection.",
                std::process::id()
            );
            tstate::allow_threads(|| logging::log(Level::Debug, ctx, &message));
            return;
        }
        let events = state.events;
        request::log_request_exception(&spec.resource_name(), spec.log_ctx, events.as_ref());
    }
}

unsafe fn io_failure(state: &mut RequestState<'_>, err: IoError) -> Sent {
    state.note_io_error(err);
    if err == IoError::ClientGone {
        return Sent::ClientGone;
    }
    // SAFETY: GIL held by callers.
    unsafe { request::raise_write_error(err) };
    Sent::Raised
}

unsafe fn send_block(
    state: &mut RequestState<'_>,
    item: *mut ffi::PyObject,
    flush: bool,
) -> Option<Sent> {
    // SAFETY: GIL held; `item` kept alive by the caller while the GIL is released.
    unsafe {
        if ffi::PyBytes_Check(item) == 0 {
            let name = CStr::from_ptr((*ffi::Py_TYPE(item)).tp_name).to_string_lossy();
            let message =
                format!("sequence of byte string values expected, value of type {name} found");
            crate::python::error::set(ffi::PyExc_TypeError, &message);
            return Some(Sent::Raised);
        }
        let data = object::bytes_as_slice(item);
        if data.is_empty() {
            return None;
        }
        match state.output(data, flush) {
            Ok(()) => None,
            Err(OutputError::Raised) => Some(Sent::Raised),
            Err(OutputError::Io(err)) => Some(io_failure(state, err)),
        }
    }
}

unsafe fn send_body(
    result: *mut ffi::PyObject,
    state: &mut RequestState<'_>,
    spec: &RequestSpec<'_>,
) -> Sent {
    // SAFETY: GIL held by the caller; every borrowed item is kept alive by its container.
    unsafe {
        if let Some(sent) = send_file(result, state) {
            return sent;
        }
        let _ = spec;
        if ffi::PyList_CheckExact(result) != 0 || ffi::PyTuple_CheckExact(result) != 0 {
            // Everything is known up front: no flush per item.
            let Some(seq) = PyOwned::from_owned(ffi::PySequence_Fast(result, c"".as_ptr())) else {
                return Sent::Raised;
            };
            let n = ffi::PySequence_Fast_GET_SIZE(seq.as_ptr());
            for i in 0..n {
                let Some(item) =
                    PyOwned::from_borrowed(ffi::PySequence_Fast_GET_ITEM(seq.as_ptr(), i))
                else {
                    return Sent::Raised;
                };
                if let Some(stop) = send_block(state, item.as_ptr(), false) {
                    return stop;
                }
            }
            return Sent::Done;
        }
        let Some(iter) = PyOwned::from_owned(ffi::PyObject_GetIter(result)) else {
            return Sent::Raised;
        };
        loop {
            let Some(item) = PyOwned::from_owned(ffi::PyIter_Next(iter.as_ptr())) else {
                return if ffi::PyErr_Occurred().is_null() {
                    Sent::Done
                } else {
                    Sent::Raised
                };
            };
            // Each yielded block reaches the client when yielded (PEP 3333).
            if let Some(stop) = send_block(state, item.as_ptr(), true) {
                return stop;
            }
        }
    }
}

/// The send-file path for a `FileWrapper` around a regular file; `None`
/// when it does not apply (the caller then iterates the wrapper).
unsafe fn send_file(result: *mut ffi::PyObject, state: &mut RequestState<'_>) -> Option<Sent> {
    if state.bytes_written != 0 {
        return None;
    }
    let tp = state.file_wrapper_type;
    // SAFETY: GIL held by the caller.
    let (fd, offset, mut len) = unsafe { file_wrapper::real_file(result, tp)? };
    match state.content_length {
        Some(limit) => len = len.min(limit),
        None => {
            state
                .headers
                .push((b"Content-Length".to_vec(), len.to_string().into_bytes()));
            state.content_length = Some(len);
        }
    }
    if let Err(err) = state.send_headers() {
        return Some(match err {
            OutputError::Raised => Sent::Raised,
            // SAFETY: GIL held.
            OutputError::Io(err) => unsafe { io_failure(state, err) },
        });
    }
    let io = state.io;
    let sent = state.host_call(|| Ok(io.send_file(fd, offset, len)));
    match sent {
        // The host has no send-file path: iterate the wrapper instead
        // (headers, with the length, are already set).
        Ok(None) => None,
        // SAFETY: GIL held (re-acquired by host_call).
        Ok(Some(Err(err))) => Some(unsafe { io_failure(state, err) }),
        Ok(Some(Ok(()))) => {
            state.bytes_written += len;
            state.generated += len;
            state.output_writes += 1;
            Some(Sent::Done)
        }
        // SAFETY: GIL held (re-acquired by host_call).
        Err(err) => Some(unsafe { io_failure(state, err) }),
    }
}

unsafe fn call_close(
    result: *mut ffi::PyObject,
    state: &mut RequestState<'_>,
    spec: &RequestSpec<'_>,
) {
    // SAFETY: GIL held by the caller.
    unsafe {
        // Exact lists and tuples have no `close`: skip the failing lookup
        // (it builds an AttributeError message on every such response).
        if ffi::PyList_CheckExact(result) != 0 || ffi::PyTuple_CheckExact(result) != 0 {
            return;
        }
        // One lookup with the interned name; any lookup error means "no
        // close", as `hasattr` has it.
        let close = if state.name_close.is_null() {
            ffi::PyObject_GetAttrString(result, c"close".as_ptr())
        } else {
            ffi::PyObject_GetAttr(result, state.name_close)
        };
        let Some(close) = PyOwned::from_owned(close) else {
            ffi::PyErr_Clear();
            return;
        };
        if object::call(close.as_ptr(), &[]).is_none() {
            // Logged, but a body that was sent completely stays complete
            // (mod_wsgi 4.9.4 ends the response normally too).
            let failed = state.failed;
            report_exception(state, spec);
            state.failed = failed;
        }
    }
}
