//! Access, authentication, authorization and dispatch scripts
//! (`WSGIAccessScript`, `WSGIAuthUserScript`, `WSGIAuthGroupScript`,
//! `WSGIDispatchScript`): one named function of a script per call.

use crate::capi::boundary::{bytes, pairs, status_boundary, text};
use crate::capi::request::{wsgirt_pair, wsgirt_str};
use crate::capi::runtime::{status_of, wsgirt_runtime};
use crate::capi::status::wsgirt_status::{self, *};
use crate::hooks::{self, EnvironStyle, HookOutcome, HookSpec, Password, SslLookup};
use crate::python::interp::Interp;
use std::ffi::{c_char, c_void};
use std::sync::Arc;

/// `wsgirt_hook_spec::environ_style`: a WSGI environ as for an
/// application (`wsgi.*` keys, an empty `wsgi.input`, `HTTPS` turned into
/// `wsgi.url_scheme`, `PATH` dropped). What specs of the first version
/// (without `environ_style`) get.
pub const WSGIRT_HOOK_ENVIRON_WSGI: u32 = 0;

/// `wsgirt_hook_spec::environ_style`: mod_wsgi's own hook environs. The
/// host's variables are taken as they are, and the library adds:
/// - access and auth scripts (mod_wsgi's `Auth_environ`):
///   `apache.version`, `mod_wsgi.version`, `mod_wsgi.process_group` (`""`),
///   `mod_wsgi.application_group` (the spec's group),
///   `mod_wsgi.script_reloading` (an `int`), `wsgi.errors`, and the
///   callables `mod_ssl.is_https()` and `mod_ssl.var_lookup(name)` over
///   the spec's `ssl_*` callbacks (valid only during the call and on its
///   thread; afterwards they raise `RuntimeError`);
/// - the dispatch script (`Dispatch_environ`): `mod_wsgi.process_group`
///   (`""`), `mod_wsgi.application_group` (the spec's group) and
///   `wsgi.errors`, and removes `mod_wsgi.callable_object`.
///
/// No other `wsgi.*` key, no `wsgi.input`.
pub const WSGIRT_HOOK_ENVIRON_MODWSGI: u32 = 1;

/// mod_ssl's `ssl_is_https` for the request being checked: non-zero when
/// its connection uses TLS. Called on the thread running the hook export,
/// with the GIL released, only while the export runs; must not unwind.
pub type wsgirt_hook_is_https_cb = Option<unsafe extern "C" fn(ctx: *mut c_void) -> i32>;

/// mod_ssl's `ssl_var_lookup` for the request being checked: the value of
/// variable `name` (`name_len` bytes, not NUL-terminated). Returns 1 with
/// `*value` set to the value (host-owned; it must stay readable until the
/// export returns, and the library copies it at once), or 0 when the
/// variable is unset (Python `None`). Threading as for
/// [`wsgirt_hook_is_https_cb`].
pub type wsgirt_hook_var_lookup_cb = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        name: *const c_char,
        name_len: usize,
        value: *mut wsgirt_str,
    ) -> i32,
>;

/// Which script to call. `struct_size` must be `sizeof(wsgirt_hook_spec)`,
/// or the size of the first version, which ends after `log_ctx` (its
/// missing fields then read as: `environ_style` `WSGIRT_HOOK_ENVIRON_WSGI`,
/// `script_reloading` true, no TLS callbacks). Everything is borrowed for
/// the call only.
#[repr(C)]
pub struct wsgirt_hook_spec {
    pub struct_size: usize,
    /// Application group (`""` or `%{GLOBAL}`: the main interpreter).
    pub application_group: wsgirt_str,
    /// Absolute path of the hook script.
    pub script_path: wsgirt_str,
    /// The host's variables for the environ (see `environ_style`).
    pub environ: *const wsgirt_pair,
    pub environ_len: usize,
    /// Passed back to the log callback with this call's lines.
    pub log_ctx: *mut c_void,
    /// `WSGIRT_HOOK_ENVIRON_WSGI` or `WSGIRT_HOOK_ENVIRON_MODWSGI`.
    pub environ_style: u32,
    /// `WSGIScriptReloading`: reload the script when its mtime changes
    /// (also `mod_wsgi.script_reloading` in mod_wsgi's auth environ).
    pub script_reloading: bool,
    /// For `mod_ssl.is_https()` (NULL: it answers 0, as mod_wsgi without
    /// mod_ssl).
    pub ssl_is_https: wsgirt_hook_is_https_cb,
    /// For `mod_ssl.var_lookup(name)` (NULL: it answers `None`).
    pub ssl_var_lookup: wsgirt_hook_var_lookup_cb,
    /// Passed to the two TLS callbacks.
    pub ssl_ctx: *mut c_void,
}

