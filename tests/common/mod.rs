//! A minimal in-memory host driving the C API, shared by the Rust
//! integration tests. One runtime per test process (CPython is global).

#![allow(dead_code)]

use std::ffi::{c_char, c_int, c_void};
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use wsgirt::capi::config::*;
use wsgirt::capi::request::*;
use wsgirt::capi::runtime::*;
use wsgirt::capi::status::wsgirt_status;
use wsgirt::capi::version::WSGIRT_ABI_VERSION;

/// Every line logged by the runtime in this process: (level, has_request, text).
pub static LOG: Mutex<Vec<(u32, bool, String)>> = Mutex::new(Vec::new());

unsafe extern "C" fn log_cb(
    _: *mut c_void,
    level: u32,
    req: *mut c_void,
    msg: *const c_char,
    len: usize,
) {
    let text =
        String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(msg.cast::<u8>(), len) })
            .into_owned();
    LOG.lock().unwrap().push((level, !req.is_null(), text));
}

pub struct Runtime(pub *mut wsgirt_runtime);
unsafe impl Send for Runtime {}
unsafe impl Sync for Runtime {}

/// The process's runtime, started on first use with the test apps dir on sys.path.
pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| unsafe {
        let mut cfg = std::ptr::null_mut();
        assert_eq!(wsgirt_config_new(&mut cfg), wsgirt_status::WSGIRT_STATUS_OK);
        wsgirt_config_set_log_callback(cfg, Some(log_cb), std::ptr::null_mut());
        wsgirt_config_set_host_version(cfg, 2, 4, 99);
        let mut rt = std::ptr::null_mut();
        let status = wsgirt_runtime_new(WSGIRT_ABI_VERSION, cfg, &mut rt);
        wsgirt_config_free(cfg);
        assert_eq!(status, wsgirt_status::WSGIRT_STATUS_OK);
        Runtime(rt)
    })
}

/// Path of a test app in tests/apps.
pub fn app(name: &str) -> String {
    let mut p = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    p.push("tests/apps");
    p.push(name);
    p.to_string_lossy().into_owned()
}

/// What a request produced.
#[derive(Default, Debug)]
pub struct Response {
    pub status: u16,
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Bytes received but not stored (big responses).
    pub body_len: u64,
    pub writes: usize,
    pub flushes: usize,
    pub files: Vec<(u64, u64)>,
}

pub struct Host {
    pub input: Box<dyn Read + Send>,
    pub response: Response,
    pub keep_body: bool,
    /// Fail writes after this many bytes (simulated disconnect).
    pub gone_after: Option<u64>,
    pub send_file: bool,
}

impl Host {
    pub fn new(body: Vec<u8>) -> Host {
        Host {
            input: Box::new(std::io::Cursor::new(body)),
            response: Response::default(),
            keep_body: true,
            gone_after: None,
            send_file: true,
        }
    }
}

unsafe extern "C" fn read_cb(ctx: *mut c_void, buf: *mut u8, cap: usize, out: *mut usize) -> u32 {
    let host = unsafe { &mut *ctx.cast::<Host>() };
    let buf = unsafe { std::slice::from_raw_parts_mut(buf, cap) };
    match host.input.read(buf) {
        Ok(n) => {
            unsafe { *out = n };
            0
        }
        Err(_) => 3,
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
    let host = unsafe { &mut *ctx.cast::<Host>() };
    host.response.status = status;
    host.response.status_line =
        String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(line.cast::<u8>(), line_len) })
            .into_owned();
    for pair in unsafe { std::slice::from_raw_parts(headers, n) } {
        let name = unsafe { std::slice::from_raw_parts(pair.name.ptr.cast::<u8>(), pair.name.len) };
        let value =
            unsafe { std::slice::from_raw_parts(pair.value.ptr.cast::<u8>(), pair.value.len) };
        host.response.headers.push((
            String::from_utf8_lossy(name).into_owned(),
            value.iter().map(|&b| b as char).collect(),
        ));
    }
    0
}

