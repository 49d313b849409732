//! Application groups: sub-interpreter isolation, `%{GLOBAL}` and `""`
//! sharing the main interpreter, and the `mod_wsgi` / `apache` modules
//! present in every interpreter.

mod common;
use common::*;
use wsgirt::capi::config::*;
use wsgirt::capi::runtime::*;

fn configure(cfg: *mut wsgirt_config) {
    let group = "pgroup";
    let status =
        // SAFETY: `cfg` is the live config handed to this hook; the string is live.
        unsafe { wsgirt_config_set_process(cfg, group.as_ptr().cast(), group.len(), 3, 8) };
    assert_eq!(status, WSGIRT_STATUS_OK);
}

fn exec(group: &str, code: &str) -> String {
    runtime_with(configure);
    exec_in(group, code)
}

#[test]
fn sub_interpreters_are_isolated() {
    let set = "G['iso'] = 'a'; sys.wsgirt_iso = 'a'; \
               sys.modules['wsgirt_iso_mod'] = type(sys)('wsgirt_iso_mod'); result = 'set'";
    let probe = "result = repr((G.get('iso'), getattr(sys, 'wsgirt_iso', None), \
                 'wsgirt_iso_mod' in sys.modules))";
    assert_eq!(exec("iso-a", set), "set");
    assert_eq!(exec("iso-b", probe), "(None, None, False)");
    assert_eq!(exec("", probe), "(None, None, False)");
    assert_eq!(exec("iso-a", probe), "('a', 'a', True)");
    // Each group has its own sys module and builtins.
    let ids: Vec<String> = ["iso-a", "iso-b", ""]
        .iter()
        .map(|g| exec(g, "import builtins; result = (id(sys), id(builtins))"))
        .collect();
    assert_ne!(ids[0], ids[1]);
    assert_ne!(ids[0], ids[2]);
    assert_ne!(ids[1], ids[2]);
}

#[test]
fn global_and_empty_group_share_the_main_interpreter() {
    // Two different scripts, one in `%{GLOBAL}`, one in `""`, see the same sys.
    assert_eq!(
        exec(
            "%{GLOBAL}",
            "sys.wsgirt_shared = 'from-global'; result = 'ok'"
        ),
        "ok"
    );
    runtime_with(configure);
    let req = Req::new("exec2.wsgi").env("REQUEST_METHOD", "POST");
    let (status, _, host) = run_body(&req, b"result = getattr(sys, 'wsgirt_shared', None)");
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(req.ctx));
    assert_eq!(host.response.text(), "from-global");
    // And the same script is one module in both names of the main interpreter.
    assert_eq!(
        exec("", "G['shared'] = 1; result = id(sys)"),
        exec("%{GLOBAL}", "result = id(sys)")
    );
    assert_eq!(exec("%{GLOBAL}", "result = G.get('shared')"), "1");
    // A sub-interpreter does not see it.
    assert_eq!(
        exec("not-main", "result = getattr(sys, 'wsgirt_shared', None)"),
        "None"
    );
}

const PROBE: &str = r#"
import mod_wsgi, apache
result = repr((
    mod_wsgi.application_group,
    mod_wsgi.process_group,
    tuple(mod_wsgi.version),
    mod_wsgi.maximum_processes,
    mod_wsgi.threads_per_process,
    mod_wsgi.FileWrapper is environ['wsgi.file_wrapper'],
    isinstance(mod_wsgi.FileWrapper, type),
    tuple(apache.version),
    environ['apache.version'],
    environ['mod_wsgi.version'] == tuple(mod_wsgi.version),
))
"#;

#[test]
fn mod_wsgi_module_in_every_interpreter() {
    for (group, expected_name) in [
        ("", ""),
        ("%{GLOBAL}", ""),
        ("mods-a", "mods-a"),
        ("mods-b", "mods-b"),
    ] {
        let got = exec(group, PROBE);
        let expected = format!(
            "('{expected_name}', 'pgroup', (4, 9, 4), 3, 8, True, True, (2, 4, 99), (2, 4, 99), True)"
        );
        assert_eq!(got, expected, "group {group:?}");
    }
}

#[test]
fn mod_wsgi_module_is_per_interpreter() {
    // Module objects and their types are distinct per interpreter.
    let a = exec(
        "per-a",
        "import mod_wsgi; result = (id(mod_wsgi), id(mod_wsgi.FileWrapper))",
    );
    let b = exec(
        "per-b",
        "import mod_wsgi; result = (id(mod_wsgi), id(mod_wsgi.FileWrapper))",
    );
    assert_ne!(a, b);
    // An attribute set on the module in one group stays there.
    exec("per-a", "import mod_wsgi; mod_wsgi.wsgirt_extra = 1");
    assert_eq!(
        exec(
            "per-b",
            "import mod_wsgi; result = hasattr(mod_wsgi, 'wsgirt_extra')"
        ),
        "False"
    );
    assert_eq!(
        exec(
            "per-a",
            "import mod_wsgi; result = hasattr(mod_wsgi, 'wsgirt_extra')"
        ),
        "True"
    );
}

#[test]
fn prepare_group_creates_the_interpreter_once() {
    let rt = runtime_with(configure);
    let name = "prepared";
    // SAFETY: live runtime handle and a (ptr, len) pair of a live str.
    let status = unsafe { wsgirt_runtime_prepare_group(rt.0, name.as_ptr().cast(), name.len()) };
    assert_eq!(status, WSGIRT_STATUS_OK);
    // SAFETY: as above.
    let status = unsafe { wsgirt_runtime_prepare_group(rt.0, name.as_ptr().cast(), name.len()) };
    assert_eq!(status, WSGIRT_STATUS_OK);
    assert_eq!(
        exec(name, "import mod_wsgi; result = mod_wsgi.application_group"),
        name
    );
    assert_eq!(log_lines_with("Create interpreter 'prepared'").len(), 1);
    // The main interpreter always exists: preparing it is a no-op.
    for main in ["", "%{GLOBAL}"] {
        let status =
            // SAFETY: as above.
            unsafe { wsgirt_runtime_prepare_group(rt.0, main.as_ptr().cast(), main.len()) };
        assert_eq!(status, WSGIRT_STATUS_OK);
    }
    assert!(log_lines_with("Create interpreter '%{GLOBAL}'").is_empty());
    assert!(log_lines_with("Create interpreter ''").is_empty());
}

#[test]
fn same_script_is_a_separate_module_per_group() {
    exec("mod-a", "G['n'] = G.get('n', 0) + 1");
    exec("mod-a", "G['n'] = G.get('n', 0) + 1");
    assert_eq!(exec("mod-a", "result = G['n']"), "2");
    assert_eq!(exec("mod-b", "result = G.get('n')"), "None");
    // The module name follows mod_wsgi: _mod_wsgi_ + md5 of the path.
    let path = app("exec.wsgi");
    let code = format!(
        "import hashlib; n = '_mod_wsgi_' + hashlib.md5({path:?}.encode()).hexdigest(); \
         result = (n in sys.modules, sys.modules[n].G is G)"
    );
    assert_eq!(exec("mod-a", &code), "(True, True)");
}