/// The size of the first version of [`wsgirt_hook_spec`].
const HOOK_SPEC_V1_SIZE: usize = std::mem::offset_of!(wsgirt_hook_spec, environ_style);

/// What `check_password` answered.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wsgirt_auth {
    /// `True`, or a `str` (the new user name, given to the value callback).
    WSGIRT_AUTH_GRANTED = 0,
    /// `False`: wrong password.
    WSGIRT_AUTH_DENIED = 1,
    /// `None`: unknown user.
    WSGIRT_AUTH_NOT_FOUND = 2,
}

/// What a value handed to a [`wsgirt_hook_value_cb`] is.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wsgirt_hook_value {
    /// The user name `check_password` returned (replaces the request's user).
    WSGIRT_HOOK_USER = 1,
    /// The realm hash `get_realm_hash` returned.
    WSGIRT_HOOK_REALM_HASH = 2,
    /// One group `groups_for_user` returned (called once per group).
    WSGIRT_HOOK_GROUP = 3,
    /// The dispatch script's `process_group`.
    WSGIRT_HOOK_PROCESS_GROUP = 4,
    /// The dispatch script's `application_group`.
    WSGIRT_HOOK_APPLICATION_GROUP = 5,
    /// The dispatch script's `callable_object`.
    WSGIRT_HOOK_CALLABLE_OBJECT = 6,
}

/// Receives one string result (`len` bytes at `data`, not NUL-terminated,
/// valid only during the call: copy it). Called on the calling thread,
/// with the GIL released, only when the export succeeds.
pub type wsgirt_hook_value_cb =
    Option<unsafe extern "C" fn(ctx: *mut c_void, kind: u32, data: *const c_char, len: usize)>;

/// The host's TLS callbacks.
struct CSsl {
    is_https: wsgirt_hook_is_https_cb,
    var_lookup: wsgirt_hook_var_lookup_cb,
    ctx: *mut c_void,
}

impl SslLookup for CSsl {
    fn is_https(&self) -> i32 {
        match self.is_https {
            // SAFETY: the host's callback and context, valid during the
            // export per the contract.
            Some(f) => unsafe { f(self.ctx) },
            None => 0,
        }
    }

    fn var_lookup(&self, name: &[u8]) -> Option<Vec<u8>> {
        let f = self.var_lookup?;
        let mut value = wsgirt_str {
            ptr: std::ptr::null(),
            len: 0,
        };
        // SAFETY: as for `is_https`; `name` and `value` outlive the call.
        let found = unsafe { f(self.ctx, name.as_ptr().cast(), name.len(), &mut value) };
        if found == 0 {
            return None;
        }
        // SAFETY: on 1 the host set `value` to a readable string.
        unsafe { bytes(value.ptr, value.len) }.map(<[u8]>::to_vec)
    }
}

/// The borrowed pieces of a spec.
struct Parsed<'a> {
    interp: Arc<Interp>,
    group: &'a str,
    script_path: &'a str,
    pairs: Vec<(&'a [u8], &'a [u8])>,
    log_ctx: *mut c_void,
    style: EnvironStyle,
    script_reloading: bool,
    ssl: CSsl,
}

impl Parsed<'_> {
    /// The hook's view of the spec.
    fn spec(&self) -> HookSpec<'_> {
        HookSpec {
            script_path: self.script_path,
            environ: &self.pairs,
            log_ctx: self.log_ctx,
            style: self.style,
            application_group: self.group,
            script_reloading: self.script_reloading,
            ssl: &self.ssl,
        }
    }
}

