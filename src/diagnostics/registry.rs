//! The process's registry of requests in flight, and the counters behind
//! `mod_wsgi.process_metrics()`.
//!
//! Every request the runtime runs is entered here for its whole life
//! ([`enter`] returns a guard that removes it). The registry is plain Rust
//! data behind a mutex, readable from any thread without the GIL: the C
//! API (`wsgirt_requests_visit`), the daemon's timeout monitor and the
//! stack dumper use it. Python-side request data (`request_data()`,
//! `mod_wsgi.active_requests`) lives in each interpreter, not here.

use parking_lot::Mutex;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// One request in flight.
#[derive(Clone, Debug)]
pub struct ActiveRequest {
    /// Process-unique number of this request (never reused).
    pub serial: u64,
    /// The host's request id (`mod_wsgi.request_id`, Apache's log id), or
    /// `"<serial>"` when the host gave none.
    pub request_id: String,
    /// Application group (`""` = `%{GLOBAL}`).
    pub group: String,
    /// `threading.get_ident()` of the thread running it (the full value).
    pub thread_id: u64,
    /// The process-local number of that thread (`mod_wsgi.thread_id`).
    pub thread_number: u64,
    /// Wall-clock start, microseconds since the epoch.
    pub start_us: i64,
    /// Monotonic start, for ages.
    pub started: Instant,
    /// Set once a `RequestTimeout` was injected into it.
    pub interrupted: bool,
}

/// Per-thread request count for `process_metrics()["threads"]`.
#[derive(Clone, Copy, Debug)]
pub struct ThreadCount {
    pub thread_number: u64,
    pub request_count: u64,
}

struct Registry {
    active: Vec<ActiveRequest>,
    threads: Vec<ThreadCount>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    active: Vec::new(),
    threads: Vec::new(),
});
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);
static NEXT_THREAD_NUMBER: AtomicU64 = AtomicU64::new(1);
static REQUEST_COUNT: AtomicU64 = AtomicU64::new(0);
static BUSY_NS: AtomicU64 = AtomicU64::new(0);
static RESTART_TIME: OnceLock<SystemTime> = OnceLock::new();

thread_local! {
    /// This thread's `mod_wsgi.thread_id` (0 until its first request).
    static THREAD_NUMBER: Cell<u64> = const { Cell::new(0) };
}

/// Microseconds since the epoch, now (Apache's `apr_time_now`).
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Records when this process (re)started serving; the first call wins.
pub fn mark_restart_time() {
    let _ = RESTART_TIME.set(SystemTime::now());
}

/// When this process started serving (`process_metrics()["restart_time"]`).
pub fn restart_time() -> SystemTime {
    *RESTART_TIME.get_or_init(SystemTime::now)
}

/// The calling thread's `threading.get_ident()` value, without the GIL.
pub fn current_thread_ident() -> u64 {
    // SAFETY: a pure wrapper around pthread_self(); no Python state is used.
    unsafe { pyo3::ffi::PyThread_get_thread_ident() as u64 }
}

/// Numbers the calling thread on its first request (1, 2, ...), as
/// mod_wsgi numbers its request threads for `mod_wsgi.thread_id`.
fn thread_number() -> u64 {
    THREAD_NUMBER.with(|n| {
        if n.get() == 0 {
            n.set(NEXT_THREAD_NUMBER.fetch_add(1, Ordering::Relaxed));
        }
        n.get()
    })
}

/// What a request learns when it is entered.
#[derive(Clone, Copy, Debug)]
pub struct Entered {
    pub serial: u64,
    pub thread_number: u64,
    /// When it was entered, microseconds since the epoch (the request's
    /// `application_start`; one clock read serves the registry and events).
    pub start_us: i64,
}

/// Removes the request from the registry when dropped.
pub struct RequestGuard {
    serial: u64,
    started: Instant,
}

/// Enters a request running on the calling thread.
pub fn enter(request_id: Option<&[u8]>, group: &str) -> (RequestGuard, Entered) {
    let serial = NEXT_SERIAL.fetch_add(1, Ordering::Relaxed);
    let thread_number = thread_number();
    let started = Instant::now();
    let start_us = now_us();
    let request_id = match request_id {
        Some(id) => String::from_utf8_lossy(id).into_owned(),
        None => serial.to_string(),
    };
    let entry = ActiveRequest {
        serial,
        request_id,
        group: group.to_owned(),
        thread_id: current_thread_ident(),
        thread_number,
        start_us,
        started,
        interrupted: false,
    };
    REQUEST_COUNT.fetch_add(1, Ordering::Relaxed);
    {
        let mut registry = REGISTRY.lock();
        registry.active.push(entry);
        match registry
            .threads
            .iter_mut()
            .find(|t| t.thread_number == thread_number)
        {
            Some(t) => t.request_count += 1,
            None => registry.threads.push(ThreadCount {
                thread_number,
                request_count: 1,
            }),
        }
    }
    (
        RequestGuard { serial, started },
        Entered {
            serial,
            thread_number,
            start_us,
        },
    )
}

