//! Daemon mode (`WSGIDaemonProcess`): the worker-side proxy
//! (`wsgirt_daemon_proxy`, no Python needed in the calling process) and the
//! daemon-side serving loop (`wsgirt_daemon_serve`). See docs/daemon.md.

use crate::capi::boundary::{bytes, pairs, status_boundary, text};
use crate::capi::config::wsgirt_log_cb;
use crate::capi::host::CHost;
use crate::capi::request::{
    wsgirt_host_io, wsgirt_request_result, wsgirt_request_spec, wsgirt_str,
};
use crate::capi::runtime::{status_of, with_runtime, wsgirt_runtime};
use crate::capi::status::wsgirt_status::{self, *};
use crate::daemon::client::{self, ProxyError, RequestLog};
use crate::daemon::monitor::ShutdownReason;
use crate::daemon::options::{self, DaemonOptions, Target};
use crate::daemon::protocol::RequestHead;
use crate::daemon::server;
use crate::logging;
use std::ffi::{c_char, c_int, c_void};
use std::time::Duration;

/// Starts the shutdown bound of a daemon process the host owns (mod_wsgi's
/// reaper thread): `timeout_us` from now, unless the process has exited by
/// then, a helper thread logs `mod_wsgi (pid=N): Aborting process 'name'.`
/// and `mod_wsgi (pid=N): Exiting process 'name'.` (info) and ends the
/// process with `_exit(-1)` (exit status 255), running nothing else: no
/// `atexit` handler, no stdio flush, no Python finalisation. 0 starts
/// nothing. `wsgirt_daemon_serve` starts it itself with
/// `exit_on_shutdown_timeout`; a host calls this where a shutdown starts
/// outside `serve` (the Apache module: a managed task, `threads=0`, before
/// it frees the runtime).
///
/// One per process: only the first call starts a thread, later calls return
/// `OK` and change nothing. The name is copied. Threading: any thread; the
/// log callback is called from the helper thread. The process must exit on
/// its own once it is done (the reaper cannot be cancelled), and nothing
/// else may have to run in it after the timeout.
///
/// Returns `OK`; `NULL_ARG`/`INVALID_ARG` for a bad name; `UNSUPPORTED`
/// when the thread could not be created (logged, `WSGIRT0549`).
///
/// # Safety
/// `name` must describe readable memory (or be NULL with length 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_daemon_reaper_start(
    name: wsgirt_str,
    timeout_us: u64,
) -> wsgirt_status {
    status_boundary(|| {
        if name.ptr.is_null() && name.len != 0 {
            return WSGIRT_STATUS_NULL_ARG;
        }
        // SAFETY: `(ptr, len)` is readable per the contract.
        let Some(name) = (unsafe { text(name.ptr, name.len) }) else {
            return WSGIRT_STATUS_INVALID_ARG;
        };
        if timeout_us == 0 || crate::daemon::reaper::start(name, micros(timeout_us)) {
            WSGIRT_STATUS_OK
        } else {
            WSGIRT_STATUS_UNSUPPORTED
        }
    })
}

/// Length of the origin token shared by a group's workers and daemons.
pub const WSGIRT_DAEMON_TOKEN_LEN: usize = 32;

const _: () = assert!(WSGIRT_DAEMON_TOKEN_LEN == crate::daemon::protocol::TOKEN_LEN);

/// Managed-task mode (`threads=0`): prepares a daemon process whose
/// import scripts are long-running tasks instead of serving requests.
/// SIGTERM and SIGINT then raise `SystemExit` in the main thread (a
/// handler the task installs with `signal.signal()` replaces that), and a
/// script ending with `SystemExit` is not logged as an error. Build the
/// runtime with `WSGIRT_FLAG_RESTRICT_SIGNAL` off; call this, then
/// `wsgirt_runtime_import_script` for each task (each returns when its
/// task ends), then free the runtime and exit so the process is replaced.
/// Do not install C handlers for SIGTERM/SIGINT after this call.
///
/// Threading: on the thread that created the runtime (the process's main
/// thread), before the scripts are imported.
///
/// # Safety
/// `runtime` must be NULL or a live runtime.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_daemon_task_prepare(
    runtime: *const wsgirt_runtime,
) -> wsgirt_status {
    with_runtime(runtime, crate::daemon::task::prepare)
}