/// Validates the common arguments and finds the group's interpreter.
///
/// # Safety
/// As for the exports.
unsafe fn parse<'a>(
    runtime: *const wsgirt_runtime,
    spec: *const wsgirt_hook_spec,
) -> Result<Parsed<'a>, wsgirt_status> {
    if runtime.is_null() || spec.is_null() {
        return Err(WSGIRT_STATUS_NULL_ARG);
    }
    // SAFETY: non-NULL pointer to a live object, per the contract.
    let rt = unsafe { &*runtime };
    // SAFETY: every version of the spec starts with `struct_size`.
    let size = unsafe { std::ptr::addr_of!((*spec).struct_size).read() };
    if size < HOOK_SPEC_V1_SIZE {
        return Err(WSGIRT_STATUS_INVALID_ARG);
    }
    // Copy what the host's version has; the rest keeps the first
    // version's meaning.
    // SAFETY: all-zero is a valid spec (NULL pointers, `None` callbacks,
    // false, 0); the host's spec is readable for `size` bytes.
    let spec = unsafe {
        let mut local = std::mem::MaybeUninit::<wsgirt_hook_spec>::zeroed();
        std::ptr::copy_nonoverlapping(
            spec.cast::<u8>(),
            local.as_mut_ptr().cast::<u8>(),
            size.min(std::mem::size_of::<wsgirt_hook_spec>()),
        );
        let mut local = local.assume_init();
        if size < std::mem::size_of::<wsgirt_hook_spec>() {
            local.script_reloading = true;
        }
        local
    };
    let style = match spec.environ_style {
        WSGIRT_HOOK_ENVIRON_WSGI => EnvironStyle::Wsgi,
        WSGIRT_HOOK_ENVIRON_MODWSGI => EnvironStyle::ModWsgi,
        _ => return Err(WSGIRT_STATUS_INVALID_ARG),
    };
    // SAFETY: the spec's strings are valid per the contract.
    let (group, script_path) = unsafe {
        (
            text(spec.application_group.ptr, spec.application_group.len),
            text(spec.script_path.ptr, spec.script_path.len),
        )
    };
    let (Some(group), Some(script_path)) = (group, script_path) else {
        return Err(WSGIRT_STATUS_INVALID_ARG);
    };
    if script_path.is_empty() {
        return Err(WSGIRT_STATUS_INVALID_ARG);
    }
    // SAFETY: the spec's pairs are valid per the contract.
    let pairs = unsafe { pairs(spec.environ, spec.environ_len) }?;
    let interp = rt.inner.group(group).map_err(|err| status_of(&err))?;
    Ok(Parsed {
        interp,
        group,
        script_path,
        pairs,
        log_ctx: spec.log_ctx,
        style,
        script_reloading: spec.script_reloading,
        ssl: CSsl {
            is_https: spec.ssl_is_https,
            var_lookup: spec.ssl_var_lookup,
            ctx: spec.ssl_ctx,
        },
    })
}

/// Maps a hook's failure onto a status.
fn failure<R>(outcome: &HookOutcome<R>) -> wsgirt_status {
    match outcome {
        HookOutcome::Done(_) => WSGIRT_STATUS_OK,
        HookOutcome::Missing => WSGIRT_STATUS_CALLABLE_NOT_FOUND,
        HookOutcome::Error => WSGIRT_STATUS_APP_ERROR,
    }
}

/// Hands one value to the host.
fn give(cb: wsgirt_hook_value_cb, ctx: *mut c_void, kind: wsgirt_hook_value, value: &[u8]) {
    if let Some(cb) = cb {
        // SAFETY: the host's callback, valid per the contract; `value` is
        // alive for the call.
        unsafe { cb(ctx, kind as u32, value.as_ptr().cast(), value.len()) }
    }
}

/// Borrows an optional C string argument (NULL allowed: Python `None`).
///
/// # Safety
/// `ptr` NULL or valid for `len` bytes.
unsafe fn optional<'a>(ptr: *const c_char, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: per contract.
        unsafe { bytes(ptr, len) }
    }
}

