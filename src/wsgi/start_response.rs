//! `start_response(status, headers, exc_info=None)` and the `write()`
//! callable it returns, with mod_wsgi's checks and messages.

use crate::module::types::{self, StaticSpec};
use crate::python::error;
use crate::python::object::{self, PyOwned};
use crate::wsgi::request::{self, OutputError, RequestState};
use crate::wsgi::validate;
use pyo3::ffi;
use std::ffi::{c_void, CStr};
use std::sync::OnceLock;

/// Instance layout: a pointer to the live request, NULL once it ended.
#[repr(C)]
pub struct StartResponseObject {
    ob_base: ffi::PyObject,
    state: *mut c_void,
}

fn spec() -> &'static StaticSpec {
    static SPEC: OnceLock<StaticSpec> = OnceLock::new();
    SPEC.get_or_init(|| {
        types::build_spec(
            c"mod_wsgi.StartResponse",
            std::mem::size_of::<StartResponseObject>(),
            ffi::Py_TPFLAGS_DEFAULT,
            vec![
                (ffi::Py_tp_dealloc, start_response_dealloc as *mut c_void),
                (ffi::Py_tp_call, start_response_call as *mut c_void),
            ],
            vec![types::method_o(c"write", write)],
            vec![],
        )
    })
}

/// Creates the `StartResponse` type for a module being executed.
///
/// # Safety
/// GIL held.
pub unsafe fn create_type(module: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: per contract.
    unsafe { types::create_type(module, spec()) }
}

/// A new `start_response` callable for the request at `state`.
///
/// # Safety
/// GIL held; `state` live until [`expire`].
pub unsafe fn new_start_response(tp: *mut ffi::PyObject, state: *mut c_void) -> Option<PyOwned> {
    // SAFETY: zeroed allocation of our layout, one field set.
    unsafe {
        let obj = PyOwned::from_owned(types::alloc(tp))?;
        (*obj.as_ptr().cast::<StartResponseObject>()).state = state;
        Some(obj)
    }
}

/// Detaches the object from its finished request.
///
/// # Safety
/// GIL held; `obj` is a `StartResponse`.
pub unsafe fn expire(obj: *mut ffi::PyObject) {
    // SAFETY: per contract.
    unsafe { (*obj.cast::<StartResponseObject>()).state = std::ptr::null_mut() }
}

