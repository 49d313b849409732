//! Daemon mode end to end inside one test process: `wsgirt_daemon_serve`
//! runs on background threads (the daemon side, with the runtime), and
//! `wsgirt_daemon_proxy` is driven from test threads with an in-memory host
//! (the worker side).

mod daemon_support;

use daemon_support::*;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use wsgirt::capi::daemon::*;
use wsgirt::capi::request::wsgirt_io;

/// One daemon shared by the tests that do not stop it.
fn shared() -> Tgt {
    static DAEMON: OnceLock<Daemon> = OnceLock::new();
    DAEMON
        .get_or_init(|| {
            Daemon::start("shared", |o| {
                o.threads = 4;
            })
        })
        .target()
}

#[test]
fn hello_world() {
    let target = shared();
    let req = Req::app("hello");
    let response = get(&target, &req);
    assert_eq!(response.status, 200);
    assert_eq!(response.status_line, "200 OK");
    assert_eq!(response.text(), "Hello world!\n");
    assert_eq!(response.header("Content-Length"), Some("13"));
    assert_eq!(response.header("Content-Type"), Some("text/plain"));
    assert_eq!(response.start_calls, 1);
    assert!(log_for(req.ctx).is_empty(), "{}", log_text());
}

#[test]
fn daemon_adds_its_environ_keys() {
    let target = shared();
    let text = get(
        &target,
        &Req::app("environ:mod_wsgi.daemon_start,mod_wsgi.script_start,REQUEST_METHOD"),
    )
    .text();
    assert!(text.contains("('REQUEST_METHOD', 'GET')"), "{text}");
    assert!(!text.contains("None"), "{text}");
    // mod_wsgi's connection counters, added by the worker.
    let text = get(
        &target,
        &Req::app("environ:mod_wsgi.daemon_connects,mod_wsgi.daemon_restarts")
            .env("mod_wsgi.daemon_restarts", "99"),
    )
    .text();
    assert_eq!(
        text,
        "[('mod_wsgi.daemon_connects', '1'), ('mod_wsgi.daemon_restarts', '0')]"
    );
}

#[test]
fn request_bodies_are_pulled_on_demand() {
    let target = shared();
    let body = b"abc\ndefgh\nij";
    let cases = [
        ("all", r"[b'abc\ndefgh\nij', b'']"),
        ("n", r"[b'abc', b'\nde', b'', b'fgh\nij', b'']"),
        ("lines", r"[b'abc\n', b'defgh\n', b'ij']"),
        ("readline", r"[b'abc\n', b'defg', b'h\n', b'ij']"),
        ("iter", r"[b'abc\n', b'defgh\n', b'ij']"),
    ];
    for (mode, expected) in cases {
        let ((status, result), host) =
            proxy_body(&target, &Req::app(&format!("read:{mode}")), body);
        assert_eq!(status, WSGIRT_STATUS_OK, "{mode}: {}", log_text());
        assert!(!result.unwrap().incomplete);
        assert_eq!(host.response.text(), expected, "mode {mode}");
    }
    // An application that never reads its body: the host is never asked.
    let ((status, _), host) = proxy_body(&target, &Req::app("read:none"), b"unread body");
    assert_eq!(status, WSGIRT_STATUS_OK);
    assert_eq!(host.response.text(), "None");
    assert_eq!(
        host.read_calls, 0,
        "the body is only read when the application reads it"
    );
    // A larger upload, read in 64 KiB chunks by the application.
    let big = vec![b'q'; 3 << 20];
    let ((status, _), host) = proxy_body(&target, &Req::app("upload"), &big);
    assert_eq!(status, WSGIRT_STATUS_OK);
    assert_eq!(host.response.text(), (3 << 20).to_string());
    assert_eq!(host.bytes_read, 3 << 20);
}

#[test]
fn read_errors_reach_the_application() {
    let target = shared();
    let req = Req::app("upload")
        .env("REQUEST_METHOD", "POST")
        .env("CONTENT_LENGTH", "1000000");
    let mut host = Host::with_input(Box::new(ZeroReader(1_000_000)));
    host.read_error_after = Some((100_000, wsgirt_io::WSGIRT_IO_TIMEOUT));
    let (status, _) = proxy(&target, &req, &mut host);
    // The application did not catch the IOError (the reason is in its
    // traceback) and the daemon ended without a response: a body read that
    // timed out is mod_wsgi's 408, with the worker's line.
    assert_eq!(status, WSGIRT_STATUS_BODY_TIMEOUT);
    assert!(wait_for_log(
        "request data read error: The timeout specified has expired.",
        Duration::from_secs(5)
    ));
    assert!(wait_for_log(
        "WSGIRT0412: mod_wsgi (pid=",
        Duration::from_secs(5)
    ));
    assert!(wait_for_log(
        "Request data read error when proxying data to daemon process: The timeout specified has expired.",
        Duration::from_secs(5)
    ));
}

