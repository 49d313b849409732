//! Diagnostics for hosts: the requests in flight, Python stack dumps, and
//! the scoreboard reader behind `mod_wsgi.server_metrics()`.

use crate::capi::boundary::{bytes, status_boundary};
use crate::capi::config::wsgirt_config;
use crate::capi::request::wsgirt_str;
use crate::capi::runtime::{with_runtime, wsgirt_runtime};
use crate::capi::status::wsgirt_status::{self, *};
use crate::diagnostics::metrics::{ScoreProcess, ScoreWorker, Scoreboard};
use crate::diagnostics::registry;
use crate::runtime::Runtime;
use std::ffi::{c_char, c_void};

/// One request in flight, as `wsgirt_requests_visit` reports it. The
/// strings are borrowed for the duration of the callback only.
#[repr(C)]
pub struct wsgirt_request_info {
    /// Process-unique number of the request (never reused).
    pub serial: u64,
    /// The host's request id (`mod_wsgi.request_id`), or the serial.
    pub request_id: wsgirt_str,
    /// Application group (empty for `%{GLOBAL}`).
    pub group: wsgirt_str,
    /// `threading.get_ident()` of the thread running it (full 64 bits).
    pub thread_id: u64,
    /// Start time, microseconds since the epoch.
    pub start_us: i64,
    /// How long it has been running, microseconds.
    pub age_us: u64,
}

/// Receives one request; return false to stop the walk.
pub type wsgirt_request_visit_cb =
    Option<unsafe extern "C" fn(userdata: *mut c_void, info: *const wsgirt_request_info) -> bool>;

/// Calls `visit` for every request running in this process, oldest first,
/// from a snapshot (requests may finish meanwhile). `*count` (if not NULL)
/// receives how many requests the snapshot held.
///
/// Ownership: nothing is retained. Threading: any thread; without the GIL
/// (it never takes it), so a hung application cannot block it.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `visit` must not unwind.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_requests_visit(
    runtime: *const wsgirt_runtime,
    visit: wsgirt_request_visit_cb,
    userdata: *mut c_void,
    count: *mut usize,
) -> wsgirt_status {
    status_boundary(|| {
        if runtime.is_null() {
            return WSGIRT_STATUS_NULL_ARG;
        }
        let active = registry::snapshot();
        if !count.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { *count = active.len() };
        }
        let Some(visit) = visit else {
            return WSGIRT_STATUS_OK;
        };
        for request in &active {
            let info = wsgirt_request_info {
                serial: request.serial,
                request_id: wsgirt_str {
                    ptr: request.request_id.as_ptr().cast(),
                    len: request.request_id.len(),
                },
                group: wsgirt_str {
                    ptr: request.group.as_ptr().cast(),
                    len: request.group.len(),
                },
                thread_id: request.thread_id,
                start_us: request.start_us,
                age_us: request.started.elapsed().as_micros() as u64,
            };
            // SAFETY: the host's callback, called with a live struct.
            if !unsafe { visit(userdata, &info) } {
                break;
            }
        }
        WSGIRT_STATUS_OK
    })
}

/// Logs the Python stack of every thread of every application group at
/// `LogLevel info`, in mod_wsgi's format (`Thread <id> executing file
/// "...", line N, in f` then `called from file ...`).
///
/// Threading: any thread that is not running Python (it takes the GIL,
/// so it waits for a thread holding it).
///
/// # Safety
/// `runtime` must be NULL or a live runtime.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_runtime_dump_stacks(
    runtime: *const wsgirt_runtime,
) -> wsgirt_status {
    with_runtime(runtime, Runtime::dump_stacks)
}

/// The scoreboard being filled by a `wsgirt_scoreboard_cb` (opaque; only
/// valid during the callback).
pub struct wsgirt_scoreboard {
    board: Scoreboard,
}

/// Fills `board` with the host's scoreboard (`wsgirt_scoreboard_set_limits`,
/// `wsgirt_scoreboard_add_process`, `wsgirt_scoreboard_add_worker`);
/// returns false when there is none. Called from any thread, without the
/// GIL, when Python code calls `mod_wsgi.server_metrics()`.
pub type wsgirt_scoreboard_cb =
    Option<unsafe extern "C" fn(userdata: *mut c_void, board: *mut wsgirt_scoreboard) -> bool>;

/// One worker slot for `wsgirt_scoreboard_add_worker`. Times are
/// microseconds since the epoch; strings are copied.
#[repr(C)]
pub struct wsgirt_scoreboard_worker {
    pub thread_num: i32,
    pub generation: i32,
    /// Apache's one-character status (`_`, `W`, `K`, ...).
    pub status: c_char,
    pub access_count: u64,
    pub bytes_served: u64,
    pub start_time_us: i64,
    pub stop_time_us: i64,
    pub last_used_us: i64,
    pub client: wsgirt_str,
    pub request: wsgirt_str,
    pub vhost: wsgirt_str,
}

