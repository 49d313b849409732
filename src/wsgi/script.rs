//! Loading WSGI script files as modules named `_mod_wsgi_<md5 of path>`,
//! with mtime-based reloading (`WSGIScriptReloading`).

use crate::logging::{self, Level};
use crate::python::error;
use crate::python::interp::{Interp, LoadedScript};
use crate::python::object::{self, PyOwned};
use crate::python::tstate::{self, Attached};
use crate::wsgi::request::{self, RequestSpec};
use md5::{Digest, Md5};
use pyo3::ffi;
use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicBool, Ordering};

/// `SystemExit` leaving a script's import is the normal end of a managed
/// task (`threads=0`, [`crate::daemon::task`]): not logged then, as in
/// mod_wsgi. Process-wide, because such a process runs nothing else.
static QUIET_SYSTEM_EXIT: AtomicBool = AtomicBool::new(false);

/// Turns the `SystemExit` error line of script imports off (or on).
pub fn set_quiet_system_exit(quiet: bool) {
    QUIET_SYSTEM_EXIT.store(quiet, Ordering::Release);
}

/// Why no module came back.
#[derive(Debug)]
pub enum LoadError {
    /// The script could not be loaded; the reason is already logged.
    Failed,
    /// The script's `reload_required(resource)` answered true in a daemon
    /// process ([`ReloadHook::RestartProcess`]): the process must restart
    /// before the request is served.
    RestartRequired,
}

/// Whether a request asks the script's own `reload_required(resource)`
/// function (mod_wsgi 3.0) before using an unchanged, loaded script, and
/// what a true answer means. Only with `WSGIScriptReloading On`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadHook {
    /// Not asked: access, authentication and dispatch scripts, for which
    /// mod_wsgi passes no resource.
    Skip,
    /// Embedded mode: the script is loaded again in place.
    ReloadModule,
    /// Daemon mode: the process restarts, as for a changed file.
    RestartProcess,
}

/// The module name mod_wsgi gives a script: `_mod_wsgi_` + md5 hex of the
/// path (lowercased first when `WSGICaseSensitivity Off`).
pub fn module_name(path: &str, case_sensitive: bool) -> String {
    let path = if case_sensitive {
        path.to_owned()
    } else {
        path.to_lowercase()
    };
    let digest = Md5::digest(path.as_bytes());
    let mut name = String::with_capacity(10 + 32);
    name.push_str("_mod_wsgi_");
    for byte in digest {
        name.push_str(&format!("{byte:02x}"));
    }
    name
}

/// The file's modification time in microseconds (0 when it cannot be read),
/// the unit Apache uses for `r->finfo.mtime`.
pub fn mtime_of(path: &str) -> i64 {
    std::fs::metadata(path).map_or(0, |m| m.mtime() * 1_000_000 + m.mtime_nsec() / 1000)
}

/// A loaded script's module and the interned name of the callable asked for.
pub struct Loaded {
    pub module: PyOwned,
    pub callable_name: PyOwned,
}

/// Returns the script's module, loading or reloading it as needed.
pub fn load(attached: &Attached<'_>, spec: &RequestSpec<'_>) -> Result<Loaded, LoadError> {
    let interp = attached.interp;
    let current_mtime = spec.reload_script.then(|| {
        spec.script_mtime
            .unwrap_or_else(|| mtime_of(spec.script_path))
    });
    // SAFETY: attached; the cache borrow ends before any GIL release.
    let stale = match unsafe { cached(interp, spec.script_path, current_mtime, spec.callable) } {
        Some(Ok(loaded)) => {
            // SAFETY: attached; the module is alive (owned by `loaded`).
            let asked = spec.reload_script
                && unsafe { reload_required(interp, spec, loaded.module.as_ptr()) };
            if !asked {
                return Ok(loaded);
            }
            if spec.reload_hook == ReloadHook::RestartProcess {
                return Err(LoadError::RestartRequired);
            }
            true
        }
        Some(Err(err)) => return Err(err),
        None => false,
    };
    let _guard = tstate::allow_threads(|| interp.script_lock.lock());
    if !stale {
        // SAFETY: as above; re-checked under the lock (another thread may have loaded it).
        let again = unsafe { cached(interp, spec.script_path, current_mtime, spec.callable) };
        if let Some(loaded) = again {
            return loaded;
        }
    }
    let mtime = current_mtime.unwrap_or_else(|| mtime_of(spec.script_path));
    load_locked(interp, spec.script_path, mtime, spec.log_ctx)?;
    // SAFETY: as above; just inserted.
    unsafe { cached(interp, spec.script_path, None, spec.callable) }
        .unwrap_or(Err(LoadError::Failed))
}

