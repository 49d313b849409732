//! Test support for daemon mode: an in-memory host driving
//! `wsgirt_daemon_proxy` (a copy of tests/common's host, extended), daemons
//! served in-process with `wsgirt_daemon_serve`, and fake daemons that
//! speak the wire protocol badly on purpose.
//!
//! One runtime per test process (CPython is global); daemons run on
//! background threads of the test process and share it.

#![allow(dead_code)]

use std::ffi::{c_char, c_int, c_void};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wsgirt::capi::config::*;
use wsgirt::capi::daemon::*;
use wsgirt::capi::request::*;
use wsgirt::capi::runtime::*;
use wsgirt::capi::status::wsgirt_status;
use wsgirt::capi::version::WSGIRT_ABI_VERSION;

pub use wsgirt::capi::status::wsgirt_status::*;

// ---------------------------------------------------------------------------
// Log

#[derive(Clone, Debug)]
pub struct LogLine {
    pub level: u32,
    pub ctx: usize,
    pub text: String,
}

pub static LOG: Mutex<Vec<LogLine>> = Mutex::new(Vec::new());

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
    if std::env::var_os("WSGIRT_TEST_LOG").is_some() {
        eprintln!("[log {level} ctx={}] {text}", req as usize);
    }
    LOG.lock().unwrap_or_else(|e| e.into_inner()).push(LogLine {
        level,
        ctx: req as usize,
        text,
    });
}

/// Installs the log callback without a runtime (worker-only processes).
pub fn install_log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: a valid callback; NULL userdata is never dereferenced.
        let status = unsafe { wsgirt_daemon_set_log_callback(Some(log_cb), std::ptr::null_mut()) };
        assert_eq!(status, WSGIRT_STATUS_OK);
    });
}

/// Lines (any request) containing `needle`.
pub fn log_lines_with(needle: &str) -> Vec<LogLine> {
    LOG.lock()
        .unwrap()
        .iter()
        .filter(|l| l.text.contains(needle))
        .cloned()
        .collect()
}

pub fn count(needle: &str) -> usize {
    log_lines_with(needle).len()
}

/// [`count`] once it reaches `expected` or 5 s have passed: the daemon logs
/// some lines (such as the startup timer's) after the response is sent.
pub fn count_eventually(needle: &str, expected: usize) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let n = count(needle);
        if n >= expected || std::time::Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Lines logged with this request context.
pub fn log_for(ctx: usize) -> Vec<LogLine> {
    LOG.lock()
        .unwrap()
        .iter()
        .filter(|l| l.ctx == ctx)
        .cloned()
        .collect()
}

pub fn log_text() -> String {
    LOG.lock()
        .unwrap()
        .iter()
        .map(|l| format!("  [{} ctx={:#x}] {}", l.level, l.ctx, l.text))
        .collect::<Vec<_>>()
        .join("\n")
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

// ---------------------------------------------------------------------------
// Runtime

pub struct Runtime(pub *mut wsgirt_runtime);
// SAFETY: the runtime handle may be used from any thread (C API contract).
unsafe impl Send for Runtime {}
// SAFETY: as above.
unsafe impl Sync for Runtime {}

/// The process's runtime (the daemon side), started on first use.
pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    // SAFETY: each call gets live pointers to locals; the config is freed once.
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
        let mut rt = std::ptr::null_mut();
        let status = wsgirt_runtime_new(WSGIRT_ABI_VERSION, cfg, &mut rt);
        wsgirt_config_free(cfg);
        assert_eq!(status, WSGIRT_STATUS_OK);
        show_panics();
        Runtime(rt)
    })
}

