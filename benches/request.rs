//! Micro-benchmarks of the request path through the C API, with a host that
//! does nothing (so the figure is the runtime's own cost):
//! - `hello`: one hello-world request (environ of 20 CGI variables,
//!   `start_response`, a one-item list body);
//! - `environ`: a request whose app only reads its environ and returns an
//!   empty body (the environ-building share of `hello`).
//!
//! Run: `cargo bench --bench request` (release profile). Prints ns per
//! request, best and median of several rounds. Results: docs/performance.md.

use std::ffi::{c_char, c_void};
use std::time::Instant;
use wsgirt::capi::config::*;
use wsgirt::capi::request::*;
use wsgirt::capi::runtime::*;
use wsgirt::capi::version::WSGIRT_ABI_VERSION;

unsafe extern "C" fn read_cb(_: *mut c_void, _: *mut u8, _: usize, out: *mut usize) -> u32 {
    // SAFETY: `out` is valid per the C API contract.
    unsafe { *out = 0 };
    0
}

unsafe extern "C" fn start_cb(
    _: *mut c_void,
    _: u16,
    _: *const c_char,
    _: usize,
    _: *const wsgirt_pair,
    _: usize,
) -> u32 {
    0
}

unsafe extern "C" fn write_cb(ctx: *mut c_void, _: *const u8, len: usize, _: u32) -> u32 {
    // SAFETY: ctx is the u64 counter passed by `bench`.
    unsafe { *ctx.cast::<u64>() += len as u64 };
    0
}

unsafe extern "C" fn log_cb(
    _: *mut c_void,
    _: u32,
    _: *mut c_void,
    msg: *const c_char,
    len: usize,
) {
    // SAFETY: the runtime passes `len` bytes at `msg`.
    let text = unsafe { std::slice::from_raw_parts(msg.cast::<u8>(), len) };
    eprintln!("{}", String::from_utf8_lossy(text));
}

fn s(text: &str) -> wsgirt_str {
    wsgirt_str {
        ptr: text.as_ptr().cast(),
        len: text.len(),
    }
}

const ENVIRON: &[(&str, &str)] = &[
    ("REQUEST_METHOD", "GET"),
    ("SCRIPT_NAME", ""),
    ("PATH_INFO", "/"),
    ("QUERY_STRING", ""),
    ("SERVER_NAME", "127.0.0.1"),
    ("SERVER_PORT", "8000"),
    ("SERVER_PROTOCOL", "HTTP/1.1"),
    ("SERVER_SOFTWARE", "Apache/2.4.71 (Debian)"),
    ("SERVER_ADDR", "127.0.0.1"),
    ("REMOTE_ADDR", "127.0.0.1"),
    ("REMOTE_PORT", "51234"),
    ("DOCUMENT_ROOT", "/var/www/html"),
    ("REQUEST_SCHEME", "http"),
    ("SCRIPT_FILENAME", "/srv/app.wsgi"),
    ("REQUEST_URI", "/"),
    ("GATEWAY_INTERFACE", "CGI/1.1"),
    ("HTTP_HOST", "127.0.0.1:8000"),
    ("HTTP_USER_AGENT", "wrk"),
    ("HTTP_ACCEPT", "*/*"),
    ("mod_wsgi.request_id", "YWJjZGVmZ2hpams"),
];

