//! The panic and NULL boundary around every export.

use crate::capi::status::wsgirt_status;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f`, returning `on_panic` if it panics (the panic hook has already
/// logged it with a backtrace). No unwind ever crosses into C.
pub fn ffi_boundary<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(on_panic)
}

/// [`ffi_boundary`] for exports returning a status.
pub fn status_boundary(f: impl FnOnce() -> wsgirt_status) -> wsgirt_status {
    ffi_boundary(wsgirt_status::WSGIRT_STATUS_PANIC, f)
}

/// Borrows a `(ptr, len)` byte string from C; NULL is only valid with len 0.
///
/// # Safety
/// `ptr` must point at `len` readable bytes that outlive the borrow.
pub unsafe fn bytes<'a>(ptr: *const std::ffi::c_char, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() {
        return (len == 0).then_some(&[]);
    }
    // SAFETY: per contract.
    Some(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// Borrows a `(ptr, len)` UTF-8 string from C.
///
/// # Safety
/// As for [`bytes`].
pub unsafe fn text<'a>(ptr: *const std::ffi::c_char, len: usize) -> Option<&'a str> {
    // SAFETY: per contract.
    std::str::from_utf8(unsafe { bytes(ptr, len) }?).ok()
}
