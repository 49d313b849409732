//! PEP 3333: the per-request WSGI protocol.
//!
//! [`request::run`] drives one request: environ ([`environ`]), the script's
//! callable ([`script`]), `start_response` ([`start_response`]), the response
//! iterable and `close()` ([`response`]), with `wsgi.input` ([`input`]) and
//! `wsgi.file_wrapper` ([`file_wrapper`]). Host I/O goes through
//! [`host::HostIo`], always with the GIL released. [`tracking`] keeps
//! what the diagnostic surface (events, `request_data()`) sees of it.

pub mod environ;
pub mod file_wrapper;
pub mod host;
pub mod input;
pub mod request;
pub mod response;
pub mod script;
pub mod start_response;
pub mod tracking;
pub mod validate;
