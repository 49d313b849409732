//! The access, auth and dispatch script exports (`wsgirt_hook_*`): every
//! answer, wrong types, raising scripts (one traceback, no secondary
//! error) and a missing function, through the C API; mod_wsgi's hook
//! environs (`WSGIRT_HOOK_ENVIRON_MODWSGI`) with the TLS callbacks, and
//! specs of the first version.

mod common;
use common::*;
use std::ffi::{c_char, c_void};
use wsgirt::capi::hooks::wsgirt_hook_value::*;
use wsgirt::capi::hooks::*;
use wsgirt::capi::request::{wsgirt_pair, wsgirt_str};
use wsgirt::capi::status::wsgirt_status;

const SCRIPT: &str = r#"
import gc

def check_password(environ, user, password):
    environ['wsgi.errors'].write('hook-log %s\n' % user)
    if user == 'boom':
        raise RuntimeError('hook-boom')
    if user == 'wrongtype':
        return 42
    if user == 'alias':
        return 'renamed'
    if user == 'ghost':
        return None
    return password == 'secret'

def get_realm_hash(environ, user, realm):
    if user == 'ghost':
        return None
    if user == 'boom':
        raise RuntimeError('hook-boom')
    return '%s:%s' % (user, realm)

def groups_for_user(environ, user):
    if user == 'boom':
        raise RuntimeError('hook-boom')
    if user == 'bad':
        return 42
    return ['staff', b'users']

def allow_access(environ, host):
    if host is None:
        return None
    if host == 'boom':
        raise RuntimeError('hook-boom')
    if host == 'bad':
        return 3
    return host == '127.0.0.1' and environ['REQUEST_METHOD'] == 'GET'

def application_group(environ):
    return environ.get('WANT_GROUP')

def callable_object(environ):
    if environ.get('WANT_GROUP') == 'boom':
        raise RuntimeError('hook-boom')
    return 'other'

def gc_count(environ, user, password):
    gc.collect()
    return str(len(gc.get_objects()))
"#;

fn s(text: &str) -> wsgirt_str {
    wsgirt_str {
        ptr: text.as_ptr().cast(),
        len: text.len(),
    }
}

struct Spec {
    path: String,
    group: String,
    env: Vec<(String, String)>,
    pairs: Vec<wsgirt_pair>,
    ctx: usize,
    style: u32,
    script_reloading: bool,
    tls: bool,
}

impl Spec {
    fn new(path: &str, env: &[(&str, &str)]) -> Spec {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let pairs = env
            .iter()
            .map(|(k, v)| wsgirt_pair {
                name: s(k),
                value: s(v),
            })
            .collect();
        Spec {
            path: path.to_owned(),
            group: String::new(),
            env,
            pairs,
            ctx: next_ctx(),
            style: WSGIRT_HOOK_ENVIRON_WSGI,
            script_reloading: true,
            tls: false,
        }
    }

    fn raw(&self) -> wsgirt_hook_spec {
        let _ = &self.env;
        wsgirt_hook_spec {
            struct_size: std::mem::size_of::<wsgirt_hook_spec>(),
            application_group: s(&self.group),
            script_path: s(&self.path),
            environ: self.pairs.as_ptr(),
            environ_len: self.pairs.len(),
            log_ctx: self.ctx as *mut c_void,
            environ_style: self.style,
            script_reloading: self.script_reloading,
            ssl_is_https: if self.tls { Some(tls_is_https) } else { None },
            ssl_var_lookup: if self.tls { Some(tls_var_lookup) } else { None },
            ssl_ctx: TLS_CTX.as_ptr().cast_mut().cast(),
        }
    }

    fn lines(&self) -> Vec<String> {
        LOG.lock()
            .unwrap()
            .iter()
            .filter(|l| l.ctx == self.ctx)
            .map(|l| l.text.clone())
            .collect()
    }
}

/// The TLS callbacks' context: checked by them, so a wrong one shows.
static TLS_CTX: &[u8] = b"tls-ctx";

