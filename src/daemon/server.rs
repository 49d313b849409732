//! The daemon side: serving proxied requests in a daemon process
//! (mod_wsgi's `wsgi_daemon_main`, `wsgi_daemon_worker` and
//! `wsgi_hook_daemon_handler`).
//!
//! [`serve`] runs on the thread that started Python. It starts `threads`
//! request threads and then watches the host's stop pipe and the
//! recycling timers ([`Monitor`]) until the process must stop.
//!
//! Request threads take turns waiting for work (leader/follower: one
//! thread at a time waits on an epoll set holding the listener and every
//! kept connection, so a request wakes one thread, not all); the listener
//! is put in non-blocking mode so that several processes of a group can
//! share it without an accept mutex. A connection carries one request at a
//! time: preamble (origin token, checked in constant time), `Request`
//! frame, queue-timeout and script-reload checks, then the application
//! through [`crate::wsgi::request::run`] with a [`RemoteIo`]. When the
//! request ended cleanly and the process is not stopping, its `End` says
//! the connection is kept and it returns to the epoll set for the worker's
//! next request; a kept connection that the worker closes is no request
//! (nothing is counted or logged).
//!
//! Stopping: accepting stops, requests in progress get up to
//! shutdown-timeout to finish, threads are joined, and the reason is
//! returned. With `exit_on_shutdown_timeout` (the Apache module's daemons)
//! the [`reaper`] starts at "Shutdown requested" and shutdown-timeout bounds
//! the host's teardown of Python too: past it the reaper ends the process,
//! as mod_wsgi's does. Without it, requests still running at the deadline
//! are reported and the host must exit without finalising Python.

use crate::daemon::diagnostics::{self, Interrupter};
use crate::daemon::monitor::{self, Monitor, PastLimit, ShutdownReason, Snapshot, Step};
use crate::daemon::options::DaemonOptions;
use crate::daemon::protocol::{self, kind, EndOutcome, Frame, Preamble, PREAMBLE_LEN};
use crate::daemon::reaper;
use crate::daemon::remote_io::RemoteIo;
use crate::daemon::socket::{self, Conn, Epoll, Pipe, WireError};
use crate::daemon::spool::{self, Ring};
use crate::diagnostics::registry;
use crate::logging::{self, Level};
use crate::python::tstate;
use crate::runtime::Runtime;
use crate::wsgi::request::{Outcome, RequestSpec};
use crate::wsgi::script;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Read buffer of a daemon connection.
const CONN_BUFFER: usize = 64 * 1024;
/// `SO_SNDBUF` of accepted connections when send-buffer-size is not set
/// (Linux doubles it for bookkeeping; `wmem_max` caps it).
const DEFAULT_SEND_BUFFER: usize = 256 << 10;
/// Epoll tokens of the listener and the wake pipe (kept connections use
/// their descriptor).
const LISTENER_TOKEN: u64 = u64::MAX;
const WAKE_TOKEN: u64 = u64::MAX - 1;

/// How [`serve`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServeOutcome {
    pub reason: ShutdownReason,
    /// Connections accepted (each carries one request).
    pub requests: u64,
    /// Requests still running when shutdown-timeout expired. Non-zero: the
    /// process must exit without finalising Python.
    pub active: usize,
}

enum Startup {
    Idle,
    Armed(Instant),
    Done,
}

/// State shared by the request threads and the monitor loop.
struct Shared {
    runtime: Arc<Runtime>,
    opts: DaemonOptions,
    listener: RawFd,
    /// The listener (one-shot: the thread that takes an event accepts one
    /// connection and re-arms it), the wake pipe and every idle kept
    /// connection (one-shot, keyed by descriptor).
    epoll: Epoll,
    /// Kept connections waiting for their next request, by descriptor,
    /// with their spool rings.
    idle: Mutex<HashMap<RawFd, Kept>>,
    /// One request thread at a time waits on `epoll` (leader/follower).
    /// With every idle thread in `epoll_wait` (woken one per event)
    /// throughput was the same but `file`'s p99 latency went from ~45 ms
    /// to ~110 ms under load; waiting in turn kept it at ~50 ms.
    turn: Mutex<()>,
    /// Written once when accepting stops; never drained.
    wake: Pipe,
    /// Wakes the monitor loop.
    notify: Pipe,
    stopping: AtomicBool,
    /// Stopping on a signal: connections already in the backlog are still
    /// taken (until it is empty or shutdown-timeout passed).
    drain_backlog: AtomicBool,
    /// The monitor wants to hear about every request end.
    draining: AtomicBool,
    active: AtomicUsize,
    served: AtomicU64,
    /// maximum-requests countdown; every request end at or below zero is
    /// judged by [`monitor::past_limit`].
    left: AtomicI64,
    /// A request end past maximum-requests decided to stop the process.
    max_stop: AtomicBool,
    /// µs since `epoch` of the last request end past maximum-requests that
    /// (re)set the graceful deadline (0: none).
    max_wait: AtomicU64,
    reload: AtomicBool,
    fatal: AtomicBool,
    epoch: Instant,
    /// µs since `epoch` (0: no request yet).
    last_activity: AtomicU64,
    heartbeat: AtomicU64,
    /// Start of the request each thread is running.
    slots: Mutex<Vec<Option<Instant>>>,
    startup: Mutex<Startup>,
    /// Script mtimes seen per application group (reload checks).
    mtimes: Mutex<HashMap<String, HashMap<String, i64>>>,
}

