//! 100 MiB responses and uploads stream through proxy and daemon without
//! being buffered: the process's peak RSS grows by a bounded amount.
//! (Both sides run in this one process, so the bound covers both.)

mod daemon_support;

use daemon_support::*;
use std::time::Instant;
use wsgirt::daemon::spool;

const MIB: u64 = 1 << 20;

/// Resets VmHWM to the current RSS (Linux ≥ 4.0); false if not possible.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn growth_mib(base_kib: u64) -> u64 {
    vm_kib("VmHWM").saturating_sub(base_kib) / 1024
}

#[test]
fn large_bodies_stream_without_buffering() {
    let daemon = Daemon::start("mem", |o| o.threads = 2);
    let target = daemon.target();
    // Warm up: load the script and grow every reusable buffer once.
    let mut host = Host::new(Vec::new());
    host.keep_body = false;
    let (status, _) = proxy(&target, &Req::app("download:8"), &mut host);
    assert_eq!(status, WSGIRT_STATUS_OK);
    let req = Req::app("upload")
        .env("REQUEST_METHOD", "POST")
        .env("CONTENT_LENGTH", &(8 * MIB).to_string());
    let (status, _) = proxy(
        &target,
        &req,
        &mut Host::with_input(Box::new(ZeroReader(8 * MIB))),
    );
    assert_eq!(status, WSGIRT_STATUS_OK);
    let can_reset = reset_peak();

    // Download.
    let base = vm_kib("VmRSS");
    let started = Instant::now();
    let mut host = Host::new(Vec::new());
    host.keep_body = false;
    let (status, result) = proxy(&target, &Req::app("download:100"), &mut host);
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text());
    let result = result.unwrap();
    assert!(!result.incomplete);
    assert_eq!(result.bytes_written, 100 * MIB);
    assert_eq!(host.response.body_len, 100 * MIB);
    // The host never gets more than response-buffer-size bytes of a
    // `Data` frame at once; a run of spooled blocks is handed over in one
    // write straight from the shared ring (nothing is allocated for it),
    // never more than a ring half.
    let largest = host.response.writes.iter().map(|(n, _)| *n).max().unwrap();
    assert!(largest <= spool::SEGMENT, "largest write {largest}");
    if can_reset {
        let growth = growth_mib(base);
        assert!(growth < 40, "download grew peak RSS by {growth} MiB");
    }
    eprintln!("100 MiB download: {:?}", started.elapsed());

    // Upload.
    reset_peak();
    let base = vm_kib("VmRSS");
    let started = Instant::now();
    let req = Req::app("upload")
        .env("REQUEST_METHOD", "POST")
        .env("CONTENT_LENGTH", &(100 * MIB).to_string());
    let mut host = Host::with_input(Box::new(ZeroReader(100 * MIB)));
    let (status, _) = proxy(&target, &req, &mut host);
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text());
    assert_eq!(host.response.text(), (100 * MIB).to_string());
    assert_eq!(host.bytes_read, 100 * MIB);
    assert!(
        host.max_read <= 256 * 1024,
        "host reads of {} bytes",
        host.max_read
    );
    if can_reset {
        let growth = growth_mib(base);
        assert!(growth < 40, "upload grew peak RSS by {growth} MiB");
    }
    eprintln!("100 MiB upload: {:?}", started.elapsed());
}
