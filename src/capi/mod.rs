//! The C API: the only place with `#[no_mangle]` exports and raw pointers
//! from C. `include/wsgirt.h` is generated from this module by cbindgen.
//!
//! Conventions (docs/c-api.md):
//! - every export returns a [`status::wsgirt_status`] (or, for infallible
//!   getters, a documented default), checks every pointer and catches
//!   every panic ([`boundary`]);
//! - outputs are written only on success;
//! - strings are `(pointer, length)` pairs, never NUL-terminated;
//! - handles are opaque; each documents its owner and how to free it.

#![allow(non_camel_case_types)]

pub mod boundary;
pub mod config;
pub mod daemon;
pub mod diagnostics;
pub mod file_map;
pub mod hooks;
mod host;
pub mod request;
pub mod runtime;
pub mod status;
pub mod version;
