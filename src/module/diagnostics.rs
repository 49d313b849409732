//! The diagnostic part of the `mod_wsgi` module: `subscribe_events`,
//! `subscribe_shutdown`, `event_callbacks`, `shutdown_callbacks`,
//! `active_requests`, `request_data()`, `process_metrics()`,
//! `request_metrics()`, `server_metrics()` and the `RequestTimeout`
//! exception.
//!
//! The data behind them lives in [`crate::diagnostics`] and
//! [`crate::wsgi::tracking`]; this file only turns it into Python objects.

use crate::diagnostics::metrics::{self, Scoreboard};
use crate::module::types;
use crate::python::error;
use crate::python::object::{self, PyOwned};
use pyo3::ffi;
use std::ffi::CStr;

/// Adds the module's diagnostic attributes (the callback lists, the
/// `active_requests` dict, `RequestTimeout`). Returns the exception type
/// (a new reference) for the module state, or NULL on failure.
///
/// # Safety
/// GIL held; `module` is a `mod_wsgi` module being executed.
pub unsafe fn add_attributes(module: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: per contract.
    unsafe {
        for name in [c"event_callbacks", c"shutdown_callbacks"] {
            let Some(list) = PyOwned::from_owned(ffi::PyList_New(0)) else {
                return std::ptr::null_mut();
            };
            if ffi::PyModule_AddObjectRef(module, name.as_ptr(), list.as_ptr()) != 0 {
                return std::ptr::null_mut();
            }
        }
        let Some(active) = PyOwned::from_owned(ffi::PyDict_New()) else {
            return std::ptr::null_mut();
        };
        if ffi::PyModule_AddObjectRef(module, c"active_requests".as_ptr(), active.as_ptr()) != 0 {
            return std::ptr::null_mut();
        }
        // BaseException, as later mod_wsgi releases define it, so that
        // `except Exception:` in application code does not swallow it.
        let timeout = ffi::PyErr_NewExceptionWithDoc(
            c"mod_wsgi.RequestTimeout".as_ptr(),
            c"Raised inside a request that ran past the daemon group's interrupt-timeout.".as_ptr(),
            ffi::PyExc_BaseException,
            std::ptr::null_mut(),
        );
        if timeout.is_null() {
            return std::ptr::null_mut();
        }
        if ffi::PyModule_AddObjectRef(module, c"RequestTimeout".as_ptr(), timeout) != 0 {
            ffi::Py_DECREF(timeout);
            return std::ptr::null_mut();
        }
        timeout
    }
}

/// Appends `callback` to the list attribute `name` of `module`.
unsafe fn subscribe(
    module: *mut ffi::PyObject,
    name: &CStr,
    callback: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: GIL held (called from Python).
    unsafe {
        let Some(list) = object::getattr(module, name) else {
            return std::ptr::null_mut();
        };
        if ffi::PyList_Check(list.as_ptr()) == 0 {
            let message = format!("mod_wsgi.{} is not a list", name.to_string_lossy());
            error::set(ffi::PyExc_TypeError, &message);
            return std::ptr::null_mut();
        }
        if ffi::PyList_Append(list.as_ptr(), callback) != 0 {
            return std::ptr::null_mut();
        }
        object::none()
    }
}

/// `mod_wsgi.subscribe_events(callback)`.
///
/// # Safety
/// Called by CPython as a module method, with the GIL held.
pub unsafe extern "C" fn subscribe_events(
    module: *mut ffi::PyObject,
    callback: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: METH_O with the GIL held.
    types::trampoline(|| unsafe { subscribe(module, c"event_callbacks", callback) })
}

/// `mod_wsgi.subscribe_shutdown(callback)`: called with `process_stopping` only.
///
/// # Safety
/// Called by CPython as a module method, with the GIL held.
pub unsafe extern "C" fn subscribe_shutdown(
    module: *mut ffi::PyObject,
    callback: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: METH_O with the GIL held.
    types::trampoline(|| unsafe { subscribe(module, c"shutdown_callbacks", callback) })
}

/// `mod_wsgi.request_data()`: the running request's dict on this thread.
///
/// # Safety
/// Called by CPython as a module method, with the GIL held.
pub unsafe extern "C" fn request_data(
    _module: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    types::trampoline(|| {
        let data = crate::wsgi::tracking::current_request_data();
        // SAFETY: GIL held; `data` is NULL or kept alive by the running request.
        unsafe {
            if data.is_null() {
                error::set(ffi::PyExc_RuntimeError, "no active request for thread");
                return std::ptr::null_mut();
            }
            ffi::Py_INCREF(data);
            data
        }
    })
}