/// `WSGIAccessScript`: calls `allow_access(environ, host)`; `host` may be
/// NULL (`None`). On `OK`, `*out` is 1 (allowed), 0 (denied) or -1 (`None`:
/// no opinion). Returns `CALLABLE_NOT_FOUND` when the script has no
/// `allow_access` (nothing logged: the host logs mod_wsgi's message) and
/// `APP_ERROR` when it failed to load, raised or returned a wrong type
/// (traceback logged once); `*out` is then untouched.
///
/// Threading: any host thread, as `wsgirt_request_run`.
///
/// # Safety
/// Every pointer must be NULL or valid as documented.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_hook_allow_access(
    runtime: *const wsgirt_runtime,
    spec: *const wsgirt_hook_spec,
    host: *const c_char,
    host_len: usize,
    out: *mut i32,
) -> wsgirt_status {
    status_boundary(|| {
        if out.is_null() {
            return WSGIRT_STATUS_NULL_ARG;
        }
        // SAFETY: per contract.
        let parsed = match unsafe { parse(runtime, spec) } {
            Ok(parsed) => parsed,
            Err(status) => return status,
        };
        // SAFETY: per contract.
        let host = unsafe { optional(host, host_len) };
        let spec = parsed.spec();
        match hooks::allow_access(&parsed.interp, &spec, host) {
            HookOutcome::Done(answer) => {
                // SAFETY: `out` is non-NULL and writable per the contract.
                unsafe { *out = answer.map_or(-1, i32::from) };
                WSGIRT_STATUS_OK
            }
            other => failure(&other),
        }
    })
}

/// `WSGIAuthUserScript` for Basic: calls `check_password(environ, user,
/// password)`. On `OK`, `*out` says the answer; for a `str` result it is
/// `GRANTED` and `value_cb` first receives the new user name
/// (`WSGIRT_HOOK_USER`). Failures as for `wsgirt_hook_allow_access`.
///
/// # Safety
/// Every pointer must be NULL or valid as documented.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_hook_check_password(
    runtime: *const wsgirt_runtime,
    spec: *const wsgirt_hook_spec,
    user: wsgirt_str,
    password: wsgirt_str,
    value_cb: wsgirt_hook_value_cb,
    value_ctx: *mut c_void,
    out: *mut wsgirt_auth,
) -> wsgirt_status {
    status_boundary(|| {
        if out.is_null() {
            return WSGIRT_STATUS_NULL_ARG;
        }
        // SAFETY: per contract.
        let parsed = match unsafe { parse(runtime, spec) } {
            Ok(parsed) => parsed,
            Err(status) => return status,
        };
        // SAFETY: per contract.
        let (Some(user), Some(password)) = (unsafe { bytes(user.ptr, user.len) }, unsafe {
            bytes(password.ptr, password.len)
        }) else {
            return WSGIRT_STATUS_NULL_ARG;
        };
        let spec = parsed.spec();
        let answer = match hooks::check_password(&parsed.interp, &spec, user, password) {
            HookOutcome::Done(answer) => answer,
            other => return failure(&other),
        };
        let result = match answer {
            Password::Granted => wsgirt_auth::WSGIRT_AUTH_GRANTED,
            Password::Denied => wsgirt_auth::WSGIRT_AUTH_DENIED,
            Password::NotFound => wsgirt_auth::WSGIRT_AUTH_NOT_FOUND,
            Password::Renamed(name) => {
                give(
                    value_cb,
                    value_ctx,
                    wsgirt_hook_value::WSGIRT_HOOK_USER,
                    name.as_bytes(),
                );
                wsgirt_auth::WSGIRT_AUTH_GRANTED
            }
        };
        // SAFETY: `out` is non-NULL and writable per the contract.
        unsafe { *out = result };
        WSGIRT_STATUS_OK
    })
}

/// `WSGIAuthUserScript` for Digest: calls `get_realm_hash(environ, user,
/// realm)`. On `OK`, `*out` is `GRANTED` after `value_cb` received the hash
/// (`WSGIRT_HOOK_REALM_HASH`), or `NOT_FOUND` for `None`. Failures as for
/// `wsgirt_hook_allow_access`.
///
/// # Safety
/// Every pointer must be NULL or valid as documented.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_hook_get_realm_hash(
    runtime: *const wsgirt_runtime,
    spec: *const wsgirt_hook_spec,
    user: wsgirt_str,
    realm: wsgirt_str,
    value_cb: wsgirt_hook_value_cb,
    value_ctx: *mut c_void,
    out: *mut wsgirt_auth,
) -> wsgirt_status {
    status_boundary(|| {
        if out.is_null() {
            return WSGIRT_STATUS_NULL_ARG;
        }
        // SAFETY: per contract.
        let parsed = match unsafe { parse(runtime, spec) } {
            Ok(parsed) => parsed,
            Err(status) => return status,
        };
        // SAFETY: per contract.
        let (Some(user), Some(realm)) = (unsafe { bytes(user.ptr, user.len) }, unsafe {
            bytes(realm.ptr, realm.len)
        }) else {
            return WSGIRT_STATUS_NULL_ARG;
        };
        let spec = parsed.spec();
        let result = match hooks::get_realm_hash(&parsed.interp, &spec, user, realm) {
            HookOutcome::Done(Some(hash)) => {
                give(
                    value_cb,
                    value_ctx,
                    wsgirt_hook_value::WSGIRT_HOOK_REALM_HASH,
                    &hash,
                );
                wsgirt_auth::WSGIRT_AUTH_GRANTED
            }
            HookOutcome::Done(None) => wsgirt_auth::WSGIRT_AUTH_NOT_FOUND,
            other => return failure(&other),
        };
        // SAFETY: `out` is non-NULL and writable per the contract.
        unsafe { *out = result };
        WSGIRT_STATUS_OK
    })
}

