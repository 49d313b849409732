//! `mod_wsgi` events: `cb(name, **event)` for every callback in the
//! interpreter's `mod_wsgi.event_callbacks` (and, for `process_stopping`,
//! `mod_wsgi.shutdown_callbacks`).
//!
//! A callback returning a dict has it merged into the event (that is how
//! `request_started` subscribers replace `application_object`). An
//! exception in a callback is logged with its traceback and swallowed,
//! `SystemExit` included, so one bad subscriber cannot break requests.
//! The request path asks [`has_subscribers`] first and builds no event
//! object at all when nobody listens.

use crate::logging::{self, Level};
use crate::python::error::PyException;
use crate::python::interp::Interp;
use crate::python::object::{self, PyOwned};
use crate::python::tstate;
use pyo3::ffi;
use std::ffi::CStr;

/// The `mod_wsgi` attribute `name` if it is a list, borrowed.
///
/// # Safety
/// GIL held with `interp` attached; `name` from its cache.
unsafe fn module_list(interp: &Interp, name: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: per contract.
    unsafe {
        let list = interp.cache().module_attr(name);
        if list.is_null() || ffi::PyList_Check(list) == 0 {
            return std::ptr::null_mut();
        }
        list
    }
}

/// True when `mod_wsgi.event_callbacks` of this interpreter is non-empty.
///
/// # Safety
/// GIL held with `interp` attached.
pub unsafe fn has_subscribers(interp: &Interp) -> bool {
    // SAFETY: per contract.
    unsafe {
        let list = module_list(interp, interp.cache().name_event_callbacks);
        !list.is_null() && ffi::PyList_GET_SIZE(list) > 0
    }
}

/// Every field name an event carries, and the events' names. Each interpreter interns them once
/// ([`crate::python::interp::InterpCache::event_key`]), so building an event
/// allocates only its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKey {
    ApplicationFinish,
    ApplicationObject,
    ApplicationStart,
    ApplicationTime,
    CpuSystemTime,
    CpuUserTime,
    DaemonConnects,
    DaemonRestarts,
    DaemonStart,
    ExceptionInfo,
    InputLength,
    InputReads,
    InputTime,
    OutputLength,
    OutputTime,
    OutputWrites,
    QueueStart,
    RequestData,
    RequestEnviron,
    RequestId,
    RequestStart,
    ResponseHeaders,
    ResponseStatus,
    ShutdownReason,
    ThreadId,
    // The events' own names (a callback's first argument).
    ProcessStopping,
    RequestException,
    RequestFinished,
    RequestStarted,
    ResponseStarted,
}

impl EventKey {
    /// How many keys there are (the size of each interpreter's table).
    pub const COUNT: usize = 30;

    /// The field name.
    pub fn name(self) -> &'static CStr {
        match self {
            EventKey::ApplicationFinish => c"application_finish",
            EventKey::ApplicationObject => c"application_object",
            EventKey::ApplicationStart => c"application_start",
            EventKey::ApplicationTime => c"application_time",
            EventKey::CpuSystemTime => c"cpu_system_time",
            EventKey::CpuUserTime => c"cpu_user_time",
            EventKey::DaemonConnects => c"daemon_connects",
            EventKey::DaemonRestarts => c"daemon_restarts",
            EventKey::DaemonStart => c"daemon_start",
            EventKey::ExceptionInfo => c"exception_info",
            EventKey::InputLength => c"input_length",
            EventKey::InputReads => c"input_reads",
            EventKey::InputTime => c"input_time",
            EventKey::OutputLength => c"output_length",
            EventKey::OutputTime => c"output_time",
            EventKey::OutputWrites => c"output_writes",
            EventKey::QueueStart => c"queue_start",
            EventKey::RequestData => c"request_data",
            EventKey::RequestEnviron => c"request_environ",
            EventKey::RequestId => c"request_id",
            EventKey::RequestStart => c"request_start",
            EventKey::ResponseHeaders => c"response_headers",
            EventKey::ResponseStatus => c"response_status",
            EventKey::ShutdownReason => c"shutdown_reason",
            EventKey::ThreadId => c"thread_id",
            EventKey::ProcessStopping => c"process_stopping",
            EventKey::RequestException => c"request_exception",
            EventKey::RequestFinished => c"request_finished",
            EventKey::RequestStarted => c"request_started",
            EventKey::ResponseStarted => c"response_started",
        }
    }
}

