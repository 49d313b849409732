//! The host's C callback table as a [`HostIo`], shared by embedded
//! requests (`wsgirt_request_run`) and daemon proxying (`wsgirt_daemon_proxy`).

use crate::capi::request::{wsgirt_host_io, wsgirt_pair, wsgirt_str, WSGIRT_WRITE_FLUSH};
use crate::wsgi::host::{HostIo, IoError};
use std::ffi::c_void;
use std::os::fd::RawFd;

/// Adapts the C callback table to [`HostIo`].
pub(crate) struct CHost<'a> {
    io: &'a wsgirt_host_io,
    ctx: *mut c_void,
}

pub(crate) fn io_result(code: u32) -> Result<(), IoError> {
    match code {
        0 => Ok(()),
        1 => Err(IoError::ClientGone),
        2 => Err(IoError::Timeout),
        _ => Err(IoError::Failed),
    }
}

impl wsgirt_host_io {
    /// True when the table is at least as large as this library's and has
    /// the required callbacks (`read`, `start_response`, `write`).
    pub(crate) fn usable(&self) -> bool {
        self.struct_size >= std::mem::size_of::<wsgirt_host_io>()
            && self.read.is_some()
            && self.start_response.is_some()
            && self.write.is_some()
    }
}

impl<'a> CHost<'a> {
    pub(crate) fn new(io: &'a wsgirt_host_io, ctx: *mut c_void) -> CHost<'a> {
        CHost { io, ctx }
    }
}

impl HostIo for CHost<'_> {
    fn read(&self, buf: &mut [u8]) -> Result<usize, IoError> {
        let Some(read) = self.io.read else {
            return Ok(0);
        };
        let mut got = 0usize;
        // SAFETY: the buffer is valid for `buf.len()` bytes; the host contract
        // says it writes at most that many and sets `got`.
        io_result(unsafe { read(self.ctx, buf.as_mut_ptr(), buf.len(), &mut got) })?;
        Ok(got.min(buf.len()))
    }

    fn start_response(
        &self,
        status: u16,
        line: &[u8],
        headers: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), IoError> {
        let Some(start) = self.io.start_response else {
            return Err(IoError::Failed);
        };
        let pairs: Vec<wsgirt_pair> = headers
            .iter()
            .map(|(name, value)| wsgirt_pair {
                name: wsgirt_str {
                    ptr: name.as_ptr().cast(),
                    len: name.len(),
                },
                value: wsgirt_str {
                    ptr: value.as_ptr().cast(),
                    len: value.len(),
                },
            })
            .collect();
        // SAFETY: every pointer is valid for the duration of the call.
        io_result(unsafe {
            start(
                self.ctx,
                status,
                line.as_ptr().cast(),
                line.len(),
                pairs.as_ptr(),
                pairs.len(),
            )
        })
    }

    fn write(&self, data: &[u8], flush: bool) -> Result<(), IoError> {
        let Some(write) = self.io.write else {
            return Err(IoError::Failed);
        };
        let flags = if flush { WSGIRT_WRITE_FLUSH } else { 0 };
        // SAFETY: `data` is valid for the call.
        io_result(unsafe { write(self.ctx, data.as_ptr(), data.len(), flags) })
    }

    fn send_file(&self, fd: RawFd, offset: u64, len: u64) -> Option<Result<(), IoError>> {
        let send = self.io.send_file?;
        // SAFETY: `fd` is open for the duration of the call.
        Some(io_result(unsafe { send(self.ctx, fd, offset, len) }))
    }
}