/// Why `wsgirt_daemon_serve` returned (`wsgirt_daemon_result.reason`).
/// Values are never renumbered. `wsgirt_shutdown_reason_str` gives
/// mod_wsgi's `shutdown_reason` string for each.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wsgirt_shutdown_reason {
    /// `S` on the stop pipe (SIGTERM/SIGINT), or the pipe was closed.
    WSGIRT_SHUTDOWN_SIGNAL = 0,
    /// `maximum-requests` reached.
    WSGIRT_SHUTDOWN_MAXIMUM_REQUESTS = 1,
    /// `restart-interval` expired.
    WSGIRT_SHUTDOWN_RESTART_INTERVAL = 2,
    /// `inactivity-timeout` expired.
    WSGIRT_SHUTDOWN_INACTIVITY_TIMEOUT = 3,
    /// `request-timeout` exceeded.
    WSGIRT_SHUTDOWN_REQUEST_TIMEOUT = 4,
    /// `G` on the stop pipe (SIGUSR1, eviction).
    WSGIRT_SHUTDOWN_GRACEFUL_SIGNAL = 5,
    /// `C` on the stop pipe (SIGXCPU, `cpu-time-limit`).
    WSGIRT_SHUTDOWN_CPU_TIME_LIMIT = 6,
    /// A script changed with reloading on: restart the process to reload it.
    WSGIRT_SHUTDOWN_RELOAD = 7,
    /// `deadlock-timeout`: the GIL could not be acquired for that long.
    WSGIRT_SHUTDOWN_DEADLOCK_TIMEOUT = 8,
    /// `startup-timeout`: the script did not load in time.
    WSGIRT_SHUTDOWN_STARTUP_TIMEOUT = 9,
    /// The listening socket failed (logged).
    WSGIRT_SHUTDOWN_ERROR = 10,
}

/// Where a worker sends a daemon group's requests. Initialise with
/// `wsgirt_daemon_target_init` (mod_wsgi's defaults), then set `name`,
/// `socket_path` and `token`. Durations are in microseconds.
#[repr(C)]
pub struct wsgirt_daemon_target {
    /// `sizeof(wsgirt_daemon_target)`.
    pub struct_size: usize,
    /// The process group's name (UTF-8), for log lines.
    pub name: wsgirt_str,
    /// Path of the group's listening UNIX socket.
    pub socket_path: wsgirt_str,
    /// The group's origin token (`wsgirt_daemon_token_new`).
    pub token: [u8; WSGIRT_DAEMON_TOKEN_LEN],
    /// `processes=` (default 1): a restarting daemon is retried at most
    /// `2 × processes + 1` times before answering 503.
    pub processes: u32,
    /// `connect-timeout=` (default 15 s).
    pub connect_timeout_us: u64,
    /// `socket-timeout=` per read/write on the proxy connection; pass
    /// Apache's `Timeout` when unset; 0: no limit.
    pub socket_timeout_us: u64,
    /// `header-buffer-size=` (default 32768; 0 also means the default):
    /// the longest status or header line accepted from the daemon.
    pub header_buffer_size: u32,
    /// `response-buffer-size=` (default 65536; 0 also means the default):
    /// the most response bytes handed to the host's write callback at once.
    pub response_buffer_size: u32,
    /// `queue-timeout=` (0: off): a request no daemon thread has taken by
    /// `queue_start_us + queue_timeout_us` is answered
    /// `WSGIRT_STATUS_DAEMON_TIMEOUT` by the worker, even while every
    /// daemon thread is busy.
    pub queue_timeout_us: u64,
    /// Optional (NULL: always `socket_path`): names the socket to connect
    /// to now. Called on the proxying thread before each new connection
    /// attempt (never for a kept connection), so a host can follow its
    /// daemons when they move: Apache's workers of an old generation reach
    /// the new generation's daemons after a graceful restart. Return true
    /// with `*out` set to a path readable until the callback returns (the
    /// runtime copies it), or false to use `socket_path`.
    pub socket_path_cb: wsgirt_socket_path_cb,
    /// Passed to `socket_path_cb`.
    pub socket_path_userdata: *mut c_void,
}

