//! UNIX-socket plumbing for the daemon protocol: a connection with a read
//! buffer, frame-header reads, vectored writes (`sendmsg`, never
//! `SIGPIPE`), descriptor passing with `SCM_RIGHTS`, plus small helpers for
//! connecting, accepting, polling and self-pipes.
//!
//! Descriptors received with `SCM_RIGHTS` are queued in arrival order, and
//! arrive with (or before) the bytes of the frame they belong to, so the
//! reader of a `File` frame (or of a `Spool` frame bringing a new ring)
//! takes the oldest queued descriptor. Received descriptors are
//! close-on-exec (`MSG_CMSG_CLOEXEC`); any left when the connection is
//! dropped are closed.

use crate::daemon::protocol::{self, Header, ProtocolError, HEADER_LEN};
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Why reading or writing a connection failed.
#[derive(Debug)]
pub enum WireError {
    /// The peer closed the connection (EOF, `EPIPE`, `ECONNRESET`).
    Closed,
    /// No progress within the socket timeout.
    Timeout,
    /// Another I/O failure.
    Io(io::Error),
    /// Bytes that are not the protocol.
    Protocol(ProtocolError),
    /// A well-formed frame where the protocol does not allow one.
    Unexpected(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Closed => write!(f, "connection closed by peer"),
            WireError::Timeout => write!(f, "timed out"),
            WireError::Io(err) => write!(f, "{err}"),
            WireError::Protocol(err) => write!(f, "protocol error: {err}"),
            WireError::Unexpected(what) => write!(f, "protocol error: {what}"),
        }
    }
}

impl From<ProtocolError> for WireError {
    fn from(err: ProtocolError) -> Self {
        WireError::Protocol(err)
    }
}

/// Maps an OS error onto a [`WireError`].
pub fn classify(err: io::Error) -> WireError {
    match err.raw_os_error() {
        Some(libc::EAGAIN | libc::ETIMEDOUT) => WireError::Timeout,
        Some(libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN | libc::ECONNABORTED) => {
            WireError::Closed
        }
        _ => WireError::Io(err),
    }
}

/// Most iovecs one [`Conn::send`] takes.
const MAX_PARTS: usize = 4;
/// Room for this many descriptors in one received control message (the
/// protocol sends one per `File` frame and one per spool ring; more are
/// received and closed).
const MAX_FDS: usize = 8;

/// One protocol connection: the socket, a read buffer and the queue of
/// received descriptors.
pub struct Conn {
    fd: OwnedFd,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    fds: VecDeque<OwnedFd>,
    /// A receive failed with `ECONNRESET`: the peer closed while bytes we
    /// sent were still unread (on Linux a clean EOF means it read them).
    reset: bool,
}

impl Conn {
    /// Wraps a connected socket, using `buf` (grown to at least
    /// `capacity` bytes) as the read buffer. [`Conn::into_buffer`] returns
    /// it for reuse.
    pub fn new(fd: OwnedFd, mut buf: Vec<u8>, capacity: usize) -> Conn {
        let capacity = capacity.max(HEADER_LEN * 2);
        if buf.len() < capacity {
            buf.resize(capacity, 0);
        }
        Conn {
            fd,
            buf,
            start: 0,
            end: 0,
            fds: VecDeque::new(),
            reset: false,
        }
    }

    /// The read buffer, for reuse by the next connection.
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// The socket and the read buffer (a connection kept for reuse).
    pub fn into_parts(self) -> (OwnedFd, Vec<u8>) {
        (self.fd, self.buf)
    }

    /// True when a receive failed with `ECONNRESET`: the peer closed its
    /// end with bytes of ours unread, so it never read them all.
    pub fn was_reset(&self) -> bool {
        self.reset
    }

