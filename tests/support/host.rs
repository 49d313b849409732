//! An in-memory host: the callbacks of `wsgirt_host_io`, recording what the
//! runtime (or the daemon proxy) sends and feeding it a request body.

use std::ffi::{c_char, c_int, c_void};
use std::io::Read;
use std::time::Duration;
use wsgirt::capi::request::*;

/// What a request produced.
#[derive(Default, Debug)]
pub struct Response {
    pub status: u16,
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub start_calls: usize,
    pub body: Vec<u8>,
    /// Body bytes received (also those not stored).
    pub body_len: u64,
    /// Each host write: (length, flushed).
    pub writes: Vec<(usize, bool)>,
    /// Each send-file call: (offset, length, descriptor was a regular file).
    pub files: Vec<(u64, u64, bool)>,
}

impl Response {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// How many writes asked for a flush.
    pub fn flushes(&self) -> usize {
        self.writes.iter().filter(|(_, f)| *f).count()
    }
}

/// Produces this many bytes of request body without storing them.
pub struct ZeroReader(pub u64);

impl Read for ZeroReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.0) as usize;
        buf[..n].fill(b'z');
        self.0 -= n as u64;
        Ok(n)
    }
}

/// The host side of one request; passed to the callbacks as their `ctx`.
pub struct Host {
    pub input: Box<dyn Read + Send>,
    pub response: Response,
    /// Store body bytes (off for huge responses).
    pub keep_body: bool,
    /// Writes report `write_error_code` once this many body bytes were received.
    pub gone_after: Option<u64>,
    /// What writes report after `gone_after` (WSGIRT_IO_CLIENT_GONE unless set).
    pub write_error_code: wsgirt_io,
    /// Every write takes this long (a slow client).
    pub write_delay: Option<Duration>,
    /// The read callback fails with this code once this many bytes were read.
    pub read_error_after: Option<(u64, wsgirt_io)>,
    /// Offer a send-file callback.
    pub send_file: bool,
    pub read_calls: usize,
    /// Read calls made after the read callback had reported end of body.
    pub reads_after_eof: usize,
    pub bytes_read: u64,
    /// Largest buffer passed to the read callback.
    pub max_read: usize,
    eof: bool,
}

impl Host {
    /// A host whose request body is `body`.
    pub fn new(body: Vec<u8>) -> Host {
        Host::with_input(Box::new(std::io::Cursor::new(body)))
    }
    /// A host reading its request body from `input`.
    pub fn with_input(input: Box<dyn Read + Send>) -> Host {
        Host {
            input,
            response: Response::default(),
            keep_body: true,
            gone_after: None,
            write_error_code: wsgirt_io::WSGIRT_IO_CLIENT_GONE,
            write_delay: None,
            read_error_after: None,
            send_file: true,
            read_calls: 0,
            reads_after_eof: 0,
            bytes_read: 0,
            max_read: 0,
            eof: false,
        }
    }
    /// The callback table for this host (send_file only if [`Host::send_file`]);
    /// pass the host itself as the callbacks' `ctx`.
    pub fn io(&self) -> wsgirt_host_io {
        wsgirt_host_io {
            struct_size: std::mem::size_of::<wsgirt_host_io>(),
            read: Some(read_cb),
            start_response: Some(start_cb),
            write: Some(write_cb),
            send_file: if self.send_file {
                Some(send_file_cb)
            } else {
                None
            },
        }
    }
}

unsafe extern "C" fn read_cb(ctx: *mut c_void, buf: *mut u8, cap: usize, out: *mut usize) -> u32 {
    // SAFETY: `ctx` is the `&mut Host` passed with this table for the
    // request; the runtime calls back on one thread, never re-entrantly.
    let host = unsafe { &mut *ctx.cast::<Host>() };
    host.read_calls += 1;
    host.max_read = host.max_read.max(cap);
    if host.eof {
        host.reads_after_eof += 1;
    }
    if let Some((limit, code)) = host.read_error_after {
        if host.bytes_read >= limit {
            return code as u32;
        }
    }
    // SAFETY: the runtime hands a writable buffer of `cap` bytes.
    let buf = unsafe { std::slice::from_raw_parts_mut(buf, cap) };
    match host.input.read(buf) {
        Ok(n) => {
            if n == 0 {
                host.eof = true;
            }
            host.bytes_read += n as u64;
            // SAFETY: `out` points at the runtime's length slot.
            unsafe { *out = n };
            wsgirt_io::WSGIRT_IO_OK as u32
        }
        Err(_) => wsgirt_io::WSGIRT_IO_ERROR as u32,
    }
}

