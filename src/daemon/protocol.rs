//! The worker ↔ daemon wire protocol.
//!
//! A connection carries one request at a time. The worker opens each
//! request with a [`Preamble`] (magic, version, origin token: only Apache workers of the
//! same server instance know the token), then sends a `Request` frame. From
//! then on the daemon drives: it asks for body bytes with `Read` when the
//! application reads `wsgi.input` (so neither side can deadlock on full
//! socket buffers, and `100-continue` is only sent when the body is
//! wanted), and sends `Start`, `Data`, `File` (with the descriptor passed
//! alongside as `SCM_RIGHTS`), `Spool` and finally `End`. The worker
//! answers `Read` with `Body` (empty = end of body) or `IoFailed`, and may
//! send `Gone` at any time once the client has disconnected.
//!
//! `Spool` (version 2) carries large response blocks without copying them
//! through the socket: the daemon copies the bytes into a shared-memory
//! ring of the connection ([`crate::daemon::spool`]) and sends only their
//! offset and length. The ring's descriptor is passed once per connection
//! (`SCM_RIGHTS` with the frame that has [`FLAG_SPOOL_NEW`]); later `Spool`
//! frames refer to it. A frame with [`FLAG_SPOOL_SYNC`] is answered
//! `SpoolDone` as soon as the worker reaches it (every earlier range is
//! sent, their ring space is free again): the daemon's flow control.
//!
//! Connections are reused: an `End` with the keep flag ([`FLAG_END_KEEP`])
//! means the daemon waits for the next preamble + `Request` on the same
//! connection (the worker keeps it in a per-process pool); without it the
//! daemon closes the connection. A worker that sent `Gone` never reuses
//! the connection.
//!
//! Every frame is an 8-byte header — kind `u8`, flags `u8`, reserved `u16`
//! (zero), payload length `u32`, little-endian — then the payload. Lengths
//! are capped ([`MAX_PAYLOAD`], [`MAX_FIELDS`]); a decoder never allocates
//! more than a frame's declared, capped length.

/// First bytes of every connection.
pub const MAGIC: [u8; 6] = *b"WSGIRT";
/// Protocol version; bumped on any incompatible change.
pub const VERSION: u16 = 2;
/// Length of the origin token in the preamble.
pub const TOKEN_LEN: usize = 32;
/// Preamble length: magic, version, token.
pub const PREAMBLE_LEN: usize = MAGIC.len() + 2 + TOKEN_LEN;
/// Frame header length.
pub const HEADER_LEN: usize = 8;
/// Largest payload of any frame (16 MiB); larger writes are split.
pub const MAX_PAYLOAD: usize = 16 << 20;
/// Largest number of name/value pairs in a frame.
pub const MAX_FIELDS: usize = 4096;

/// Why bytes could not be decoded. Every variant is a protocol violation:
/// the connection is closed, logged, and the request answered 500.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    BadMagic,
    BadVersion(u16),
    BadToken,
    UnknownKind(u8),
    ReservedNotZero,
    TooLarge(usize),
    TooManyFields(usize),
    Truncated,
    TrailingBytes,
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtocolError::BadMagic => write!(f, "not a wsgirt daemon connection"),
            ProtocolError::BadVersion(v) => {
                write!(f, "unsupported protocol version {v} (expected {VERSION})")
            }
            ProtocolError::BadToken => {
                write!(f, "origin token mismatch (not a worker of this server)")
            }
            ProtocolError::UnknownKind(k) => write!(f, "unknown frame kind {k}"),
            ProtocolError::ReservedNotZero => write!(f, "reserved frame bits set"),
            ProtocolError::TooLarge(n) => {
                write!(f, "frame of {n} bytes exceeds the {MAX_PAYLOAD}-byte cap")
            }
            ProtocolError::TooManyFields(n) => {
                write!(f, "{n} fields exceed the cap of {MAX_FIELDS}")
            }
            ProtocolError::Truncated => write!(f, "frame payload shorter than its fields"),
            ProtocolError::TrailingBytes => write!(f, "frame payload longer than its fields"),
        }
    }
}