/// A dict built key by key; the first failure makes [`Dict::finish`] NULL.
struct Dict(Option<PyOwned>);

impl Dict {
    unsafe fn new() -> Dict {
        // SAFETY: GIL held by callers.
        Dict(unsafe { PyOwned::from_owned(ffi::PyDict_New()) })
    }

    /// Sets `key` to a new reference (consumed); NULL fails the dict.
    unsafe fn set(&mut self, key: &CStr, value: *mut ffi::PyObject) {
        // SAFETY: GIL held by callers; `value` is a new reference or NULL.
        unsafe {
            let value = PyOwned::from_owned(value);
            let ok = match (&self.0, value) {
                (Some(dict), Some(value)) => {
                    ffi::PyDict_SetItemString(dict.as_ptr(), key.as_ptr(), value.as_ptr()) == 0
                }
                _ => false,
            };
            if !ok {
                self.0 = None;
            }
        }
    }

    unsafe fn int(&mut self, key: &CStr, value: i64) {
        // SAFETY: GIL held by callers.
        unsafe { self.set(key, ffi::PyLong_FromLongLong(value)) }
    }

    unsafe fn uint(&mut self, key: &CStr, value: u64) {
        // SAFETY: GIL held by callers.
        unsafe { self.set(key, ffi::PyLong_FromUnsignedLongLong(value)) }
    }

    unsafe fn float(&mut self, key: &CStr, value: f64) {
        // SAFETY: GIL held by callers.
        unsafe { self.set(key, ffi::PyFloat_FromDouble(value)) }
    }

    unsafe fn text(&mut self, key: &CStr, value: &str) {
        // SAFETY: GIL held by callers.
        unsafe {
            let text = object::str_from_latin1(value.as_bytes());
            self.set(key, text.map_or(std::ptr::null_mut(), PyOwned::into_ptr))
        }
    }

    fn finish(self) -> *mut ffi::PyObject {
        self.0.map_or(std::ptr::null_mut(), PyOwned::into_ptr)
    }
}

/// A list of objects built by `item`; NULL if any failed.
unsafe fn list_of<T>(items: &[T], item: impl Fn(&T) -> *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: GIL held by callers.
    unsafe {
        let Some(list) = PyOwned::from_owned(ffi::PyList_New(0)) else {
            return std::ptr::null_mut();
        };
        for value in items {
            let Some(entry) = PyOwned::from_owned(item(value)) else {
                return std::ptr::null_mut();
            };
            if ffi::PyList_Append(list.as_ptr(), entry.as_ptr()) != 0 {
                return std::ptr::null_mut();
            }
        }
        list.into_ptr()
    }
}

/// `mod_wsgi.process_metrics()`.
///
/// # Safety
/// Called by CPython as a module method, with the GIL held.
pub unsafe extern "C" fn process_metrics(
    _module: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    types::trampoline(|| {
        let m = crate::python::tstate::allow_threads(metrics::process_metrics);
        // SAFETY: GIL held.
        unsafe {
            let mut d = Dict::new();
            d.int(c"pid", m.pid.into());
            d.uint(c"request_count", m.request_count);
            d.float(c"request_busy_time", m.request_busy_time);
            d.uint(c"memory_max_rss", m.memory_max_rss);
            d.uint(c"memory_rss", m.memory_rss);
            d.float(c"cpu_user_time", m.cpu_user_time);
            d.float(c"cpu_system_time", m.cpu_system_time);
            d.float(c"restart_time", m.restart_time);
            d.float(c"current_time", m.current_time);
            d.int(c"running_time", m.running_time);
            d.uint(c"request_threads", m.request_threads as u64);
            d.uint(c"active_requests", m.active_requests as u64);
            let threads = list_of(&m.threads, |t| {
                let mut entry = Dict::new();
                entry.uint(c"thread_id", t.thread_number);
                entry.uint(c"request_count", t.request_count);
                entry.finish()
            });
            d.set(c"threads", threads);
            d.finish()
        }
    })
}

