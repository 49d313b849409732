//! `wsgirt_config`: the runtime configuration builder. Plain memory, no
//! Python: it may be filled in a parent process before fork.

use crate::capi::boundary::{status_boundary, text};
use crate::capi::status::wsgirt_status::{self, *};
use crate::config::{HashSeed, RuntimeConfig};
use std::ffi::{c_char, c_void};

/// Opaque configuration builder, backed by a `Box<RuntimeConfig>` plus the
/// log callback. Methods: `wsgirt_config_new`, `wsgirt_config_free`,
/// `wsgirt_config_set_*`, `wsgirt_config_add_*`.
pub struct wsgirt_config {
    pub(crate) config: RuntimeConfig,
    pub(crate) log: wsgirt_log_cb,
    pub(crate) log_userdata: *mut c_void,
    /// The host's scoreboard reader (`wsgirt_config_set_scoreboard_reader`).
    pub(crate) scoreboard: Option<ScoreboardFn>,
    /// `wsgirt_config_set_daemon_request_log`.
    pub(crate) request_log: Option<crate::logging::RequestLogHooks>,
}

/// Makes the log context of one request a daemon process serves
/// (`wsgirt_config_set_daemon_request_log`): called on the request's thread,
/// before it runs, with the log callback's `userdata` and the request's
/// environ (valid only during the call). The pointer returned (NULL: none)
/// is the `request_ctx` of every log line about that request.
pub type wsgirt_request_log_begin_cb = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        environ: *const crate::capi::request::wsgirt_pair,
        environ_len: usize,
    ) -> *mut c_void,
>;

/// Releases a context `wsgirt_request_log_begin_cb` returned (not called
/// for NULL), after the request's last log line; same thread.
pub type wsgirt_request_log_end_cb =
    Option<unsafe extern "C" fn(userdata: *mut c_void, request_ctx: *mut c_void)>;

/// A scoreboard reader as the configuration keeps it (cloneable, so a
/// parent's configuration can serve several children).
pub(crate) type ScoreboardFn =
    std::sync::Arc<dyn Fn() -> Option<crate::diagnostics::metrics::Scoreboard> + Send + Sync>;

/// Log callback: `(userdata, level, request_ctx, message, message_len)`.
/// `level` uses syslog/Apache numbering (0 emerg … 7 debug);
/// `request_ctx` is the `log_ctx` of the request the line belongs to, or
/// NULL. The message is not NUL-terminated and is only valid during the
/// call. Called from any thread, without the GIL; must not call back into
/// the runtime and must not unwind (no C++ exceptions).
pub type wsgirt_log_cb = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        level: u32,
        request_ctx: *mut c_void,
        message: *const c_char,
        message_len: usize,
    ),
>;

/// Boolean settings for `wsgirt_config_set_flag`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wsgirt_flag {
    /// `WSGIDontWriteBytecode` (default off).
    WSGIRT_FLAG_DONT_WRITE_BYTECODE = 1,
    /// `WSGIRestrictStdin` (default off).
    WSGIRT_FLAG_RESTRICT_STDIN = 2,
    /// `WSGIRestrictStdout` (default off).
    WSGIRT_FLAG_RESTRICT_STDOUT = 3,
    /// `WSGIRestrictSignal` (default on).
    WSGIRT_FLAG_RESTRICT_SIGNAL = 4,
    /// `wsgi.multithread` (default on).
    WSGIRT_FLAG_MULTITHREAD = 5,
    /// `wsgi.multiprocess` (default off).
    WSGIRT_FLAG_MULTIPROCESS = 6,
    /// `wsgi.run_once` (default off).
    WSGIRT_FLAG_RUN_ONCE = 7,
    /// `WSGICaseSensitivity` (default on): off lowercases script paths
    /// before naming their modules.
    WSGIRT_FLAG_CASE_SENSITIVE = 8,
    /// `WSGIServerMetrics` / `server-metrics` (default off): lets
    /// `mod_wsgi.server_metrics()` report the host's scoreboard.
    WSGIRT_FLAG_SERVER_METRICS = 9,
    /// `WSGIDestroyInterpreter` (default on): `wsgirt_runtime_free` stops
    /// the interpreters (`atexit` callbacks run). Off leaves Python to the
    /// process exit after `process_stopping`: mod_wsgi 4.9.1's switch for
    /// interpreters that hang while being destroyed.
    WSGIRT_FLAG_DESTROY_INTERPRETER = 10,
    /// Single-process mode (default off; Apache: `apache2 -X`): leave
    /// `sys.stdout` and `sys.stdin` as Python made them (the console) so
    /// interactive debuggers work; `sys.stderr` still goes to the log.
    WSGIRT_FLAG_CONSOLE_STDIO = 11,
}

