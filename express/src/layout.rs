//! The server root: its default name, safe creation, and the files in it.
//!
//! ```text
//! SERVER-ROOT/
//!   httpd.conf     the generated Apache config (rewritten every run)
//!   apachectl      start|stop|restart|graceful|graceful-stop|configtest
//!   envvars        sourced by apachectl; created empty once, then yours
//!   htdocs/        DocumentRoot (empty; everything goes to the application)
//!   default.wsgi   the welcome page, only when no SCRIPT was given
//!   error_log, access_log, httpd.pid, wsgi.* sockets (created by Apache)
//! ```

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::{render_httpd_conf, DebugMode, ServerConfig};

/// `$TMPDIR/mod_wsgi-HOST:PORT:UID` (`/tmp` when TMPDIR is unset or empty),
/// the mod_wsgi-express naming, so tooling that knows one knows the other.
pub fn default_server_root(tmpdir: Option<&str>, host: &str, port: u16, uid: u32) -> PathBuf {
    let tmp = tmpdir
        .map(|t| t.trim_end_matches('/'))
        .filter(|t| !t.is_empty());
    PathBuf::from(tmp.unwrap_or("/tmp")).join(format!("mod_wsgi-{host}:{port}:{uid}"))
}

/// Creates the server root (and its parents) if needed and checks it.
///
/// The default root has a predictable name in a world-writable directory
/// (`/tmp`), so there a symlink or another user's directory planted under
/// that name must not be written into: in a directory others can write to,
/// the root must be a real directory owned by us. Elsewhere the user chose
/// the path, and a symlink to a directory is fine.
pub fn prepare_server_root(root: &Path, euid: u32) -> Result<(), String> {
    let shared_parent = root
        .parent()
        .and_then(|p| fs::metadata(p).ok())
        .is_some_and(|m| m.mode() & 0o002 != 0);
    match fs::symlink_metadata(root) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(root)
                .map_err(|e| format!("cannot create the server root {}: {e}", root.display()))?;
            // Apache's children (another user when started as root) must be
            // able to reach the sockets and files inside.
            fs::set_permissions(root, fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("cannot chmod the server root {}: {e}", root.display()))?;
        }
        Err(e) => {
            return Err(format!(
                "cannot inspect the server root {}: {e}",
                root.display()
            ))
        }
        Ok(meta) => {
            if shared_parent {
                if meta.file_type().is_symlink() {
                    return Err(format!(
                        "the server root {} is a symbolic link in a world-writable directory; \
                         refusing to use it (remove it or pass another --server-root)",
                        root.display()
                    ));
                }
                if meta.uid() != euid {
                    return Err(format!(
                        "the server root {} belongs to uid {}, not to us (uid {euid}); remove \
                         it or pass --server-root",
                        root.display(),
                        meta.uid()
                    ));
                }
            }
            if !root.is_dir() {
                return Err(format!(
                    "the server root {} is not a directory",
                    root.display()
                ));
            }
        }
    }
    Ok(())
}

