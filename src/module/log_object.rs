//! `mod_wsgi.Log`: the file-like object behind `sys.stdout`, `sys.stderr`
//! and `environ['wsgi.errors']`. Text is line-buffered: each complete line
//! becomes one host log line; `flush()`/`close()` emit the rest.

use crate::logging::{self, Level};
use crate::module::types::{self, StaticSpec};
use crate::python::object::{self, PyOwned};
use crate::python::{error, tstate};
use pyo3::ffi;
use std::ffi::c_void;
use std::sync::OnceLock;

/// Instance layout.
#[repr(C)]
pub struct LogObject {
    ob_base: ffi::PyObject,
    level: u32,
    /// Host request pointer for request-bound logs (`wsgi.errors`).
    request_ctx: *mut c_void,
    closed: bool,
    /// Pending partial line; owned (`Box<String>`), freed in dealloc.
    buffer: *mut String,
}

fn spec() -> &'static StaticSpec {
    static SPEC: OnceLock<StaticSpec> = OnceLock::new();
    SPEC.get_or_init(|| {
        types::build_spec(
            c"mod_wsgi.Log",
            std::mem::size_of::<LogObject>(),
            ffi::Py_TPFLAGS_DEFAULT,
            vec![(ffi::Py_tp_dealloc, log_dealloc as *mut c_void)],
            vec![
                types::method_o(c"write", log_write),
                types::method_o(c"writelines", log_writelines),
                types::method_noargs(c"flush", log_flush),
                types::method_noargs(c"close", log_close),
                types::method_noargs(c"isatty", log_false),
                types::method_noargs(c"readable", log_false),
                types::method_noargs(c"seekable", log_false),
                types::method_noargs(c"writable", log_true),
            ],
            vec![
                types::getter(c"closed", log_get_closed),
                types::getter(c"encoding", log_get_encoding),
                types::getter(c"errors", log_get_errors),
            ],
        )
    })
}

/// Creates the `Log` type for the module being executed.
///
/// # Safety
/// GIL held; `module` is the module under construction.
pub unsafe fn create_type(module: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: per contract.
    unsafe { types::create_type(module, spec()) }
}

/// A new log object writing at `level`, bound to `request_ctx` (may be NULL).
///
/// # Safety
/// GIL held; `log_type` is this interpreter's `Log` type.
pub unsafe fn new_log(
    log_type: *mut ffi::PyObject,
    level: Level,
    request_ctx: *mut c_void,
) -> Option<PyOwned> {
    // SAFETY: allocation returns zeroed memory of our layout; we initialise every field.
    unsafe {
        let obj = PyOwned::from_owned(types::alloc(log_type))?;
        let log = obj.as_ptr().cast::<LogObject>();
        (*log).level = level as u32;
        (*log).request_ctx = request_ctx;
        (*log).closed = false;
        (*log).buffer = Box::into_raw(Box::default());
        Some(obj)
    }
}

/// Flushes and closes a request-bound log at request end, so a reference
/// the application kept cannot log against a finished request.
///
/// # Safety
/// GIL held; `obj` is a `Log` instance.
pub unsafe fn finish(obj: *mut ffi::PyObject) {
    // SAFETY: per contract.
    unsafe {
        let log = obj.cast::<LogObject>();
        flush_buffer(log);
        (*log).closed = true;
        (*log).request_ctx = std::ptr::null_mut();
    }
}

/// Emits complete lines (or everything when `all`), GIL released.
unsafe fn emit(log: *mut LogObject, all: bool, release_gil: bool) {
    // SAFETY: `log` is a live instance and the GIL is held on entry.
    let (lines, level, ctx) = unsafe {
        let buffer = &mut *(*log).buffer;
        let cut = if all {
            buffer.len()
        } else {
            buffer.rfind('\n').map_or(0, |i| i + 1)
        };
        if cut == 0 {
            return;
        }
        let rest = buffer.split_off(cut);
        let lines = std::mem::replace(buffer, rest);
        // sys.stdout / sys.stderr: lines go with the request running on
        // this thread, if any.
        let ctx = match (*log).request_ctx {
            ctx if ctx.is_null() => logging::current_request(),
            ctx => ctx,
        };
        (lines, Level::from_raw((*log).level), ctx)
    };
    let send = move || {
        for line in lines.strip_suffix('\n').unwrap_or(&lines).split('\n') {
            logging::log(level, ctx, line);
        }
    };
    if release_gil {
        tstate::allow_threads(send);
    } else {
        send();
    }
}

unsafe fn flush_buffer(log: *mut LogObject) {
    // SAFETY: forwarded contract.
    unsafe { emit(log, true, true) }
}

