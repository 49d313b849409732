//! The worker side of daemon mode: proxying one request to a daemon
//! process group and relaying its frames to the host (mod_wsgi's
//! `wsgi_execute_remote` and `wsgi_transfer_response`).
//!
//! 1. Connect to the group's socket, retrying `ECONNREFUSED`, `EAGAIN`
//!    (full listener backlog) and `ENOENT` (socket not there yet) every
//!    0.125 s for the first 2 s, then every second, until `connect-timeout`
//!    → [`ProxyError::Unavailable`] (503). Other errors (`EACCES`) fail at
//!    once with mod_wsgi's "as user with uid=N" line.
//!    An idle connection kept from an earlier request to the group
//!    ([`pool`]) is used first; connect only when there is none.
//! 2. Send preamble + `Request` in one write. On a reused connection the
//!    daemon may have closed meanwhile: `EPIPE` on this send, or
//!    `ECONNRESET` before its first frame (it closed with our request
//!    unread), means nothing was delivered, and the request is sent again
//!    on a fresh connection. A clean EOF means the daemon read the request:
//!    that is a daemon failure, as on a fresh connection.
//! 3. Serve the daemon's frames: `Read` → host read → `Body`/`IoFailed`
//!    (`Read(0)`: a zero-length host read, to start the body);
//!    `Start` → host `start_response`; `Data` → host writes of at most
//!    `response-buffer-size` bytes (flush flag on the frame's last piece);
//!    `File` + descriptor → host `send_file` (or a copy when the host has
//!    none), then the descriptor is closed; `Spool` → a host write
//!    straight from the connection's mapped spool ring
//!    ([`crate::daemon::spool`]; its descriptor comes with the first such
//!    frame on the connection, and the mapping stays with the connection
//!    in the pool), answering `SpoolDone` first when the frame asks
//!    (always, even with the client gone: the daemon may be waiting for
//!    it); `End` → done. When the client goes away, `Gone` is sent once
//!    and frames are drained until `End`.
//! 4. `End{Rejected}` (the daemon is restarting after a script change)
//!    before any body byte was read: reconnect and resend, at most
//!    `2 × processes + 1` times, then 503.
//! 5. After an `End` with the keep flag, the connection goes back to the
//!    pool (unless `Gone` was sent: the daemon may still read it).
//!
//! Failures before `Start` become statuses with mod_wsgi's log lines; after
//! `Start` the response is reported complete-or-not (`incomplete`), never
//! silently truncated.

use crate::daemon::options::Target;
use crate::daemon::pool;
use crate::daemon::protocol::{
    self, kind, EndOutcome, Frame, Header, PairRef, Preamble, ProtocolError, RequestHead,
    FLAG_DATA_FLUSH, FLAG_END_KEEP, HEADER_LEN, TOKEN_LEN,
};
use crate::daemon::socket::{self, Conn, WireError};
use crate::daemon::spool::View;
use crate::diagnostics::registry;
use crate::logging::{self, Level};
use crate::wsgi::host::{HostIo, IoError};
use std::cell::Cell;
use std::ffi::c_void;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Body bytes read from the host per `Read` at most (the daemon may ask
/// for more; a short answer is allowed).
const INPUT_CHUNK: usize = 256 * 1024;

/// Why a proxied request produced no (complete-or-truncated) response.
/// Every case is logged before it is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyError {
    /// The daemon could not be reached, or kept restarting: answer 503.
    Unavailable,
    /// The request waited longer than queue-timeout, or the response head
    /// did not arrive within socket-timeout: answer 504.
    Timeout,
    /// The daemon failed before a response started (it died, closed the
    /// connection or broke the protocol): answer 500.
    Failed,
    /// The script could not be loaded in the daemon: answer 500.
    LoadFailed,
    /// The script has no such callable: answer 404.
    CallableMissing,
    /// The application failed before starting a response: answer 500.
    AppError,
    /// The client went away before a response was started.
    ClientGone,
    /// interrupt-timeout ended the application before it responded: 504.
    Interrupted,
    /// Reading the request body from the client timed out (Apache's
    /// `Timeout`) and the daemon ended without a response: 408, as
    /// mod_wsgi's `wsgi_execute_remote` answers.
    BodyTimeout,
}

/// How a proxied response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProxyResult {
    /// The status the application set.
    pub http_status: u16,
    /// Body bytes handed to the host.
    pub bytes_written: u64,
    /// The host reported the client gone.
    pub client_gone: bool,
    /// The response is cut short (the application failed mid-body, the
    /// daemon died or broke the protocol): the host must let the client
    /// see the truncation.
    pub incomplete: bool,
}

/// Per-thread buffers, reused across requests so the hot path does not
/// allocate.
#[derive(Default)]
pub struct Buffers {
    /// Preamble + encoded `Request`.
    pub request: Vec<u8>,
    /// The connection's read buffer.
    read: Vec<u8>,
    /// Large payloads and body reads.
    scratch: Vec<u8>,
}

thread_local! {
    static BUFFERS: Cell<Option<Box<Buffers>>> = const { Cell::new(None) };
}

/// Takes this thread's buffers (fresh ones if in use, e.g. re-entered).
pub fn take_buffers() -> Box<Buffers> {
    BUFFERS.with(Cell::take).unwrap_or_default()
}

