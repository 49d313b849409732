//! Script loading: reloading on modification time, import and syntax
//! errors (and recovery once the file is fixed), a missing callable, and
//! `wsgirt_runtime_import_script` (`WSGIImportScript`).

mod common;
use common::*;
use std::path::Path;
use std::time::{Duration, SystemTime};
use wsgirt::capi::runtime::wsgirt_runtime_import_script;

fn app_source(text: &str) -> String {
    format!(
        "def application(environ, start_response):\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
         return [b'{text}']\n"
    )
}

/// Rewrites a script and moves its mtime `secs` seconds forward.
fn rewrite(path: &str, source: &str, secs: u64) {
    let old = std::fs::metadata(path).unwrap().modified().unwrap();
    std::fs::write(path, source).unwrap();
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(old + Duration::from_secs(secs)).unwrap();
}

fn body(req: &Req) -> String {
    get(&req.again()).text()
}

#[test]
fn reload_on_mtime_change() {
    let dir = temp_dir("reload");
    for group in ["", "reload-sub"] {
        let on = write_script(&dir, &format!("on{group}.wsgi"), &app_source("v1"));
        let off = write_script(&dir, &format!("off{group}.wsgi"), &app_source("v1"));
        let req_on = Req::new(&on).group(group).reload(true);
        let req_off = Req::new(&off).group(group).reload(false);
        assert_eq!(body(&req_on), "v1");
        assert_eq!(body(&req_off), "v1");
        rewrite(&on, &app_source("v2"), 10);
        rewrite(&off, &app_source("v2"), 10);
        assert_eq!(body(&req_on), "v2", "reloading on: new code");
        assert_eq!(body(&req_off), "v1", "reloading off: old code");
        assert_eq!(body(&req_on), "v2");
        assert_eq!(
            log_lines_with(&format!("Reloading WSGI script '{on}'")).len(),
            1
        );
        // An mtime moved backwards is a change too.
        rewrite(&on, &app_source("v3"), 0);
        let file = std::fs::File::options().write(true).open(&on).unwrap();
        file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000))
            .unwrap();
        assert_eq!(body(&req_on), "v3");
    }
}

#[test]
fn reload_replaces_the_module() {
    let dir = temp_dir("reload-module");
    let source = |v: &str| {
        format!(
            "import sys\nVERSION = '{v}'\nLOADS = getattr(sys, 'wsgirt_loads', 0) + 1\n\
             sys.wsgirt_loads = LOADS\n\
             def application(environ, start_response):\n    \
             start_response('200 OK', [])\n    \
             m = sys.modules[__name__]\n    \
             return [('%s %d %s' % (VERSION, LOADS, m.VERSION)).encode()]\n"
        )
    };
    let path = write_script(&dir, "module.wsgi", &source("a"));
    let req = Req::new(&path).group("reload-module");
    assert_eq!(body(&req), "a 1 a");
    assert_eq!(body(&req), "a 1 a", "no reload without a change");
    rewrite(&path, &source("b"), 10);
    assert_eq!(body(&req), "b 2 b");
    assert_eq!(body(&req), "b 2 b");
}

#[test]
fn import_error_then_fixed() {
    let dir = temp_dir("import-error");
    let path = write_script(
        &dir,
        "broken.wsgi",
        "import wsgirt_no_such_module_xyz\n\ndef application(e, s):\n    pass\n",
    );
    for group in ["", "import-error-sub"] {
        let req = Req::new(&path).group(group);
        let mut host = Host::new(Vec::new());
        let (status, _) = run(&req, &mut host);
        assert_eq!(status, WSGIRT_STATUS_SCRIPT_LOAD_FAILED);
        assert_eq!(host.response.start_calls, 0);
        assert_one_traceback(
            req.ctx,
            "ModuleNotFoundError: No module named 'wsgirt_no_such_module_xyz'",
        );
        assert_eq!(
            count_for(
                req.ctx,
                &format!("Failed to exec Python script file '{path}'")
            ),
            1
        );
        // Still failing on the next request (nothing half-loaded is cached).
        let again = req.again();
        let (status, _) = run(&again, &mut Host::new(Vec::new()));
        assert_eq!(status, WSGIRT_STATUS_SCRIPT_LOAD_FAILED);
        assert_one_traceback(again.ctx, "No module named 'wsgirt_no_such_module_xyz'");
    }
    // Fixed (same mtime second on purpose: a failed load is never cached).
    std::fs::write(&path, app_source("fixed")).unwrap();
    for group in ["", "import-error-sub"] {
        assert_eq!(body(&Req::new(&path).group(group)), "fixed");
    }
}