    /// True when nothing is buffered and no received descriptor is
    /// pending: the connection is between requests.
    pub fn is_idle(&self) -> bool {
        !self.has_buffered() && self.fds.is_empty()
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Applies `timeout` to every later read and write (zero: none).
    pub fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        let tv = libc::timeval {
            tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
            tv_usec: timeout.subsec_micros() as libc::suseconds_t,
        };
        for option in [libc::SO_RCVTIMEO, libc::SO_SNDTIMEO] {
            // SAFETY: a valid socket and a properly sized timeval.
            let rc = unsafe {
                libc::setsockopt(
                    self.fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    option,
                    (&tv as *const libc::timeval).cast(),
                    std::mem::size_of::<libc::timeval>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// Records a reset peer ([`Conn::was_reset`]) on the way out.
    fn note(&mut self, err: (WireError, bool)) -> WireError {
        self.reset |= err.1;
        err.0
    }

    fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// True when unread bytes are already buffered.
    pub fn has_buffered(&self) -> bool {
        self.end > self.start
    }

    /// Buffers at least `n` bytes (`n` ≤ the buffer's size).
    fn fill_to(&mut self, n: usize) -> Result<(), WireError> {
        debug_assert!(n <= self.buf.len());
        while self.buffered() < n {
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
            } else if self.start + n > self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let end = self.end;
            let got = recv_with_fds(self.fd.as_raw_fd(), &mut self.buf[end..], &mut self.fds)
                .map_err(|err| self.note(err))?;
            self.end += got;
        }
        Ok(())
    }

    /// The next `n` bytes (`n` ≤ the buffer's size) without consuming them.
    pub fn peek(&mut self, n: usize) -> Result<&[u8], WireError> {
        self.fill_to(n)?;
        Ok(&self.buf[self.start..self.start + n])
    }

    /// Reads and checks the next frame header.
    pub fn read_header(&mut self) -> Result<Header, WireError> {
        self.fill_to(HEADER_LEN)?;
        let bytes: &[u8; HEADER_LEN] = self.buf[self.start..self.start + HEADER_LEN]
            .try_into()
            .expect("length checked");
        let header = protocol::decode_header(bytes)?;
        self.start += HEADER_LEN;
        Ok(header)
    }

    /// Fills `out` completely: buffered bytes first, then straight from
    /// the socket (no second copy for large reads).
    pub fn read_exact(&mut self, out: &mut [u8]) -> Result<(), WireError> {
        let from_buf = self.buffered().min(out.len());
        out[..from_buf].copy_from_slice(&self.buf[self.start..self.start + from_buf]);
        self.start += from_buf;
        let mut done = from_buf;
        while done < out.len() {
            done += recv_with_fds(self.fd.as_raw_fd(), &mut out[done..], &mut self.fds)
                .map_err(|err| self.note(err))?;
        }
        Ok(())
    }

    /// The next `len` bytes: from the read buffer when they fit, else read
    /// into `scratch`.
    pub fn payload<'s>(
        &'s mut self,
        len: usize,
        scratch: &'s mut Vec<u8>,
    ) -> Result<&'s [u8], WireError> {
        if len <= self.buf.len() {
            self.fill_to(len)?;
            let start = self.start;
            self.start += len;
            return Ok(&self.buf[start..start + len]);
        }
        scratch.clear();
        scratch.resize(len, 0);
        self.read_exact(scratch)?;
        Ok(scratch)
    }

    /// Between 1 and `max` of the next bytes (whatever is buffered, or one
    /// receive), for streaming a payload through without holding it whole.
    pub fn chunk(&mut self, max: usize) -> Result<&[u8], WireError> {
        if self.buffered() == 0 {
            self.fill_to(1)?;
        }
        let n = self.buffered().min(max);
        let start = self.start;
        self.start += n;
        Ok(&self.buf[start..start + n])
    }

    /// The bytes already buffered, without a system call (for looking
    /// ahead at frames that arrived together).
    pub fn buffered_bytes(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Consumes `n` buffered bytes (`n` ≤ what [`Conn::buffered_bytes`] gave).
    pub fn consume_buffered(&mut self, n: usize) {
        assert!(n <= self.buffered());
        self.start += n;
    }

    /// The oldest received descriptor not yet taken.
    pub fn take_fd(&mut self) -> Option<OwnedFd> {
        self.fds.pop_front()
    }

    /// True when bytes (or EOF) can be read without blocking.
    pub fn readable_now(&self) -> bool {
        if self.has_buffered() {
            return true;
        }
        let mut fds = [libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        matches!(poll(&mut fds, Some(Duration::ZERO)), Ok(n) if n > 0)
    }

    /// Writes every byte of `parts`, in order.
    pub fn send(&self, parts: &[&[u8]]) -> Result<(), WireError> {
        send_parts(self.fd.as_raw_fd(), parts, None)
    }

    /// Like [`Conn::send`], passing `fd` (`SCM_RIGHTS`) with the first byte.
    pub fn send_with_fd(&self, parts: &[&[u8]], fd: RawFd) -> Result<(), WireError> {
        send_parts(self.fd.as_raw_fd(), parts, Some(fd))
    }
}

/// One `recvmsg` into `buf`, queueing any descriptors that came with it.
/// Zero bytes means the peer closed: reported as [`WireError::Closed`].
/// The flag with an error says it was `ECONNRESET`.
fn recv_with_fds(
    fd: RawFd,
    buf: &mut [u8],
    fds: &mut VecDeque<OwnedFd>,
) -> Result<usize, (WireError, bool)> {
    debug_assert!(!buf.is_empty());
    // u64 storage keeps the control buffer aligned for cmsghdr.
    let mut control = [0u64; 8];
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE((MAX_FDS * std::mem::size_of::<libc::c_int>()) as u32) };
    debug_assert!(space as usize <= std::mem::size_of_val(&control));
    loop {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: an all-zero msghdr is a valid empty message header.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        // SAFETY: `msg` points at a live iovec over `buf` and at `control`,
        // both valid for the sizes given.
        let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            let reset = err.raw_os_error() == Some(libc::ECONNRESET);
            return Err((classify(err), reset));
        }
        // SAFETY: the kernel filled `msg`; the CMSG macros walk the control
        // buffer within `msg_controllen`, and every SCM_RIGHTS entry holds
        // descriptors now owned by this process.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
                    let bytes = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                    for i in 0..bytes / std::mem::size_of::<libc::c_int>() {
                        let raw = std::ptr::read_unaligned(data.add(i));
                        fds.push_back(OwnedFd::from_raw_fd(raw));
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        if msg.msg_flags & libc::MSG_CTRUNC != 0 {
            return Err((
                WireError::Unexpected("too many descriptors in one message".into()),
                false,
            ));
        }
        if n == 0 {
            return Err((WireError::Closed, false));
        }
        return Ok(n as usize);
    }
}

/// Writes every byte of `parts` with `sendmsg` (`MSG_NOSIGNAL`), passing
/// `pass` as `SCM_RIGHTS` with the first call.
fn send_parts(fd: RawFd, parts: &[&[u8]], pass: Option<RawFd>) -> Result<(), WireError> {
    assert!(parts.len() <= MAX_PARTS, "too many parts");
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut sent = 0usize;
    let mut pass = pass;
    let mut control = [0u64; 4];
    while sent < total || pass.is_some() {
        let mut iovs = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; MAX_PARTS];
        let mut count = 0;
        let mut skip = sent;
        for part in parts {
            if skip >= part.len() {
                skip -= part.len();
                continue;
            }
            iovs[count] = libc::iovec {
                iov_base: part[skip..].as_ptr() as *mut libc::c_void,
                iov_len: part.len() - skip,
            };
            skip = 0;
            count += 1;
        }
        // SAFETY: an all-zero msghdr is a valid empty message header.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iovs.as_mut_ptr();
        msg.msg_iovlen = count as _;
        if let Some(passed) = pass {
            // SAFETY: CMSG_SPACE is a pure size computation; the control
            // buffer (32 aligned bytes) holds one header plus one int, and
            // the CMSG macros stay within `msg_controllen`.
            unsafe {
                let space = libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32);
                debug_assert!(space as usize <= std::mem::size_of_val(&control));
                msg.msg_control = control.as_mut_ptr().cast();
                msg.msg_controllen = space as _;
                let cmsg = libc::CMSG_FIRSTHDR(&msg);
                (*cmsg).cmsg_level = libc::SOL_SOCKET;
                (*cmsg).cmsg_type = libc::SCM_RIGHTS;
                (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), passed);
            }
        }
        // SAFETY: the iovecs point into `parts`, alive for this call; the
        // control buffer is set up above (or absent).
        let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(classify(err));
        }
        // The descriptor went with the first byte of this call.
        pass = None;
        sent += n as usize;
    }
    Ok(())
}