unsafe extern "C" fn tls_is_https(ctx: *mut c_void) -> i32 {
    i32::from(ctx.cast_const().cast::<u8>() == TLS_CTX.as_ptr())
}

unsafe extern "C" fn tls_var_lookup(
    ctx: *mut c_void,
    name: *const c_char,
    len: usize,
    value: *mut wsgirt_str,
) -> i32 {
    assert_eq!(ctx.cast_const().cast::<u8>(), TLS_CTX.as_ptr());
    // SAFETY: the library passes `len` readable bytes and a writable `value`.
    unsafe {
        if std::slice::from_raw_parts(name.cast::<u8>(), len) != b"SSL_PROTOCOL" {
            return 0;
        }
        *value = s("TLSv1.3");
    }
    1
}

unsafe extern "C" fn collect(ctx: *mut c_void, kind: u32, data: *const c_char, len: usize) {
    // SAFETY: ctx is the Vec passed below; data is valid for len bytes.
    unsafe {
        let out = &mut *ctx.cast::<Vec<(u32, String)>>();
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), len);
        out.push((kind, String::from_utf8_lossy(bytes).into_owned()));
    }
}

/// The hook script, in a directory of its own per test (tests run in
/// parallel; rewriting a shared file would race with its loading).
fn script(test: &str) -> String {
    let dir = temp_dir(&format!("hooks-{test}"));
    write_script(&dir, "hooks.wsgi", SCRIPT)
}

fn password(spec: &Spec, user: &str, pw: &str) -> (wsgirt_status, wsgirt_auth, Vec<(u32, String)>) {
    let mut values: Vec<(u32, String)> = Vec::new();
    let mut out = wsgirt_auth::WSGIRT_AUTH_DENIED;
    let raw = spec.raw();
    // SAFETY: every pointer is valid for the call.
    let status = unsafe {
        wsgirt_hook_check_password(
            runtime().0,
            &raw,
            s(user),
            s(pw),
            Some(collect),
            (&mut values as *mut Vec<(u32, String)>).cast(),
            &mut out,
        )
    };
    (status, out, values)
}

fn assert_one_traceback(spec: &Spec, exc: &str) {
    let lines = spec.lines();
    let headers = lines
        .iter()
        .filter(|l| l.contains("Exception occurred processing WSGI script"))
        .count();
    assert_eq!(headers, 1, "{lines:#?}");
    assert_eq!(
        lines.iter().filter(|l| l.as_str() == exc).count(),
        1,
        "{lines:#?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("SystemError") || l.contains("Exception ignored")),
        "{lines:#?}"
    );
}

#[test]
fn check_password_answers() {
    let path = script("t1");
    let env = [("REQUEST_METHOD", "GET")];
    let spec = Spec::new(&path, &env);
    let (st, out, v) = password(&spec, "alice", "secret");
    assert_eq!(
        (st, out, v.len()),
        (WSGIRT_STATUS_OK, wsgirt_auth::WSGIRT_AUTH_GRANTED, 0)
    );
    let (st, out, _) = password(&spec, "alice", "nope");
    assert_eq!(
        (st, out),
        (WSGIRT_STATUS_OK, wsgirt_auth::WSGIRT_AUTH_DENIED)
    );
    let (st, out, _) = password(&spec, "ghost", "x");
    assert_eq!(
        (st, out),
        (WSGIRT_STATUS_OK, wsgirt_auth::WSGIRT_AUTH_NOT_FOUND)
    );
    let (st, out, v) = password(&spec, "alias", "x");
    assert_eq!(
        (st, out),
        (WSGIRT_STATUS_OK, wsgirt_auth::WSGIRT_AUTH_GRANTED)
    );
    assert_eq!(v, vec![(WSGIRT_HOOK_USER as u32, "renamed".to_owned())]);
    // wsgi.errors goes to the log, with the request's context.
    assert!(
        spec.lines().iter().any(|l| l == "hook-log alice"),
        "{:#?}",
        spec.lines()
    );
}

