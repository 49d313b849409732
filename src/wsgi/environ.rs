//! Building the WSGI environ from the host's CGI variables.
//!
//! Per interpreter, a template dict holds the constant keys (`wsgi.version`,
//! `wsgi.multithread`, …, `wsgi.file_wrapper`, version tuples) and a cache
//! maps variable names to interned key strings (first tried at the
//! position the name had in the previous request); a request copies the
//! template and adds latin-1 decoded values (mod_wsgi's encoding rule).
//! `PATH` is dropped; `HTTPS` becomes `wsgi.url_scheme` and is dropped; a
//! variable named like a template key is ignored (the server's value wins).

use crate::python::interp::Interp;
use crate::python::object::{self, PyOwned};
use pyo3::ffi;

/// Builds the environ dict for one request.
///
/// # Safety
/// The GIL must be held with `interp` attached; `input` and `errors` valid.
pub unsafe fn build(
    interp: &Interp,
    pairs: &[(&[u8], &[u8])],
    input: *mut ffi::PyObject,
    errors: *mut ffi::PyObject,
) -> Option<PyOwned> {
    // SAFETY: per contract; every object created here is owned or handed to the dict.
    unsafe {
        let cache = interp.cache();
        let environ = PyOwned::from_owned(ffi::PyDict_Copy(cache.environ_template))?;
        let dict = environ.as_ptr();
        let mut https = false;
        for (index, (name, value)) in pairs.iter().enumerate() {
            match *name {
                b"PATH" => continue,
                // The server's own keys (in the template) win over request
                // variables of the same name (`SetEnv wsgi.multithread 0`),
                // as mod_wsgi sets them after copying the variables.
                b"wsgi.version"
                | b"wsgi.multithread"
                | b"wsgi.multiprocess"
                | b"wsgi.run_once"
                | b"wsgi.input_terminated"
                | b"wsgi.file_wrapper"
                | b"apache.version"
                | b"mod_wsgi.version" => continue,
                b"HTTPS" => {
                    https = value.eq_ignore_ascii_case(b"on") || *value == b"1";
                    continue;
                }
                _ => {}
            }
            let key = cache.key_at(index, name)?;
            // The host stamps mod_wsgi.script_start when it hands the
            // request over; mod_wsgi stamps it just before calling the
            // application, after the interpreter was acquired and the
            // script imported, which is now (the environ is built then).
            let stamped;
            let value = if *name == b"mod_wsgi.script_start" {
                stamped = crate::diagnostics::registry::now_us().to_string();
                stamped.as_bytes()
            } else {
                value
            };
            let value = object::str_from_latin1(value)?;
            if ffi::PyDict_SetItem(dict, key, value.as_ptr()) != 0 {
                return None;
            }
        }
        let scheme = if https { cache.https } else { cache.http };
        if ffi::PyDict_SetItem(dict, cache.key_url_scheme, scheme) != 0
            || ffi::PyDict_SetItem(dict, cache.key_input, input) != 0
            || ffi::PyDict_SetItem(dict, cache.key_errors, errors) != 0
        {
            return None;
        }
        Some(environ)
    }
}
