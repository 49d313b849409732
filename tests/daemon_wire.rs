//! The worker side (`wsgirt_daemon_proxy`) against fake daemons that
//! misbehave on purpose: unreachable sockets, daemons dying before or
//! after the response started, garbage, restarts, timeouts, descriptor
//! passing and client disconnects. No Python runs in these tests.

mod daemon_support;

use daemon_support::frames::*;
use daemon_support::*;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use wsgirt::capi::request::wsgirt_io;
use wsgirt::daemon::protocol::{kind, EndOutcome};

fn req() -> Req {
    install_log();
    Req::script("/srv/app.wsgi")
}

fn lines(req: &Req) -> String {
    log_for(req.ctx)
        .iter()
        .map(|l| format!("[{}] {}", l.level, l.text))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn missing_socket_is_retried_until_connect_timeout() {
    let req = req();
    let dir = temp_dir("missing");
    let mut target = Tgt::new("ghost", &dir.join("none.sock").to_string_lossy(), [0; 32]);
    target.connect_timeout = Duration::from_millis(500);
    let started = Instant::now();
    let (status, _) = proxy(&target, &req, &mut Host::new(Vec::new()));
    let took = started.elapsed();
    assert_eq!(status, WSGIRT_STATUS_DAEMON_UNAVAILABLE);
    assert!(
        took >= Duration::from_millis(480) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    let log = lines(&req);
    assert!(
        log.contains(&format!(
            "[3] (2)No such file or directory: WSGIRT0411: mod_wsgi (pid={}): Unable to connect to WSGI daemon process 'ghost' on '{}' after multiple attempts as listener backlog limit was exceeded or the socket does not exist.",
            std::process::id(),
            target.path
        )),
        "{log}"
    );
    // Zero connect-timeout: one attempt.
    target.connect_timeout = Duration::ZERO;
    let started = Instant::now();
    let (status, _) = proxy(&target, &req, &mut Host::new(Vec::new()));
    assert_eq!(status, WSGIRT_STATUS_DAEMON_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_millis(100));
}

#[test]
fn other_connect_errors_fail_at_once_naming_the_uid() {
    let req = req();
    let path = format!("/tmp/{}", "x".repeat(150));
    let target = Tgt::new("long", &path, [0; 32]);
    let started = Instant::now();
    let (status, _) = proxy(&target, &req, &mut Host::new(Vec::new()));
    assert_eq!(status, WSGIRT_STATUS_DAEMON_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_millis(100));
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let log = lines(&req);
    assert!(
        log.contains("(36)File name too long: WSGIRT0410: mod_wsgi (pid="),
        "{log}"
    );
    assert!(
        log.contains(&format!("on '{path}' as user with uid={uid}.")),
        "{log}"
    );
}

#[test]
fn eof_before_start_is_a_daemon_failure() {
    let req = req();
    let fake = Fake::start("eof", vec![vec![]]);
    let (status, result) = proxy(&fake.target(), &req, &mut Host::new(Vec::new()));
    assert_eq!(status, WSGIRT_STATUS_DAEMON_FAILED);
    assert!(result.is_none());
    assert!(lines(&req).contains(
        "[3] WSGIRT0406: Truncated or oversized response headers received from daemon process 'fake': /srv/app.wsgi"
    ));
    fake.join();
}

#[test]
fn daemon_dying_after_start_gives_an_incomplete_response() {
    let req = req();
    let fake = Fake::start(
        "died",
        vec![
            vec![Act::Send(start(200, &[("Content-Length", "100")]))],
            // Cut in the middle of a Data frame.
            vec![Act::Send(
                [start(200, &[]), data(b"0123456789", true)[..12].to_vec()].concat(),
            )],
        ],
    );
    let target = fake.target();
    let mut host = Host::new(Vec::new());
    let (status, result) = proxy(&target, &req, &mut host);
    assert_eq!(status, WSGIRT_STATUS_OK);
    let result = result.unwrap();
    assert!(
        result.incomplete,
        "a truncated response must never look complete"
    );
    assert_eq!(result.http_status, 200);
    assert_eq!(host.response.start_calls, 1);
    assert!(lines(&req).contains("(104)Connection reset by peer: WSGIRT0407: mod_wsgi (pid="));
    assert!(lines(&req).contains("): Failed to proxy response from daemon."));
    let mut host = Host::new(Vec::new());
    let (status, result) = proxy(&target, &req, &mut host);
    assert_eq!(status, WSGIRT_STATUS_OK);
    assert!(result.unwrap().incomplete);
    assert_eq!(host.response.text(), "0123");
    fake.join();
}

#[test]
fn garbage_is_a_protocol_error_never_a_panic() {
    let req = req();
    let fake = Fake::start(
        "garbage",
        vec![
            vec![Act::Send(vec![99, 0, 0, 0, 0, 0, 0, 0])],
            vec![Act::Send(
                [start(200, &[]), vec![18, 0, 0, 0, 255, 255, 255, 127]].concat(),
            )],
            // A Body frame is never sent by a daemon.
            vec![Act::Send(vec![2, 0, 0, 0, 0, 0, 0, 0])],
            vec![Act::Send(data(b"early", false))],
            vec![Act::Send(end(EndOutcome::Responded))],
        ],
    );
    let target = fake.target();
    let (status, _) = proxy(&target, &req, &mut Host::new(Vec::new()));
    assert_eq!(status, WSGIRT_STATUS_DAEMON_FAILED);
    assert!(
        lines(&req).contains("Malformed response from daemon process 'fake' (protocol error: unknown frame kind 99): /srv/app.wsgi"),
        "{}",
        lines(&req)
    );
    let (status, result) = proxy(&target, &req, &mut Host::new(Vec::new()));
    assert_eq!(status, WSGIRT_STATUS_OK);
    assert!(result.unwrap().incomplete);
    assert!(lines(&req).contains("exceeds the"), "{}", lines(&req));
    for _ in 0..3 {
        let (status, _) = proxy(&target, &req, &mut Host::new(Vec::new()));
        assert_eq!(status, WSGIRT_STATUS_DAEMON_FAILED);
    }
    let log = lines(&req);
    assert!(
        log.contains("frame kind 2 is not sent by a daemon"),
        "{log}"
    );
    assert!(log.contains("Data frame before Start"), "{log}");
    assert!(log.contains("End before Start"), "{log}");
    fake.join();
}

#[test]
fn oversized_headers_are_refused() {
    let req = req();
    let long = "v".repeat(40_000);
    let fake = Fake::start(
        "bighead",
        vec![vec![Act::Send(start(200, &[("X-Long", &long)]))]],
    );
    let (status, _) = proxy(&fake.target(), &req, &mut Host::new(Vec::new()));
    assert_eq!(status, WSGIRT_STATUS_DAEMON_FAILED);
    assert!(lines(&req).contains("Truncated or oversized response headers received"));
    fake.join();
}

#[test]
fn restarts_are_retried_then_served() {
    let req = req();
    let ok = vec![Act::Send(
        [
            start(200, &[]),
            data(b"after restart", true),
            end(EndOutcome::Responded),
        ]
        .concat(),
    )];
    let fake = Fake::start(
        "restart",
        vec![vec![Act::Send(end(EndOutcome::Rejected))], ok],
    );
    let mut host = Host::new(Vec::new());
    let (status, result) = proxy(&fake.target(), &req, &mut host);
    assert_eq!(status, WSGIRT_STATUS_OK);
    assert!(!result.unwrap().incomplete);
    assert_eq!(host.response.text(), "after restart");
    assert!(lines(&req).contains("[6] mod_wsgi (pid="));
    assert!(lines(&req).contains("Connect after WSGI daemon process restart, attempt #1."));
    fake.join();
}

#[test]
fn endless_restarts_give_503_after_2n_plus_1_reconnects() {
    let req = req();
    let fake = Fake::start(
        "restarts",
        (0..6)
            .map(|_| vec![Act::Send(end(EndOutcome::Rejected))])
            .collect(),
    );
    let mut target = fake.target();
    target.processes = 2;
    let (status, _) = proxy(&target, &req, &mut Host::new(Vec::new()));
    assert_eq!(status, WSGIRT_STATUS_DAEMON_UNAVAILABLE);
    let log = lines(&req);
    assert!(log.contains("attempt #5."), "{log}");
    assert!(!log.contains("attempt #6."), "{log}");
    assert!(log.contains("Maximum number of WSGI daemon process restart connects reached '5'."));
    fake.join();
}

#[test]
fn end_outcomes_before_start_map_to_statuses() {
    let req = req();
    let cases = [
        (EndOutcome::QueueTimeout, WSGIRT_STATUS_DAEMON_TIMEOUT),
        (EndOutcome::LoadFailed, WSGIRT_STATUS_SCRIPT_LOAD_FAILED),
        (
            EndOutcome::CallableMissing,
            WSGIRT_STATUS_CALLABLE_NOT_FOUND,
        ),
        (EndOutcome::AppError, WSGIRT_STATUS_APP_ERROR),
        (EndOutcome::ClientGone, WSGIRT_STATUS_CLIENT_GONE),
    ];
    let fake = Fake::start(
        "outcomes",
        cases
            .iter()
            .map(|(outcome, _)| vec![Act::Send(end(*outcome))])
            .collect(),
    );
    for (outcome, status) in cases {
        let (got, _) = proxy(&fake.target(), &req, &mut Host::new(Vec::new()));
        assert_eq!(got, status, "{outcome:?}");
    }
    fake.join();
}

#[test]
fn slow_daemons_time_out() {
    let req = req();
    let fake = Fake::start(
        "slow",
        vec![
            vec![Act::Sleep(Duration::from_millis(300))],
            vec![
                Act::Send([start(200, &[]), data(b"part", true)].concat()),
                Act::Sleep(Duration::from_millis(600)),
            ],
        ],
    );
    let mut target = fake.target();
    target.socket_timeout = Duration::from_millis(200);
    let (status, _) = proxy(&target, &req, &mut Host::new(Vec::new()));
    assert_eq!(status, WSGIRT_STATUS_DAEMON_TIMEOUT);
    assert!(lines(&req).contains(
        "Timeout when reading response headers from daemon process 'fake': /srv/app.wsgi"
    ));
    let mut host = Host::new(Vec::new());
    let (status, result) = proxy(&target, &req, &mut host);
    assert_eq!(status, WSGIRT_STATUS_OK);
    assert!(result.unwrap().incomplete);
    assert_eq!(host.response.text(), "part");
    fake.join();
}

#[test]
fn file_frames_carry_descriptors() {
    let req = req();
    let dir = temp_dir("wirefile");
    let (path, data) = data_file(&dir, "f.bin", 10_000);
    let opened = std::fs::File::open(&path).unwrap();
    let fd = opened.as_raw_fd();
    let conn = |with_fd: bool| {
        let mut acts = vec![Act::Send(start(200, &[]))];
        if with_fd {
            acts.push(Act::SendFd(file(100, 5000), fd));
        } else {
            acts.push(Act::Send(file(100, 5000)));
        }
        acts.push(Act::Send(end(EndOutcome::Responded)));
        acts
    };
    let fake = Fake::start("wirefile", vec![conn(true), conn(true), conn(false)]);
    let target = fake.target();
    let mut host = Host::new(Vec::new());
    let (status, result) = proxy(&target, &req, &mut host);
    assert_eq!(status, WSGIRT_STATUS_OK);
    assert_eq!(result.unwrap().bytes_written, 5000);
    assert_eq!(host.response.files, vec![(100, 5000, true)]);
    assert_eq!(host.response.body, &data[100..5100]);
    // A host without send-file gets the bytes through writes.
    let mut host = Host::new(Vec::new());
    host.send_file = false;
    let (status, result) = proxy(&target, &req, &mut host);
    assert_eq!(status, WSGIRT_STATUS_OK);
    assert!(!result.unwrap().incomplete);
    assert_eq!(host.response.body, &data[100..5100]);
    // A File frame without a descriptor is a protocol error.
    let (status, result) = proxy(&target, &req, &mut Host::new(Vec::new()));
    assert_eq!(status, WSGIRT_STATUS_OK);
    assert!(result.unwrap().incomplete);
    assert!(lines(&req).contains("File frame without a descriptor"));
    fake.join();
    drop(opened);
}

#[test]
fn reads_are_answered_and_client_gone_is_reported() {
    let req = req();
    let fake = Fake::start(
        "pull",
        vec![vec![
            Act::Send(read(4)),
            Act::Expect,
            Act::Send(read(100)),
            Act::Expect,
            Act::Send(read(100)),
            Act::Expect,
            Act::Send(read(100)),
            Act::Expect,
            Act::Send(
                [
                    start(200, &[]),
                    data(&[b'x'; 3000], true),
                    data(b"more", true),
                ]
                .concat(),
            ),
            Act::Expect,
            Act::Send(end(EndOutcome::Responded)),
        ]],
    );
    let mut host = Host::new(b"hello world".to_vec());
    host.read_error_after = Some((11, wsgirt_io::WSGIRT_IO_TIMEOUT));
    host.gone_after = Some(1000);
    let (status, result) = proxy(&fake.target(), &req, &mut host);
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", lines(&req));
    let result = result.unwrap();
    assert!(result.client_gone);
    assert!(!result.incomplete);
    let frames = fake.join();
    let kinds: Vec<u8> = frames.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds,
        vec![
            kind::BODY,
            kind::BODY,
            kind::IO_FAILED,
            kind::IO_FAILED,
            kind::GONE
        ]
    );
    assert_eq!(frames[0].1, b"hell");
    assert_eq!(frames[1].1, b"o world");
    assert_eq!(frames[2].1, vec![2], "timeout code");
    // The first block was delivered; nothing after the client went away.
    assert_eq!(host.response.body_len, 3000);
    assert_eq!(host.response.writes.len(), 1);
}
