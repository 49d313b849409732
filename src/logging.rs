//! The host log sink: everything the runtime logs goes to one callback the
//! host installed (Apache forwards it to `ap_log_error`/`ap_log_rerror`).
//!
//! Levels use syslog numbering, the same as Apache's `APLOG_*`.

use parking_lot::RwLock;
use std::ffi::c_void;

/// Severity of a log line (syslog/Apache numbering; values never change).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Emerg = 0,
    Alert = 1,
    Crit = 2,
    Err = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
}

impl Level {
    /// Maps a raw level (from C or Python) onto a level, clamping unknown values to `Debug`.
    pub fn from_raw(raw: u32) -> Level {
        match raw {
            0 => Level::Emerg,
            1 => Level::Alert,
            2 => Level::Crit,
            3 => Level::Err,
            4 => Level::Warning,
            5 => Level::Notice,
            6 => Level::Info,
            _ => Level::Debug,
        }
    }
}

/// The host's log function: `(userdata, level, request_ctx, message, len)`.
/// `request_ctx` is the per-request pointer the host passed with the
/// request, or NULL for process-level lines.
pub type LogFn =
    unsafe extern "C" fn(*mut c_void, u32, *mut c_void, *const std::ffi::c_char, usize);

#[derive(Clone, Copy)]
struct Sink {
    func: LogFn,
    userdata: *mut c_void,
}

// SAFETY: the C API documents that the log callback may be called from any
// thread at any time; the userdata pointer is the host's to make thread-safe.
unsafe impl Send for Sink {}
// SAFETY: as above.
unsafe impl Sync for Sink {}

static SINK: RwLock<Option<Sink>> = RwLock::new(None);

/// Installs (or with `None`, removes) the host log callback.
pub fn set_sink(func: Option<LogFn>, userdata: *mut c_void) {
    *SINK.write() = func.map(|func| Sink { func, userdata });
}

/// Logs one line. Without a sink, lines go to stderr so nothing is lost.
/// Never call with the GIL held on a hot path: the host may block on I/O.
/// `request_ctx` is opaque here: it is only handed back to the host.
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn log(level: Level, request_ctx: *mut c_void, message: &str) {
    let sink = *SINK.read();
    match sink {
        // SAFETY: the host promised the callback is callable from any thread
        // and does not retain the message pointer past the call.
        Some(sink) => unsafe {
            (sink.func)(
                sink.userdata,
                level as u32,
                request_ctx,
                message.as_ptr().cast(),
                message.len(),
            )
        },
        None => eprintln!("[wsgirt:{level:?}] {message}"),
    }
}

/// The host's per-request log context for requests a daemon process serves:
/// `begin(userdata, environ, len)` makes it from the request's environ,
/// `end(userdata, ctx)` releases it after the request's last line.
#[derive(Clone, Copy)]
pub struct RequestLogHooks {
    pub begin: unsafe extern "C" fn(
        *mut c_void,
        *const crate::capi::request::wsgirt_pair,
        usize,
    ) -> *mut c_void,
    pub end: unsafe extern "C" fn(*mut c_void, *mut c_void),
    pub userdata: *mut c_void,
}

// SAFETY: the C API documents that both hooks may be called from any
// thread; the userdata pointer is the host's to make thread-safe.
unsafe impl Send for RequestLogHooks {}
// SAFETY: as above.
unsafe impl Sync for RequestLogHooks {}

static REQUEST_LOG: RwLock<Option<RequestLogHooks>> = RwLock::new(None);

/// Installs (or with `None`, removes) the per-request log context hooks.
pub fn set_request_log_hooks(hooks: Option<RequestLogHooks>) {
    *REQUEST_LOG.write() = hooks;
}

/// A request's log context made by the host's hooks (NULL without them),
/// released when dropped.
pub struct RequestLog {
    ctx: *mut c_void,
    hooks: Option<RequestLogHooks>,
}

impl RequestLog {
    /// Asks the host for the log context of a request with this environ.
    pub fn begin(environ: &[(&[u8], &[u8])]) -> RequestLog {
        let Some(hooks) = *REQUEST_LOG.read() else {
            return RequestLog {
                ctx: std::ptr::null_mut(),
                hooks: None,
            };
        };
        let pairs: Vec<crate::capi::request::wsgirt_pair> = environ
            .iter()
            .map(|(name, value)| crate::capi::request::wsgirt_pair {
                name: crate::capi::request::wsgirt_str::of(name),
                value: crate::capi::request::wsgirt_str::of(value),
            })
            .collect();
        // SAFETY: the pairs borrow `environ` for the call; the host copies
        // what it keeps.
        let ctx = unsafe { (hooks.begin)(hooks.userdata, pairs.as_ptr(), pairs.len()) };
        RequestLog {
            ctx,
            hooks: Some(hooks),
        }
    }

    /// The context to log the request's lines with.
    pub fn ctx(&self) -> *mut c_void {
        self.ctx
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        if let (Some(hooks), false) = (self.hooks, self.ctx.is_null()) {
            // SAFETY: `ctx` came from this host's `begin` and is released once.
            unsafe { (hooks.end)(hooks.userdata, self.ctx) };
        }
    }
}

thread_local! {
    /// The `request_ctx` of the request running on this thread, if any.
    static CURRENT_REQUEST: std::cell::Cell<*mut c_void> =
        const { std::cell::Cell::new(std::ptr::null_mut()) };
}

/// Marks `request_ctx` as the request running on this thread (NULL: none)
/// and returns the previous mark, so lines written to `sys.stdout` or
/// `sys.stderr` while it runs are logged with that request, as mod_wsgi does.
pub fn set_current_request(request_ctx: *mut c_void) -> *mut c_void {
    CURRENT_REQUEST.with(|current| current.replace(request_ctx))
}

/// The request running on this thread (NULL outside requests).
pub fn current_request() -> *mut c_void {
    CURRENT_REQUEST.with(std::cell::Cell::get)
}

/// Logs a process-level line.
pub fn log_process(level: Level, message: &str) {
    log(level, std::ptr::null_mut(), message)
}

/// Installs a panic hook that reports panics (with a backtrace) through the
/// sink before the unwind is caught at the C boundary.
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Without a host sink, keep Rust's own report (stderr) as well.
            if SINK.read().is_none() {
                previous(info);
                return;
            }
            // std's capture (its symboliser is linked in anyway for the
            // default hook; a second one from the backtrace crate cost
            // ~150 KB of code, mapped into every Apache child).
            let backtrace = std::backtrace::Backtrace::force_capture();
            log_process(
                Level::Crit,
                &format!(
                    "WSGIRT0104: wsgirt (pid={}): internal error: {info}",
                    std::process::id()
                ),
            );
            for line in format!("{backtrace}").lines().take(64) {
                log_process(Level::Crit, line);
            }
        }));
    });
}
