//! The C API contract: NULL arguments, outputs untouched on failure, the
//! ABI handshake, one runtime per process, status strings, argument
//! validation of the configuration setters and the request spec.

mod common;
use common::*;
use std::ffi::{c_void, CStr};
use std::ptr::{null, null_mut};
use wsgirt::capi::config::*;
use wsgirt::capi::request::*;
use wsgirt::capi::runtime::*;
use wsgirt::capi::status::*;
use wsgirt::capi::version::*;

const ALL_STATUSES: &[(wsgirt_status, &str)] = &[
    (WSGIRT_STATUS_OK, "ok"),
    (WSGIRT_STATUS_NULL_ARG, "required pointer argument was NULL"),
    (WSGIRT_STATUS_INVALID_ARG, "invalid argument"),
    (WSGIRT_STATUS_PANIC, "internal error (panic)"),
    (WSGIRT_STATUS_ABI_MISMATCH, "ABI version mismatch"),
    (WSGIRT_STATUS_WRONG_PROCESS, "called from the wrong process"),
    (
        WSGIRT_STATUS_ALREADY_INITIALIZED,
        "Python already initialised in this process",
    ),
    (WSGIRT_STATUS_SHUTTING_DOWN, "runtime is shutting down"),
    (WSGIRT_STATUS_UNSUPPORTED, "not supported for this input"),
    (
        WSGIRT_STATUS_PYTHON_INIT_FAILED,
        "Python initialisation failed",
    ),
    (
        WSGIRT_STATUS_INTERPRETER_FAILED,
        "interpreter creation failed",
    ),
    (
        WSGIRT_STATUS_SCRIPT_LOAD_FAILED,
        "WSGI script could not be loaded",
    ),
    (
        WSGIRT_STATUS_CALLABLE_NOT_FOUND,
        "WSGI script has no such callable",
    ),
    (WSGIRT_STATUS_APP_ERROR, "application error"),
    (WSGIRT_STATUS_CLIENT_GONE, "client connection closed"),
    (
        WSGIRT_STATUS_REQUEST_TIMEOUT,
        "request interrupted by RequestTimeout",
    ),
    (
        WSGIRT_STATUS_DAEMON_UNAVAILABLE,
        "daemon process unavailable",
    ),
    (WSGIRT_STATUS_DAEMON_TIMEOUT, "daemon process timed out"),
    (WSGIRT_STATUS_DAEMON_FAILED, "daemon process failed"),
    (WSGIRT_STATUS_BODY_TIMEOUT, "request body read timed out"),
];

#[test]
fn status_values_never_change() {
    let values: Vec<u32> = ALL_STATUSES.iter().map(|(s, _)| *s as u32).collect();
    assert_eq!(
        values,
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 100, 101, 201, 202, 300, 301, 302, 400, 401, 402, 403]
    );
    assert_eq!(wsgirt_io::WSGIRT_IO_OK as u32, 0);
    assert_eq!(wsgirt_io::WSGIRT_IO_CLIENT_GONE as u32, 1);
    assert_eq!(wsgirt_io::WSGIRT_IO_TIMEOUT as u32, 2);
    assert_eq!(wsgirt_io::WSGIRT_IO_ERROR as u32, 3);
    assert_eq!(WSGIRT_WRITE_FLUSH, 1);
}

#[test]
fn status_str_for_every_status() {
    for (status, text) in ALL_STATUSES {
        let ptr = wsgirt_status_str(*status as u32);
        assert!(!ptr.is_null());
        // SAFETY: wsgirt_status_str returns a static NUL-terminated string.
        let got = unsafe { CStr::from_ptr(ptr) }.to_str().unwrap();
        assert_eq!(got, *text, "{status:?}");
        // Static: the same pointer every time.
        assert_eq!(ptr, wsgirt_status_str(*status as u32));
    }
    for unknown in [9, 99, 102, 200, 203, 303, 404, 1000, u32::MAX] {
        // SAFETY: as above.
        let got = unsafe { CStr::from_ptr(wsgirt_status_str(unknown)) };
        assert_eq!(got.to_str().unwrap(), "unknown status", "{unknown}");
    }
}

#[test]
fn versions() {
    assert_eq!(wsgirt_version(), WSGIRT_VERSION_NUMBER);
    assert_eq!(wsgirt_abi_version(), WSGIRT_ABI_VERSION);
    assert_eq!(WSGIRT_ABI_VERSION, 1);
}

