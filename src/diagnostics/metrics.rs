//! `mod_wsgi.process_metrics()` and `mod_wsgi.server_metrics()` as plain
//! Rust data; the `mod_wsgi` module turns them into Python dicts.
//!
//! Server metrics come from the host (Apache's scoreboard) through a reader
//! the host installs ([`set_scoreboard_reader`]); the runtime never links
//! against the host.

use crate::diagnostics::registry::{self, ThreadCount};
use parking_lot::RwLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// The figures of `mod_wsgi.process_metrics()`, named as mod_wsgi names them.
#[derive(Clone, Debug)]
pub struct ProcessMetrics {
    pub pid: u32,
    pub request_count: u64,
    /// Sum of the durations of finished requests, seconds.
    pub request_busy_time: f64,
    /// Peak resident set size, bytes.
    pub memory_max_rss: u64,
    /// Resident set size now, bytes.
    pub memory_rss: u64,
    pub cpu_user_time: f64,
    pub cpu_system_time: f64,
    /// When the process started serving, seconds since the epoch.
    pub restart_time: f64,
    pub current_time: f64,
    /// Whole seconds since `restart_time`.
    pub running_time: i64,
    /// Threads that have served requests.
    pub request_threads: usize,
    pub active_requests: usize,
    pub threads: Vec<ThreadCount>,
}

fn epoch_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Resident set size now, from `/proc/self/statm` (0 where unavailable).
pub fn current_rss() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
    pages * page
}

/// What `getrusage` reports for the process or the calling thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// Peak resident set size, bytes (process-wide even for a thread).
    pub max_rss: u64,
    /// CPU time in user mode, seconds.
    pub user: f64,
    /// CPU time in the kernel, seconds.
    pub system: f64,
}

/// `getrusage(who)`: `libc::RUSAGE_SELF` or `libc::RUSAGE_THREAD`.
pub fn usage(who: libc::c_int) -> Option<Usage> {
    // SAFETY: getrusage fills the zeroed struct we own.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(who, &mut usage) != 0 {
            return None;
        }
        let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        Some(Usage {
            max_rss: usage.ru_maxrss.max(0) as u64 * 1024,
            user: secs(usage.ru_utime),
            system: secs(usage.ru_stime),
        })
    }
}

/// The process metrics now.
pub fn process_metrics() -> ProcessMetrics {
    let totals = registry::totals();
    let Usage {
        max_rss: memory_max_rss,
        user: cpu_user_time,
        system: cpu_system_time,
    } = usage(libc::RUSAGE_SELF).unwrap_or_default();
    let restart = registry::restart_time();
    let now = SystemTime::now();
    ProcessMetrics {
        pid: std::process::id(),
        request_count: totals.request_count,
        request_busy_time: totals.request_busy_time,
        memory_max_rss,
        memory_rss: current_rss(),
        cpu_user_time,
        cpu_system_time,
        restart_time: epoch_seconds(restart),
        current_time: epoch_seconds(now),
        running_time: now
            .duration_since(restart)
            .map_or(0, |d| d.as_secs() as i64),
        request_threads: totals.threads.len(),
        active_requests: totals.active_requests,
        threads: totals.threads,
    }
}

/// One worker slot of the host's scoreboard.
#[derive(Clone, Debug, Default)]
pub struct ScoreWorker {
    pub thread_num: i32,
    pub generation: i32,
    /// Apache's one-character status (`_` ready, `W` writing, ...).
    pub status: char,
    pub access_count: u64,
    pub bytes_served: u64,
    pub start_time_us: i64,
    pub stop_time_us: i64,
    pub last_used_us: i64,
    pub client: String,
    pub request: String,
    pub vhost: String,
}

/// One process slot of the host's scoreboard.
#[derive(Clone, Debug, Default)]
pub struct ScoreProcess {
    pub process_num: i32,
    pub pid: i32,
    pub generation: i32,
    pub quiescing: bool,
    pub workers: Vec<ScoreWorker>,
}

/// The host's scoreboard, as `server_metrics()` reports it.
#[derive(Clone, Debug, Default)]
pub struct Scoreboard {
    pub server_limit: i32,
    pub thread_limit: i32,
    pub running_generation: i32,
    pub restart_time_us: i64,
    pub processes: Vec<ScoreProcess>,
}

/// Reads the scoreboard; `None` when the host has none.
pub type ScoreboardReader = Box<dyn Fn() -> Option<Scoreboard> + Send + Sync>;

static READER: RwLock<Option<ScoreboardReader>> = RwLock::new(None);

/// Installs (or removes) the host's scoreboard reader.
pub fn set_scoreboard_reader(reader: Option<ScoreboardReader>) {
    *READER.write() = reader;
}

/// The scoreboard now, if the host installed a reader and it has one.
/// Called without the GIL (the reader may take locks of its own).
pub fn read_scoreboard() -> Option<Scoreboard> {
    READER.read().as_ref().and_then(|read| read())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_metrics_report_this_process() {
        let m = process_metrics();
        assert_eq!(m.pid, std::process::id());
        assert!(m.memory_rss > 0);
        assert!(m.memory_max_rss >= m.memory_rss / 2);
        assert!(m.current_time >= m.restart_time);
    }

    #[test]
    fn scoreboard_comes_from_the_installed_reader() {
        set_scoreboard_reader(Some(Box::new(|| {
            Some(Scoreboard {
                server_limit: 3,
                ..Scoreboard::default()
            })
        })));
        assert_eq!(read_scoreboard().map(|s| s.server_limit), Some(3));
        set_scoreboard_reader(None);
        assert!(read_scoreboard().is_none());
    }
}