/// Name/value byte-string pairs (environ variables, headers).
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// The connection preamble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preamble {
    pub token: [u8; TOKEN_LEN],
}

impl Preamble {
    pub fn encode(&self) -> [u8; PREAMBLE_LEN] {
        let mut out = [0u8; PREAMBLE_LEN];
        out[..6].copy_from_slice(&MAGIC);
        out[6..8].copy_from_slice(&VERSION.to_le_bytes());
        out[8..].copy_from_slice(&self.token);
        out
    }

    /// Checks a received preamble against the expected token.
    pub fn check(bytes: &[u8; PREAMBLE_LEN], token: &[u8; TOKEN_LEN]) -> Result<(), ProtocolError> {
        if bytes[..6] != MAGIC {
            return Err(ProtocolError::BadMagic);
        }
        let version = u16::from_le_bytes([bytes[6], bytes[7]]);
        if version != VERSION {
            return Err(ProtocolError::BadVersion(version));
        }
        // Constant-time comparison: the token is a secret.
        let diff = bytes[8..]
            .iter()
            .zip(token)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return Err(ProtocolError::BadToken);
        }
        Ok(())
    }
}

/// How a request ended, as reported in `End`.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndOutcome {
    Responded = 0,
    LoadFailed = 1,
    CallableMissing = 2,
    AppError = 3,
    ClientGone = 4,
    /// The script changed: the daemon restarts; the worker retries.
    Rejected = 5,
    /// The request waited longer than queue-timeout: answer 504.
    QueueTimeout = 6,
    /// interrupt-timeout ended the application before it responded: 504.
    RequestTimeout = 7,
}

impl EndOutcome {
    fn from_u8(value: u8) -> Option<EndOutcome> {
        Some(match value {
            0 => EndOutcome::Responded,
            1 => EndOutcome::LoadFailed,
            2 => EndOutcome::CallableMissing,
            3 => EndOutcome::AppError,
            4 => EndOutcome::ClientGone,
            5 => EndOutcome::Rejected,
            6 => EndOutcome::QueueTimeout,
            7 => EndOutcome::RequestTimeout,
            _ => return None,
        })
    }
}

/// A request as the worker hands it to the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestFrame {
    pub application_group: Vec<u8>,
    pub script_path: Vec<u8>,
    pub callable: Vec<u8>,
    pub reload_script: bool,
    pub script_mtime: i64,
    /// When Apache accepted the request (µs since the epoch), for queue-timeout.
    pub queue_start: i64,
    pub environ: Pairs,
}

/// Every frame of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    // worker → daemon
    Request(RequestFrame),
    /// Body bytes answering `Read`; empty means end of body.
    Body(Vec<u8>),
    /// Reading the body failed (`IoError` code: 1 gone, 2 timeout, 3 other).
    IoFailed(u8),
    /// The client went away; stop producing output.
    Gone,
    /// Every range before the `Spool` frame with [`FLAG_SPOOL_SYNC`] just
    /// reached was sent (one answer per such frame).
    SpoolDone,
    // daemon → worker
    /// The application wants up to this many body bytes.
    Read(u32),
    Start {
        status: u16,
        status_line: Vec<u8>,
        headers: Pairs,
    },
    Data {
        data: Vec<u8>,
        flush: bool,
    },
    /// Send `len` bytes from `offset` of the descriptor passed with this frame.
    File {
        offset: u64,
        len: u64,
    },
    /// Send `len` bytes from `offset` of the connection's spool ring (its
    /// descriptor comes with this frame when `new_fd` is set; `sync`: answer
    /// `SpoolDone` first).
    Spool {
        offset: u64,
        len: u64,
        flush: bool,
        new_fd: bool,
        sync: bool,
    },
    End {
        outcome: EndOutcome,
        incomplete: bool,
        status: u16,
        bytes_written: u64,
    },
}

