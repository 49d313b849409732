//! Starting and stopping CPython in this process.

use crate::config::{HashSeed, RuntimeConfig};
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

/// Initialises Python with `config` on the calling thread, which keeps the
/// GIL and the main thread state on success. The `mod_wsgi` and `apache`
/// builtins must already be registered.
///
/// # Safety
/// Called at most once per process, with Python not initialised.
pub unsafe fn initialize(config: &RuntimeConfig) -> Result<(), InitError> {
    // SAFETY: `PyConfig` is plain data initialised by PyConfig_InitPythonConfig
    // and cleared on every path below.
    unsafe {
        let mut pc: ffi::PyConfig = std::mem::zeroed();
        ffi::PyConfig_InitPythonConfig(&mut pc);
        let result = configure(&mut pc, config);
        let result = result.and_then(|()| {
            let status = ffi::Py_InitializeFromConfig(&pc);
            if ffi::PyStatus_Exception(status) != 0 {
                let message = if status.err_msg.is_null() {
                    "unknown error".to_owned()
                } else {
                    std::ffi::CStr::from_ptr(status.err_msg)
                        .to_string_lossy()
                        .into_owned()
                };
                Err(InitError(message))
            } else {
                Ok(())
            }
        });
        ffi::PyConfig_Clear(&mut pc);
        result
    }
}

unsafe fn configure(pc: &mut ffi::PyConfig, config: &RuntimeConfig) -> Result<(), InitError> {
    // Apache keeps its signals; Python must not install handlers (except
    // in the managed threads=0 mode, which is not this path).
    pc.install_signal_handlers = 0;
    pc.parse_argv = 0;
    pc.optimization_level = config.optimize;
    pc.write_bytecode = i32::from(!config.dont_write_bytecode);
    match config.hash_seed {
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
