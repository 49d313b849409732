//! The daemon's [`HostIo`]: one request's I/O over the proxy connection.
//!
//! - `read` is a round trip: `Read(n)` out, `Body`/`IoFailed` back (the
//!   worker never sends body bytes unasked, so neither side can deadlock on
//!   full socket buffers). When the answer does not come within
//!   socket-timeout (the worker's client stalled), the read fails with
//!   [`IoError::Timeout`] but the connection stays usable: the answer is
//!   still owed, so a late `Body`/`IoFailed` is skipped when it arrives,
//!   the application's response (usually its 500) still goes out, and the
//!   connection is not kept for another request.
//! - `start_response` and small unflushed writes are held back and go out
//!   with the next frame that must be sent (a hello-world response is one
//!   `writev`: `Start`, `Data`, `End`).
//! - writes are `Data` frames of at most [`DATA_CHUNK`] bytes, sent
//!   straight from the caller's buffer; writes of [`SPOOL_MIN`] bytes or
//!   more are copied into the connection's spool ring instead and
//!   announced with `Spool` frames ([`crate::daemon::spool`]).
//! - `send_file` passes the descriptor itself (`SCM_RIGHTS`), beyond
//!   mod_wsgi, which copies the file's bytes through the socket.
//! - before anything is sent, the socket is checked without blocking for
//!   `Gone` from the worker: the application then sees a client that went
//!   away, exactly as in embedded mode. A fast spooled stream is checked
//!   every [`GONE_CHECK_BYTES`] or [`GONE_CHECK_INTERVAL`], whichever
//!   comes first, not before every block (a `poll` per 64 KiB block was
//!   1.4% of `big`'s server CPU); a slow one is still checked per block.

use crate::daemon::protocol::{self, kind, EndOutcome, Frame};
use crate::daemon::socket::{Conn, WireError};
use crate::daemon::spool::{Ring, RING_LEN, SEGMENT};
use crate::logging::{self, Level};
use crate::wsgi::host::{HostIo, IoError};
use std::cell::{Cell, RefCell};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// Largest `Data` frame payload; bigger writes are split.
pub const DATA_CHUNK: usize = 1 << 20;
/// Largest `Read` request.
pub const READ_CHUNK: usize = 1 << 20;
/// Unflushed data up to this size is held back and coalesced.
const HOLD_LIMIT: usize = 16 * 1024;
/// Writes of at least this many bytes go through the spool ring. Below it
/// the socket costs about as much and keeps the ring untouched (a
/// connection that only carries small responses never makes one).
pub const SPOOL_MIN: usize = 32 * 1024;
/// A spooled stream checks for `Gone` at least every this many bytes...
const GONE_CHECK_BYTES: u64 = 256 * 1024;
/// ... and before any block written this long after the last check.
const GONE_CHECK_INTERVAL: Duration = Duration::from_millis(1);

/// One request's I/O over its connection.
pub struct RemoteIo<'c> {
    conn: RefCell<&'c mut Conn>,
    /// Encoded frames not yet sent (`Start`, small unflushed `Data`).
    pending: RefCell<Vec<u8>>,
    scratch: RefCell<Vec<u8>>,
    /// The worker reported its client gone (or the worker went away).
    gone: Cell<bool>,
    /// The connection failed: every later call fails.
    broken: Cell<bool>,
    /// A `Read` timed out waiting for its answer: the worker still owes a
    /// `Body`/`IoFailed`, skipped when it arrives.
    read_owed: Cell<bool>,
    /// Called on every read and write (the inactivity timer).
    activity: &'c dyn Fn(),
    /// The connection's spool ring (kept with the connection).
    ring: RefCell<&'c mut Option<Ring>>,
    /// No ring can be made: large blocks go through the socket.
    ring_off: Cell<bool>,
    /// Bytes spooled in this request (every request starts at offset 0).
    spooled: Cell<u64>,
    /// `Spool` frames with the sync flag sent, and `SpoolDone` answers
    /// received, in this request.
    syncs: Cell<u32>,
    synced: Cell<u32>,
    /// When the socket was last checked for `Gone` by a spooled write, and
    /// the bytes spooled since.
    gone_checked: Cell<Option<Instant>>,
    unchecked: Cell<u64>,
}

impl<'c> RemoteIo<'c> {
    /// `ring`: the connection's spool ring, if it has one (made on the
    /// first large block otherwise, and left there for the next request).
    pub fn new(conn: &'c mut Conn, activity: &'c dyn Fn(), ring: &'c mut Option<Ring>) -> Self {
        RemoteIo {
            conn: RefCell::new(conn),
            pending: RefCell::new(Vec::new()),
            scratch: RefCell::new(Vec::new()),
            gone: Cell::new(false),
            broken: Cell::new(false),
            read_owed: Cell::new(false),
            activity,
            ring: RefCell::new(ring),
            ring_off: Cell::new(false),
            spooled: Cell::new(0),
            syncs: Cell::new(0),
            synced: Cell::new(0),
            gone_checked: Cell::new(None),
            unchecked: Cell::new(0),
        }
    }