/// Appends a complete `Start` frame to `out` from borrowed headers,
/// byte-for-byte what [`Frame::encode`] produces. Fails, leaving `out`
/// as it was, when the frame would exceed the caps.
pub fn encode_start_into(
    out: &mut Vec<u8>,
    status: u16,
    status_line: &[u8],
    headers: &[(Vec<u8>, Vec<u8>)],
) -> Result<(), ProtocolError> {
    if headers.len() > MAX_FIELDS {
        return Err(ProtocolError::TooManyFields(headers.len()));
    }
    let len = headers
        .iter()
        .fold(2 + 4 + status_line.len() + 4, |acc, (n, v)| {
            acc.saturating_add(8 + n.len() + v.len())
        });
    if len > MAX_PAYLOAD {
        return Err(ProtocolError::TooLarge(len));
    }
    out.reserve(HEADER_LEN + len);
    out.extend_from_slice(&encode_header(kind::START, 0, len));
    let mut w = Writer(std::mem::take(out));
    w.0.extend_from_slice(&status.to_le_bytes());
    w.bytes(status_line);
    w.pairs(headers);
    *out = w.0;
    Ok(())
}

/// Frame kinds (the first header byte), for code that reads headers itself:
/// the proxy streams `Data` payloads instead of decoding them into a [`Frame`].
pub mod kind {
    pub const REQUEST: u8 = 1;
    pub const BODY: u8 = 2;
    pub const IO_FAILED: u8 = 3;
    pub const GONE: u8 = 4;
    pub const SPOOL_DONE: u8 = 5;
    pub const READ: u8 = 16;
    pub const START: u8 = 17;
    pub const DATA: u8 = 18;
    pub const FILE: u8 = 19;
    pub const END: u8 = 20;
    pub const SPOOL: u8 = 21;
}

const FLAG_FLUSH: u8 = 1;
/// On `End`: the daemon keeps the connection and reads the next request
/// (preamble + `Request`) from it; without it the connection is closed.
const FLAG_KEEP: u8 = 2;
/// On `Spool`: a new spool descriptor comes with this frame.
const FLAG_NEW: u8 = 4;
/// On `Spool`: answer `SpoolDone` on reaching this frame.
const FLAG_SYNC: u8 = 8;

struct Writer(Vec<u8>);

impl Writer {
    fn bytes(&mut self, data: &[u8]) {
        self.0.extend_from_slice(&(data.len() as u32).to_le_bytes());
        self.0.extend_from_slice(data);
    }
    fn pairs(&mut self, pairs: &[(Vec<u8>, Vec<u8>)]) {
        self.0
            .extend_from_slice(&(pairs.len() as u32).to_le_bytes());
        for (name, value) in pairs {
            self.bytes(name);
            self.bytes(value);
        }
    }
}

