//! `wsgi.input`: the request body as a file-like object.
//!
//! `read()`, `read(n)`, `readline(n)`, `readlines(hint)` and iteration,
//! `b''` at end of body, never reading past it (the host's read callback
//! reports the end). Host reads run with the GIL released.

use crate::module::types::{self, StaticSpec};
use crate::python::error;
use crate::python::object::{self, PyOwned};
use crate::wsgi::host::IoError;
use crate::wsgi::request::{self, RequestState};
use pyo3::ffi;
use std::ffi::c_void;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How much to ask the host for when buffering for `readline`.
const CHUNK: usize = 8192;

/// The most one host read asks for: `read(n)` with a huge `n` (say
/// `read(int(CONTENT_LENGTH))` from a lying client) must not allocate `n`
/// bytes up front; the buffer grows only with data actually received.
const MAX_FILL: usize = 1 << 20;

/// Instance layout: a pointer to the live request, NULL once it ended.
#[repr(C)]
pub struct InputObject {
    ob_base: ffi::PyObject,
    state: *mut c_void,
}

fn spec() -> &'static StaticSpec {
    static SPEC: OnceLock<StaticSpec> = OnceLock::new();
    SPEC.get_or_init(|| {
        types::build_spec(
            c"mod_wsgi.Input",
            std::mem::size_of::<InputObject>(),
            ffi::Py_TPFLAGS_DEFAULT,
            vec![
                (ffi::Py_tp_dealloc, input_dealloc as *mut c_void),
                (ffi::Py_tp_iter, input_iter as *mut c_void),
                (ffi::Py_tp_iternext, input_iternext as *mut c_void),
            ],
            vec![
                types::method_varargs(c"read", input_read),
                types::method_varargs(c"readline", input_readline),
                types::method_varargs(c"readlines", input_readlines),
                types::method_noargs(c"close", input_close),
            ],
            vec![],
        )
    })
}

/// Creates the `Input` type for a module being executed.
///
/// # Safety
/// GIL held.
pub unsafe fn create_type(module: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: per contract.
    unsafe { types::create_type(module, spec()) }
}

/// A new input object for the request at `state`.
///
/// # Safety
/// GIL held; `state` must point at a live `RequestState` until [`expire`].
pub unsafe fn new_input(tp: *mut ffi::PyObject, state: *mut c_void) -> Option<PyOwned> {
    // SAFETY: zeroed allocation of our layout, then the one field set.
    unsafe {
        let obj = PyOwned::from_owned(types::alloc(tp))?;
        (*obj.as_ptr().cast::<InputObject>()).state = state;
        Some(obj)
    }
}

/// Detaches the object from its finished request.
///
/// # Safety
/// GIL held; `obj` is an `Input`.
pub unsafe fn expire(obj: *mut ffi::PyObject) {
    // SAFETY: per contract.
    unsafe { (*obj.cast::<InputObject>()).state = std::ptr::null_mut() }
}

/// The live request of an input object, or NULL with an exception set.
unsafe fn live<'a>(slf: *mut ffi::PyObject) -> Option<&'a mut RequestState<'a>> {
    // SAFETY: `slf` is an Input; a non-NULL state pointer is live (cleared at request end).
    unsafe {
        let state = (*slf.cast::<InputObject>())
            .state
            .cast::<RequestState<'a>>();
        if state.is_null() {
            request::expired();
            return None;
        }
        if (*state).busy.get() {
            request::busy();
            return None;
        }
        Some(&mut *state)
    }
}

/// The live request of an input object that can still be read, or NULL
/// with an exception set (expired, busy, or failed before).
unsafe fn readable<'a>(slf: *mut ffi::PyObject) -> Option<&'a mut RequestState<'a>> {
    // SAFETY: per `live`'s contract; GIL held.
    unsafe {
        let state = live(slf)?;
        if state.input.failed {
            error::set(
                ffi::PyExc_OSError,
                "Apache/mod_wsgi request data read error: Input is already in error state.",
            );
            return None;
        }
        Some(state)
    }
}