/// Creates a configuration with mod_wsgi's defaults.
///
/// Ownership: on success `*out` is owned by the caller; release it with
/// `wsgirt_config_free`. Threading: any thread.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `(pointer, length)` pairs must describe readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_config_new(out: *mut *mut wsgirt_config) -> wsgirt_status {
    status_boundary(|| {
        if out.is_null() {
            return WSGIRT_STATUS_NULL_ARG;
        }
        let config = Box::new(wsgirt_config {
            config: RuntimeConfig::default(),
            log: None,
            log_userdata: std::ptr::null_mut(),
            request_log: None,
            scoreboard: None,
        });
        // SAFETY: `out` is non-NULL and, per the contract, writable.
        unsafe { *out = Box::into_raw(config) };
        WSGIRT_STATUS_OK
    })
}

/// Frees a configuration. NULL is a no-op.
///
/// Ownership: consumes `config`. Threading: not concurrently with any other
/// use of the same configuration.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `(pointer, length)` pairs must describe readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_config_free(config: *mut wsgirt_config) {
    let _ = status_boundary(|| {
        if !config.is_null() {
            // SAFETY: `config` came from `wsgirt_config_new` and is freed once.
            drop(unsafe { Box::from_raw(config) });
        }
        WSGIRT_STATUS_OK
    });
}

/// Applies `f` to the configuration behind a checked pointer.
fn with_config(
    config: *mut wsgirt_config,
    f: impl FnOnce(&mut wsgirt_config) -> wsgirt_status,
) -> wsgirt_status {
    status_boundary(|| {
        if config.is_null() {
            return WSGIRT_STATUS_NULL_ARG;
        }
        // SAFETY: non-NULL and, per every setter's contract, a live
        // configuration not used concurrently.
        f(unsafe { &mut *config })
    })
}

/// Applies `f` to a checked UTF-8 `(ptr, len)` argument.
fn with_text(
    config: *mut wsgirt_config,
    ptr: *const c_char,
    len: usize,
    f: impl FnOnce(&mut RuntimeConfig, &str) -> wsgirt_status,
) -> wsgirt_status {
    with_config(config, |c| {
        if ptr.is_null() {
            return WSGIRT_STATUS_NULL_ARG;
        }
        // SAFETY: the caller passes `len` readable bytes at `ptr`.
        match unsafe { text(ptr, len) } {
            Some(value) => f(&mut c.config, value),
            None => WSGIRT_STATUS_INVALID_ARG,
        }
    })
}

/// Sets the Python home (`WSGIPythonHome`): a prefix, or the root of a
/// virtual environment. The string is copied.
///
/// Threading: not concurrently with other uses of `config`.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `(pointer, length)` pairs must describe readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_config_set_python_home(
    config: *mut wsgirt_config,
    home: *const c_char,
    home_len: usize,
) -> wsgirt_status {
    with_text(config, home, home_len, |c, home| {
        c.python_home = (!home.is_empty()).then(|| home.to_owned());
        WSGIRT_STATUS_OK
    })
}

/// Adds a `sys.path` directory for every interpreter, with
/// `site.addsitedir` semantics (`.pth` files honoured; added entries go to
/// the front). The string is copied.
///
/// Threading: not concurrently with other uses of `config`.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `(pointer, length)` pairs must describe readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_config_add_python_path(
    config: *mut wsgirt_config,
    path: *const c_char,
    path_len: usize,
) -> wsgirt_status {
    with_text(config, path, path_len, |c, path| {
        c.python_paths.push(path.to_owned());
        WSGIRT_STATUS_OK
    })
}

/// Sets a daemon process's home directory (`home=` of `WSGIDaemonProcess`):
/// it is inserted at the front of `sys.path` in every interpreter, ahead of
/// the `wsgirt_config_add_python_path` entries, as mod_wsgi does. The
/// working directory is the host's business. Empty clears it. The string
/// is copied.
///
/// Threading: not concurrently with other uses of `config`.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `(pointer, length)` pairs must describe readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_config_set_home_directory(
    config: *mut wsgirt_config,
    directory: *const c_char,
    directory_len: usize,
) -> wsgirt_status {
    with_text(config, directory, directory_len, |c, directory| {
        c.home_directory = (!directory.is_empty()).then(|| directory.to_owned());
        WSGIRT_STATUS_OK
    })
}

