//! What the runtime needs from a host for one request.

use std::os::fd::RawFd;

/// Why a host I/O call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoError {
    /// The client closed the connection. On a response write this is not
    /// an application error (mod_wsgi's debug "Client closed connection.");
    /// on a body read it raises `IOError` into the application, which is
    /// one if it lets it propagate.
    ClientGone,
    /// A read or write on the client connection timed out (logged).
    Timeout,
    /// Any other failure (logged).
    Failed,
}

/// Host callbacks for one request. Every method is called with the GIL
/// released, never re-entered, and only from the thread running the request.
pub trait HostIo {
    /// Reads request body bytes into `buf`; `Ok(0)` means end of body. An
    /// empty `buf` (the application's first `read(0)`) reads nothing and
    /// says nothing about the end: it lets the host start the body, e.g.
    /// answer `Expect: 100-continue`.
    fn read(&self, buf: &mut [u8]) -> Result<usize, IoError>;
    /// Sets the response status and headers (sent with the first data).
    fn start_response(
        &self,
        status: u16,
        status_line: &[u8],
        headers: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), IoError>;
    /// Sends body bytes; `flush` asks for them to reach the client now.
    fn write(&self, data: &[u8], flush: bool) -> Result<(), IoError>;
    /// Sends `len` bytes of the open file `fd` from `offset` (sendfile
    /// path). `None`: the host cannot, the runtime falls back to reading.
    fn send_file(&self, fd: RawFd, offset: u64, len: u64) -> Option<Result<(), IoError>>;
}