#[test]
fn check_password_errors_logged_once() {
    let path = script("t2");
    let spec = Spec::new(&path, &[]);
    let (st, out, v) = password(&spec, "boom", "x");
    assert_eq!(st, WSGIRT_STATUS_APP_ERROR);
    assert_eq!(out, wsgirt_auth::WSGIRT_AUTH_DENIED, "output untouched");
    assert!(v.is_empty());
    assert_one_traceback(&spec, "RuntimeError: hook-boom");

    let spec = Spec::new(&path, &[]);
    let (st, _, _) = password(&spec, "wrongtype", "x");
    assert_eq!(st, WSGIRT_STATUS_APP_ERROR);
    assert_one_traceback(
        &spec,
        "TypeError: Basic auth provider must return True, False None or user name as string",
    );
}

#[test]
fn missing_function_is_callable_not_found() {
    let dir = temp_dir("hooks-missing");
    let path = write_script(&dir, "empty.wsgi", "x = 1\n");
    let spec = Spec::new(&path, &[]);
    let (st, _, _) = password(&spec, "a", "b");
    assert_eq!(st, WSGIRT_STATUS_CALLABLE_NOT_FOUND);
    let mut allow = 7;
    let raw = spec.raw();
    // SAFETY: valid pointers.
    let st = unsafe { wsgirt_hook_allow_access(runtime().0, &raw, c"h".as_ptr(), 1, &mut allow) };
    assert_eq!((st, allow), (WSGIRT_STATUS_CALLABLE_NOT_FOUND, 7));
}

#[test]
fn realm_hash_groups_access_dispatch() {
    let path = script("t3");
    let spec = Spec::new(&path, &[("REQUEST_METHOD", "GET"), ("WANT_GROUP", "g1")]);
    let raw = spec.raw();
    let mut values: Vec<(u32, String)> = Vec::new();
    let vp = (&mut values as *mut Vec<(u32, String)>).cast::<c_void>();
    let mut out = wsgirt_auth::WSGIRT_AUTH_DENIED;
    // SAFETY: valid pointers throughout.
    unsafe {
        let st = wsgirt_hook_get_realm_hash(
            runtime().0,
            &raw,
            s("u"),
            s("r"),
            Some(collect),
            vp,
            &mut out,
        );
        assert_eq!(
            (st, out),
            (WSGIRT_STATUS_OK, wsgirt_auth::WSGIRT_AUTH_GRANTED)
        );
        let st = wsgirt_hook_get_realm_hash(
            runtime().0,
            &raw,
            s("ghost"),
            s("r"),
            Some(collect),
            vp,
            &mut out,
        );
        assert_eq!(
            (st, out),
            (WSGIRT_STATUS_OK, wsgirt_auth::WSGIRT_AUTH_NOT_FOUND)
        );
        let st = wsgirt_hook_groups_for_user(runtime().0, &raw, s("u"), Some(collect), vp);
        assert_eq!(st, WSGIRT_STATUS_OK);
        let st = wsgirt_hook_groups_for_user(runtime().0, &raw, s("bad"), Some(collect), vp);
        assert_eq!(st, WSGIRT_STATUS_APP_ERROR);
        let st = wsgirt_hook_dispatch(runtime().0, &raw, Some(collect), vp);
        assert_eq!(st, WSGIRT_STATUS_OK);
        let mut allow = 9;
        let host = "127.0.0.1";
        let st = wsgirt_hook_allow_access(
            runtime().0,
            &raw,
            host.as_ptr().cast(),
            host.len(),
            &mut allow,
        );
        assert_eq!((st, allow), (WSGIRT_STATUS_OK, 1));
        let st = wsgirt_hook_allow_access(runtime().0, &raw, c"10.0.0.1".as_ptr(), 8, &mut allow);
        assert_eq!((st, allow), (WSGIRT_STATUS_OK, 0));
        let st = wsgirt_hook_allow_access(runtime().0, &raw, std::ptr::null(), 0, &mut allow);
        assert_eq!((st, allow), (WSGIRT_STATUS_OK, -1));
        let st = wsgirt_hook_allow_access(runtime().0, &raw, c"bad".as_ptr(), 3, &mut allow);
        assert_eq!((st, allow), (WSGIRT_STATUS_OK, 0));
        let st = wsgirt_hook_allow_access(runtime().0, &raw, c"boom".as_ptr(), 4, &mut allow);
        assert_eq!((st, allow), (WSGIRT_STATUS_APP_ERROR, 0));
        assert_eq!(
            wsgirt_hook_dispatch(std::ptr::null(), &raw, None, std::ptr::null_mut()),
            WSGIRT_STATUS_NULL_ARG
        );
    }
    assert_eq!(
        values,
        vec![
            (WSGIRT_HOOK_REALM_HASH as u32, "u:r".to_owned()),
            (WSGIRT_HOOK_GROUP as u32, "staff".to_owned()),
            (WSGIRT_HOOK_GROUP as u32, "users".to_owned()),
            (WSGIRT_HOOK_APPLICATION_GROUP as u32, "g1".to_owned()),
            (WSGIRT_HOOK_CALLABLE_OBJECT as u32, "other".to_owned()),
        ]
    );
    assert!(spec
        .lines()
        .iter()
        .any(|l| l.contains("Groups for user returned from") && l.contains("must be an iterable")));
    assert!(spec
        .lines()
        .iter()
        .any(|l| l.contains("Indicator of host accessibility")));
}