/// Names the socket a worker connects to now (see
/// `wsgirt_daemon_target::socket_path_cb`); may be NULL.
pub type wsgirt_socket_path_cb =
    Option<unsafe extern "C" fn(userdata: *mut c_void, out: *mut wsgirt_str) -> bool>;

/// How a daemon process serves. Initialise with
/// `wsgirt_daemon_options_init` (mod_wsgi's defaults), then set `name`,
/// `token` and the `WSGIDaemonProcess` options given. Durations are in
/// microseconds; 0 turns a timer off.
#[repr(C)]
pub struct wsgirt_daemon_options {
    /// `sizeof(wsgirt_daemon_options)`.
    pub struct_size: usize,
    /// The process group's name (UTF-8), for log lines.
    pub name: wsgirt_str,
    /// The group's origin token; connections without it are refused.
    pub token: [u8; WSGIRT_DAEMON_TOKEN_LEN],
    /// `threads=` (default 15; must be at least 1).
    pub threads: u32,
    /// `stack-size=` in bytes (0: the platform default).
    pub stack_size: u64,
    /// `maximum-requests=` (0: unlimited).
    pub maximum_requests: u64,
    pub restart_interval_us: u64,
    pub inactivity_timeout_us: u64,
    pub request_timeout_us: u64,
    pub startup_timeout_us: u64,
    /// Default 300 s.
    pub deadlock_timeout_us: u64,
    /// Default 15 s.
    pub graceful_timeout_us: u64,
    pub eviction_timeout_us: u64,
    /// Default 5 s: how long stopping waits for requests in progress.
    pub shutdown_timeout_us: u64,
    pub queue_timeout_us: u64,
    /// `socket-timeout=`; pass Apache's `Timeout` when unset; 0: no limit.
    pub socket_timeout_us: u64,
    /// `interrupt-timeout=` (beyond mod_wsgi 4.6; 0: off): a request running
    /// longer gets `mod_wsgi.RequestTimeout` raised in it (then 504); one
    /// still running after as long again restarts the process.
    pub interrupt_timeout_us: u64,
    /// `send-buffer-size=`: `SO_SNDBUF` of every accepted connection (0:
    /// the OS default).
    pub send_buffer_size: u32,
    /// `receive-buffer-size=`: `SO_RCVBUF` of every accepted connection
    /// (0: the OS default).
    pub receive_buffer_size: u32,
    /// Appended after the first version (a struct whose `struct_size`
    /// ends before this field reads as false). When true,
    /// shutdown-timeout bounds the process's whole shutdown as mod_wsgi's
    /// reaper does: at "Shutdown requested" `wsgirt_daemon_serve` starts a
    /// thread (`wsgirt_daemon_reaper_start`) that, shutdown-timeout later,
    /// logs `Aborting process 'g'.` and `Exiting process 'g'.` and ends the
    /// process with `_exit(-1)`, also while the host is still freeing the
    /// runtime after `serve` returned. `serve` then returns only once every
    /// request has finished (`active_requests` is 0). Only for a host that
    /// owns the process and exits right after freeing the runtime (the
    /// Apache module's daemons); false (the default) leaves the process
    /// alone and bounds only the wait for requests.
    pub exit_on_shutdown_timeout: bool,
}

/// `struct_size` of the first version of [`wsgirt_daemon_options`], which
/// ended after `receive_buffer_size` (still accepted).
const DAEMON_OPTIONS_V1_SIZE: usize =
    std::mem::offset_of!(wsgirt_daemon_options, exit_on_shutdown_timeout);