#[test]
fn streamed_responses_keep_their_flushes() {
    let target = shared();
    let response = get(&target, &Req::app("stream:5"));
    assert_eq!(response.text(), "block0;block1;block2;block3;block4;");
    assert_eq!(response.flushes(), 5, "{:?}", response.writes);
    // A list is sent without flushes (and may be coalesced).
    let response = get(&target, &Req::app("list"));
    assert_eq!(response.body.len(), 300);
    assert_eq!(response.flushes(), 0, "{:?}", response.writes);
    let response = get(&target, &Req::app("write"));
    assert_eq!(response.text(), "written;returned");
    let response = get(&target, &Req::app("empty"));
    assert_eq!(response.status, 204);
    assert_eq!(response.header("X-Empty"), Some("yes"));
    assert!(response.body.is_empty());
}

#[test]
fn file_wrapper_passes_the_descriptor() {
    let target = shared();
    let dir = temp_dir("files");
    let (file, data) = data_file(&dir, "data.bin", 100_000);
    let response = get(&target, &Req::app("file").env("FILE", &file));
    assert_eq!(response.files, vec![(0, 100_000, true)]);
    assert_eq!(response.body, data);
    assert_eq!(response.header("Content-Length"), Some("100000"));
    let response = get(&target, &Req::app("file:1000").env("FILE", &file));
    assert_eq!(response.files, vec![(1000, 99_000, true)]);
    assert_eq!(response.body, &data[1000..]);
    // Without a send-file callback the worker copies the bytes.
    let mut host = Host::new(Vec::new());
    host.send_file = false;
    let (status, result) = proxy(&target, &Req::app("file:10").env("FILE", &file), &mut host);
    assert_eq!(status, WSGIRT_STATUS_OK);
    assert_eq!(result.unwrap().bytes_written, 99_990);
    assert!(host.response.files.is_empty());
    assert_eq!(host.response.body, &data[10..]);
}

#[test]
fn passed_descriptors_have_their_own_offset() {
    // The host moves the passed descriptor's position (as a host using
    // read() would); the application's descriptor must not move.
    let daemon = Daemon::start("fileoff", |o| o.threads = 1);
    let (file, data) = data_file(&daemon.dir, "data.bin", 5000);
    let response = get(
        &daemon.target(),
        &Req::app("file_keep:123").env("FILE", &file),
    );
    assert_eq!(response.body, &data[123..]);
    assert_eq!(get(&daemon.target(), &Req::app("file_pos")).text(), "123");
}

#[test]
fn application_errors_are_forwarded_and_logged_once() {
    let target = shared();
    let (status, result) = proxy(
        &target,
        &Req::app("raise:tok-e1"),
        &mut Host::new(Vec::new()),
    );
    assert_eq!(status, WSGIRT_STATUS_APP_ERROR);
    assert!(result.is_none());
    assert_eq!(
        count("RuntimeError: daemon boom tok-e1"),
        1,
        "{}",
        log_text()
    );
    let lines = log_lines_with("Exception occurred processing WSGI script");
    assert!(lines.iter().any(|l| l.text.contains("daemon_app.wsgi")));
    // Failing after the response started: the response is incomplete.
    let mut host = Host::new(Vec::new());
    let (status, result) = proxy(&target, &Req::app("raise_after:tok-e2"), &mut host);
    assert_eq!(status, WSGIRT_STATUS_OK);
    let result = result.unwrap();
    assert!(result.incomplete);
    assert_eq!(result.http_status, 200);
    assert_eq!(host.response.text(), "partial");
    assert_eq!(count("ValueError: daemon boom after tok-e2"), 1);
}