#[test]
fn raising_hook_does_not_leak() {
    // sys.gettotalrefcount() is only in debug builds: count GC objects instead.
    let path = script("t4");
    let dir = temp_dir("hooks-gc");
    let gc_path = write_script(
        &dir,
        "gc.wsgi",
        "import gc\ndef check_password(environ, user, password):\n    gc.collect()\n    return str(len(gc.get_objects()))\n",
    );
    // A sub-interpreter of its own: the other tests (main interpreter, run
    // in parallel) do not disturb its object count.
    let mut gc_spec = Spec::new(&gc_path, &[]);
    gc_spec.group = "hooks-leak".to_owned();
    let objects = || -> i64 {
        let (_, _, v) = password(&gc_spec, "x", "y");
        v[0].1.parse().unwrap()
    };
    let mut spec = Spec::new(&path, &[("REQUEST_METHOD", "GET")]);
    spec.group = "hooks-leak".to_owned();
    assert_eq!(password(&spec, "alias", "x").2.len(), 1);
    for _ in 0..500 {
        password(&spec, "boom", "x");
    }
    let before = objects();
    for _ in 0..10_000 {
        let (st, _, _) = password(&spec, "boom", "x");
        assert_eq!(st, WSGIRT_STATUS_APP_ERROR);
    }
    let after = objects();
    assert!(after - before < 200, "gc objects {before} -> {after}");
}

const ENVIRON_SCRIPT: &str = r#"
import json
import threading

KEPT = []


def check_password(environ, user, password):
    lookup = environ.get('mod_ssl.var_lookup')
    if user == 'stale':
        try:
            KEPT[-1]('SSL_PROTOCOL')
        except RuntimeError as e:
            return 'RuntimeError: %s' % e
        return 'no error'
    if user == 'thread':
        box = []
        def run():
            try:
                box.append(lookup('SSL_PROTOCOL'))
            except RuntimeError as e:
                box.append('RuntimeError: %s' % e)
        t = threading.Thread(target=run)
        t.start()
        t.join()
        return box[0]
    if lookup is not None:
        KEPT.append(lookup)
    return json.dumps({
        'keys': sorted(k for k in environ if not k.isupper()),
        'group': environ.get('mod_wsgi.application_group'),
        'process_group': environ.get('mod_wsgi.process_group'),
        'reloading': environ.get('mod_wsgi.script_reloading'),
        'is_https': environ['mod_ssl.is_https']() if lookup else None,
        'protocol': lookup('SSL_PROTOCOL') if lookup else None,
        'unset': lookup(b'SSL_CIPHER') if lookup else None,
        'HTTPS': environ.get('HTTPS'),
        'PATH': environ.get('PATH'),
    }, sort_keys=True)


