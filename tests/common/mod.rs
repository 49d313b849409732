//! An in-memory host driving the C API, shared by the Rust integration
//! tests. One runtime per test process (CPython is global): every test
//! binary calls [`runtime`] (or [`runtime_with`] to adjust the
//! configuration first) and runs its requests through [`run`].
//!
//! Every request gets its own `log_ctx` value, so tests running in
//! parallel in one binary can pick out the log lines of their own request
//! ([`log_for`], [`count_for`]).

#![allow(dead_code)]

use std::ffi::{c_char, c_int, c_void};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use wsgirt::capi::config::*;
use wsgirt::capi::request::*;
use wsgirt::capi::runtime::*;
use wsgirt::capi::status::wsgirt_status;
use wsgirt::capi::version::WSGIRT_ABI_VERSION;

pub use wsgirt::capi::status::wsgirt_status::*;

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

pub struct Runtime(pub *mut wsgirt_runtime);
// SAFETY: the runtime handle may be used from any thread (C API contract).
unsafe impl Send for Runtime {}
// SAFETY: as above; every export is safe to call concurrently.
unsafe impl Sync for Runtime {}

static RT: OnceLock<Runtime> = OnceLock::new();

/// The process's runtime, started on first use with the default test
/// configuration (host version 2.4.99, the log callback above).
pub fn runtime() -> &'static Runtime {
    runtime_with(|_| {})
}

/// Like [`runtime`], applying `configure` to the configuration first
/// (only the first call in a process configures anything).
pub fn runtime_with(configure: fn(*mut wsgirt_config)) -> &'static Runtime {
    // SAFETY: a valid config pointer is passed to each setter, and the
    // runtime is created once per process (OnceLock).
    RT.get_or_init(|| unsafe {
        let mut cfg = std::ptr::null_mut();
        assert_eq!(wsgirt_config_new(&mut cfg), WSGIRT_STATUS_OK);
        assert_eq!(
            wsgirt_config_set_log_callback(cfg, Some(log_cb), std::ptr::null_mut()),
            WSGIRT_STATUS_OK
        );
        assert_eq!(
            wsgirt_config_set_host_version(cfg, 2, 4, 99),
            WSGIRT_STATUS_OK
        );
        configure(cfg);
        let mut rt = std::ptr::null_mut();
        let status = wsgirt_runtime_new(WSGIRT_ABI_VERSION, cfg, &mut rt);
        wsgirt_config_free(cfg);
        assert_eq!(status, WSGIRT_STATUS_OK);
        show_panics();
        Runtime(rt)
    })
}

/// The runtime installs a process-wide panic hook that reports panics to
/// the host's log callback only; put the test harness's failure messages
/// back on stderr (and keep the runtime's hook behind it).
pub fn show_panics() {
    let runtime_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        eprintln!(
            "thread '{}' panicked at {}:\n{}",
            thread.name().unwrap_or("<unnamed>"),
            info.location().map_or_else(String::new, |l| l.to_string()),
            info.payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("<non-string panic payload>")
        );
        runtime_hook(info);
    }));
}

/// Path of a test app in tests/apps.
pub fn app(name: &str) -> String {
    let mut p = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    p.push("tests/apps");
    p.push(name);
    p.to_string_lossy().into_owned()
}

/// A fresh, empty directory for this test process (removed first if left over).
pub fn temp_dir(name: &str) -> PathBuf {
    remove_stale_temp_dirs();
    let dir = std::env::temp_dir().join(format!("wsgirt-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Removes the temp dirs of earlier test processes that have exited (the
/// scripts must outlive every request of a process, so each process leaves
/// its own behind).
fn remove_stale_temp_dirs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix("wsgirt-test-") else {
                continue;
            };
            let pid = rest.split('-').next().unwrap_or("");
            if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
}

/// Writes a script file and returns its path as a string.
pub fn write_script(dir: &Path, name: &str, source: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, source).expect("write script");
    path.to_string_lossy().into_owned()
}

/// What a request produced.
#[derive(Default, Debug)]
pub struct Response {
    pub status: u16,
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub start_calls: usize,
    pub body: Vec<u8>,
    /// Body bytes received (also those not stored).
    pub body_len: u64,
    /// Each host write: (length, flushed).
    pub writes: Vec<(usize, bool)>,
    /// Each send-file call: (offset, length).
    pub files: Vec<(u64, u64)>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn flushes(&self) -> usize {
        self.writes.iter().filter(|(_, f)| *f).count()
    }
}

/// Produces `left` bytes of request body without storing them.
pub struct ZeroReader(pub u64);

impl Read for ZeroReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.0) as usize;
        buf[..n].fill(b'z');
        self.0 -= n as u64;
        Ok(n)
    }
}

