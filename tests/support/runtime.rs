//! The process's one runtime (CPython is global), started on first use,
//! and the process-wide bits around it: panic output, memory use.

use super::log::log_cb;
use wsgirt::capi::config::*;
use wsgirt::capi::runtime::*;
use wsgirt::capi::status::wsgirt_status::WSGIRT_STATUS_OK;
use wsgirt::capi::version::WSGIRT_ABI_VERSION;

use std::sync::OnceLock;

/// A runtime handle that tests share across threads.
pub struct Runtime(pub *mut wsgirt_runtime);
// SAFETY: the runtime handle may be used from any thread (C API contract).
unsafe impl Send for Runtime {}
// SAFETY: as above; every export is safe to call concurrently.
unsafe impl Sync for Runtime {}

static RT: OnceLock<Runtime> = OnceLock::new();

/// The process's runtime, started on first use with the default test
/// configuration (host version 2.4.99, the log callback of [`log_cb`]).
pub fn runtime() -> &'static Runtime {
    runtime_with(|_| {})
}

/// Like [`runtime`], applying `configure` to the configuration first
/// (only the first call in a process configures anything).
pub fn runtime_with(configure: fn(*mut wsgirt_config)) -> &'static Runtime {
    // SAFETY: a valid config pointer is passed to each setter, and the
    // runtime is created once per process (OnceLock).
    RT.get_or_init(|| unsafe {
        let mut cfg = std::ptr::null_mut();
        assert_eq!(wsgirt_config_new(&mut cfg), WSGIRT_STATUS_OK);
        assert_eq!(
            wsgirt_config_set_log_callback(cfg, Some(log_cb), std::ptr::null_mut()),
            WSGIRT_STATUS_OK
        );
        assert_eq!(
            wsgirt_config_set_host_version(cfg, 2, 4, 99),
            WSGIRT_STATUS_OK
        );
        configure(cfg);
        let mut rt = std::ptr::null_mut();
        let status = wsgirt_runtime_new(WSGIRT_ABI_VERSION, cfg, &mut rt);
        wsgirt_config_free(cfg);
        assert_eq!(status, WSGIRT_STATUS_OK);
        show_panics();
        Runtime(rt)
    })
}

/// The runtime installs a process-wide panic hook that reports panics to
/// the host's log callback only; put the test harness's failure messages
/// back on stderr (and keep the runtime's hook behind it).
pub fn show_panics() {
    let runtime_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        eprintln!(
            "thread '{}' panicked at {}:\n{}",
            thread.name().unwrap_or("<unnamed>"),
            info.location().map_or_else(String::new, |l| l.to_string()),
            info.payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("<non-string panic payload>")
        );
        runtime_hook(info);
    }));
}

/// Current value of a /proc/self/status field (such as `VmRSS`), in KiB.
pub fn vm_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{field} missing from /proc/self/status"))
}
