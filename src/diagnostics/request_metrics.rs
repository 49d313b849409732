//! The data behind `mod_wsgi.request_metrics()`, as mod_wsgi 4.9.4 keeps
//! it: the first call starts sampling and returns nothing; each later call
//! reports the period since the previous one (throughput, CPU, capacity
//! used, and how the requests' server, queue, daemon and application times
//! fall into doubling buckets) and starts the next period.
//!
//! Until the first call nothing is recorded: the request path checks one
//! relaxed atomic.

use crate::diagnostics::registry;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Buckets per time histogram; bucket `i < 14` holds times up to
/// 5 ms × 2^i, bucket 14 everything longer, and bucket 15 stays empty
/// (mod_wsgi's layout).
pub const BUCKETS: usize = 16;

static ENABLED: AtomicBool = AtomicBool::new(false);
static SAMPLER: Mutex<Sampler> = Mutex::new(Sampler::new());

/// The four times of a request that the buckets sort, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RequestTimes {
    pub server: f64,
    pub queue: f64,
    pub daemon: f64,
    pub application: f64,
}

impl RequestTimes {
    /// From the environ's `mod_wsgi.request_start`, `queue_start` and
    /// `daemon_start` (microseconds since the epoch; `queue_start` 0 in
    /// embedded mode) and the application's start and finish.
    pub fn from_marks(
        request_start_us: i64,
        queue_start_us: i64,
        daemon_start_us: i64,
        application_start_us: i64,
        application_finish_us: i64,
    ) -> RequestTimes {
        let secs = |from: i64, to: i64| (to - from) as f64 / 1e6;
        let application = secs(application_start_us, application_finish_us);
        if queue_start_us != 0 {
            RequestTimes {
                server: secs(request_start_us, queue_start_us),
                queue: secs(queue_start_us, daemon_start_us),
                daemon: secs(daemon_start_us, application_start_us),
                application,
            }
        } else {
            RequestTimes {
                server: secs(request_start_us, application_start_us),
                application,
                ..RequestTimes::default()
            }
        }
    }
}

/// The process figures at one `request_metrics()` call (a period's ends).
#[derive(Clone, Copy)]
struct Mark {
    time_us: i64,
    busy_time: f64,
    request_count: u64,
    cpu_user: f64,
    cpu_system: f64,
}

struct Sampler {
    start: Option<Mark>,
    requests: u64,
    totals: RequestTimes,
    server: [u32; BUCKETS],
    queue: [u32; BUCKETS],
    daemon: [u32; BUCKETS],
    application: [u32; BUCKETS],
    /// Requests finished per request thread (index: thread number − 1).
    threads: Vec<u32>,
}

impl Sampler {
    const fn new() -> Sampler {
        Sampler {
            start: None,
            requests: 0,
            totals: RequestTimes {
                server: 0.0,
                queue: 0.0,
                daemon: 0.0,
                application: 0.0,
            },
            server: [0; BUCKETS],
            queue: [0; BUCKETS],
            daemon: [0; BUCKETS],
            application: [0; BUCKETS],
            threads: Vec::new(),
        }
    }

    /// Clears what the period recorded; keeps its start and thread slots.
    fn reset_period(&mut self) {
        self.requests = 0;
        self.totals = RequestTimes::default();
        self.server = [0; BUCKETS];
        self.queue = [0; BUCKETS];
        self.daemon = [0; BUCKETS];
        self.application = [0; BUCKETS];
        self.threads.fill(0);
    }
}

/// The bucket for `seconds`: the first of 5 ms, 10 ms, 20 ms, ...,
/// 40.96 s that holds it, else bucket 14.
pub fn bucket(seconds: f64) -> usize {
    let mut threshold = 0.005;
    for index in 0..BUCKETS - 2 {
        if seconds <= threshold {
            return index;
        }
        threshold *= 2.0;
    }
    BUCKETS - 2
}

/// True once `request_metrics()` has been called in this process.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Records a finished request (only while enabled). `daemon`: served in a
/// daemon process, whose queue and daemon times are sorted too.
pub fn record(times: RequestTimes, thread_number: u64, daemon: bool) {
    if !enabled() {
        return;
    }
    let mut s = SAMPLER.lock();
    s.requests += 1;
    s.totals.server += times.server;
    s.totals.queue += times.queue;
    s.totals.daemon += times.daemon;
    s.totals.application += times.application;
    s.server[bucket(times.server)] += 1;
    if daemon {
        s.queue[bucket(times.queue)] += 1;
        s.daemon[bucket(times.daemon)] += 1;
    }
    s.application[bucket(times.application)] += 1;
    if let Some(slot) = (thread_number as usize)
        .checked_sub(1)
        .and_then(|i| s.threads.get_mut(i))
    {
        *slot += 1;
    }
}

