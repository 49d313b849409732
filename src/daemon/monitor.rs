//! When a daemon process must stop: mod_wsgi's recycling rules
//! (`wsgi_monitor_thread`, the signal loop of `wsgi_daemon_main` and the
//! maximum-requests check of `wsgi_daemon_worker`, 4.6–4.9), as a pure
//! state machine that the serving loop feeds with snapshots.
//!
//! Checks, in mod_wsgi's order:
//! - **request-timeout** (4.6's rule): the ages of all requests in progress
//!   are summed and divided by the number of threads; above the timeout the
//!   process stops. One stuck request out of N threads therefore fires
//!   after N × timeout, N stuck requests after the timeout.
//! - **startup-timeout**: armed by the first request, cancelled once a
//!   script loaded; expiry stops the process.
//! - **maximum-requests**: decided by the request thread at the end of
//!   each request once the count is used up ([`past_limit`], mod_wsgi's
//!   check at the end of `wsgi_daemon_worker`'s loop): with
//!   graceful-timeout set and other requests in progress, the process
//!   keeps serving and the graceful deadline is (re)set to graceful-timeout
//!   from that request's end, logged each time; otherwise it stops. So the
//!   process stops when it goes idle, or when no request ends for
//!   graceful-timeout. The monitor acts on that decision and deadline.
//! - **restart-interval**: stops at once when idle, else drains (bounded by
//!   graceful-timeout when set).
//! - **deadlock-timeout**: the GIL probe has not run for that long.
//! - **inactivity-timeout**: no request in progress and no request I/O for
//!   that long (armed by the first request, as in mod_wsgi).
//! - a drain ends when no request is in progress ("Requests have
//!   completed") or at its deadline ("graceful timer expired").
//!   maximum-requests and the drains share one graceful deadline, as
//!   mod_wsgi's `wsgi_graceful_shutdown_time`: whichever set it last wins.
//!
//! Signals (bytes on the host's stop pipe): `S` (SIGTERM/SIGINT) stops at
//! once; `G` (SIGUSR1) drains for eviction-timeout (else graceful-timeout);
//! `C` (SIGXCPU, cpu-time-limit) drains for graceful-timeout, or stops at
//! once when that is unset. While draining, the process keeps accepting
//! requests, as mod_wsgi does. A drain without a deadline (the timeout is
//! 0) lasts until the process is idle, as in mod_wsgi.

use crate::daemon::options::DaemonOptions;
use crate::logging::{self, Level};
use std::time::{Duration, Instant};

/// Why a daemon process stopped serving. Values are part of the C API
/// (`wsgirt_shutdown_reason`) and never renumbered.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownReason {
    /// SIGTERM or SIGINT (`S` on the stop pipe), or the pipe was closed.
    Signal = 0,
    MaximumRequests = 1,
    RestartInterval = 2,
    InactivityTimeout = 3,
    RequestTimeout = 4,
    /// SIGUSR1 (`G`): eviction.
    GracefulSignal = 5,
    /// SIGXCPU (`C`): cpu-time-limit.
    CpuTimeLimit = 6,
    /// A script changed (`WSGIScriptReloading On`): restart to reload it.
    Reload = 7,
    DeadlockTimeout = 8,
    StartupTimeout = 9,
    /// The listening socket failed.
    Error = 10,
}

impl ShutdownReason {
    /// mod_wsgi's `shutdown_reason` for the `process_stopping` event:
    /// empty for maximum-requests, deadlock, plain signals and reloads.
    pub fn as_str(self) -> &'static str {
        match self {
            ShutdownReason::RequestTimeout => "request_timeout",
            ShutdownReason::StartupTimeout => "startup_timeout",
            ShutdownReason::RestartInterval => "restart_interval",
            ShutdownReason::InactivityTimeout => "inactivity_timeout",
            ShutdownReason::CpuTimeLimit => "cpu_time_limit",
            ShutdownReason::GracefulSignal => "graceful_signal",
            _ => "",
        }
    }

    pub fn from_u32(value: u32) -> Option<ShutdownReason> {
        Some(match value {
            0 => ShutdownReason::Signal,
            1 => ShutdownReason::MaximumRequests,
            2 => ShutdownReason::RestartInterval,
            3 => ShutdownReason::InactivityTimeout,
            4 => ShutdownReason::RequestTimeout,
            5 => ShutdownReason::GracefulSignal,
            6 => ShutdownReason::CpuTimeLimit,
            7 => ShutdownReason::Reload,
            8 => ShutdownReason::DeadlockTimeout,
            9 => ShutdownReason::StartupTimeout,
            10 => ShutdownReason::Error,
            _ => return None,
        })
    }
}