unsafe extern "C" fn write_cb(ctx: *mut c_void, data: *const u8, len: usize, flags: u32) -> u32 {
    let host = unsafe { &mut *ctx.cast::<Host>() };
    if let Some(limit) = host.gone_after {
        if host.response.body_len >= limit {
            return 1;
        }
    }
    host.response.writes += 1;
    if flags & WSGIRT_WRITE_FLUSH != 0 {
        host.response.flushes += 1;
    }
    host.response.body_len += len as u64;
    if host.keep_body {
        host.response
            .body
            .extend_from_slice(unsafe { std::slice::from_raw_parts(data, len) });
    }
    0
}

unsafe extern "C" fn send_file_cb(ctx: *mut c_void, fd: c_int, offset: u64, len: u64) -> u32 {
    let host = unsafe { &mut *ctx.cast::<Host>() };
    host.response.files.push((offset, len));
    let mut buf = vec![0u8; len as usize];
    let n = unsafe {
        libc::pread(
            fd,
            buf.as_mut_ptr().cast(),
            len as usize,
            offset as libc::off_t,
        )
    };
    if n < 0 {
        return 3;
    }
    buf.truncate(n as usize);
    host.response.body_len += buf.len() as u64;
    host.response.body.extend_from_slice(&buf);
    0
}

/// A request to run.
pub struct Req<'a> {
    pub group: &'a str,
    pub script: String,
    pub callable: &'a str,
    pub reload: bool,
    pub environ: Vec<(String, String)>,
}

impl<'a> Req<'a> {
    pub fn new(script: &str) -> Req<'a> {
        Req {
            group: "",
            script: app(script),
            callable: "",
            reload: true,
            environ: vec![
                ("REQUEST_METHOD".into(), "GET".into()),
                ("SCRIPT_NAME".into(), "".into()),
                ("PATH_INFO".into(), "/".into()),
                ("QUERY_STRING".into(), "".into()),
                ("SERVER_NAME".into(), "localhost".into()),
                ("SERVER_PORT".into(), "80".into()),
                ("SERVER_PROTOCOL".into(), "HTTP/1.1".into()),
            ],
        }
    }
    pub fn group(mut self, g: &'a str) -> Self {
        self.group = g;
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.environ.retain(|(key, _)| key != k);
        self.environ.push((k.into(), v.into()));
        self
    }
}

fn s(text: &str) -> wsgirt_str {
    wsgirt_str {
        ptr: text.as_ptr().cast(),
        len: text.len(),
    }
}

/// Runs a request; returns the status and, when a response started, its result.
pub fn run(req: &Req<'_>, host: &mut Host) -> (wsgirt_status, Option<wsgirt_request_result>) {
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
        application_group: s(req.group),
        script_path: s(&req.script),
        callable_object: s(req.callable),
        reload_script: req.reload,
        script_mtime: 0,
        environ: pairs.as_ptr(),
        environ_len: pairs.len(),
        log_ctx: 1 as *mut c_void,
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
    let mut result = wsgirt_request_result {
        struct_size: std::mem::size_of::<wsgirt_request_result>(),
        http_status: 0,
        bytes_written: 0,
        client_gone: false,
        incomplete: false,
    };
    let status = unsafe {
        wsgirt_request_run(
            runtime().0,
            &spec,
            &io,
            (host as *mut Host).cast(),
            &mut result,
        )
    };
    let ok = status == wsgirt_status::WSGIRT_STATUS_OK;
    (status, ok.then_some(result))
}

/// Runs a GET and returns the response (asserting a response started).
pub fn get(req: &Req<'_>) -> Response {
    let mut host = Host::new(Vec::new());
    let (status, _) = run(req, &mut host);
    assert_eq!(
        status,
        wsgirt_status::WSGIRT_STATUS_OK,
        "request to {} failed",
        req.script
    );
    host.response
}

/// Log lines containing `needle`.
pub fn log_lines_with(needle: &str) -> Vec<String> {
    LOG.lock()
        .unwrap()
        .iter()
        .filter(|(_, _, t)| t.contains(needle))
        .map(|(_, _, t)| t.clone())
        .collect()
}