/// Puts test failure messages back on stderr (the runtime's panic hook
/// only logs through the callback).
pub fn show_panics() {
    let runtime_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        eprintln!(
            "thread '{}' panicked at {}:\n{}",
            std::thread::current().name().unwrap_or("<unnamed>"),
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

pub fn app(name: &str) -> String {
    let mut p = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    p.push("tests/apps");
    p.push(name);
    p.to_string_lossy().into_owned()
}

/// A fresh directory for this test process. Kept short: socket paths
/// must fit in `sun_path`.
pub fn temp_dir(name: &str) -> PathBuf {
    remove_stale_dirs();
    let dir = PathBuf::from(format!("/tmp/wsgirt-d{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Removes directories left by earlier test processes that have exited
/// (a daemon shared by a whole test binary is never dropped).
fn remove_stale_dirs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = std::fs::read_dir("/tmp") else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix("wsgirt-d")
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok())
            else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
}

pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

// ---------------------------------------------------------------------------
// Host

#[derive(Default, Debug)]
pub struct Response {
    pub status: u16,
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub start_calls: usize,
    pub body: Vec<u8>,
    pub body_len: u64,
    /// Each host write: (length, flushed).
    pub writes: Vec<(usize, bool)>,
    /// Each send-file call: (offset, length, descriptor was a regular file).
    pub files: Vec<(u64, u64, bool)>,
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

/// Produces `n` bytes of request body without storing them.
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
    pub keep_body: bool,
    /// Writes report CLIENT_GONE once this many body bytes were received.
    pub gone_after: Option<u64>,
    /// Every write takes this long (a slow client).
    pub write_delay: Option<Duration>,
    /// The read callback fails with this code after this many bytes.
    pub read_error_after: Option<(u64, wsgirt_io)>,
    pub send_file: bool,
    pub read_calls: usize,
    pub bytes_read: u64,
    /// Largest buffer passed to the read callback.
    pub max_read: usize,
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
            write_delay: None,
            read_error_after: None,
            send_file: true,
            read_calls: 0,
            bytes_read: 0,
            max_read: 0,
        }
    }
}

unsafe extern "C" fn read_cb(ctx: *mut c_void, buf: *mut u8, cap: usize, out: *mut usize) -> u32 {
    // SAFETY: `ctx` is the `&mut Host` passed by `proxy`, alive for the call.
    let host = unsafe { &mut *ctx.cast::<Host>() };
    host.read_calls += 1;
    host.max_read = host.max_read.max(cap);
    if let Some((limit, code)) = host.read_error_after {
        if host.bytes_read >= limit {
            return code as u32;
        }
    }
    // SAFETY: the runtime passes `cap` writable bytes at `buf`.
    let buf = unsafe { std::slice::from_raw_parts_mut(buf, cap) };
    match host.input.read(buf) {
        Ok(n) => {
            host.bytes_read += n as u64;
            // SAFETY: `out` is writable per the callback contract.
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
    // SAFETY: `ctx` is the `&mut Host` passed by `proxy`, alive for the call.
    let host = unsafe { &mut *ctx.cast::<Host>() };
    host.response.start_calls += 1;
    host.response.status = status;
    host.response.status_line =
        // SAFETY: the runtime passes `line_len` readable bytes at `line`.
        String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(line.cast::<u8>(), line_len) })
            .into_owned();
    let headers = if n == 0 {
        &[][..]
    } else {
        // SAFETY: `n` pairs at `headers`, valid during the call.
        unsafe { std::slice::from_raw_parts(headers, n) }
    };
    for pair in headers {
        // SAFETY: each pair points at readable bytes during the call.
        let name = unsafe { std::slice::from_raw_parts(pair.name.ptr.cast::<u8>(), pair.name.len) };
        let value =
            // SAFETY: as above.
            unsafe { std::slice::from_raw_parts(pair.value.ptr.cast::<u8>(), pair.value.len) };
        host.response.headers.push((
            name.iter().map(|&b| b as char).collect(),
            value.iter().map(|&b| b as char).collect(),
        ));
    }
    wsgirt_io::WSGIRT_IO_OK as u32
}

unsafe extern "C" fn write_cb(ctx: *mut c_void, data: *const u8, len: usize, flags: u32) -> u32 {
    // SAFETY: `ctx` is the `&mut Host` passed by `proxy`, alive for the call.
    let host = unsafe { &mut *ctx.cast::<Host>() };
    if let Some(limit) = host.gone_after {
        if host.response.body_len >= limit {
            return wsgirt_io::WSGIRT_IO_CLIENT_GONE as u32;
        }
    }
    if let Some(delay) = host.write_delay {
        std::thread::sleep(delay);
    }
    host.response
        .writes
        .push((len, flags & WSGIRT_WRITE_FLUSH != 0));
    host.response.body_len += len as u64;
    if host.keep_body {
        host.response
            .body
            // SAFETY: `len` readable bytes at `data` during the call.
            .extend_from_slice(unsafe { std::slice::from_raw_parts(data, len) });
    }
    wsgirt_io::WSGIRT_IO_OK as u32
}

unsafe extern "C" fn send_file_cb(ctx: *mut c_void, fd: c_int, offset: u64, len: u64) -> u32 {
    // SAFETY: `ctx` is the `&mut Host` passed by `proxy`, alive for the call.
    let host = unsafe { &mut *ctx.cast::<Host>() };
    // SAFETY: fstat into a zeroed local on the descriptor passed for this call.
    let regular = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFREG
    };
    host.response.files.push((offset, len, regular));
    // Move the descriptor's position, as a host using read() would.
    // SAFETY: the descriptor is open during the call.
    unsafe { libc::lseek(fd, 0, libc::SEEK_END) };
    let mut buf = vec![0u8; len as usize];
    // SAFETY: reads at most `len` bytes into `buf`, which has that many.
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

/// A request to proxy.
#[derive(Clone)]
pub struct Req {
    pub group: String,
    pub script: String,
    pub callable: String,
    pub reload: bool,
    pub environ: Vec<(Vec<u8>, Vec<u8>)>,
    pub ctx: usize,
    /// µs since the epoch (0: no queue-timeout check).
    pub queue_start: i64,
}

impl Req {
    /// A GET for tests/apps/daemon_app.wsgi with QUERY_STRING `query`.
    pub fn app(query: &str) -> Req {
        Req::script(&app("daemon_app.wsgi")).query(query)
    }
    pub fn script(path: &str) -> Req {
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
            script: path.to_owned(),
            callable: String::new(),
            reload: true,
            environ: environ
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
            ctx: NEXT_CTX.fetch_add(1, Ordering::Relaxed),
            queue_start: now_us(),
        }
    }
    pub fn query(self, q: &str) -> Self {
        self.env("QUERY_STRING", q)
    }
    pub fn group(mut self, g: &str) -> Self {
        self.group = g.to_owned();
        self
    }
    pub fn callable(mut self, c: &str) -> Self {
        self.callable = c.to_owned();
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.environ.retain(|(key, _)| key != k.as_bytes());
        self.environ
            .push((k.as_bytes().to_vec(), v.as_bytes().to_vec()));
        self
    }
}

