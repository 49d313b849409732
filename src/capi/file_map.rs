//! Shared read-only file mappings for hosts that send `wsgi.file_wrapper`
//! bodies from memory (see [`crate::file_map`]).

use crate::capi::boundary::{ffi_boundary, status_boundary};
use crate::capi::status::wsgirt_status::{self, *};
use crate::file_map::{self, NotMapped};
use std::ffi::{c_int, c_void};

/// Points `*data` at `len` bytes at `offset` of the regular file open on
/// `fd`, from one mapping of that file shared by every caller in the
/// process (made on first use, checked against the file's size and times
/// on every call, so a changed file gets a new mapping).
///
/// Returns `WSGIRT_STATUS_UNSUPPORTED` for files it does not map (not a
/// regular file, empty, over 4 MiB, a range past the end) or when the
/// system refuses: send the file another way then.
///
/// Ownership: on success the bytes stay valid and must not be written
/// until `wsgirt_file_release(*data)` is called, exactly once. `fd` is
/// only examined (its position does not move); the caller keeps it.
/// Threading: any thread; no runtime or GIL needed.
///
/// # Safety
/// `data` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_file_map(
    fd: c_int,
    offset: u64,
    len: u64,
    data: *mut *const u8,
) -> wsgirt_status {
    status_boundary(|| {
        if data.is_null() {
            return WSGIRT_STATUS_NULL_ARG;
        }
        if fd < 0 {
            return WSGIRT_STATUS_INVALID_ARG;
        }
        match file_map::map(fd, offset, len) {
            Ok(mapped) => {
                // SAFETY: non-NULL and writable per the contract.
                unsafe { *data = mapped };
                WSGIRT_STATUS_OK
            }
            Err(NotMapped::Unsuitable | NotMapped::System(_)) => WSGIRT_STATUS_UNSUPPORTED,
        }
    })
}

/// Releases bytes `wsgirt_file_map` returned; the mapping is unmapped once
/// nobody uses it and it has been replaced, evicted or left idle. Unknown
/// pointers are ignored.
///
/// The signature is APR's bucket free function, so a host's bucket can
/// release the bytes when Apache is done with them (keep the memory out of
/// heap buckets: APR may write into a heap bucket's spare room, and the
/// mapping is read-only).
///
/// Ownership: ends the caller's use of `data`. Threading: any thread.
///
/// # Safety
/// `data` must come from `wsgirt_file_map` and not have been released.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_file_release(data: *mut c_void) {
    ffi_boundary((), || {
        file_map::release(data.cast_const().cast());
    })
}
