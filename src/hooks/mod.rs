//! mod_wsgi's access, authentication, authorization and dispatch scripts:
//! a named function of a script (loaded and cached like a WSGI script, as
//! module `_mod_wsgi_<md5>`) called with an environ built from the host's
//! variables and `wsgi.errors` bound to the request: mod_wsgi's own hook
//! environs ([`environ`]), or, for hosts of the first C API, a WSGI
//! environ (no body: `wsgi.input` is an empty stream).
//!
//! Errors are logged as mod_wsgi 4.6+ does: the traceback once, with the
//! request's context, and the exception cleared before the per-callback
//! log object is closed.

use crate::logging::{self, Level};
use crate::python::error;
use crate::python::interp::Interp;
use crate::python::object::{self, PyOwned};
use crate::python::tstate;
use crate::wsgi::host::{HostIo, IoError};
use crate::wsgi::request::{self, RequestSpec, RequestState};
use crate::wsgi::{input, script};
use pyo3::ffi;
use std::ffi::{c_void, CString};

pub mod environ;
pub mod ssl;

pub use ssl::{NoSsl, SslLookup};

/// Which environ a hook script gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvironStyle {
    /// A WSGI environ, as for an application (the first C API's only style).
    Wsgi,
    /// mod_wsgi's: `Auth_environ` or `Dispatch_environ` (see [`environ`]).
    ModWsgi,
}

/// What to call.
pub struct HookSpec<'a> {
    /// Absolute path of the hook script.
    pub script_path: &'a str,
    /// The host's variables for the environ.
    pub environ: &'a [(&'a [u8], &'a [u8])],
    /// The request, for log lines.
    pub log_ctx: *mut c_void,
    /// Which environ to build.
    pub style: EnvironStyle,
    /// The interpreter's name, for `mod_wsgi.application_group`.
    pub application_group: &'a str,
    /// `WSGIScriptReloading`: reload the script when its mtime changes.
    pub script_reloading: bool,
    /// The request's TLS facts, for `mod_ssl.*` in an auth environ.
    pub ssl: &'a dyn SslLookup,
}

/// How a hook call ended.
#[derive(Debug, PartialEq, Eq)]
pub enum HookOutcome<R> {
    /// The function ran and its result converted.
    Done(R),
    /// The script has no such function (nothing logged: the caller logs
    /// mod_wsgi's directive-specific message).
    Missing,
    /// The script failed to load, raised, or returned a wrong type; logged.
    Error,
}

/// Result of `check_password`.
#[derive(Debug, PartialEq, Eq)]
pub enum Password {
    Granted,
    Denied,
    NotFound,
    /// A `str`: granted, and the request's user becomes this name.
    Renamed(String),
}

/// The result of `process_group`/`application_group`/`callable_object`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dispatch {
    pub process_group: Option<String>,
    pub application_group: Option<String>,
    pub callable_object: Option<String>,
}

/// Why `convert` rejected a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bad {
    /// A Python exception is pending: log its traceback.
    Raised,
    /// The problem is already logged (no exception pending).
    Logged,
}

/// Logs one line for the request, GIL released.
fn log_line(log_ctx: *mut c_void, message: &str) {
    tstate::allow_threads(|| logging::log(Level::Err, log_ctx, message));
}

/// A host with no body and no response (hooks never read or respond).
struct NoIo;

impl HostIo for NoIo {
    fn read(&self, _buf: &mut [u8]) -> Result<usize, IoError> {
        Ok(0)
    }
    fn start_response(&self, _: u16, _: &[u8], _: &[(Vec<u8>, Vec<u8>)]) -> Result<(), IoError> {
        Err(IoError::Failed)
    }
    fn write(&self, _: &[u8], _: bool) -> Result<(), IoError> {
        Err(IoError::Failed)
    }
    fn send_file(&self, _: std::os::fd::RawFd, _: u64, _: u64) -> Option<Result<(), IoError>> {
        None
    }
}

/// Builds a Python argument from an optional byte string (UTF-8, as
/// mod_wsgi's `Py_BuildValue("s")`; `None` for NULL).
///
/// # Safety
/// GIL held.
unsafe fn arg(value: Option<&[u8]>) -> Option<PyOwned> {
    // SAFETY: per contract.
    unsafe {
        match value {
            None => PyOwned::from_borrowed(object::none()),
            Some(bytes) => PyOwned::from_owned(ffi::PyUnicode_DecodeUTF8(
                bytes.as_ptr().cast(),
                bytes.len() as ffi::Py_ssize_t,
                c"strict".as_ptr(),
            )),
        }
    }
}