fn bench(
    rt: *const wsgirt_runtime,
    group: &str,
    script: &str,
    rounds: usize,
    per_round: usize,
) -> (f64, f64) {
    let pairs: Vec<wsgirt_pair> = ENVIRON
        .iter()
        .map(|(k, v)| wsgirt_pair {
            name: s(k),
            value: s(v),
        })
        .collect();
    let spec = wsgirt_request_spec {
        struct_size: std::mem::size_of::<wsgirt_request_spec>(),
        application_group: s(group),
        script_path: s(script),
        callable_object: s(""),
        reload_script: true,
        script_mtime: 1,
        environ: pairs.as_ptr(),
        environ_len: pairs.len(),
        log_ctx: std::ptr::null_mut(),
    };
    let io = wsgirt_host_io {
        struct_size: std::mem::size_of::<wsgirt_host_io>(),
        read: Some(read_cb),
        start_response: Some(start_cb),
        write: Some(write_cb),
        send_file: None,
    };
    let mut written = 0u64;
    let mut run = || {
        let mut result = wsgirt_request_result {
            struct_size: std::mem::size_of::<wsgirt_request_result>(),
            http_status: 0,
            bytes_written: 0,
            client_gone: false,
            incomplete: false,
        };
        // SAFETY: all pointers are live for the call.
        let status = unsafe {
            wsgirt_request_run(
                rt,
                &spec,
                &io,
                (&mut written as *mut u64).cast(),
                &mut result,
            )
        };
        assert_eq!(status as u32, 0);
    };
    for _ in 0..per_round {
        run();
    }
    let mut times: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_round {
                run();
            }
            start.elapsed().as_nanos() as f64 / per_round as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[0], times[times.len() / 2])
}

fn main() {
    let dir = std::env::temp_dir().join(format!("wsgirt-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hello = dir.join("hello.wsgi");
    std::fs::write(
        &hello,
        "BODY = b'Hello world!\\n'\nHEADERS = [('Content-Type', 'text/plain'), ('Content-Length', str(len(BODY)))]\n\
         def application(environ, start_response):\n    start_response('200 OK', HEADERS)\n    return [BODY]\n",
    )
    .unwrap();
    // The same app with one no-op event subscriber (issue #5: a subscriber
    // may cost at most 10% of `hello`).
    let subscribed = dir.join("subscribed.wsgi");
    std::fs::write(
        &subscribed,
        "import mod_wsgi\ndef on_event(name, **event):\n    pass\nmod_wsgi.subscribe_events(on_event)\n\
         BODY = b'Hello world!\\n'\nHEADERS = [('Content-Type', 'text/plain'), ('Content-Length', str(len(BODY)))]\n\
         def application(environ, start_response):\n    start_response('200 OK', HEADERS)\n    return [BODY]\n",
    )
    .unwrap();
    let environ = dir.join("environ.wsgi");
    std::fs::write(
        &environ,
        "def application(environ, start_response):\n    start_response('200 OK', [])\n    return []\n",
    )
    .unwrap();
    // SAFETY: single-threaded set-up with valid pointers.
    let rt = unsafe {
        let mut cfg = std::ptr::null_mut();
        wsgirt_config_new(&mut cfg);
        wsgirt_config_set_log_callback(cfg, Some(log_cb), std::ptr::null_mut());
        let mut rt = std::ptr::null_mut();
        let status = wsgirt_runtime_new(WSGIRT_ABI_VERSION, cfg, &mut rt);
        wsgirt_config_free(cfg);
        assert_eq!(status as u32, 0, "runtime start");
        rt
    };
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let per_round: usize = std::env::var("PER_ROUND")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    // The subscriber comparison runs both sides in sub-interpreters (the
    // subscriber lives in its own group so it sees only its own requests).
    for (name, group, script) in [
        ("hello", "", &hello),
        ("environ", "", &environ),
        ("hello-group", "plain", &hello),
        ("hello-subscribed", "subscribed", &subscribed),
    ] {
        if std::env::var("CASES").is_ok_and(|only| !only.split(',').any(|c| c == name)) {
            continue;
        }
        let (best, median) = bench(rt, group, &script.to_string_lossy(), rounds, per_round);
        println!("{name:16} best {best:8.0} ns/request   median {median:8.0} ns/request   ({rounds} rounds x {per_round})");
    }
    // SAFETY: no request is running.
    unsafe { wsgirt_runtime_free(rt) };
    let _ = std::fs::remove_dir_all(&dir);
}