impl Frame {
    /// Encodes the frame (header and payload). Panics if the payload
    /// exceeds [`MAX_PAYLOAD`]: callers split data before encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(64));
        w.0.extend_from_slice(&[0u8; HEADER_LEN]);
        let (kind, flags) = match self {
            Frame::Request(r) => {
                w.bytes(&r.application_group);
                w.bytes(&r.script_path);
                w.bytes(&r.callable);
                w.0.push(u8::from(r.reload_script));
                w.0.extend_from_slice(&r.script_mtime.to_le_bytes());
                w.0.extend_from_slice(&r.queue_start.to_le_bytes());
                w.pairs(&r.environ);
                (kind::REQUEST, 0)
            }
            Frame::Body(data) => {
                w.0.extend_from_slice(data);
                (kind::BODY, 0)
            }
            Frame::IoFailed(code) => {
                w.0.push(*code);
                (kind::IO_FAILED, 0)
            }
            Frame::Gone => (kind::GONE, 0),
            Frame::SpoolDone => (kind::SPOOL_DONE, 0),
            Frame::Read(n) => {
                w.0.extend_from_slice(&n.to_le_bytes());
                (kind::READ, 0)
            }
            Frame::Start {
                status,
                status_line,
                headers,
            } => {
                w.0.extend_from_slice(&status.to_le_bytes());
                w.bytes(status_line);
                w.pairs(headers);
                (kind::START, 0)
            }
            Frame::Data { data, flush } => {
                w.0.extend_from_slice(data);
                (kind::DATA, if *flush { FLAG_FLUSH } else { 0 })
            }
            Frame::File { offset, len } => {
                w.0.extend_from_slice(&offset.to_le_bytes());
                w.0.extend_from_slice(&len.to_le_bytes());
                (kind::FILE, 0)
            }
            Frame::Spool {
                offset,
                len,
                flush,
                new_fd,
                sync,
            } => {
                w.0.extend_from_slice(&offset.to_le_bytes());
                w.0.extend_from_slice(&len.to_le_bytes());
                (kind::SPOOL, spool_flags(*flush, *new_fd, *sync))
            }
            Frame::End {
                outcome,
                incomplete,
                status,
                bytes_written,
            } => {
                w.0.push(*outcome as u8);
                w.0.push(u8::from(*incomplete));
                w.0.extend_from_slice(&status.to_le_bytes());
                w.0.extend_from_slice(&bytes_written.to_le_bytes());
                (kind::END, 0)
            }
        };
        let len = w.0.len() - HEADER_LEN;
        assert!(
            len <= MAX_PAYLOAD,
            "frame payload of {len} bytes exceeds the cap"
        );
        w.0[0] = kind;
        w.0[1] = flags;
        w.0[4..8].copy_from_slice(&(len as u32).to_le_bytes());
        w.0
    }
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: u8,
    pub flags: u8,
    pub len: usize,
}

/// Parses and checks a frame header.
pub fn decode_header(bytes: &[u8; HEADER_LEN]) -> Result<Header, ProtocolError> {
    let kind = bytes[0];
    if !matches!(kind, 1..=5 | 16..=21) {
        return Err(ProtocolError::UnknownKind(kind));
    }
    if bytes[2] != 0
        || bytes[3] != 0
        || bytes[1] & !(FLAG_FLUSH | FLAG_KEEP | FLAG_NEW | FLAG_SYNC) != 0
    {
        return Err(ProtocolError::ReservedNotZero);
    }
    let len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(ProtocolError::TooLarge(len));
    }
    Ok(Header {
        kind,
        flags: bytes[1],
        len,
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        if self.0.len() < n {
            return Err(ProtocolError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        Ok(self.take(N)?.try_into().expect("length checked"))
    }
    fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, ProtocolError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, ProtocolError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, ProtocolError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, ProtocolError> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, ProtocolError> {
        Ok(self.slice()?.to_vec())
    }
    fn slice(&mut self) -> Result<&'a [u8], ProtocolError> {
        let len = self.u32()? as usize;
        self.take(len)
    }
    fn pairs(&mut self) -> Result<Pairs, ProtocolError> {
        let n = self.u32()? as usize;
        if n > MAX_FIELDS {
            return Err(ProtocolError::TooManyFields(n));
        }
        // Each pair needs at least 8 bytes: never reserve more than the payload allows.
        let mut pairs = Vec::with_capacity(n.min(self.0.len() / 8));
        for _ in 0..n {
            pairs.push((self.bytes()?, self.bytes()?));
        }
        Ok(pairs)
    }
    fn finish(self) -> Result<(), ProtocolError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ProtocolError::TrailingBytes)
        }
    }
}

