//! wsgirt: a WSGI runtime with a stable C ABI.
//!
//! It embeds CPython, hosts WSGI applications in application groups
//! (sub-interpreters, with `%{GLOBAL}` as the main interpreter) and serves
//! requests that a host, such as the Apache module in `apache/mod_wsgi.c`,
//! hands it through the C API in [`capi`].
//!
//! Layers, bottom up (see `docs/architecture.md`):
//! - [`python`]: a small RAII layer over `pyo3::ffi`, interpreter lifecycle,
//!   application groups and per-thread thread states.
//! - [`module`]: the `mod_wsgi` and `apache` Python modules (PEP 489).
//! - [`wsgi`]: PEP 3333: environ, `wsgi.input`, `start_response`, responses.
//! - [`diagnostics`]: the request registry, events, metrics, stack dumps.
//! - [`file_map`]: shared read-only mappings of `wsgi.file_wrapper` files
//!   for hosts that send them from memory.
//! - [`capi`]: the only place with `#[no_mangle]` exports and raw C pointers.
//!
//! `include/wsgirt.h` is generated from [`capi`] alone: every other module
//! carries a `cbindgen:ignore` annotation.

pub mod capi;
/// cbindgen:ignore
pub mod config;
/// cbindgen:ignore
pub mod daemon;
/// cbindgen:ignore
pub mod diagnostics;
/// cbindgen:ignore
pub mod file_map;
/// cbindgen:ignore
pub mod hooks;
/// cbindgen:ignore
pub mod logging;
/// cbindgen:ignore
pub mod module;
/// cbindgen:ignore
pub mod python;
/// cbindgen:ignore
pub mod runtime;
/// cbindgen:ignore
pub mod wsgi;
