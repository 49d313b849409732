//! Test-host code shared by `tests/common` (in-process requests) and
//! `tests/daemon_support` (requests proxied to daemons), so that the two
//! hosts cannot drift apart. Each of those modules includes this one with
//! `#[path]` and re-exports it.

pub mod dirs;
pub mod host;
pub mod log;
pub mod request;
pub mod runtime;

pub use dirs::*;
pub use host::*;
pub use log::*;
pub use request::*;
pub use runtime::*;