/// `mod_wsgi.request_metrics()`: `{}` on the first call, which starts
/// sampling; then the period since the previous call, with mod_wsgi's keys.
///
/// # Safety
/// Called by CPython as a module method, with the GIL held.
pub unsafe extern "C" fn request_metrics(
    _module: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    types::trampoline(|| {
        let (threads, daemon) = super::request_threads_and_daemon();
        let report = crate::python::tstate::allow_threads(|| {
            crate::diagnostics::request_metrics::sample(threads, daemon)
        });
        // SAFETY: GIL held.
        unsafe {
            let mut d = Dict::new();
            let Some(r) = report else {
                return d.finish();
            };
            let counts = |buckets: &[u32]| list_of(buckets, |&n| ffi::PyLong_FromLong(n.into()));
            d.int(c"pid", r.pid.into());
            d.float(c"start_time", r.start_time);
            d.float(c"stop_time", r.stop_time);
            d.float(c"sample_period", r.sample_period);
            d.float(c"cpu_user_time", r.cpu_user_time);
            d.float(c"cpu_system_time", r.cpu_system_time);
            d.uint(c"memory_max_rss", r.memory_max_rss);
            d.uint(c"memory_rss", r.memory_rss);
            d.uint(c"request_threads_maximum", r.request_threads_maximum as u64);
            d.uint(c"request_threads_started", r.request_threads_started);
            d.float(c"capacity_utilization", r.capacity_utilization);
            d.uint(c"request_count", r.request_count);
            d.float(c"request_throughput", r.request_throughput);
            d.set(c"server_time_buckets", counts(&r.server_time_buckets));
            d.set(c"queue_time_buckets", counts(&r.queue_time_buckets));
            d.set(c"daemon_time_buckets", counts(&r.daemon_time_buckets));
            d.set(
                c"application_time_buckets",
                counts(&r.application_time_buckets),
            );
            d.set(
                c"request_threads_buckets",
                counts(&r.request_threads_buckets),
            );
            d.uint(c"request_threads_active", r.request_threads_active as u64);
            d.float(c"server_time", r.server_time);
            for (key, value) in [
                (c"queue_time", r.queue_time),
                (c"daemon_time", r.daemon_time),
            ] {
                match value {
                    Some(v) => d.float(key, v),
                    None => d.set(key, object::none()),
                }
            }
            d.float(c"application_time", r.application_time);
            d.finish()
        }
    })
}

/// `mod_wsgi.server_metrics()`: the host's scoreboard, or `None` unless
/// enabled (`WSGIServerMetrics On` / `server-metrics=On`) and available.
///
/// # Safety
/// Called by CPython as a module method, with the GIL held.
pub unsafe extern "C" fn server_metrics(
    _module: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    types::trampoline(|| {
        let enabled = super::server_metrics_enabled();
        let board = enabled
            .then(|| crate::python::tstate::allow_threads(metrics::read_scoreboard))
            .flatten();
        // SAFETY: GIL held.
        unsafe {
            match board {
                Some(board) => scoreboard_dict(&board),
                None => object::none(),
            }
        }
    })
}

unsafe fn scoreboard_dict(board: &Scoreboard) -> *mut ffi::PyObject {
    let seconds = |us: i64| us as f64 / 1e6;
    // SAFETY: GIL held by the caller.
    unsafe {
        let mut d = Dict::new();
        d.int(c"server_limit", board.server_limit.into());
        d.int(c"thread_limit", board.thread_limit.into());
        d.int(c"running_generation", board.running_generation.into());
        d.float(c"restart_time", seconds(board.restart_time_us));
        let now = crate::diagnostics::registry::now_us();
        d.float(c"current_time", seconds(now));
        d.int(
            c"running_time",
            (now - board.restart_time_us).max(0) / 1_000_000,
        );
        let processes = list_of(&board.processes, |p| {
            let mut entry = Dict::new();
            entry.int(c"process_num", p.process_num.into());
            entry.int(c"pid", p.pid.into());
            entry.int(c"generation", p.generation.into());
            entry.set(c"quiescing", object::py_bool(p.quiescing));
            let workers = list_of(&p.workers, |w| {
                let mut worker = Dict::new();
                worker.int(c"thread_num", w.thread_num.into());
                worker.int(c"generation", w.generation.into());
                worker.text(c"status", w.status.encode_utf8(&mut [0; 4]));
                worker.uint(c"access_count", w.access_count);
                worker.uint(c"bytes_served", w.bytes_served);
                worker.float(c"start_time", seconds(w.start_time_us));
                worker.float(c"stop_time", seconds(w.stop_time_us));
                worker.float(c"last_used", seconds(w.last_used_us));
                worker.text(c"client", &w.client);
                worker.text(c"request", &w.request);
                worker.text(c"vhost", &w.vhost);
                worker.finish()
            });
            entry.set(c"workers", workers);
            entry.finish()
        });
        d.set(c"processes", processes);
        d.finish()
    }
}