/// How `wsgirt_daemon_serve` ended. `struct_size` must be set by the
/// caller to `sizeof(wsgirt_daemon_result)`.
#[repr(C)]
pub struct wsgirt_daemon_result {
    pub struct_size: usize,
    /// A `wsgirt_shutdown_reason`.
    pub reason: u32,
    /// Connections served (each carries one request).
    pub requests: u64,
    /// Requests still running when shutdown-timeout expired. When non-zero
    /// (and after `WSGIRT_SHUTDOWN_DEADLOCK_TIMEOUT`, when the GIL is
    /// presumed stuck) the process must exit (`_exit`, as mod_wsgi's reaper
    /// does) without calling `wsgirt_runtime_free`.
    pub active_requests: u32,
}

fn micros(us: u64) -> Duration {
    Duration::from_micros(us)
}

fn as_micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

/// Fills `*target` with mod_wsgi's defaults (processes 1, connect-timeout
/// 15 s, no socket-timeout, header-buffer-size 32768,
/// response-buffer-size 65536) and empty name, path and token.
/// `target->struct_size` must be set first.
///
/// # Safety
/// `target` must be NULL or point at a writable `wsgirt_daemon_target`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_daemon_target_init(
    target: *mut wsgirt_daemon_target,
) -> wsgirt_status {
    status_boundary(|| {
        if target.is_null() {
            return WSGIRT_STATUS_NULL_ARG;
        }
        // SAFETY: non-NULL and writable per the contract.
        let target = unsafe { &mut *target };
        if target.struct_size < std::mem::size_of::<wsgirt_daemon_target>() {
            return WSGIRT_STATUS_INVALID_ARG;
        }
        let defaults = Target::default();
        *target = wsgirt_daemon_target {
            struct_size: target.struct_size,
            name: wsgirt_str {
                ptr: std::ptr::null(),
                len: 0,
            },
            socket_path: wsgirt_str {
                ptr: std::ptr::null(),
                len: 0,
            },
            token: [0; WSGIRT_DAEMON_TOKEN_LEN],
            processes: defaults.processes,
            connect_timeout_us: as_micros(defaults.connect_timeout),
            socket_timeout_us: 0,
            header_buffer_size: defaults.header_buffer_size as u32,
            response_buffer_size: defaults.response_buffer_size as u32,
            queue_timeout_us: 0,
            socket_path_cb: None,
            socket_path_userdata: std::ptr::null_mut(),
        };
        WSGIRT_STATUS_OK
    })
}

/// Fills `*options` with mod_wsgi's defaults (threads 15, deadlock-timeout
/// 300 s, graceful-timeout 15 s, shutdown-timeout 5 s, every other timer
/// off) and an empty name and token. `options->struct_size` must be set
/// first.
///
/// # Safety
/// `options` must be NULL or point at a writable `wsgirt_daemon_options`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_daemon_options_init(
    options: *mut wsgirt_daemon_options,
) -> wsgirt_status {
    status_boundary(|| {
        if options.is_null() {
            return WSGIRT_STATUS_NULL_ARG;
        }
        // SAFETY: non-NULL; its first field is readable per the contract.
        let size = unsafe { (*options).struct_size };
        if size < DAEMON_OPTIONS_V1_SIZE {
            return WSGIRT_STATUS_INVALID_ARG;
        }
        let d = DaemonOptions::default();
        let filled = wsgirt_daemon_options {
            struct_size: size,
            name: wsgirt_str {
                ptr: std::ptr::null(),
                len: 0,
            },
            token: [0; WSGIRT_DAEMON_TOKEN_LEN],
            threads: d.threads,
            stack_size: d.stack_size as u64,
            maximum_requests: d.maximum_requests,
            restart_interval_us: as_micros(d.restart_interval),
            inactivity_timeout_us: as_micros(d.inactivity_timeout),
            request_timeout_us: as_micros(d.request_timeout),
            startup_timeout_us: as_micros(d.startup_timeout),
            deadlock_timeout_us: as_micros(d.deadlock_timeout),
            graceful_timeout_us: as_micros(d.graceful_timeout),
            eviction_timeout_us: as_micros(d.eviction_timeout),
            shutdown_timeout_us: as_micros(d.shutdown_timeout),
            queue_timeout_us: as_micros(d.queue_timeout),
            socket_timeout_us: as_micros(d.socket_timeout),
            interrupt_timeout_us: as_micros(d.interrupt_timeout),
            send_buffer_size: 0,
            receive_buffer_size: 0,
            exit_on_shutdown_timeout: d.exit_on_shutdown_timeout,
        };
        let len = size.min(std::mem::size_of::<wsgirt_daemon_options>());
        // SAFETY: the caller's struct has at least `size` writable bytes
        // (its `struct_size`) and `filled` at least `len`; a first-version
        // struct gets the fields it has, byte for byte (same layout prefix).
        unsafe {
            std::ptr::copy_nonoverlapping(
                (&filled as *const wsgirt_daemon_options).cast::<u8>(),
                options.cast::<u8>(),
                len,
            )
        };
        WSGIRT_STATUS_OK
    })
}