/// What the serving loop knows at a check.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot {
    pub now: Instant,
    /// Requests in progress.
    pub active: usize,
    /// Σ ages of the requests in progress.
    pub request_time: Duration,
    /// Last request start, end, read or write (inactivity-timeout); None
    /// before the first request (mod_wsgi's idle timer is armed by
    /// requests, so a process that never served one is not recycled).
    pub last_activity: Option<Instant>,
    /// Last time the deadlock probe acquired the GIL.
    pub heartbeat: Instant,
    /// A request ending past maximum-requests decided to stop
    /// ([`PastLimit::Stop`], already logged).
    pub max_requests_stop: bool,
    /// When a request ending past maximum-requests last (re)set the
    /// graceful deadline ([`PastLimit::Wait`]); the deadline is
    /// graceful-timeout later.
    pub max_requests_wait: Option<Instant>,
    pub reload: bool,
    pub fatal: bool,
    /// When the startup timer expires, if armed.
    pub startup_deadline: Option<Instant>,
}

/// What to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Check again after this long (None: on the next event only).
    Wait(Option<Duration>),
    Stop(ShutdownReason),
}

#[derive(Clone, Copy, Debug)]
struct Drain {
    reason: ShutdownReason,
    /// When the drain began (it set the graceful deadline then).
    since: Instant,
    deadline: Option<Instant>,
}

/// What a request that ends once maximum-requests is used up means for
/// its process (mod_wsgi 4.9.4 decides this in the request thread, at the
/// end of every request while the count is at or below zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PastLimit {
    /// graceful-timeout is set and other requests are in progress: keep
    /// serving (new requests are still accepted) and move the graceful
    /// deadline to graceful-timeout from now.
    Wait,
    /// Stop the process now.
    Stop,
}

/// Decides [`PastLimit`] for a request of group `name` that just ended
/// with `others` requests still in progress, and logs it with mod_wsgi's
/// lines: "attempt a graceful shutdown" on every [`PastLimit::Wait`] (each
/// one moves the deadline), "triggering immediate shutdown" on
/// [`PastLimit::Stop`] unless the process is already `stopping` (then
/// mod_wsgi stays silent).
pub fn past_limit(
    name: &str,
    graceful_timeout: Duration,
    others: usize,
    stopping: bool,
) -> PastLimit {
    if !graceful_timeout.is_zero() && others > 0 {
        log_info(&format!(
            "Maximum requests reached, attempt a graceful shutdown '{name}'."
        ));
        PastLimit::Wait
    } else {
        if !stopping {
            log_info(&format!(
                "Maximum requests reached, triggering immediate shutdown '{name}'."
            ));
        }
        PastLimit::Stop
    }
}

/// An info line in mod_wsgi's form for this process.
fn log_info(message: &str) {
    logging::log_process(
        Level::Info,
        &format!("mod_wsgi (pid={}): {message}", std::process::id()),
    );
}

/// The recycling state of one daemon process.
pub struct Monitor {
    name: String,
    threads: u32,
    request_timeout: Duration,
    inactivity_timeout: Duration,
    deadlock_timeout: Duration,
    graceful_timeout: Duration,
    eviction_timeout: Duration,
    restart_at: Option<Instant>,
    drain: Option<Drain>,
}

fn nonzero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

impl Monitor {
    pub fn new(opts: &DaemonOptions, now: Instant) -> Monitor {
        Monitor {
            name: opts.name.clone(),
            threads: opts.threads.max(1),
            request_timeout: opts.request_timeout,
            inactivity_timeout: opts.inactivity_timeout,
            deadlock_timeout: opts.deadlock_timeout,
            graceful_timeout: opts.graceful_timeout,
            eviction_timeout: opts.eviction_timeout,
            restart_at: nonzero(opts.restart_interval).map(|d| now + d),
            drain: None,
        }
    }

    /// True while draining: the serving loop then reports every request end.
    pub fn draining(&self) -> bool {
        self.drain.is_some()
    }