/// `poll(2)` with an optional timeout (None: forever); returns how many
/// entries have events. `EINTR` counts as "nothing ready".
pub fn poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<usize> {
    let ms = match timeout {
        None => -1,
        // Round up so a short positive wait never becomes a busy loop.
        Some(t) => t.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int,
    };
    // SAFETY: `fds` is a valid, writable array of pollfd.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if n < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EINTR) {
            return Ok(0);
        }
        return Err(err);
    }
    Ok(n as usize)
}

/// Builds a `sockaddr_un` for `path` (refusing NUL bytes and paths longer
/// than `sun_path`, as `ENAMETOOLONG`).
fn sockaddr_un(path: &[u8]) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: an all-zero sockaddr_un is valid (empty path).
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    if path.contains(&0) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    if path.is_empty() || path.len() >= addr.sun_path.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    for (dst, &src) in addr.sun_path.iter_mut().zip(path) {
        *dst = src as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + path.len() + 1;
    Ok((addr, len as libc::socklen_t))
}

/// One non-blocking connection attempt to the UNIX socket at `path`
/// (mod_wsgi's: a full listener backlog fails at once with `EAGAIN`
/// instead of blocking). The connected socket is returned in blocking
/// mode, close-on-exec.
pub fn connect_unix(path: &[u8]) -> io::Result<OwnedFd> {
    let (addr, len) = sockaddr_un(path)?;
    // SAFETY: plain socket creation.
    let raw = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a new descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    loop {
        // SAFETY: `addr` is a valid sockaddr_un of `len` bytes.
        let rc = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_un).cast(),
                len,
            )
        };
        if rc == 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
    set_nonblocking(fd.as_raw_fd(), false)?;
    Ok(fd)
}