/// `WSGIAuthGroupScript`: calls `groups_for_user(environ, user)` and, on
/// `OK`, hands each group to `value_cb` (`WSGIRT_HOOK_GROUP`). Failures as
/// for `wsgirt_hook_allow_access`.
///
/// # Safety
/// Every pointer must be NULL or valid as documented.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_hook_groups_for_user(
    runtime: *const wsgirt_runtime,
    spec: *const wsgirt_hook_spec,
    user: wsgirt_str,
    value_cb: wsgirt_hook_value_cb,
    value_ctx: *mut c_void,
) -> wsgirt_status {
    status_boundary(|| {
        // SAFETY: per contract.
        let parsed = match unsafe { parse(runtime, spec) } {
            Ok(parsed) => parsed,
            Err(status) => return status,
        };
        // SAFETY: per contract.
        let Some(user) = (unsafe { bytes(user.ptr, user.len) }) else {
            return WSGIRT_STATUS_NULL_ARG;
        };
        let spec = parsed.spec();
        match hooks::groups_for_user(&parsed.interp, &spec, user) {
            HookOutcome::Done(groups) => {
                for group in &groups {
                    give(
                        value_cb,
                        value_ctx,
                        wsgirt_hook_value::WSGIRT_HOOK_GROUP,
                        group,
                    );
                }
                WSGIRT_STATUS_OK
            }
            other => failure(&other),
        }
    })
}

/// `WSGIDispatchScript`: calls whichever of `process_group(environ)`,
/// `application_group(environ)` and `callable_object(environ)` the script
/// defines and, on `OK`, hands each non-`None` answer to `value_cb`
/// (`WSGIRT_HOOK_PROCESS_GROUP`, `..._APPLICATION_GROUP`,
/// `..._CALLABLE_OBJECT`; values are latin-1 decoded to bytes). Returns
/// `APP_ERROR` when the script failed to load, raised or returned a
/// non-string (logged once).
///
/// # Safety
/// Every pointer must be NULL or valid as documented.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgirt_hook_dispatch(
    runtime: *const wsgirt_runtime,
    spec: *const wsgirt_hook_spec,
    value_cb: wsgirt_hook_value_cb,
    value_ctx: *mut c_void,
) -> wsgirt_status {
    status_boundary(|| {
        // SAFETY: per contract.
        let parsed = match unsafe { parse(runtime, spec) } {
            Ok(parsed) => parsed,
            Err(status) => return status,
        };
        let spec = parsed.spec();
        match hooks::dispatch(&parsed.interp, &spec) {
            HookOutcome::Done(answer) => {
                let latin1 = |s: &str| s.chars().map(|c| c as u8).collect::<Vec<u8>>();
                if let Some(v) = &answer.process_group {
                    give(
                        value_cb,
                        value_ctx,
                        wsgirt_hook_value::WSGIRT_HOOK_PROCESS_GROUP,
                        &latin1(v),
                    );
                }
                if let Some(v) = &answer.application_group {
                    give(
                        value_cb,
                        value_ctx,
                        wsgirt_hook_value::WSGIRT_HOOK_APPLICATION_GROUP,
                        &latin1(v),
                    );
                }
                if let Some(v) = &answer.callable_object {
                    give(
                        value_cb,
                        value_ctx,
                        wsgirt_hook_value::WSGIRT_HOOK_CALLABLE_OBJECT,
                        &latin1(v),
                    );
                }
                WSGIRT_STATUS_OK
            }
            other => failure(&other),
        }
    })
}