/// Single-quotes a value for sh.
pub fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The variables apachectl sets before it sources `envvars` (start-server
/// sets the same ones), so an `envvars` written for mod_wsgi-express can use
/// them: the locale and mod_wsgi-express's `MOD_WSGI_*` names.
pub fn control_environment(c: &ServerConfig) -> Vec<(&'static str, String)> {
    let mut vars = vec![
        ("LANG", c.locale.clone()),
        ("LC_ALL", c.locale.clone()),
        ("MOD_WSGI_SERVER_ROOT", c.server_root.display().to_string()),
        (
            "MOD_WSGI_WORKING_DIRECTORY",
            c.working_directory.display().to_string(),
        ),
        ("MOD_WSGI_LISTENER_HOST", c.host.clone()),
        ("MOD_WSGI_HTTP_PORT", c.port.to_string()),
        (
            "MOD_WSGI_MODULES_DIRECTORY",
            c.modules_directory.display().to_string(),
        ),
    ];
    // 4.9.4 exports it always, as "None" without HTTPS; we only when set.
    if let Some(h) = &c.https {
        vars.push(("MOD_WSGI_HTTPS_PORT", h.port.to_string()));
    }
    vars
}

/// Fetches a URL and prints the body; run by `apachectl status` with `-I`
/// (so `envvars` settings such as `PYTHONPATH` cannot break it) and without
/// proxies (the status page only answers clients on localhost).
const STATUS_FETCH: &str = "import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
request = urllib.request.Request(sys.argv[1])
if len(sys.argv) > 2:
    request.add_header(\"Host\", sys.argv[2])
try:
    with opener.open(request, timeout=10) as response:
        sys.stdout.write(response.read().decode(\"latin-1\"))
except Exception as error:
    sys.exit(\"apachectl status: %s: %s\" % (sys.argv[1], error))
";

/// The `status)` branch of `apachectl`.
///
/// mod_wsgi-express 4.9.4 runs `python -m webbrowser -t STATUSURL`, which
/// needs a desktop or a text browser; a server usually has neither, and
/// without one it fails or does nothing useful. We print mod_status's
/// plain-text report (`?auto`) instead, fetched with the Python that set
/// up the server root (always there: the module is built for it). Without
/// `--server-status` there is no page to fetch, so we say how to get one.
fn apachectl_status(c: &ServerConfig) -> String {
    match (&c.python_executable, c.server_status) {
        (_, false) => {
            "    echo \"apachectl status: the server status page is off; set up the server \
                       with --server-status\" >&2\n    exit 1\n"
                .to_string()
        }
        (None, true) => {
            "    echo \"apachectl status: no Python to fetch it with; open $STATUSURL\" >&2\n    \
                         exit 1\n"
                .to_string()
        }
        (Some(python), true) => format!(
            "    # mod_wsgi-express opens $STATUSURL in a web browser; we print the\n    \
             # plain-text report instead (a server has no browser).\n    \
             exec {} -I -c {} \"$STATUSURL?auto\"{}\n",
            sh_quote(&python.display().to_string()),
            sh_quote(STATUS_FETCH),
            // The virtual host of --server-name, not the default one.
            match &c.server_name {
                Some(name) => format!(" {}", sh_quote(&format!("{name}:{}", c.port))),
                None => String::new(),
            }
        ),
    }
}

/// The `apachectl` control script.
pub fn render_apachectl(c: &ServerConfig) -> String {
    let mut exports = String::new();
    for (name, value) in control_environment(c) {
        exports.push_str(&format!("{name}={}\nexport {name}\n", sh_quote(&value)));
    }
    let httpd_args: Vec<String> = c.httpd_args().iter().map(|a| sh_quote(a)).collect();
    format!(
        r#"#!/bin/sh
# Generated by wsgirt-express: controls the Apache instance of this server root.
#
#   apachectl start|stop|restart|graceful|graceful-stop   (apache2 -k ...)
#   apachectl configtest                                   (apache2 -t)
#   apachectl status                                       (/server-status?auto)
#   apachectl start -DFOREGROUND                           (what start-server runs)
#   apachectl                                              (apache2 -h)
#   apachectl ANYTHING-ELSE ...                            (passed to apache2)
#
# Local environment settings go in the envvars file next to this script.

HTTPD={httpd}
SERVER_ROOT={root}
HTTPD_CONF="$SERVER_ROOT/httpd.conf"
STATUSURL={status_url}

{exports}
# Foreground starts keep this as the working directory; daemonized ones chdir to /.
cd "$MOD_WSGI_WORKING_DIRECTORY" 2>/dev/null || cd /

if [ -f "$SERVER_ROOT/envvars" ]; then
    . "$SERVER_ROOT/envvars"
fi

# No command: Apache's usage, as mod_wsgi-express's apachectl shows.
if [ $# -eq 0 ]; then
    exec {httpd_cmd} -f "$HTTPD_CONF" -h
fi
ACMD="$1"
shift

case "$ACMD" in
start|stop|restart|graceful|graceful-stop)
    exec {httpd_cmd} -f "$HTTPD_CONF" -k "$ACMD" "$@"
    ;;
configtest)
    exec {httpd_cmd} -f "$HTTPD_CONF" -t "$@"
    ;;
status)
{status}    ;;
*)
    exec {httpd_cmd} -f "$HTTPD_CONF" "$ACMD" "$@"
    ;;
esac
"#,
        httpd = sh_quote(&c.httpd.display().to_string()),
        root = sh_quote(&c.server_root.display().to_string()),
        status_url = sh_quote(&c.status_fetch_url()),
        status = apachectl_status(c),
        httpd_cmd = std::iter::once("\"$HTTPD\"".to_string())
            .chain(httpd_args)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// The initial `envvars`: kept across runs once it exists, like
/// mod_wsgi-express (and Debian's /etc/apache2/envvars).
pub const ENVVARS: &str = "\
# Sourced (by /bin/sh) before Apache starts, by start-server and apachectl.
# Put environment settings for Apache and the application here, e.g.
#   export DJANGO_SETTINGS_MODULE=mysite.settings
# wsgirt-express creates this file once and never overwrites it (unless
# --envvars-script is given: then it only sources that script).
";

/// `envvars` with `--envvars-script`: it sources the script, and is
/// rewritten on every run, as mod_wsgi-express does.
pub fn render_envvars_sourcing(script: &Path) -> String {
    format!(". {}\n", sh_quote(&script.display().to_string()))
}

/// The welcome page served when start-server is given no SCRIPT.
pub const DEFAULT_WSGI: &str = r#"# Generated by wsgirt-express: the page shown when no WSGI script is given.
import sys


def application(environ, start_response):
    body = (
        "<!DOCTYPE html>\n<html><head><title>wsgirt-express</title></head><body>\n"
        "<h1>It works!</h1>\n"
        "<p>wsgirt-express is running. Pass the path of a WSGI script file to "
        "<code>wsgirt-express start-server</code> to serve your application.</p>\n"
        "<p>Python %s</p>\n</body></html>\n" % sys.version.split()[0]
    ).encode("utf-8")
    start_response("200 OK", [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(body))),
    ])
    return [body]
"#;

/// The script that imports an `--application-type module` application.
pub fn module_script(root: &Path) -> PathBuf {
    root.join("module.wsgi")
}

/// Its text: import the module by name, as mod_wsgi-express's handler does,
/// and bind the callable under its own name for `WSGICallableObject`. Both
/// names were checked to be Python names (`args::is_module_name`).
pub fn render_module_script(module: &str, callable: &str) -> String {
    format!(
        "# Generated by wsgirt-express for --application-type module.\n\
         import importlib\n\n\
         {callable} = getattr(importlib.import_module('{module}'), '{callable}')\n"
    )
}

/// The script that loads and wraps the application in debug mode.
pub fn debug_script(root: &Path) -> PathBuf {
    root.join("debug.wsgi")
}

/// `value` as a Python string literal.
fn py_str(value: &str) -> String {
    let mut out = String::from("'");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn py_path(value: Option<&PathBuf>) -> String {
    value.map_or_else(|| "None".into(), |p| py_str(&p.display().to_string()))
}

fn py_bool(value: bool) -> &'static str {
    if value {
        "True"
    } else {
        "False"
    }
}

/// The wrapper code of `debug.wsgi` (its settings come first, see
/// `render_debug_script`). The tools wrap the application innermost first:
/// the debugger, the recorder, the profiler (so a profile covers the
/// recording too), as 4.9.4 nests its debugger inside its recorder.
const DEBUG_WRAPPER: &str = r#"
import cProfile
import importlib.machinery
import importlib.util
import itertools
import os
import pprint
import sys
import threading
import time
import traceback

os.environ['MOD_WSGI_DEBUG_MODE'] = 'true'
if DEBUGGER:
    os.environ['MOD_WSGI_DEBUGGER_ENABLED'] = 'true'
if PROFILER_DIRECTORY:
    os.environ['MOD_WSGI_PROFILER_ENABLED'] = 'true'
if RECORDER_DIRECTORY:
    os.environ['MOD_WSGI_RECORDER_ENABLED'] = 'true'


def load_application():
    # The target is a WSGI script file whatever its extension, so the
    # loader is named explicitly.
    name = '_wsgirt_debug_target'
    loader = importlib.machinery.SourceFileLoader(name, TARGET)
    spec = importlib.util.spec_from_file_location(name, TARGET, loader=loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return getattr(module, CALLABLE)


def close_result(result):
    close = getattr(result, 'close', None)
    if close is not None:
        close()


def with_debugger(app):
    """pdb post-mortem, on this process's terminal, for an exception
    that escapes the application, its iteration or its close()."""
    import pdb

    def post_mortem():
        pdb.post_mortem(sys.exc_info()[2])

    def application(environ, start_response):
        try:
            result = app(environ, start_response)
        except Exception:
            post_mortem()
            raise
        try:
            for data in result:
                yield data
        except Exception:
            post_mortem()
            raise
        finally:
            try:
                close_result(result)
            except Exception:
                post_mortem()
                raise
    return application


def with_recorder(app):
    """Per request, files named TIME-PID-COUNT in RECORDER_DIRECTORY:
    .iheaders (the environ), .icontent (the request body), .oheaders
    (start_response's arguments), .ocontent (the response body), and the
    tracebacks of the call, the iteration and close() (.oaexcept,
    .orexcept, .ofexcept; empty when nothing was raised)."""
    counter = itertools.count(1)
    lock = threading.Lock()

    def application(environ, start_response):
        with lock:
            count = next(counter)
        key = '%d-%d-%d' % (int(time.time() * 1000000), os.getpid(), count)

        def open_file(suffix, mode):
            return open(os.path.join(RECORDER_DIRECTORY, key + suffix), mode)

        with open_file('.iheaders', 'w') as f:
            pprint.pprint(environ, stream=f)
        request_body = open_file('.icontent', 'w+b')
        while True:
            chunk = environ['wsgi.input'].read(65536)
            if not chunk:
                break
            request_body.write(chunk)
        request_body.flush()
        request_body.seek(0)
        environ['wsgi.input'] = request_body
        files = [request_body]
        out_headers = open_file('.oheaders', 'w')
        out_body = open_file('.ocontent', 'wb')
        call_errors = open_file('.oaexcept', 'w')
        iteration_errors = open_file('.orexcept', 'w')
        close_errors = open_file('.ofexcept', 'w')
        files += [out_headers, out_body, call_errors, iteration_errors,
                  close_errors]

        def recording_start_response(status, headers, *exc_info):
            pprint.pprint((status, headers) + exc_info, stream=out_headers)
            out_headers.flush()
            write = start_response(status, headers, *exc_info)

            def recording_write(data):
                out_body.write(data)
                out_body.flush()
                return write(data)
            return recording_write

        try:
            try:
                result = app(environ, recording_start_response)
            except BaseException:
                traceback.print_exc(file=call_errors)
                raise
            try:
                for data in result:
                    out_body.write(data)
                    out_body.flush()
                    yield data
            except BaseException:
                traceback.print_exc(file=iteration_errors)
                raise
            finally:
                try:
                    close_result(result)
                except BaseException:
                    traceback.print_exc(file=close_errors)
                    raise
        finally:
            for f in files:
                f.close()
    return application


def with_profiler(app):
    """A cProfile profile of each request (the call, the iteration and
    close()), dumped to PROFILER_DIRECTORY/TIME-PID.pstats when it ends."""
    def application(environ, start_response):
        profile = cProfile.Profile()
        profile.enable()
        try:
            result = app(environ, start_response)
            try:
                for data in result:
                    yield data
            finally:
                close_result(result)
        finally:
            profile.disable()
            name = '%d-%d.pstats' % (int(time.time() * 1000000), os.getpid())
            profile.dump_stats(os.path.join(PROFILER_DIRECTORY, name))
    return application


application = load_application()
if DEBUGGER:
    application = with_debugger(application)
if RECORDER_DIRECTORY:
    application = with_recorder(application)
if PROFILER_DIRECTORY:
    application = with_profiler(application)
globals()[CALLABLE] = application

if DEBUGGER and DEBUGGER_STARTUP:
    import pdb
    print('wsgirt-express: the application is loaded; set breakpoints, '
          'then continue (c).', file=sys.stderr)
    pdb.set_trace()
"#;

/// `debug.wsgi`: loads `debug.target` and exposes it, wrapped in the tools
/// asked for, under the callable's name.
pub fn render_debug_script(debug: &DebugMode, callable: &str) -> String {
    format!(
        "# Generated by wsgirt-express for --debug-mode: loads the application\n\
         # and wraps it in the debugging tools asked for. Rewritten on every run.\n\
         TARGET = {}\n\
         CALLABLE = {}\n\
         DEBUGGER = {}\n\
         DEBUGGER_STARTUP = {}\n\
         PROFILER_DIRECTORY = {}\n\
         RECORDER_DIRECTORY = {}\n\
         {DEBUG_WRAPPER}",
        py_str(&debug.target.display().to_string()),
        py_str(callable),
        py_bool(debug.enable_debugger),
        py_bool(debug.enable_debugger && debug.debugger_startup),
        py_path(debug.profiler_directory.as_ref()),
        py_path(debug.recorder_directory.as_ref()),
    )
}

/// The path of the welcome script inside a server root.
pub fn default_script(root: &Path) -> PathBuf {
    root.join("default.wsgi")
}

fn write_file(path: &Path, contents: &str, mode: u32) -> Result<(), String> {
    // Write to a temporary name and rename, so a running Apache never reads a
    // half-written config and a symlink planted at `path` is replaced rather
    // than followed.
    let tmp = path.with_extension("wsgirt-tmp");
    let result = (|| -> io::Result<()> {
        let _ = fs::remove_file(&tmp);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}

/// Writes every file of the server root (which must exist, see
/// `prepare_server_root`).
pub fn write_server_root(c: &ServerConfig, welcome_page: bool) -> Result<(), String> {
    // The document root, log directory and egg cache are made if missing,
    // as mod_wsgi-express does (it makes only the last level; so do we).
    let eggs_existed = c.python_eggs.is_dir();
    for dir in [&c.document_root, &c.log_directory, &c.python_eggs] {
        if !dir.is_dir() {
            fs::create_dir(dir)
                .and_then(|_| fs::set_permissions(dir, fs::Permissions::from_mode(0o755)))
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
    }
    // Only a directory we just made, as 4.9.4 (it chowns after its mkdir).
    if let (Some((uid, gid)), false) = (c.python_eggs_owner, eggs_existed) {
        std::os::unix::fs::chown(&c.python_eggs, Some(uid), Some(gid))
            .map_err(|e| format!("cannot chown {}: {e}", c.python_eggs.display()))?;
    }
    if welcome_page {
        write_file(&default_script(&c.server_root), DEFAULT_WSGI, 0o644)?;
    }
    if let Some(module) = &c.application_module {
        write_file(
            &module_script(&c.server_root),
            &render_module_script(module, &c.callable_object),
            0o644,
        )?;
    }
    if let Some(debug) = &c.debug {
        // The tools' directories, made if missing and, when Apache starts
        // as root, given to the user the application runs as, as the egg
        // cache is (4.9.4 makes them but leaves them to root).
        for dir in [&debug.profiler_directory, &debug.recorder_directory]
            .into_iter()
            .flatten()
        {
            if !dir.is_dir() {
                fs::create_dir(dir)
                    .and_then(|_| fs::set_permissions(dir, fs::Permissions::from_mode(0o755)))
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                if let Some((uid, gid)) = c.python_eggs_owner {
                    std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                        .map_err(|e| format!("cannot chown {}: {e}", dir.display()))?;
                }
            }
        }
        write_file(
            &c.script,
            &render_debug_script(debug, &c.callable_object),
            0o644,
        )?;
    }
    if c.mime_types == c.server_root.join("mime.types") && !c.mime_types.exists() {
        // No system MIME types file: an empty one keeps TypesConfig valid.
        write_file(&c.mime_types, "", 0o644)?;
    }
    write_file(&c.httpd_conf(), &render_httpd_conf(c), 0o644)?;
    write_file(
        &c.server_root.join("apachectl"),
        &render_apachectl(c),
        0o755,
    )?;
    let envvars = c.server_root.join("envvars");
    if let Some(script) = &c.envvars_script {
        write_file(&envvars, &render_envvars_sourcing(script), 0o644)?;
    } else if fs::symlink_metadata(&envvars).is_err() {
        write_file(&envvars, ENVVARS, 0o644)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::sample;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("wsgirt-express-unit-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn euid() -> u32 {
        crate::users::Identity::current().euid
    }

    #[test]
    fn default_root_naming() {
        assert_eq!(
            default_server_root(None, "localhost", 8000, 0),
            PathBuf::from("/tmp/mod_wsgi-localhost:8000:0")
        );
        assert_eq!(
            default_server_root(Some("/var/tmp/"), "127.0.0.1", 9000, 1000),
            PathBuf::from("/var/tmp/mod_wsgi-127.0.0.1:9000:1000")
        );
        assert_eq!(
            default_server_root(Some(""), "localhost", 1, 2),
            PathBuf::from("/tmp/mod_wsgi-localhost:1:2")
        );
    }

    #[test]
    fn sh_quoting() {
        assert_eq!(sh_quote("/a b"), "'/a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn apachectl_runs_the_configured_httpd() {
        let text = render_apachectl(&sample());
        assert!(text.starts_with("#!/bin/sh\n"));
        assert!(text.contains("HTTPD='/usr/sbin/apache2'"));
        assert!(text.contains("SERVER_ROOT='/tmp/mod_wsgi-127.0.0.1:8123:1000'"));
        assert!(text.contains("exec \"$HTTPD\" -f \"$HTTPD_CONF\" -k \"$ACMD\" \"$@\""));
        assert!(text.contains("configtest)\n    exec \"$HTTPD\" -f \"$HTTPD_CONF\" -t \"$@\""));
        assert!(text.contains(". \"$SERVER_ROOT/envvars\""));
        // No command: Apache's usage (mod_wsgi-express runs httpd -h).
        assert!(text.contains("exec \"$HTTPD\" -f \"$HTTPD_CONF\" -h"));
        // The variables an envvars written for mod_wsgi-express may use.
        assert!(text.contains(
            "MOD_WSGI_SERVER_ROOT='/tmp/mod_wsgi-127.0.0.1:8123:1000'\nexport MOD_WSGI_SERVER_ROOT"
        ));
        assert!(text.contains("export MOD_WSGI_WORKING_DIRECTORY"));
        let mut c = sample();
        c.startup_log = true;
        let text = render_apachectl(&c);
        assert!(text.contains(
            "exec \"$HTTPD\" '-E' '/tmp/mod_wsgi-127.0.0.1:8123:1000/startup_log' -f \"$HTTPD_CONF\" -k \"$ACMD\" \"$@\""
        ));
    }

    #[test]
    fn apachectl_status_prints_the_plain_text_report() {
        let text = render_apachectl(&sample());
        assert!(text.contains("STATUSURL='http://127.0.0.1:8123/server-status'\n"));
        assert!(text.contains(
            "status)\n    echo \"apachectl status: the server status page is off; set up the \
             server with --server-status\" >&2\n    exit 1\n    ;;"
        ));
        let mut c = sample();
        c.server_status = true;
        let text = render_apachectl(&c);
        assert!(text.contains("exec '/usr/bin/python3' -I -c 'import sys, urllib.request\n"));
        assert!(text.contains("ProxyHandler({})"));
        assert!(text.contains("' \"$STATUSURL?auto\"\n    ;;"));
        c.server_name = Some("app.example.com".into());
        assert!(render_apachectl(&c).contains("' \"$STATUSURL?auto\" 'app.example.com:8123'\n"));
        c.python_executable = None;
        assert!(render_apachectl(&c).contains("no Python to fetch it with; open $STATUSURL"));
    }

    #[test]
    fn module_script_imports_by_name() {
        assert_eq!(
            render_module_script("mysite.wsgi", "application"),
            "# Generated by wsgirt-express for --application-type module.\n\
             import importlib\n\n\
             application = getattr(importlib.import_module('mysite.wsgi'), 'application')\n"
        );
    }

    #[test]
    fn debug_script_settings_and_wrapper() {
        assert_eq!(py_str("/a b/it's\\x\n"), "'/a b/it\\'s\\\\x\\x0a'");
        let mut d = DebugMode {
            target: "/srv/app/app.wsgi".into(),
            enable_debugger: false,
            debugger_startup: false,
            profiler_directory: Some("/srv/pstats".into()),
            recorder_directory: None,
        };
        let text = render_debug_script(&d, "app");
        for line in [
            "TARGET = '/srv/app/app.wsgi'",
            "CALLABLE = 'app'",
            "DEBUGGER = False",
            "DEBUGGER_STARTUP = False",
            "PROFILER_DIRECTORY = '/srv/pstats'",
            "RECORDER_DIRECTORY = None",
            "globals()[CALLABLE] = application",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        // A startup break needs the debugger.
        d.debugger_startup = true;
        assert!(render_debug_script(&d, "app").contains("\nDEBUGGER_STARTUP = False\n"));
        d.enable_debugger = true;
        assert!(render_debug_script(&d, "app").contains("\nDEBUGGER_STARTUP = True\n"));
        // Python accepts it.
        let dir = scratch("debug-script");
        let file = dir.join("debug.wsgi");
        fs::write(&file, render_debug_script(&d, "app")).unwrap();
        let status = std::process::Command::new("/usr/bin/python3")
            .args(["-m", "py_compile"])
            .arg(&file)
            .status()
            .unwrap();
        assert!(status.success());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn envvars_script_is_sourced_and_rewritten() {
        let base = scratch("envvars-script");
        let mut c = sample();
        c.server_root = base.join("root");
        c.document_root = c.server_root.join("htdocs");
        c.log_directory = c.server_root.join("logs");
        c.python_eggs = c.server_root.join("python-eggs");
        prepare_server_root(&c.server_root, euid()).unwrap();
        fs::write(c.server_root.join("envvars"), "export OLD=1\n").unwrap();
        c.envvars_script = Some("/etc/my app/env.sh".into());
        write_server_root(&c, false).unwrap();
        assert_eq!(
            fs::read_to_string(c.server_root.join("envvars")).unwrap(),
            ". '/etc/my app/env.sh'\n"
        );
        assert!(c.log_directory.is_dir(), "the log directory is made");
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn prepare_creates_and_accepts_own_directory() {
        let base = scratch("prepare");
        let root = base.join("a/b/root");
        prepare_server_root(&root, euid()).unwrap();
        assert!(root.is_dir());
        assert_eq!(
            fs::metadata(&root).unwrap().permissions().mode() & 0o777,
            0o755
        );
        prepare_server_root(&root, euid()).unwrap();
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn prepare_rejects_symlinks_and_foreign_directories_in_shared_directories() {
        let base = scratch("reject");
        let shared = base.join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        let target = base.join("target");
        fs::create_dir(&target).unwrap();
        let link = shared.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(prepare_server_root(&link, euid())
            .unwrap_err()
            .contains("symbolic link"));
        let mine = shared.join("mine");
        fs::create_dir(&mine).unwrap();
        prepare_server_root(&mine, euid()).unwrap();
        let err = prepare_server_root(&mine, euid() + 1).unwrap_err();
        assert!(err.contains("belongs to uid"), "{err}");
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn prepare_accepts_chosen_symlinks_and_rejects_files() {
        let base = scratch("private");
        let target = base.join("target");
        fs::create_dir(&target).unwrap();
        let link = base.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        prepare_server_root(&link, euid()).unwrap();
        prepare_server_root(&target, euid() + 1).unwrap();
        let file = base.join("file");
        fs::write(&file, "x").unwrap();
        assert!(prepare_server_root(&file, euid())
            .unwrap_err()
            .contains("not a directory"));
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn writes_files_and_keeps_envvars() {
        let base = scratch("write");
        let mut c = sample();
        c.server_root = base.join("root");
        c.document_root = c.server_root.join("htdocs");
        c.log_directory = c.server_root.clone();
        c.python_eggs = c.server_root.join("python-eggs");
        prepare_server_root(&c.server_root, euid()).unwrap();
        write_server_root(&c, true).unwrap();
        assert!(c.python_eggs.is_dir(), "the egg cache is made");
        let conf = fs::read_to_string(c.server_root.join("httpd.conf")).unwrap();
        assert!(conf.contains("WSGIScriptAlias / "));
        let ctl = fs::metadata(c.server_root.join("apachectl")).unwrap();
        assert_eq!(ctl.permissions().mode() & 0o777, 0o755);
        assert!(c.server_root.join("htdocs").is_dir());
        assert!(default_script(&c.server_root).is_file());
        fs::write(c.server_root.join("envvars"), "export MINE=1\n").unwrap();
        write_server_root(&c, false).unwrap();
        assert_eq!(
            fs::read_to_string(c.server_root.join("envvars")).unwrap(),
            "export MINE=1\n"
        );
        let leftovers: Vec<_> = fs::read_dir(&c.server_root)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with("wsgirt-tmp"))
            .collect();
        assert!(leftovers.is_empty());
        fs::remove_dir_all(&base).unwrap();
    }
}