/// Calls each of `functions` in turn (all with `(environ, *args)`), handing
/// every result to `convert` (index, result or NULL when the function is
/// absent). `convert` returns `Err(Raised)` with a Python exception set
/// (logged here), or `Err(Logged)` when it already logged the problem.
/// Returns `Missing` when `required` and the first function is absent.
#[allow(clippy::too_many_arguments)]
fn call<R>(
    interp: &Interp,
    spec: &HookSpec<'_>,
    kind: environ::Kind,
    functions: &[&str],
    args: &[Option<&[u8]>],
    required: bool,
    mut convert: impl FnMut(usize, *mut ffi::PyObject) -> Result<(), Bad>,
    finish: impl FnOnce() -> R,
) -> HookOutcome<R> {
    let attached = tstate::attach(interp);
    let previous = logging::set_current_request(spec.log_ctx);
    let load_spec = RequestSpec {
        script_path: spec.script_path,
        callable: functions.first().copied().unwrap_or(""),
        reload_script: spec.script_reloading,
        script_mtime: None,
        reload_hook: crate::wsgi::script::ReloadHook::Skip,
        environ: spec.environ,
        log_ctx: spec.log_ctx,
    };
    let outcome = (|| {
        let Ok(script::Loaded { module, .. }) = script::load(&attached, &load_spec) else {
            return HookOutcome::Error;
        };
        let io = NoIo;
        let mut state = RequestState::new(&io, spec.log_ctx);
        // SAFETY: GIL held with `interp` attached; every object is owned by
        // a PyOwned; the state pointer and the TLS binding are expired
        // before `state` and `spec` go away.
        unsafe {
            let dict = ffi::PyModule_GetDict(module.as_ptr());
            let lookup = |name: &str| {
                let name = CString::new(name).unwrap_or_default();
                PyOwned::from_borrowed(ffi::PyDict_GetItemString(dict, name.as_ptr()))
            };
            let callables: Vec<Option<PyOwned>> = functions.iter().map(|f| lookup(f)).collect();
            drop(module);
            if required && callables.first().is_none_or(|c| c.is_none()) {
                return HookOutcome::Missing;
            }
            let types = interp.types();
            let Some(errors) =
                crate::module::log_object::new_log(types.log, Level::Err, spec.log_ctx)
            else {
                request::log_exception(spec.script_path, spec.log_ctx);
                return HookOutcome::Error;
            };
            // The WSGI style's empty body; mod_wsgi's environs have none.
            let wsgi_input = match spec.style {
                EnvironStyle::ModWsgi => None,
                EnvironStyle::Wsgi => {
                    let state_ptr = (&mut state as *mut RequestState<'_>).cast::<c_void>();
                    let Some(wsgi_input) = input::new_input(types.input, state_ptr) else {
                        request::log_exception(spec.script_path, spec.log_ctx);
                        crate::module::log_object::finish(errors.as_ptr());
                        return HookOutcome::Error;
                    };
                    Some(wsgi_input)
                }
            };
            // mod_ssl.* exist in mod_wsgi's auth environ only.
            let ssl = if spec.style == EnvironStyle::ModWsgi && kind == environ::Kind::Auth {
                ssl::Bound::new(spec.ssl)
            } else {
                None
            };
            let built = match spec.style {
                EnvironStyle::Wsgi => wsgi_input.as_ref().and_then(|wsgi_input| {
                    crate::wsgi::environ::build(
                        interp,
                        spec.environ,
                        wsgi_input.as_ptr(),
                        errors.as_ptr(),
                    )
                }),
                // A failed binding left its exception set.
                EnvironStyle::ModWsgi if kind == environ::Kind::Auth && ssl.is_none() => None,
                EnvironStyle::ModWsgi => {
                    environ::build(interp, spec, kind, errors.as_ptr(), ssl.as_ref())
                }
            };
            let mut failed = false;
            let mut logged = false;
            match built {
                None => failed = true,
                Some(env) => {
                    for (index, callable) in callables.iter().enumerate() {
                        let Some(callable) = callable else {
                            if let Err(bad) = convert(index, std::ptr::null_mut()) {
                                failed = true;
                                logged = bad == Bad::Logged;
                                break;
                            }
                            continue;
                        };
                        let mut argv: Vec<PyOwned> = Vec::with_capacity(args.len() + 1);
                        let mut ok = true;
                        for value in args {
                            match arg(*value) {
                                Some(obj) => argv.push(obj),
                                None => {
                                    ok = false;
                                    break;
                                }
                            }
                        }
                        if !ok {
                            failed = true;
                            break;
                        }
                        let mut raw: Vec<*mut ffi::PyObject> = vec![env.as_ptr()];
                        raw.extend(argv.iter().map(PyOwned::as_ptr));
                        let Some(result) = object::call(callable.as_ptr(), &raw) else {
                            failed = true;
                            break;
                        };
                        if let Err(bad) = convert(index, result.as_ptr()) {
                            failed = true;
                            logged = bad == Bad::Logged;
                            break;
                        }
                    }
                }
            }
            // As mod_wsgi: the request is gone for the mod_ssl callables
            // as soon as the script has answered.
            if let Some(ssl) = &ssl {
                ssl.expire();
            }
            // Log (and clear) the exception first, then close the log
            // object: no secondary error from a pending exception.
            if failed && !logged {
                if ffi::PyErr_Occurred().is_null() {
                    error::set(ffi::PyExc_RuntimeError, "hook failed");
                }
                request::log_exception(spec.script_path, spec.log_ctx);
            }
            if let Some(wsgi_input) = &wsgi_input {
                input::expire(wsgi_input.as_ptr());
            }
            crate::module::log_object::finish(errors.as_ptr());
            drop(ssl);
            if failed {
                HookOutcome::Error
            } else {
                HookOutcome::Done(finish())
            }
        }
    })();
    logging::set_current_request(previous);
    outcome
}

/// `allow_access(environ, host)`: `Some(true/false)`, or `None` for a
/// `None` result (no opinion).
pub fn allow_access(
    interp: &Interp,
    spec: &HookSpec<'_>,
    host: Option<&[u8]>,
) -> HookOutcome<Option<bool>> {
    let mut answer = None;
    call(
        interp,
        spec,
        environ::Kind::Auth,
        &["allow_access"],
        &[host],
        true,
        |_, result| {
            // SAFETY: GIL held by `call`; `result` is a live object.
            unsafe {
                if result == object::none() {
                    answer = None;
                } else if result == ffi::Py_True() {
                    answer = Some(true);
                } else if result == ffi::Py_False() {
                    answer = Some(false);
                } else {
                    // mod_wsgi logs this line (no traceback) and denies.
                    log_line(
                        spec.log_ctx,
                        &format!(
                            "WSGIRT0601: mod_wsgi (pid={}): Indicator of host accessibility returned from '{}' must a boolean or None.",
                            std::process::id(),
                            spec.script_path
                        ),
                    );
                    answer = Some(false);
                }
            }
            Ok(())
        },
        || (),
    )
    .map(|()| answer)
}

impl<R> HookOutcome<R> {
    fn map<S>(self, f: impl FnOnce(R) -> S) -> HookOutcome<S> {
        match self {
            HookOutcome::Done(r) => HookOutcome::Done(f(r)),
            HookOutcome::Missing => HookOutcome::Missing,
            HookOutcome::Error => HookOutcome::Error,
        }
    }
}

/// `check_password(environ, user, password)`.
pub fn check_password(
    interp: &Interp,
    spec: &HookSpec<'_>,
    user: &[u8],
    password: &[u8],
) -> HookOutcome<Password> {
    let mut answer = Password::NotFound;
    call(
        interp,
        spec,
        environ::Kind::Auth,
        &["check_password"],
        &[Some(user), Some(password)],
        true,
        |_, result| {
            // SAFETY: GIL held by `call`; `result` is a live object.
            unsafe {
                if result == object::none() {
                    answer = Password::NotFound;
                } else if result == ffi::Py_True() {
                    answer = Password::Granted;
                } else if result == ffi::Py_False() {
                    answer = Password::Denied;
                } else if ffi::PyUnicode_Check(result) != 0 {
                    let Some(name) = object::str_as_utf8(result) else {
                        return Err(Bad::Raised);
                    };
                    answer = Password::Renamed(name.to_owned());
                } else {
                    error::set(
                        ffi::PyExc_TypeError,
                        "Basic auth provider must return True, False None or user name as string",
                    );
                    return Err(Bad::Raised);
                }
            }
            Ok(())
        },
        || (),
    )
    .map(|()| answer)
}

/// `get_realm_hash(environ, user, realm)`: the hash, or `None` (unknown user).
pub fn get_realm_hash(
    interp: &Interp,
    spec: &HookSpec<'_>,
    user: &[u8],
    realm: &[u8],
) -> HookOutcome<Option<Vec<u8>>> {
    let mut answer = None;
    call(
        interp,
        spec,
        environ::Kind::Auth,
        &["get_realm_hash"],
        &[Some(user), Some(realm)],
        true,
        |_, result| {
            // SAFETY: GIL held by `call`; `result` is a live object.
            unsafe {
                if result == object::none() {
                    answer = None;
                } else if ffi::PyBytes_Check(result) != 0 {
                    answer = Some(object::bytes_as_slice(result).to_vec());
                } else if ffi::PyUnicode_Check(result) != 0 {
                    let Some(latin) = PyOwned::from_owned(ffi::PyUnicode_AsLatin1String(result))
                    else {
                        ffi::PyErr_Clear();
                        error::set(
                            ffi::PyExc_TypeError,
                            "Digest auth provider must return None or string object, value containing non 'latin-1' characters found",
                        );
                        return Err(Bad::Raised);
                    };
                    answer = Some(object::bytes_as_slice(latin.as_ptr()).to_vec());
                } else {
                    error::set(
                        ffi::PyExc_TypeError,
                        "Digest auth provider must return None or string object",
                    );
                    return Err(Bad::Raised);
                }
            }
            Ok(())
        },
        || (),
    )
    .map(|()| answer)
}

/// `groups_for_user(environ, user)`: the group names (an iterable of `str`
/// or `bytes`).
pub fn groups_for_user(
    interp: &Interp,
    spec: &HookSpec<'_>,
    user: &[u8],
) -> HookOutcome<Vec<Vec<u8>>> {
    let mut groups = Vec::new();
    call(
        interp,
        spec,
        environ::Kind::Auth,
        &["groups_for_user"],
        &[Some(user)],
        true,
        |_, result| {
            // SAFETY: GIL held by `call`; `result` is a live object; every
            // item is owned by a PyOwned.
            unsafe {
                let groups_error = || {
                    log_line(
                        spec.log_ctx,
                        &format!(
                            "WSGIRT0602: mod_wsgi (pid={}): Groups for user returned from '{}' must be an iterable sequence of byte strings.",
                            std::process::id(),
                            spec.script_path
                        ),
                    );
                    Err(Bad::Logged)
                };
                let Some(iter) = PyOwned::from_owned(ffi::PyObject_GetIter(result)) else {
                    ffi::PyErr_Clear();
                    return groups_error();
                };
                while let Some(item) = PyOwned::from_owned(ffi::PyIter_Next(iter.as_ptr())) {
                    let item = item.as_ptr();
                    if ffi::PyBytes_Check(item) != 0 {
                        groups.push(object::bytes_as_slice(item).to_vec());
                    } else if ffi::PyUnicode_Check(item) != 0 {
                        let Some(latin) = PyOwned::from_owned(ffi::PyUnicode_AsLatin1String(item))
                        else {
                            return Err(Bad::Raised);
                        };
                        groups.push(object::bytes_as_slice(latin.as_ptr()).to_vec());
                    } else {
                        return groups_error();
                    }
                }
                if !ffi::PyErr_Occurred().is_null() {
                    return Err(Bad::Raised);
                }
            }
            Ok(())
        },
        || (),
    )
    .map(|()| groups)
}

/// The dispatch script's `process_group`, `application_group` and
/// `callable_object` (each optional; `None` results leave the setting).
pub fn dispatch(interp: &Interp, spec: &HookSpec<'_>) -> HookOutcome<Dispatch> {
    let mut answer = Dispatch::default();
    const NAMES: [&str; 3] = ["Process group", "Application group", "Callable object"];
    call(
        interp,
        spec,
        environ::Kind::Dispatch,
        &["process_group", "application_group", "callable_object"],
        &[],
        false,
        |index, result| {
            if result.is_null() {
                return Ok(());
            }
            // SAFETY: GIL held by `call`; `result` is a live object.
            unsafe {
                if result == object::none() {
                    return Ok(());
                }
                let value = if ffi::PyUnicode_Check(result) != 0 {
                    let Some(latin) = PyOwned::from_owned(ffi::PyUnicode_AsLatin1String(result))
                    else {
                        ffi::PyErr_Clear();
                        error::set(
                            ffi::PyExc_TypeError,
                            &format!(
                                "{} must be a byte string, value containing non 'latin-1' characters found",
                                NAMES[index]
                            ),
                        );
                        return Err(Bad::Raised);
                    };
                    object::bytes_as_slice(latin.as_ptr()).to_vec()
                } else if ffi::PyBytes_Check(result) != 0 {
                    object::bytes_as_slice(result).to_vec()
                } else {
                    error::set(
                        ffi::PyExc_TypeError,
                        &format!("{} must be a string object", NAMES[index]),
                    );
                    return Err(Bad::Raised);
                };
                let value: String = value.iter().map(|&b| b as char).collect();
                match index {
                    0 => answer.process_group = Some(value),
                    1 => answer.application_group = Some(value),
                    _ => answer.callable_object = Some(value),
                }
            }
            Ok(())
        },
        || (),
    )
    .map(|()| answer)
}