/// Where the proxy connects.
#[derive(Clone)]
pub struct Tgt {
    pub name: String,
    pub path: String,
    pub token: [u8; WSGIRT_DAEMON_TOKEN_LEN],
    pub processes: u32,
    pub connect_timeout: Duration,
    pub socket_timeout: Duration,
    pub header_buffer_size: u32,
    pub response_buffer_size: u32,
    /// The worker-side queue-timeout (zero: off).
    pub queue_timeout: Duration,
    /// Answered by the target's `socket_path_cb` (None: no callback).
    pub current_path: Option<String>,
}

/// `socket_path_cb` for tests: the userdata is the `Tgt`'s `current_path`.
unsafe extern "C" fn current_path_cb(userdata: *mut c_void, out: *mut wsgirt_str) -> bool {
    // SAFETY: the userdata is the `String` of the `Tgt` that outlives the proxy call.
    let path = unsafe { &*userdata.cast::<String>() };
    // SAFETY: `out` is writable per the callback's contract.
    unsafe { *out = s(path.as_bytes()) };
    true
}

impl Tgt {
    pub fn new(name: &str, path: &str, token: [u8; WSGIRT_DAEMON_TOKEN_LEN]) -> Tgt {
        // SAFETY: all-zero is a valid value of this C struct.
        let mut c: wsgirt_daemon_target = unsafe { std::mem::zeroed() };
        c.struct_size = std::mem::size_of::<wsgirt_daemon_target>();
        // SAFETY: `c` is a live target with its struct_size set.
        let status = unsafe { wsgirt_daemon_target_init(&mut c) };
        assert_eq!(status, WSGIRT_STATUS_OK);
        Tgt {
            name: name.to_owned(),
            path: path.to_owned(),
            token,
            processes: c.processes,
            connect_timeout: Duration::from_micros(c.connect_timeout_us),
            socket_timeout: Duration::from_secs(20),
            header_buffer_size: c.header_buffer_size,
            response_buffer_size: c.response_buffer_size,
            queue_timeout: Duration::from_micros(c.queue_timeout_us),
            current_path: None,
        }
    }
}

fn s(text: &[u8]) -> wsgirt_str {
    wsgirt_str {
        ptr: text.as_ptr().cast(),
        len: text.len(),
    }
}