/// Decodes a frame's payload given its header.
pub fn decode_payload(header: Header, payload: &[u8]) -> Result<Frame, ProtocolError> {
    if payload.len() != header.len {
        return Err(ProtocolError::Truncated);
    }
    let mut r = Reader(payload);
    let frame = match header.kind {
        kind::REQUEST => Frame::Request(RequestFrame {
            application_group: r.bytes()?,
            script_path: r.bytes()?,
            callable: r.bytes()?,
            reload_script: r.u8()? != 0,
            script_mtime: r.i64()?,
            queue_start: r.i64()?,
            environ: r.pairs()?,
        }),
        kind::BODY => Frame::Body(r.take(payload.len())?.to_vec()),
        kind::IO_FAILED => Frame::IoFailed(r.u8()?),
        kind::GONE => Frame::Gone,
        kind::SPOOL_DONE => Frame::SpoolDone,
        kind::READ => Frame::Read(r.u32()?),
        kind::START => Frame::Start {
            status: r.u16()?,
            status_line: r.bytes()?,
            headers: r.pairs()?,
        },
        kind::DATA => Frame::Data {
            data: r.take(payload.len())?.to_vec(),
            flush: header.flags & FLAG_FLUSH != 0,
        },
        kind::FILE => Frame::File {
            offset: r.u64()?,
            len: r.u64()?,
        },
        kind::SPOOL => Frame::Spool {
            offset: r.u64()?,
            len: r.u64()?,
            flush: header.flags & FLAG_FLUSH != 0,
            new_fd: header.flags & FLAG_NEW != 0,
            sync: header.flags & FLAG_SYNC != 0,
        },
        kind::END => {
            let outcome = r.u8()?;
            Frame::End {
                outcome: EndOutcome::from_u8(outcome).ok_or(ProtocolError::UnknownKind(outcome))?,
                incomplete: r.u8()? != 0,
                status: r.u16()?,
                bytes_written: r.u64()?,
            }
        }
        other => return Err(ProtocolError::UnknownKind(other)),
    };
    r.finish()?;
    Ok(frame)
}

/// Decodes one frame from the front of `bytes`: `Ok(None)` when more bytes
/// are needed, else the frame and how many bytes it used.
pub fn decode(bytes: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
    let Some(head) = bytes.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let header = decode_header(head.try_into().expect("length checked"))?;
    let Some(payload) = bytes.get(HEADER_LEN..HEADER_LEN + header.len) else {
        return Ok(None);
    };
    Ok(Some((
        decode_payload(header, payload)?,
        HEADER_LEN + header.len,
    )))
}

/// The fixed part of a `Request` frame, borrowed (the hot path: the proxy
/// encodes straight from the host's strings and the daemon decodes without
/// copying a single field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestHead<'a> {
    pub application_group: &'a [u8],
    pub script_path: &'a [u8],
    pub callable: &'a [u8],
    pub reload_script: bool,
    pub script_mtime: i64,
    pub queue_start: i64,
}

/// A borrowed name/value pair.
pub type PairRef<'a> = (&'a [u8], &'a [u8]);

/// Appends a complete `Request` frame (header and payload) to `out`,
/// byte-for-byte what [`Frame::encode`] produces for the owned form.
/// Fails, leaving `out` as it was, when the frame would exceed
/// [`MAX_PAYLOAD`] or [`MAX_FIELDS`].
pub fn encode_request_into<'a>(
    out: &mut Vec<u8>,
    head: &RequestHead<'_>,
    environ: impl Iterator<Item = PairRef<'a>> + Clone,
) -> Result<(), ProtocolError> {
    let count = environ.clone().count();
    if count > MAX_FIELDS {
        return Err(ProtocolError::TooManyFields(count));
    }
    let fixed = 12
        + head.application_group.len()
        + head.script_path.len()
        + head.callable.len()
        + 1
        + 8
        + 8
        + 4;
    let len = environ
        .clone()
        .try_fold(fixed, |acc: usize, (name, value)| {
            acc.checked_add(8 + name.len() + value.len())
        })
        .unwrap_or(usize::MAX);
    if len > MAX_PAYLOAD {
        return Err(ProtocolError::TooLarge(len));
    }
    out.reserve(HEADER_LEN + len);
    out.extend_from_slice(&[kind::REQUEST, 0, 0, 0]);
    out.extend_from_slice(&(len as u32).to_le_bytes());
    let mut w = Writer(std::mem::take(out));
    w.bytes(head.application_group);
    w.bytes(head.script_path);
    w.bytes(head.callable);
    w.0.push(u8::from(head.reload_script));
    w.0.extend_from_slice(&head.script_mtime.to_le_bytes());
    w.0.extend_from_slice(&head.queue_start.to_le_bytes());
    w.0.extend_from_slice(&(count as u32).to_le_bytes());
    for (name, value) in environ {
        w.bytes(name);
        w.bytes(value);
    }
    *out = w.0;
    Ok(())
}