def callable_object(environ):
    return json.dumps({
        'keys': sorted(k for k in environ if not k.isupper()),
        'group': environ.get('mod_wsgi.application_group'),
        'process_group': environ.get('mod_wsgi.process_group'),
        'reloading': environ.get('mod_wsgi.script_reloading'),
        'HTTPS': environ.get('HTTPS'),
        'PATH': environ.get('PATH'),
    }, sort_keys=True)
"#;

fn environ_script(test: &str) -> String {
    let dir = temp_dir(&format!("hooks-env-{test}"));
    write_script(&dir, "env.wsgi", ENVIRON_SCRIPT)
}

/// The string `check_password` answered for `user`.
fn answer(spec: &Spec, user: &str) -> String {
    let (st, out, mut v) = password(spec, user, "x");
    assert_eq!(
        (st, out),
        (WSGIRT_STATUS_OK, wsgirt_auth::WSGIRT_AUTH_GRANTED),
        "{:#?}",
        spec.lines()
    );
    v.remove(0).1
}

const HOST_VARS: [(&str, &str); 4] = [
    ("REQUEST_METHOD", "GET"),
    ("HTTPS", "1"),
    ("PATH", "/bin"),
    ("mod_wsgi.callable_object", "application"),
];

#[test]
fn modwsgi_auth_environ() {
    let path = environ_script("auth");
    let mut spec = Spec::new(&path, &HOST_VARS);
    spec.style = WSGIRT_HOOK_ENVIRON_MODWSGI;
    spec.group = "%{GLOBAL}".to_owned();
    assert_eq!(
        answer(&spec, "env"),
        concat!(
            r#"{"HTTPS": "1", "PATH": "/bin", "group": "", "is_https": 0, "#,
            r#""keys": ["apache.version", "mod_ssl.is_https", "mod_ssl.var_lookup", "#,
            r#""mod_wsgi.application_group", "mod_wsgi.callable_object", "#,
            r#""mod_wsgi.process_group", "mod_wsgi.script_reloading", "mod_wsgi.version", "#,
            r#""wsgi.errors"], "process_group": "", "protocol": null, "reloading": 1, "#,
            r#""unset": null}"#
        ),
        "the host's variables as given; without TLS callbacks: 0 and None"
    );
    spec.tls = true;
    spec.script_reloading = false;
    let text = answer(&spec, "env");
    assert!(text.contains(r#""is_https": 1"#), "{text}");
    assert!(text.contains(r#""protocol": "TLSv1.3""#), "{text}");
    assert!(text.contains(r#""unset": null"#), "{text}");
    assert!(text.contains(r#""reloading": 0"#), "{text}");
    // Only while the script runs, and only on its thread.
    assert_eq!(
        answer(&spec, "stale"),
        "RuntimeError: request object has expired"
    );
    assert_eq!(
        answer(&spec, "thread"),
        "RuntimeError: mod_ssl lookups are only available on the thread running the script"
    );
}

#[test]
fn modwsgi_dispatch_environ() {
    let path = environ_script("dispatch");
    let mut spec = Spec::new(&path, &HOST_VARS);
    spec.style = WSGIRT_HOOK_ENVIRON_MODWSGI;
    spec.group = "dispatcher".to_owned();
    spec.tls = true;
    let raw = spec.raw();
    let mut values: Vec<(u32, String)> = Vec::new();
    // SAFETY: valid pointers for the call.
    let st = unsafe {
        wsgirt_hook_dispatch(
            runtime().0,
            &raw,
            Some(collect),
            (&mut values as *mut Vec<(u32, String)>).cast(),
        )
    };
    assert_eq!(st, WSGIRT_STATUS_OK, "{:#?}", spec.lines());
    assert_eq!(
        values,
        vec![(
            WSGIRT_HOOK_CALLABLE_OBJECT as u32,
            concat!(
                r#"{"HTTPS": "1", "PATH": "/bin", "group": "dispatcher", "#,
                r#""keys": ["mod_wsgi.application_group", "mod_wsgi.process_group", "#,
                r#""wsgi.errors"], "process_group": "", "reloading": null}"#
            )
            .to_owned()
        )]
    );
}

#[test]
fn wsgi_style_and_first_version_specs() {
    /// `wsgirt_hook_spec` as the first version of the header had it.
    #[repr(C)]
    struct SpecV1 {
        struct_size: usize,
        application_group: wsgirt_str,
        script_path: wsgirt_str,
        environ: *const wsgirt_pair,
        environ_len: usize,
        log_ctx: *mut c_void,
    }
    let path = environ_script("v1");
    let spec = Spec::new(&path, &HOST_VARS);
    let wsgi_keys = concat!(
        r#"{"HTTPS": null, "PATH": null, "group": null, "#,
        r#""is_https": null, "keys": ["apache.version", "mod_wsgi.callable_object", "#,
        r#""mod_wsgi.version", "wsgi.errors", "wsgi.file_wrapper", "wsgi.input", "#,
        r#""wsgi.input_terminated", "wsgi.multiprocess", "wsgi.multithread", "#,
        r#""wsgi.run_once", "wsgi.url_scheme", "wsgi.version"], "process_group": null, "#,
        r#""protocol": null, "reloading": null, "unset": null}"#
    );
    // The WSGI style (HTTPS became wsgi.url_scheme, PATH dropped), from a
    // current spec...
    assert_eq!(answer(&spec, "env"), wsgi_keys);
    // ...and from a first-version one.
    let full = spec.raw();
    let v1 = SpecV1 {
        struct_size: std::mem::size_of::<SpecV1>(),
        application_group: full.application_group,
        script_path: full.script_path,
        environ: full.environ,
        environ_len: full.environ_len,
        log_ctx: full.log_ctx,
    };
    let mut values: Vec<(u32, String)> = Vec::new();
    let mut out = wsgirt_auth::WSGIRT_AUTH_DENIED;
    // SAFETY: a first-version spec is valid for `struct_size` bytes.
    let st = unsafe {
        wsgirt_hook_check_password(
            runtime().0,
            (&v1 as *const SpecV1).cast(),
            s("env"),
            s("x"),
            Some(collect),
            (&mut values as *mut Vec<(u32, String)>).cast(),
            &mut out,
        )
    };
    assert_eq!(st, WSGIRT_STATUS_OK);
    assert_eq!(values[0].1, wsgi_keys);
    // Smaller than the first version, or an unknown style: refused.
    let short = SpecV1 {
        struct_size: std::mem::size_of::<SpecV1>() - 1,
        ..v1
    };
    let mut allow = 5;
    // SAFETY: valid pointers; the library reads nothing past struct_size.
    let st = unsafe {
        wsgirt_hook_allow_access(
            runtime().0,
            (&short as *const SpecV1).cast(),
            std::ptr::null(),
            0,
            &mut allow,
        )
    };
    assert_eq!((st, allow), (WSGIRT_STATUS_INVALID_ARG, 5));
    let mut bad = spec.raw();
    bad.environ_style = 7;
    // SAFETY: valid pointers.
    let st =
        unsafe { wsgirt_hook_allow_access(runtime().0, &bad, std::ptr::null(), 0, &mut allow) };
    assert_eq!((st, allow), (WSGIRT_STATUS_INVALID_ARG, 5));
}

#[test]
fn script_reloading_off_keeps_the_loaded_script() {
    let dir = temp_dir("hooks-reload");
    let write = |answer: &str, mtime: u64| {
        let path = write_script(
            &dir,
            "reload.wsgi",
            &format!("def check_password(environ, user, password):\n    return '{answer}'\n"),
        );
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime))
            .unwrap();
        path
    };
    let path = write("first", 1_000_000);
    let mut spec = Spec::new(&path, &[]);
    spec.style = WSGIRT_HOOK_ENVIRON_MODWSGI;
    assert_eq!(answer(&spec, "u"), "first");
    write("second", 2_000_000);
    spec.script_reloading = false;
    assert_eq!(answer(&spec, "u"), "first", "WSGIScriptReloading Off");
    spec.script_reloading = true;
    assert_eq!(answer(&spec, "u"), "second");
}