/// Writes a new random origin token (`WSGIRT_DAEMON_TOKEN_LEN` bytes from
/// the kernel's random source) to `out`. Make one per daemon group in the
/// parent, before forking workers and daemons, and give it to both sides.
///
/// # Safety
/// `out` must be NULL or point at `WSGIRT_DAEMON_TOKEN_LEN` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_daemon_token_new(out: *mut u8) -> wsgirt_status {
    status_boundary(|| {
        if out.is_null() {
            return WSGIRT_STATUS_NULL_ARG;
        }
        let mut token = [0u8; WSGIRT_DAEMON_TOKEN_LEN];
        let mut filled = 0;
        while filled < token.len() {
            // SAFETY: writes at most the remaining bytes of `token`.
            let n = unsafe {
                libc::getrandom(token[filled..].as_mut_ptr().cast(), token.len() - filled, 0)
            };
            if n < 0 {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return WSGIRT_STATUS_INVALID_ARG;
            }
            filled += n as usize;
        }
        // SAFETY: `out` has WSGIRT_DAEMON_TOKEN_LEN writable bytes per the contract.
        unsafe { std::ptr::copy_nonoverlapping(token.as_ptr(), out, token.len()) };
        WSGIRT_STATUS_OK
    })
}

/// Installs the log callback in a process that has no runtime (an Apache
/// child that only proxies to daemons: `WSGIRestrictEmbedded On`). A
/// runtime installs its configuration's callback itself. NULL removes it
/// (lines then go to stderr).
///
/// Threading: call before the first `wsgirt_daemon_proxy`, not
/// concurrently with it.
///
/// # Safety
/// `userdata` must stay valid while the callback is installed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_daemon_set_log_callback(
    callback: wsgirt_log_cb,
    userdata: *mut c_void,
) -> wsgirt_status {
    status_boundary(|| {
        logging::set_sink(callback, userdata);
        WSGIRT_STATUS_OK
    })
}

/// mod_wsgi's `shutdown_reason` string for a `wsgirt_shutdown_reason`
/// (`request_timeout`, `startup_timeout`, `restart_interval`,
/// `inactivity_timeout`, `cpu_time_limit`, `graceful_signal`; `""` for the
/// others and for unknown values). Static, NUL-terminated, never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn wsgirt_shutdown_reason_str(reason: u32) -> *const c_char {
    crate::capi::boundary::ffi_boundary(c"".as_ptr(), || {
        let text = match ShutdownReason::from_u32(reason).map(ShutdownReason::as_str) {
            Some("request_timeout") => c"request_timeout",
            Some("startup_timeout") => c"startup_timeout",
            Some("restart_interval") => c"restart_interval",
            Some("inactivity_timeout") => c"inactivity_timeout",
            Some("cpu_time_limit") => c"cpu_time_limit",
            Some("graceful_signal") => c"graceful_signal",
            _ => c"",
        };
        text.as_ptr()
    })
}

