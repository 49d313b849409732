//! The `mod_wsgi` and `apache` Python modules, built into every interpreter.
//!
//! Both are PEP 489 multi-phase modules registered with
//! `PyImport_AppendInittab` before Python starts, so each interpreter gets
//! its own module object, its own heap types (held in per-module state) and
//! nothing is shared across interpreters. A pip-installed `mod_wsgi`
//! package cannot shadow them (builtins win); as mod_wsgi imports such a
//! package and adds its attributes to it, `bootstrap.py` gives our module
//! the package's `__path__` and runs its `__init__` in it instead.

pub mod diagnostics;
pub mod log_object;
pub mod types;

use crate::config::RuntimeConfig;
use crate::logging::{self, Level};
use crate::python::object::{self, PyOwned};
use crate::wsgi::{file_wrapper, input, start_response};
use pyo3::ffi;
use std::ffi::{c_int, c_void, CStr};
use std::ptr::{addr_of_mut, null_mut};
use std::sync::OnceLock;

/// The version tuple reported as `mod_wsgi.version`: the mod_wsgi release
/// whose behaviour wsgirt is tested against side by side (Debian's 4.9.4).
pub const MOD_WSGI_VERSION: (i64, i64, i64) = (4, 9, 4);

/// Process-wide facts the modules expose, fixed when the runtime starts.
static PROCESS: OnceLock<RuntimeConfig> = OnceLock::new();

/// Records the configuration the modules read (first runtime wins).
pub fn set_process_config(config: &RuntimeConfig) {
    let _ = PROCESS.set(config.clone());
}

fn process() -> RuntimeConfig {
    PROCESS.get().cloned().unwrap_or_default()
}

/// `request_metrics()`'s figures of this process: its request threads,
/// and whether it is a daemon process (which has queue and daemon times).
pub fn request_threads_and_daemon() -> (usize, bool) {
    PROCESS.get().map_or((1, false), |config| {
        (
            config.threads_per_process.max(1) as usize,
            !config.process_group.is_empty(),
        )
    })
}

/// `WSGIServerMetrics On` / `server-metrics=On` for this process.
pub fn server_metrics_enabled() -> bool {
    PROCESS.get().is_some_and(|config| config.server_metrics)
}

/// Per-module state of `mod_wsgi`: this interpreter's heap types.
#[repr(C)]
pub struct ModuleState {
    pub log_type: *mut ffi::PyObject,
    pub input_type: *mut ffi::PyObject,
    pub start_response_type: *mut ffi::PyObject,
    pub file_wrapper_type: *mut ffi::PyObject,
    /// `mod_wsgi.RequestTimeout`, raised into requests past interrupt-timeout.
    pub request_timeout_type: *mut ffi::PyObject,
}

static mut MOD_WSGI_SLOTS: [ffi::PyModuleDef_Slot; 2] = [
    ffi::PyModuleDef_Slot {
        slot: ffi::Py_mod_exec,
        value: mod_wsgi_exec as *mut c_void,
    },
    ffi::PyModuleDef_Slot {
        slot: 0,
        value: null_mut(),
    },
];

static mut MOD_WSGI_METHODS: [ffi::PyMethodDef; 9] = [
    ffi::PyMethodDef {
        ml_name: c"_wsgirt_log".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunction: wsgirt_log,
        },
        ml_flags: ffi::METH_VARARGS,
        ml_doc: c"_wsgirt_log(level, message): write one line to the host's error log.".as_ptr(),
    },
    ffi::PyMethodDef {
        ml_name: c"subscribe_events".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunction: diagnostics::subscribe_events,
        },
        ml_flags: ffi::METH_O,
        ml_doc: c"subscribe_events(callback): call callback(name, **event) for every event."
            .as_ptr(),
    },
    ffi::PyMethodDef {
        ml_name: c"subscribe_shutdown".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunction: diagnostics::subscribe_shutdown,
        },
        ml_flags: ffi::METH_O,
        ml_doc:
            c"subscribe_shutdown(callback): call callback('process_stopping', **event) at shutdown."
                .as_ptr(),
    },
    ffi::PyMethodDef {
        ml_name: c"request_data".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunction: diagnostics::request_data,
        },
        ml_flags: ffi::METH_NOARGS,
        ml_doc: c"request_data(): the dict of the request running on this thread.".as_ptr(),
    },
    ffi::PyMethodDef {
        ml_name: c"process_metrics".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunction: diagnostics::process_metrics,
        },
        ml_flags: ffi::METH_NOARGS,
        ml_doc: c"process_metrics(): request counts, memory and CPU of this process.".as_ptr(),
    },
    ffi::PyMethodDef {
        ml_name: c"request_metrics".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunction: diagnostics::request_metrics,
        },
        ml_flags: ffi::METH_NOARGS,
        ml_doc: c"request_metrics(): request times and throughput since the previous call ({} on the first, which starts sampling).".as_ptr(),
    },
    ffi::PyMethodDef {
        ml_name: c"server_metrics".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunction: diagnostics::server_metrics,
        },
        ml_flags: ffi::METH_NOARGS,
        ml_doc: c"server_metrics(): the web server's scoreboard, or None unless enabled.".as_ptr(),
    },
    ffi::PyMethodDef::zeroed(),
    ffi::PyMethodDef::zeroed(),
];