#[test]
fn config_null_arguments() {
    // SAFETY: each call gets NULL (being tested) or pointers to live locals.
    unsafe {
        assert_eq!(wsgirt_config_new(null_mut()), WSGIRT_STATUS_NULL_ARG);
        wsgirt_config_free(null_mut());
        let null_cfg: *mut wsgirt_config = null_mut();
        let text = "x";
        let p = text.as_ptr().cast();
        assert_eq!(
            wsgirt_config_set_python_home(null_cfg, p, 1),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_config_add_python_path(null_cfg, p, 1),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_config_set_home_directory(null_cfg, p, 1),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_config_add_warnings_option(null_cfg, p, 1),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_config_set_hash_seed(null_cfg, p, 1),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_config_set_optimize(null_cfg, 1),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_config_set_flag(null_cfg, 1, true),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_config_set_process(null_cfg, p, 1, 1, 1),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_config_set_host_version(null_cfg, 2, 4, 0),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_config_set_host_text(null_cfg, 1, p, 1),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_config_set_host_workers(null_cfg, 1, 1),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_config_set_log_callback(null_cfg, None, null_mut()),
            WSGIRT_STATUS_NULL_ARG
        );

        // A live config with NULL strings.
        let mut cfg = null_mut();
        assert_eq!(wsgirt_config_new(&mut cfg), WSGIRT_STATUS_OK);
        assert!(!cfg.is_null());
        assert_eq!(
            wsgirt_config_set_python_home(cfg, null(), 0),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_config_add_python_path(cfg, null(), 3),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_config_set_home_directory(cfg, null(), 3),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_config_add_warnings_option(cfg, null(), 0),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_config_set_hash_seed(cfg, null(), 0),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_config_set_process(cfg, null(), 0, 1, 1),
            WSGIRT_STATUS_NULL_ARG
        );
        wsgirt_config_free(cfg);
    }
}

fn set_seed(cfg: *mut wsgirt_config, seed: &[u8]) -> wsgirt_status {
    // SAFETY: live config and a (ptr, len) pair of a live slice.
    unsafe { wsgirt_config_set_hash_seed(cfg, seed.as_ptr().cast(), seed.len()) }
}

