//! What the runtime knows about one request while it runs, for the
//! diagnostic surface: its entry in the process registry, its
//! `request_data()` dict, its place in `mod_wsgi.active_requests` and the
//! `request_started` / `request_finished` events.
//!
//! Events are only built when the interpreter has subscribers at request
//! start (checked once); otherwise the cost is one dict, one string and a
//! registry entry per request.

use crate::diagnostics::events::{self, Event, EventKey};
use crate::diagnostics::metrics;
use crate::diagnostics::registry::{self, RequestGuard};
use crate::diagnostics::request_metrics::{self, RequestTimes};
use crate::python::interp::Interp;
use crate::python::object::{self, PyOwned};
use crate::wsgi::request::{RequestSpec, RequestState};
use pyo3::ffi;
use std::cell::Cell;

thread_local! {
    /// `request_data()` of the request running on this thread (borrowed
    /// from its [`Tracking`]; NULL outside requests).
    static CURRENT_DATA: Cell<*mut ffi::PyObject> = const { Cell::new(std::ptr::null_mut()) };
}

/// The `request_data()` dict of the request running on this thread, or
/// NULL. Borrowed: valid while that request runs.
pub fn current_request_data() -> *mut ffi::PyObject {
    CURRENT_DATA.with(Cell::get)
}

/// Borrowed pointers the response path needs to publish events.
#[derive(Clone, Copy)]
pub struct EventContext {
    pub interp: *const Interp,
    pub request_id: *mut ffi::PyObject,
    pub request_data: *mut ffi::PyObject,
}

/// CPU time of the calling thread (user, system) in seconds.
fn thread_cpu() -> Option<(f64, f64)> {
    metrics::usage(libc::RUSAGE_THREAD).map(|u| (u.user, u.system))
}

/// The thread's CPU time for `request_finished`, sampled before the GIL is
/// taken (a system call is not worth holding every other thread up for),
/// when the interpreter's last request had subscribers.
pub fn cpu_sample(interp: &Interp) -> Option<(f64, f64)> {
    if interp
        .events_hint
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        thread_cpu()
    } else {
        None
    }
}

/// One request's diagnostic state; lives on the stack of the request.
pub struct Tracking {
    /// The process-local number of the request's thread (`thread_id`).
    thread_number: u64,
    guard: RequestGuard,
    request_id: PyOwned,
    request_data: PyOwned,
    previous_data: *mut ffi::PyObject,
    /// The interpreter's `active_requests` dict, if it has one.
    active_requests: Option<PyOwned>,
    events: bool,
    application_start_us: i64,
    cpu_start: Option<(f64, f64)>,
    /// The environ's start marks, kept while `request_metrics()` samples.
    metrics_marks: Option<StartNumbers>,
}

/// The value of an environ pair, if present.
fn environ_value<'a>(spec: &RequestSpec<'a>, key: &[u8]) -> Option<&'a [u8]> {
    spec.environ
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
}

/// The environ's `mod_wsgi.*` numbers `request_started` reports, found in
/// one pass over the environ (hosts send them among dozens of variables).
#[derive(Default)]
struct StartNumbers {
    request_start: i64,
    queue_start: i64,
    daemon_start: i64,
    daemon_connects: i64,
    daemon_restarts: i64,
}

impl StartNumbers {
    fn from_environ(spec: &RequestSpec<'_>) -> StartNumbers {
        let mut numbers = StartNumbers::default();
        for (key, value) in spec.environ {
            let Some(name) = key.strip_prefix(b"mod_wsgi.") else {
                continue;
            };
            let slot = match name {
                b"request_start" => &mut numbers.request_start,
                b"queue_start" => &mut numbers.queue_start,
                b"daemon_start" => &mut numbers.daemon_start,
                b"daemon_connects" => &mut numbers.daemon_connects,
                b"daemon_restarts" => &mut numbers.daemon_restarts,
                _ => continue,
            };
            *slot = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
        }
        numbers
    }
}