    /// True once the worker said its client went away.
    pub fn client_gone(&self) -> bool {
        self.gone.get()
    }

    fn check(&self) -> Result<(), IoError> {
        if self.broken.get() {
            return Err(IoError::Failed);
        }
        if self.gone.get() {
            return Err(IoError::ClientGone);
        }
        Ok(())
    }

    /// Maps a connection failure onto what the application sees.
    fn wire_failed(&self, err: WireError) -> IoError {
        match err {
            // The worker went away: for the application, the client did.
            WireError::Closed => {
                self.gone.set(true);
                IoError::ClientGone
            }
            WireError::Timeout => {
                self.broken.set(true);
                IoError::Timeout
            }
            err => {
                self.broken.set(true);
                logging::log_process(
                    Level::Err,
                    &format!(
                        "WSGIRT0501: mod_wsgi (pid={}): Failed to communicate with the Apache worker: {err}.",
                        std::process::id()
                    ),
                );
                IoError::Failed
            }
        }
    }

    /// Handles a frame the worker may send unasked (`Gone`, `SpoolDone`);
    /// false for any other frame.
    fn unasked(&self, header: protocol::Header) -> bool {
        match header.kind {
            kind::GONE if header.len == 0 => self.gone.set(true),
            kind::SPOOL_DONE if header.len == 0 => self.synced.set(self.synced.get() + 1),
            _ => return false,
        }
        true
    }

    /// Skips the late answer to a `Read` that timed out; false for any
    /// other frame (nothing consumed).
    fn owed_answer(&self, conn: &mut Conn, header: protocol::Header) -> Result<bool, WireError> {
        if !self.read_owed.get() || !matches!(header.kind, kind::BODY | kind::IO_FAILED) {
            return Ok(false);
        }
        let mut scratch = self.scratch.borrow_mut();
        conn.payload(header.len, &mut scratch)?;
        self.read_owed.set(false);
        Ok(true)
    }

    /// Handles frames the worker sent unasked (`Gone`, `SpoolDone`, the
    /// late answer to a timed-out `Read`), without blocking when there are
    /// none.
    fn poll_gone(&self) -> Result<(), IoError> {
        let mut conn = self.conn.borrow_mut();
        while conn.readable_now() {
            match conn.read_header() {
                Ok(header) if self.unasked(header) => {}
                Ok(header) => match self.owed_answer(&mut conn, header) {
                    Ok(true) => {}
                    Ok(false) => {
                        drop(conn);
                        return Err(self.wire_failed(WireError::Unexpected(format!(
                            "unexpected frame kind {} from the worker",
                            header.kind
                        ))));
                    }
                    Err(err) => {
                        drop(conn);
                        return Err(self.wire_failed(err));
                    }
                },
                Err(err) => {
                    drop(conn);
                    return Err(self.wire_failed(err));
                }
            }
        }
        drop(conn);
        self.check()
    }

    /// [`RemoteIo::poll_gone`] for spooled blocks: at most every
    /// [`GONE_CHECK_BYTES`] unless [`GONE_CHECK_INTERVAL`] passed.
    fn poll_gone_spooled(&self) -> Result<(), IoError> {
        let now = Instant::now();
        let due = self.unchecked.get() >= GONE_CHECK_BYTES
            || self
                .gone_checked
                .get()
                .is_none_or(|at| now.duration_since(at) >= GONE_CHECK_INTERVAL);
        if !due {
            return self.check();
        }
        self.gone_checked.set(Some(now));
        self.unchecked.set(0);
        self.poll_gone()
    }

    /// Waits (blocking, within socket-timeout) for `SpoolDone` answers
    /// until `want` arrived. A `Gone` meanwhile ends the wait with
    /// [`IoError::ClientGone`].
    fn wait_synced(&self, want: u32) -> Result<(), IoError> {
        let mut conn = self.conn.borrow_mut();
        while self.synced.get() < want {
            let err = match conn.read_header() {
                Ok(header) if self.unasked(header) => {
                    if self.gone.get() {
                        return Err(IoError::ClientGone);
                    }
                    continue;
                }
                Ok(header) => match self.owed_answer(&mut conn, header) {
                    Ok(true) => continue,
                    Ok(false) => WireError::Unexpected(format!(
                        "unexpected frame kind {} from the worker",
                        header.kind
                    )),
                    Err(err) => err,
                },
                Err(err) => err,
            };
            drop(conn);
            return Err(self.wire_failed(err));
        }
        Ok(())
    }