struct Reader {
    read: unsafe extern "C" fn(*mut c_void, *mut wsgirt_scoreboard) -> bool,
    userdata: *mut c_void,
}

// SAFETY: the contract of `wsgirt_config_set_scoreboard_reader` makes the
// callback and its userdata usable from any thread.
unsafe impl Send for Reader {}
// SAFETY: as above.
unsafe impl Sync for Reader {}

/// Installs the host's scoreboard reader for `mod_wsgi.server_metrics()`
/// (which also needs `WSGIRT_FLAG_SERVER_METRICS`). NULL `read` removes it.
/// Takes effect when the runtime starts.
///
/// Threading: not concurrently with other uses of `config`; the callback
/// itself may be called from any thread and must not unwind.
///
/// # Safety
/// `config` must be NULL or live; `userdata` must stay valid while the
/// runtime runs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_config_set_scoreboard_reader(
    config: *mut wsgirt_config,
    read: wsgirt_scoreboard_cb,
    userdata: *mut c_void,
) -> wsgirt_status {
    status_boundary(|| {
        if config.is_null() {
            return WSGIRT_STATUS_NULL_ARG;
        }
        // SAFETY: non-NULL, live and not shared per the contract.
        let config = unsafe { &mut *config };
        config.scoreboard = read.map(|read| {
            let reader = std::sync::Arc::new(Reader { read, userdata });
            std::sync::Arc::new(move || {
                let mut board = wsgirt_scoreboard {
                    board: Scoreboard::default(),
                };
                // SAFETY: the host's callback with a live builder.
                let ok = unsafe { (reader.read)(reader.userdata, &mut board) };
                ok.then_some(board.board)
            }) as crate::capi::config::ScoreboardFn
        });
        WSGIRT_STATUS_OK
    })
}

fn with_board(
    board: *mut wsgirt_scoreboard,
    f: impl FnOnce(&mut Scoreboard) -> wsgirt_status,
) -> wsgirt_status {
    status_boundary(|| {
        if board.is_null() {
            return WSGIRT_STATUS_NULL_ARG;
        }
        // SAFETY: non-NULL; only valid during the reader callback (contract).
        f(unsafe { &mut (*board).board })
    })
}

/// Sets the scoreboard's global figures.
///
/// # Safety
/// `board` must be the builder passed to the running reader callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_scoreboard_set_limits(
    board: *mut wsgirt_scoreboard,
    server_limit: i32,
    thread_limit: i32,
    running_generation: i32,
    restart_time_us: i64,
) -> wsgirt_status {
    with_board(board, |b| {
        b.server_limit = server_limit;
        b.thread_limit = thread_limit;
        b.running_generation = running_generation;
        b.restart_time_us = restart_time_us;
        WSGIRT_STATUS_OK
    })
}

/// Appends a process slot; following workers belong to it.
///
/// # Safety
/// As for `wsgirt_scoreboard_set_limits`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_scoreboard_add_process(
    board: *mut wsgirt_scoreboard,
    process_num: i32,
    pid: i32,
    generation: i32,
    quiescing: bool,
) -> wsgirt_status {
    with_board(board, |b| {
        b.processes.push(ScoreProcess {
            process_num,
            pid,
            generation,
            quiescing,
            workers: Vec::new(),
        });
        WSGIRT_STATUS_OK
    })
}

/// Appends a worker slot to the last process (`INVALID_ARG` before any).
///
/// # Safety
/// As for `wsgirt_scoreboard_set_limits`; `worker` live, its strings readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_scoreboard_add_worker(
    board: *mut wsgirt_scoreboard,
    worker: *const wsgirt_scoreboard_worker,
) -> wsgirt_status {
    with_board(board, |b| {
        if worker.is_null() {
            return WSGIRT_STATUS_NULL_ARG;
        }
        // SAFETY: non-NULL and live per the contract.
        let w = unsafe { &*worker };
        let text = |s: &wsgirt_str| {
            // SAFETY: the strings are readable per the contract.
            let raw = unsafe { bytes(s.ptr, s.len) };
            raw.map(|b| {
                let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                String::from_utf8_lossy(&b[..end]).into_owned()
            })
        };
        let (Some(client), Some(request), Some(vhost)) =
            (text(&w.client), text(&w.request), text(&w.vhost))
        else {
            return WSGIRT_STATUS_INVALID_ARG;
        };
        let Some(process) = b.processes.last_mut() else {
            return WSGIRT_STATUS_INVALID_ARG;
        };
        process.workers.push(ScoreWorker {
            thread_num: w.thread_num,
            generation: w.generation,
            status: char::from(w.status as u8),
            access_count: w.access_count,
            bytes_served: w.bytes_served,
            start_time_us: w.start_time_us,
            stop_time_us: w.stop_time_us,
            last_used_us: w.last_used_us,
            client,
            request,
            vhost,
        });
        WSGIRT_STATUS_OK
    })
}
