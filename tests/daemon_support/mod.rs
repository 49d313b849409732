//! Test support for daemon mode: the shared in-memory host (tests/support)
//! driving `wsgirt_daemon_proxy`, daemons served in-process with
//! `wsgirt_daemon_serve`, and fake daemons that speak the wire protocol
//! badly on purpose.
//!
//! One runtime per test process (CPython is global); daemons run on
//! background threads of the test process and share it.

#![allow(dead_code)]

#[path = "../support/mod.rs"]
mod support;
pub use support::*;

use std::ffi::{c_int, c_void};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wsgirt::capi::daemon::*;
use wsgirt::capi::request::*;
use wsgirt::capi::runtime::*;
use wsgirt::capi::status::wsgirt_status;

pub use wsgirt::capi::status::wsgirt_status::*;

// ---------------------------------------------------------------------------
// Log

/// Installs the log callback without a runtime (worker-only processes).
pub fn install_log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: a valid callback; NULL userdata is never dereferenced.
        let status = unsafe { wsgirt_daemon_set_log_callback(Some(log_cb), std::ptr::null_mut()) };
        assert_eq!(status, WSGIRT_STATUS_OK);
    });
}

/// The whole log (every request), for assertion messages.
pub fn log_text() -> String {
    LOG.lock()
        .unwrap()
        .iter()
        .map(|l| format!("  [{} ctx={:#x}] {}", l.level, l.ctx, l.text))
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------
// Files

/// A fresh directory for this test process. Kept short: socket paths
/// must fit in `sun_path`.
pub fn temp_dir(name: &str) -> PathBuf {
    fresh_dir(Path::new("/tmp"), "wsgirt-d", name)
}

// ---------------------------------------------------------------------------
// Requests

impl Req {
    /// A GET for tests/apps/daemon_app.wsgi with QUERY_STRING `query`.
    pub fn app(query: &str) -> Req {
        Req::script(&app("daemon_app.wsgi")).query(query)
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

/// Proxies `req` to `target` through `host`.
pub fn proxy(target: &Tgt, req: &Req, host: &mut Host) -> Outcome {
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
    req.submit(host, |spec, io, ctx, result| {
        // SAFETY: every pointer refers to a live local (of this function or
        // of `submit`) for the duration of the call.
        unsafe { wsgirt_daemon_proxy(&c_target, spec, req.queue_start, io, ctx, result) }
    })
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

/// Keeps `fd` from being closed when dropped elsewhere (helper for raw fds).
pub fn leak(fd: OwnedFd) -> RawFd {
    fd.into_raw_fd()
}