/// Asks the loaded script's `reload_required(resource)`, if it defines one
/// and the request's [`ReloadHook`] allows: `resource` is the file the
/// request maps to (`SCRIPT_FILENAME`: the script itself, or the file a
/// `WSGIHandlerScript` handles), decoded as file names are. An exception
/// is logged with its traceback, naming the script, and counts as "no",
/// as in mod_wsgi.
///
/// # Safety
/// GIL held with `interp` attached; `module` valid.
unsafe fn reload_required(
    interp: &Interp,
    spec: &RequestSpec<'_>,
    module: *mut ffi::PyObject,
) -> bool {
    if spec.reload_hook == ReloadHook::Skip {
        return false;
    }
    // SAFETY: per contract; every new reference is owned by a PyOwned.
    unsafe {
        let dict = ffi::PyModule_GetDict(module);
        let found = ffi::PyDict_GetItemWithError(dict, interp.cache().name_reload_required);
        // Held for the call: the function may replace itself in the module.
        let Some(function) = PyOwned::from_borrowed(found) else {
            ffi::PyErr_Clear();
            return false;
        };
        let resource = spec.resource();
        let answer = PyOwned::from_owned(ffi::PyUnicode_DecodeFSDefaultAndSize(
            resource.as_ptr().cast(),
            resource.len() as ffi::Py_ssize_t,
        ))
        .and_then(|path| {
            PyOwned::from_owned(ffi::PyObject_CallOneArg(function.as_ptr(), path.as_ptr()))
        })
        .map(|result| ffi::PyObject_IsTrue(result.as_ptr()));
        match answer {
            Some(truth) if truth >= 0 => truth == 1,
            _ => {
                request::log_exception(spec.script_path, spec.log_ctx);
                false
            }
        }
    }
}

/// Preloads a script into an interpreter (`WSGIImportScript`).
pub fn preload(attached: &Attached<'_>, path: &str) -> Result<(), LoadError> {
    let interp = attached.interp;
    let _guard = tstate::allow_threads(|| interp.script_lock.lock());
    // SAFETY: attached.
    if unsafe { interp.cache().scripts.contains_key(path) } {
        return Ok(());
    }
    load_locked(interp, path, mtime_of(path), std::ptr::null_mut())
}

/// The cached module if present and (when reloading) unchanged, with the
/// interned callable name (created once per script and name).
unsafe fn cached(
    interp: &Interp,
    path: &str,
    mtime: Option<i64>,
    callable: &str,
) -> Option<Result<Loaded, LoadError>> {
    // SAFETY: GIL held with `interp` attached (caller's contract).
    unsafe {
        let script = interp.cache().scripts.get_mut(path)?;
        if mtime.is_some_and(|m| m != script.mtime) {
            return None;
        }
        let module = PyOwned::from_borrowed(script.module)?;
        let key = match &script.callable {
            Some((name, key)) if **name == *callable => *key,
            _ => {
                let Some(key) = object::str_from_utf8(callable) else {
                    return Some(Err(LoadError::Failed));
                };
                let mut key = key.into_ptr();
                ffi::PyUnicode_InternInPlace(&mut key);
                if let Some((_, old)) = script.callable.replace((callable.into(), key)) {
                    ffi::Py_DECREF(old);
                }
                key
            }
        };
        let callable_name = PyOwned::from_borrowed(key)?;
        Some(Ok(Loaded {
            module,
            callable_name,
        }))
    }
}