#[test]
fn config_argument_validation() {
    // SAFETY: each call gets a live config and (ptr, len) pairs of live data.
    unsafe {
        let mut cfg = null_mut();
        assert_eq!(wsgirt_config_new(&mut cfg), WSGIRT_STATUS_OK);
        for good in [&b"random"[..], b"0", b"123", b"4294967295"] {
            assert_eq!(set_seed(cfg, good), WSGIRT_STATUS_OK, "{good:?}");
        }
        for bad in [
            &b"abc"[..],
            b"",
            b"-1",
            b"4294967296",
            b"12abc",
            b"Random",
            b"1.5",
            b"\xff",
        ] {
            assert_eq!(set_seed(cfg, bad), WSGIRT_STATUS_INVALID_ARG, "{bad:?}");
        }
        // Above 2 as mod_wsgi (python -OOO); negative is the host's to map.
        for level in [0, 1, 2, 3, i32::MAX] {
            assert_eq!(wsgirt_config_set_optimize(cfg, level), WSGIRT_STATUS_OK);
        }
        for level in [-1, i32::MIN] {
            assert_eq!(
                wsgirt_config_set_optimize(cfg, level),
                WSGIRT_STATUS_INVALID_ARG
            );
        }
        for flag in 1..=11 {
            assert_eq!(wsgirt_config_set_flag(cfg, flag, true), WSGIRT_STATUS_OK);
        }
        for flag in [0, 12, 100, u32::MAX] {
            assert_eq!(
                wsgirt_config_set_flag(cfg, flag, true),
                WSGIRT_STATUS_INVALID_ARG
            );
        }
        let mpm = b"event";
        for which in 1..=3 {
            assert_eq!(
                wsgirt_config_set_host_text(cfg, which, mpm.as_ptr().cast(), mpm.len()),
                WSGIRT_STATUS_OK
            );
        }
        for which in [0, 4, u32::MAX] {
            assert_eq!(
                wsgirt_config_set_host_text(cfg, which, mpm.as_ptr().cast(), mpm.len()),
                WSGIRT_STATUS_INVALID_ARG
            );
        }
        assert_eq!(
            wsgirt_config_set_host_text(cfg, 1, std::ptr::null(), 0),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(wsgirt_config_set_host_workers(cfg, 2, 25), WSGIRT_STATUS_OK);
        for (processes, threads) in [(0, 1), (1, 0), (-1, 5)] {
            assert_eq!(
                wsgirt_config_set_host_workers(cfg, processes, threads),
                WSGIRT_STATUS_INVALID_ARG
            );
        }
        // Strings must be UTF-8.
        let bad = b"/srv/\xff";
        assert_eq!(
            wsgirt_config_add_python_path(cfg, bad.as_ptr().cast(), bad.len()),
            WSGIRT_STATUS_INVALID_ARG
        );
        assert_eq!(
            wsgirt_config_set_home_directory(cfg, bad.as_ptr().cast(), bad.len()),
            WSGIRT_STATUS_INVALID_ARG
        );
        // Strings are (pointer, length) pairs, not NUL-terminated.
        let long = b"/srv/app/extra";
        assert_eq!(
            wsgirt_config_add_python_path(cfg, long.as_ptr().cast(), 8),
            WSGIRT_STATUS_OK
        );
        assert_eq!(
            wsgirt_config_set_log_callback(cfg, None, null_mut()),
            WSGIRT_STATUS_OK
        );
        wsgirt_config_free(cfg);
    }
}

#[test]
fn runtime_new_arguments() {
    let rt = runtime();
    // SAFETY: each call gets NULL (being tested) or pointers to live locals.
    unsafe {
        let mut cfg = null_mut();
        assert_eq!(wsgirt_config_new(&mut cfg), WSGIRT_STATUS_OK);
        let sentinel = 0x5a5a_usize as *mut wsgirt_runtime;

        let mut out = sentinel;
        assert_eq!(
            wsgirt_runtime_new(WSGIRT_ABI_VERSION, null(), &mut out),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(out, sentinel, "output written on failure");
        assert_eq!(
            wsgirt_runtime_new(WSGIRT_ABI_VERSION, cfg, null_mut()),
            WSGIRT_STATUS_NULL_ARG
        );
        for abi in [0, WSGIRT_ABI_VERSION + 1, u32::MAX] {
            let mut out = sentinel;
            assert_eq!(
                wsgirt_runtime_new(abi, cfg, &mut out),
                WSGIRT_STATUS_ABI_MISMATCH
            );
            assert_eq!(out, sentinel);
        }
        // One runtime per process: a second one is refused...
        let mut out = sentinel;
        assert_eq!(
            wsgirt_runtime_new(WSGIRT_ABI_VERSION, cfg, &mut out),
            WSGIRT_STATUS_ALREADY_INITIALIZED
        );
        assert_eq!(out, sentinel);
        wsgirt_config_free(cfg);
        // ...without disturbing the first: it still serves and still logs
        // through its own callback (the refused config had none).
        wsgirt_runtime_free(null_mut());
        let req = Req::new("exec.wsgi").env("REQUEST_METHOD", "POST");
        let (status, _, host) = run_body(
            &req,
            b"environ['wsgi.errors'].write('still logging\\n'); result = 'alive'",
        );
        assert_eq!(status, WSGIRT_STATUS_OK);
        assert_eq!(host.response.text(), "alive");
        assert_eq!(count_for(req.ctx, "still logging"), 1);
        let _ = rt;
    }
}

#[test]
fn runtime_call_arguments() {
    let rt = runtime();
    // SAFETY: each call gets NULL (being tested) or pointers to live locals.
    unsafe {
        let g = "g";
        assert_eq!(
            wsgirt_runtime_prepare_group(null(), g.as_ptr().cast(), 1),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_runtime_prepare_group(rt.0, null(), 1),
            WSGIRT_STATUS_NULL_ARG
        );
        let bad = b"\xff";
        assert_eq!(
            wsgirt_runtime_prepare_group(rt.0, bad.as_ptr().cast(), 1),
            WSGIRT_STATUS_INVALID_ARG
        );
        // NULL with length 0 is the empty group (the main interpreter).
        assert_eq!(
            wsgirt_runtime_prepare_group(rt.0, null(), 0),
            WSGIRT_STATUS_OK
        );
        let path = app("hello.wsgi");
        assert_eq!(
            wsgirt_runtime_import_script(null(), null(), 0, path.as_ptr().cast(), path.len()),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_runtime_import_script(rt.0, null(), 0, null(), 4),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_runtime_import_script(rt.0, null(), 0, bad.as_ptr().cast(), 1),
            WSGIRT_STATUS_INVALID_ARG
        );
        assert_eq!(
            wsgirt_runtime_import_script(rt.0, null(), 0, path.as_ptr().cast(), path.len()),
            WSGIRT_STATUS_OK
        );
    }
}

unsafe extern "C" fn never_read(_: *mut c_void, _: *mut u8, _: usize, _: *mut usize) -> u32 {
    panic!("callback must not be called")
}

unsafe extern "C" fn never_start(
    _: *mut c_void,
    _: u16,
    _: *const std::ffi::c_char,
    _: usize,
    _: *const wsgirt_pair,
    _: usize,
) -> u32 {
    panic!("callback must not be called")
}

unsafe extern "C" fn never_write(_: *mut c_void, _: *const u8, _: usize, _: u32) -> u32 {
    panic!("callback must not be called")
}

fn str_of(s: &str) -> wsgirt_str {
    wsgirt_str {
        ptr: s.as_ptr().cast(),
        len: s.len(),
    }
}

fn sentinel_result() -> wsgirt_request_result {
    wsgirt_request_result {
        struct_size: std::mem::size_of::<wsgirt_request_result>(),
        http_status: 777,
        bytes_written: 12345,
        client_gone: true,
        incomplete: true,
    }
}

fn untouched(r: &wsgirt_request_result) -> bool {
    r.http_status == 777 && r.bytes_written == 12345 && r.client_gone && r.incomplete
}

#[test]
fn request_run_arguments() {
    let rt = runtime();
    let path = app("hello.wsgi");
    let spec = || wsgirt_request_spec {
        struct_size: std::mem::size_of::<wsgirt_request_spec>(),
        application_group: str_of(""),
        script_path: str_of(&path),
        callable_object: str_of(""),
        reload_script: false,
        script_mtime: 0,
        environ: null(),
        environ_len: 0,
        log_ctx: null_mut(),
    };
    let io = || wsgirt_host_io {
        struct_size: std::mem::size_of::<wsgirt_host_io>(),
        read: Some(never_read),
        start_response: Some(never_start),
        write: Some(never_write),
        send_file: None,
    };
    // SAFETY: each call gets NULL (being tested) or pointers to live
    // locals whose strings have the lengths given.
    unsafe {
        let (s, i) = (spec(), io());
        let mut out = sentinel_result();
        assert_eq!(
            wsgirt_request_run(null(), &s, &i, null_mut(), &mut out),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_request_run(rt.0, null(), &i, null_mut(), &mut out),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_request_run(rt.0, &s, null(), null_mut(), &mut out),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_request_run(rt.0, &s, &i, null_mut(), null_mut()),
            WSGIRT_STATUS_NULL_ARG
        );
        assert!(untouched(&out));

        // Size handshakes and required callbacks.
        let mut small = spec();
        small.struct_size -= 1;
        assert_eq!(
            wsgirt_request_run(rt.0, &small, &i, null_mut(), &mut out),
            WSGIRT_STATUS_INVALID_ARG
        );
        let mut small_io = io();
        small_io.struct_size = 0;
        assert_eq!(
            wsgirt_request_run(rt.0, &s, &small_io, null_mut(), &mut out),
            WSGIRT_STATUS_INVALID_ARG
        );
        for which in 0..3 {
            let mut missing = io();
            match which {
                0 => missing.read = None,
                1 => missing.start_response = None,
                _ => missing.write = None,
            }
            assert_eq!(
                wsgirt_request_run(rt.0, &s, &missing, null_mut(), &mut out),
                WSGIRT_STATUS_INVALID_ARG
            );
        }
        // Strings: NULL with a length, and invalid UTF-8 names.
        let mut null_path = spec();
        null_path.script_path = wsgirt_str {
            ptr: null(),
            len: 5,
        };
        assert_eq!(
            wsgirt_request_run(rt.0, &null_path, &i, null_mut(), &mut out),
            WSGIRT_STATUS_INVALID_ARG
        );
        let bad = b"\xff\xfe";
        let mut bad_group = spec();
        bad_group.application_group = wsgirt_str {
            ptr: bad.as_ptr().cast(),
            len: 2,
        };
        assert_eq!(
            wsgirt_request_run(rt.0, &bad_group, &i, null_mut(), &mut out),
            WSGIRT_STATUS_INVALID_ARG
        );
        // environ: NULL array with a length, NULL strings inside.
        let mut null_env = spec();
        null_env.environ_len = 2;
        assert_eq!(
            wsgirt_request_run(rt.0, &null_env, &i, null_mut(), &mut out),
            WSGIRT_STATUS_NULL_ARG
        );
        let pairs = [wsgirt_pair {
            name: wsgirt_str {
                ptr: null(),
                len: 3,
            },
            value: str_of("v"),
        }];
        let mut null_name = spec();
        null_name.environ = pairs.as_ptr();
        null_name.environ_len = 1;
        assert_eq!(
            wsgirt_request_run(rt.0, &null_name, &i, null_mut(), &mut out),
            WSGIRT_STATUS_NULL_ARG
        );
        assert!(untouched(&out), "result written on failure");
    }
}

#[test]
fn request_result_written_on_success_only() {
    // CALLABLE_NOT_FOUND and the like leave *out untouched: common::run
    // asserts that for every failing request; check one here explicitly.
    let req = Req::new("hello.wsgi").callable("missing");
    let (status, result) = run(&req, &mut Host::new(Vec::new()));
    assert_eq!(status, WSGIRT_STATUS_CALLABLE_NOT_FOUND);
    assert!(result.is_none());
    let (status, result) = run(&Req::new("hello.wsgi"), &mut Host::new(Vec::new()));
    assert_eq!(status, WSGIRT_STATUS_OK);
    let result = result.unwrap();
    assert_eq!(result.http_status, 200);
    assert_eq!(result.bytes_written, 13);
    assert!(!result.client_gone && !result.incomplete);
}