/// Returns buffers for reuse (very large ones are dropped).
pub fn put_buffers(mut buffers: Box<Buffers>) {
    const KEEP: usize = 1 << 20;
    for buf in [
        &mut buffers.request,
        &mut buffers.read,
        &mut buffers.scratch,
    ] {
        if buf.capacity() > KEEP {
            *buf = Vec::new();
        }
    }
    BUFFERS.with(|cell| cell.set(Some(buffers)));
}

/// Encodes the preamble and the `Request` frame into `out` (cleared
/// first), adding mod_wsgi's `mod_wsgi.daemon_connects` and
/// `mod_wsgi.daemon_restarts` counts to the environ.
pub fn encode_request<'a>(
    out: &mut Vec<u8>,
    token: &[u8; TOKEN_LEN],
    head: &RequestHead<'_>,
    environ: impl Iterator<Item = PairRef<'a>> + Clone,
    attempts: Attempts,
) -> Result<(), ProtocolError> {
    out.clear();
    out.extend_from_slice(&Preamble { token: *token }.encode());
    let mut numbers = [0u8; 24];
    let (connects, restarts) = numbers.split_at_mut(12);
    let connects = format_u32(attempts.connects, connects);
    let restarts = format_u32(attempts.restarts, restarts);
    let extra = [
        (&b"mod_wsgi.daemon_connects"[..], connects),
        (&b"mod_wsgi.daemon_restarts"[..], restarts),
    ];
    let environ = environ
        .map(|(name, value)| -> PairRef<'_> { (name, value) })
        .filter(|(name, _)| {
            !matches!(
                *name,
                b"mod_wsgi.daemon_connects" | b"mod_wsgi.daemon_restarts"
            )
        })
        .chain(extra.iter().copied());
    protocol::encode_request_into(out, head, environ)
}

/// Formats `value` in decimal into `buf` without allocating.
fn format_u32(mut value: u32, buf: &mut [u8]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    &buf[at..]
}

/// Connection attempts so far for one request (mod_wsgi's
/// `daemon_connects`, every attempt; `daemon_restarts`, reconnects after
/// `Rejected`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attempts {
    pub connects: u32,
    pub restarts: u32,
}

/// Encodes the request for the given attempt counts ([`encode_request`]
/// with the host's request bound in).
pub type Encoder<'e> = dyn FnMut(&mut Vec<u8>, Attempts) -> Result<(), ProtocolError> + 'e;

/// Where a request's log lines go.
#[derive(Clone, Copy)]
pub struct RequestLog<'a> {
    /// The script, named in mod_wsgi's `"<message>: <script>"` lines.
    pub script_path: &'a str,
    /// The host's per-request log context.
    pub log_ctx: *mut c_void,
}

impl RequestLog<'_> {
    fn log(&self, level: Level, message: &str) {
        logging::log(level, self.log_ctx, message);
    }
}

/// Apache's `(errno)description: ` prefix for a failed system call.
fn errno_prefix(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => {
            let text = std::io::Error::from_raw_os_error(code).to_string();
            let text = text.split(" (os error").next().unwrap_or(&text).to_owned();
            format!("({code}){text}: ")
        }
        None => format!("{err}: "),
    }
}

/// Apache's prefix for `APR_TIMEUP` (70007), the status mod_wsgi logs a
/// timed-out proxy read or write with.
const TIMEUP_PREFIX: &str = "(70007)The timeout specified has expired: ";

/// The prefix Apache would put in front of mod_wsgi's "Failed to proxy
/// response from daemon." for a connection that failed with `err`: the
/// daemon gone mid-response is the `ECONNRESET` mod_wsgi sees (a clean EOF
/// before `End` is the same event for the relay), socket-timeout is
/// `APR_TIMEUP`; a protocol error, which mod_wsgi cannot have, says what
/// it was in the same place.
fn wire_prefix(err: &WireError) -> String {
    match err {
        WireError::Closed => "(104)Connection reset by peer: ".to_owned(),
        WireError::Timeout => TIMEUP_PREFIX.to_owned(),
        WireError::Io(err) => errno_prefix(err),
        WireError::Protocol(_) | WireError::Unexpected(_) => format!("({err}): "),
    }
}

/// Connects with mod_wsgi's retry schedule (`wsgi_connect_daemon`).
fn connect(
    target: &Target,
    log: &RequestLog<'_>,
    attempts: &mut Attempts,
) -> Result<OwnedFd, ProxyError> {
    let start = Instant::now();
    let mut slept = Duration::ZERO;
    loop {
        attempts.connects += 1;
        // Asked again on every attempt: the daemons may move meanwhile
        // (a graceful restart while this request waited).
        let moved = target.current_path.and_then(|current| current());
        let socket_path = moved.as_deref().unwrap_or(target.socket_path);
        let err = match socket::connect_unix(socket_path) {
            Ok(fd) => return Ok(fd),
            Err(err) => err,
        };
        let pid = std::process::id();
        let path = String::from_utf8_lossy(socket_path);
        let retry = matches!(
            err.raw_os_error(),
            Some(libc::ECONNREFUSED | libc::EAGAIN | libc::ENOENT)
        );
        if !retry {
            // SAFETY: geteuid has no preconditions.
            let uid = unsafe { libc::geteuid() };
            log.log(
                Level::Err,
                &format!(
                    "{}WSGIRT0410: mod_wsgi (pid={pid}): Unable to connect to WSGI daemon process '{}' on '{path}' as user with uid={uid}.",
                    errno_prefix(&err),
                    target.name
                ),
            );
            return Err(ProxyError::Unavailable);
        }
        let elapsed = start.elapsed();
        if elapsed >= target.connect_timeout {
            log.log(
                Level::Err,
                &format!(
                    "{}WSGIRT0411: mod_wsgi (pid={pid}): Unable to connect to WSGI daemon process '{}' on '{path}' after multiple attempts as listener backlog limit was exceeded or the socket does not exist.",
                    errno_prefix(&err),
                    target.name
                ),
            );
            return Err(ProxyError::Unavailable);
        }
        // Start at 0.125 s, back off to 1 s after 2 s (never past the deadline).
        let step = if slept < Duration::from_secs(2) {
            Duration::from_millis(125)
        } else {
            Duration::from_secs(1)
        };
        let step = step.min(target.connect_timeout - elapsed);
        std::thread::sleep(step);
        slept += step;
    }
}

