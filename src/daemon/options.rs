//! `WSGIDaemonProcess` settings that the Rust side of daemon mode applies,
//! with mod_wsgi's defaults (4.6–4.9, `mod_wsgi.c` option parser).
//!
//! The host parses the directive. Options that are purely the host's
//! business (`processes=` forking, `user=`/`group=`, `umask=`, `home=`,
//! `listen-backlog=`, `socket-user=`, rlimits such as `cpu-time-limit=`
//! and `memory-limit=`, `display-name=`) never reach this crate, except
//! where the worker needs them (`processes` caps the reconnects after a
//! restart).

use crate::daemon::protocol::TOKEN_LEN;
use std::time::Duration;

/// mod_wsgi's default `threads=`.
pub const DEFAULT_THREADS: u32 = 15;
/// mod_wsgi's default `deadlock-timeout=` (300 s).
pub const DEFAULT_DEADLOCK_TIMEOUT: Duration = Duration::from_secs(300);
/// mod_wsgi's default `graceful-timeout=` (15 s): how long a process that
/// reached maximum-requests, its restart-interval or its CPU time limit
/// with requests in progress waits for them.
pub const DEFAULT_GRACEFUL_TIMEOUT: Duration = Duration::from_secs(15);
/// mod_wsgi's default `shutdown-timeout=` (5 s).
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// mod_wsgi's default `connect-timeout=` (15 s).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// mod_wsgi's default `header-buffer-size=` (the longest response header
/// line the worker accepts).
pub const DEFAULT_HEADER_BUFFER_SIZE: usize = 32768;
/// mod_wsgi's default (and minimum) `response-buffer-size=`.
pub const DEFAULT_RESPONSE_BUFFER_SIZE: usize = 65536;

/// How a daemon process serves (the daemon side of `WSGIDaemonProcess`).
/// A zero duration means "not set" (the timer is off), as in mod_wsgi.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    /// The process group's name, for log lines.
    pub name: String,
    /// The origin token every connection's preamble must carry.
    pub token: [u8; TOKEN_LEN],
    /// Request threads (`threads=`, at least 1 here: `threads=0` is the
    /// host's managed-process mode and never calls the daemon loop).
    pub threads: u32,
    /// Stack size of the request threads in bytes (`stack-size=`; 0: the
    /// platform default).
    pub stack_size: usize,
    /// Recycle after this many requests (`maximum-requests=`, 0: never).
    pub maximum_requests: u64,
    pub restart_interval: Duration,
    pub inactivity_timeout: Duration,
    pub request_timeout: Duration,
    pub startup_timeout: Duration,
    pub deadlock_timeout: Duration,
    pub graceful_timeout: Duration,
    pub eviction_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub queue_timeout: Duration,
    /// Per read/write on a proxy connection (`socket-timeout=`; the host
    /// passes Apache's `Timeout` when it is not set; zero: no limit).
    pub socket_timeout: Duration,
    /// `interrupt-timeout=`: raise `mod_wsgi.RequestTimeout` into a request
    /// running longer; restart if it is still running after as long again.
    pub interrupt_timeout: Duration,
    /// `SO_SNDBUF` of every accepted connection (`send-buffer-size=`; 0:
    /// the OS default). Set per connection because Linux does not pass a
    /// listening UNIX socket's buffer sizes on to the connections it
    /// accepts (mod_wsgi sets them on the listener only, which is a no-op
    /// for the data path there).
    pub send_buffer_size: usize,
    /// `SO_RCVBUF` of every accepted connection (`receive-buffer-size=`).
    pub receive_buffer_size: usize,
    /// Start the [`reaper`](crate::daemon::reaper) when the shutdown
    /// starts: shutdown-timeout then bounds the whole shutdown, Python's
    /// teardown included, and ends the process itself (`_exit(-1)`) when
    /// it passes, as mod_wsgi does. Off (the default), the wait for
    /// requests in progress is bounded instead and `serve` returns with
    /// the requests still running counted, for a host (or a test) that
    /// must not be ended from inside.
    pub exit_on_shutdown_timeout: bool,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            name: String::new(),
            token: [0; TOKEN_LEN],
            threads: DEFAULT_THREADS,
            stack_size: 0,
            maximum_requests: 0,
            restart_interval: Duration::ZERO,
            inactivity_timeout: Duration::ZERO,
            request_timeout: Duration::ZERO,
            startup_timeout: Duration::ZERO,
            deadlock_timeout: DEFAULT_DEADLOCK_TIMEOUT,
            graceful_timeout: DEFAULT_GRACEFUL_TIMEOUT,
            eviction_timeout: Duration::ZERO,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            queue_timeout: Duration::ZERO,
            socket_timeout: Duration::ZERO,
            interrupt_timeout: Duration::ZERO,
            send_buffer_size: 0,
            receive_buffer_size: 0,
            exit_on_shutdown_timeout: false,
        }
    }
}

/// Where and how a worker reaches a daemon process group. Borrows the
/// name and path (the C API builds one per proxied request from the host's
/// strings, without copying them).
#[derive(Clone)]
pub struct Target<'a> {
    /// The process group's name, for log lines.
    pub name: &'a str,
    /// Path of the group's listening UNIX socket.
    pub socket_path: &'a [u8],
    pub token: [u8; TOKEN_LEN],
    /// `processes=`: a worker told that a process is restarting reconnects
    /// at most `2 × processes + 1` times.
    pub processes: u32,
    pub connect_timeout: Duration,
    /// Per read/write on the proxy connection (zero: no limit).
    pub socket_timeout: Duration,
    /// The longest status or header line accepted from the daemon.
    pub header_buffer_size: usize,
    /// Response bytes handed to the host per write, at most.
    pub response_buffer_size: usize,
    /// `queue-timeout=` (zero: off). The worker answers 504 itself when
    /// no daemon thread has picked the request up by `queue_start +
    /// queue_timeout`, so a request does not wait for a busy daemon to
    /// free a thread before it learns it timed out.
    pub queue_timeout: Duration,
    /// The host's current socket path for new connections, when it can
    /// move (`wsgirt_daemon_target::socket_path_cb`); `None`, or a `None`
    /// answer: `socket_path`.
    pub current_path: Option<&'a dyn Fn() -> Option<Vec<u8>>>,
}

impl std::fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .field("socket_path", &String::from_utf8_lossy(self.socket_path))
            .field("processes", &self.processes)
            .field("connect_timeout", &self.connect_timeout)
            .field("socket_timeout", &self.socket_timeout)
            .field("queue_timeout", &self.queue_timeout)
            .field("current_path", &self.current_path.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Target<'_> {
    fn default() -> Self {
        Target {
            name: "",
            socket_path: b"",
            token: [0; TOKEN_LEN],
            processes: 1,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            socket_timeout: Duration::ZERO,
            header_buffer_size: DEFAULT_HEADER_BUFFER_SIZE,
            response_buffer_size: DEFAULT_RESPONSE_BUFFER_SIZE,
            queue_timeout: Duration::ZERO,
            current_path: None,
        }
    }
}

impl Target<'_> {
    /// How many times a worker reconnects after `Rejected` (a restart).
    pub fn max_restarts(&self) -> u32 {
        self.processes.max(1).saturating_mul(2).saturating_add(1)
    }
}