    /// How often time-based checks must run at least.
    pub fn tick(&self) -> Option<Duration> {
        let mut tick: Option<Duration> = None;
        for timeout in [self.request_timeout, self.deadlock_timeout] {
            if let Some(t) = nonzero(timeout) {
                let t = (t / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
                tick = Some(tick.map_or(t, |old| old.min(t)));
            }
        }
        tick
    }

    fn log(&self, message: &str) {
        log_info(message);
    }

    fn begin_drain(&mut self, reason: ShutdownReason, timeout: Duration, now: Instant) {
        self.drain = Some(Drain {
            reason,
            since: now,
            deadline: nonzero(timeout).map(|t| now + t),
        });
    }

    /// The graceful deadline in force and the reason to give when it
    /// passes: set by a drain or by a request ending past
    /// maximum-requests, whichever did so last (mod_wsgi has one
    /// `wsgi_graceful_shutdown_time` for both).
    fn graceful_deadline(&self, s: &Snapshot) -> Option<(Instant, ShutdownReason)> {
        let limit = s
            .max_requests_wait
            .filter(|_| !self.graceful_timeout.is_zero())
            .map(|at| (at, at + self.graceful_timeout));
        match (self.drain, limit) {
            (Some(drain), Some((at, _))) if drain.since >= at => {
                drain.deadline.map(|d| (d, drain.reason))
            }
            (_, Some((_, deadline))) => Some((deadline, ShutdownReason::MaximumRequests)),
            (Some(drain), None) => drain.deadline.map(|d| (d, drain.reason)),
            (None, None) => None,
        }
    }

    /// Runs every check against `s`.
    pub fn check(&mut self, s: &Snapshot) -> Step {
        let name = self.name.clone();
        if s.fatal {
            return Step::Stop(ShutdownReason::Error);
        }
        if s.reload {
            return Step::Stop(ShutdownReason::Reload);
        }
        if let Some(timeout) = nonzero(self.request_timeout) {
            if s.request_time / self.threads > timeout {
                self.log(&format!(
                    "Daemon process request time limit exceeded, stopping process '{name}'."
                ));
                return Step::Stop(ShutdownReason::RequestTimeout);
            }
        }
        if s.startup_deadline.is_some_and(|d| d <= s.now) {
            self.log(&format!(
                "Application startup timer expired, stopping process '{name}'."
            ));
            return Step::Stop(ShutdownReason::StartupTimeout);
        }
        if s.max_requests_stop {
            // Logged by the request thread that decided it (past_limit).
            return Step::Stop(ShutdownReason::MaximumRequests);
        }
        if self.drain.is_none() && self.restart_at.is_some_and(|at| at <= s.now) {
            if s.active > 0 {
                self.log(&format!(
                    "Application restart timer expired, waiting for requests to complete '{name}'."
                ));
                self.begin_drain(
                    ShutdownReason::RestartInterval,
                    self.graceful_timeout,
                    s.now,
                );
            } else {
                self.log(&format!(
                    "Application restart timer expired, stopping process '{name}'."
                ));
                return Step::Stop(ShutdownReason::RestartInterval);
            }
        }
        if let Some(timeout) = nonzero(self.deadlock_timeout) {
            if s.now.saturating_duration_since(s.heartbeat) >= timeout {
                self.log(&format!(
                    "Daemon process deadlock timer expired, stopping process '{name}'."
                ));
                return Step::Stop(ShutdownReason::DeadlockTimeout);
            }
        }
        if let Some(timeout) = nonzero(self.inactivity_timeout) {
            let idle = s
                .last_activity
                .is_some_and(|at| s.now.saturating_duration_since(at) >= timeout);
            if s.active == 0 && idle {
                self.log(&format!(
                    "Daemon process idle inactivity timer expired, stopping process '{name}'."
                ));
                return Step::Stop(ShutdownReason::InactivityTimeout);
            }
        }
        if let Some(drain) = self.drain {
            if s.active == 0 {
                self.log(&format!(
                    "Requests have completed, triggering immediate shutdown '{name}'."
                ));
                return Step::Stop(drain.reason);
            }
        }
        if let Some((deadline, reason)) = self.graceful_deadline(s) {
            if deadline <= s.now {
                self.log(&format!("Daemon process graceful timer expired '{name}'."));
                return Step::Stop(reason);
            }
        }
        Step::Wait(self.next_wait(s))
    }

    /// Time until the earliest deadline that a check could act on.
    fn next_wait(&self, s: &Snapshot) -> Option<Duration> {
        let mut wait = self.tick();
        let mut consider = |at: Instant| {
            let d = at.saturating_duration_since(s.now);
            wait = Some(wait.map_or(d, |w| w.min(d)));
        };
        if let Some(at) = s.startup_deadline {
            consider(at);
        }
        if self.drain.is_none() {
            if let Some(at) = self.restart_at {
                consider(at);
            }
        }
        if let (Some(timeout), Some(last)) = (nonzero(self.inactivity_timeout), s.last_activity) {
            // With requests in progress their end is reported; re-check
            // after a full period anyway.
            consider(if s.active == 0 {
                last + timeout
            } else {
                s.now + timeout
            });
        }
        if let Some((at, _)) = self.graceful_deadline(s) {
            consider(at);
        }
        wait
    }

    /// Handles a byte from the host's stop pipe.
    pub fn signal(&mut self, byte: u8, s: &Snapshot) -> Step {
        let name = self.name.clone();
        let (reason, timeout, what) = match byte {
            b'G' => (
                ShutdownReason::GracefulSignal,
                if self.eviction_timeout.is_zero() {
                    self.graceful_timeout
                } else {
                    self.eviction_timeout
                },
                "Process eviction requested",
            ),
            b'C' => (
                ShutdownReason::CpuTimeLimit,
                self.graceful_timeout,
                "Exceeded CPU time limit",
            ),
            _ => return Step::Stop(ShutdownReason::Signal),
        };
        if self.drain.is_some() {
            return self.check(s);
        }
        let immediate =
            s.active == 0 || (reason == ShutdownReason::CpuTimeLimit && timeout.is_zero());
        if immediate {
            self.log(&format!("{what}, triggering immediate shutdown '{name}'."));
            return Step::Stop(reason);
        }
        self.log(&format!(
            "{what}, waiting for requests to complete '{name}'."
        ));
        self.begin_drain(reason, timeout, s.now);
        self.check(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(now: Instant) -> Snapshot {
        Snapshot {
            now,
            active: 0,
            request_time: Duration::ZERO,
            last_activity: Some(now),
            heartbeat: now,
            max_requests_stop: false,
            max_requests_wait: None,
            reload: false,
            fatal: false,
            startup_deadline: None,
        }
    }

    fn options() -> DaemonOptions {
        DaemonOptions {
            name: "g".into(),
            threads: 4,
            deadlock_timeout: Duration::ZERO,
            // The tests that drain set it themselves.
            graceful_timeout: Duration::ZERO,
            ..DaemonOptions::default()
        }
    }

    #[test]
    fn past_limit_waits_only_with_graceful_timeout_and_other_requests() {
        let g = Duration::from_secs(15);
        assert_eq!(past_limit("g", g, 1, false), PastLimit::Wait);
        assert_eq!(past_limit("g", g, 0, false), PastLimit::Stop);
        assert_eq!(past_limit("g", Duration::ZERO, 3, false), PastLimit::Stop);
        assert_eq!(past_limit("g", g, 0, true), PastLimit::Stop);
        // graceful-timeout defaults to 15 s, as in mod_wsgi 4.9.4.
        assert_eq!(DaemonOptions::default().graceful_timeout, g);
    }

    #[test]
    fn reason_strings_follow_mod_wsgi() {
        assert_eq!(ShutdownReason::RequestTimeout.as_str(), "request_timeout");
        assert_eq!(ShutdownReason::GracefulSignal.as_str(), "graceful_signal");
        assert_eq!(ShutdownReason::MaximumRequests.as_str(), "");
        assert_eq!(ShutdownReason::Signal.as_str(), "");
        for value in 0..=10 {
            assert_eq!(ShutdownReason::from_u32(value).unwrap() as u32, value);
        }
        assert_eq!(ShutdownReason::from_u32(11), None);
    }

    #[test]
    fn request_timeout_is_averaged_over_threads() {
        let now = Instant::now();
        let mut m = Monitor::new(
            &DaemonOptions {
                request_timeout: Duration::from_secs(10),
                ..options()
            },
            now,
        );
        let mut s = snapshot(now);
        s.active = 1;
        // One request of 4 threads: fires only past 4 × 10 s.
        s.request_time = Duration::from_secs(39);
        assert!(matches!(m.check(&s), Step::Wait(_)));
        s.request_time = Duration::from_secs(41);
        assert_eq!(m.check(&s), Step::Stop(ShutdownReason::RequestTimeout));
    }

    #[test]
    fn maximum_requests_stop_decided_by_a_request() {
        let now = Instant::now();
        let mut s = snapshot(now);
        s.active = 2;
        s.max_requests_stop = true;
        let mut m = Monitor::new(&options(), now);
        assert_eq!(m.check(&s), Step::Stop(ShutdownReason::MaximumRequests));
    }

    #[test]
    fn maximum_requests_deadline_moves_with_each_request_end() {
        let now = Instant::now();
        let secs = Duration::from_secs;
        let mut m = Monitor::new(
            &DaemonOptions {
                graceful_timeout: secs(3),
                ..options()
            },
            now,
        );
        let mut s = snapshot(now);
        s.active = 1;
        s.max_requests_wait = Some(now);
        assert_eq!(m.check(&s), Step::Wait(Some(secs(3))));
        // A request ended at +2 with another still running: +5.
        s.max_requests_wait = Some(now + secs(2));
        s.now = now + secs(3);
        assert_eq!(m.check(&s), Step::Wait(Some(secs(2))));
        // Not a drain: an idle process waits for a request end to stop it.
        assert!(!m.draining());
        s.now = now + secs(5);
        assert_eq!(m.check(&s), Step::Stop(ShutdownReason::MaximumRequests));
    }

    #[test]
    fn the_graceful_deadline_set_last_wins() {
        let now = Instant::now();
        let secs = Duration::from_secs;
        let opts = DaemonOptions {
            graceful_timeout: secs(10),
            eviction_timeout: secs(2),
            ..options()
        };
        // Eviction after maximum-requests: its 2 s deadline is in force.
        let mut m = Monitor::new(&opts, now);
        let mut s = snapshot(now + secs(1));
        s.active = 1;
        s.max_requests_wait = Some(now);
        assert_eq!(m.signal(b'G', &s), Step::Wait(Some(secs(2))));
        s.now = now + secs(3);
        assert_eq!(m.check(&s), Step::Stop(ShutdownReason::GracefulSignal));
        // A request ending past the limit after the eviction moves it.
        let mut m = Monitor::new(&opts, now);
        let mut s = snapshot(now);
        s.active = 1;
        assert_eq!(m.signal(b'G', &s), Step::Wait(Some(secs(2))));
        s.max_requests_wait = Some(now + secs(1));
        s.now = now + secs(3);
        assert_eq!(m.check(&s), Step::Wait(Some(secs(8))));
        s.now = now + secs(11);
        assert_eq!(m.check(&s), Step::Stop(ShutdownReason::MaximumRequests));
    }

    #[test]
    fn signals() {
        let now = Instant::now();
        let mut s = snapshot(now);
        let mut m = Monitor::new(&options(), now);
        assert_eq!(m.signal(b'S', &s), Step::Stop(ShutdownReason::Signal));
        assert_eq!(
            m.signal(b'G', &s),
            Step::Stop(ShutdownReason::GracefulSignal)
        );
        s.active = 1;
        // Busy, no timeouts: wait until idle.
        assert_eq!(m.signal(b'G', &s), Step::Wait(None));
        s.active = 0;
        assert_eq!(m.check(&s), Step::Stop(ShutdownReason::GracefulSignal));
        // Eviction timeout wins over graceful timeout.
        let mut m = Monitor::new(
            &DaemonOptions {
                graceful_timeout: Duration::from_secs(9),
                eviction_timeout: Duration::from_secs(2),
                ..options()
            },
            now,
        );
        s.active = 1;
        assert_eq!(m.signal(b'G', &s), Step::Wait(Some(Duration::from_secs(2))));
        // CPU limit without graceful-timeout: at once.
        let mut m = Monitor::new(&options(), now);
        assert_eq!(m.signal(b'C', &s), Step::Stop(ShutdownReason::CpuTimeLimit));
    }

    #[test]
    fn inactivity_needs_a_first_request() {
        let now = Instant::now();
        let mut m = Monitor::new(
            &DaemonOptions {
                inactivity_timeout: Duration::from_secs(5),
                ..options()
            },
            now,
        );
        let mut s = snapshot(now + Duration::from_secs(60));
        s.last_activity = None;
        assert_eq!(m.check(&s), Step::Wait(None));
    }

    #[test]
    fn idle_and_restart_timers() {
        let now = Instant::now();
        let mut m = Monitor::new(
            &DaemonOptions {
                inactivity_timeout: Duration::from_secs(5),
                restart_interval: Duration::from_secs(60),
                ..options()
            },
            now,
        );
        let mut s = snapshot(now);
        assert_eq!(m.check(&s), Step::Wait(Some(Duration::from_secs(5))));
        s.now = now + Duration::from_secs(5);
        s.active = 1;
        assert!(matches!(m.check(&s), Step::Wait(_)));
        s.active = 0;
        assert_eq!(m.check(&s), Step::Stop(ShutdownReason::InactivityTimeout));
        let mut m = Monitor::new(
            &DaemonOptions {
                restart_interval: Duration::from_secs(60),
                ..options()
            },
            now,
        );
        let mut s = snapshot(now + Duration::from_secs(60));
        s.active = 1;
        assert_eq!(m.check(&s), Step::Wait(None));
        s.active = 0;
        assert_eq!(m.check(&s), Step::Stop(ShutdownReason::RestartInterval));
    }
}
