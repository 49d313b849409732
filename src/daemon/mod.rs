//! Daemon mode: serving requests in separate, supervised processes that
//! Apache workers proxy to over a UNIX socket (`WSGIDaemonProcess`).
//!
//! - [`protocol`]: the wire format between the worker (proxy client) and
//!   the daemon process: versioned, length-prefixed frames with hard size
//!   caps. It is deliberately not mod_wsgi's native `size_t` layout.
//! - [`socket`]: connections, descriptor passing, polling.
//! - [`spool`]: the per-connection shared-memory ring that carries large
//!   response blocks (one copy less than the socket, two system calls
//!   fewer per block).
//! - [`client`]: the worker side ([`client::proxy`]); [`pool`] keeps its
//!   idle connections for reuse.
//! - [`server`]: the daemon side ([`server::serve`]): accept threads and
//!   the process's lifecycle; [`remote_io`] is its `HostIo` over the socket
//!   and [`monitor`] decides when the process must recycle;
//!   [`diagnostics`] adds interrupt-timeout and the stop announcement.
//! - [`options`]: `WSGIDaemonProcess` settings with mod_wsgi's defaults.
//! - [`reaper`]: the shutdown-timeout bound on a whole shutdown, Python's
//!   teardown included (mod_wsgi's reaper thread).
//! - [`task`]: managed-task mode (`threads=0`): no requests, the import
//!   scripts run on the main thread until they return or are stopped.
//!
//! The design, the error mapping and what the host must do are in
//! `docs/daemon.md`.

pub mod client;
pub mod diagnostics;
pub mod monitor;
pub mod options;
pub mod pool;
pub mod protocol;
pub mod reaper;
pub mod remote_io;
pub mod server;
pub mod socket;
pub mod spool;
pub mod task;