/// Raises mod_wsgi's `IOError` for a failed host read. The reason is the
/// APR error text Apache gives mod_wsgi for the same failure (with its
/// trailing full stop): a client that closed the connection mid-body makes
/// Apache's `HTTP_IN` filter return `APR_INCOMPLETE`, a client that stalled
/// past `Timeout` `APR_TIMEUP`.
unsafe fn raise_read_error(err: IoError) {
    let message = match err {
        IoError::ClientGone | IoError::Failed => {
            "Apache/mod_wsgi request data read error: Partial results are valid but processing is incomplete."
        }
        IoError::Timeout => {
            "Apache/mod_wsgi request data read error: The timeout specified has expired."
        }
    };
    // SAFETY: GIL held by callers.
    unsafe { error::set(ffi::PyExc_OSError, message) }
}

/// Runs host reads with the GIL released and the request marked busy (a
/// read of the same input from another thread meanwhile raises); returns
/// their result and how long they waited, for `input_time`.
fn wait_for_host<R>(busy: &std::cell::Cell<bool>, read: impl FnOnce() -> R) -> (R, Duration) {
    busy.set(true);
    let started = Instant::now();
    let result = crate::python::tstate::allow_threads(read);
    let waited = started.elapsed();
    busy.set(false);
    (result, waited)
}

/// A host read failed: as in mod_wsgi, every later read raises too.
///
/// A failed read never marks the client gone (`client_gone`), even when
/// the client closed the connection: the `IOError` it raises is the
/// application's to handle, and one that propagates is an application
/// error (traceback logged, 500), as in mod_wsgi. Only failed response
/// writes are the quiet "Client closed connection." case.
fn input_failed(state: &mut RequestState<'_>) {
    state.input.failed = true;
}

/// Reads more from the host into the buffer; `Ok(false)` at end of body.
fn fill(state: &mut RequestState<'_>, want: usize) -> Result<bool, IoError> {
    if state.input.eof {
        return Ok(false);
    }
    let input = &mut state.input;
    if input.pos > 0 && input.pos == input.buf.len() {
        input.buf.clear();
        input.pos = 0;
    }
    let start = input.buf.len();
    input.buf.resize(start + want.max(1), 0);
    let io = state.io;
    let buf = &mut state.input.buf[start..];
    let (read, waited) = wait_for_host(&state.busy, || io.read(buf));
    state.input.time += waited;
    match read {
        Ok(0) => {
            state.input.buf.truncate(start);
            state.input.eof = true;
            Ok(false)
        }
        Ok(n) => {
            state.input.buf.truncate(start + n);
            state.input.bytes += n as u64;
            state.input.reads += 1;
            Ok(true)
        }
        Err(err) => {
            state.input.buf.truncate(start);
            input_failed(state);
            Err(err)
        }
    }
}

/// Takes up to `n` buffered bytes.
fn take(state: &mut RequestState<'_>, n: usize) -> Vec<u8> {
    let input = &mut state.input;
    let end = input.pos.saturating_add(n).min(input.buf.len());
    let out = input.buf[input.pos..end].to_vec();
    input.pos = end;
    out
}

fn buffered(state: &RequestState<'_>) -> usize {
    state.input.buf.len() - state.input.pos
}

/// `read(size)`: `None` or negative reads everything.
fn read_bytes(state: &mut RequestState<'_>, size: Option<usize>) -> Result<Vec<u8>, IoError> {
    match size {
        Some(n) => {
            while buffered(state) < n {
                let want = (n - buffered(state)).clamp(CHUNK, MAX_FILL);
                if !fill(state, want)? {
                    break;
                }
            }
            Ok(take(state, n))
        }
        None => {
            while fill(state, CHUNK * 8)? {}
            Ok(take(state, usize::MAX))
        }
    }
}

/// `readline(size)`: up to and including the next newline.
fn read_line(state: &mut RequestState<'_>, limit: Option<usize>) -> Result<Vec<u8>, IoError> {
    let mut scanned = 0;
    loop {
        let input = &state.input;
        let window = &input.buf[input.pos..];
        if let Some(i) = window[scanned..].iter().position(|&b| b == b'\n') {
            let end = scanned + i + 1;
            return Ok(take(state, limit.map_or(end, |l| l.min(end))));
        }
        scanned = window.len();
        if limit.is_some_and(|l| scanned >= l) {
            return Ok(take(state, limit.unwrap_or(usize::MAX)));
        }
        if !fill(state, CHUNK)? {
            return Ok(take(state, limit.unwrap_or(usize::MAX)));
        }
    }
}