fn proxy_status(err: ProxyError) -> wsgirt_status {
    match err {
        ProxyError::Unavailable => WSGIRT_STATUS_DAEMON_UNAVAILABLE,
        ProxyError::Timeout => WSGIRT_STATUS_DAEMON_TIMEOUT,
        ProxyError::Failed => WSGIRT_STATUS_DAEMON_FAILED,
        ProxyError::LoadFailed => WSGIRT_STATUS_SCRIPT_LOAD_FAILED,
        ProxyError::CallableMissing => WSGIRT_STATUS_CALLABLE_NOT_FOUND,
        ProxyError::AppError => WSGIRT_STATUS_APP_ERROR,
        ProxyError::ClientGone => WSGIRT_STATUS_CLIENT_GONE,
        ProxyError::Interrupted => WSGIRT_STATUS_REQUEST_TIMEOUT,
        ProxyError::BodyTimeout => WSGIRT_STATUS_BODY_TIMEOUT,
    }
}

/// Runs one request in a daemon process group: connects to the group's
/// socket (retrying for `connect_timeout_us` as mod_wsgi does), sends the
/// request and relays the daemon's response through `io` exactly as
/// `wsgirt_request_run` would deliver it. Needs no runtime (no Python) in
/// the calling process. `queue_start_us` is when the host accepted the
/// request (µs since the epoch; Apache: `r->request_time`), for the
/// daemon's queue-timeout; 0 skips that check.
///
/// Returns, with the reason logged (mod_wsgi's lines) unless noted:
/// - `OK`: a response was started; `*out` says how it ended (`incomplete`
///   when it was cut short: the host must make the truncation visible);
/// - `DAEMON_UNAVAILABLE`: could not connect, or the daemon kept
///   restarting: answer 503;
/// - `DAEMON_TIMEOUT`: queue-timeout expired in the daemon, or the
///   response head did not arrive within socket-timeout: answer 504;
/// - `DAEMON_FAILED`: the daemon closed the connection or broke the
///   protocol before a response started: answer 500;
/// - `BODY_TIMEOUT`: a read of the request body from `io` timed out and
///   the daemon ended without a response: answer 408;
/// - `SCRIPT_LOAD_FAILED`, `APP_ERROR` (answer 500), `CALLABLE_NOT_FOUND`
///   (404), `CLIENT_GONE`, as from `wsgirt_request_run` (the daemon logged
///   the details in its own log).
///
/// Threading: any thread, concurrently. `io_ctx` is passed to every
/// callback; `spec->log_ctx` to the log callback with this request's lines.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `(pointer, length)` pairs must describe readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_daemon_proxy(
    target: *const wsgirt_daemon_target,
    spec: *const wsgirt_request_spec,
    queue_start_us: i64,
    io: *const wsgirt_host_io,
    io_ctx: *mut c_void,
    out: *mut wsgirt_request_result,
) -> wsgirt_status {
    status_boundary(|| {
        if target.is_null() || spec.is_null() || io.is_null() || out.is_null() {
            return WSGIRT_STATUS_NULL_ARG;
        }
        // SAFETY: non-NULL pointers to live objects, per the contract.
        let (target, spec, io) = unsafe { (&*target, &*spec, &*io) };
        if target.struct_size < std::mem::size_of::<wsgirt_daemon_target>()
            || spec.struct_size < std::mem::size_of::<wsgirt_request_spec>()
            || !io.usable()
        {
            return WSGIRT_STATUS_INVALID_ARG;
        }
        // SAFETY: the strings are valid per the contract.
        let strings = unsafe {
            (
                text(target.name.ptr, target.name.len),
                bytes(target.socket_path.ptr, target.socket_path.len),
                bytes(spec.application_group.ptr, spec.application_group.len),
                text(spec.script_path.ptr, spec.script_path.len),
                bytes(spec.callable_object.ptr, spec.callable_object.len),
            )
        };
        let (Some(name), Some(socket_path), Some(group), Some(script), Some(callable)) = strings
        else {
            return WSGIRT_STATUS_INVALID_ARG;
        };
        // SAFETY: the spec's pairs are valid per the contract.
        let environ = match unsafe { pairs(spec.environ, spec.environ_len) } {
            Ok(environ) => environ.into_iter(),
            Err(status) => return status,
        };
        let (path_cb, path_userdata) = (target.socket_path_cb, target.socket_path_userdata);
        let current_path = path_cb.map(|cb| {
            move || {
                let mut out = wsgirt_str {
                    ptr: std::ptr::null(),
                    len: 0,
                };
                // SAFETY: the host's callback with its own userdata, per
                // the contract of `socket_path_cb`; on true, `out` names
                // readable bytes until it returns, copied right away.
                unsafe {
                    if !cb(path_userdata, &mut out) {
                        return None;
                    }
                    bytes(out.ptr, out.len).map(<[u8]>::to_vec)
                }
            }
        });
        let rust_target = Target {
            name,
            socket_path,
            token: target.token,
            processes: target.processes,
            connect_timeout: micros(target.connect_timeout_us),
            socket_timeout: micros(target.socket_timeout_us),
            header_buffer_size: match target.header_buffer_size {
                0 => options::DEFAULT_HEADER_BUFFER_SIZE,
                n => n as usize,
            },
            response_buffer_size: match target.response_buffer_size {
                0 => options::DEFAULT_RESPONSE_BUFFER_SIZE,
                n => (n as usize).max(8192),
            },
            queue_timeout: micros(target.queue_timeout_us),
            current_path: current_path
                .as_ref()
                .map(|f| f as &dyn Fn() -> Option<Vec<u8>>),
        };
        let head = RequestHead {
            application_group: group,
            script_path: script.as_bytes(),
            callable,
            reload_script: spec.reload_script,
            script_mtime: spec.script_mtime,
            queue_start: queue_start_us,
        };
        let log = RequestLog {
            script_path: script,
            log_ctx: spec.log_ctx,
        };
        let mut encode = |out: &mut Vec<u8>, attempts| {
            client::encode_request(out, &rust_target.token, &head, environ.clone(), attempts)
        };
        let host = CHost::new(io, io_ctx);
        let mut buffers = client::take_buffers();
        let result = client::proxy(
            &rust_target,
            queue_start_us,
            &mut encode,
            &log,
            &host,
            &mut buffers,
        );
        client::put_buffers(buffers);
        match result {
            Ok(done) => {
                // SAFETY: `out` is non-NULL and writable per the contract.
                unsafe {
                    (*out).http_status = done.http_status;
                    (*out).bytes_written = done.bytes_written;
                    (*out).client_gone = done.client_gone;
                    (*out).incomplete = done.incomplete;
                }
                WSGIRT_STATUS_OK
            }
            Err(err) => proxy_status(err),
        }
    })
}

