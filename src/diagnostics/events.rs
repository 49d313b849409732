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
const MAX_EVENT_FIELDS: usize = 14;

/// Callbacks copied onto the stack for one round of calls; longer lists
/// are copied into a new list instead.
const FEW_CALLBACKS: usize = 4;

/// An event being built and published.
///
/// The fields live in two arrays (interned keys borrowed from the
/// interpreter's cache, values owned) and are handed to each callback as
/// vectorcall keywords: CPython builds the callee's `**event` straight from
/// them, where a dict of ours would first be unpacked into a new keyword
/// tuple and argument array on every call. The event only becomes a dict
/// when a callback returns one to merge (mod_wsgi's `PyDict_Update`); from
/// then on the dict is what later callbacks and [`Event::get`] see.
pub struct Event<'i> {
    interp: &'i Interp,
    /// `[reserved, name, values...]`: slot 0 is the scratch slot
    /// `PY_VECTORCALL_ARGUMENTS_OFFSET` lets a callee (a bound method) use,
    /// slot 1 the event name, then one owned reference per field.
    args: [*mut ffi::PyObject; MAX_EVENT_FIELDS + 2],
    /// Interned field names, borrowed from the interpreter's cache.
    keys: [*mut ffi::PyObject; MAX_EVENT_FIELDS],
    len: usize,
    /// The event as a dict, once a callback returned a dict.
    dict: Option<PyOwned>,
}

impl<'i> Event<'i> {
    /// An empty event; allocates nothing.
    ///
    /// # Safety
    /// GIL held with `interp` attached (for as long as the event is used).
    pub unsafe fn new(interp: &'i Interp) -> Event<'i> {
        Event {
            interp,
            args: [std::ptr::null_mut(); MAX_EVENT_FIELDS + 2],
            keys: [std::ptr::null_mut(); MAX_EVENT_FIELDS],
            len: 0,
            dict: None,
        }
    }

    /// The interned key for `key` (NULL if it cannot be made).
    unsafe fn key(&self, key: EventKey) -> *mut ffi::PyObject {
        // SAFETY: GIL held with the interpreter attached (`new`'s contract).
        unsafe { self.interp.cache().event_key(key) }
    }

    /// Sets `key` to `value` (a new reference, consumed; NULL is skipped
    /// and its error cleared: a missing field must not fail a request).
    /// Each key is set at most once per event.
    ///
    /// # Safety
    /// GIL held.
    pub unsafe fn set_owned(&mut self, key: EventKey, value: *mut ffi::PyObject) {
        // SAFETY: per contract; `value` is a new reference we keep or release.
        unsafe {
            let key = self.key(key);
            let Some(value) = PyOwned::from_owned(value) else {
                ffi::PyErr_Clear();
                return;
            };
            if key.is_null() {
                ffi::PyErr_Clear();
                return;
            }
            debug_assert!(self.dict.is_none(), "fields are set before publishing");
            if self.len < MAX_EVENT_FIELDS {
                self.keys[self.len] = key;
                self.args[self.len + 2] = value.into_ptr();
                self.len += 1;
            }
        }
    }

    /// Sets `key` to a borrowed object (NULL is skipped).
    ///
    /// # Safety
    /// GIL held; `value` NULL or valid.
    pub unsafe fn set(&mut self, key: EventKey, value: *mut ffi::PyObject) {
        if !value.is_null() {
            // SAFETY: per contract; the event takes its own reference.
            unsafe {
                ffi::Py_INCREF(value);
                self.set_owned(key, value);
            }
        }
    }

    /// # Safety
    /// GIL held.
    pub unsafe fn set_f64(&mut self, key: EventKey, value: f64) {
        // SAFETY: per contract.
        unsafe { self.set_owned(key, ffi::PyFloat_FromDouble(value)) }
    }

    /// # Safety
    /// GIL held.
    pub unsafe fn set_i64(&mut self, key: EventKey, value: i64) {
        // SAFETY: per contract.
        unsafe { self.set_owned(key, ffi::PyLong_FromLongLong(value)) }
    }

    /// # Safety
    /// GIL held.
    pub unsafe fn set_u64(&mut self, key: EventKey, value: u64) {
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
            if let Some(dict) = &self.dict {
                return ffi::PyDict_GetItem(dict.as_ptr(), key);
            }
            (0..self.len)
                .find(|&i| self.keys[i] == key)
                .map_or(std::ptr::null_mut(), |i| self.args[i + 2])
        }
    }

    /// The fields' names for publishing as `name`, as a new tuple
    /// reference (NULL with an exception on failure).
    unsafe fn kwnames(&self, name: EventKey) -> *mut ffi::PyObject {
        // SAFETY: GIL held with the interpreter attached (`new`'s contract);
        // the keys are interned names from its cache.
        unsafe {
            self.interp
                .cache()
                .event_kwnames(name, &self.keys[..self.len])
        }
    }