/// One period's report.
#[derive(Clone, Debug)]
pub struct Report {
    pub pid: u32,
    pub start_time: f64,
    pub stop_time: f64,
    pub sample_period: f64,
    /// Process CPU seconds per second of the period.
    pub cpu_user_time: f64,
    pub cpu_system_time: f64,
    pub memory_max_rss: u64,
    pub memory_rss: u64,
    pub request_threads_maximum: usize,
    pub request_threads_started: u64,
    pub request_threads_active: usize,
    /// Busy request-thread time over the period's thread capacity.
    pub capacity_utilization: f64,
    pub request_count: u64,
    pub request_throughput: f64,
    pub server_time_buckets: [u32; BUCKETS],
    pub queue_time_buckets: [u32; BUCKETS],
    pub daemon_time_buckets: [u32; BUCKETS],
    pub application_time_buckets: [u32; BUCKETS],
    pub request_threads_buckets: Vec<u32>,
    /// Mean times of the requests recorded in the period (0 without any);
    /// queue and daemon times only in a daemon process.
    pub server_time: f64,
    pub queue_time: Option<f64>,
    pub daemon_time: Option<f64>,
    pub application_time: f64,
}

/// `request_metrics()`: `None` on the first call, which starts sampling;
/// afterwards the report for the period since the previous call.
/// `threads_maximum`: the request threads the process has.
pub fn sample(threads_maximum: usize, daemon: bool) -> Option<Report> {
    let threads_maximum = threads_maximum.max(1);
    let (busy_time, request_count) = registry::busy_time_now();
    let now_us = registry::now_us();
    let usage = crate::diagnostics::metrics::usage(libc::RUSAGE_SELF).unwrap_or_default();
    let stop = Mark {
        time_us: now_us,
        busy_time,
        request_count,
        cpu_user: usage.user,
        cpu_system: usage.system,
    };
    let mut s = SAMPLER.lock();
    let Some(start) = s.start.replace(stop) else {
        s.reset_period();
        s.threads = vec![0; threads_maximum];
        ENABLED.store(true, Ordering::Relaxed);
        return None;
    };
    let sample_period = (stop.time_us - start.time_us) as f64 / 1e6;
    let per_second = |value: f64| {
        if sample_period > 0.0 {
            value / sample_period
        } else {
            0.0
        }
    };
    let requests = stop.request_count.saturating_sub(start.request_count);
    let mean = |total: f64| {
        if s.requests > 0 {
            total / s.requests as f64
        } else {
            0.0
        }
    };
    let report = Report {
        pid: std::process::id(),
        start_time: start.time_us as f64 / 1e6,
        stop_time: stop.time_us as f64 / 1e6,
        sample_period,
        cpu_user_time: per_second(stop.cpu_user - start.cpu_user),
        cpu_system_time: per_second(stop.cpu_system - start.cpu_system),
        memory_max_rss: usage.max_rss,
        memory_rss: crate::diagnostics::metrics::current_rss(),
        request_threads_maximum: threads_maximum,
        request_threads_started: registry::threads_started(),
        request_threads_active: s.threads.iter().filter(|&&n| n > 0).count(),
        capacity_utilization: per_second(stop.busy_time - start.busy_time) / threads_maximum as f64,
        request_count: requests,
        request_throughput: per_second(requests as f64),
        server_time_buckets: s.server,
        queue_time_buckets: s.queue,
        daemon_time_buckets: s.daemon,
        application_time_buckets: s.application,
        request_threads_buckets: s.threads.clone(),
        server_time: mean(s.totals.server),
        queue_time: daemon.then(|| mean(s.totals.queue)),
        daemon_time: daemon.then(|| mean(s.totals.daemon)),
        application_time: mean(s.totals.application),
    };
    s.reset_period();
    Some(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_double_from_five_milliseconds() {
        assert_eq!(bucket(0.0), 0);
        assert_eq!(bucket(0.005), 0);
        assert_eq!(bucket(0.0051), 1);
        assert_eq!(bucket(0.010), 1);
        assert_eq!(bucket(0.011), 2);
        // 5 ms × 2^13 = 40.96 s is the last bounded bucket (14).
        assert_eq!(bucket(40.96), 13);
        assert_eq!(bucket(41.0), 14);
        assert_eq!(bucket(1e6), 14);
    }

    #[test]
    fn times_from_marks() {
        let embedded = RequestTimes::from_marks(1_000_000, 0, 0, 1_002_000, 1_012_000);
        assert_eq!(
            embedded,
            RequestTimes {
                server: 0.002,
                application: 0.01,
                ..RequestTimes::default()
            }
        );
        let daemon =
            RequestTimes::from_marks(1_000_000, 1_001_000, 1_004_000, 1_005_000, 1_006_000);
        assert_eq!(
            (
                daemon.server,
                daemon.queue,
                daemon.daemon,
                daemon.application
            ),
            (0.001, 0.003, 0.001, 0.001)
        );
    }
}
