//! A request to run (in process) or to proxy (to a daemon), and its C form.

use super::host::Host;
use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};
use wsgirt::capi::request::*;
use wsgirt::capi::status::wsgirt_status;
use wsgirt::capi::status::wsgirt_status::WSGIRT_STATUS_OK;

/// A request's status and, when a response started, its result.
pub type Outcome = (wsgirt_status, Option<wsgirt_request_result>);

static NEXT_CTX: AtomicUsize = AtomicUsize::new(0x1000);

/// A fresh request log context value.
pub fn next_ctx() -> usize {
    NEXT_CTX.fetch_add(1, Ordering::Relaxed)
}

/// Microseconds since the epoch.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// A borrowed C string.
pub fn s(text: &[u8]) -> wsgirt_str {
    wsgirt_str {
        ptr: text.as_ptr().cast(),
        len: text.len(),
    }
}

/// A request to run.
#[derive(Clone)]
pub struct Req {
    pub group: String,
    pub script: String,
    pub callable: String,
    pub reload: bool,
    pub environ: Vec<(Vec<u8>, Vec<u8>)>,
    /// This request's `log_ctx` (unique per request made).
    pub ctx: usize,
    /// µs since the epoch the request was queued (daemon mode; 0: no
    /// queue-timeout check).
    pub queue_start: i64,
}

impl Req {
    /// A GET for the script at `path`.
    pub fn script(path: &str) -> Req {
        let environ = [
            ("REQUEST_METHOD", "GET"),
            ("SCRIPT_NAME", ""),
            ("PATH_INFO", "/"),
            ("QUERY_STRING", ""),
            ("SERVER_NAME", "localhost"),
            ("SERVER_PORT", "80"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
        ];
        Req {
            group: String::new(),
            script: path.to_owned(),
            callable: String::new(),
            reload: true,
            environ: environ
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
            ctx: next_ctx(),
            queue_start: now_us(),
        }
    }
    pub fn group(mut self, g: &str) -> Self {
        self.group = g.to_owned();
        self
    }
    pub fn callable(mut self, c: &str) -> Self {
        self.callable = c.to_owned();
        self
    }
    pub fn reload(mut self, on: bool) -> Self {
        self.reload = on;
        self
    }
    pub fn query(self, q: &str) -> Self {
        self.env("QUERY_STRING", q)
    }
    /// Sets an environ key (replacing an earlier value).
    pub fn env(self, k: &str, v: &str) -> Self {
        self.env_bytes(k.as_bytes(), v.as_bytes())
    }
    pub fn env_bytes(mut self, k: &[u8], v: &[u8]) -> Self {
        self.environ.retain(|(key, _)| key != k);
        self.environ.push((k.to_vec(), v.to_vec()));
        self
    }
    /// The same request with a new log context.
    pub fn again(&self) -> Self {
        let mut r = self.clone();
        r.ctx = next_ctx();
        r
    }

    /// Calls `f` with this request as a C spec, the callback table of
    /// `host`, the host as the callbacks' `ctx` and a result slot; returns
    /// `f`'s status and, on success, the result (which the runtime must
    /// leave alone on failure).
    pub fn submit(
        &self,
        host: &mut Host,
        f: impl FnOnce(
            &wsgirt_request_spec,
            &wsgirt_host_io,
            *mut c_void,
            &mut wsgirt_request_result,
        ) -> wsgirt_status,
    ) -> Outcome {
        let pairs: Vec<wsgirt_pair> = self
            .environ
            .iter()
            .map(|(k, v)| wsgirt_pair {
                name: s(k),
                value: s(v),
            })
            .collect();
        let spec = wsgirt_request_spec {
            struct_size: std::mem::size_of::<wsgirt_request_spec>(),
            application_group: s(self.group.as_bytes()),
            script_path: s(self.script.as_bytes()),
            callable_object: s(self.callable.as_bytes()),
            reload_script: self.reload,
            script_mtime: 0,
            environ: pairs.as_ptr(),
            environ_len: pairs.len(),
            log_ctx: self.ctx as *mut c_void,
        };
        let io = host.io();
        // Sentinel values: the runtime must overwrite them on success only.
        let mut result = wsgirt_request_result {
            struct_size: std::mem::size_of::<wsgirt_request_result>(),
            http_status: 999,
            bytes_written: u64::MAX,
            client_gone: true,
            incomplete: true,
        };
        let status = f(&spec, &io, (host as *mut Host).cast(), &mut result);
        if status != WSGIRT_STATUS_OK {
            assert_eq!(result.http_status, 999, "result written on failure");
            assert_eq!(result.bytes_written, u64::MAX, "result written on failure");
            return (status, None);
        }
        (status, Some(result))
    }
}
