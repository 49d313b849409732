//! Access, authentication, authorization and dispatch scripts
//! (`WSGIAccessScript`, `WSGIAuthUserScript`, `WSGIAuthGroupScript`,
//! `WSGIDispatchScript`): one named function of a script per call.

use crate::capi::boundary::{bytes, pairs, status_boundary, text};
use crate::capi::request::{wsgirt_pair, wsgirt_str};
use crate::capi::runtime::{status_of, wsgirt_runtime};
use crate::capi::status::wsgirt_status::{self, *};
use crate::hooks::{self, HookOutcome, HookSpec, Password};
use crate::python::interp::Interp;
use std::ffi::{c_char, c_void};
use std::sync::Arc;

/// Which script to call. `struct_size` must be `sizeof(wsgirt_hook_spec)`.
#[repr(C)]
pub struct wsgirt_hook_spec {
    pub struct_size: usize,
    /// Application group (`""` or `%{GLOBAL}`: the main interpreter).
    pub application_group: wsgirt_str,
    /// Absolute path of the hook script (reloaded when its mtime changes).
    pub script_path: wsgirt_str,
    /// CGI variables for the environ, as for `wsgirt_request_run`.
    pub environ: *const wsgirt_pair,
    pub environ_len: usize,
    /// Passed back to the log callback with this call's lines.
    pub log_ctx: *mut c_void,
}

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

/// The borrowed pieces of a spec.
struct Parsed<'a> {
    interp: Arc<Interp>,
    script_path: &'a str,
    pairs: Vec<(&'a [u8], &'a [u8])>,
    log_ctx: *mut c_void,
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
    // SAFETY: non-NULL pointers to live objects, per the contract.
    let (rt, spec) = unsafe { (&*runtime, &*spec) };
    if spec.struct_size < std::mem::size_of::<wsgirt_hook_spec>() {
        return Err(WSGIRT_STATUS_INVALID_ARG);
    }
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
        script_path,
        pairs,
        log_ctx: spec.log_ctx,
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
        let spec = HookSpec {
            script_path: parsed.script_path,
            environ: &parsed.pairs,
            log_ctx: parsed.log_ctx,
        };
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
        let spec = HookSpec {
            script_path: parsed.script_path,
            environ: &parsed.pairs,
            log_ctx: parsed.log_ctx,
        };
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
        let spec = HookSpec {
            script_path: parsed.script_path,
            environ: &parsed.pairs,
            log_ctx: parsed.log_ctx,
        };
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
        let spec = HookSpec {
            script_path: parsed.script_path,
            environ: &parsed.pairs,
            log_ctx: parsed.log_ctx,
        };
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
        let spec = HookSpec {
            script_path: parsed.script_path,
            environ: &parsed.pairs,
            log_ctx: parsed.log_ctx,
        };
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