pub struct Host {
    pub input: Box<dyn Read + Send>,
    pub response: Response,
    /// Store body bytes (off for huge responses).
    pub keep_body: bool,
    /// Writes report `write_error_code` (WSGIRT_IO_CLIENT_GONE unless set)
    /// once this many bytes were received.
    pub gone_after: Option<u64>,
    pub write_error_code: wsgirt_io,
    /// The read callback reports `read_error_code` once this many bytes were read.
    pub read_error_after: Option<u64>,
    pub read_error_code: wsgirt_io,
    /// Offer a send-file callback.
    pub send_file: bool,
    pub read_calls: usize,
    /// Read calls made after the read callback had reported end of body.
    pub reads_after_eof: usize,
    pub bytes_read: u64,
    eof: bool,
}

impl Host {
    pub fn new(body: Vec<u8>) -> Host {
        Host::with_input(Box::new(std::io::Cursor::new(body)))
    }
    pub fn with_input(input: Box<dyn Read + Send>) -> Host {
        Host {
            input,
            response: Response::default(),
            keep_body: true,
            gone_after: None,
            write_error_code: wsgirt_io::WSGIRT_IO_CLIENT_GONE,
            read_error_after: None,
            read_error_code: wsgirt_io::WSGIRT_IO_ERROR,
            send_file: true,
            read_calls: 0,
            reads_after_eof: 0,
            bytes_read: 0,
            eof: false,
        }
    }
}

unsafe extern "C" fn read_cb(ctx: *mut c_void, buf: *mut u8, cap: usize, out: *mut usize) -> u32 {
    // SAFETY: `ctx` is the `&mut Host` that `run_on` passed for this request;
    // the runtime calls back on the request's thread, never re-entrantly.
    let host = unsafe { &mut *ctx.cast::<Host>() };
    host.read_calls += 1;
    if host.eof {
        host.reads_after_eof += 1;
    }
    if host
        .read_error_after
        .is_some_and(|limit| host.bytes_read >= limit)
    {
        return host.read_error_code as u32;
    }
    // SAFETY: the runtime hands a writable buffer of `cap` bytes.
    let buf = unsafe { std::slice::from_raw_parts_mut(buf, cap) };
    match host.input.read(buf) {
        Ok(n) => {
            if n == 0 {
                host.eof = true;
            }
            host.bytes_read += n as u64;
            // SAFETY: `out` points at the runtime's length slot.
            unsafe { *out = n };
            wsgirt_io::WSGIRT_IO_OK as u32
        }
        Err(_) => wsgirt_io::WSGIRT_IO_ERROR as u32,
    }
}

unsafe extern "C" fn start_cb(
    ctx: *mut c_void,
    status: u16,
    line: *const c_char,
    line_len: usize,
    headers: *const wsgirt_pair,
    n: usize,
) -> u32 {
    // SAFETY: as in `read_cb`.
    let host = unsafe { &mut *ctx.cast::<Host>() };
    host.response.start_calls += 1;
    host.response.status = status;
    // SAFETY: `line_len` readable bytes at `line`.
    let line = unsafe { std::slice::from_raw_parts(line.cast::<u8>(), line_len) };
    // Latin-1 bytes to text.
    host.response.status_line = line.iter().map(|&b| b as char).collect();
    let headers = if n == 0 {
        &[][..]
    } else {
        // SAFETY: `n` pairs at `headers`, valid during the call.
        unsafe { std::slice::from_raw_parts(headers, n) }
    };
    for pair in headers {
        // SAFETY: each pair's strings are valid during the call.
        let name = unsafe { std::slice::from_raw_parts(pair.name.ptr.cast::<u8>(), pair.name.len) };
        let value =
            // SAFETY: as above.
            unsafe { std::slice::from_raw_parts(pair.value.ptr.cast::<u8>(), pair.value.len) };
        // Latin-1 bytes to text.
        host.response.headers.push((
            name.iter().map(|&b| b as char).collect(),
            value.iter().map(|&b| b as char).collect(),
        ));
    }
    wsgirt_io::WSGIRT_IO_OK as u32
}

unsafe extern "C" fn write_cb(ctx: *mut c_void, data: *const u8, len: usize, flags: u32) -> u32 {
    // SAFETY: as in `read_cb`.
    let host = unsafe { &mut *ctx.cast::<Host>() };
    if let Some(limit) = host.gone_after {
        if host.response.body_len >= limit {
            return host.write_error_code as u32;
        }
    }
    host.response
        .writes
        .push((len, flags & WSGIRT_WRITE_FLUSH != 0));
    host.response.body_len += len as u64;
    if host.keep_body {
        host.response
            .body
            // SAFETY: `len` readable bytes at `data`, valid during the call.
            .extend_from_slice(unsafe { std::slice::from_raw_parts(data, len) });
    }
    wsgirt_io::WSGIRT_IO_OK as u32
}

