//! Capture of the runtime's log lines, for assertions on what was logged.

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// One line the runtime logged.
#[derive(Clone, Debug)]
pub struct LogLine {
    pub level: u32,
    /// The request's `log_ctx` (0 for process-level lines).
    pub ctx: usize,
    pub text: String,
}

/// Every line logged by the runtime in this process.
pub static LOG: Mutex<Vec<LogLine>> = Mutex::new(Vec::new());

/// Whether [`LOG`] records lines (off while measuring memory).
pub static KEEP_LOG: AtomicBool = AtomicBool::new(true);

/// Also echo log lines to stderr (`WSGIRT_TEST_LOG=1`), for debugging.
fn echo_log() -> bool {
    static ECHO: OnceLock<bool> = OnceLock::new();
    *ECHO.get_or_init(|| std::env::var_os("WSGIRT_TEST_LOG").is_some())
}

/// The log callback given to the runtime: records each line in [`LOG`].
pub unsafe extern "C" fn log_cb(
    _: *mut c_void,
    level: u32,
    req: *mut c_void,
    msg: *const c_char,
    len: usize,
) {
    let text =
        // SAFETY: the runtime passes `len` readable bytes at `msg`.
        String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(msg.cast::<u8>(), len) })
            .into_owned();
    if echo_log() {
        eprintln!("[log {level} ctx={}] {text}", req as usize);
    }
    if !KEEP_LOG.load(Ordering::Relaxed) {
        return;
    }
    LOG.lock().unwrap_or_else(|e| e.into_inner()).push(LogLine {
        level,
        ctx: req as usize,
        text,
    });
}

/// All log lines (any request) containing `needle`.
pub fn log_lines_with(needle: &str) -> Vec<LogLine> {
    LOG.lock()
        .unwrap()
        .iter()
        .filter(|l| l.text.contains(needle))
        .cloned()
        .collect()
}

/// Log lines of one request.
pub fn log_for(ctx: usize) -> Vec<LogLine> {
    LOG.lock()
        .unwrap()
        .iter()
        .filter(|l| l.ctx == ctx)
        .cloned()
        .collect()
}

/// How many log lines (any request) contain `needle`.
pub fn count(needle: &str) -> usize {
    log_lines_with(needle).len()
}

/// How many of a request's log lines contain `needle`.
pub fn count_for(ctx: usize, needle: &str) -> usize {
    log_for(ctx)
        .iter()
        .filter(|l| l.text.contains(needle))
        .count()
}

/// [`count`] once it reaches `expected` or 5 s have passed: a daemon logs
/// some lines (such as the startup timer's) after the response is sent.
pub fn count_eventually(needle: &str, expected: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n = count(needle);
        if n >= expected || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until a line containing `needle` was logged.
pub fn wait_for_log(needle: &str, timeout: Duration) -> bool {
    let until = Instant::now() + timeout;
    while Instant::now() < until {
        if count(needle) > 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}