unsafe fn live<'a>(slf: *mut ffi::PyObject) -> Option<&'a mut RequestState<'a>> {
    // SAFETY: `slf` is a StartResponse; non-NULL state is live.
    unsafe {
        let state = (*slf.cast::<StartResponseObject>())
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

unsafe fn type_name(obj: *mut ffi::PyObject) -> String {
    // SAFETY: every object has a type with a NUL-terminated name.
    unsafe {
        CStr::from_ptr((*ffi::Py_TYPE(obj)).tp_name)
            .to_string_lossy()
            .into_owned()
    }
}

/// A native string as latin-1 bytes, or mod_wsgi's `TypeError` (which does
/// not say whether the status line, a header name or a value was wrong).
unsafe fn latin1(obj: *mut ffi::PyObject) -> Option<Vec<u8>> {
    // SAFETY: GIL held by callers.
    unsafe {
        if ffi::PyUnicode_Check(obj) == 0 {
            let message = format!(
                "expected unicode object, value of type {} found",
                type_name(obj)
            );
            error::set(ffi::PyExc_TypeError, &message);
            return None;
        }
        let Some(encoded) = PyOwned::from_owned(ffi::PyUnicode_AsLatin1String(obj)) else {
            // mod_wsgi's words in place of the codec's UnicodeEncodeError.
            error::set(
                ffi::PyExc_ValueError,
                "unicode object contains non latin-1 characters",
            );
            return None;
        };
        Some(object::bytes_as_slice(encoded.as_ptr()).to_vec())
    }
}

unsafe fn check(result: Result<(), validate::Invalid>) -> Option<()> {
    match result {
        Ok(()) => Some(()),
        Err(invalid) => {
            // SAFETY: GIL held by callers.
            unsafe { error::set(ffi::PyExc_ValueError, invalid.message()) };
            None
        }
    }
}

type Headers = Vec<(Vec<u8>, Vec<u8>)>;

/// Converts and validates the headers list; also finds Content-Length.
unsafe fn parse_headers(list: *mut ffi::PyObject) -> Option<(Headers, Option<u64>)> {
    // SAFETY: GIL held; `list` is a list (checked by the caller).
    unsafe {
        let n = ffi::PyList_Size(list);
        let mut headers = Vec::with_capacity(n as usize);
        let mut content_length = None;
        for i in 0..n {
            let item = ffi::PyList_GetItem(list, i);
            if ffi::PyTuple_Check(item) == 0 {
                let message = format!(
                    "list of tuple values expected for headers, value of type {} found",
                    type_name(item)
                );
                error::set(ffi::PyExc_TypeError, &message);
                return None;
            }
            let size = ffi::PyTuple_Size(item);
            if size != 2 {
                let message = format!("tuple of length 2 expected for header, length is {size}");
                error::set(ffi::PyExc_ValueError, &message);
                return None;
            }
            let name = latin1(ffi::PyTuple_GetItem(item, 0))?;
            let value = latin1(ffi::PyTuple_GetItem(item, 1))?;
            check(validate::header_name(&name))?;
            check(validate::header_value(&value))?;
            if name.eq_ignore_ascii_case(b"content-length") {
                match validate::content_length(&value) {
                    Some(length) => content_length = Some(length),
                    None => {
                        error::set(ffi::PyExc_ValueError, "invalid content length");
                        return None;
                    }
                }
            }
            headers.push((name, value));
        }
        Some((headers, content_length))
    }
}

unsafe extern "C" fn start_response_call(
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    types::trampoline(|| {
        // SAFETY: tp_call with the GIL held; args is a tuple, kwargs NULL or a dict.
        unsafe {
            let Some(state) = live(slf) else {
                return std::ptr::null_mut();
            };
            let nargs = ffi::PyTuple_Size(args);
            let mut exc_info = if nargs == 3 {
                ffi::PyTuple_GetItem(args, 2)
            } else {
                ffi::Py_None()
            };
            if !kwargs.is_null() {
                let from_kw = ffi::PyDict_GetItemString(kwargs, c"exc_info".as_ptr());
                let extra =
                    ffi::PyDict_Size(kwargs) - i64::from(!from_kw.is_null()) as ffi::Py_ssize_t;
                if extra > 0 || (!from_kw.is_null() && nargs == 3) {
                    error::set(
                        ffi::PyExc_TypeError,
                        "start_response() got an unexpected keyword argument",
                    );
                    return std::ptr::null_mut();
                }
                if !from_kw.is_null() {
                    exc_info = from_kw;
                }
            }
            if !(2..=3).contains(&nargs) {
                let message = format!("start_response() takes from 2 to 3 positional arguments but {nargs} were given");
                error::set(ffi::PyExc_TypeError, &message);
                return std::ptr::null_mut();
            }
            let status = ffi::PyTuple_GetItem(args, 0);
            let headers = ffi::PyTuple_GetItem(args, 1);
            if ffi::PyList_Check(headers) == 0 {
                let message = format!(
                    "start_response() argument 2 must be list, not {}",
                    type_name(headers)
                );
                error::set(ffi::PyExc_TypeError, &message);
                return std::ptr::null_mut();
            }
            if exc_info != ffi::Py_None() {
                if ffi::PyTuple_Check(exc_info) == 0 {
                    error::set(ffi::PyExc_RuntimeError, "exception info must be a tuple");
                    return std::ptr::null_mut();
                }
                // Its items only matter when it is re-raised (as mod_wsgi).
                if state.headers_sent && ffi::PyTuple_Size(exc_info) != 3 {
                    let given = ffi::PyTuple_Size(exc_info);
                    error::set(
                        ffi::PyExc_TypeError,
                        &format!("function takes exactly 3 arguments ({given} given)"),
                    );
                    return std::ptr::null_mut();
                }
                if state.headers_sent {
                    // PEP 3333: re-raise the application's exception.
                    let t = ffi::PyTuple_GetItem(exc_info, 0);
                    let v = ffi::PyTuple_GetItem(exc_info, 1);
                    let tb = ffi::PyTuple_GetItem(exc_info, 2);
                    ffi::Py_INCREF(t);
                    ffi::Py_INCREF(v);
                    ffi::Py_INCREF(tb);
                    ffi::PyErr_Restore(
                        t,
                        v,
                        if tb == ffi::Py_None() {
                            ffi::Py_DECREF(tb);
                            std::ptr::null_mut()
                        } else {
                            tb
                        },
                    );
                    return std::ptr::null_mut();
                }
            } else if state.headers_sent {
                error::set(ffi::PyExc_RuntimeError, "headers have already been sent");
                return std::ptr::null_mut();
            }
            let Some(line) = latin1(status) else {
                return std::ptr::null_mut();
            };
            let code = match validate::status_line(&line) {
                Ok(code) => code,
                Err(invalid) => {
                    error::set(ffi::PyExc_ValueError, invalid.message());
                    return std::ptr::null_mut();
                }
            };
            let Some((parsed, content_length)) = parse_headers(headers) else {
                return std::ptr::null_mut();
            };
            if let Some(context) = state.events {
                crate::wsgi::tracking::response_started(&context, status, headers, exc_info);
            }
            state.status = Some((code, line));
            state.headers = parsed;
            state.content_length = content_length;
            object::getattr(slf, c"write").map_or(std::ptr::null_mut(), PyOwned::into_ptr)
        }
    })
}

/// `write(data)`: sends a block at once (PEP 3333's imperative API).
unsafe extern "C" fn write(
    slf: *mut ffi::PyObject,
    data: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    types::trampoline(|| {
        // SAFETY: method call with the GIL held; `data` is valid for the call.
        unsafe {
            let Some(state) = live(slf) else {
                return std::ptr::null_mut();
            };
            if ffi::PyBytes_Check(data) == 0 {
                let message = format!(
                    "byte string value expected, value of type {} found",
                    type_name(data)
                );
                error::set(ffi::PyExc_TypeError, &message);
                return std::ptr::null_mut();
            }
            if state.status.is_none() {
                error::set(ffi::PyExc_RuntimeError, "response has not been started");
                return std::ptr::null_mut();
            }
            // Hold a reference: the bytes stay alive while the GIL is released.
            let Some(keep) = PyOwned::from_borrowed(data) else {
                return std::ptr::null_mut();
            };
            let result = state.output(object::bytes_as_slice(keep.as_ptr()), true);
            match result {
                Ok(()) => object::none(),
                Err(OutputError::Raised) => std::ptr::null_mut(),
                Err(OutputError::Io(err)) => {
                    state.note_io_error(err);
                    request::raise_write_error(err);
                    std::ptr::null_mut()
                }
            }
        }
    })
}

unsafe extern "C" fn start_response_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: final release by CPython with the GIL held.
    unsafe { types::dealloc_tail(obj) }
}
