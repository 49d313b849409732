//! The shutdown bound of a daemon process (mod_wsgi 4.9.4's reaper thread).
//!
//! When a daemon process starts to shut down ("Shutdown requested"),
//! mod_wsgi starts a thread that sleeps for shutdown-timeout and then ends
//! the process: it logs `Aborting process 'g'.` and `Exiting process 'g'.`
//! and exits with status -1 (255). The bound therefore covers the whole
//! shutdown: the stop announcement, the wait for requests in progress
//! *and* Python's teardown (`atexit` callbacks, interpreter destruction),
//! which a process that finished in time never notices because it exits
//! first. `shutdown-timeout=0` starts no reaper (mod_wsgi: "not recommended
//! unless an external process controls shutdown").
//!
//! [`start`] is that thread. It exits with `_exit`, not `exit`: other
//! threads may be inside Python or holding locks that `exit`'s handlers
//! (C `atexit`, stdio flushing) would need, and nothing of the process is
//! worth finalising once the bound has passed. Only a host that owns the
//! process may start it (the Apache module's daemon processes); an embedding
//! test harness must not.

use crate::logging::{self, Level};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Set by the first [`start`]: one reaper per process.
static STARTED: AtomicBool = AtomicBool::new(false);

/// Stack of the reaper thread: it only formats two lines and hands them to
/// the host's log callback (Apache formats into buffers of a few KiB on
/// its stack).
const STACK_SIZE: usize = 256 << 10;

/// Starts the reaper: `timeout` from now, unless the process has exited by
/// then, log mod_wsgi's two lines for process group `name` and `_exit(-1)`.
/// A zero `timeout` starts nothing. Only the first call in a process starts
/// a thread; later calls do nothing (the first deadline stands). Returns
/// whether a reaper is running after the call.
pub fn start(name: &str, timeout: Duration) -> bool {
    if timeout.is_zero() {
        return STARTED.load(Ordering::Acquire);
    }
    if STARTED.swap(true, Ordering::AcqRel) {
        return true;
    }
    let deadline = Instant::now() + timeout;
    let group = name.to_owned();
    let spawned = std::thread::Builder::new()
        .name("wsgirt-reaper".into())
        .stack_size(STACK_SIZE)
        .spawn(move || {
            // `sleep` may wake early on some platforms: wait for the instant.
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left);
            }
            abort(&group)
        });
    if let Err(err) = spawned {
        STARTED.store(false, Ordering::Release);
        logging::log_process(
            Level::Alert,
            &format!(
                "WSGIRT0549: mod_wsgi (pid={}): Couldn't create reaper thread in daemon process '{name}': {err}.",
                std::process::id()
            ),
        );
        return false;
    }
    true
}

/// mod_wsgi's reaper expiring: its two lines, then `_exit(-1)` with nothing
/// else run or logged.
fn abort(name: &str) -> ! {
    let pid = std::process::id();
    logging::log_process(
        Level::Info,
        &format!("mod_wsgi (pid={pid}): Aborting process '{name}'."),
    );
    logging::log_process(
        Level::Info,
        &format!("mod_wsgi (pid={pid}): Exiting process '{name}'."),
    );
    // SAFETY: `_exit` ends the process at once; it is async-signal-safe and
    // touches no state that other threads (possibly inside Python) hold.
    unsafe { libc::_exit(-1) }
}