/// Adds a warnings filter (`-W` option; `WSGIPythonWarnings`).
///
/// Threading: not concurrently with other uses of `config`.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `(pointer, length)` pairs must describe readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_config_add_warnings_option(
    config: *mut wsgirt_config,
    option: *const c_char,
    option_len: usize,
) -> wsgirt_status {
    with_text(config, option, option_len, |c, option| {
        c.warnings.push(option.to_owned());
        WSGIRT_STATUS_OK
    })
}

/// Sets the hash seed: `"random"` or a number 0..=4294967295
/// (`WSGIPythonHashSeed`). Returns `WSGIRT_STATUS_INVALID_ARG` otherwise.
/// Without a call, Python takes `PYTHONHASHSEED` from the environment, as
/// under mod_wsgi; with one, the variable is removed from `os.environ`.
///
/// Threading: not concurrently with other uses of `config`.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `(pointer, length)` pairs must describe readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_config_set_hash_seed(
    config: *mut wsgirt_config,
    seed: *const c_char,
    seed_len: usize,
) -> wsgirt_status {
    with_text(config, seed, seed_len, |c, seed| {
        if seed == "random" {
            c.hash_seed = HashSeed::Random;
            return WSGIRT_STATUS_OK;
        }
        match seed.parse::<u32>() {
            Ok(value) => {
                c.hash_seed = HashSeed::Fixed(value);
                WSGIRT_STATUS_OK
            }
            Err(_) => WSGIRT_STATUS_INVALID_ARG,
        }
    })
}

/// Sets the optimisation level (`WSGIPythonOptimize`; Python's count of
/// `-O` flags): 0 off, 1 strips asserts, 2 also docstrings. Levels above 2
/// are accepted, as mod_wsgi 4.9.4 and `python -OOO` do: they compile as 2
/// and keep their own `.opt-N.pyc` cache files. Negative levels are
/// `INVALID_ARG` (mod_wsgi treats a negative `WSGIPythonOptimize` as 0;
/// that is the host's mapping).
///
/// Threading: not concurrently with other uses of `config`.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `(pointer, length)` pairs must describe readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_config_set_optimize(
    config: *mut wsgirt_config,
    level: i32,
) -> wsgirt_status {
    with_config(config, |c| {
        if level < 0 {
            return WSGIRT_STATUS_INVALID_ARG;
        }
        c.config.optimize = level;
        WSGIRT_STATUS_OK
    })
}

/// Sets a boolean option; `flag` is a `wsgirt_flag` value.
///
/// Threading: not concurrently with other uses of `config`.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `(pointer, length)` pairs must describe readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_config_set_flag(
    config: *mut wsgirt_config,
    flag: u32,
    value: bool,
) -> wsgirt_status {
    with_config(config, |c| {
        let c = &mut c.config;
        match flag {
            1 => c.dont_write_bytecode = value,
            2 => c.restrict_stdin = value,
            3 => c.restrict_stdout = value,
            4 => c.restrict_signal = value,
            5 => c.multithread = value,
            6 => c.multiprocess = value,
            7 => c.run_once = value,
            8 => c.case_sensitive = value,
            9 => c.server_metrics = value,
            10 => c.destroy_interpreter = value,
            11 => c.console_stdio = value,
            _ => return WSGIRT_STATUS_INVALID_ARG,
        }
        WSGIRT_STATUS_OK
    })
}

/// Describes the serving process: its process group (empty in embedded
/// mode) and the figures `mod_wsgi.maximum_processes` and
/// `mod_wsgi.threads_per_process` report.
///
/// Threading: not concurrently with other uses of `config`.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `(pointer, length)` pairs must describe readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_config_set_process(
    config: *mut wsgirt_config,
    process_group: *const c_char,
    process_group_len: usize,
    maximum_processes: i32,
    threads_per_process: i32,
) -> wsgirt_status {
    with_text(config, process_group, process_group_len, |c, group| {
        c.process_group = group.to_owned();
        c.maximum_processes = maximum_processes;
        c.threads_per_process = threads_per_process;
        WSGIRT_STATUS_OK
    })
}