pub type Outcome = (wsgirt_status, Option<wsgirt_request_result>);

/// Proxies `req` to `target` through `host`.
pub fn proxy(target: &Tgt, req: &Req, host: &mut Host) -> Outcome {
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
    let c_target = wsgirt_daemon_target {
        struct_size: std::mem::size_of::<wsgirt_daemon_target>(),
        name: s(target.name.as_bytes()),
        socket_path: s(target.path.as_bytes()),
        token: target.token,
        processes: target.processes,
        connect_timeout_us: target.connect_timeout.as_micros() as u64,
        socket_timeout_us: target.socket_timeout.as_micros() as u64,
        header_buffer_size: target.header_buffer_size,
        response_buffer_size: target.response_buffer_size,
        queue_timeout_us: target.queue_timeout.as_micros() as u64,
        socket_path_cb: target
            .current_path
            .as_ref()
            .and(Some(current_path_cb as unsafe extern "C" fn(_, _) -> bool)),
        socket_path_userdata: target
            .current_path
            .as_ref()
            .map_or(std::ptr::null_mut(), |p| {
                (p as *const String).cast_mut().cast()
            }),
    };
    let mut result = wsgirt_request_result {
        struct_size: std::mem::size_of::<wsgirt_request_result>(),
        http_status: 999,
        bytes_written: u64::MAX,
        client_gone: true,
        incomplete: true,
    };
    // SAFETY: every pointer refers to a live local for the duration of the call.
    let status = unsafe {
        wsgirt_daemon_proxy(
            &c_target,
            &spec,
            req.queue_start,
            &io,
            (host as *mut Host).cast(),
            &mut result,
        )
    };
    if status != WSGIRT_STATUS_OK {
        assert_eq!(result.http_status, 999, "result written on failure");
        return (status, None);
    }
    (status, Some(result))
}

/// Proxies `req` with `body` as its input.
pub fn proxy_body(target: &Tgt, req: &Req, body: &[u8]) -> (Outcome, Host) {
    let req = req
        .clone()
        .env("REQUEST_METHOD", "POST")
        .env("CONTENT_LENGTH", &body.len().to_string());
    let mut host = Host::new(body.to_vec());
    let outcome = proxy(target, &req, &mut host);
    (outcome, host)
}

/// Proxies a GET and returns the response, asserting it started.
pub fn get(target: &Tgt, req: &Req) -> Response {
    let mut host = Host::new(Vec::new());
    let (status, result) = proxy(target, req, &mut host);
    assert_eq!(status, WSGIRT_STATUS_OK, "log:\n{}", log_text());
    assert!(!result.unwrap().incomplete, "log:\n{}", log_text());
    host.response
}

// ---------------------------------------------------------------------------
// In-process daemons

/// Options for `wsgirt_daemon_serve`, with mod_wsgi's defaults.
pub fn default_options() -> wsgirt_daemon_options {
    // SAFETY: all-zero is a valid value of this C struct.
    let mut o: wsgirt_daemon_options = unsafe { std::mem::zeroed() };
    o.struct_size = std::mem::size_of::<wsgirt_daemon_options>();
    // SAFETY: `o` is live options with their struct_size set.
    let status = unsafe { wsgirt_daemon_options_init(&mut o) };
    assert_eq!(status, WSGIRT_STATUS_OK);
    o
}

pub type Served = (wsgirt_status, wsgirt_daemon_result);

/// A daemon process group served on a background thread of this process.
pub struct Daemon {
    pub name: &'static str,
    pub dir: PathBuf,
    pub path: String,
    pub token: [u8; WSGIRT_DAEMON_TOKEN_LEN],
    listener: OwnedFd,
    stop_write: Option<OwnedFd>,
    handle: Option<JoinHandle<Served>>,
    configure: fn(&mut wsgirt_daemon_options),
}

fn new_token() -> [u8; WSGIRT_DAEMON_TOKEN_LEN] {
    let mut token = [0u8; WSGIRT_DAEMON_TOKEN_LEN];
    // SAFETY: `token` has WSGIRT_DAEMON_TOKEN_LEN writable bytes.
    let status = unsafe { wsgirt_daemon_token_new(token.as_mut_ptr()) };
    assert_eq!(status, WSGIRT_STATUS_OK);
    token
}

