//! Python exceptions: fetching, formatting into log lines, clearing.
//!
//! The rule from mod_wsgi 4.6.0: format and log the exception *before*
//! anything that could run more Python (closing a log object, calling
//! `close()`), then clear it, so no secondary error appears.

use crate::python::object::{self, PyOwned};
use pyo3::ffi;
use std::ptr;

/// A fetched (and so no longer pending) Python exception.
pub struct PyException {
    pub ptype: PyOwned,
    pub value: Option<PyOwned>,
    pub traceback: Option<PyOwned>,
}

impl PyException {
    /// Takes the pending exception, normalised; `None` if none is pending.
    ///
    /// # Safety
    /// The GIL must be held.
    pub unsafe fn fetch() -> Option<PyException> {
        let mut ptype = ptr::null_mut();
        let mut value = ptr::null_mut();
        let mut tb = ptr::null_mut();
        // SAFETY: GIL held per contract; the out pointers are valid locals and
        // receive new references (or NULL) which we take ownership of.
        unsafe {
            ffi::PyErr_Fetch(&mut ptype, &mut value, &mut tb);
            if ptype.is_null() {
                return None;
            }
            ffi::PyErr_NormalizeException(&mut ptype, &mut value, &mut tb);
            if !value.is_null() && !tb.is_null() {
                ffi::PyException_SetTraceback(value, tb);
            }
            Some(PyException {
                ptype: PyOwned::from_owned(ptype)?,
                value: PyOwned::from_owned(value),
                traceback: PyOwned::from_owned(tb),
            })
        }
    }

    /// Puts the exception back as the pending one.
    ///
    /// # Safety
    /// The GIL must be held.
    pub unsafe fn restore(self) {
        let value = self.value.map_or(ptr::null_mut(), PyOwned::into_ptr);
        let tb = self.traceback.map_or(ptr::null_mut(), PyOwned::into_ptr);
        // SAFETY: PyErr_Restore steals the three references we hand it.
        unsafe { ffi::PyErr_Restore(self.ptype.into_ptr(), value, tb) }
    }

    /// True when the exception is an instance of `kind`.
    ///
    /// # Safety
    /// The GIL must be held; `kind` a valid exception type.
    pub unsafe fn matches(&self, kind: *mut ffi::PyObject) -> bool {
        // SAFETY: both are valid objects.
        unsafe { ffi::PyErr_GivenExceptionMatches(self.ptype.as_ptr(), kind) != 0 }
    }

    /// The exception as `(type, value, traceback)` lines, as
    /// `traceback.print_exception` prints them, one entry per line without
    /// the newline. Never leaves an exception pending.
    ///
    /// # Safety
    /// The GIL must be held.
    pub unsafe fn format_lines(&self) -> Vec<String> {
        // SAFETY: GIL held; every object used is owned by `self` or by a PyOwned here.
        unsafe {
            let none = ffi::Py_None();
            let value = self.value.as_ref().map_or(none, |v| v.as_ptr());
            let tb = self.traceback.as_ref().map_or(none, |v| v.as_ptr());
            let formatted = object::import(c"traceback")
                .and_then(|m| object::getattr(m.as_ptr(), c"format_exception"))
                .and_then(|f| object::call(f.as_ptr(), &[self.ptype.as_ptr(), value, tb]));
            let Some(list) = formatted else {
                ffi::PyErr_Clear();
                return vec![self.fallback_text()];
            };
            let mut lines = Vec::new();
            let n = ffi::PyList_Size(list.as_ptr());
            for i in 0..n {
                let item = ffi::PyList_GetItem(list.as_ptr(), i);
                match object::str_as_utf8(item) {
                    Some(text) => lines.extend(text.lines().map(str::to_owned)),
                    None => ffi::PyErr_Clear(),
                }
            }
            lines
        }
    }

    /// `repr` of type and value when `traceback` itself failed.
    unsafe fn fallback_text(&self) -> String {
        // SAFETY: GIL held per the caller's contract.
        unsafe {
            let obj = self
                .value
                .as_ref()
                .map_or(self.ptype.as_ptr(), |v| v.as_ptr());
            match PyOwned::from_owned(ffi::PyObject_Repr(obj)) {
                Some(repr) => object::str_as_utf8(repr.as_ptr())
                    .unwrap_or("<unprintable exception>")
                    .to_owned(),
                None => {
                    ffi::PyErr_Clear();
                    "<unprintable exception>".to_owned()
                }
            }
        }
    }
}

/// Sets the `OSError` Python would raise for `err` on `filename`: the
/// errno's subclass (`PermissionError`, `FileNotFoundError`, ...) with
/// errno, message and file name, as `open()` does.
///
/// # Safety
/// The GIL must be held.
pub unsafe fn set_os_error(err: &std::io::Error, filename: &str) {
    let errno = err.raw_os_error().unwrap_or(libc::EIO);
    // SAFETY: GIL held; every object is checked before use.
    unsafe {
        // strerror without the " (os error N)" std adds.
        let message = std::ffi::CStr::from_ptr(libc::strerror(errno)).to_string_lossy();
        let (Some(code), Some(text), Some(name)) = (
            PyOwned::from_owned(ffi::PyLong_FromLong(errno.into())),
            object::str_from_utf8(&message),
            object::str_from_utf8(filename),
        ) else {
            return;
        };
        let Some(exc) = object::call(
            ffi::PyExc_OSError,
            &[code.as_ptr(), text.as_ptr(), name.as_ptr()],
        ) else {
            return;
        };
        ffi::PyErr_SetObject(ffi::Py_TYPE(exc.as_ptr()).cast(), exc.as_ptr());
    }
}

/// Sets a Python exception of `kind` with `message`.
///
/// # Safety
/// The GIL must be held.
pub unsafe fn set(kind: *mut ffi::PyObject, message: &str) {
    let text = std::ffi::CString::new(message.replace('\0', "?")).unwrap_or_default();
    // SAFETY: GIL held; the text is a valid NUL-terminated string.
    unsafe { ffi::PyErr_SetString(kind, text.as_ptr()) }
}
