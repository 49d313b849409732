//! Daemon mode: serving requests in separate, supervised processes that
//! Apache workers proxy to over a UNIX socket (`WSGIDaemonProcess`).
//!
//! [`protocol`] is the wire format between the worker (proxy client) and
//! the daemon process: versioned, length-prefixed frames with hard size
//! caps. It is deliberately not mod_wsgi's native `size_t` layout.

pub mod protocol;