unsafe fn check_open(log: *mut LogObject) -> bool {
    // SAFETY: `log` is live; GIL held.
    unsafe {
        if (*log).closed {
            error::set(ffi::PyExc_ValueError, "I/O operation on closed file");
            return false;
        }
    }
    true
}

unsafe fn write_text(log: *mut LogObject, text: *mut ffi::PyObject) -> bool {
    // SAFETY: GIL held; objects valid for the call.
    unsafe {
        if ffi::PyUnicode_Check(text) == 0 {
            let name = std::ffi::CStr::from_ptr((*ffi::Py_TYPE(text)).tp_name).to_string_lossy();
            error::set(
                ffi::PyExc_TypeError,
                &format!("expected unicode object, value of type {name} found"),
            );
            return false;
        }
        let Some(s) = object::str_as_utf8(text) else {
            // Lone surrogates: log what can be logged.
            ffi::PyErr_Clear();
            (*(*log).buffer).push_str("<undecodable text>");
            return true;
        };
        (*(*log).buffer).push_str(s);
        if s.contains('\n') {
            emit(log, false, true);
        }
    }
    true
}

unsafe extern "C" fn log_write(
    slf: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    types::trampoline(|| {
        let log = slf.cast::<LogObject>();
        // SAFETY: CPython calls methods with the GIL held and valid objects.
        unsafe {
            if !check_open(log) || !write_text(log, arg) {
                return std::ptr::null_mut();
            }
            // The number of characters written, as a text stream's write().
            ffi::PyLong_FromSsize_t(ffi::PyUnicode_GetLength(arg))
        }
    })
}

unsafe extern "C" fn log_writelines(
    slf: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    types::trampoline(|| {
        let log = slf.cast::<LogObject>();
        // SAFETY: GIL held; iterator protocol on a valid object.
        unsafe {
            if !check_open(log) {
                return std::ptr::null_mut();
            }
            let Some(iter) = PyOwned::from_owned(ffi::PyObject_GetIter(arg)) else {
                return std::ptr::null_mut();
            };
            while let Some(item) = PyOwned::from_owned(ffi::PyIter_Next(iter.as_ptr())) {
                if !write_text(log, item.as_ptr()) {
                    return std::ptr::null_mut();
                }
            }
            if !ffi::PyErr_Occurred().is_null() {
                return std::ptr::null_mut();
            }
            object::none()
        }
    })
}

unsafe extern "C" fn log_flush(
    slf: *mut ffi::PyObject,
    _: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    types::trampoline(|| {
        // SAFETY: GIL held; `slf` is a Log.
        unsafe {
            let log = slf.cast::<LogObject>();
            if !check_open(log) {
                return std::ptr::null_mut();
            }
            flush_buffer(log);
            object::none()
        }
    })
}

unsafe extern "C" fn log_close(
    slf: *mut ffi::PyObject,
    _: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    types::trampoline(|| {
        // SAFETY: GIL held; `slf` is a Log. Process-wide logs (stdout and
        // stderr, with no request) stay open, as in mod_wsgi.
        unsafe {
            let log = slf.cast::<LogObject>();
            flush_buffer(log);
            if !(*log).request_ctx.is_null() {
                (*log).closed = true;
            }
            object::none()
        }
    })
}

unsafe extern "C" fn log_false(_: *mut ffi::PyObject, _: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: GIL held.
    types::trampoline(|| unsafe { object::py_bool(false) })
}

unsafe extern "C" fn log_true(_: *mut ffi::PyObject, _: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: GIL held.
    types::trampoline(|| unsafe { object::py_bool(true) })
}

unsafe extern "C" fn log_get_closed(slf: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: GIL held; `slf` is a Log.
    types::trampoline(|| unsafe { object::py_bool((*slf.cast::<LogObject>()).closed) })
}

unsafe extern "C" fn log_get_encoding(_: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: GIL held.
    types::trampoline(|| unsafe {
        object::str_from_utf8("utf-8").map_or(std::ptr::null_mut(), PyOwned::into_ptr)
    })
}

unsafe extern "C" fn log_get_errors(_: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: GIL held.
    types::trampoline(|| unsafe {
        object::str_from_utf8("replace").map_or(std::ptr::null_mut(), PyOwned::into_ptr)
    })
}

unsafe extern "C" fn log_dealloc(obj: *mut ffi::PyObject) {
    let _ = types::trampoline(|| {
        // SAFETY: called once by CPython when the refcount hits zero, GIL held.
        unsafe {
            let log = obj.cast::<LogObject>();
            if !(*log).buffer.is_null() {
                // No GIL release inside dealloc.
                emit(log, true, false);
                drop(Box::from_raw((*log).buffer));
                (*log).buffer = std::ptr::null_mut();
            }
            types::dealloc_tail(obj);
        }
        std::ptr::null_mut()
    });
}