/// Latin-1 bytes to text (each byte one char), as HTTP header bytes are.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

unsafe extern "C" fn start_cb(
    ctx: *mut c_void,
    status: u16,
    line: *const c_char,
    line_len: usize,
    headers: *const wsgirt_pair,
    n: usize,
) -> u32 {
    // SAFETY: as in `read_cb`.
    let host = unsafe { &mut *ctx.cast::<Host>() };
    host.response.start_calls += 1;
    host.response.status = status;
    // SAFETY: `line_len` readable bytes at `line`.
    let line = unsafe { std::slice::from_raw_parts(line.cast::<u8>(), line_len) };
    host.response.status_line = latin1(line);
    let headers = if n == 0 {
        &[][..]
    } else {
        // SAFETY: `n` pairs at `headers`, valid during the call.
        unsafe { std::slice::from_raw_parts(headers, n) }
    };
    for pair in headers {
        // SAFETY: each pair's strings are valid during the call.
        let name = unsafe { std::slice::from_raw_parts(pair.name.ptr.cast::<u8>(), pair.name.len) };
        let value =
            // SAFETY: as above.
            unsafe { std::slice::from_raw_parts(pair.value.ptr.cast::<u8>(), pair.value.len) };
        host.response.headers.push((latin1(name), latin1(value)));
    }
    wsgirt_io::WSGIRT_IO_OK as u32
}

unsafe extern "C" fn write_cb(ctx: *mut c_void, data: *const u8, len: usize, flags: u32) -> u32 {
    // SAFETY: as in `read_cb`.
    let host = unsafe { &mut *ctx.cast::<Host>() };
    if let Some(limit) = host.gone_after {
        if host.response.body_len >= limit {
            return host.write_error_code as u32;
        }
    }
    if let Some(delay) = host.write_delay {
        std::thread::sleep(delay);
    }
    host.response
        .writes
        .push((len, flags & WSGIRT_WRITE_FLUSH != 0));
    host.response.body_len += len as u64;
    if host.keep_body {
        host.response
            .body
            // SAFETY: `len` readable bytes at `data`, valid during the call.
            .extend_from_slice(unsafe { std::slice::from_raw_parts(data, len) });
    }
    wsgirt_io::WSGIRT_IO_OK as u32
}

unsafe extern "C" fn send_file_cb(ctx: *mut c_void, fd: c_int, offset: u64, len: u64) -> u32 {
    // SAFETY: as in `read_cb`.
    let host = unsafe { &mut *ctx.cast::<Host>() };
    // SAFETY: fstat into a zeroed local on the descriptor passed for this call.
    let regular = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFREG
    };
    host.response.files.push((offset, len, regular));
    // Move the descriptor's position, as a host using read() would: the
    // runtime must not depend on it.
    // SAFETY: the descriptor is open during the call.
    unsafe { libc::lseek(fd, 0, libc::SEEK_END) };
    let mut buf = vec![0u8; len as usize];
    // SAFETY: `buf` has room for `len` bytes; `fd` is open during the call.
    let n = unsafe {
        libc::pread(
            fd,
            buf.as_mut_ptr().cast(),
            len as usize,
            offset as libc::off_t,
        )
    };
    if n < 0 {
        return wsgirt_io::WSGIRT_IO_ERROR as u32;
    }
    buf.truncate(n as usize);
    host.response.body_len += buf.len() as u64;
    host.response.body.extend_from_slice(&buf);
    wsgirt_io::WSGIRT_IO_OK as u32
}