/// Decodes a `Request` payload without copying: every field borrows from
/// `payload`. Same checks as [`decode_payload`].
pub fn decode_request(
    payload: &[u8],
) -> Result<(RequestHead<'_>, Vec<PairRef<'_>>), ProtocolError> {
    let mut r = Reader(payload);
    let head = RequestHead {
        application_group: r.slice()?,
        script_path: r.slice()?,
        callable: r.slice()?,
        reload_script: r.u8()? != 0,
        script_mtime: r.i64()?,
        queue_start: r.i64()?,
    };
    let n = r.u32()? as usize;
    if n > MAX_FIELDS {
        return Err(ProtocolError::TooManyFields(n));
    }
    let mut environ = Vec::with_capacity(n.min(r.0.len() / 8));
    for _ in 0..n {
        environ.push((r.slice()?, r.slice()?));
    }
    r.finish()?;
    Ok((head, environ))
}

/// The `flush` flag of a `Data` frame header.
pub const FLAG_DATA_FLUSH: u8 = FLAG_FLUSH;
/// `End` header flag: the connection stays open for the next request.
pub const FLAG_END_KEEP: u8 = FLAG_KEEP;
/// `Spool` header flag: the ring's descriptor comes with this frame.
pub const FLAG_SPOOL_NEW: u8 = FLAG_NEW;
/// `Spool` header flag: answer `SpoolDone` on reaching this frame.
pub const FLAG_SPOOL_SYNC: u8 = FLAG_SYNC;
/// Payload length of a `Spool` frame (offset and length).
pub const SPOOL_PAYLOAD: usize = 16;

fn spool_flags(flush: bool, new_fd: bool, sync: bool) -> u8 {
    (if flush { FLAG_FLUSH } else { 0 })
        | (if new_fd { FLAG_NEW } else { 0 })
        | (if sync { FLAG_SYNC } else { 0 })
}

/// Encodes a complete `Spool` frame (header and payload) without allocating.
pub fn encode_spool(
    offset: u64,
    len: u64,
    flush: bool,
    new_fd: bool,
    sync: bool,
) -> [u8; HEADER_LEN + SPOOL_PAYLOAD] {
    let flags = spool_flags(flush, new_fd, sync);
    let mut out = [0u8; HEADER_LEN + SPOOL_PAYLOAD];
    out[..HEADER_LEN].copy_from_slice(&encode_header(kind::SPOOL, flags, SPOOL_PAYLOAD));
    out[HEADER_LEN..HEADER_LEN + 8].copy_from_slice(&offset.to_le_bytes());
    out[HEADER_LEN + 8..].copy_from_slice(&len.to_le_bytes());
    out
}