/// A kept connection and its spool ring (if it carried a large block).
type Kept = (OwnedFd, Option<Ring>);

/// A connection to serve: socket, spool ring, and whether it was kept
/// from an earlier request.
type Taken = (OwnedFd, Option<Ring>, bool);

fn pid() -> u32 {
    std::process::id()
}

impl Shared {
    fn since_epoch(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    fn at(&self, us: &AtomicU64) -> Instant {
        self.epoch + Duration::from_micros(us.load(Ordering::Acquire))
    }

    fn touch(&self) {
        self.last_activity
            .store(self.since_epoch().max(1), Ordering::Release);
    }

    fn snapshot(&self) -> Snapshot {
        let now = Instant::now();
        let request_time = self
            .slots
            .lock()
            .iter()
            .flatten()
            .map(|start| now.saturating_duration_since(*start))
            .sum();
        let startup_deadline = match *self.startup.lock() {
            Startup::Armed(at) => Some(at),
            _ => None,
        };
        Snapshot {
            now,
            active: self.active.load(Ordering::Acquire),
            request_time,
            last_activity: (self.last_activity.load(Ordering::Acquire) != 0)
                .then(|| self.at(&self.last_activity)),
            heartbeat: self.at(&self.heartbeat),
            max_requests_stop: self.max_stop.load(Ordering::Acquire),
            max_requests_wait: (self.max_wait.load(Ordering::Acquire) != 0)
                .then(|| self.at(&self.max_wait)),
            reload: self.reload.load(Ordering::Acquire),
            fatal: self.fatal.load(Ordering::Acquire),
            startup_deadline,
        }
    }

    fn fail(&self) {
        self.fatal.store(true, Ordering::Release);
        self.stop_accepting();
    }

    /// Stops accepting at once (mod_wsgi's `wsgi_daemon_shutdown++` in a
    /// request thread), so no connection is taken between a decision to
    /// stop and the monitor acting on it.
    /// A script changed, or its `reload_required()` asked: the process
    /// stops taking requests and is replaced (mod_wsgi daemon semantics:
    /// restart, don't reload in place); the request that noticed is
    /// answered `Rejected`, so the worker retries it on the new process.
    fn force_restart(&self, process_name: &str, log_ctx: *mut std::ffi::c_void) {
        logging::log(
            Level::Info,
            log_ctx,
            &format!(
                "mod_wsgi (pid={}): Force restart of process '{process_name}'.",
                pid()
            ),
        );
        self.reload.store(true, Ordering::Release);
        self.stop_accepting();
    }

    fn stop_accepting(&self) {
        self.stopping.store(true, Ordering::Release);
        self.wake.wake();
        self.notify.wake();
    }

    /// send-buffer-size / receive-buffer-size on an accepted connection.
    /// Without send-buffer-size the send buffer is raised to
    /// [`DEFAULT_SEND_BUFFER`] (the kernel caps it at `wmem_max`): a UNIX
    /// stream socket's default (~208 KiB) holds three 64 KiB frames, so a
    /// streaming response made the request thread block in `sendmsg` and
    /// the worker wake it after nearly every read (`big`: 10 context
    /// switches per request, 5 with this). Larger buffers cut switches
    /// further but raised p99 latency (a thread pushes a whole response
    /// ahead while other requests wait). Memory is only used while data is
    /// in flight.
    fn tune(&self, fd: &OwnedFd) {
        let (send, receive) = (self.opts.send_buffer_size, self.opts.receive_buffer_size);
        if send == 0 {
            // Best effort, silently: the OS default is still correct.
            let _ = socket::set_buffer_sizes(fd.as_raw_fd(), DEFAULT_SEND_BUFFER, 0);
        }
        if send == 0 && receive == 0 {
            return;
        }
        if let Err(err) = socket::set_buffer_sizes(fd.as_raw_fd(), send, receive) {
            logging::log_process(
                Level::Warning,
                &format!(
                    "WSGIRT0503: mod_wsgi (pid={}): Failed to set send or receive buffer size on daemon process socket for '{}': {err}.",
                    pid(),
                    self.opts.name
                ),
            );
        }
    }

    /// After a stop signal: takes a connection already waiting in the
    /// listener's backlog, or a kept connection with a request already
    /// sent, without waiting for one. Those requests were sent before the
    /// stop and no other process may ever take them (on a restart the
    /// socket is gone), so they are served rather than lost.
    fn accept_backlog(&self) -> Option<Taken> {
        if !self.drain_backlog.load(Ordering::Acquire) {
            return None;
        }
        if let Ok(fd) = socket::accept(self.listener) {
            self.active.fetch_add(1, Ordering::AcqRel);
            self.tune(&fd);
            return Some((fd, None, false));
        }
        let mut idle = self.idle.lock();
        let mut fds: Vec<libc::pollfd> = idle
            .keys()
            .map(|&fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        if fds.is_empty() || !matches!(socket::poll(&mut fds, Some(Duration::ZERO)), Ok(n) if n > 0)
        {
            return None;
        }
        let ready = fds.iter().find(|p| p.revents != 0)?.fd;
        let (fd, ring) = idle.remove(&ready)?;
        self.active.fetch_add(1, Ordering::AcqRel);
        Some((fd, ring, true))
    }

    /// Takes the next connection with a request to serve (a new one, or a
    /// kept one: the flag); `None` when accepting has stopped.
    fn accept(&self) -> Option<Taken> {
        loop {
            if self.stopping.load(Ordering::Acquire) {
                return self.accept_backlog();
            }
            let _turn = self.turn.lock();
            if self.stopping.load(Ordering::Acquire) {
                continue;
            }
            let (events, token) = match self.epoll.wait_one() {
                Ok(Some(event)) => event,
                Ok(None) => continue,
                Err(err) => {
                    logging::log_process(
                        Level::Crit,
                        &format!(
                            "WSGIRT0504: mod_wsgi (pid={}): Unable to poll daemon socket for '{}': {err}. Shutting down daemon process.",
                            pid(),
                            self.opts.name
                        ),
                    );
                    self.fail();
                    return None;
                }
            };
            match token {
                WAKE_TOKEN => continue,
                LISTENER_TOKEN => {}
                fd => {
                    // A kept connection became readable (its next request,
                    // or EOF). Absent: closed by a stop meanwhile.
                    if let Some((fd, ring)) = self.idle.lock().remove(&(fd as RawFd)) {
                        self.active.fetch_add(1, Ordering::AcqRel);
                        return Some((fd, ring, true));
                    }
                    continue;
                }
            }
            if events & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0
                && events & libc::EPOLLIN as u32 == 0
            {
                logging::log_process(
                    Level::Crit,
                    &format!(
                        "WSGIRT0505: mod_wsgi (pid={}): Daemon socket for '{}' was closed. Shutting down daemon process.",
                        pid(),
                        self.opts.name
                    ),
                );
                self.fail();
                return None;
            }
            let accepted = socket::accept(self.listener);
            // Re-armed at once: another pending connection wakes another
            // thread while this one serves.
            self.arm_listener();
            match accepted {
                Ok(fd) => {
                    self.active.fetch_add(1, Ordering::AcqRel);
                    self.tune(&fd);
                    return Some((fd, None, false));
                }
                Err(err) => match err.raw_os_error() {
                    // Another process took it, or the peer gave up.
                    Some(libc::EAGAIN | libc::EINTR | libc::ECONNABORTED | libc::EPROTO) => {
                        continue
                    }
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                        logging::log_process(
                            Level::Err,
                            &format!(
                                "WSGIRT0506: mod_wsgi (pid={}): Unable to accept connection for daemon process '{}': {err}.",
                                pid(),
                                self.opts.name
                            ),
                        );
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    _ => {
                        logging::log_process(
                            Level::Crit,
                            &format!(
                                "WSGIRT0507: mod_wsgi (pid={}): Unable to accept connection for daemon process '{}': {err}. Shutting down daemon process.",
                                pid(),
                                self.opts.name
                            ),
                        );
                        self.fail();
                        return None;
                    }
                },
            }
        }
    }

    fn arm_listener(&self) {
        let _ = self.epoll.watch(
            self.listener,
            (libc::EPOLLIN | libc::EPOLLONESHOT) as u32,
            LISTENER_TOKEN,
            false,
        );
    }

    /// Keeps a connection whose `End` said so: its next request wakes a
    /// thread. `registered`: it is in the epoll set already (a kept
    /// connection before).
    fn keep(&self, fd: OwnedFd, ring: Option<Ring>, registered: bool) {
        let raw = fd.as_raw_fd();
        self.idle.lock().insert(raw, (fd, ring));
        let armed = self.epoll.watch(
            raw,
            (libc::EPOLLIN | libc::EPOLLONESHOT) as u32,
            raw as u64,
            !registered,
        );
        if armed.is_err() || self.stopping.load(Ordering::Acquire) {
            // Closing it tells the worker (EOF, or ECONNRESET with a
            // request unread: it then resends on a fresh connection).
            if !self.drain_backlog.load(Ordering::Acquire) || armed.is_err() {
                drop(self.idle.lock().remove(&raw));
            }
        }
    }

    /// Closes every kept connection not in use (stopping). A worker that
    /// sent a request on one sees ECONNRESET and resends it elsewhere.
    fn close_idle(&self) {
        let idle = std::mem::take(&mut *self.idle.lock());
        drop(idle);
    }

    /// A kept connection ended without a request (its worker closed it).
    fn idle_closed(&self, thread: usize) {
        self.slots.lock()[thread] = None;
        if self.active.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        // It was the last thing in progress while maximum-requests waits
        // for the process to go idle: no request end will come to stop it.
        // mod_wsgi does not count such a connection as a request at all,
        // so its last request end already saw the process idle.
        if self.max_wait.load(Ordering::Acquire) != 0 {
            self.past_limit(0);
        }
        if self.draining.load(Ordering::Acquire) {
            self.notify.wake();
        }
    }

    /// A request ended with maximum-requests used up and `others`
    /// requests still in progress: stop, or keep serving with the graceful
    /// deadline moved (mod_wsgi's rule, see [`monitor::past_limit`]).
    fn past_limit(&self, others: usize) {
        let stopping = self.stopping.load(Ordering::Acquire);
        match monitor::past_limit(
            &self.opts.name,
            self.opts.graceful_timeout,
            others,
            stopping,
        ) {
            PastLimit::Wait => self
                .max_wait
                .store(self.since_epoch().max(1), Ordering::Release),
            PastLimit::Stop => {
                self.max_stop.store(true, Ordering::Release);
                self.stop_accepting();
            }
        }
        self.notify.wake();
    }

    fn begin(&self, thread: usize) {
        self.slots.lock()[thread] = Some(Instant::now());
    }

    fn end(&self, thread: usize, activity: bool) {
        self.slots.lock()[thread] = None;
        if activity {
            self.touch();
        }
        self.served.fetch_add(1, Ordering::AcqRel);
        // As mod_wsgi, this request is no longer "in progress" when the
        // maximum-requests rule looks at the others.
        let others = self.active.fetch_sub(1, Ordering::AcqRel) - 1;
        if self.opts.maximum_requests > 0 && self.left.fetch_sub(1, Ordering::AcqRel) <= 1 {
            self.past_limit(others);
        } else if self.draining.load(Ordering::Acquire) {
            self.notify.wake();
        }
    }

    /// Whether a script must be reloaded: its mtime differs from the one
    /// this process loaded (mod_wsgi daemon semantics: restart, don't
    /// reload in place).
    fn script_changed(&self, group: &str, path: &str, mtime: i64) -> bool {
        if let Some(&known) = self.mtimes.lock().get(group).and_then(|m| m.get(path)) {
            return known != mtime;
        }
        // First request for this script here: a copy loaded ahead of
        // requests (WSGIImportScript) may be older than the file.
        let Ok(interp) = self.runtime.group(group) else {
            return false;
        };
        let attached = tstate::attach(&interp);
        // SAFETY: the GIL is held with `interp` attached.
        let cached = unsafe { interp.cache().scripts.get(path).map(|s| s.mtime) };
        drop(attached);
        cached.is_some_and(|m| m != mtime)
    }

    fn record_mtime(&self, group: &str, path: &str, mtime: i64) {
        let mut mtimes = self.mtimes.lock();
        let scripts = match mtimes.get_mut(group) {
            Some(scripts) => scripts,
            None => mtimes.entry(group.to_owned()).or_default(),
        };
        match scripts.get_mut(path) {
            Some(known) => *known = mtime,
            None => {
                scripts.insert(path.to_owned(), mtime);
            }
        }
    }

    fn startup_begin(&self) {
        if self.opts.startup_timeout.is_zero() {
            return;
        }
        let mut startup = self.startup.lock();
        if let Startup::Idle = *startup {
            *startup = Startup::Armed(Instant::now() + self.opts.startup_timeout);
            drop(startup);
            logging::log_process(
                Level::Info,
                &format!(
                    "mod_wsgi (pid={}): Application startup timer triggered '{}'.",
                    pid(),
                    self.opts.name
                ),
            );
            self.notify.wake();
        }
    }

    fn startup_loaded(&self) {
        let mut startup = self.startup.lock();
        if let Startup::Armed(_) = *startup {
            *startup = Startup::Done;
            drop(startup);
            logging::log_process(
                Level::Info,
                &format!(
                    "mod_wsgi (pid={}): Application startup timer cancelled '{}'.",
                    pid(),
                    self.opts.name
                ),
            );
        } else if let Startup::Idle = *startup {
            *startup = Startup::Done;
        }
    }
}

/// Serves proxied requests until the process must stop; see the module
/// documentation. `listener` is a listening UNIX socket (made
/// non-blocking here); `stop` is the read end of the host's signal pipe.
pub fn serve(
    runtime: Arc<Runtime>,
    listener: RawFd,
    stop: RawFd,
    opts: DaemonOptions,
) -> ServeOutcome {
    let error = |what: &str, err: std::io::Error| {
        logging::log_process(
            Level::Alert,
            &format!(
                "WSGIRT0508: mod_wsgi (pid={}): {what} in daemon process '{}': {err}.",
                pid(),
                opts.name
            ),
        );
        // The host tears Python down next: bound it as after any shutdown.
        if opts.exit_on_shutdown_timeout {
            reaper::start(&opts.name, opts.shutdown_timeout);
        }
        ServeOutcome {
            reason: ShutdownReason::Error,
            requests: 0,
            active: 0,
        }
    };
    if let Err(err) = socket::set_nonblocking(listener, true) {
        return error("Couldn't set up the listener socket", err);
    }
    let (wake, notify) = match (Pipe::new(), Pipe::new()) {
        (Ok(wake), Ok(notify)) => (wake, notify),
        (Err(err), _) | (_, Err(err)) => return error("Couldn't create a pipe", err),
    };
    let epoll = match Epoll::new() {
        Ok(epoll) => epoll,
        Err(err) => return error("Couldn't create an epoll instance", err),
    };
    let watched = epoll
        .watch(
            listener,
            (libc::EPOLLIN | libc::EPOLLONESHOT) as u32,
            LISTENER_TOKEN,
            true,
        )
        .and_then(|()| {
            epoll.watch(
                wake.read.as_raw_fd(),
                libc::EPOLLIN as u32,
                WAKE_TOKEN,
                true,
            )
        });
    if let Err(err) = watched {
        return error("Couldn't set up the listener socket", err);
    }
    let threads = opts.threads.max(1) as usize;
    spool::set_limit(threads * spool::RINGS_PER_THREAD);
    let epoch = Instant::now();
    let shared = Arc::new(Shared {
        runtime,
        listener,
        epoll,
        idle: Mutex::new(HashMap::new()),
        turn: Mutex::new(()),
        wake,
        notify,
        stopping: AtomicBool::new(false),
        drain_backlog: AtomicBool::new(false),
        draining: AtomicBool::new(false),
        active: AtomicUsize::new(0),
        served: AtomicU64::new(0),
        left: AtomicI64::new(opts.maximum_requests.min(i64::MAX as u64) as i64),
        max_stop: AtomicBool::new(false),
        max_wait: AtomicU64::new(0),
        reload: AtomicBool::new(false),
        fatal: AtomicBool::new(false),
        epoch,
        last_activity: AtomicU64::new(0),
        heartbeat: AtomicU64::new(0),
        slots: Mutex::new(vec![None; threads]),
        startup: Mutex::new(Startup::Idle),
        mtimes: Mutex::new(HashMap::new()),
        opts,
    });
    let name = shared.opts.name.clone();
    logging::log_process(
        Level::Debug,
        &format!(
            "mod_wsgi (pid={}): Starting {threads} threads in daemon process '{name}'.",
            pid()
        ),
    );
    let mut handles: Vec<JoinHandle<()>> = Vec::with_capacity(threads);
    for id in 0..threads {
        let mut builder = std::thread::Builder::new().name(format!("wsgirt-daemon-{}", id + 1));
        if shared.opts.stack_size > 0 {
            builder = builder.stack_size(shared.opts.stack_size);
        }
        let thread_shared = shared.clone();
        match builder.spawn(move || request_thread(thread_shared, id)) {
            Ok(handle) => handles.push(handle),
            Err(err) => {
                logging::log_process(
                    Level::Alert,
                    &format!(
                        "WSGIRT0509: mod_wsgi (pid={}): Couldn't create worker thread {id} in daemon process '{name}': {err}.",
                        pid()
                    ),
                );
                shared.fail();
                break;
            }
        }
    }
    let heartbeat = start_heartbeat(&shared);

    let mut monitor = Monitor::new(&shared.opts, Instant::now());
    let interrupter = Interrupter::new(shared.opts.interrupt_timeout, &name);
    let reason = loop {
        if interrupter
            .as_ref()
            .is_some_and(|i| i.check(&shared.runtime))
        {
            break ShutdownReason::RequestTimeout;
        }
        let step = monitor.check(&shared.snapshot());
        shared.draining.store(monitor.draining(), Ordering::Release);
        let wait = match step {
            Step::Stop(reason) => break reason,
            Step::Wait(wait) => wait,
        };
        let wait = match &interrupter {
            Some(i) => Some(wait.map_or(i.interval(), |w| w.min(i.interval()))),
            None => wait,
        };
        let mut fds = [
            libc::pollfd {
                fd: stop,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: shared.notify.read.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        if let Err(err) = socket::poll(&mut fds, wait) {
            logging::log_process(
                Level::Alert,
                &format!(
                    "WSGIRT0510: mod_wsgi (pid={}): Failed poll on signal pipe '{name}': {err}.",
                    pid()
                ),
            );
            break ShutdownReason::Error;
        }
        if fds[1].revents != 0 {
            shared.notify.drain();
        }
        if fds[0].revents != 0 {
            let mut byte = [0u8; 1];
            // SAFETY: a one-byte read into a local buffer.
            let n = unsafe { libc::read(stop, byte.as_mut_ptr().cast(), 1) };
            if n == 1 {
                match monitor.signal(byte[0], &shared.snapshot()) {
                    Step::Stop(reason) => break reason,
                    Step::Wait(_) => continue,
                }
            }
            let err = std::io::Error::last_os_error();
            if n == 0 || !matches!(err.raw_os_error(), Some(libc::EAGAIN | libc::EINTR)) {
                logging::log_process(
                    Level::Alert,
                    &format!(
                        "WSGIRT0511: mod_wsgi (pid={}): Failed read on signal pipe '{name}'.",
                        pid()
                    ),
                );
                break ShutdownReason::Signal;
            }
        }
    };

    logging::log_process(
        Level::Info,
        &format!("mod_wsgi (pid={}): Shutdown requested '{name}'.", pid()),
    );
    // From here shutdown-timeout bounds the whole shutdown (mod_wsgi starts
    // its reaper at this line): the announcement, the drain below and the
    // host's teardown of Python after `serve` returns.
    let reaper =
        shared.opts.exit_on_shutdown_timeout && reaper::start(&name, shared.opts.shutdown_timeout);
    // A stop signal (Apache's restart or stop) ends this listener for good
    // when the socket was rotated away: serve what is already queued.
    if reason == ShutdownReason::Signal {
        shared.drain_backlog.store(true, Ordering::Release);
    }
    shared.stopping.store(true, Ordering::Release);
    shared.draining.store(true, Ordering::Release);
    shared.wake.wake();
    if !shared.drain_backlog.load(Ordering::Acquire) {
        // Requests sent on kept connections now are resent elsewhere by
        // their workers (ECONNRESET), as queued connections wait for the
        // next process.
        shared.close_idle();
    }
    // Delivered even while requests are still running (mod_wsgi 4.6.0).
    let announce_limit = shared.opts.shutdown_timeout.max(Duration::from_secs(5));
    diagnostics::announce_stopping(&shared.runtime, reason, announce_limit);
    // With the reaper running it ends the process at the deadline; the wait
    // needs no deadline of its own (a second one would log a second
    // "Aborting process").
    let deadline = (!reaper && !shared.opts.shutdown_timeout.is_zero())
        .then(|| Instant::now() + shared.opts.shutdown_timeout);
    loop {
        // Request threads exit once accepting stopped and the backlog (when
        // draining it) is empty.
        if shared.active.load(Ordering::Acquire) == 0 && handles.iter().all(JoinHandle::is_finished)
        {
            break;
        }
        let wait = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if wait == Some(Duration::ZERO) {
            shared.drain_backlog.store(false, Ordering::Release);
            logging::log_process(
                Level::Info,
                &format!("mod_wsgi (pid={}): Aborting process '{name}'.", pid()),
            );
            break;
        }
        let mut fds = [libc::pollfd {
            fd: shared.notify.read.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // Re-check at least every 100 ms (a request end always notifies,
        // but be robust against a lost wake-up).
        let wait = wait.map_or(Duration::from_millis(100), |w| {
            w.min(Duration::from_millis(100))
        });
        let _ = socket::poll(&mut fds, Some(wait));
        shared.notify.drain();
    }
    shared.close_idle();
    let active = shared.active.load(Ordering::Acquire);
    for handle in handles {
        // Idle threads exit at once; threads stuck in a request are left.
        if active == 0 || handle.is_finished() {
            let _ = handle.join();
        }
    }
    if let Some((handle, thread)) = heartbeat {
        thread.unpark();
        // The probe may be waiting for a GIL that a stuck request (or the
        // deadlock) holds: join it only when it cannot be stuck.
        if handle.is_finished() || (active == 0 && reason != ShutdownReason::DeadlockTimeout) {
            let _ = handle.join();
        }
    }
    ServeOutcome {
        reason,
        requests: shared.served.load(Ordering::Acquire),
        active,
    }
}

/// The deadlock-timeout probe: acquires the GIL every period.
fn start_heartbeat(shared: &Arc<Shared>) -> Option<(JoinHandle<()>, std::thread::Thread)> {
    let timeout = shared.opts.deadlock_timeout;
    if timeout.is_zero() {
        return None;
    }
    let period = (timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let shared = shared.clone();
    let handle = std::thread::Builder::new()
        .name("wsgirt-deadlock".into())
        .spawn(move || loop {
            std::thread::park_timeout(period);
            if shared.stopping.load(Ordering::Acquire) {
                break;
            }
            let Ok(main) = shared.runtime.group("") else {
                break;
            };
            drop(tstate::attach(&main));
            shared
                .heartbeat
                .store(shared.since_epoch(), Ordering::Release);
        })
        .ok()?;
    let thread = handle.thread().clone();
    Some((handle, thread))
}

fn request_thread(shared: Arc<Shared>, id: usize) {
    let mut buf = Vec::new();
    let mut scratch = Vec::new();
    while let Some((fd, mut ring, reused)) = shared.accept() {
        shared.begin(id);
        let mut conn = Conn::new(fd, std::mem::take(&mut buf), CONN_BUFFER);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handle(&shared, &mut conn, &mut scratch, reused, &mut ring)
        }));
        // A panic was logged by the hook; the connection is dropped.
        let served = result.unwrap_or(Served {
            request: true,
            activity: true,
            keep: false,
        });
        let keep = served.keep && conn.is_idle();
        let (fd, kept_buf) = conn.into_parts();
        buf = kept_buf;
        if scratch.capacity() > 1 << 20 {
            scratch = Vec::new();
        }
        if served.request {
            shared.end(id, served.activity);
        } else {
            shared.idle_closed(id);
        }
        if keep {
            shared.keep(fd, ring, reused);
        }
    }
    shared.notify.wake();
}

/// What [`handle`] did with a connection.
struct Served {
    /// A request arrived (it counts for maximum-requests), even a refused
    /// one; false when a kept connection was closed by its worker.
    request: bool,
    /// It counts as activity for inactivity-timeout
    /// (`mod_wsgi.ignore_activity` requests do not).
    activity: bool,
    /// `End` went out with the keep flag: wait for the next request.
    keep: bool,
}

impl Served {
    fn idle() -> Served {
        Served {
            request: false,
            activity: false,
            keep: false,
        }
    }

    fn closed() -> Served {
        Served {
            request: true,
            activity: true,
            keep: false,
        }
    }
}

fn send_end(conn: &Conn, outcome: EndOutcome) {
    let end = Frame::End {
        outcome,
        incomplete: false,
        status: 0,
        bytes_written: 0,
    }
    .encode();
    let _ = conn.send(&[&end]);
}

fn read_failed(detail: &str) {
    logging::log_process(
        Level::Crit,
        &format!(
            "WSGIRT0512: mod_wsgi (pid={}): Unable to read WSGI request: {detail}.",
            pid()
        ),
    );
}

/// Serves one connection. Returns whether it counts as activity for
/// inactivity-timeout (`mod_wsgi.ignore_activity` requests do not).
/// `ring`: the connection's spool ring, kept with it.
fn handle(
    shared: &Shared,
    conn: &mut Conn,
    scratch: &mut Vec<u8>,
    reused: bool,
    ring: &mut Option<Ring>,
) -> Served {
    let opts = &shared.opts;
    if reused {
        // Between requests the worker may only close the connection, after
        // a `Gone` that crossed our `End`: no request, nothing to log.
        let gone = protocol::encode_header(kind::GONE, 0, 0);
        match conn.peek(protocol::HEADER_LEN) {
            Ok(bytes) if bytes == gone => return Served::idle(),
            Ok(_) => {}
            Err(WireError::Closed) => return Served::idle(),
            Err(err) => {
                read_failed(&err.to_string());
                return Served::closed();
            }
        }
    } else if !opts.socket_timeout.is_zero() {
        let _ = conn.set_timeout(opts.socket_timeout);
    }
    let mut preamble = [0u8; PREAMBLE_LEN];
    if let Err(err) = conn.read_exact(&mut preamble) {
        read_failed(&err.to_string());
        return Served::closed();
    }
    if let Err(err) = Preamble::check(&preamble, &opts.token) {
        logging::log_process(
            Level::Alert,
            &format!(
                "WSGIRT0513: mod_wsgi (pid={}): Request origin could not be validated ({err}).",
                pid()
            ),
        );
        return Served::closed();
    }
    let header = match conn.read_header() {
        Ok(header) if header.kind == kind::REQUEST => header,
        Ok(header) => {
            read_failed(&format!(
                "expected a Request frame, got kind {}",
                header.kind
            ));
            return Served::closed();
        }
        Err(err) => {
            read_failed(&err.to_string());
            return Served::closed();
        }
    };
    // The request is copied out of the connection's buffer, which the
    // request's own I/O reuses.
    scratch.clear();
    scratch.resize(header.len, 0);
    if let Err(err) = conn.read_exact(scratch) {
        read_failed(&err.to_string());
        return Served::closed();
    }
    let (head, environ) = match protocol::decode_request(scratch) {
        Ok(request) => request,
        Err(err) => {
            read_failed(&format!("protocol error: {err}"));
            return Served::closed();
        }
    };
    let daemon_start = registry::now_us();
    // Lines about this request carry the host's context for it (Apache:
    // the client's address and the virtual host's ErrorLog).
    let request_log = logging::RequestLog::begin(&environ);
    let queue_timeout = opts.queue_timeout.as_micros() as i64;
    if queue_timeout > 0 && head.queue_start > 0 && daemon_start - head.queue_start > queue_timeout
    {
        logging::log(
            Level::Err,
            request_log.ctx(),
            &format!(
                "WSGIRT0404: mod_wsgi (pid={}): Queue timeout expired for WSGI daemon process '{}'.",
                pid(),
                opts.name
            ),
        );
        send_end(conn, EndOutcome::QueueTimeout);
        return Served::closed();
    }
    let (Ok(group), Ok(script_path), Ok(callable)) = (
        std::str::from_utf8(head.application_group),
        std::str::from_utf8(head.script_path),
        std::str::from_utf8(head.callable),
    ) else {
        read_failed("group, script path or callable is not UTF-8");
        return Served::closed();
    };
    let callable = if callable.is_empty() {
        "application"
    } else {
        callable
    };
    let ignore_activity = !opts.inactivity_timeout.is_zero()
        && environ
            .iter()
            .any(|(k, v)| *k == b"mod_wsgi.ignore_activity" && *v == b"1");
    let mtime = if head.script_mtime != 0 {
        head.script_mtime
    } else if head.reload_script {
        script::mtime_of(script_path)
    } else {
        0
    };
    if head.reload_script && shared.script_changed(group, script_path, mtime) {
        shared.force_restart(&opts.name, request_log.ctx());
        send_end(conn, EndOutcome::Rejected);
        return Served::closed();
    }
    shared.startup_begin();

    let daemon_start_text = daemon_start.to_string();
    let mut pairs: Vec<(&[u8], &[u8])> = Vec::with_capacity(environ.len() + 2);
    // `wsgirt.*` names are the host's channel to its request log hooks.
    pairs.extend(environ.iter().copied().filter(|(k, _)| {
        !matches!(
            *k,
            b"mod_wsgi.daemon_start" | b"mod_wsgi.script_start" | b"mod_wsgi.magic"
        ) && !k.starts_with(b"wsgirt.")
    }));
    pairs.push((b"mod_wsgi.daemon_start", daemon_start_text.as_bytes()));
    // Its value is stamped when the environ is built (wsgi::environ).
    pairs.push((b"mod_wsgi.script_start", b""));
    let spec = RequestSpec {
        script_path,
        callable,
        reload_script: head.reload_script,
        script_mtime: (mtime != 0).then_some(mtime),
        reload_hook: crate::wsgi::script::ReloadHook::RestartProcess,
        environ: &pairs,
        log_ctx: request_log.ctx(),
    };
    let touch = || {
        if !ignore_activity {
            shared.touch();
        }
    };
    let io = RemoteIo::new(conn, &touch, ring);
    let (outcome, incomplete, status, bytes, loaded) = match shared
        .runtime
        .run_request(group, &spec, &io)
    {
        Ok(done) => (
            match done.outcome {
                Outcome::Responded => EndOutcome::Responded,
                Outcome::LoadFailed => EndOutcome::LoadFailed,
                Outcome::CallableMissing => EndOutcome::CallableMissing,
                Outcome::AppError => EndOutcome::AppError,
                Outcome::ClientGone => EndOutcome::ClientGone,
                Outcome::Interrupted => EndOutcome::RequestTimeout,
                // The script's reload_required() said yes before anything
                // was read or sent: the worker retries on the new process.
                Outcome::RestartRequired => {
                    shared.force_restart(&opts.name, request_log.ctx());
                    EndOutcome::Rejected
                }
            },
            done.failed_after_start,
            done.http_status,
            done.bytes_written,
            done.outcome != Outcome::LoadFailed,
        ),
        Err(err) => {
            logging::log_process(
                Level::Crit,
                &format!(
                    "WSGIRT0514: mod_wsgi (pid={}): Cannot run request for '{script_path}' in application group '{group}' of daemon process '{}': {err:?}.",
                    pid(),
                    opts.name
                ),
            );
            (EndOutcome::AppError, false, 0, 0, false)
        }
    };
    let keep = io.finish(
        outcome,
        incomplete,
        status,
        bytes,
        !shared.stopping.load(Ordering::Acquire),
    );
    if loaded {
        shared.startup_loaded();
    }
    if head.reload_script && loaded {
        shared.record_mtime(group, script_path, mtime);
    }
    Served {
        request: true,
        activity: !ignore_activity,
        keep,
    }
}