impl Daemon {
    /// Binds a socket in a fresh directory and serves it with the default
    /// options adjusted by `configure` (socket-timeout 20 s unless set).
    pub fn start(name: &'static str, configure: fn(&mut wsgirt_daemon_options)) -> Daemon {
        runtime();
        let dir = temp_dir(name);
        let path = dir.join("d.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        let mut daemon = Daemon {
            name,
            dir,
            path: path.to_string_lossy().into_owned(),
            token: new_token(),
            listener: OwnedFd::from(listener),
            stop_write: None,
            handle: None,
            configure,
        };
        daemon.serve();
        daemon
    }

    /// (Re)starts serving on the same listener (like a respawned process).
    pub fn serve(&mut self) {
        assert!(self.handle.is_none(), "already serving");
        let mut fds = [0 as c_int; 2];
        // SAFETY: `fds` has room for two descriptors.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
        assert_eq!(rc, 0);
        let (stop_read, stop_write) =
            // SAFETY: two new descriptors owned by nobody else.
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        self.stop_write = Some(stop_write);
        let mut options = default_options();
        options.socket_timeout_us = 20_000_000;
        options.token = self.token;
        (self.configure)(&mut options);
        let name: &'static str = self.name;
        let listen_fd = self.listener.as_raw_fd();
        let rt = runtime().0 as usize;
        struct SendOptions(wsgirt_daemon_options);
        // The options hold only a pointer to the 'static name.
        // SAFETY: only a pointer to a static string makes it !Send.
        unsafe impl Send for SendOptions {}
        let options = SendOptions(options);
        self.handle = Some(
            std::thread::Builder::new()
                .name(format!("serve-{name}"))
                .spawn(move || {
                    let options = options;
                    let mut options = options.0;
                    options.name = s(name.as_bytes());
                    let mut result = wsgirt_daemon_result {
                        struct_size: std::mem::size_of::<wsgirt_daemon_result>(),
                        reason: 999,
                        requests: 0,
                        active_requests: 0,
                    };
                    // SAFETY: the runtime outlives the test process; the options and result are live locals.
                    let status = unsafe {
                        wsgirt_daemon_serve(
                            rt as *const wsgirt_runtime,
                            listen_fd,
                            stop_read.as_raw_fd(),
                            &options,
                            &mut result,
                        )
                    };
                    drop(stop_read);
                    (status, result)
                })
                .unwrap(),
        );
    }

    pub fn target(&self) -> Tgt {
        Tgt::new(self.name, &self.path, self.token)
    }

    /// Writes a byte to the stop pipe, as the host's signal handlers do.
    pub fn signal(&self, byte: u8) {
        let fd = self.stop_write.as_ref().expect("serving").as_raw_fd();
        // SAFETY: a one-byte write from a local buffer.
        let n = unsafe { libc::write(fd, [byte].as_ptr().cast(), 1) };
        assert_eq!(n, 1);
    }

    /// Closes the write end of the stop pipe.
    pub fn close_stop_pipe(&mut self) {
        self.stop_write = None;
    }