/// Proxies one request: `encode` writes the preamble and the `Request`
/// frame ([`encode_request`]) for each connection; the daemon's frames are
/// relayed to `host`. `queue_start_us` (µs since the epoch; 0: unknown)
/// is when the host accepted the request, for queue-timeout.
pub fn proxy(
    target: &Target,
    queue_start_us: i64,
    encode: &mut Encoder<'_>,
    log: &RequestLog<'_>,
    host: &dyn HostIo,
    buffers: &mut Buffers,
) -> Result<ProxyResult, ProxyError> {
    let pid = std::process::id;
    let max_restarts = target.max_restarts();
    let mut attempts = Attempts::default();
    // After a stale pooled connection, connect afresh.
    let mut pooled_ok = true;
    loop {
        let pooled = if pooled_ok {
            pool::take(target.socket_path, &target.token)
        } else {
            None
        };
        let reused = pooled.is_some();
        let (fd, mut view) = match pooled {
            Some(kept) => {
                attempts.connects += 1;
                kept
            }
            None => (connect(target, log, &mut attempts)?, None),
        };
        if let Err(err) = encode(&mut buffers.request, attempts) {
            log.log(
                Level::Err,
                &format!(
                    "WSGIRT0401: mod_wsgi (pid={}): Unable to send request details to WSGI daemon process '{}' on '{}': {err}.",
                    pid(),
                    target.name,
                    String::from_utf8_lossy(target.socket_path)
                ),
            );
            return Err(ProxyError::Failed);
        }
        let buf = std::mem::take(&mut buffers.read);
        let mut conn = Conn::new(fd, buf, target.response_buffer_size.max(8192) + HEADER_LEN);
        let outcome = run_connection(
            &mut conn,
            target,
            queue_start_us,
            reused,
            log,
            host,
            buffers,
            &mut view,
        );
        let (fd, buf) = conn.into_parts();
        buffers.read = buf;
        match outcome {
            Exit::Done(result, keep) => {
                if keep {
                    pool::put(target.socket_path, &target.token, fd, view);
                }
                return result;
            }
            Exit::Stale => {
                // The daemon closed this idle connection (it stopped or
                // restarted) and never read the request: not a restart,
                // not a failure. Its other idle connections go too.
                attempts.connects -= 1;
                pooled_ok = false;
                pool::clear(target.socket_path, &target.token);
            }
            Exit::Rejected => {
                if attempts.restarts >= max_restarts {
                    log.log(
                        Level::Err,
                        &format!(
                            "WSGIRT0402: mod_wsgi (pid={}): Maximum number of WSGI daemon process restart connects reached '{max_restarts}'.",
                            pid()
                        ),
                    );
                    return Err(ProxyError::Unavailable);
                }
                attempts.restarts += 1;
                log.log(
                    Level::Info,
                    &format!(
                        "mod_wsgi (pid={}): Connect after WSGI daemon process restart, attempt #{}.",
                        pid(),
                        attempts.restarts
                    ),
                );
            }
        }
    }
}

enum Exit {
    /// The request is over; the flag says the connection can be reused.
    Done(Result<ProxyResult, ProxyError>, bool),
    /// The daemon is restarting: reconnect and resend.
    Rejected,
    /// A reused connection that the daemon had closed: nothing was
    /// delivered, send the request on a fresh connection.
    Stale,
}

/// The state of one relayed response.
struct Relay<'a> {
    target: &'a Target<'a>,
    log: &'a RequestLog<'a>,
    host: &'a dyn HostIo,
    started: bool,
    status: u16,
    bytes: u64,
    /// The host reported the client gone.
    gone: bool,
    /// The host failed otherwise: stop delivering.
    broken: bool,
    /// `Gone` was sent to the daemon.
    told: bool,
    /// Body bytes were pulled from the host (a restart cannot be retried).
    body_read: bool,
    /// The daemon's `End` said it keeps the connection.
    keep: bool,
    /// A host read of the request body failed (logged once): decides the
    /// status if the daemon ends without a response.
    read_failed: Option<IoError>,
    /// An answer to a `Read` could not be sent.
    answer_lost: bool,
    /// The connection's spool ring, mapped (kept with the connection).
    view: &'a mut Option<View>,
}