    /// Turns the event into a dict (once) and returns it, borrowed.
    unsafe fn as_dict(&mut self) -> Option<*mut ffi::PyObject> {
        if self.dict.is_none() {
            // SAFETY: GIL held (`new`'s contract); the dict takes its own references.
            unsafe {
                // Only when a subscriber returned a dict to merge: a plain
                // dict is fine on this rare path.
                let dict = PyOwned::from_owned(ffi::PyDict_New())?;
                for i in 0..self.len {
                    if ffi::PyDict_SetItem(dict.as_ptr(), self.keys[i], self.args[i + 2]) != 0 {
                        return None;
                    }
                }
                self.dict = Some(dict);
            }
        }
        self.dict.as_ref().map(PyOwned::as_ptr)
    }
}

impl Drop for Event<'_> {
    fn drop(&mut self) {
        // SAFETY: the event is only used with the GIL held (`new`'s
        // contract), and it is dropped where it was used; each value slot
        // holds one reference of ours.
        unsafe {
            for &value in &self.args[2..self.len + 2] {
                ffi::Py_DECREF(value);
            }
        }
    }
}

/// Calls every subscriber of this interpreter with the event's `name` (one
/// of the event-name keys) and `event`; `process_stopping` also goes to
/// `mod_wsgi.shutdown_callbacks`.
///
/// # Safety
/// GIL held with `interp` attached; no exception pending.
pub unsafe fn publish(interp: &Interp, name: EventKey, event: &mut Event<'_>) {
    // SAFETY: per contract.
    unsafe {
        let name_obj = event.key(name);
        if name_obj.is_null() {
            ffi::PyErr_Clear();
            return;
        }
        event.args[1] = name_obj;
        let Some(kwnames) = PyOwned::from_owned(event.kwnames(name)) else {
            ffi::PyErr_Clear();
            return;
        };
        let cache = interp.cache();
        let shutdown = (name == EventKey::ProcessStopping).then_some(cache.name_shutdown_callbacks);
        for list_name in std::iter::once(cache.name_event_callbacks).chain(shutdown) {
            let list = module_list(interp, list_name);
            if list.is_null() {
                continue;
            }
            // A snapshot holding its own references: a callback that
            // subscribes or unsubscribes others must not change this round.
            let len = ffi::PyList_GET_SIZE(list) as usize;
            if len <= FEW_CALLBACKS {
                let mut few = [std::ptr::null_mut(); FEW_CALLBACKS];
                for (i, slot) in few[..len].iter_mut().enumerate() {
                    *slot = ffi::PyList_GET_ITEM(list, i as ffi::Py_ssize_t);
                    ffi::Py_INCREF(*slot);
                }
                for &callback in &few[..len] {
                    call_one(callback, event, kwnames.as_ptr());
                }
                for &callback in &few[..len] {
                    ffi::Py_DECREF(callback);
                }
            } else {
                let Some(snapshot) =
                    PyOwned::from_owned(ffi::PyList_GetSlice(list, 0, len as ffi::Py_ssize_t))
                else {
                    ffi::PyErr_Clear();
                    continue;
                };
                for i in 0..ffi::PyList_GET_SIZE(snapshot.as_ptr()) {
                    call_one(
                        ffi::PyList_GET_ITEM(snapshot.as_ptr(), i),
                        event,
                        kwnames.as_ptr(),
                    );
                }
            }
        }
        event.args[1] = std::ptr::null_mut();
    }
}

/// `callback(name, **event)`; merges a returned dict; logs and swallows errors.
unsafe fn call_one(
    callback: *mut ffi::PyObject,
    event: &mut Event<'_>,
    kwnames: *mut ffi::PyObject,
) {
    // SAFETY: GIL held by the caller; all objects are alive for the call
    // (`callback` is held by the caller's snapshot, the name by the cache,
    // the values by the event).
    unsafe {
        // The event's name and values are already laid out as a vectorcall
        // argument array, with the offset slot (which the callee may
        // overwrite for the call's duration) in front.
        let args = event.args.as_mut_ptr().add(1);
        let result = match &event.dict {
            Some(dict) => ffi::PyObject_VectorcallDict(callback, args, 1, dict.as_ptr()),
            None => ffi::PyObject_Vectorcall(
                callback,
                args,
                1 | ffi::PY_VECTORCALL_ARGUMENTS_OFFSET,
                kwnames,
            ),
        };
        match PyOwned::from_owned(result) {
            Some(result) => {
                if ffi::PyDict_Check(result.as_ptr()) != 0 {
                    let merged = event
                        .as_dict()
                        .is_some_and(|dict| ffi::PyDict_Update(dict, result.as_ptr()) == 0);
                    if !merged {
                        log_callback_error();
                    }
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
        let mut event = Event::new(interp);
        event.set_owned(
            EventKey::ShutdownReason,
            object::str_from_utf8(reason).map_or(std::ptr::null_mut(), PyOwned::into_ptr),
        );
        publish(interp, EventKey::ProcessStopping, &mut event);
    }
}

/// Seconds since the epoch for a microsecond timestamp.
pub fn seconds(us: i64) -> f64 {
    us as f64 / 1e6
}