/// Parses an optional size argument (`None`/negative mean "no limit").
unsafe fn size_arg(args: *mut ffi::PyObject, name: &str) -> Result<Option<usize>, ()> {
    // SAFETY: GIL held; METH_VARARGS passes a tuple.
    unsafe {
        let n = ffi::PyTuple_Size(args);
        if n > 1 {
            error::set(
                ffi::PyExc_TypeError,
                &format!("{name}() takes at most 1 argument ({n} given)"),
            );
            return Err(());
        }
        if n == 0 {
            return Ok(None);
        }
        let arg = ffi::PyTuple_GetItem(args, 0);
        if arg == ffi::Py_None() {
            return Ok(None);
        }
        let value = ffi::PyLong_AsLongLong(arg);
        if value == -1 && !ffi::PyErr_Occurred().is_null() {
            return Err(());
        }
        Ok((value >= 0).then_some(value as usize))
    }
}

unsafe fn to_bytes(result: Result<Vec<u8>, IoError>) -> *mut ffi::PyObject {
    match result {
        // SAFETY: GIL held by callers.
        Ok(data) => unsafe {
            object::bytes_from(&data).map_or(std::ptr::null_mut(), PyOwned::into_ptr)
        },
        Err(err) => {
            // SAFETY: GIL held by callers.
            unsafe { raise_read_error(err) };
            std::ptr::null_mut()
        }
    }
}

unsafe extern "C" fn input_read(
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    types::trampoline(|| {
        // SAFETY: CPython method call: GIL held, valid objects.
        unsafe {
            let Ok(size) = size_arg(args, "read") else {
                return std::ptr::null_mut();
            };
            let Some(state) = readable(slf) else {
                return std::ptr::null_mut();
            };
            match size {
                Some(0) => read_zero(state),
                Some(n) if n <= MAX_FILL => read_direct(state, n),
                _ => to_bytes(read_bytes(state, size)),
            }
        }
    })
}

/// `read(0)`: reads nothing, but as the first read it still goes to the
/// host (an empty buffer), as mod_wsgi passes it through Apache's input
/// filters: a client that sent `Expect: 100-continue` is then asked for its
/// body, which some applications do before deciding how to read it.
///
/// # Safety
/// GIL held; `state` is the live request.
unsafe fn read_zero(state: &mut RequestState<'_>) -> *mut ffi::PyObject {
    if state.input.reads == 0 && !state.input.eof {
        let io = state.io;
        let (result, waited) = wait_for_host(&state.busy, || io.read(&mut []));
        state.input.time += waited;
        // Counted as mod_wsgi counts it (request_finished's input_reads).
        state.input.reads += 1;
        if let Err(err) = result {
            input_failed(state);
            // SAFETY: GIL held (contract).
            unsafe { raise_read_error(err) };
            return std::ptr::null_mut();
        }
    }
    // SAFETY: GIL held (contract).
    unsafe { to_bytes(Ok(Vec::new())) }
}