fn valid_fd(fd: c_int) -> bool {
    // SAFETY: F_GETFD only inspects the descriptor table.
    fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0
}

fn is_listening_socket(fd: c_int) -> bool {
    let mut accepting: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: getsockopt into a properly sized local.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut accepting as *mut c_int).cast(),
            &mut len,
        )
    };
    rc == 0 && accepting != 0
}

/// Serves proxied requests in a daemon process until it must stop, and
/// says why. Call it in the daemon process after the host forked it,
/// dropped privileges and created the runtime (`wsgirt_runtime_new`),
/// normally on the thread that created the runtime; it returns when the
/// process should exit (the host then calls `wsgirt_runtime_free`, unless
/// `active_requests` is non-zero, and exits; the parent respawns it).
///
/// - `listen_fd`: the group's listening UNIX socket, created, bound and
///   permissioned by the host; it is switched to non-blocking mode and
///   not closed.
/// - `stop_fd`: the read end of a pipe to which the host's signal handlers
///   write one byte: `S` shutdown (SIGTERM/SIGINT), `G` graceful eviction
///   (SIGUSR1), `C` cpu-time-limit (SIGXCPU). EOF also stops.
///
/// `options->threads` threads accept connections and run one request each
/// (`WSGIDaemonProcess` semantics: queue-timeout, script reloading by
/// restart, maximum-requests, restart-interval, inactivity-timeout,
/// request-timeout, startup-timeout, deadlock-timeout, graceful/eviction
/// drains, bounded by shutdown-timeout). Lifecycle lines are logged as
/// mod_wsgi logs them.
///
/// Returns `OK` with `*out` filled; `INVALID_ARG` for bad options or
/// descriptors; `WRONG_PROCESS`/`SHUTTING_DOWN` for an unusable runtime.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `(pointer, length)` pairs must describe readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_daemon_serve(
    runtime: *const wsgirt_runtime,
    listen_fd: c_int,
    stop_fd: c_int,
    options: *const wsgirt_daemon_options,
    out: *mut wsgirt_daemon_result,
) -> wsgirt_status {
    status_boundary(|| {
        if runtime.is_null() || options.is_null() || out.is_null() {
            return WSGIRT_STATUS_NULL_ARG;
        }
        // SAFETY: a non-NULL pointer to a live runtime, per the contract.
        let rt = unsafe { &*runtime };
        // SAFETY: `options` is non-NULL; only its first field is read here.
        let size = unsafe { (*options).struct_size };
        if size < DAEMON_OPTIONS_V1_SIZE {
            return WSGIRT_STATUS_INVALID_ARG;
        }
        // A first-version struct is shorter: copy the fields it has over
        // the zero defaults of the others (all-zero is a valid value).
        // SAFETY: all-zero bytes are a valid `wsgirt_daemon_options` (null
        // pointer, zero numbers, false).
        let mut copy: wsgirt_daemon_options = unsafe { std::mem::zeroed() };
        // SAFETY: the caller's struct has `size` readable bytes, of which
        // at most `size_of` are copied into `copy` (same layout prefix).
        unsafe {
            std::ptr::copy_nonoverlapping(
                options.cast::<u8>(),
                (&mut copy as *mut wsgirt_daemon_options).cast::<u8>(),
                size.min(std::mem::size_of::<wsgirt_daemon_options>()),
            )
        };
        let options = &copy;
        // SAFETY: `out` is non-NULL; only its size field is read here.
        let out_size = unsafe { (*out).struct_size };
        if out_size < std::mem::size_of::<wsgirt_daemon_result>()
            || options.threads == 0
            || !is_listening_socket(listen_fd)
            || !valid_fd(stop_fd)
        {
            return WSGIRT_STATUS_INVALID_ARG;
        }
        // SAFETY: the name is valid per the contract.
        let Some(name) = (unsafe { text(options.name.ptr, options.name.len) }) else {
            return WSGIRT_STATUS_INVALID_ARG;
        };
        if let Err(err) = rt.inner.check_process() {
            return status_of(&err);
        }
        let opts = DaemonOptions {
            name: name.to_owned(),
            token: options.token,
            threads: options.threads,
            stack_size: options.stack_size.min(usize::MAX as u64) as usize,
            maximum_requests: options.maximum_requests,
            restart_interval: micros(options.restart_interval_us),
            inactivity_timeout: micros(options.inactivity_timeout_us),
            request_timeout: micros(options.request_timeout_us),
            startup_timeout: micros(options.startup_timeout_us),
            deadlock_timeout: micros(options.deadlock_timeout_us),
            graceful_timeout: micros(options.graceful_timeout_us),
            eviction_timeout: micros(options.eviction_timeout_us),
            shutdown_timeout: micros(options.shutdown_timeout_us),
            queue_timeout: micros(options.queue_timeout_us),
            socket_timeout: micros(options.socket_timeout_us),
            interrupt_timeout: micros(options.interrupt_timeout_us),
            send_buffer_size: options.send_buffer_size as usize,
            receive_buffer_size: options.receive_buffer_size as usize,
            exit_on_shutdown_timeout: options.exit_on_shutdown_timeout,
        };
        let done = server::serve(rt.inner.clone(), listen_fd, stop_fd, opts);
        // SAFETY: `out` is non-NULL and writable per the contract.
        unsafe {
            (*out).reason = done.reason as u32;
            (*out).requests = done.requests;
            (*out).active_requests = done.active.min(u32::MAX as usize) as u32;
        }
        WSGIRT_STATUS_OK
    })
}