    pub fn running(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// Waits for `wsgirt_daemon_serve` to return (panics after `timeout`).
    pub fn wait(&mut self, timeout: Duration) -> wsgirt_daemon_result {
        let handle = self.handle.take().expect("serving");
        let until = Instant::now() + timeout;
        while !handle.is_finished() {
            assert!(
                Instant::now() < until,
                "daemon '{}' did not stop; log:\n{}",
                self.name,
                log_text()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let (status, result) = handle.join().expect("serve thread");
        assert_eq!(status, WSGIRT_STATUS_OK);
        self.stop_write = None;
        result
    }

    pub fn listener_fd(&self) -> RawFd {
        self.listener.as_raw_fd()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.handle.is_some() && self.stop_write.is_some() {
            self.signal(b'S');
            if let Some(handle) = self.handle.take() {
                let _ = handle.join();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------
// Fake daemons (wire-level tests, no Python involved)

/// What a fake daemon does on one connection, after reading the preamble
/// and the Request frame.
pub enum Act {
    Send(Vec<u8>),
    /// Send bytes with a descriptor (SCM_RIGHTS).
    SendFd(Vec<u8>, RawFd),
    /// Read one frame from the worker and record it.
    Expect,
    Sleep(Duration),
}

/// A fake daemon accepting one connection per script, in order.
pub struct Fake {
    pub dir: PathBuf,
    pub path: String,
    /// Frames read from the worker (Expect), as (kind, payload).
    pub received: std::sync::Arc<Mutex<Vec<Frame>>>,
    handle: Option<JoinHandle<()>>,
}

/// A frame read by a fake daemon: (kind, payload).
pub type Frame = (u8, Vec<u8>);

fn read_frame(stream: &mut UnixStream) -> std::io::Result<Frame> {
    let mut header = [0u8; 8];
    stream.read_exact(&mut header)?;
    let len = u32::from_le_bytes(header[4..8].try_into().unwrap()) as usize;
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload)?;
    Ok((header[0], payload))
}

fn send_with_fd(stream: &UnixStream, bytes: &[u8], fd: RawFd) {
    // SAFETY: sendmsg with a local iovec over `bytes` and a control buffer holding one descriptor.
    unsafe {
        let mut iov = libc::iovec {
            iov_base: bytes.as_ptr() as *mut c_void,
            iov_len: bytes.len(),
        };
        let mut control = [0u64; 4];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(4) as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(4) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<c_int>(), fd);
        assert_eq!(
            libc::sendmsg(stream.as_raw_fd(), &msg, 0),
            bytes.len() as isize
        );
    }
}

impl Fake {
    pub fn start(name: &str, connections: Vec<Vec<Act>>) -> Fake {
        let dir = temp_dir(name);
        let path = dir.join("f.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        let received = std::sync::Arc::new(Mutex::new(Vec::new()));
        let rec = received.clone();
        let handle = std::thread::spawn(move || {
            for acts in connections {
                let Ok((mut stream, _)) = listener.accept() else {
                    return;
                };
                let mut preamble = [0u8; 40];
                if stream.read_exact(&mut preamble).is_err() {
                    continue;
                }
                // Request frame.
                if read_frame(&mut stream).is_err() {
                    continue;
                }
                for act in acts {
                    match act {
                        Act::Send(bytes) => {
                            let _ = std::io::Write::write_all(&mut stream, &bytes);
                        }
                        Act::SendFd(bytes, fd) => send_with_fd(&stream, &bytes, fd),
                        Act::Expect => {
                            if let Ok(frame) = read_frame(&mut stream) {
                                rec.lock().unwrap().push(frame);
                            }
                        }
                        Act::Sleep(d) => std::thread::sleep(d),
                    }
                }
            }
        });
        Fake {
            path: path.to_string_lossy().into_owned(),
            dir,
            received,
            handle: Some(handle),
        }
    }

    pub fn target(&self) -> Tgt {
        Tgt::new("fake", &self.path, [7; WSGIRT_DAEMON_TOKEN_LEN])
    }

    pub fn join(mut self) -> Vec<Frame> {
        if let Some(h) = self.handle.take() {
            h.join().unwrap();
        }
        std::mem::take(&mut *self.received.lock().unwrap())
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Encoders for fake daemon frames.
pub mod frames {
    use wsgirt::daemon::protocol::{EndOutcome, Frame};

    pub fn start(status: u16, headers: &[(&str, &str)]) -> Vec<u8> {
        Frame::Start {
            status,
            status_line: format!("{status} OK").into_bytes(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
        }
        .encode()
    }
    pub fn data(bytes: &[u8], flush: bool) -> Vec<u8> {
        Frame::Data {
            data: bytes.to_vec(),
            flush,
        }
        .encode()
    }
    pub fn end(outcome: EndOutcome) -> Vec<u8> {
        Frame::End {
            outcome,
            incomplete: false,
            status: 200,
            bytes_written: 0,
        }
        .encode()
    }
    pub fn read(n: u32) -> Vec<u8> {
        Frame::Read(n).encode()
    }
    pub fn file(offset: u64, len: u64) -> Vec<u8> {
        Frame::File { offset, len }.encode()
    }
}

/// A file with known contents, for file_wrapper tests.
pub fn data_file(dir: &Path, name: &str, len: usize) -> (String, Vec<u8>) {
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let path = dir.join(name);
    std::fs::write(&path, &data).unwrap();
    (path.to_string_lossy().into_owned(), data)
}

/// Current value of a /proc/self/status field, in KiB.
pub fn vm_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{field} missing from /proc/self/status"))
}

/// Keeps `fd` from being closed when dropped elsewhere (helper for raw fds).
pub fn leak(fd: OwnedFd) -> RawFd {
    fd.into_raw_fd()
}