/// `read(n)` for a bounded `n`: fills a new `bytes` object in place, first
/// from the buffer, then straight from the host in one GIL release (no
/// intermediate copies, one release however many host reads it takes).
///
/// # Safety
/// GIL held; `state` is the live request.
unsafe fn read_direct(state: &mut RequestState<'_>, n: usize) -> *mut ffi::PyObject {
    // SAFETY: GIL held; the new bytes object is private to this function until
    // returned, so filling its buffer with the GIL released is sound.
    unsafe {
        let obj = ffi::PyBytes_FromStringAndSize(std::ptr::null(), n as ffi::Py_ssize_t);
        if obj.is_null() {
            return std::ptr::null_mut();
        }
        let out = std::slice::from_raw_parts_mut(ffi::PyBytes_AsString(obj).cast::<u8>(), n);
        let input = &mut state.input;
        let from_buffer = (input.buf.len() - input.pos).min(n);
        out[..from_buffer].copy_from_slice(&input.buf[input.pos..input.pos + from_buffer]);
        input.pos += from_buffer;
        let mut filled = from_buffer;
        let mut failure = None;
        if filled < n && !state.input.eof {
            let io = state.io;
            let ((got, reads, eof, err), waited) = wait_for_host(&state.busy, || {
                let (mut got, mut reads) = (0usize, 0u64);
                while filled + got < n {
                    match io.read(&mut out[filled + got..]) {
                        Ok(0) => return (got, reads, true, None),
                        Ok(k) => {
                            got += k;
                            reads += 1;
                        }
                        Err(err) => return (got, reads, false, Some(err)),
                    }
                }
                (got, reads, false, None)
            });
            state.input.time += waited;
            filled += got;
            state.input.bytes += got as u64;
            state.input.reads += reads;
            state.input.eof |= eof;
            if let Some(err) = err {
                input_failed(state);
                failure = Some(err);
            }
        }
        if let Some(err) = failure {
            ffi::Py_DECREF(obj);
            raise_read_error(err);
            return std::ptr::null_mut();
        }
        if filled < n {
            // Short read (end of body): copy the prefix; this is rare, and
            // avoids the private _PyBytes_Resize.
            let short =
                ffi::PyBytes_FromStringAndSize(out.as_ptr().cast(), filled as ffi::Py_ssize_t);
            ffi::Py_DECREF(obj);
            return short;
        }
        obj
    }
}

unsafe extern "C" fn input_readline(
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    types::trampoline(|| {
        // SAFETY: as above.
        unsafe {
            let Ok(size) = size_arg(args, "readline") else {
                return std::ptr::null_mut();
            };
            let Some(state) = readable(slf) else {
                return std::ptr::null_mut();
            };
            to_bytes(read_line(state, size))
        }
    })
}

unsafe extern "C" fn input_readlines(
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    types::trampoline(|| {
        // SAFETY: as above.
        unsafe {
            let Ok(hint) = size_arg(args, "readlines") else {
                return std::ptr::null_mut();
            };
            let Some(list) = PyOwned::from_owned(ffi::PyList_New(0)) else {
                return std::ptr::null_mut();
            };
            let mut total = 0usize;
            loop {
                let Some(state) = readable(slf) else {
                    return std::ptr::null_mut();
                };
                let line = match read_line(state, None) {
                    Ok(line) => line,
                    Err(err) => return to_bytes(Err(err)),
                };
                if line.is_empty() {
                    break;
                }
                total += line.len();
                let Some(item) = object::bytes_from(&line) else {
                    return std::ptr::null_mut();
                };
                if ffi::PyList_Append(list.as_ptr(), item.as_ptr()) != 0 {
                    return std::ptr::null_mut();
                }
                if hint.is_some_and(|h| h > 0 && total >= h) {
                    break;
                }
            }
            list.into_ptr()
        }
    })
}

unsafe extern "C" fn input_close(
    slf: *mut ffi::PyObject,
    _: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: GIL held. Closing wsgi.input is a no-op, as in mod_wsgi, which
    // also raises once the request has ended.
    types::trampoline(|| unsafe {
        if (*slf.cast::<InputObject>()).state.is_null() {
            return request::expired();
        }
        object::none()
    })
}

unsafe extern "C" fn input_iter(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: GIL held; returns a new reference to self (or raises, as
    // mod_wsgi does, once the request has ended).
    unsafe {
        if (*slf.cast::<InputObject>()).state.is_null() {
            return request::expired();
        }
        ffi::Py_INCREF(slf);
    }
    slf
}

unsafe extern "C" fn input_iternext(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    types::trampoline(|| {
        // SAFETY: GIL held; a NULL return without an exception ends iteration.
        unsafe {
            let Some(state) = readable(slf) else {
                return std::ptr::null_mut();
            };
            match read_line(state, None) {
                Ok(line) if line.is_empty() => std::ptr::null_mut(),
                result => to_bytes(result),
            }
        }
    })
}

unsafe extern "C" fn input_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: final release by CPython with the GIL held.
    unsafe { types::dealloc_tail(obj) }
}