    /// Sends the front of `data` through the spool ring: returns how many
    /// bytes went, or `None` when no ring can be made (nothing was sent).
    fn spool(&self, data: &[u8], flush: bool) -> Result<Option<usize>, IoError> {
        let mut slot = self.ring.borrow_mut();
        if slot.is_none() {
            let Some(ring) = Ring::new() else {
                self.ring_off.set(true);
                return Ok(None);
            };
            **slot = Some(ring);
        }
        let at = self.spooled.get();
        let segment = (at / SEGMENT as u64) as u32;
        let in_segment = (at % SEGMENT as u64) as usize;
        let n = data.len().min(SEGMENT - in_segment);
        // Segment s ≥ 2 reuses the half segment s − 2 had: the worker's
        // answer to segment s − 1's first frame says it is free.
        if in_segment == 0 && segment >= 2 {
            drop(slot);
            self.wait_synced(segment - 1)?;
            slot = self.ring.borrow_mut();
        }
        let ring = slot.as_mut().expect("made above");
        let offset = (at % RING_LEN as u64) as usize;
        ring.write(offset, &data[..n]);
        let sync = in_segment == 0 && segment >= 1;
        let new_fd = !ring.passed;
        let frame = protocol::encode_spool(
            offset as u64,
            n as u64,
            flush && n == data.len(),
            new_fd,
            sync,
        );
        let fd = new_fd.then(|| ring.raw_fd());
        drop(slot);
        self.send(&[&frame], fd)?;
        if let Some(ring) = self.ring.borrow_mut().as_mut() {
            ring.passed = true;
        }
        if sync {
            self.syncs.set(self.syncs.get() + 1);
        }
        self.spooled.set(at + n as u64);
        Ok(Some(n))
    }

    /// Sends held-back frames followed by `parts`.
    fn send(&self, parts: &[&[u8]], fd: Option<RawFd>) -> Result<(), IoError> {
        let mut pending = self.pending.borrow_mut();
        let mut all: [&[u8]; 3] = [&pending, &[], &[]];
        all[1..=parts.len()].copy_from_slice(parts);
        let all = &all[..=parts.len()];
        let conn = self.conn.borrow();
        let result = match fd {
            Some(fd) => conn.send_with_fd(all, fd),
            None => conn.send(all),
        };
        drop(conn);
        pending.clear();
        drop(pending);
        result.map_err(|err| self.wire_failed(err))
    }

    /// Sends the request's `End` (with any held-back frames). Errors are
    /// ignored: the worker may be gone. With `keep` (and a healthy
    /// connection whose worker did not report its client gone) the `End`
    /// says the connection stays open for the next request; returns
    /// whether it did.
    pub fn finish(
        &self,
        outcome: EndOutcome,
        incomplete: bool,
        status: u16,
        bytes: u64,
        keep: bool,
    ) -> bool {
        if self.broken.get() {
            return false;
        }
        // The next request starts at the ring's offset 0: every `SpoolDone`
        // of this one must be read first (it also must not be taken for
        // the next request's first bytes).
        // A `Read` answer still owed may arrive at any time (when the
        // worker's client read ends): it must not be taken for the next
        // request's frames, so the connection is not kept.
        let keep = keep
            && !self.read_owed.get()
            && !self.gone.get()
            && self.wait_synced(self.syncs.get()).is_ok();
        if self.broken.get() {
            return false;
        }
        let keep = keep && !self.gone.get();
        let mut end = Frame::End {
            outcome,
            incomplete,
            status,
            bytes_written: bytes,
        }
        .encode();
        if keep {
            end[1] |= protocol::FLAG_END_KEEP;
        }
        self.send(&[&end], None).is_ok() && keep
    }
}

