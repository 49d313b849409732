//! Diagnostics through the C API: the registry of requests in flight
//! (`wsgirt_requests_visit`) and stack dumps (`wsgirt_runtime_dump_stacks`):
//! the executing line, the full thread id, and 1,000 dumps without leaking
//! a reference or memory.

mod common;
use common::*;
use std::ffi::c_void;
use std::time::{Duration, Instant};
use wsgirt::capi::diagnostics::*;

/// The requests in flight, as (group, thread id, age µs, request id).
fn in_flight() -> Vec<(String, u64, u64, String)> {
    unsafe extern "C" fn visit(userdata: *mut c_void, info: *const wsgirt_request_info) -> bool {
        // SAFETY: userdata is the Vec below; info is live during the call.
        unsafe {
            let out = &mut *userdata.cast::<Vec<(String, u64, u64, String)>>();
            let info = &*info;
            let text = |s: &wsgirt::capi::request::wsgirt_str| {
                String::from_utf8_lossy(std::slice::from_raw_parts(s.ptr.cast(), s.len))
                    .into_owned()
            };
            out.push((
                text(&info.group),
                info.thread_id,
                info.age_us,
                text(&info.request_id),
            ));
        }
        true
    }
    let mut out: Vec<(String, u64, u64, String)> = Vec::new();
    let mut count = 0usize;
    // SAFETY: a live runtime, a callback matching the contract and its userdata.
    let status = unsafe {
        wsgirt_requests_visit(
            runtime().0,
            Some(visit),
            (&mut out as *mut Vec<_>).cast(),
            &mut count,
        )
    };
    assert_eq!(status, WSGIRT_STATUS_OK);
    assert_eq!(count, out.len());
    out
}

#[test]
fn requests_in_flight_are_visible_without_the_gil() {
    runtime();
    let worker = std::thread::spawn(|| {
        exec_in(
            "registry",
            "import time, threading\nG['ident'] = threading.get_ident()\ntime.sleep(0.6)\nresult = G['ident']",
        )
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let found = loop {
        if let Some(entry) = in_flight().into_iter().find(|r| r.0 == "registry") {
            break entry;
        }
        assert!(Instant::now() < deadline, "request never registered");
        std::thread::sleep(Duration::from_millis(10));
    };
    let ident: u64 = worker.join().unwrap().parse().unwrap();
    assert_eq!(found.1, ident, "thread id is threading.get_ident()");
    assert!(!found.3.is_empty());
    assert!(
        in_flight().iter().all(|r| r.0 != "registry"),
        "gone when done"
    );
}

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn stack_dumps_show_the_current_line_and_leak_nothing() {
    runtime();
    // A Python thread in a sub-interpreter, looping in a known function.
    let started = exec_in(
        "dumps",
        concat!(
            "import threading, time\n",
            "G['stop'] = False\n",
            "def spin():\n",
            "    G['ident'] = threading.get_ident()\n",
            "    while not G['stop']:\n",
            "        time.sleep(0.001)  # the executing line\n",
            "t = threading.Thread(target=spin)\n",
            "t.start()\n",
            "while 'ident' not in G: time.sleep(0.001)\n",
            "G['thread'] = t\n",
            "result = G['ident']",
        ),
    );
    let ident: u64 = started.parse().unwrap();
    let probe = concat!(
        "import gc, sys\n",
        "frame = sys._current_frames()[G['ident']]\n",
        "result = '%d %d' % (sys.getrefcount(frame), len(gc.get_objects()))",
    );
    let measure = || -> (i64, i64) {
        let text = exec_in("dumps", probe);
        let mut parts = text.split(' ').map(|v| v.parse::<i64>().unwrap());
        (parts.next().unwrap(), parts.next().unwrap())
    };

    let dump = || {
        // SAFETY: a live runtime; called without the GIL.
        let status = unsafe { wsgirt_runtime_dump_stacks(runtime().0) };
        assert_eq!(status, WSGIRT_STATUS_OK)
    };
    dump();
    let line = log_lines_with(&format!("Thread {ident} executing file"));
    assert!(!line.is_empty(), "no stack line for thread {ident}");
    assert!(
        line[0].ends_with("executing file \"<string>\", line 6, in spin"),
        "the executing line (6: time.sleep), not the def line: {}",
        line[0]
    );

    for _ in 0..20 {
        dump();
    }
    let (refs_before, objects_before) = measure();
    let rss_before = vm_rss_kib();
    for _ in 0..1000 {
        dump();
    }
    let (refs_after, objects_after) = measure();
    let rss_after = vm_rss_kib();
    exec_in("dumps", "G['stop'] = True\nG['thread'].join()\nresult = 1");
    assert_eq!(refs_after, refs_before, "a frame reference leaked per dump");
    assert!(
        (objects_after - objects_before).abs() < 200,
        "gc objects grew from {objects_before} to {objects_after}"
    );
    assert!(
        rss_after < rss_before + 4 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB over 1,000 dumps"
    );
}
