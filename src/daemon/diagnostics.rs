//! What a daemon process does for the diagnostic surface: `interrupt-timeout`
//! (raising `mod_wsgi.RequestTimeout` into a request that runs too long)
//! and the announcement when it stops (`process_stopping`, and a stack dump
//! after a request timeout).
//!
//! Both need the GIL, which a wedged request may hold, so neither ever runs
//! on the monitor loop's thread: injections run on short-lived threads and
//! the announcement is waited for only up to a deadline.

use crate::daemon::monitor::ShutdownReason;
use crate::diagnostics::registry;
use crate::logging::{self, Level};
use crate::python::tstate;
use crate::runtime::Runtime;
use pyo3::ffi;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// `interrupt-timeout` for one daemon process.
pub struct Interrupter {
    timeout: Duration,
    group: String,
    /// The injector thread's queue, started on first use. One long-lived
    /// thread (rather than one per injection) keeps one thread state per
    /// interpreter instead of leaving one behind per interrupted request.
    injector: std::sync::OnceLock<Option<mpsc::Sender<registry::ActiveRequest>>>,
}

impl Interrupter {
    /// `None` when the option is off.
    pub fn new(timeout: Duration, group: &str) -> Option<Interrupter> {
        (!timeout.is_zero()).then(|| Interrupter {
            timeout,
            group: group.to_owned(),
            injector: std::sync::OnceLock::new(),
        })
    }

    /// How often the monitor loop must call [`Interrupter::check`].
    pub fn interval(&self) -> Duration {
        (self.timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
    }

    /// The injector's queue, starting its thread on first use (`None` if
    /// the thread cannot be started; that is logged).
    fn injector(&self, runtime: &Arc<Runtime>) -> Option<&mpsc::Sender<registry::ActiveRequest>> {
        self.injector
            .get_or_init(|| {
                let (queue, jobs) = mpsc::channel::<registry::ActiveRequest>();
                let runtime = runtime.clone();
                let seconds = self.timeout.as_secs();
                let name = self.group.clone();
                let spawned = std::thread::Builder::new()
                    .name("wsgirt-interrupt".into())
                    .spawn(move || {
                        for request in jobs {
                            inject(&runtime, &request, seconds, &name);
                        }
                    });
                match spawned {
                    Ok(_) => Some(queue),
                    Err(err) => {
                        logging::log_process(
                            Level::Err,
                            &format!(
                                "WSGIRT0802: mod_wsgi (pid={}): Couldn't start a thread to interrupt requests in daemon process '{}': {err}.",
                                std::process::id(),
                                self.group
                            ),
                        );
                        None
                    }
                }
            })
            .as_ref()
    }

    /// Raises `RequestTimeout` in every request older than the timeout
    /// (once per request). Returns true when a request interrupted earlier
    /// is still running after twice the timeout: it is stuck outside Python
    /// and only a restart ends it.
    pub fn check(&self, runtime: &Arc<Runtime>) -> bool {
        let mut stuck = false;
        for request in registry::snapshot() {
            let age = request.started.elapsed();
            if request.interrupted {
                stuck |= age > self.timeout * 2;
            } else if age > self.timeout && registry::mark_interrupted(request.serial) {
                // Without an injector the request is marked all the same:
                // it then ends in the restart fallback.
                if let Some(queue) = self.injector(runtime) {
                    let _ = queue.send(request);
                }
            }
        }
        stuck
    }
}

/// Raises `RequestTimeout` in the thread running `request`, if it still is.
fn inject(runtime: &Runtime, request: &registry::ActiveRequest, seconds: u64, name: &str) {
    let Ok(interp) = runtime.group(&request.group) else {
        return;
    };
    let attached = tstate::attach(&interp);
    // Under the GIL a request cannot finish, so if it is still registered
    // the exception lands in it and not in a later request of the thread.
    if !registry::is_active(request.serial) {
        return;
    }
    // SAFETY: the GIL is held with the request's interpreter attached, so
    // SetAsyncExc searches that interpreter's threads; the type is owned by
    // the interpreter's cache.
    let found = unsafe {
        let exc = attached.interp.types().request_timeout;
        ffi::PyThreadState_SetAsyncExc(request.thread_id as std::ffi::c_ulong as _, exc)
    };
    drop(attached);
    if found > 0 {
        logging::log_process(
            Level::Info,
            &format!(
                "mod_wsgi (pid={}): Raising RequestTimeout in request '{}' of daemon process '{name}' after interrupt timeout of {seconds} seconds.",
                std::process::id(),
                request.request_id
            ),
        );
    }
}

/// Publishes `process_stopping` with `reason` and, after a request
/// timeout, dumps every thread's stack at `LogLevel info`, as mod_wsgi
/// does before it waits for requests. Gives up waiting after `limit` (the
/// work continues on its thread; the process exits soon anyway). Skipped
/// for a deadlock: the GIL is known to be stuck.
pub fn announce_stopping(runtime: &Arc<Runtime>, reason: ShutdownReason, limit: Duration) {
    if reason == ShutdownReason::DeadlockTimeout {
        return;
    }
    let (done, finished) = mpsc::channel();
    let runtime = runtime.clone();
    let spawned = std::thread::Builder::new()
        .name("wsgirt-stopping".into())
        .spawn(move || {
            runtime.publish_process_stopping(reason.as_str());
            if reason == ShutdownReason::RequestTimeout {
                let _ = runtime.dump_stacks();
            }
            let _ = done.send(());
        });
    if spawned.is_ok() {
        let _ = finished.recv_timeout(limit);
    }
}