impl HostIo for RemoteIo<'_> {
    fn read(&self, buf: &mut [u8]) -> Result<usize, IoError> {
        if self.broken.get() {
            return Err(IoError::Failed);
        }
        if self.read_owed.get() {
            // The input is in error already (the application sees that);
            // a second `Read` would make the answers ambiguous.
            return Err(IoError::Timeout);
        }
        // An empty `buf` still goes to the worker as `Read(0)`: its host
        // starts the body (answers `Expect: 100-continue`), as in embedded
        // mode; the `Body` of 0 bytes that answers it is not the end.
        (self.activity)();
        let want = buf.len().min(READ_CHUNK);
        let mut read = [0u8; protocol::HEADER_LEN + 4];
        read[..protocol::HEADER_LEN].copy_from_slice(&protocol::encode_header(kind::READ, 0, 4));
        read[protocol::HEADER_LEN..].copy_from_slice(&(want as u32).to_le_bytes());
        self.send(&[&read], None)?;
        let mut conn = self.conn.borrow_mut();
        loop {
            let header = match conn.read_header() {
                Ok(header) => header,
                // socket-timeout with no answer: the worker is still
                // waiting for its client. No byte of the answer was taken
                // (a partial header stays buffered), so the connection can
                // still carry the response; the answer is skipped later.
                Err(WireError::Timeout) => {
                    self.read_owed.set(true);
                    return Err(IoError::Timeout);
                }
                Err(err) => {
                    drop(conn);
                    return Err(self.wire_failed(err));
                }
            };
            match header.kind {
                kind::BODY if header.len <= want => {
                    let result = conn.read_exact(&mut buf[..header.len]);
                    drop(conn);
                    return match result {
                        Ok(()) => {
                            (self.activity)();
                            Ok(header.len)
                        }
                        Err(err) => Err(self.wire_failed(err)),
                    };
                }
                kind::IO_FAILED => {
                    let mut scratch = self.scratch.borrow_mut();
                    let frame = conn
                        .payload(header.len, &mut scratch)
                        .and_then(|p| Ok(protocol::decode_payload(header, p)?));
                    drop(conn);
                    return match frame {
                        Ok(Frame::IoFailed(1)) => Err(IoError::ClientGone),
                        Ok(Frame::IoFailed(2)) => Err(IoError::Timeout),
                        Ok(_) => Err(IoError::Failed),
                        Err(err) => Err(self.wire_failed(err)),
                    };
                }
                // Still answered: the worker serves every Read.
                kind::GONE | kind::SPOOL_DONE if self.unasked(header) => {}
                other => {
                    drop(conn);
                    return Err(self.wire_failed(WireError::Unexpected(format!(
                        "frame kind {other} ({} bytes) in answer to Read({want})",
                        header.len
                    ))));
                }
            }
        }
    }

    fn start_response(
        &self,
        status: u16,
        status_line: &[u8],
        headers: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), IoError> {
        self.check()?;
        let mut pending = self.pending.borrow_mut();
        if let Err(err) = protocol::encode_start_into(&mut pending, status, status_line, headers) {
            logging::log_process(
                Level::Err,
                &format!(
                    "WSGIRT0502: mod_wsgi (pid={}): Response headers cannot be sent to the Apache worker: {err}.",
                    std::process::id()
                ),
            );
            return Err(IoError::Failed);
        }
        Ok(())
    }

    fn write(&self, data: &[u8], flush: bool) -> Result<(), IoError> {
        self.check()?;
        (self.activity)();
        if !flush {
            let mut pending = self.pending.borrow_mut();
            if pending.len() + protocol::HEADER_LEN + data.len() <= HOLD_LIMIT {
                pending.extend_from_slice(&protocol::encode_header(kind::DATA, 0, data.len()));
                pending.extend_from_slice(data);
                return Ok(());
            }
        }
        let mut data = data;
        if data.len() >= SPOOL_MIN && !self.ring_off.get() {
            while !data.is_empty() {
                self.poll_gone_spooled()?;
                match self.spool(data, flush)? {
                    Some(n) => {
                        data = &data[n..];
                        self.unchecked.set(self.unchecked.get() + n as u64);
                    }
                    None => break,
                }
            }
        }
        let mut chunks = data.chunks(DATA_CHUNK).peekable();
        while let Some(chunk) = chunks.next() {
            self.poll_gone()?;
            let last = chunks.peek().is_none();
            let flags = if flush && last {
                protocol::FLAG_DATA_FLUSH
            } else {
                0
            };
            let head = protocol::encode_header(kind::DATA, flags, chunk.len());
            self.send(&[&head, chunk], None)?;
        }
        Ok(())
    }

    fn send_file(&self, fd: RawFd, offset: u64, len: u64) -> Option<Result<(), IoError>> {
        if let Err(err) = self.check() {
            return Some(Err(err));
        }
        if let Err(err) = self.poll_gone() {
            return Some(Err(err));
        }
        (self.activity)();
        // A fresh open file description, so the worker can seek without
        // moving the application's file position.
        let fresh = reopen(fd);
        let passed = fresh.as_ref().map_or(fd, AsRawFd::as_raw_fd);
        let frame = Frame::File { offset, len }.encode();
        Some(self.send(&[&frame], Some(passed)))
    }
}

/// Reopens `fd` read-only through `/proc/self/fd` (a new open file
/// description with its own offset); `None` if that is not possible.
fn reopen(fd: RawFd) -> Option<OwnedFd> {
    let path = std::ffi::CString::new(format!("/proc/self/fd/{fd}")).ok()?;
    // SAFETY: opening a NUL-terminated path.
    let raw = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    // SAFETY: a new descriptor that nothing else owns.
    (raw >= 0).then(|| unsafe { OwnedFd::from_raw_fd(raw) })
}
