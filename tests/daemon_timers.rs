//! Recycling timers that need the GIL held or a script failing to load:
//! deadlock-timeout and startup-timeout (own test binary, so that holding
//! the GIL does not slow other tests down).

mod daemon_support;

use daemon_support::*;
use std::time::{Duration, Instant};
use wsgirt::capi::daemon::wsgirt_shutdown_reason;

#[test]
fn deadlock_timeout_fires_when_the_gil_is_held() {
    let mut daemon = Daemon::start("deadlock", |o| {
        o.threads = 2;
        o.deadlock_timeout_us = 200_000;
    });
    let target = daemon.target();
    // The probe runs while the GIL is free.
    assert_eq!(get(&target, &Req::app("hello")).status, 200);
    std::thread::sleep(Duration::from_millis(400));
    assert!(daemon.running(), "no deadlock yet:\n{}", log_text());
    let client = std::thread::spawn(move || get(&target, &Req::app("hold_gil:1.0")).text());
    let result = daemon.wait(Duration::from_secs(10));
    assert_eq!(
        result.reason,
        wsgirt_shutdown_reason::WSGIRT_SHUTDOWN_DEADLOCK_TIMEOUT as u32
    );
    assert_eq!(
        count("Daemon process deadlock timer expired, stopping process 'deadlock'."),
        1
    );
    assert_eq!(client.join().unwrap(), "held");
}

#[test]
fn startup_timeout_fires_while_the_script_fails_to_load() {
    let mut daemon = Daemon::start("startup", |o| {
        o.threads = 1;
        o.startup_timeout_us = 300_000;
    });
    let target = daemon.target();
    let started = Instant::now();
    let (status, _) = proxy(
        &target,
        &Req::script(&app("daemon_broken.wsgi")),
        &mut Host::new(Vec::new()),
    );
    assert_eq!(status, WSGIRT_STATUS_SCRIPT_LOAD_FAILED);
    let result = daemon.wait(Duration::from_secs(5));
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(
        result.reason,
        wsgirt_shutdown_reason::WSGIRT_SHUTDOWN_STARTUP_TIMEOUT as u32
    );
    assert_eq!(count("Application startup timer triggered 'startup'."), 1);
    assert_eq!(
        count("Application startup timer expired, stopping process 'startup'."),
        1
    );
    // A script that loads cancels the timer.
    daemon.serve();
    assert_eq!(get(&target, &Req::app("hello")).status, 200);
    assert_eq!(
        count_eventually("Application startup timer cancelled 'startup'.", 1),
        1
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(daemon.running());
}