/// The most fields an event has (`request_finished`).
const MAX_EVENT_FIELDS: ffi::Py_ssize_t = 14;

#[cfg(not(Py_3_13))]
extern "C" {
    /// CPython's presized dict constructor (exported through 3.12).
    fn _PyDict_NewPresized(minused: ffi::Py_ssize_t) -> *mut ffi::PyObject;
}

/// A new dict with room for every event field, so filling it never
/// resizes (a plain dict resizes twice on the way to 13 keys).
///
/// # Safety
/// GIL held.
unsafe fn new_event_dict() -> *mut ffi::PyObject {
    #[cfg(not(Py_3_13))]
    // SAFETY: GIL held (caller's contract); returns a new reference or NULL.
    unsafe {
        _PyDict_NewPresized(MAX_EVENT_FIELDS)
    }
    #[cfg(Py_3_13)]
    // SAFETY: GIL held (caller's contract).
    unsafe {
        let _ = MAX_EVENT_FIELDS;
        ffi::PyDict_New()
    }
}

/// An event dict being built. Keys are the interpreter's interned strings
/// (cached per interpreter), so building an event allocates only values.
pub struct Event<'i> {
    dict: PyOwned,
    interp: &'i Interp,
}

impl<'i> Event<'i> {
    /// # Safety
    /// GIL held with `interp` attached (for as long as the event is used).
    pub unsafe fn new(interp: &'i Interp) -> Option<Event<'i>> {
        // SAFETY: per contract.
        let dict = unsafe { PyOwned::from_owned(new_event_dict()) }?;
        Some(Event { dict, interp })
    }

    pub fn as_ptr(&self) -> *mut ffi::PyObject {
        self.dict.as_ptr()
    }

    /// The interned key for `key` (NULL if it cannot be made).
    unsafe fn key(&self, key: EventKey) -> *mut ffi::PyObject {
        // SAFETY: GIL held with the interpreter attached (`new`'s contract).
        unsafe { self.interp.cache().event_key(key) }
    }

    /// Sets `key` to `value` (a new reference, consumed; NULL is skipped
    /// and its error cleared: a missing field must not fail a request).
    ///
    /// # Safety
    /// GIL held.
    pub unsafe fn set_owned(&self, key: EventKey, value: *mut ffi::PyObject) {
        // SAFETY: per contract; `value` is a new reference we release.
        unsafe {
            let key = self.key(key);
            match PyOwned::from_owned(value) {
                Some(value) if !key.is_null() => {
                    ffi::PyDict_SetItem(self.as_ptr(), key, value.as_ptr());
                }
                _ => ffi::PyErr_Clear(),
            }
        }
    }

    /// Sets `key` to a borrowed object (NULL is skipped).
    ///
    /// # Safety
    /// GIL held; `value` NULL or valid.
    pub unsafe fn set(&self, key: EventKey, value: *mut ffi::PyObject) {
        if !value.is_null() {
            // SAFETY: per contract; the dict takes its own reference.
            unsafe {
                let key = self.key(key);
                if key.is_null() {
                    ffi::PyErr_Clear();
                } else {
                    ffi::PyDict_SetItem(self.as_ptr(), key, value);
                }
            }
        }
    }

    /// # Safety
    /// GIL held.
    pub unsafe fn set_f64(&self, key: EventKey, value: f64) {
        // SAFETY: per contract.
        unsafe { self.set_owned(key, ffi::PyFloat_FromDouble(value)) }
    }

    /// # Safety
    /// GIL held.
    pub unsafe fn set_i64(&self, key: EventKey, value: i64) {
        // SAFETY: per contract.
        unsafe { self.set_owned(key, ffi::PyLong_FromLongLong(value)) }
    }

    /// # Safety
    /// GIL held.
    pub unsafe fn set_u64(&self, key: EventKey, value: u64) {
        // SAFETY: per contract.
        unsafe { self.set_owned(key, ffi::PyLong_FromUnsignedLongLong(value)) }
    }

    /// The value under `key`, borrowed (NULL if absent).
    ///
    /// # Safety
    /// GIL held.
    pub unsafe fn get(&self, key: EventKey) -> *mut ffi::PyObject {
        // SAFETY: per contract.
        unsafe {
            let key = self.key(key);
            if key.is_null() {
                return std::ptr::null_mut();
            }
            ffi::PyDict_GetItem(self.as_ptr(), key)
        }
    }
}

/// Calls every subscriber of this interpreter with the event's `name` (one
/// of the event-name keys) and `event`; `process_stopping` also goes to
/// `mod_wsgi.shutdown_callbacks`.
///
/// # Safety
/// GIL held with `interp` attached; no exception pending.
pub unsafe fn publish(interp: &Interp, name: EventKey, event: &Event<'_>) {
    // SAFETY: per contract.
    unsafe {
        let Some(name_obj) = PyOwned::from_borrowed(event.key(name)) else {
            ffi::PyErr_Clear();
            return;
        };
        let cache = interp.cache();
        let shutdown = (name == EventKey::ProcessStopping).then_some(cache.name_shutdown_callbacks);
        for list_name in std::iter::once(cache.name_event_callbacks).chain(shutdown) {
            let Some(list) = PyOwned::from_borrowed(module_list(interp, list_name)) else {
                continue;
            };
            // A snapshot (a new list holding its own references): a
            // callback that subscribes or unsubscribes others must not
            // change this round.
            let len = ffi::PyList_GET_SIZE(list.as_ptr());
            let Some(snapshot) = PyOwned::from_owned(ffi::PyList_GetSlice(list.as_ptr(), 0, len))
            else {
                ffi::PyErr_Clear();
                continue;
            };
            for i in 0..ffi::PyList_GET_SIZE(snapshot.as_ptr()) {
                call_one(
                    ffi::PyList_GET_ITEM(snapshot.as_ptr(), i),
                    name_obj.as_ptr(),
                    event,
                );
            }
        }
    }
}

/// `callback(name, **event)`; merges a returned dict; logs and swallows errors.
unsafe fn call_one(callback: *mut ffi::PyObject, name: *mut ffi::PyObject, event: &Event<'_>) {
    // SAFETY: GIL held by the caller; all objects are alive for the call
    // (`callback` is held by the caller's snapshot, `name` by the cache).
    unsafe {
        // One positional argument straight from the stack and the event as
        // keywords: no argument tuple per call.
        let args = [name];
        let result = PyOwned::from_owned(ffi::PyObject_VectorcallDict(
            callback,
            args.as_ptr(),
            1,
            event.as_ptr(),
        ));
        match result {
            Some(result) => {
                if ffi::PyDict_Check(result.as_ptr()) != 0
                    && ffi::PyDict_Update(event.as_ptr(), result.as_ptr()) != 0
                {
                    log_callback_error();
                }
            }
            None => log_callback_error(),
        }
    }
}

/// Logs the pending exception of a failed callback, as mod_wsgi words it.
unsafe fn log_callback_error() {
    // SAFETY: GIL held by the caller.
    let Some(exc) = (unsafe { PyException::fetch() }) else {
        return;
    };
    let mut lines = vec![format!(
        "WSGIRT0801: mod_wsgi (pid={}): Exception occurred within event callback.",
        std::process::id()
    )];
    // SAFETY: GIL held; never leaves an exception pending.
    lines.extend(unsafe { exc.format_lines() });
    drop(exc);
    let ctx = logging::current_request();
    tstate::allow_threads(|| {
        for line in &lines {
            logging::log(Level::Err, ctx, line);
        }
    });
}

/// Publishes `process_stopping` with `shutdown_reason` in `interp`.
///
/// # Safety
/// GIL held with `interp` attached.
pub unsafe fn publish_process_stopping(interp: &Interp, reason: &str) {
    // SAFETY: per contract.
    unsafe {
        let Some(event) = Event::new(interp) else {
            ffi::PyErr_Clear();
            return;
        };
        event.set_owned(
            EventKey::ShutdownReason,
            object::str_from_utf8(reason).map_or(std::ptr::null_mut(), PyOwned::into_ptr),
        );
        publish(interp, EventKey::ProcessStopping, &event);
    }
}

/// Seconds since the epoch for a microsecond timestamp.
pub fn seconds(us: i64) -> f64 {
    us as f64 / 1e6
}
