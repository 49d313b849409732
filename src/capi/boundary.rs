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

/// Name/value byte strings borrowed from C.
pub type BorrowedPairs<'a> = Vec<(&'a [u8], &'a [u8])>;

/// Borrows `len` name/value pairs at `ptr` (environ variables): NULL is
/// only valid with `len` 0, and so is each string's pointer.
///
/// # Safety
/// `ptr` must point at `len` pairs whose strings are readable and outlive
/// the borrow.
pub unsafe fn pairs<'a>(
    ptr: *const crate::capi::request::wsgirt_pair,
    len: usize,
) -> Result<BorrowedPairs<'a>, wsgirt_status> {
    if len == 0 {
        return Ok(Vec::new());
    }
    if ptr.is_null() {
        return Err(wsgirt_status::WSGIRT_STATUS_NULL_ARG);
    }
    // SAFETY: `len` pairs at `ptr`, per the contract.
    let raw = unsafe { std::slice::from_raw_parts(ptr, len) };
    raw.iter()
        .map(|pair| {
            // SAFETY: each pair's strings are readable, per the contract.
            match unsafe {
                (
                    bytes(pair.name.ptr, pair.name.len),
                    bytes(pair.value.ptr, pair.value.len),
                )
            } {
                (Some(name), Some(value)) => Ok((name, value)),
                _ => Err(wsgirt_status::WSGIRT_STATUS_NULL_ARG),
            }
        })
        .collect()
}
