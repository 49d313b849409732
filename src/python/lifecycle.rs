//! Starting and stopping CPython in this process.

use crate::config::{HashSeed, RuntimeConfig};
use crate::python::object;
use pyo3::ffi;
use std::ffi::CString;
use std::path::Path;

/// The interpreter this library was built against (`PYO3_PYTHON`), used as
/// `sys.executable` when no virtual environment says otherwise.
pub const BUILD_PYTHON: &str = env!("WSGIRT_BUILD_PYTHON");

/// Why Python could not start.
#[derive(Debug)]
pub struct InitError(pub String);

/// Sets one wide-string field of a `PyConfig` from UTF-8 text.
unsafe fn set_string(
    config: *mut ffi::PyConfig,
    field: *mut *mut libc::wchar_t,
    value: &str,
) -> Result<(), InitError> {
    let text = CString::new(value).map_err(|_| InitError(format!("NUL in '{value}'")))?;
    // SAFETY: `config` is initialised and `field` points into it.
    let status = unsafe { ffi::PyConfig_SetBytesString(config, field, text.as_ptr()) };
    // SAFETY: plain inspection of the returned status.
    if unsafe { ffi::PyStatus_Exception(status) } != 0 {
        return Err(InitError(format!("cannot set '{value}'")));
    }
    Ok(())
}

/// Turns a failed `PyStatus` into an [`InitError`].
///
/// # Safety
/// `status` must come from a CPython initialisation call.
unsafe fn check(status: ffi::PyStatus) -> Result<(), InitError> {
    // SAFETY: plain inspection of the status; `err_msg` is NULL or a static
    // C string.
    unsafe {
        if ffi::PyStatus_Exception(status) == 0 {
            return Ok(());
        }
        Err(InitError(if status.err_msg.is_null() {
            "unknown error".to_owned()
        } else {
            std::ffi::CStr::from_ptr(status.err_msg)
                .to_string_lossy()
                .into_owned()
        }))
    }
}

/// Initialises Python with `config` on the calling thread, which keeps the
/// GIL and the main thread state on success. The `mod_wsgi` and `apache`
/// builtins must already be registered.
///
/// mod_wsgi 4.9.4 starts Python with the legacy `Py_Initialize()`, whose
/// "compat" preset differs from the command-line ("python") preset that
/// `PyConfig_InitPythonConfig` gives. The settings that differ in ways an
/// application or the host can notice are set here as the legacy API has
/// them, so that Python behaves as under mod_wsgi (see [`preinitialize`]
/// and [`configure`]).
///
/// # Safety
/// Called at most once per process, with Python not initialised.
pub unsafe fn initialize(config: &RuntimeConfig) -> Result<(), InitError> {
    // SAFETY: per contract, Python is not initialised yet.
    unsafe { preinitialize() }?;
    // SAFETY: `PyConfig` is plain data initialised by PyConfig_InitPythonConfig
    // and cleared on every path below.
    unsafe {
        let mut pc: ffi::PyConfig = std::mem::zeroed();
        ffi::PyConfig_InitPythonConfig(&mut pc);
        let result = configure(&mut pc, config);
        let result = result.and_then(|()| check(ffi::Py_InitializeFromConfig(&pc)));
        ffi::PyConfig_Clear(&mut pc);
        result?;
    }
    if config.hash_seed != HashSeed::FromEnvironment {
        // SAFETY: Python is initialised and this thread holds the GIL.
        unsafe { forget_hash_seed_variable() };
    }
    Ok(())
}

/// Pre-initialises Python as the legacy `Py_Initialize()` does: no UTF-8
/// mode and no C locale coercion, whatever the locale (`LANG=C` in Debian's
/// `/etc/apache2/envvars`) or `PYTHONUTF8` / `PYTHONCOERCECLOCALE` say. The
/// "python" preset would switch a C locale to UTF-8 mode and, worse for a
/// host process, coerce it: `setlocale(LC_CTYPE, "C.UTF-8")` for the whole
/// process (every other Apache module included) and `LC_CTYPE=C.UTF-8` in
/// the environment. As under the legacy API, Python still sets `LC_CTYPE`
/// from the environment (`setlocale(LC_CTYPE, "")`), so a daemon's
/// `lang=`/`locale=` and Apache's own `LANG`/`LC_ALL` take effect.
///
/// # Safety
/// Called at most once per process, with Python not initialised.
unsafe fn preinitialize() -> Result<(), InitError> {
    // SAFETY: `PyPreConfig` is plain data initialised by
    // PyPreConfig_InitPythonConfig; Py_PreInitialize copies it.
    unsafe {
        let mut pre: ffi::PyPreConfig = std::mem::zeroed();
        ffi::PyPreConfig_InitPythonConfig(&mut pre);
        pre.parse_argv = 0;
        pre.utf8_mode = 0;
        pre.coerce_c_locale = 0;
        pre.coerce_c_locale_warn = 0;
        check(ffi::Py_PreInitialize(&pre))
    }
}