#[test]
fn syntax_error_then_fixed() {
    let dir = temp_dir("syntax-error");
    let path = write_script(
        &dir,
        "syntax.wsgi",
        "def application(environ, start_response)\n    return []\n",
    );
    let req = Req::new(&path).group("syntax-sub");
    let mut host = Host::new(Vec::new());
    let (status, _) = run(&req, &mut host);
    assert_eq!(status, WSGIRT_STATUS_SCRIPT_LOAD_FAILED);
    // A SyntaxError from compiling has no Python frames, so Python prints no
    // "Traceback" line for it (mod_wsgi logs the same); it is logged once.
    let log = log_text(req.ctx);
    assert_eq!(
        count_for(req.ctx, "Exception occurred processing WSGI script"),
        1,
        "{log}"
    );
    assert_eq!(count_for(req.ctx, "SyntaxError:"), 1, "{log}");
    assert!(count_for(req.ctx, "syntax.wsgi\", line 1") == 1, "{log}");
    assert_eq!(
        count_for(
            req.ctx,
            &format!("Could not read/compile source file '{path}'")
        ),
        1,
        "{log}"
    );
    rewrite(&path, &app_source("compiles"), 5);
    assert_eq!(body(&req), "compiles");
}

#[test]
fn error_at_import_time_with_traceback() {
    let dir = temp_dir("raise-at-import");
    let path = write_script(
        &dir,
        "raises.wsgi",
        "def helper():\n    raise ValueError('import time failure')\n\nhelper()\n",
    );
    let req = Req::new(&path);
    let (status, _) = run(&req, &mut Host::new(Vec::new()));
    assert_eq!(status, WSGIRT_STATUS_SCRIPT_LOAD_FAILED);
    assert_one_traceback(req.ctx, "ValueError: import time failure");
    assert_eq!(count_for(req.ctx, "in helper"), 1, "{}", log_text(req.ctx));
}

#[test]
fn missing_script_file() {
    let req = Req::new("/nonexistent/wsgirt/none.wsgi");
    let (status, _) = run(&req, &mut Host::new(Vec::new()));
    assert_eq!(status, WSGIRT_STATUS_SCRIPT_LOAD_FAILED);
    assert_eq!(
        count_for(req.ctx, "Could not read/compile source file"),
        1,
        "{}",
        log_text(req.ctx)
    );
}

#[test]
fn missing_callable() {
    for group in ["", "callable-sub"] {
        let req = Req::new("hello.wsgi").group(group).callable("nope");
        let mut host = Host::new(Vec::new());
        let (status, result) = run(&req, &mut host);
        assert_eq!(status, WSGIRT_STATUS_CALLABLE_NOT_FOUND);
        assert!(result.is_none());
        assert_eq!(host.response.start_calls, 0);
        assert_eq!(
            count_for(
                req.ctx,
                &format!(
                    "Target WSGI script '{}' does not contain WSGI application 'nope'.",
                    req.script
                )
            ),
            1,
            "{}",
            log_text(req.ctx)
        );
    }
    // Another callable name in the same script works.
    let dir = temp_dir("callables");
    let path = write_script(
        &dir,
        "two.wsgi",
        &format!("{}\nother = application\n", app_source("two")),
    );
    assert_eq!(body(&Req::new(&path).callable("other")), "two");
    assert_eq!(body(&Req::new(&path)), "two");
}

fn import_script(group: &str, path: &str) -> wsgirt::capi::status::wsgirt_status {
    let rt = runtime();
    // SAFETY: live runtime handle and (ptr, len) pairs of live strings.
    unsafe {
        wsgirt_runtime_import_script(
            rt.0,
            group.as_ptr().cast(),
            group.len(),
            path.as_ptr().cast(),
            path.len(),
        )
    }
}

fn counting_source(name: &str) -> String {
    format!(
        "import sys\nsys.{name} = getattr(sys, '{name}', 0) + 1\n\
         def application(environ, start_response):\n    \
         start_response('200 OK', [])\n    \
         return [str(sys.{name}).encode()]\n"
    )
}

#[test]
fn import_script_preloads_once() {
    let dir = temp_dir("import-script");
    for group in ["", "preload-sub"] {
        let path = write_script(
            &dir,
            &format!("preload{group}.wsgi"),
            &counting_source("wsgirt_preload_count"),
        );
        assert_eq!(import_script(group, &path), WSGIRT_STATUS_OK);
        // Importing again is a no-op.
        assert_eq!(import_script(group, &path), WSGIRT_STATUS_OK);
        let req = Req::new(&path).group(group);
        assert_eq!(body(&req), "1", "the first request must not re-import");
        assert_eq!(body(&req.clone().reload(false)), "1");
        assert!(Path::new(&path).exists());
    }
}

#[test]
fn import_script_failure() {
    let dir = temp_dir("import-script-fail");
    let path = write_script(&dir, "bad.wsgi", "raise RuntimeError('preload failure')\n");
    assert_eq!(
        import_script("preload-fail", &path),
        WSGIRT_STATUS_SCRIPT_LOAD_FAILED
    );
    let lines = log_lines_with("RuntimeError: preload failure");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        import_script("preload-fail", "/nonexistent/wsgirt.wsgi"),
        WSGIRT_STATUS_SCRIPT_LOAD_FAILED
    );
}