static mut MOD_WSGI_DEF: ffi::PyModuleDef = ffi::PyModuleDef {
    m_base: ffi::PyModuleDef_HEAD_INIT,
    m_name: c"mod_wsgi".as_ptr(),
    m_doc: c"Runtime information and helpers for WSGI applications hosted by wsgirt.".as_ptr(),
    m_size: std::mem::size_of::<ModuleState>() as ffi::Py_ssize_t,
    m_methods: addr_of_mut!(MOD_WSGI_METHODS).cast(),
    m_slots: addr_of_mut!(MOD_WSGI_SLOTS).cast(),
    m_traverse: Some(mod_wsgi_traverse),
    m_clear: Some(mod_wsgi_clear),
    m_free: Some(mod_wsgi_free),
};

static mut APACHE_SLOTS: [ffi::PyModuleDef_Slot; 2] = [
    ffi::PyModuleDef_Slot {
        slot: ffi::Py_mod_exec,
        value: apache_exec as *mut c_void,
    },
    ffi::PyModuleDef_Slot {
        slot: 0,
        value: null_mut(),
    },
];

static mut APACHE_DEF: ffi::PyModuleDef = ffi::PyModuleDef {
    m_base: ffi::PyModuleDef_HEAD_INIT,
    m_name: c"apache".as_ptr(),
    m_doc: c"Facts about the hosting web server.".as_ptr(),
    m_size: 0,
    m_methods: null_mut(),
    // SAFETY: only the address is taken.
    m_slots: addr_of_mut!(APACHE_SLOTS).cast(),
    m_traverse: None,
    m_clear: None,
    m_free: None,
};

/// Registers both modules as builtins. Must run before `Py_Initialize*`.
pub fn register_builtins() -> bool {
    // SAFETY: called once, before Python is initialised, with static names.
    unsafe {
        ffi::PyImport_AppendInittab(c"mod_wsgi".as_ptr(), Some(init_mod_wsgi)) == 0
            && ffi::PyImport_AppendInittab(c"apache".as_ptr(), Some(init_apache)) == 0
    }
}

extern "C" fn init_mod_wsgi() -> *mut ffi::PyObject {
    // SAFETY: returns the static definition for multi-phase init.
    unsafe { ffi::PyModuleDef_Init(addr_of_mut!(MOD_WSGI_DEF)) }
}

extern "C" fn init_apache() -> *mut ffi::PyObject {
    // SAFETY: as above.
    unsafe { ffi::PyModuleDef_Init(addr_of_mut!(APACHE_DEF)) }
}

/// This interpreter's module state, from its `mod_wsgi` module object.
///
/// # Safety
/// GIL held; `module` is a `mod_wsgi` module created from our definition.
pub unsafe fn state(module: *mut ffi::PyObject) -> *mut ModuleState {
    // SAFETY: per contract.
    unsafe { ffi::PyModule_GetState(module).cast() }
}

unsafe fn add_object(module: *mut ffi::PyObject, name: &CStr, value: Option<PyOwned>) -> bool {
    match value {
        // SAFETY: PyModule_AddObjectRef takes a new reference of its own.
        Some(value) => unsafe {
            ffi::PyModule_AddObjectRef(module, name.as_ptr(), value.as_ptr()) == 0
        },
        None => false,
    }
}

unsafe fn version_tuple(parts: &[i64]) -> Option<PyOwned> {
    // SAFETY: GIL held by the callers (module exec).
    unsafe {
        let tuple = PyOwned::from_owned(ffi::PyTuple_New(parts.len() as ffi::Py_ssize_t))?;
        for (i, part) in parts.iter().enumerate() {
            let item = ffi::PyLong_FromLongLong(*part);
            if item.is_null() {
                return None;
            }
            ffi::PyTuple_SetItem(tuple.as_ptr(), i as ffi::Py_ssize_t, item);
        }
        Some(tuple)
    }
}