#[test]
fn missing_callable_and_broken_scripts() {
    let target = shared();
    let (status, _) = proxy(
        &target,
        &Req::app("hello").callable("nope"),
        &mut Host::new(Vec::new()),
    );
    assert_eq!(status, WSGIRT_STATUS_CALLABLE_NOT_FOUND);
    assert!(count("does not contain WSGI application 'nope'") >= 1);
    let (status, _) = proxy(
        &target,
        &Req::script(&app("daemon_broken.wsgi")),
        &mut Host::new(Vec::new()),
    );
    assert_eq!(status, WSGIRT_STATUS_SCRIPT_LOAD_FAILED);
    assert!(count("SyntaxError") >= 1, "{}", log_text());
}

#[test]
fn wrong_token_is_refused_and_logged_as_alert() {
    let target = shared();
    let mut bad = target.clone();
    bad.token = [0x55; WSGIRT_DAEMON_TOKEN_LEN];
    let req = Req::app("hello");
    let (status, _) = proxy(&bad, &req, &mut Host::new(Vec::new()));
    assert_eq!(status, WSGIRT_STATUS_DAEMON_FAILED);
    assert!(wait_for_log(
        "Request origin could not be validated",
        Duration::from_secs(5)
    ));
    let alerts = log_lines_with("Request origin could not be validated");
    assert!(
        alerts.iter().all(|l| l.level == 1),
        "ALERT level: {alerts:?}"
    );
    assert!(log_for(req.ctx).iter().any(|l| l.text.contains(
        "Truncated or oversized response headers received from daemon process 'shared'"
    )));
    // The daemon keeps serving.
    assert_eq!(get(&target, &Req::app("hello")).status, 200);
}

#[test]
fn garbage_connections_never_hurt_the_daemon() {
    let target = shared();
    let token = target.token;
    let preamble = wsgirt::daemon::protocol::Preamble { token }.encode();
    let inputs: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.0\r\n\r\n".to_vec(),
        preamble.to_vec(),
        [preamble.to_vec(), vec![99, 0, 0, 0, 0, 0, 0, 0]].concat(),
        [
            preamble.to_vec(),
            vec![1, 0, 0, 0, 5, 0, 0, 0, 1, 2, 3, 4, 5],
        ]
        .concat(),
        [preamble.to_vec(), vec![1, 0, 0, 0, 255, 255, 255, 255]].concat(),
        (0..2000u32).map(|i| (i * 7919 % 256) as u8).collect(),
    ];
    for input in inputs {
        let mut stream = UnixStream::connect(&target.path).unwrap();
        let _ = stream.write_all(&input);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut rest = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stream, &mut rest);
        assert!(rest.is_empty(), "no response to garbage");
    }
    assert!(count("Unable to read WSGI request") >= 3, "{}", log_text());
    assert_eq!(get(&target, &Req::app("hello")).status, 200);
}

