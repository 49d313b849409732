//! Seeing inside a running process: which requests are in flight
//! ([`registry`]), `mod_wsgi` events ([`events`]), process and server
//! metrics ([`metrics`]) and Python stack dumps ([`stacks`]).
//!
//! The registry and metrics are plain Rust, usable without the GIL (the C
//! API and the daemon monitor read them); events and stack dumps run with
//! the GIL and the owning interpreter attached.

pub mod events;
pub mod metrics;
pub mod registry;
pub mod request_metrics;
pub mod stacks;