unsafe extern "C" fn mod_wsgi_exec(module: *mut ffi::PyObject) -> c_int {
    types::trampoline_int(|| {
        let config = process();
        // SAFETY: CPython runs exec slots with the GIL held on a fresh module.
        unsafe {
            let st = state(module);
            (*st).log_type = log_object::create_type(module);
            (*st).input_type = input::create_type(module);
            (*st).start_response_type = start_response::create_type(module);
            (*st).file_wrapper_type = file_wrapper::create_type(module);
            (*st).request_timeout_type = diagnostics::add_attributes(module);
            if (*st).request_timeout_type.is_null()
                || (*st).log_type.is_null()
                || (*st).input_type.is_null()
                || (*st).start_response_type.is_null()
                || (*st).file_wrapper_type.is_null()
            {
                return -1;
            }
            let (a, b, c) = MOD_WSGI_VERSION;
            let ok = add_object(module, c"version", version_tuple(&[a, b, c]))
                && add_object(
                    module,
                    c"process_group",
                    object::str_from_utf8(&config.process_group),
                )
                && add_object(module, c"application_group", object::str_from_utf8(""))
                && add_object(
                    module,
                    c"maximum_processes",
                    PyOwned::from_owned(ffi::PyLong_FromLong(config.maximum_processes.into())),
                )
                && add_object(
                    module,
                    c"threads_per_process",
                    PyOwned::from_owned(ffi::PyLong_FromLong(config.threads_per_process.into())),
                )
                && add_object(
                    module,
                    c"FileWrapper",
                    PyOwned::from_borrowed((*st).file_wrapper_type),
                );
            if ok {
                0
            } else {
                -1
            }
        }
    })
}

unsafe extern "C" fn mod_wsgi_traverse(
    module: *mut ffi::PyObject,
    visit: ffi::visitproc,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: GC traversal with a valid module; state may be NULL before exec.
    unsafe {
        let st = state(module);
        if st.is_null() {
            return 0;
        }
        for obj in [
            (*st).log_type,
            (*st).input_type,
            (*st).start_response_type,
            (*st).file_wrapper_type,
            (*st).request_timeout_type,
        ] {
            if !obj.is_null() {
                let rc = visit(obj, arg);
                if rc != 0 {
                    return rc;
                }
            }
        }
    }
    0
}

unsafe extern "C" fn mod_wsgi_clear(module: *mut ffi::PyObject) -> c_int {
    // SAFETY: GIL held; we drop the references the state owns exactly once.
    unsafe {
        let st = state(module);
        if st.is_null() {
            return 0;
        }
        for slot in [
            &mut (*st).log_type,
            &mut (*st).input_type,
            &mut (*st).start_response_type,
            &mut (*st).file_wrapper_type,
            &mut (*st).request_timeout_type,
        ] {
            let obj = std::mem::replace(slot, null_mut());
            if !obj.is_null() {
                ffi::Py_DECREF(obj);
            }
        }
    }
    0
}

unsafe extern "C" fn mod_wsgi_free(module: *mut c_void) {
    // SAFETY: called once when the module object dies.
    unsafe {
        mod_wsgi_clear(module.cast());
    }
}

unsafe extern "C" fn apache_exec(module: *mut ffi::PyObject) -> c_int {
    types::trampoline_int(|| {
        let config = process();
        let (a, b, c) = config.host_version;
        let (processes, threads) = config
            .host_workers
            .unwrap_or((config.maximum_processes, config.threads_per_process));
        // SAFETY: GIL held by CPython during exec.
        unsafe {
            let mut ok = add_object(
                module,
                c"version",
                version_tuple(&[a.into(), b.into(), c.into()]),
            ) && add_object(
                module,
                c"maximum_processes",
                PyOwned::from_owned(ffi::PyLong_FromLong(processes.into())),
            ) && add_object(
                module,
                c"threads_per_process",
                PyOwned::from_owned(ffi::PyLong_FromLong(threads.into())),
            );
            for (name, text) in [
                (c"description", &config.host_description),
                (c"mpm_name", &config.host_mpm_name),
                (c"build_date", &config.host_build_date),
            ] {
                if ok && !text.is_empty() {
                    ok = add_object(module, name, object::str_from_utf8(text));
                }
            }
            if ok {
                0
            } else {
                -1
            }
        }
    })
}

/// `mod_wsgi._wsgirt_log(level, message)`: used by the bootstrap code.
unsafe extern "C" fn wsgirt_log(
    _: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    types::trampoline(|| {
        // SAFETY: METH_VARARGS passes a tuple; GIL held.
        unsafe {
            if ffi::PyTuple_Size(args) != 2 {
                crate::python::error::set(ffi::PyExc_TypeError, "_wsgirt_log(level, message)");
                return null_mut();
            }
            let level = ffi::PyLong_AsLong(ffi::PyTuple_GetItem(args, 0));
            if level == -1 && !ffi::PyErr_Occurred().is_null() {
                return null_mut();
            }
            let Some(message) = object::str_as_utf8(ffi::PyTuple_GetItem(args, 1)) else {
                return null_mut();
            };
            let message = message.to_owned();
            crate::python::tstate::allow_threads(|| {
                logging::log_process(Level::from_raw(level as u32), &message)
            });
            object::none()
        }
    })
}