/// Encodes a frame header.
pub fn encode_header(kind: u8, flags: u8, len: usize) -> [u8; HEADER_LEN] {
    debug_assert!(len <= MAX_PAYLOAD);
    let mut out = [0u8; HEADER_LEN];
    out[0] = kind;
    out[1] = flags;
    out[4..8].copy_from_slice(&(len as u32).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_frame() -> Vec<Frame> {
        vec![
            Frame::Request(RequestFrame {
                application_group: b"".to_vec(),
                script_path: b"/srv/app.wsgi".to_vec(),
                callable: b"application".to_vec(),
                reload_script: true,
                script_mtime: 1_700_000_000_000_000,
                queue_start: 42,
                environ: vec![
                    (b"REQUEST_METHOD".to_vec(), b"GET".to_vec()),
                    (b"HTTP_X".to_vec(), vec![0xe9]),
                ],
            }),
            Frame::Body(b"abc".to_vec()),
            Frame::Body(Vec::new()),
            Frame::IoFailed(2),
            Frame::Gone,
            Frame::Read(65536),
            Frame::Start {
                status: 200,
                status_line: b"200 OK".to_vec(),
                headers: vec![(b"Content-Type".to_vec(), b"text/plain".to_vec())],
            },
            Frame::Data {
                data: vec![1, 2, 3],
                flush: true,
            },
            Frame::Data {
                data: vec![],
                flush: false,
            },
            Frame::File {
                offset: 7,
                len: 1 << 40,
            },
            Frame::SpoolDone,
            Frame::Spool {
                offset: 0,
                len: 65536,
                flush: true,
                new_fd: true,
                sync: false,
            },
            Frame::Spool {
                offset: 1 << 20,
                len: 1,
                flush: false,
                new_fd: false,
                sync: true,
            },
            Frame::End {
                outcome: EndOutcome::Responded,
                incomplete: true,
                status: 200,
                bytes_written: 99,
            },
        ]
    }

    #[test]
    fn frames_round_trip() {
        for frame in every_frame() {
            let bytes = frame.encode();
            assert_eq!(
                decode(&bytes),
                Ok(Some((frame.clone(), bytes.len()))),
                "{frame:?}"
            );
            // Any strict prefix asks for more bytes.
            for cut in 0..bytes.len() {
                assert_eq!(decode(&bytes[..cut]), Ok(None), "{frame:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn stream_of_frames_decodes_in_order() {
        let frames = every_frame();
        let stream: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
        let mut at = 0;
        for frame in &frames {
            let (got, used) = decode(&stream[at..]).unwrap().unwrap();
            assert_eq!(&got, frame);
            at += used;
        }
        assert_eq!(at, stream.len());
    }

    #[test]
    fn bad_headers_are_refused() {
        let mut bytes = Frame::Gone.encode();
        bytes[0] = 99;
        assert_eq!(decode(&bytes), Err(ProtocolError::UnknownKind(99)));
        let mut bytes = Frame::Gone.encode();
        bytes[2] = 1;
        assert_eq!(decode(&bytes), Err(ProtocolError::ReservedNotZero));
        let mut bytes = Frame::Gone.encode();
        bytes[4..8].copy_from_slice(&(MAX_PAYLOAD as u32 + 1).to_le_bytes());
        assert_eq!(
            decode(&bytes),
            Err(ProtocolError::TooLarge(MAX_PAYLOAD + 1))
        );
    }

    #[test]
    fn inconsistent_payloads_are_refused() {
        // A READ frame with 5 payload bytes: one trailing byte.
        let mut bytes = vec![16, 0, 0, 0, 5, 0, 0, 0];
        bytes.extend_from_slice(&[1, 0, 0, 0, 9]);
        assert_eq!(decode(&bytes), Err(ProtocolError::TrailingBytes));
        // A START frame whose status line claims more bytes than present.
        let mut bytes = vec![17, 0, 0, 0, 6, 0, 0, 0];
        bytes.extend_from_slice(&[200, 0, 255, 255, 0, 0]);
        assert_eq!(decode(&bytes), Err(ProtocolError::Truncated));
        // Too many pairs.
        let mut payload = vec![200, 0, 0, 0, 0, 0];
        payload.extend_from_slice(&(MAX_FIELDS as u32 + 1).to_le_bytes());
        let mut bytes = vec![17, 0, 0, 0];
        bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&payload);
        assert_eq!(
            decode(&bytes),
            Err(ProtocolError::TooManyFields(MAX_FIELDS + 1))
        );
    }

    #[test]
    fn preamble_checks_magic_version_and_token() {
        let token = [7u8; TOKEN_LEN];
        let good = Preamble { token }.encode();
        assert_eq!(Preamble::check(&good, &token), Ok(()));
        assert_eq!(
            Preamble::check(&good, &[8u8; TOKEN_LEN]),
            Err(ProtocolError::BadToken)
        );
        let mut bad = good;
        bad[0] = b'X';
        assert_eq!(Preamble::check(&bad, &token), Err(ProtocolError::BadMagic));
        let mut bad = good;
        bad[6] = 9;
        assert_eq!(
            Preamble::check(&bad, &token),
            Err(ProtocolError::BadVersion(9))
        );
    }

    #[test]
    fn borrowed_request_matches_the_owned_encoding() {
        let Frame::Request(owned) = every_frame().remove(0) else {
            unreachable!()
        };
        let head = RequestHead {
            application_group: &owned.application_group,
            script_path: &owned.script_path,
            callable: &owned.callable,
            reload_script: owned.reload_script,
            script_mtime: owned.script_mtime,
            queue_start: owned.queue_start,
        };
        let pairs: Vec<PairRef<'_>> = owned
            .environ
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect();
        let mut out = b"prefix".to_vec();
        encode_request_into(&mut out, &head, pairs.iter().copied()).unwrap();
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(out[6..], Frame::Request(owned.clone()).encode()[..]);
        let header = decode_header(out[6..14].try_into().unwrap()).unwrap();
        assert_eq!(header.kind, kind::REQUEST);
        let (got_head, got_pairs) = decode_request(&out[14..]).unwrap();
        assert_eq!(got_head, head);
        assert_eq!(got_pairs, pairs);
        // Truncations and trailing bytes are refused like the owned decoder does.
        for cut in 0..out.len() - 14 {
            assert!(decode_request(&out[14..14 + cut]).is_err());
        }
        let mut longer = out[14..].to_vec();
        longer.push(0);
        assert_eq!(decode_request(&longer), Err(ProtocolError::TrailingBytes));
    }

    #[test]
    fn oversized_requests_are_refused_before_encoding() {
        let big = vec![0u8; MAX_PAYLOAD];
        let mut out = Vec::new();
        let head = RequestHead {
            script_path: &big,
            ..RequestHead::default()
        };
        assert!(matches!(
            encode_request_into(&mut out, &head, std::iter::empty()),
            Err(ProtocolError::TooLarge(_))
        ));
        let pairs = vec![(&b"k"[..], &b"v"[..]); MAX_FIELDS + 1];
        assert_eq!(
            encode_request_into(&mut out, &RequestHead::default(), pairs.iter().copied()),
            Err(ProtocolError::TooManyFields(MAX_FIELDS + 1))
        );
        assert!(out.is_empty());
    }

    #[test]
    fn spool_frames_encode_without_allocating_like_the_owned_form() {
        for bits in 0..8 {
            let (flush, new_fd, sync) = (bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
            let frame = Frame::Spool {
                offset: 12345,
                len: 65536,
                flush,
                new_fd,
                sync,
            };
            let bytes = encode_spool(12345, 65536, flush, new_fd, sync);
            assert_eq!(bytes[..], frame.encode()[..]);
            assert_eq!(decode(&bytes), Ok(Some((frame, bytes.len()))));
        }
    }

    #[test]
    fn borrowed_start_matches_the_owned_encoding() {
        let frame = Frame::Start {
            status: 404,
            status_line: b"404 Not Found".to_vec(),
            headers: vec![
                (b"Content-Type".to_vec(), b"text/plain".to_vec()),
                (b"X".to_vec(), Vec::new()),
            ],
        };
        let Frame::Start {
            status,
            status_line,
            headers,
        } = &frame
        else {
            unreachable!()
        };
        let mut out = vec![9];
        encode_start_into(&mut out, *status, status_line, headers).unwrap();
        assert_eq!(out[1..], frame.encode()[..]);
    }
}