fn load_locked(
    interp: &Interp,
    path: &str,
    mtime: i64,
    log_ctx: *mut std::ffi::c_void,
) -> Result<(), LoadError> {
    let case_sensitive = crate::runtime::case_sensitive();
    let name = module_name(path, case_sensitive);
    let pid = std::process::id();
    let log_now = |level: Level, message: String| {
        tstate::allow_threads(|| logging::log(level, log_ctx, &message));
    };
    // SAFETY: GIL held with `interp` attached (the caller holds `Attached`);
    // every object is owned by a PyOwned or handed to the cache.
    unsafe {
        let c_name = CString::new(name.clone()).map_err(|_| LoadError::Failed)?;
        let c_path = CString::new(path).map_err(|_| LoadError::Failed)?;
        // Forget a stale copy, in the cache and in sys.modules.
        let reloading = interp.cache().scripts.contains_key(path);
        if let Some(old) = interp.cache().scripts.remove(path) {
            old.release();
            let modules = ffi::PyImport_GetModuleDict();
            if ffi::PyDict_DelItemString(modules, c_name.as_ptr()) != 0 {
                ffi::PyErr_Clear();
            }
        }
        let group = interp.name.clone();
        log_now(
            Level::Info,
            format!(
                "mod_wsgi (pid={pid}, process='{}', application='{}'): {} '{path}'.",
                crate::runtime::process_group(),
                group,
                if reloading {
                    "Reloading WSGI script"
                } else {
                    "Loading Python script file"
                }
            ),
        );
        // A script Apache's user cannot read is a common first-deploy
        // failure: keep the cause, logged below with the other details.
        let source = match std::fs::read(path) {
            Ok(mut bytes) => {
                bytes.retain(|&b| b != 0);
                bytes.push(0);
                CString::from_vec_with_nul(bytes).ok()
            }
            Err(err) => {
                error::set_os_error(&err, path);
                None
            }
        };
        let code = source.and_then(|source| {
            PyOwned::from_owned(ffi::Py_CompileStringExFlags(
                source.as_ptr(),
                c_path.as_ptr(),
                ffi::Py_file_input,
                std::ptr::null_mut(),
                -1,
            ))
        });
        let Some(code) = code else {
            log_now(
                Level::Err,
                format!(
                    "WSGIRT0201: mod_wsgi (pid={pid}, process='{}', application='{group}'): Could not read/compile source file '{path}'.",
                    crate::runtime::process_group()
                ),
            );
            if ffi::PyErr_Occurred().is_null() {
                return Err(LoadError::Failed);
            }
            request::log_exception(path, log_ctx);
            return Err(LoadError::Failed);
        };
        let module = PyOwned::from_owned(ffi::PyImport_ExecCodeModuleEx(
            c_name.as_ptr(),
            code.as_ptr(),
            c_path.as_ptr(),
        ));
        let Some(module) = module else {
            if ffi::PyErr_ExceptionMatches(ffi::PyExc_SystemExit) != 0 {
                if QUIET_SYSTEM_EXIT.load(Ordering::Acquire) {
                    ffi::PyErr_Clear();
                    return Err(LoadError::Failed);
                }
                log_now(
                    Level::Err,
                    format!("WSGIRT0202: mod_wsgi (pid={pid}): SystemExit exception raised when doing exec of Python script file '{path}'."),
                );
                // Then, as mod_wsgi, "... ignored." with the traceback
                // that shows where the script exited.
                request::log_exception(path, log_ctx);
            } else {
                log_now(
                    Level::Err,
                    format!("WSGIRT0203: mod_wsgi (pid={pid}): Failed to exec Python script file '{path}'."),
                );
                request::log_exception(path, log_ctx);
            }
            return Err(LoadError::Failed);
        };
        let mtime_obj =
            PyOwned::from_owned(ffi::PyLong_FromLongLong(mtime)).ok_or(LoadError::Failed)?;
        ffi::PyObject_SetAttrString(module.as_ptr(), c"__mtime__".as_ptr(), mtime_obj.as_ptr());
        ffi::PyErr_Clear();
        let name_obj = object::str_from_utf8(&name).ok_or(LoadError::Failed)?;
        interp.cache().scripts.insert(
            path.to_owned(),
            LoadedScript {
                module: module.into_ptr(),
                name: name_obj.into_ptr(),
                mtime,
                callable: None,
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_follow_mod_wsgi() {
        // md5("/srv/app.wsgi")
        let name = module_name("/srv/app.wsgi", true);
        assert!(name.starts_with("_mod_wsgi_"));
        assert_eq!(name.len(), "_mod_wsgi_".len() + 32);
        assert_eq!(
            module_name("/srv/APP.wsgi", false),
            module_name("/srv/app.wsgi", false)
        );
        assert_ne!(
            module_name("/srv/APP.wsgi", true),
            module_name("/srv/app.wsgi", true)
        );
    }
}
