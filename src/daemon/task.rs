//! Managed-task mode (`WSGIDaemonProcess ... threads=0`, mod_wsgi 4.6.0):
//! a daemon process that accepts no requests and instead runs its
//! `WSGIImportScript`s on the process's main thread, as a long-running
//! task (mod_wsgi-express's `--service-script`).
//!
//! The host calls [`prepare`] once, on the thread that created the runtime,
//! before it imports the scripts; then it imports them (each runs until it
//! returns) and lets the process exit, so that its supervisor starts a new
//! one. What [`prepare`] arranges, as mod_wsgi 4.9.4 does:
//!
//! - SIGTERM (Apache's stop and restart) and SIGINT raise `SystemExit` in
//!   the main thread, through Python's own signal machinery, so the task's
//!   `finally:` blocks and context managers run; a handler the task
//!   installs itself with `signal.signal(SIGTERM, …)` replaces ours (the
//!   host must build the runtime with `WSGIRT_FLAG_RESTRICT_SIGNAL` off so
//!   that `signal.signal()` is not intercepted);
//! - `SystemExit` leaving a script is the normal way for a task to end and
//!   is not logged as an error.

use crate::logging::{self, Level};
use crate::python::object::PyOwned;
use crate::python::tstate;
use crate::runtime::{Runtime, RuntimeError};
use crate::wsgi::script;
use pyo3::ffi;

/// Installs the task-mode signal handlers in the main interpreter and
/// turns off `SystemExit` error lines for imported scripts. Must run on
/// the thread that initialised Python (Python runs signal handlers, and
/// accepts `signal.signal()`, only there).
pub fn prepare(runtime: &Runtime) -> Result<(), RuntimeError> {
    const SOURCE: &std::ffi::CStr = c"
import signal as _signal

def _wsgirt_task_exit(signum, frame):
    raise SystemExit(0)

_signal.signal(_signal.SIGTERM, _wsgirt_task_exit)
_signal.signal(_signal.SIGINT, _wsgirt_task_exit)
";
    let main = runtime.group("")?;
    let attached = tstate::attach(&main);
    // SAFETY: the GIL is held with the main interpreter attached; SOURCE
    // is a NUL-terminated string; every new reference is owned by a
    // PyOwned and released when it drops.
    let ok = unsafe {
        (|| -> Option<()> {
            let globals = PyOwned::from_owned(ffi::PyDict_New())?;
            ffi::PyDict_SetItemString(
                globals.as_ptr(),
                c"__builtins__".as_ptr(),
                ffi::PyEval_GetBuiltins(),
            );
            PyOwned::from_owned(ffi::PyRun_String(
                SOURCE.as_ptr(),
                ffi::Py_file_input,
                globals.as_ptr(),
                globals.as_ptr(),
            ))?;
            Some(())
        })()
        .is_some()
    };
    if !ok {
        // SAFETY: GIL held; prints and clears the pending exception.
        unsafe { crate::wsgi::request::log_exception("<managed task>", std::ptr::null_mut()) };
        logging::log_process(
            Level::Err,
            &format!(
                "WSGIRT0515: mod_wsgi (pid={}): Call to 'signal.signal()' to register exit function failed, ignoring.",
                std::process::id()
            ),
        );
    }
    drop(attached);
    script::set_quiet_system_exit(true);
    Ok(())
}