#[allow(clippy::too_many_arguments)]
fn run_connection(
    conn: &mut Conn,
    target: &Target,
    queue_start_us: i64,
    reused: bool,
    log: &RequestLog<'_>,
    host: &dyn HostIo,
    buffers: &mut Buffers,
    view: &mut Option<View>,
) -> Exit {
    // A reused connection has its timeouts already.
    if !reused && !target.socket_timeout.is_zero() {
        let _ = conn.set_timeout(target.socket_timeout);
    }
    if let Err(err) = conn.send(&[&buffers.request]) {
        if reused && matches!(err, WireError::Closed) {
            return Exit::Stale;
        }
        let pid = std::process::id();
        log.log(
            Level::Err,
            &format!(
                "WSGIRT0401: mod_wsgi (pid={pid}): Unable to send request details to WSGI daemon process '{}' on '{}': {err}.",
                target.name,
                String::from_utf8_lossy(target.socket_path)
            ),
        );
        return Exit::Done(Err(ProxyError::Failed), false);
    }
    if queue_expired(conn, target, queue_start_us) {
        log.log(
            Level::Err,
            &format!(
                "WSGIRT0404: mod_wsgi (pid={}): Queue timeout expired for WSGI daemon process '{}'.",
                std::process::id(),
                target.name
            ),
        );
        return Exit::Done(Err(ProxyError::Timeout), false);
    }
    let mut relay = Relay {
        target,
        log,
        host,
        started: false,
        status: 0,
        bytes: 0,
        gone: false,
        broken: false,
        told: false,
        body_read: false,
        keep: false,
        read_failed: None,
        answer_lost: false,
        view,
    };
    match relay.run(conn, &mut buffers.scratch) {
        Ok(Exit::Done(result, _)) => {
            // After a failed body read the answer may not have reached the
            // daemon: do not reuse the connection.
            let keep = relay.keep
                && !relay.told
                && relay.read_failed.is_none()
                && !relay.answer_lost
                && conn.is_idle();
            Exit::Done(result, keep)
        }
        Ok(exit) => exit,
        // ECONNRESET before any frame: the daemon closed the idle
        // connection with the request unread (a clean EOF would mean it
        // read it and then failed).
        Err(WireError::Closed)
            if reused && conn.was_reset() && !relay.started && !relay.body_read =>
        {
            Exit::Stale
        }
        Err(err) => Exit::Done(relay.failed(err), false),
    }
}