/// Sets the host's version, reported as `apache.version`.
///
/// Threading: not concurrently with other uses of `config`.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `(pointer, length)` pairs must describe readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_config_set_host_version(
    config: *mut wsgirt_config,
    major: u32,
    minor: u32,
    patch: u32,
) -> wsgirt_status {
    with_config(config, |c| {
        c.config.host_version = (major, minor, patch);
        WSGIRT_STATUS_OK
    })
}

/// Texts describing the host, for `wsgirt_config_set_host_text`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wsgirt_host_text {
    /// `apache.description`: the server's description
    /// (`Apache/2.4.62 (Debian) ...`).
    WSGIRT_HOST_DESCRIPTION = 1,
    /// `apache.mpm_name`: the MPM serving requests (`event`, `worker`, ...).
    WSGIRT_HOST_MPM_NAME = 2,
    /// `apache.build_date`: when the server was built.
    WSGIRT_HOST_BUILD_DATE = 3,
}

/// Sets one text of the Python `apache` module (`which` is a
/// `wsgirt_host_text`); UTF-8, copied. Unset texts leave their attribute
/// out.
///
/// Threading: not concurrently with other uses of `config`.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `(pointer, length)` pairs must describe readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_config_set_host_text(
    config: *mut wsgirt_config,
    which: u32,
    value: *const c_char,
    value_len: usize,
) -> wsgirt_status {
    with_text(config, value, value_len, |c, text| {
        let slot = match which {
            1 => &mut c.host_description,
            2 => &mut c.host_mpm_name,
            3 => &mut c.host_build_date,
            _ => return WSGIRT_STATUS_INVALID_ARG,
        };
        *slot = text.to_owned();
        WSGIRT_STATUS_OK
    })
}

/// Sets the host's own worker figures, reported as
/// `apache.maximum_processes` and `apache.threads_per_process` (without
/// them those report `wsgirt_config_set_process`'s figures). Apache passes
/// its MPM's, which a daemon process reports too.
///
/// Threading: not concurrently with other uses of `config`.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `(pointer, length)` pairs must describe readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_config_set_host_workers(
    config: *mut wsgirt_config,
    maximum_processes: i32,
    threads_per_process: i32,
) -> wsgirt_status {
    with_config(config, |c| {
        if maximum_processes < 1 || threads_per_process < 1 {
            return WSGIRT_STATUS_INVALID_ARG;
        }
        c.config.host_workers = Some((maximum_processes, threads_per_process));
        WSGIRT_STATUS_OK
    })
}

/// Gives the requests a daemon process serves (`wsgirt_daemon_serve`) a log
/// context of the host's making, as embedded requests have the `log_ctx`
/// of their `wsgirt_request_spec`: Apache builds one from the environ so
/// that lines about the request name its client and reach its virtual
/// host's ErrorLog. Both callbacks get the log callback's `userdata`; both
/// or neither (NULL, the default: daemon lines have no request context).
///
/// Threading: not concurrently with other uses of `config`.
///
/// # Safety
/// `config` must be NULL or a live configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_config_set_daemon_request_log(
    config: *mut wsgirt_config,
    begin: wsgirt_request_log_begin_cb,
    end: wsgirt_request_log_end_cb,
) -> wsgirt_status {
    with_config(config, |c| {
        c.request_log = match (begin, end) {
            (Some(begin), Some(end)) => Some(crate::logging::RequestLogHooks {
                begin,
                end,
                userdata: c.log_userdata,
            }),
            (None, None) => None,
            _ => return WSGIRT_STATUS_INVALID_ARG,
        };
        WSGIRT_STATUS_OK
    })
}

/// Installs the log callback that receives every line the runtime logs
/// (its own messages, tracebacks, `sys.stdout`/`sys.stderr`, `wsgi.errors`).
/// Without one, lines go to the process's stderr. `userdata` is passed back
/// unchanged and must stay valid while the runtime lives.
///
/// Threading: not concurrently with other uses of `config`.
///
/// # Safety
/// Every pointer argument must be NULL or point at a live object of the
/// documented type; `(pointer, length)` pairs must describe readable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_config_set_log_callback(
    config: *mut wsgirt_config,
    callback: wsgirt_log_cb,
    userdata: *mut c_void,
) -> wsgirt_status {
    with_config(config, |c| {
        c.log = callback;
        c.log_userdata = userdata;
        WSGIRT_STATUS_OK
    })
}
