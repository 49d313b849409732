//! Bounded memory: a 100 MiB streamed response and a 100 MiB upload must
//! not be buffered. The peak resident size during the request (VmHWM after
//! resetting it through /proc/self/clear_refs, and a sampler thread as a
//! cross-check) may grow by far less than the body size.

mod common;
use common::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const MIB: u64 = 1 << 20;
/// Allowed growth of the resident set during a 100 MiB request.
const LIMIT_KIB: u64 = 40 * 1024;

/// The two tests measure the same process: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `f` and returns the peak RSS growth (KiB) while it ran.
fn peak_growth(f: impl FnOnce()) -> u64 {
    let before = vm_kib("VmRSS:");
    // Writing 5 resets VmHWM to the current RSS (Linux 4.0+).
    let hwm_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(vm_kib("VmRSS:"), Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    f();
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let sampled = peak.load(Ordering::Relaxed).max(vm_kib("VmRSS:"));
    let hwm = vm_kib("VmHWM:");
    let peak = if hwm_reset { hwm.max(sampled) } else { sampled };
    eprintln!(
        "RSS before {before} KiB, peak {peak} KiB (VmHWM {hwm} KiB, reset: {hwm_reset}; sampled {sampled} KiB)"
    );
    peak.saturating_sub(before)
}

#[test]
fn streamed_100_mib_response() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Warm up: script loaded, buffers allocated.
    let warm = get(&Req::new("big.wsgi").query("download:2"));
    assert_eq!(warm.body_len, 2 * MIB);

    let req = Req::new("big.wsgi").query("download:100");
    let mut host = Host::new(Vec::new());
    host.keep_body = false;
    let mut outcome = None;
    let growth = peak_growth(|| outcome = Some(run(&req, &mut host)));
    let (status, result) = outcome.unwrap();
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(req.ctx));
    assert_eq!(result.unwrap().bytes_written, 100 * MIB);
    assert_eq!(host.response.body_len, 100 * MIB);
    assert_eq!(host.response.writes.len(), 100);
    assert!(host
        .response
        .writes
        .iter()
        .all(|&(n, flush)| n == MIB as usize && flush));
    assert!(
        growth < LIMIT_KIB,
        "RSS grew by {growth} KiB while streaming 100 MiB"
    );
}

#[test]
fn uploaded_100_mib_body() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (status, _, host) = run_body(
        &Req::new("big.wsgi")
            .query("upload:")
            .env("REQUEST_METHOD", "POST"),
        &vec![b'u'; 100_000],
    );
    assert_eq!(status, WSGIRT_STATUS_OK);
    assert_eq!(host.response.text(), "100000");

    let size = 100 * MIB;
    let req = Req::new("big.wsgi")
        .query("upload:")
        .env("REQUEST_METHOD", "POST")
        .env("CONTENT_LENGTH", &size.to_string());
    let mut host = Host::with_input(Box::new(ZeroReader(size)));
    let mut outcome = None;
    let growth = peak_growth(|| outcome = Some(run(&req, &mut host)));
    let (status, _) = outcome.unwrap();
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(req.ctx));
    assert_eq!(host.response.text(), size.to_string());
    assert_eq!(host.bytes_read, size);
    assert_eq!(host.reads_after_eof, 0);
    assert!(
        growth < LIMIT_KIB,
        "RSS grew by {growth} KiB while reading a 100 MiB upload"
    );
}

/// Thousands of requests of every kind (bodies, errors with tracebacks,
/// sub-interpreters) leave the resident size nearly unchanged: no
/// per-request leak of environ dicts, input or log objects.
#[test]
fn no_leak_per_request() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let batch = |n: usize| {
        for i in 0..n {
            let group = if i % 2 == 0 { "" } else { "leak-sub" };
            let r = get(&Req::new("threads.wsgi").group(group).query("q"));
            assert_eq!(r.status, 200);
            let req = Req::new("input.wsgi")
                .group(group)
                .query("readlines")
                .env("REQUEST_METHOD", "POST");
            let (status, _, _) = run_body(&req, &[b'x'; 3000]);
            assert_eq!(status, WSGIRT_STATUS_OK);
            let req = Req::new("errors.wsgi")
                .group(group)
                .query("iter_after:leak");
            let (status, _) = run(&req, &mut Host::new(Vec::new()));
            assert_eq!(status, WSGIRT_STATUS_OK);
            let req = Req::new("errors.wsgi").group(group).query("call:leak");
            let (status, _) = run(&req, &mut Host::new(Vec::new()));
            assert_eq!(status, WSGIRT_STATUS_APP_ERROR);
        }
    };
    // The test's own log would grow with every traceback: stop keeping it.
    KEEP_LOG.store(false, Ordering::Relaxed);
    batch(2000);
    let before = vm_kib("VmRSS:");
    batch(10_000);
    let after = vm_kib("VmRSS:");
    KEEP_LOG.store(true, Ordering::Relaxed);
    eprintln!("40,000 requests: RSS {before} KiB -> {after} KiB");
    assert!(
        after.saturating_sub(before) < 2 * 1024,
        "RSS grew from {before} KiB to {after} KiB over 40,000 requests"
    );
}

/// A new interpreter serving a plain request has not imported `traceback`
/// (with `linecache`, `tokenize`, `re` and `textwrap` behind it, ~0.5 MiB
/// per interpreter): the set-up imports it only when it is needed.
#[test]
fn interpreter_setup_imports_no_traceback() {
    let req = Req::new("modules.wsgi").group("modules-check");
    let text = get(&req).text();
    let modules: Vec<&str> = text.split(' ').collect();
    assert!(modules.contains(&"threading"), "{text}");
    for heavy in ["traceback", "tokenize", "textwrap"] {
        assert!(!modules.contains(&heavy), "{heavy} imported: {text}");
    }
}
