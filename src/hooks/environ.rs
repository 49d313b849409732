//! mod_wsgi's environ for hook scripts, which is not a WSGI environ.
//!
//! Access and auth scripts get mod_wsgi's `Auth_environ`: the host's
//! variables (mod_wsgi's cut-down set: headers without `Authorization`,
//! the real peer as `REMOTE_ADDR`, no `SetEnv` values) plus
//! `apache.version`, `mod_wsgi.version`, `mod_wsgi.process_group` (`""`:
//! hooks run in the Apache child), `mod_wsgi.application_group` (the
//! script's own), `mod_wsgi.script_reloading` (an `int`), `wsgi.errors`
//! and the `mod_ssl.is_https` / `mod_ssl.var_lookup` callables.
//!
//! The dispatch script gets `Dispatch_environ`: the request's variables as
//! they are (`HTTPS` and `PATH` kept, no `wsgi.url_scheme`), its own
//! `mod_wsgi.process_group` (`""`) and `mod_wsgi.application_group`, no
//! `mod_wsgi.callable_object`, and `wsgi.errors` as the only `wsgi.*` key.
//!
//! Values are latin-1 `str`; an auth environ's `DOCUMENT_ROOT` is decoded
//! with the filesystem encoding, as mod_wsgi does.

use super::ssl::Bound;
use super::HookSpec;
use crate::python::interp::Interp;
use crate::python::object::{self, PyOwned};
use pyo3::ffi;
use std::ffi::CStr;

/// Which of mod_wsgi's two hook environs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `WSGIAccessScript`, `WSGIAuthUserScript`, `WSGIAuthGroupScript`.
    Auth,
    /// `WSGIDispatchScript`.
    Dispatch,
}

/// Sets `dict[key] = value`; false with an exception set on failure.
///
/// # Safety
/// GIL held; `dict` a dict, `value` a live object.
unsafe fn set(dict: *mut ffi::PyObject, key: &CStr, value: *mut ffi::PyObject) -> bool {
    // SAFETY: per contract.
    unsafe { ffi::PyDict_SetItemString(dict, key.as_ptr(), value) == 0 }
}

/// Builds the environ of `kind` for `spec`, with `errors` as `wsgi.errors`
/// and (auth only) `ssl`'s callables.
///
/// # Safety
/// GIL held with `interp` attached; `errors` a live object.
pub unsafe fn build(
    interp: &Interp,
    spec: &HookSpec<'_>,
    kind: Kind,
    errors: *mut ffi::PyObject,
    ssl: Option<&Bound<'_>>,
) -> Option<PyOwned> {
    // SAFETY: per contract; every object made here is owned or handed to
    // the dict, which takes its own reference.
    unsafe {
        let environ = PyOwned::from_owned(ffi::PyDict_New())?;
        let dict = environ.as_ptr();
        for (name, value) in spec.environ {
            let key = object::str_from_latin1(name)?;
            let value = if kind == Kind::Auth && *name == b"DOCUMENT_ROOT" {
                PyOwned::from_owned(ffi::PyUnicode_DecodeFSDefaultAndSize(
                    value.as_ptr().cast(),
                    value.len() as ffi::Py_ssize_t,
                ))?
            } else {
                object::str_from_latin1(value)?
            };
            if ffi::PyDict_SetItem(dict, key.as_ptr(), value.as_ptr()) != 0 {
                return None;
            }
        }
        if kind == Kind::Auth {
            // The version tuples every environ of this interpreter shares.
            let template = interp.cache().environ_template;
            for key in [c"apache.version", c"mod_wsgi.version"] {
                let value = ffi::PyDict_GetItemString(template, key.as_ptr());
                if !value.is_null() && !set(dict, key, value) {
                    return None;
                }
            }
        }
        // `%{GLOBAL}` is the main interpreter, whose name is "".
        let group = match spec.application_group {
            "%{GLOBAL}" => "",
            other => other,
        };
        let empty = object::str_from_latin1(b"")?;
        let group = object::str_from_latin1(group.as_bytes())?;
        if !set(dict, c"mod_wsgi.process_group", empty.as_ptr())
            || !set(dict, c"mod_wsgi.application_group", group.as_ptr())
        {
            return None;
        }
        match kind {
            Kind::Auth => {
                let reloading =
                    PyOwned::from_owned(ffi::PyLong_FromLong(spec.script_reloading.into()))?;
                if !set(dict, c"mod_wsgi.script_reloading", reloading.as_ptr()) {
                    return None;
                }
            }
            Kind::Dispatch => {
                if ffi::PyDict_DelItemString(dict, c"mod_wsgi.callable_object".as_ptr()) != 0 {
                    ffi::PyErr_Clear();
                }
            }
        }
        if !set(dict, c"wsgi.errors", errors) {
            return None;
        }
        if let Some(ssl) = ssl {
            let is_https = ssl.is_https()?;
            let var_lookup = ssl.var_lookup()?;
            if !set(dict, c"mod_ssl.is_https", is_https.as_ptr())
                || !set(dict, c"mod_ssl.var_lookup", var_lookup.as_ptr())
            {
                return None;
            }
        }
        Some(environ)
    }
}