impl RequestGuard {
    /// Removes the request; true if a `RequestTimeout` was injected into it.
    pub fn finish(self) -> bool {
        let interrupted = self.remove();
        // Already removed: skip Drop's second search under the lock.
        std::mem::forget(self);
        interrupted
    }

    fn remove(&self) -> bool {
        let mut registry = REGISTRY.lock();
        match registry.active.iter().position(|r| r.serial == self.serial) {
            Some(pos) => {
                let busy = self.started.elapsed().as_nanos() as u64;
                BUSY_NS.fetch_add(busy, Ordering::Relaxed);
                registry.active.swap_remove(pos).interrupted
            }
            None => false,
        }
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Request-thread time spent in requests so far, in seconds, counting the
/// part of the requests in flight already run, and the requests entered:
/// two samples give the busy time and requests of the period between.
pub fn busy_time_now() -> (f64, u64) {
    let registry = REGISTRY.lock();
    let running: u64 = registry
        .active
        .iter()
        .map(|r| r.started.elapsed().as_nanos() as u64)
        .sum();
    let busy = BUSY_NS.load(Ordering::Relaxed) + running;
    (busy as f64 / 1e9, REQUEST_COUNT.load(Ordering::Relaxed))
}

/// How many threads have served a request in this process.
pub fn threads_started() -> u64 {
    NEXT_THREAD_NUMBER.load(Ordering::Relaxed) - 1
}

/// A copy of every request in flight, oldest first.
pub fn snapshot() -> Vec<ActiveRequest> {
    let mut active = REGISTRY.lock().active.clone();
    active.sort_by_key(|r| r.serial);
    active
}

/// How many requests are in flight.
pub fn active_count() -> usize {
    REGISTRY.lock().active.len()
}

/// True while the request is registered (running).
pub fn is_active(serial: u64) -> bool {
    REGISTRY.lock().active.iter().any(|r| r.serial == serial)
}

/// Marks a request as interrupted; false if it has already finished or
/// was interrupted before.
pub fn mark_interrupted(serial: u64) -> bool {
    let mut registry = REGISTRY.lock();
    match registry.active.iter_mut().find(|r| r.serial == serial) {
        Some(r) if !r.interrupted => {
            r.interrupted = true;
            true
        }
        _ => false,
    }
}

/// Process totals for `process_metrics()`.
#[derive(Clone, Debug)]
pub struct Totals {
    pub request_count: u64,
    /// Sum of the durations of finished requests, in seconds.
    pub request_busy_time: f64,
    pub threads: Vec<ThreadCount>,
    pub active_requests: usize,
}

/// The process totals now.
pub fn totals() -> Totals {
    let registry = REGISTRY.lock();
    Totals {
        request_count: REQUEST_COUNT.load(Ordering::Relaxed),
        request_busy_time: BUSY_NS.load(Ordering::Relaxed) as f64 / 1e9,
        threads: registry.threads.clone(),
        active_requests: registry.active.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_as_long_as_their_guard() {
        let (guard, entered) = enter(Some(b"abc"), "grp");
        let found = snapshot()
            .into_iter()
            .find(|r| r.serial == entered.serial)
            .expect("registered");
        assert_eq!(found.request_id, "abc");
        assert_eq!(found.group, "grp");
        assert_eq!(found.thread_id, current_thread_ident());
        assert!(mark_interrupted(entered.serial));
        assert!(!mark_interrupted(entered.serial), "only once");
        drop(guard);
        assert!(snapshot().iter().all(|r| r.serial != entered.serial));
        assert!(!mark_interrupted(entered.serial));
    }

    #[test]
    fn threads_are_numbered_and_counted() {
        let (g1, first) = enter(None, "");
        drop(g1);
        let (g2, second) = enter(None, "");
        drop(g2);
        assert_eq!(first.thread_number, second.thread_number);
        assert!(second.serial > first.serial);
        let count = |n| {
            totals()
                .threads
                .iter()
                .find(|t| t.thread_number == n)
                .map(|t| t.request_count)
        };
        assert!(count(first.thread_number) >= Some(2));
        let other = std::thread::spawn(|| enter(None, "").1.thread_number)
            .join()
            .unwrap();
        assert_ne!(other, first.thread_number);
        let totals = totals();
        assert!(totals.threads.iter().any(|t| t.thread_number == other));
    }
}