impl Tracking {
    /// Enters the request: registry, `request_data()` and
    /// `active_requests`. `None` only when Python cannot allocate (an
    /// exception is then pending).
    ///
    /// # Safety
    /// GIL held with `interp` attached.
    ///
    /// `cpu_start` is the thread's CPU time sampled before the GIL was
    /// taken ([`cpu_sample`]); without it `request_finished` has no CPU
    /// fields, as mod_wsgi's when it cannot read them.
    pub unsafe fn begin(
        interp: &Interp,
        spec: &RequestSpec<'_>,
        cpu_start: Option<(f64, f64)>,
    ) -> Option<Tracking> {
        let id_bytes = environ_value(spec, b"mod_wsgi.request_id");
        let (guard, entered) = registry::enter(id_bytes, &interp.name);
        // SAFETY: per contract.
        unsafe {
            let request_id = match id_bytes {
                Some(id) => object::str_from_latin1(id)?,
                None => object::str_from_utf8(&entered.serial.to_string())?,
            };
            let request_data = PyOwned::from_owned(ffi::PyDict_New())?;
            // mod_wsgi also puts mod_wsgi.thread_id, .thread_requests and
            // .total_requests into the environ. Three more keys push a
            // typical environ past a dict size class: measured through
            // Apache that cost ~3 MiB of peak RSS and throughput, for keys
            // nothing in the WSGI protocol needs; the thread number is in
            // request_started's `thread_id` and process_metrics().
            let active_requests = active_requests_dict(interp);
            if let Some(active) = &active_requests {
                if ffi::PyDict_SetItem(active.as_ptr(), request_id.as_ptr(), request_data.as_ptr())
                    != 0
                {
                    ffi::PyErr_Clear();
                }
            }
            let events = events::has_subscribers(interp);
            interp
                .events_hint
                .store(events, std::sync::atomic::Ordering::Relaxed);
            let previous_data = CURRENT_DATA.with(|c| c.replace(request_data.as_ptr()));
            let metrics_marks =
                request_metrics::enabled().then(|| StartNumbers::from_environ(spec));
            Some(Tracking {
                thread_number: entered.thread_number,
                guard,
                request_id,
                request_data,
                previous_data,
                active_requests,
                events,
                application_start_us: entered.start_us,
                cpu_start: if events { cpu_start } else { None },
                metrics_marks,
            })
        }
    }

    /// The context `start_response` needs for `response_started`, when
    /// events are on.
    pub fn event_context(&self, interp: &Interp) -> Option<EventContext> {
        self.events.then(|| EventContext {
            interp,
            request_id: self.request_id.as_ptr(),
            request_data: self.request_data.as_ptr(),
        })
    }

    /// Publishes `request_started` and returns the application object a
    /// subscriber put in its place (or `callable` itself). Without
    /// subscribers this does nothing.
    ///
    /// # Safety
    /// GIL held with `interp` attached; `callable` and `environ` valid.
    pub unsafe fn request_started(
        &self,
        interp: &Interp,
        spec: &RequestSpec<'_>,
        callable: PyOwned,
        environ: *mut ffi::PyObject,
    ) -> PyOwned {
        if !self.events {
            return callable;
        }
        // SAFETY: per contract.
        unsafe {
            let mut event = Event::new(interp);
            event.set(EventKey::RequestId, self.request_id.as_ptr());
            event.set_u64(EventKey::ThreadId, self.thread_number);
            let numbers = StartNumbers::from_environ(spec);
            event.set_i64(EventKey::DaemonConnects, numbers.daemon_connects);
            event.set_i64(EventKey::DaemonRestarts, numbers.daemon_restarts);
            for (key, us) in [
                (EventKey::RequestStart, numbers.request_start),
                (EventKey::QueueStart, numbers.queue_start),
                (EventKey::DaemonStart, numbers.daemon_start),
            ] {
                event.set_f64(key, events::seconds(us));
            }
            event.set(EventKey::ApplicationObject, callable.as_ptr());
            event.set(EventKey::RequestEnviron, environ);
            event.set_f64(
                EventKey::ApplicationStart,
                events::seconds(self.application_start_us),
            );
            event.set(EventKey::RequestData, self.request_data.as_ptr());
            events::publish(interp, EventKey::RequestStarted, &mut event);
            match PyOwned::from_borrowed(event.get(EventKey::ApplicationObject)) {
                Some(replacement) => replacement,
                None => callable,
            }
        }
    }

    /// Publishes `request_finished` (when subscribed), leaves
    /// `active_requests` and restores `request_data()` for the thread.
    ///
    /// # Safety
    /// GIL held with `interp` attached.
    pub unsafe fn finish(self, interp: &Interp, state: &RequestState<'_>) {
        // SAFETY: per contract.
        unsafe {
            if self.events {
                self.request_finished(interp, state);
            }
            if let Some(active) = &self.active_requests {
                if ffi::PyDict_DelItem(active.as_ptr(), self.request_id.as_ptr()) != 0 {
                    ffi::PyErr_Clear();
                }
            }
        }
        CURRENT_DATA.with(|c| c.set(self.previous_data));
        if let Some(marks) = &self.metrics_marks {
            let times = RequestTimes::from_marks(
                marks.request_start,
                marks.queue_start,
                marks.daemon_start,
                self.application_start_us,
                registry::now_us(),
            );
            let (_, daemon) = crate::module::request_threads_and_daemon();
            request_metrics::record(times, self.thread_number, daemon);
        }
        if self.guard.finish() {
            // A RequestTimeout raised too late to land must not hit the
            // thread's next request: clear whatever is still pending.
            // SAFETY: GIL held (contract); NULL clears the thread's async exception.
            unsafe {
                ffi::PyThreadState_SetAsyncExc(
                    registry::current_thread_ident() as std::ffi::c_ulong as _,
                    std::ptr::null_mut(),
                );
            }
        }
    }