/// queue-timeout on the worker side: waits for the daemon's first frame
/// until `queue_start + queue-timeout`; true when that passed while the
/// request was still unread (no daemon thread took the connection from
/// the backlog: every thread is busy). The daemon checks the same
/// deadline when it does take a connection, so a request the worker gave
/// up on never runs. Costs nothing on the hot path when queue-timeout is
/// off or the first frame arrives in time.
fn queue_expired(conn: &Conn, target: &Target, queue_start_us: i64) -> bool {
    if target.queue_timeout.is_zero() || queue_start_us <= 0 {
        return false;
    }
    let deadline = queue_start_us.saturating_add(target.queue_timeout.as_micros() as i64);
    loop {
        let left = deadline - registry::now_us();
        if left > 0 {
            let mut fds = [libc::pollfd {
                fd: conn.raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            match socket::poll(&mut fds, Some(Duration::from_micros(left as u64))) {
                // Readable (a frame, EOF or an error): the relay handles it.
                Ok(n) if n > 0 => return false,
                Ok(_) => continue,
                Err(_) => return false,
            }
        }
        return match socket::unread_outgoing(conn.raw_fd()) {
            Ok(unread) => unread > 0,
            Err(_) => false,
        };
    }
}

/// Reads a whole (small) frame's payload and decodes it.
fn frame(conn: &mut Conn, header: Header, scratch: &mut Vec<u8>) -> Result<Frame, WireError> {
    let payload = conn.payload(header.len, scratch)?;
    Ok(protocol::decode_payload(header, payload)?)
}

/// Extends the spool range `offset..offset + len` with the `Spool` frames
/// already buffered right behind it that continue it in the ring (no new
/// descriptor, no sync: a sync answer must go out before its range), and
/// consumes them. Returns the run's length and whether to flush it (any
/// of its blocks asked to be).
fn coalesce(conn: &mut Conn, offset: u64, mut len: u64, mut flush: bool) -> (u64, bool) {
    const FRAME: usize = HEADER_LEN + protocol::SPOOL_PAYLOAD;
    loop {
        let bytes = conn.buffered_bytes();
        let Some(next) = bytes.get(..FRAME) else {
            break;
        };
        let Ok(header) = protocol::decode_header(next[..HEADER_LEN].try_into().expect("8 bytes"))
        else {
            break;
        };
        if header.kind != kind::SPOOL
            || header.len != protocol::SPOOL_PAYLOAD
            || header.flags & (protocol::FLAG_SPOOL_NEW | protocol::FLAG_SPOOL_SYNC) != 0
        {
            break;
        }
        let Ok(Frame::Spool {
            offset: at,
            len: more,
            flush: last,
            ..
        }) = protocol::decode_payload(header, &next[HEADER_LEN..])
        else {
            break;
        };
        if at != offset.saturating_add(len) {
            break;
        }
        len += more;
        flush |= last;
        conn.consume_buffered(FRAME);
    }
    (len, flush)
}

fn unexpected(what: impl Into<String>) -> WireError {
    WireError::Unexpected(what.into())
}

impl Relay<'_> {
    fn run(&mut self, conn: &mut Conn, scratch: &mut Vec<u8>) -> Result<Exit, WireError> {
        loop {
            let header = conn.read_header()?;
            match header.kind {
                kind::READ => self.read(conn, header, scratch)?,
                kind::START => {
                    if self.started {
                        return Err(unexpected("a second Start frame"));
                    }
                    let Frame::Start {
                        status,
                        status_line,
                        headers,
                    } = frame(conn, header, scratch)?
                    else {
                        unreachable!("decoded by kind")
                    };
                    if let Some(exit) = self.start(status, &status_line, &headers) {
                        return Ok(exit);
                    }
                    self.tell_gone(conn);
                }
                kind::DATA => {
                    if !self.started {
                        return Err(unexpected("Data frame before Start"));
                    }
                    self.data(conn, header)?;
                    self.tell_gone(conn);
                }
                kind::FILE => {
                    if !self.started {
                        return Err(unexpected("File frame before Start"));
                    }
                    let Frame::File { offset, len } = frame(conn, header, scratch)? else {
                        unreachable!("decoded by kind")
                    };
                    let fd = conn
                        .take_fd()
                        .ok_or_else(|| unexpected("File frame without a descriptor"))?;
                    self.file(fd, offset, len, scratch)?;
                    self.tell_gone(conn);
                }
                kind::SPOOL => {
                    if !self.started {
                        return Err(unexpected("Spool frame before Start"));
                    }
                    let Frame::Spool {
                        offset,
                        len,
                        flush,
                        new_fd,
                        sync,
                    } = frame(conn, header, scratch)?
                    else {
                        unreachable!("decoded by kind")
                    };
                    self.spool(conn, offset, len, flush, new_fd, sync)?;
                    self.tell_gone(conn);
                }
                kind::END => {
                    self.keep = header.flags & FLAG_END_KEEP != 0;
                    let Frame::End {
                        outcome,
                        incomplete,
                        ..
                    } = frame(conn, header, scratch)?
                    else {
                        unreachable!("decoded by kind")
                    };
                    return self.end(outcome, incomplete);
                }
                other => {
                    return Err(unexpected(format!(
                        "frame kind {other} is not sent by a daemon"
                    )))
                }
            }
        }
    }

    /// `Read`: pull body bytes from the host and answer `Body`/`IoFailed`.
    fn read(
        &mut self,
        conn: &mut Conn,
        header: Header,
        scratch: &mut Vec<u8>,
    ) -> Result<(), WireError> {
        let Frame::Read(want) = frame(conn, header, scratch)? else {
            unreachable!("decoded by kind")
        };
        // `Read(0)` is the application's first `read(0)`: the host reads
        // nothing but starts the body (100-continue), answered `Body` of 0.
        self.body_read = true;
        let n = (want as usize).min(INPUT_CHUNK);
        if scratch.len() < n {
            scratch.resize(n, 0);
        }
        let sent = match self.host.read(&mut scratch[..n]) {
            Ok(got) => {
                let got = got.min(n);
                let head = protocol::encode_header(kind::BODY, 0, got);
                conn.send(&[&head, &scratch[..got]])
            }
            Err(err) => {
                self.body_read_failed(err);
                let code = match err {
                    IoError::ClientGone => 1,
                    IoError::Timeout => 2,
                    IoError::Failed => 3,
                };
                let head = protocol::encode_header(kind::IO_FAILED, 0, 1);
                conn.send(&[&head, &[code]])
            }
        };
        // The daemon may have stopped waiting for the answer (its
        // socket-timeout expired while the client was slow) and already
        // sent its response and closed: that response is still read. If
        // the daemon is really gone, the next read says so.
        if sent.is_err() {
            self.answer_lost = true;
        }
        Ok(())
    }

    /// Logs a failed body read as mod_wsgi's `wsgi_execute_remote` does
    /// (with the APR text Apache gives it: `APR_INCOMPLETE` for a client
    /// that closed mid-body, `APR_TIMEUP` for one that stalled past
    /// `Timeout`), and remembers it for the status.
    fn body_read_failed(&mut self, err: IoError) {
        if matches!(
            self.read_failed,
            Some(IoError::ClientGone | IoError::Timeout)
        ) {
            return;
        }
        self.read_failed = Some(err);
        let reason = match err {
            IoError::ClientGone => "Partial results are valid but processing is incomplete",
            IoError::Timeout => "The timeout specified has expired",
            // An input filter that answered itself (LimitRequestBody's
            // 413 on a chunked body) or another failure: no line.
            IoError::Failed => return,
        };
        self.log.log(
            Level::Err,
            &format!(
                "WSGIRT0412: mod_wsgi (pid={}): Request data read error when proxying data to daemon process: {reason}.",
                std::process::id()
            ),
        );
    }

    /// `Start`: checks the header lines against header-buffer-size and
    /// hands them to the host.
    fn start(
        &mut self,
        status: u16,
        status_line: &[u8],
        headers: &[(Vec<u8>, Vec<u8>)],
    ) -> Option<Exit> {
        let limit = self.target.header_buffer_size;
        // mod_wsgi reads "Status: <line>" and "<name>: <value>" lines into
        // a buffer of header-buffer-size bytes (with the CRLF and a NUL).
        let oversized = "Status: ".len() + status_line.len() + 3 > limit
            || headers
                .iter()
                .any(|(name, value)| name.len() + 2 + value.len() + 3 > limit);
        if oversized {
            self.log_truncated();
            return Some(Exit::Done(Err(ProxyError::Failed), false));
        }
        self.started = true;
        self.status = status;
        if let Err(err) = self.host.start_response(status, status_line, headers) {
            self.host_failed(err);
        }
        None
    }

    /// `Data`: streams the payload to the host in pieces of at most
    /// response-buffer-size bytes.
    fn data(&mut self, conn: &mut Conn, header: Header) -> Result<(), WireError> {
        let flush = header.flags & FLAG_DATA_FLUSH != 0;
        let piece = self.target.response_buffer_size.max(8192);
        let mut left = header.len;
        while left > 0 {
            let chunk = conn.chunk(left.min(piece))?;
            left -= chunk.len();
            if self.gone || self.broken {
                continue;
            }
            match self.host.write(chunk, flush && left == 0) {
                Ok(()) => self.bytes += chunk.len() as u64,
                Err(err) => self.host_failed(err),
            }
        }
        Ok(())
    }

    /// `File`: the host sends the descriptor's bytes (or we copy them).
    fn file(
        &mut self,
        fd: OwnedFd,
        offset: u64,
        len: u64,
        scratch: &mut Vec<u8>,
    ) -> Result<(), WireError> {
        // SAFETY: fstat into a zeroed stat on a descriptor we own.
        let regular = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            libc::fstat(fd.as_raw_fd(), &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFREG
        };
        if !regular {
            return Err(unexpected(
                "File frame with a descriptor that is not a regular file",
            ));
        }
        if self.gone || self.broken || len == 0 {
            return Ok(());
        }
        let sent = match self.host.send_file(fd.as_raw_fd(), offset, len) {
            Some(result) => result.map(|()| len),
            None => self.copy_file(&fd, offset, len, scratch),
        };
        match sent {
            Ok(n) => self.bytes += n,
            Err(err) => self.host_failed(err),
        }
        Ok(())
    }

    /// `Spool`: the range of the connection's spool ring goes to the host
    /// as a write (the host copies it before returning, so the daemon may
    /// reuse it once told).
    fn spool(
        &mut self,
        conn: &mut Conn,
        offset: u64,
        len: u64,
        flush: bool,
        new_fd: bool,
        sync: bool,
    ) -> Result<(), WireError> {
        if new_fd {
            let fd = conn
                .take_fd()
                .ok_or_else(|| unexpected("Spool frame without a descriptor"))?;
            // The old mapping goes first: the new one may reuse its space.
            *self.view = None;
            *self.view = Some(View::map(&fd).map_err(unexpected)?);
        }
        if sync {
            // Every earlier range was handed to the host (frames are served
            // in order). A failed send is the daemon gone: the next read
            // says so.
            let _ = conn.send(&[&protocol::encode_header(kind::SPOOL_DONE, 0, 0)]);
        }
        // Later blocks that already arrived and follow this one in the ring
        // go out in the same host write: each is still sent as soon as the
        // worker sees it, with one system call instead of one per block.
        let (len, flush) = coalesce(conn, offset, len, flush);
        let data = self
            .view
            .as_ref()
            .ok_or_else(|| unexpected("Spool frame before the spool descriptor"))?
            .range(offset, len)
            .ok_or_else(|| unexpected("Spool frame outside the spool"))?;
        if self.gone || self.broken || data.is_empty() {
            return Ok(());
        }
        match self.host.write(data, flush) {
            Ok(()) => self.bytes += data.len() as u64,
            Err(err) => self.host_failed(err),
        }
        Ok(())
    }

    /// Sends a file's bytes through host writes (a host without send-file).
    fn copy_file(
        &self,
        fd: &OwnedFd,
        offset: u64,
        len: u64,
        scratch: &mut Vec<u8>,
    ) -> Result<u64, IoError> {
        let piece = self.target.response_buffer_size.max(8192);
        if scratch.len() < piece {
            scratch.resize(piece, 0);
        }
        let mut done = 0u64;
        while done < len {
            let want = ((len - done) as usize).min(piece);
            // SAFETY: reads into `scratch`, which has at least `want` bytes.
            let n = unsafe {
                libc::pread(
                    fd.as_raw_fd(),
                    scratch.as_mut_ptr().cast(),
                    want,
                    (offset + done) as libc::off_t,
                )
            };
            if n <= 0 {
                // The file shrank or cannot be read: the body is short.
                return Err(IoError::Failed);
            }
            done += n as u64;
            self.host.write(&scratch[..n as usize], done == len)?;
        }
        Ok(done)
    }

    fn host_failed(&mut self, err: IoError) {
        match err {
            IoError::ClientGone => self.gone = true,
            IoError::Timeout => {
                self.broken = true;
                // Apache's prefix for the APR_TIMEUP mod_wsgi logs it with.
                self.log.log(
                    Level::Err,
                    &format!(
                        "{TIMEUP_PREFIX}WSGIRT0405: mod_wsgi (pid={}): Failed to proxy response to client.",
                        std::process::id()
                    ),
                );
            }
            IoError::Failed => self.broken = true,
        }
    }

    /// Tells the daemon (once) that nothing more can be delivered.
    fn tell_gone(&mut self, conn: &Conn) {
        if (self.gone || self.broken) && !self.told {
            self.told = true;
            // The daemon may already have finished: a failed send is fine.
            let _ = conn.send(&[&protocol::encode_header(kind::GONE, 0, 0)]);
        }
    }

    fn end(&mut self, outcome: EndOutcome, incomplete: bool) -> Result<Exit, WireError> {
        if self.started {
            return Ok(Exit::Done(
                Ok(ProxyResult {
                    http_status: self.status,
                    bytes_written: self.bytes,
                    client_gone: self.gone,
                    incomplete: incomplete || self.broken || outcome != EndOutcome::Responded,
                }),
                true,
            ));
        }
        Ok(Exit::Done(
            Err(match outcome {
                EndOutcome::Rejected if !self.body_read => return Ok(Exit::Rejected),
                EndOutcome::Rejected => {
                    return Err(unexpected(
                        "restart requested after the request body was read",
                    ))
                }
                EndOutcome::AppError | EndOutcome::ClientGone
                    if self.read_failed == Some(IoError::Timeout) =>
                {
                    ProxyError::BodyTimeout
                }
                EndOutcome::QueueTimeout => ProxyError::Timeout,
                EndOutcome::RequestTimeout => ProxyError::Interrupted,
                EndOutcome::LoadFailed => ProxyError::LoadFailed,
                EndOutcome::CallableMissing => ProxyError::CallableMissing,
                EndOutcome::AppError => ProxyError::AppError,
                EndOutcome::ClientGone => ProxyError::ClientGone,
                EndOutcome::Responded => return Err(unexpected("End before Start")),
            }),
            true,
        ))
    }

    fn log_truncated(&self) {
        self.log.log(
            Level::Err,
            &format!(
                "WSGIRT0406: Truncated or oversized response headers received from daemon process '{}': {}",
                self.target.name, self.log.script_path
            ),
        );
    }

    /// Maps a connection failure onto the request's result (logged).
    fn failed(&self, err: WireError) -> Result<ProxyResult, ProxyError> {
        let pid = std::process::id();
        let name = &self.target.name;
        let script = self.log.script_path;
        if self.started {
            // The status line is already out: report a truncated response,
            // in mod_wsgi's words with the `(errno)text: ` prefix Apache puts
            // in front for the status mod_wsgi logs it with.
            self.log.log(
                Level::Err,
                &format!(
                    "{}WSGIRT0407: mod_wsgi (pid={pid}): Failed to proxy response from daemon.",
                    wire_prefix(&err)
                ),
            );
            return Ok(ProxyResult {
                http_status: self.status,
                bytes_written: self.bytes,
                client_gone: self.gone,
                incomplete: true,
            });
        }
        // The body read failed (logged): the daemon ending without a
        // response follows from that, as in mod_wsgi, which stops at the
        // failed read.
        match self.read_failed {
            Some(IoError::Timeout) => return Err(ProxyError::BodyTimeout),
            Some(IoError::ClientGone) => return Err(ProxyError::Failed),
            _ => {}
        }
        match err {
            WireError::Timeout => {
                self.log.log(
                    Level::Err,
                    &format!(
                        "WSGIRT0408: Timeout when reading response headers from daemon process '{name}': {script}"
                    ),
                );
                Err(ProxyError::Timeout)
            }
            WireError::Closed | WireError::Io(_) => {
                self.log_truncated();
                Err(ProxyError::Failed)
            }
            WireError::Protocol(_) | WireError::Unexpected(_) => {
                self.log.log(
                    Level::Err,
                    &format!(
                        "WSGIRT0409: mod_wsgi (pid={pid}): Malformed response from daemon process '{name}' ({err}): {script}"
                    ),
                );
                Err(ProxyError::Failed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::os::fd::RawFd;
    use std::os::unix::net::UnixListener;

    /// Collects what the proxy hands to the host.
    #[derive(Default)]
    struct Sink {
        statuses: RefCell<Vec<u16>>,
        body: RefCell<Vec<u8>>,
    }

    impl HostIo for Sink {
        fn read(&self, _: &mut [u8]) -> Result<usize, IoError> {
            Ok(0)
        }
        fn start_response(
            &self,
            status: u16,
            _: &[u8],
            _: &[(Vec<u8>, Vec<u8>)],
        ) -> Result<(), IoError> {
            self.statuses.borrow_mut().push(status);
            Ok(())
        }
        fn write(&self, data: &[u8], _: bool) -> Result<(), IoError> {
            self.body.borrow_mut().extend_from_slice(data);
            Ok(())
        }
        fn send_file(&self, _: RawFd, _: u64, _: u64) -> Option<Result<(), IoError>> {
            None
        }
    }

    /// Reads one preamble + `Request` and answers `Start`, `Data(body)` and
    /// an `End` that keeps the connection.
    fn answer(conn: &mut Conn, body: &[u8]) {
        let mut preamble = [0u8; protocol::PREAMBLE_LEN];
        conn.read_exact(&mut preamble).unwrap();
        let header = conn.read_header().unwrap();
        assert_eq!(header.kind, kind::REQUEST);
        let mut payload = vec![0u8; header.len];
        conn.read_exact(&mut payload).unwrap();
        let mut out = Vec::new();
        protocol::encode_start_into(&mut out, 200, b"200 OK", &[]).unwrap();
        out.extend_from_slice(&protocol::encode_header(
            kind::DATA,
            FLAG_DATA_FLUSH,
            body.len(),
        ));
        out.extend_from_slice(body);
        let mut end = Frame::End {
            outcome: EndOutcome::Responded,
            incomplete: false,
            status: 200,
            bytes_written: body.len() as u64,
        }
        .encode();
        end[1] |= FLAG_END_KEEP;
        out.extend_from_slice(&end);
        conn.send(&[&out]).unwrap();
    }

    fn run(target: &Target<'_>, host: &Sink) -> Result<ProxyResult, ProxyError> {
        let head = RequestHead {
            application_group: b"",
            script_path: b"/srv/app.wsgi",
            callable: b"application",
            reload_script: false,
            script_mtime: 0,
            queue_start: 0,
        };
        let mut encode = |out: &mut Vec<u8>, attempts| {
            encode_request(out, &target.token, &head, std::iter::empty(), attempts)
        };
        let log = RequestLog {
            script_path: "/srv/app.wsgi",
            log_ctx: std::ptr::null_mut(),
        };
        let mut buffers = Buffers::default();
        proxy(target, 0, &mut encode, &log, host, &mut buffers)
    }

    /// A listening socket in a fresh directory, standing in for a daemon:
    /// (directory, listener, socket path as bytes).
    fn fake_daemon_socket(name: &str) -> (std::path::PathBuf, UnixListener, Vec<u8>) {
        let dir = std::env::temp_dir().join(format!("wsgirt-{name}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("d.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let path_bytes = path.to_string_lossy().into_owned().into_bytes();
        (dir, listener, path_bytes)
    }

    #[test]
    fn coalesce_merges_only_contiguous_plain_spool_frames_already_buffered() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let sender = Conn::new(a.into(), Vec::new(), 4096);
        let mut conn = Conn::new(b.into(), Vec::new(), 4096);
        let mut out = Vec::new();
        for (offset, len, flush, new_fd, sync) in [
            (0, 10, false, true, false), // the frame being served
            (10, 20, true, false, false),
            (30, 5, false, false, false),
            (40, 5, false, false, false), // not contiguous: stops here
        ] {
            out.extend_from_slice(&protocol::encode_spool(offset, len, flush, new_fd, sync));
        }
        out.extend_from_slice(&protocol::encode_spool(45, 5, false, false, true));
        sender.send(&[&out]).unwrap();
        let header = conn.read_header().unwrap();
        let mut scratch = Vec::new();
        assert!(matches!(
            frame(&mut conn, header, &mut scratch),
            Ok(Frame::Spool { .. })
        ));
        // 10 + 20 + 5; the flush of the middle block carries over.
        assert_eq!(coalesce(&mut conn, 0, 10, false), (35, true));
        // The next frame (offset 40) is left for the relay, and a run from
        // it stops before the sync frame.
        let header = conn.read_header().unwrap();
        assert!(matches!(
            frame(&mut conn, header, &mut scratch),
            Ok(Frame::Spool { offset: 40, .. })
        ));
        assert_eq!(coalesce(&mut conn, 40, 5, false), (5, false));
        let header = conn.read_header().unwrap();
        assert!(matches!(
            frame(&mut conn, header, &mut scratch),
            Ok(Frame::Spool { sync: true, .. })
        ));
        // Nothing buffered: nothing to merge, no system call.
        assert_eq!(coalesce(&mut conn, 45, 5, true), (5, true));
    }

    #[test]
    fn kept_connections_are_reused_and_a_closed_one_is_resent_fresh() {
        let (dir, listener, path_bytes) = fake_daemon_socket("pool");
        let target = Target {
            name: "pool",
            socket_path: &path_bytes,
            token: [7; TOKEN_LEN],
            ..Target::default()
        };
        let daemon = std::thread::spawn(move || {
            let (first, _) = listener.accept().unwrap();
            let mut first = Conn::new(first.into(), Vec::new(), 4096);
            answer(&mut first, b"one");
            // The second request comes on the same connection.
            answer(&mut first, b"two");
            // The third arrives too, but this "daemon" closes the
            // connection without reading it (as when it stops): the
            // worker sees ECONNRESET and resends on a new connection.
            while !first.readable_now() {
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(first);
            let (second, _) = listener.accept().unwrap();
            let mut second = Conn::new(second.into(), Vec::new(), 4096);
            answer(&mut second, b"three");
        });
        for expected in [&b"one"[..], b"two", b"three"] {
            let host = Sink::default();
            let result = run(&target, &host).unwrap_or_else(|e| panic!("{e:?} for {expected:?}"));
            assert_eq!(result.http_status, 200);
            assert!(!result.incomplete);
            assert_eq!(host.body.borrow().as_slice(), expected);
        }
        daemon.join().unwrap();
        // The last connection is pooled; clearing drops it.
        assert!(pool::take(target.socket_path, &target.token).is_some());
        pool::clear(target.socket_path, &target.token);
        assert!(pool::take(target.socket_path, &target.token).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_kept_connection_closed_after_reading_the_request_is_a_failure() {
        let (dir, listener, path_bytes) = fake_daemon_socket("pool-eof");
        let target = Target {
            name: "pool-eof",
            socket_path: &path_bytes,
            token: [8; TOKEN_LEN],
            ..Target::default()
        };
        let daemon = std::thread::spawn(move || {
            let (first, _) = listener.accept().unwrap();
            let mut first = Conn::new(first.into(), Vec::new(), 4096);
            answer(&mut first, b"one");
            // Reads the whole next request, then "dies": a clean EOF. The
            // request may have run, so it must not be sent again.
            let mut preamble = [0u8; protocol::PREAMBLE_LEN];
            first.read_exact(&mut preamble).unwrap();
            let header = first.read_header().unwrap();
            let mut payload = vec![0u8; header.len];
            first.read_exact(&mut payload).unwrap();
            drop(first);
            listener.set_nonblocking(true).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            assert!(listener.accept().is_err(), "the request was not resent");
        });
        let host = Sink::default();
        assert!(run(&target, &host).is_ok());
        let host = Sink::default();
        assert_eq!(run(&target, &host), Err(ProxyError::Failed));
        daemon.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