#[test]
fn concurrent_clients() {
    let target = shared();
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let target = target.clone();
            std::thread::spawn(move || {
                for i in 0..15 {
                    if i % 2 == 0 {
                        assert_eq!(get(&target, &Req::app("hello")).text(), "Hello world!\n");
                    } else {
                        let body = format!("client {t} request {i}\n").into_bytes();
                        let ((status, _), host) = proxy_body(&target, &Req::app("read:all"), &body);
                        assert_eq!(status, WSGIRT_STATUS_OK);
                        assert!(host
                            .response
                            .text()
                            .contains(&format!("client {t} request {i}")));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// The `'yielded': N` count in a `state:` answer of the daemon app.
fn yielded(state: &str) -> usize {
    state
        .split("'yielded': ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no yielded count in {state}"))
}

#[test]
fn client_gone_mid_stream_closes_the_iterable() {
    let target = shared();
    let mut host = Host::new(Vec::new());
    host.gone_after = Some(5000);
    let (status, result) = proxy(&target, &Req::app("gone:g1"), &mut host);
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text());
    let result = result.unwrap();
    assert!(result.client_gone);
    assert!(!result.incomplete, "a disconnect is not a failure");
    assert_eq!(result.bytes_written, 5000);
    let state = get(&target, &Req::app("state:g1")).text();
    assert!(state.contains("'closed': True"), "{state}");
    let yielded = yielded(&state);
    assert!(yielded < 10_000, "the application stopped early: {state}");
    assert_eq!(get(&target, &Req::app("hello")).status, 200);
}

#[test]
fn client_gone_mid_spooled_stream_closes_the_iterable() {
    // 64 KiB blocks go through the spool ring; the client goes away after
    // 3 MiB, past the 1 MiB ring (so the daemon has waited for SpoolDone).
    let target = shared();
    let mut host = Host::new(Vec::new());
    host.keep_body = false;
    host.gone_after = Some(3 << 20);
    let (status, result) = proxy(&target, &Req::app("gone_big:s1"), &mut host);
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text());
    let result = result.unwrap();
    assert!(result.client_gone);
    assert!(!result.incomplete, "a disconnect is not a failure");
    assert!(result.bytes_written >= 3 << 20, "{}", result.bytes_written);
    let state = get(&target, &Req::app("state:s1")).text();
    assert!(state.contains("'closed': True"), "{state}");
    let yielded = yielded(&state);
    assert!(yielded < 2048, "the application stopped early: {state}");
    assert_eq!(get(&target, &Req::app("hello")).status, 200);
}

#[test]
fn spooled_stream_to_a_slow_client_waits_and_keeps_the_connection() {
    // 6 MiB through a 1 MiB ring to a host that takes 2 ms per write: the
    // daemon waits for the worker (SpoolDone) instead of running ahead,
    // the body is complete, and the kept connection (with its ring) serves
    // the next requests.
    let daemon = Daemon::start("slowspool", |o| o.threads = 1);
    let target = daemon.target();
    for round in 0..3 {
        let mut host = Host::new(Vec::new());
        host.write_delay = Some(Duration::from_millis(2));
        let (status, result) = proxy(&target, &Req::app("gone_big:slow"), &mut host);
        assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text());
        let result = result.unwrap();
        assert!(!result.incomplete && !result.client_gone);
        assert_eq!(result.bytes_written, 2048 * 65536, "round {round}");
        let body = &host.response.body;
        assert_eq!(body.len(), 2048 * 65536);
        for (i, block) in body.chunks(65536).enumerate() {
            let expected = ((i + 1) & 0xff) as u8;
            assert!(
                block.iter().all(|&b| b == expected),
                "block {i} in round {round}"
            );
        }
        let largest = host.response.writes.iter().map(|(n, _)| *n).max().unwrap();
        assert!(largest <= wsgirt::daemon::spool::SEGMENT, "{largest}");
    }
}

#[test]
fn worker_queue_timeout_while_every_thread_is_busy() {
    let daemon = Daemon::start("qbusy", |o| {
        o.threads = 1;
        o.queue_timeout_us = 300_000;
    });
    let mut target = daemon.target();
    target.queue_timeout = Duration::from_millis(300);
    let busy_target = target.clone();
    let busy = std::thread::spawn(move || {
        proxy(
            &busy_target,
            &Req::app("sleep:1.5"),
            &mut Host::new(Vec::new()),
        )
        .0
    });
    std::thread::sleep(Duration::from_millis(200));
    let mut req = Req::app("hello");
    req.queue_start = now_us();
    let started = Instant::now();
    let (status, _) = proxy(&target, &req, &mut Host::new(Vec::new()));
    let waited = started.elapsed();
    assert_eq!(status, WSGIRT_STATUS_DAEMON_TIMEOUT);
    assert!(waited < Duration::from_millis(1200), "{waited:?}");
    assert_eq!(busy.join().unwrap(), WSGIRT_STATUS_OK);
    // The request given up on never runs: the daemon sees it expired too.
    assert_eq!(
        count_eventually("Queue timeout expired for WSGI daemon process 'qbusy'.", 2),
        2
    );
    let mut req = Req::app("hello");
    req.queue_start = now_us();
    assert_eq!(
        proxy(&target, &req, &mut Host::new(Vec::new())).0,
        WSGIRT_STATUS_OK
    );
}

#[test]
fn queue_timeout_answers_504() {
    let daemon = Daemon::start("qt", |o| {
        o.threads = 1;
        o.queue_timeout_us = 1_000_000;
    });
    let mut req = Req::app("hello");
    req.queue_start = now_us() - 5_000_000;
    let (status, _) = proxy(&daemon.target(), &req, &mut Host::new(Vec::new()));
    assert_eq!(status, WSGIRT_STATUS_DAEMON_TIMEOUT);
    assert_eq!(
        count("Queue timeout expired for WSGI daemon process 'qt'."),
        1
    );
    // A fresh request is served.
    assert_eq!(get(&daemon.target(), &Req::app("hello")).status, 200);
}

#[test]
fn maximum_requests_recycles_the_process() {
    let mut daemon = Daemon::start("maxreq", |o| {
        o.threads = 2;
        o.maximum_requests = 3;
    });
    let target = daemon.target();
    for _ in 0..3 {
        assert_eq!(get(&target, &Req::app("hello")).status, 200);
    }
    let result = daemon.wait(Duration::from_secs(10));
    assert_eq!(
        result.reason,
        wsgirt_shutdown_reason::WSGIRT_SHUTDOWN_MAXIMUM_REQUESTS as u32
    );
    assert_eq!(result.requests, 3);
    assert_eq!(result.active_requests, 0);
    assert_eq!(
        count("Maximum requests reached, triggering immediate shutdown 'maxreq'."),
        1
    );
    assert_eq!(count("Shutdown requested 'maxreq'."), 1);
    // A respawned process serves the next requests from the same socket.
    daemon.serve();
    assert_eq!(get(&target, &Req::app("hello")).status, 200);
}

#[test]
fn eviction_signal_waits_for_requests() {
    let mut daemon = Daemon::start("evict", |o| {
        o.threads = 2;
        o.eviction_timeout_us = 10_000_000;
    });
    let target = daemon.target();
    let client = std::thread::spawn(move || get(&target, &Req::app("sleep:0.6")).text());
    std::thread::sleep(Duration::from_millis(200));
    daemon.signal(b'G');
    assert!(wait_for_log(
        "Process eviction requested, waiting for requests to complete 'evict'.",
        Duration::from_secs(5)
    ));
    assert!(daemon.running(), "still draining");
    assert_eq!(client.join().unwrap(), "slept");
    let result = daemon.wait(Duration::from_secs(10));
    assert_eq!(
        result.reason,
        wsgirt_shutdown_reason::WSGIRT_SHUTDOWN_GRACEFUL_SIGNAL as u32
    );
    assert_eq!(
        count("Requests have completed, triggering immediate shutdown 'evict'."),
        1
    );
    // Idle: at once.
    daemon.serve();
    daemon.signal(b'G');
    let result = daemon.wait(Duration::from_secs(5));
    assert_eq!(
        result.reason,
        wsgirt_shutdown_reason::WSGIRT_SHUTDOWN_GRACEFUL_SIGNAL as u32
    );
    assert_eq!(
        count("Process eviction requested, triggering immediate shutdown 'evict'."),
        1
    );
}

#[test]
fn shutdown_signals() {
    let mut daemon = Daemon::start("sig", |o| o.threads = 2);
    daemon.signal(b'S');
    let result = daemon.wait(Duration::from_secs(5));
    assert_eq!(
        result.reason,
        wsgirt_shutdown_reason::WSGIRT_SHUTDOWN_SIGNAL as u32
    );
    // The host closing its end of the pipe also stops the daemon.
    daemon.serve();
    daemon.close_stop_pipe();
    let result = daemon.wait(Duration::from_secs(5));
    assert_eq!(
        result.reason,
        wsgirt_shutdown_reason::WSGIRT_SHUTDOWN_SIGNAL as u32
    );
    // SIGXCPU without graceful-timeout: at once.
    daemon.serve();
    daemon.signal(b'C');
    let result = daemon.wait(Duration::from_secs(5));
    assert_eq!(
        result.reason,
        wsgirt_shutdown_reason::WSGIRT_SHUTDOWN_CPU_TIME_LIMIT as u32
    );
}

#[test]
fn idle_and_restart_timers() {
    let mut idle = Daemon::start("idle", |o| {
        o.threads = 1;
        o.inactivity_timeout_us = 300_000;
    });
    let mut restart = Daemon::start("restart", |o| {
        o.threads = 1;
        o.restart_interval_us = 300_000;
    });
    // The idle timer is armed by a first request.
    std::thread::sleep(Duration::from_millis(400));
    assert!(idle.running(), "a process that never served is not idle");
    assert_eq!(get(&idle.target(), &Req::app("hello")).status, 200);
    let started = Instant::now();
    let result = idle.wait(Duration::from_secs(5));
    assert_eq!(
        result.reason,
        wsgirt_shutdown_reason::WSGIRT_SHUTDOWN_INACTIVITY_TIMEOUT as u32
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(
        count("Daemon process idle inactivity timer expired, stopping process 'idle'."),
        1
    );
    let result = restart.wait(Duration::from_secs(5));
    assert_eq!(
        result.reason,
        wsgirt_shutdown_reason::WSGIRT_SHUTDOWN_RESTART_INTERVAL as u32
    );
    assert_eq!(
        count("Application restart timer expired, stopping process 'restart'."),
        1
    );
}

#[test]
fn request_timeout_stops_the_process_after_the_request() {
    let mut daemon = Daemon::start("reqtime", |o| {
        o.threads = 1;
        o.request_timeout_us = 200_000;
    });
    let target = daemon.target();
    let client = std::thread::spawn(move || get(&target, &Req::app("sleep:0.8")).text());
    assert!(wait_for_log(
        "Daemon process request time limit exceeded, stopping process 'reqtime'.",
        Duration::from_secs(5)
    ));
    // Shutdown-timeout (5 s) lets the request finish.
    assert_eq!(client.join().unwrap(), "slept");
    let result = daemon.wait(Duration::from_secs(5));
    assert_eq!(
        result.reason,
        wsgirt_shutdown_reason::WSGIRT_SHUTDOWN_REQUEST_TIMEOUT as u32
    );
    assert_eq!(result.active_requests, 0);
}

#[test]
fn shutdown_timeout_bounds_the_wait() {
    let mut daemon = Daemon::start("reaper", |o| {
        o.threads = 1;
        o.shutdown_timeout_us = 200_000;
    });
    let target = daemon.target();
    let client = std::thread::spawn(move || {
        let mut host = Host::new(Vec::new());
        proxy(&target, &Req::app("sleep:1.0"), &mut host).0
    });
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    daemon.signal(b'S');
    let result = daemon.wait(Duration::from_secs(5));
    assert!(started.elapsed() < Duration::from_millis(800));
    assert_eq!(
        result.active_requests, 1,
        "the host must exit without finalising"
    );
    assert_eq!(count("Aborting process 'reaper'."), 1);
    // (In a real daemon the process exits here; in this test the request
    // simply finishes.)
    assert_eq!(client.join().unwrap(), WSGIRT_STATUS_OK);
}

#[test]
fn changed_script_restarts_the_daemon_and_the_worker_retries() {
    let mut daemon = Daemon::start("reload", |o| o.threads = 1);
    let script = daemon.dir.join("app.wsgi");
    let source = |text: &str| {
        format!(
            "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'{text}']\n"
        )
    };
    std::fs::write(&script, source("v1")).unwrap();
    let script = script.to_string_lossy().into_owned();
    let target = daemon.target();
    assert_eq!(get(&target, &Req::script(&script)).text(), "v1");
    // Change the script (with a distinct mtime).
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&script, source("v2")).unwrap();
    let file = std::fs::File::options().write(true).open(&script).unwrap();
    file.set_modified(std::time::SystemTime::now() + Duration::from_secs(10))
        .unwrap();
    drop(file);
    let client_target = target.clone();
    let client_script = script.clone();
    let client = std::thread::spawn(move || {
        let mut host = Host::new(Vec::new());
        proxy(&client_target, &Req::script(&client_script), &mut host).0
    });
    // Every "process" sees the script changed (in this test process the
    // interpreter keeps the old module, unlike a real restart), so the
    // worker gives up after 2 × processes + 1 reconnects.
    let mut restarts = 0;
    loop {
        let result = daemon.wait(Duration::from_secs(10));
        assert_eq!(
            result.reason,
            wsgirt_shutdown_reason::WSGIRT_SHUTDOWN_RELOAD as u32
        );
        restarts += 1;
        if restarts == 4 {
            break;
        }
        daemon.serve();
    }
    assert_eq!(client.join().unwrap(), WSGIRT_STATUS_DAEMON_UNAVAILABLE);
    assert_eq!(count("Force restart of process 'reload'."), 4);
    assert_eq!(
        count("Maximum number of WSGI daemon process restart connects reached '3'."),
        1
    );
    assert_eq!(
        count("Connect after WSGI daemon process restart, attempt #3."),
        1
    );
}

#[test]
fn invalid_arguments() {
    let rt = runtime();
    let options = default_options();
    let mut result = wsgirt_daemon_result {
        struct_size: std::mem::size_of::<wsgirt_daemon_result>(),
        reason: 999,
        requests: 0,
        active_requests: 0,
    };
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two descriptors.
    let rc = unsafe { libc::pipe(fds.as_mut_ptr()) };
    assert_eq!(rc, 0);
    // Not a listening socket.
    // SAFETY: live runtime, options and result (as in every call below).
    let status = unsafe { wsgirt_daemon_serve(rt.0, fds[0], fds[0], &options, &mut result) };
    assert_eq!(status, WSGIRT_STATUS_INVALID_ARG);
    let dir = temp_dir("invalid");
    let listener = std::os::unix::net::UnixListener::bind(dir.join("s")).unwrap();
    use std::os::fd::AsRawFd;
    let mut zero = default_options();
    zero.threads = 0;
    // SAFETY: as above.
    let status =
        unsafe { wsgirt_daemon_serve(rt.0, listener.as_raw_fd(), fds[0], &zero, &mut result) };
    assert_eq!(status, WSGIRT_STATUS_INVALID_ARG);
    // SAFETY: as above.
    let status =
        unsafe { wsgirt_daemon_serve(rt.0, listener.as_raw_fd(), -1, &options, &mut result) };
    assert_eq!(status, WSGIRT_STATUS_INVALID_ARG);
    // SAFETY: NULL is being tested; the other pointers are live.
    let status = unsafe {
        wsgirt_daemon_serve(
            std::ptr::null(),
            listener.as_raw_fd(),
            fds[0],
            &options,
            &mut result,
        )
    };
    assert_eq!(status, WSGIRT_STATUS_NULL_ARG);
    assert_eq!(result.reason, 999, "nothing written on failure");
    // SAFETY: closing the pipe created above, once.
    unsafe {
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
    // SAFETY: NULL arguments are being tested.
    let status = unsafe {
        wsgirt_daemon_proxy(
            std::ptr::null(),
            std::ptr::null(),
            0,
            std::ptr::null(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    assert_eq!(status, WSGIRT_STATUS_NULL_ARG);
    // SAFETY: NULL is being tested.
    let status = unsafe { wsgirt_daemon_token_new(std::ptr::null_mut()) };
    assert_eq!(status, WSGIRT_STATUS_NULL_ARG);
}

#[test]
fn shutdown_reason_strings() {
    // SAFETY: the function returns a static NUL-terminated string.
    let text = |r: wsgirt_shutdown_reason| unsafe {
        std::ffi::CStr::from_ptr(wsgirt_shutdown_reason_str(r as u32))
            .to_str()
            .unwrap()
            .to_owned()
    };
    use wsgirt_shutdown_reason::*;
    assert_eq!(text(WSGIRT_SHUTDOWN_REQUEST_TIMEOUT), "request_timeout");
    assert_eq!(text(WSGIRT_SHUTDOWN_STARTUP_TIMEOUT), "startup_timeout");
    assert_eq!(text(WSGIRT_SHUTDOWN_RESTART_INTERVAL), "restart_interval");
    assert_eq!(
        text(WSGIRT_SHUTDOWN_INACTIVITY_TIMEOUT),
        "inactivity_timeout"
    );
    assert_eq!(text(WSGIRT_SHUTDOWN_CPU_TIME_LIMIT), "cpu_time_limit");
    assert_eq!(text(WSGIRT_SHUTDOWN_GRACEFUL_SIGNAL), "graceful_signal");
    assert_eq!(text(WSGIRT_SHUTDOWN_MAXIMUM_REQUESTS), "");
    assert_eq!(text(WSGIRT_SHUTDOWN_SIGNAL), "");
    assert_eq!(text(WSGIRT_SHUTDOWN_RELOAD), "");
    // SAFETY: as above.
    let unknown = unsafe { std::ffi::CStr::from_ptr(wsgirt_shutdown_reason_str(12345)) };
    assert_eq!(unknown.to_bytes(), b"");
}

/// A host whose daemons moved (Apache after a graceful restart) names the
/// new socket through `socket_path_cb`; the stale `socket_path` is then
/// never tried.
#[test]
fn socket_path_callback_names_the_socket_to_connect_to() {
    let real = shared();
    let mut target = shared();
    target.path = format!("{}.gone", real.path);
    target.connect_timeout = Duration::from_millis(300);
    let req = Req::app("hello");
    assert_eq!(
        proxy(&target, &req, &mut Host::new(Vec::new())).0,
        WSGIRT_STATUS_DAEMON_UNAVAILABLE,
        "the stale path alone is unreachable"
    );
    target.current_path = Some(real.path.clone());
    let response = get(&target, &req);
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "Hello world!\n");
}