/// mod_wsgi passes `WSGIPythonHashSeed` to Python as `PYTHONHASHSEED` and
/// removes that variable again once Python has started, so that neither
/// `os.environ` nor the process environment (subprocesses) keeps it, even
/// when Apache's environment had one. wsgirt hands the seed over in the
/// configuration instead; this removes the variable as mod_wsgi leaves it
/// removed.
///
/// # Safety
/// Python is initialised and this thread holds the GIL of the main
/// interpreter.
unsafe fn forget_hash_seed_variable() {
    // SAFETY: GIL held per contract; every reference is owned and released.
    unsafe {
        let Some(os) = object::import(c"os") else {
            ffi::PyErr_Clear();
            return;
        };
        let Some(environ) = object::getattr(os.as_ptr(), c"environ") else {
            ffi::PyErr_Clear();
            return;
        };
        // `os.environ.pop(name, None)`: deleting from os.environ also unsets
        // the variable in the process environment.
        let Some(key) = object::str_from_utf8("PYTHONHASHSEED") else {
            ffi::PyErr_Clear();
            return;
        };
        if ffi::PyMapping_HasKey(environ.as_ptr(), key.as_ptr()) != 0
            && ffi::PyObject_DelItem(environ.as_ptr(), key.as_ptr()) < 0
        {
            ffi::PyErr_Clear();
        }
    }
}

unsafe fn configure(pc: &mut ffi::PyConfig, config: &RuntimeConfig) -> Result<(), InitError> {
    // The host keeps its signals; Python must not install handlers (except
    // in the managed threads=0 mode, which is not this path). This is the
    // one setting kept apart from the legacy Py_Initialize() of mod_wsgi,
    // which ignores SIGPIPE and SIGXFSZ and catches SIGINT when it is at its
    // default. Apache's children already ignore both and catch SIGINT, and
    // other hosts keep their own dispositions; only a daemon process ends
    // up with SIGXFSZ at its default where mod_wsgi's ignores it
    // (docs/status.md).
    pc.install_signal_handlers = 0;
    // No command line to parse, and the host's C stdio stays as the host
    // set it up (the legacy API leaves it alone too; the "python" preset
    // would make it unbuffered under PYTHONUNBUFFERED).
    pc.parse_argv = 0;
    pc.configure_c_stdio = 0;
    pc.optimization_level = config.optimize;
    pc.write_bytecode = i32::from(!config.dont_write_bytecode);
    match config.hash_seed {
        // -1 (the preset's value): PYTHONHASHSEED decides, as under mod_wsgi.
        HashSeed::FromEnvironment => pc.use_hash_seed = -1,
        HashSeed::Random => pc.use_hash_seed = 0,
        HashSeed::Fixed(seed) => {
            pc.use_hash_seed = 1;
            pc.hash_seed = seed as _;
        }
    }
    let pcp: *mut ffi::PyConfig = pc;
    // SAFETY: every field pointer points into `*pcp`, which is initialised.
    unsafe {
        // A virtual environment cannot be used as PYTHONHOME: like mod_wsgi,
        // point the program name at its interpreter so Python finds
        // pyvenv.cfg; a plain prefix becomes the home.
        let program = match &config.python_home {
            Some(home) if Path::new(home).join("pyvenv.cfg").exists() => {
                format!("{home}/bin/python")
            }
            Some(home) => {
                set_string(pcp, &mut (*pcp).home, home)?;
                format!("{home}/bin/python3")
            }
            None => BUILD_PYTHON.to_owned(),
        };
        set_string(pcp, &mut (*pcp).program_name, &program)?;
        for option in &config.warnings {
            let text = CString::new(option.as_str())
                .map_err(|_| InitError("NUL in warnings option".into()))?;
            let wide = ffi::Py_DecodeLocale(text.as_ptr(), std::ptr::null_mut());
            if wide.is_null() {
                return Err(InitError(format!(
                    "cannot decode warnings option '{option}'"
                )));
            }
            let status = ffi::PyWideStringList_Append(&mut (*pcp).warnoptions, wide);
            ffi::PyMem_RawFree(wide.cast());
            if ffi::PyStatus_Exception(status) != 0 {
                return Err(InitError(format!("cannot add warnings option '{option}'")));
            }
        }
    }
    Ok(())
}

/// Finalises Python. The calling thread must hold the GIL with a
/// main-interpreter thread state current; no other thread may be attached.
///
/// # Safety
/// As above; after it returns no Python API may be used.
pub unsafe fn finalize() {
    // SAFETY: per contract.
    unsafe {
        ffi::Py_FinalizeEx();
    }
}