    unsafe fn request_finished(&self, interp: &Interp, state: &RequestState<'_>) {
        // As mod_wsgi: both ends from the wall clock, never negative.
        let finish_us = registry::now_us();
        let application_time = events::seconds((finish_us - self.application_start_us).max(0));
        // SAFETY: GIL held by the caller.
        unsafe {
            let mut event = Event::new(interp);
            event.set(EventKey::RequestId, self.request_id.as_ptr());
            event.set_u64(EventKey::InputReads, state.input.reads);
            event.set_u64(EventKey::InputLength, state.input.bytes);
            event.set_f64(EventKey::InputTime, state.input.time.as_secs_f64());
            event.set_u64(EventKey::OutputLength, state.bytes_written);
            event.set_u64(EventKey::OutputWrites, state.output_writes);
            event.set_f64(EventKey::OutputTime, state.output_time.get().as_secs_f64());
            if let (Some((u0, s0)), Some((u1, s1))) = (self.cpu_start, thread_cpu()) {
                let (mut user, mut system) = ((u1 - u0).max(0.0), (s1 - s0).max(0.0));
                // As mod_wsgi: CPU time never exceeds the wall time.
                let total = user + system;
                if total > application_time && total > 0.0 {
                    user = user / total * application_time;
                    system = application_time - user;
                }
                event.set_f64(EventKey::CpuUserTime, user);
                event.set_f64(EventKey::CpuSystemTime, system);
            }
            event.set_f64(EventKey::ApplicationFinish, events::seconds(finish_us));
            event.set_f64(EventKey::ApplicationTime, application_time);
            event.set(EventKey::RequestData, self.request_data.as_ptr());
            events::publish(interp, EventKey::RequestFinished, &mut event);
        }
    }
}

/// This interpreter's `mod_wsgi.active_requests` dict (a new reference).
unsafe fn active_requests_dict(interp: &Interp) -> Option<PyOwned> {
    // SAFETY: GIL held with `interp` attached (caller's contract).
    unsafe {
        let cache = interp.cache();
        let dict = cache.module_attr(cache.name_active_requests);
        if dict.is_null() || ffi::PyDict_Check(dict) == 0 {
            return None;
        }
        PyOwned::from_borrowed(dict)
    }
}

/// Publishes `response_started` from `start_response`.
///
/// # Safety
/// GIL held with the context's interpreter attached; arguments valid.
pub unsafe fn response_started(
    context: &EventContext,
    status: *mut ffi::PyObject,
    headers: *mut ffi::PyObject,
    exc_info: *mut ffi::PyObject,
) {
    // SAFETY: per contract; the context's pointers are kept alive by the Tracking.
    unsafe {
        let mut event = Event::new(&*context.interp);
        event.set(EventKey::RequestId, context.request_id);
        event.set(EventKey::ResponseStatus, status);
        event.set(EventKey::ResponseHeaders, headers);
        event.set(EventKey::ExceptionInfo, exc_info);
        event.set(EventKey::RequestData, context.request_data);
        events::publish(&*context.interp, EventKey::ResponseStarted, &mut event);
    }
}

/// Publishes `request_exception` for an exception the application raised.
///
/// # Safety
/// GIL held with the context's interpreter attached; no exception pending.
pub unsafe fn request_exception(
    context: &EventContext,
    ptype: *mut ffi::PyObject,
    value: *mut ffi::PyObject,
    traceback: *mut ffi::PyObject,
) {
    // SAFETY: per contract.
    unsafe {
        let mut event = Event::new(&*context.interp);
        let none = ffi::Py_None();
        let info = ffi::PyTuple_Pack(
            3,
            ptype,
            if value.is_null() { none } else { value },
            if traceback.is_null() { none } else { traceback },
        );
        event.set(EventKey::RequestId, context.request_id);
        event.set_owned(EventKey::ExceptionInfo, info);
        event.set(EventKey::RequestData, context.request_data);
        events::publish(&*context.interp, EventKey::RequestException, &mut event);
    }
}
