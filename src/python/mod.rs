//! The unsafe core over `pyo3::ffi`.
//!
//! pyo3's safe API keeps process-wide state that is not sub-interpreter
//! safe, so every path that can run in an application group uses the raw C
//! API through the small RAII types here.

pub mod error;
pub mod interp;
pub mod lifecycle;
pub mod object;
pub mod tstate;