/// Accepts one connection (close-on-exec, blocking).
pub fn accept(listener: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: NULL address pointers are allowed; `listener` is the caller's socket.
    let raw = unsafe {
        libc::accept4(
            listener,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Sets `SO_SNDBUF` and `SO_RCVBUF` on `fd`; 0 leaves one as it is.
/// Linux doubles the value (bookkeeping overhead) and caps it at
/// `net.core.wmem_max`/`rmem_max`.
pub fn set_buffer_sizes(fd: RawFd, send: usize, receive: usize) -> io::Result<()> {
    for (option, size) in [(libc::SO_SNDBUF, send), (libc::SO_RCVBUF, receive)] {
        if size == 0 {
            continue;
        }
        let value = size.min(i32::MAX as usize) as libc::c_int;
        // SAFETY: a socket the caller owns and a properly sized c_int.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                option,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Bytes this end sent on a UNIX stream socket that the peer has not read
/// yet (`SIOCOUTQ`). While a connection waits in a listener's backlog,
/// everything sent on it is unread; once a daemon thread has read the
/// request, nothing is.
pub fn unread_outgoing(fd: RawFd) -> io::Result<usize> {
    let mut value: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one c_int through the pointer.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut value as *mut libc::c_int) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value.max(0) as usize)
}

/// Sets or clears `O_NONBLOCK`.
pub fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor the caller owns or borrows.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        let wanted = if on {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        if wanted != flags && libc::fcntl(fd, libc::F_SETFL, wanted) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A non-blocking, close-on-exec self-pipe used to wake pollers.
pub struct Pipe {
    pub read: OwnedFd,
    pub write: OwnedFd,
}

impl Pipe {
    pub fn new() -> io::Result<Pipe> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: two new descriptors that nothing else owns.
        Ok(unsafe {
            Pipe {
                read: OwnedFd::from_raw_fd(fds[0]),
                write: OwnedFd::from_raw_fd(fds[1]),
            }
        })
    }

    /// Writes one byte (a full pipe already wakes its reader).
    pub fn wake(&self) {
        // SAFETY: a one-byte write from a static buffer.
        let _ = unsafe { libc::write(self.write.as_raw_fd(), b"!".as_ptr().cast(), 1) };
    }

    /// Reads whatever is pending.
    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        // SAFETY: reads into a local buffer; the pipe is non-blocking.
        while unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {
        }
    }
}

/// An epoll instance (close-on-exec) shared by a daemon's request threads.
pub struct Epoll(OwnedFd);

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: plain epoll instance creation.
        let raw = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor that nothing else owns.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(raw) }))
    }

    /// `EPOLL_CTL_ADD` (`add`) or `EPOLL_CTL_MOD` of `fd` for `events`,
    /// reported with `token`.
    pub fn watch(&self, fd: RawFd, events: u32, token: u64, add: bool) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: token };
        let op = if add {
            libc::EPOLL_CTL_ADD
        } else {
            libc::EPOLL_CTL_MOD
        };
        // SAFETY: valid descriptors and a live epoll_event.
        let rc = unsafe { libc::epoll_ctl(self.0.as_raw_fd(), op, fd, &mut event) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits (without a timeout) for one event; `Ok(None)` on `EINTR`.
    pub fn wait_one(&self) -> io::Result<Option<(u32, u64)>> {
        let mut event = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: room for exactly one event.
        let n = unsafe { libc::epoll_wait(self.0.as_raw_fd(), &mut event, 1, -1) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                return Ok(None);
            }
            return Err(err);
        }
        Ok((n == 1).then_some((event.events, event.u64)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (OwnedFd, OwnedFd) {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for two descriptors.
        let rc = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0);
        // SAFETY: two new descriptors.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    #[test]
    fn descriptors_follow_their_bytes() {
        let (a, b) = pair();
        let sender = Conn::new(a, Vec::new(), 64);
        let mut receiver = Conn::new(b, Vec::new(), 64);
        let file = std::fs::File::open("/proc/self/exe").unwrap();
        sender.send(&[b"abc"]).unwrap();
        sender
            .send_with_fd(&[b"de", b"f"], file.as_raw_fd())
            .unwrap();
        let mut out = [0u8; 6];
        receiver.read_exact(&mut out).unwrap();
        assert_eq!(&out, b"abcdef");
        let fd = receiver.take_fd().expect("descriptor received");
        assert_ne!(fd.as_raw_fd(), file.as_raw_fd());
        // SAFETY: F_GETFD on a descriptor we own.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
        assert!(
            flags & libc::FD_CLOEXEC != 0,
            "received fds are close-on-exec"
        );
        assert!(receiver.take_fd().is_none());
    }

    #[test]
    fn short_reads_and_chunks() {
        let (a, b) = pair();
        let sender = Conn::new(a, Vec::new(), 64);
        let mut receiver = Conn::new(b, Vec::new(), 16);
        let data: Vec<u8> = (0..100u8).collect();
        sender.send(&[&data]).unwrap();
        drop(sender);
        let mut scratch = Vec::new();
        // Larger than the buffer: read into scratch.
        assert_eq!(receiver.payload(40, &mut scratch).unwrap(), &data[..40]);
        assert_eq!(receiver.payload(10, &mut scratch).unwrap(), &data[40..50]);
        let mut got = Vec::new();
        loop {
            match receiver.chunk(7) {
                Ok(c) => {
                    assert!(!c.is_empty() && c.len() <= 7);
                    got.extend_from_slice(c);
                }
                Err(WireError::Closed) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, &data[50..]);
    }

    #[test]
    fn timeouts_and_closed_peers_are_classified() {
        let (a, b) = pair();
        let mut receiver = Conn::new(b, Vec::new(), 16);
        receiver.set_timeout(Duration::from_millis(20)).unwrap();
        assert!(matches!(receiver.read_header(), Err(WireError::Timeout)));
        drop(a);
        assert!(matches!(receiver.read_header(), Err(WireError::Closed)));
        assert!(matches!(receiver.send(&[b"x"]), Err(WireError::Closed)));
    }

    #[test]
    fn overlong_socket_paths_are_refused() {
        let long = vec![b'a'; 200];
        let err = connect_unix(&long).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENAMETOOLONG));
        let err = connect_unix(b"/nonexistent/wsgirt.sock").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    }
}