unsafe extern "C" fn send_file_cb(ctx: *mut c_void, fd: c_int, offset: u64, len: u64) -> u32 {
    // SAFETY: as in `read_cb`.
    let host = unsafe { &mut *ctx.cast::<Host>() };
    host.response.files.push((offset, len));
    let mut buf = vec![0u8; len as usize];
    // SAFETY: `buf` has room for `len` bytes; `fd` is open during the call.
    let n = unsafe {
        libc::pread(
            fd,
            buf.as_mut_ptr().cast(),
            len as usize,
            offset as libc::off_t,
        )
    };
    if n < 0 {
        return wsgirt_io::WSGIRT_IO_ERROR as u32;
    }
    buf.truncate(n as usize);
    host.response.body_len += buf.len() as u64;
    host.response.body.extend_from_slice(&buf);
    wsgirt_io::WSGIRT_IO_OK as u32
}

static NEXT_CTX: AtomicUsize = AtomicUsize::new(0x1000);

/// A fresh request log context value.
pub fn next_ctx() -> usize {
    NEXT_CTX.fetch_add(1, Ordering::Relaxed)
}

/// A request to run.
#[derive(Clone)]
pub struct Req {
    pub group: String,
    pub script: String,
    pub callable: String,
    pub reload: bool,
    pub environ: Vec<(Vec<u8>, Vec<u8>)>,
    /// This request's `log_ctx` (unique per `Req::new`).
    pub ctx: usize,
}

impl Req {
    /// A GET for a script in tests/apps (or an absolute path).
    pub fn new(script: &str) -> Req {
        let script = if script.starts_with('/') {
            script.to_owned()
        } else {
            app(script)
        };
        let environ = [
            ("REQUEST_METHOD", "GET"),
            ("SCRIPT_NAME", ""),
            ("PATH_INFO", "/"),
            ("QUERY_STRING", ""),
            ("SERVER_NAME", "localhost"),
            ("SERVER_PORT", "80"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
        ];
        Req {
            group: String::new(),
            script,
            callable: String::new(),
            reload: true,
            environ: environ
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
            ctx: next_ctx(),
        }
    }
    pub fn group(mut self, g: &str) -> Self {
        self.group = g.to_owned();
        self
    }
    pub fn callable(mut self, c: &str) -> Self {
        self.callable = c.to_owned();
        self
    }
    pub fn reload(mut self, on: bool) -> Self {
        self.reload = on;
        self
    }
    pub fn query(self, q: &str) -> Self {
        self.env("QUERY_STRING", q)
    }
    pub fn env(self, k: &str, v: &str) -> Self {
        self.env_bytes(k.as_bytes(), v.as_bytes())
    }
    pub fn env_bytes(mut self, k: &[u8], v: &[u8]) -> Self {
        self.environ.retain(|(key, _)| key != k);
        self.environ.push((k.to_vec(), v.to_vec()));
        self
    }
    /// The same request with a new log context.
    pub fn again(&self) -> Self {
        let mut r = self.clone();
        r.ctx = next_ctx();
        r
    }
}

fn s(text: &[u8]) -> wsgirt_str {
    wsgirt_str {
        ptr: text.as_ptr().cast(),
        len: text.len(),
    }
}

/// Runs a request; returns the status and, when a response started, its result.
pub fn run(req: &Req, host: &mut Host) -> (wsgirt_status, Option<wsgirt_request_result>) {
    run_on(runtime(), req, host)
}

/// [`run`] on an explicit runtime.
pub fn run_on(
    rt: &Runtime,
    req: &Req,
    host: &mut Host,
) -> (wsgirt_status, Option<wsgirt_request_result>) {
    let pairs: Vec<wsgirt_pair> = req
        .environ
        .iter()
        .map(|(k, v)| wsgirt_pair {
            name: s(k),
            value: s(v),
        })
        .collect();
    let spec = wsgirt_request_spec {
        struct_size: std::mem::size_of::<wsgirt_request_spec>(),
        application_group: s(req.group.as_bytes()),
        script_path: s(req.script.as_bytes()),
        callable_object: s(req.callable.as_bytes()),
        reload_script: req.reload,
        script_mtime: 0,
        environ: pairs.as_ptr(),
        environ_len: pairs.len(),
        log_ctx: req.ctx as *mut c_void,
    };
    let io = wsgirt_host_io {
        struct_size: std::mem::size_of::<wsgirt_host_io>(),
        read: Some(read_cb),
        start_response: Some(start_cb),
        write: Some(write_cb),
        send_file: if host.send_file {
            Some(send_file_cb)
        } else {
            None
        },
    };
    // Sentinel values: the runtime must overwrite them on success only.
    let mut result = wsgirt_request_result {
        struct_size: std::mem::size_of::<wsgirt_request_result>(),
        http_status: 999,
        bytes_written: u64::MAX,
        client_gone: true,
        incomplete: true,
    };
    let status =
        // SAFETY: every pointer refers to a local that outlives the call, and
        // `host` is only used through `ctx` until the call returns.
        unsafe { wsgirt_request_run(rt.0, &spec, &io, (host as *mut Host).cast(), &mut result) };
    if status != WSGIRT_STATUS_OK {
        assert_eq!(result.http_status, 999, "result written on failure");
        assert_eq!(result.bytes_written, u64::MAX, "result written on failure");
        return (status, None);
    }
    (status, Some(result))
}

/// Runs a request with `body` as its input; returns status, result and host.
pub fn run_body(req: &Req, body: &[u8]) -> (wsgirt_status, Option<wsgirt_request_result>, Host) {
    let req = req.clone().env("CONTENT_LENGTH", &body.len().to_string());
    let mut host = Host::new(body.to_vec());
    let (status, result) = run(&req, &mut host);
    (status, result, host)
}

/// Runs a GET and returns the response (asserting a response started).
pub fn get(req: &Req) -> Response {
    let mut host = Host::new(Vec::new());
    let (status, _) = run(req, &mut host);
    assert_eq!(
        status,
        WSGIRT_STATUS_OK,
        "request to {} failed; log:\n{}",
        req.script,
        log_text(req.ctx)
    );
    host.response
}

/// Runs `code` in tests/apps/exec.wsgi in `group`: the code sees
/// `environ`, `G` (a module-level dict) and `sys`, and sets `result`,
/// whose `str()` is the body.
pub fn exec_in(group: &str, code: &str) -> String {
    let req = Req::new("exec.wsgi")
        .group(group)
        .env("REQUEST_METHOD", "POST");
    let (status, _, host) = run_body(&req, code.as_bytes());
    assert_eq!(
        status,
        WSGIRT_STATUS_OK,
        "exec in group {group:?} failed; log:\n{}",
        log_text(req.ctx)
    );
    assert_eq!(host.response.status, 200, "{}", log_text(req.ctx));
    host.response.text()
}

/// All log lines (any request) containing `needle`.
pub fn log_lines_with(needle: &str) -> Vec<String> {
    LOG.lock()
        .unwrap()
        .iter()
        .filter(|l| l.text.contains(needle))
        .map(|l| l.text.clone())
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

/// How many of a request's log lines contain `needle`.
pub fn count_for(ctx: usize, needle: &str) -> usize {
    log_for(ctx)
        .iter()
        .filter(|l| l.text.contains(needle))
        .count()
}

/// A request's log, for assertion messages.
pub fn log_text(ctx: usize) -> String {
    log_for(ctx)
        .iter()
        .map(|l| format!("  [{}] {}", l.level, l.text))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts that the request logged exactly one traceback (the mod_wsgi
/// header line and Python's "Traceback" line) containing `message`.
pub fn assert_one_traceback(ctx: usize, message: &str) {
    assert_one_exception(ctx, message, true)
}

/// Asserts that the request logged exactly one exception containing
/// `message`; `traceback` says whether it has Python frames (an error the
/// runtime raises itself, outside any Python code, has none: then Python
/// prints no "Traceback" line, as with mod_wsgi).
pub fn assert_one_exception(ctx: usize, message: &str, traceback: bool) {
    let log = log_text(ctx);
    assert_eq!(
        count_for(ctx, "Exception occurred processing WSGI script"),
        1,
        "expected one exception header; log:\n{log}"
    );
    assert_eq!(
        count_for(ctx, "Traceback (most recent call last):"),
        usize::from(traceback),
        "expected {} traceback; log:\n{log}",
        if traceback { "one" } else { "no" }
    );
    assert_eq!(
        count_for(ctx, message),
        1,
        "expected {message:?} once in the log:\n{log}"
    );
    for line in log_for(ctx) {
        if line.text.contains("Traceback") || line.text.contains(message) {
            assert_eq!(line.level, 3, "traceback lines are logged at err level");
        }
    }
}

/// Asserts that the request logged no traceback.
pub fn assert_no_traceback(ctx: usize) {
    let log = log_text(ctx);
    assert_eq!(
        count_for(ctx, "Traceback"),
        0,
        "unexpected traceback; log:\n{log}"
    );
    assert_eq!(
        count_for(ctx, "Exception occurred"),
        0,
        "unexpected exception; log:\n{log}"
    );
}

/// Current resident set size of this process, in KiB.
pub fn vm_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{field} missing from /proc/self/status"))
}
