//! start-server for real: Apache on 127.0.0.1 and a free port, real HTTP
//! over std::net, stopped by SIGTERM to the PID start-server ran as.
//!
//! Most tests serve with Debian's mod_wsgi (same directives) where Apache's
//! own modules do the work; every `*_with_the_wsgirt_module` test runs
//! against our module (`$WSGIRT_MODULE`, else the workspace's release
//! build) and fails when it is missing, so none passes without running.

#[macro_use]
mod common;

use std::fs;
use std::time::{Duration, SystemTime};

use common::{
    pids_with_cmdline, wait_until, wsgirt_module, Scratch, Server, DEBIAN_MOD_WSGI, ENVIRON_APP,
    HELLO_APP,
};

fn debian() -> [&'static str; 2] {
    ["--module-path", DEBIAN_MOD_WSGI]
}

#[test]
fn serves_hello_world_and_stops_on_sigterm() {
    let s = Scratch::new("hello");
    s.write("hello.wsgi", HELLO_APP);
    let mut server = Server::start(&s, &["hello.wsgi", debian()[0], debian()[1]], &[]);

    let r = server.get("/");
    assert_eq!(r.status, 200, "{}", server.diagnostics());
    assert_eq!(r.body, "Hello World!");
    assert_eq!(r.header("Content-Type").as_deref(), Some("text/plain"));
    assert_eq!(server.get("/any/path").body, "Hello World!");

    // start-server exec'd Apache: the PID we spawned is Apache's parent.
    let pid_file = fs::read_to_string(server.root.join("httpd.pid")).unwrap();
    assert_eq!(pid_file.trim(), server.pid().to_string());
    let stdout = fs::read_to_string(&server.stdout).unwrap();
    assert!(
        stdout.contains(&format!(
            "Server URL         : http://127.0.0.1:{}/",
            server.port
        )),
        "{stdout}"
    );

    let status = server.stop();
    assert!(
        status.success(),
        "Apache exited with {status}\n{}",
        server.diagnostics()
    );
    assert!(
        common::http_get(server.port, "/", &[]).is_err(),
        "still listening after stop"
    );
}

#[test]
fn embedded_mode_environment() {
    let s = Scratch::new("environ");
    s.write("app/env.wsgi", ENVIRON_APP);
    s.write("static/style.css", "body {}\n");
    let mut server = Server::start(
        &s,
        &[
            "app/env.wsgi",
            "--url-alias",
            "/static",
            "static",
            "--embedded-mode",
            debian()[0],
            debian()[1],
        ],
        &[],
    );
    let r = server.get_with("/some/path", &[("Authorization", "Basic dXNlcjpwdw==")]);
    assert_eq!(r.status, 200, "{}", server.diagnostics());
    assert_eq!(r.field("multiprocess"), "False");
    assert_eq!(r.field("multithread"), "True");
    assert_eq!(r.field("script_name"), "");
    assert_eq!(r.field("path_info"), "/some/path");
    assert_eq!(
        r.field("authorization"),
        "Basic dXNlcjpwdw==",
        "WSGIPassAuthorization On"
    );
    assert_eq!(r.field("process_group"), "", "embedded mode");
    assert_eq!(r.field("application_group"), "", "%{{GLOBAL}}");
    let sys_path = r.field("sys_path");
    assert!(
        sys_path
            .split('|')
            .any(|p| p == s.path.display().to_string()),
        "working directory not on sys.path: {sys_path}"
    );

    // --url-alias wins over WSGIScriptAlias /.
    let css = server.get("/static/style.css");
    assert_eq!(css.status, 200);
    assert_eq!(css.body, "body {}\n");
    assert_eq!(css.header("Content-Type").as_deref(), Some("text/css"));
    server.stop();
}

#[test]
fn processes_size_the_mpm() {
    let s = Scratch::new("procs");
    s.write("env.wsgi", ENVIRON_APP);
    let mut server = Server::start(
        &s,
        &[
            "env.wsgi",
            "--processes",
            "2",
            "--threads",
            "2",
            "--embedded-mode",
            debian()[0],
            debian()[1],
        ],
        &[],
    );
    let r = server.get("/");
    assert_eq!(r.field("multiprocess"), "True", "two Apache children");
    // One parent plus exactly two children, none spawned beyond ServerLimit.
    let conf = server.conf();
    assert!(
        wait_until(Duration::from_secs(10), || pids_with_cmdline(&conf).len()
            == 3),
        "expected 3 processes on {conf}, found {:?}",
        pids_with_cmdline(&conf)
    );
    server.stop();
}

#[test]
fn daemon_mode_with_mod_wsgi() {
    let s = Scratch::new("daemon");
    s.write("env.wsgi", ENVIRON_APP);
    let mut server = Server::start(
        &s,
        &["env.wsgi", "--daemon-mode", debian()[0], debian()[1]],
        &[],
    );
    let r = server.get("/x");
    assert_eq!(r.status, 200, "{}", server.diagnostics());
    assert_eq!(
        r.field("process_group"),
        format!("127.0.0.1:{}", server.port)
    );
    assert_eq!(r.field("application_group"), "");
    assert_eq!(r.field("multiprocess"), "False", "no --processes given");
    assert_eq!(r.field("path_info"), "/x");
    let status = server.stop();
    assert!(status.success(), "{status}");
}

#[test]
fn reload_on_changes_reloads_the_script() {
    fn bump_mtime(path: &std::path::Path) {
        let later = SystemTime::now() + Duration::from_secs(5);
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(later)
            .unwrap();
    }
    let version = |n: u32| {
        format!(
            "def application(environ, start_response):\n    \
             start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
             return [b'version {n}']\n"
        )
    };

    let s = Scratch::new("reload");
    let script = s.write("app.wsgi", &version(1));
    let mut server = Server::start(
        &s,
        &["app.wsgi", "--reload-on-changes", debian()[0], debian()[1]],
        &[],
    );
    assert_eq!(server.get("/").body, "version 1");
    fs::write(&script, version(2)).unwrap();
    bump_mtime(&script);
    assert_eq!(
        server.get("/").body,
        "version 2",
        "{}",
        server.diagnostics()
    );
    server.stop();

    // Without the flag, in embedded mode, the loaded script stays
    // (WSGIScriptReloading Off; mod_wsgi-express 4.9.4 disables reloading
    // with --embedded-mode). Daemon mode, the default, reloads a changed
    // script as 4.9.4's handler does.
    let s = Scratch::new("no-reload");
    let script = s.write("app.wsgi", &version(1));
    let mut server = Server::start(
        &s,
        &["app.wsgi", "--embedded-mode", debian()[0], debian()[1]],
        &[],
    );
    assert_eq!(server.get("/").body, "version 1");
    fs::write(&script, version(2)).unwrap();
    bump_mtime(&script);
    assert_eq!(server.get("/").body, "version 1");
    server.stop();
}

#[test]
fn welcome_page_and_logs_to_terminal() {
    let s = Scratch::new("terminal");
    let mut server = Server::start(
        &s,
        &[
            "--log-to-terminal",
            "--access-log",
            "--log-level",
            "info",
            debian()[0],
            debian()[1],
        ],
        &[],
    );
    let r = server.get("/");
    assert_eq!(r.status, 200, "{}", server.diagnostics());
    assert!(r.body.contains("It works!"), "{}", r.body);
    server.stop();
    let stdout = fs::read_to_string(&server.stdout).unwrap();
    assert!(
        stdout.contains("\"GET / HTTP/1.0\" 200"),
        "no access log on stdout:\n{stdout}"
    );
    let stderr = fs::read_to_string(&server.stderr).unwrap();
    assert!(
        stderr.contains("resuming normal operations"),
        "no error log on stderr:\n{stderr}"
    );
    assert!(!server.root.join("error_log").exists());
}

/// The serving test for OUR module ([`wsgirt_module`]). The module is
/// handed over through the environment, exercising that lookup path too.
#[test]
fn serves_with_the_wsgirt_module() {
    let module = wsgirt_module();
    eprintln!("serving with module {module}");
    let s = Scratch::new("wsgirt-module");
    s.write("hello.wsgi", HELLO_APP);
    s.write("env.wsgi", ENVIRON_APP);

    let mut server = Server::start(&s, &["hello.wsgi"], &[("WSGIRT_MODULE", &module)]);
    let conf = fs::read_to_string(server.root.join("httpd.conf")).unwrap();
    assert!(
        conf.contains(&format!("LoadModule wsgi_module \"{module}\"")),
        "{conf}"
    );
    let r = server.get("/");
    assert_eq!(r.status, 200, "{}", server.diagnostics());
    assert_eq!(r.body, "Hello World!");
    let status = server.stop();
    assert!(status.success(), "{status}");

    let mut server = Server::start(
        &s,
        &["env.wsgi", "--threads", "3"],
        &[("WSGIRT_MODULE", &module)],
    );
    let r = server.get_with("/p", &[("Authorization", "Bearer t")]);
    assert_eq!(r.status, 200, "{}", server.diagnostics());
    assert_eq!(r.field("path_info"), "/p");
    assert_eq!(r.field("authorization"), "Bearer t");
    assert_eq!(r.field("application_group"), "");
    assert_eq!(r.field("multithread"), "True");
    assert_eq!(r.field("multiprocess"), "False");
    server.stop();

    // Daemon mode: the working directory is importable through home=
    // alone (mod_wsgi puts a daemon's home= first on sys.path).
    s.write(
        "local_helper.py",
        "GREETING = b'from the working directory'\n",
    );
    s.write(
        "imports.wsgi",
        "import local_helper\n\n\
         def application(environ, start_response):\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
         return [local_helper.GREETING]\n",
    );
    let mut server = Server::start(
        &s,
        &["imports.wsgi", "--daemon-mode"],
        &[("WSGIRT_MODULE", &module)],
    );
    let r = server.get("/");
    assert_eq!(r.status, 200, "{}", server.diagnostics());
    assert_eq!(r.body, "from the working directory");
    let status = server.stop();
    assert!(status.success(), "{status}");
}

/// With a controlling terminal, a window resize (SIGWINCH, which Apache
/// takes as graceful-stop) must not stop start-server's Apache. `script`
/// (util-linux, Essential on Debian) gives start-server a pseudo-terminal.
#[test]
fn terminal_resize_does_not_stop_a_foreground_server() {
    let s = Scratch::new("tty");
    s.write("hello.wsgi", HELLO_APP);
    let port = common::free_port();
    let root = s.join("root");
    let conf = root.join("httpd.conf").display().to_string();
    let command = format!(
        "exec '{}' start-server hello.wsgi --host 127.0.0.1 --port {port} --server-root '{}' \
         --module-path '{DEBIAN_MOD_WSGI}'",
        common::exe(),
        root.display()
    );
    let mut script = common::clean_command("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(&s.path)
        .stdin(std::process::Stdio::null())
        .stdout(fs::File::create(s.join("script.out")).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run script(1) from util-linux");

    struct Cleanup<'a>(&'a str);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            for pid in pids_with_cmdline(self.0) {
                common::send_signal(pid, common::SIGKILL);
            }
        }
    }
    let _cleanup = Cleanup(&conf);

    let ready = wait_until(Duration::from_secs(30), || {
        common::http_get(port, "/", &[]).is_ok_and(|r| r.status == 200)
    });
    let out = || fs::read_to_string(s.join("script.out")).unwrap_or_default();
    assert!(ready, "no server on a terminal:\n{}", out());
    let pid: u32 = fs::read_to_string(root.join("httpd.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let blocked = status
        .lines()
        .find_map(|l| l.strip_prefix("SigBlk:"))
        .map(|m| u64::from_str_radix(m.trim(), 16).unwrap())
        .unwrap();
    assert_ne!(blocked & (1 << 27), 0, "SIGWINCH not blocked in Apache");

    assert!(
        common::send_signal(pid, common::SIGWINCH),
        "kill -WINCH {pid}"
    );
    std::thread::sleep(Duration::from_millis(500));
    let r = common::http_get(port, "/", &[]).expect("server stopped on SIGWINCH");
    assert_eq!(r.body, "Hello World!");

    assert!(common::send_signal(pid, common::SIGTERM));
    assert!(
        wait_until(Duration::from_secs(20), || pids_with_cmdline(&conf)
            .is_empty()),
        "Apache did not stop on SIGTERM"
    );
    assert!(
        wait_until(Duration::from_secs(10), || matches!(
            script.try_wait(),
            Ok(Some(_))
        )),
        "script(1) did not exit"
    );
}

const OPTIONS_APP: &str = "\
import os


def application(environ, start_response):
    lines = [
        'script_name=%s' % environ.get('SCRIPT_NAME'),
        'path_info=%s' % environ.get('PATH_INFO'),
        'setenv=%s' % environ.get('DEPLOY_COLOUR', ''),
        'envvars=%s' % os.environ.get('FROM_ENVVARS', ''),
        'server_root=%s' % os.environ.get('MOD_WSGI_SERVER_ROOT', ''),
    ]
    body = ('\\n'.join(lines) + '\\n').encode('utf-8')
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
";

/// mod_wsgi-express 4.9.4's --entry-point, --mount-point, --document-root,
/// --setenv, --include-file, --envvars-script, --log-directory and
/// --startup-log, served for real with `module`.
fn express_options_with(module: &str) {
    let s = Scratch::new("options");
    s.write("app/options.wsgi", OPTIONS_APP);
    s.write("static/hello.txt", "static file\n");
    s.write("static/app/inside.txt", "inside the mount point\n");
    s.write("included/inc.txt", "from the include file\n");
    let included = s.join("included");
    s.write(
        "extra.conf",
        &format!(
            "Alias /inc \"{0}\"\n<Directory \"{0}\">\n    Require all granted\n</Directory>\n",
            included.display()
        ),
    );
    s.write(
        "env.sh",
        "FROM_ENVVARS=\"yes: $MOD_WSGI_HTTP_PORT\"\nexport FROM_ENVVARS\n",
    );
    let mut server = Server::start(
        &s,
        &[
            "--entry-point",
            "app/options.wsgi",
            "--mount-point",
            "app",
            "--document-root",
            "static",
            "--setenv",
            "DEPLOY_COLOUR",
            "blue",
            "--include-file",
            "extra.conf",
            "--envvars-script",
            "env.sh",
            "--log-directory",
            "logs",
            "--startup-log",
            "--module-path",
            module,
        ],
        &[],
    );
    let r = server.get("/app/x/y");
    assert_eq!(r.status, 200, "{}", server.diagnostics());
    assert_eq!(r.field("script_name"), "/app");
    assert_eq!(r.field("path_info"), "/x/y");
    assert_eq!(r.field("setenv"), "blue");
    assert_eq!(r.field("envvars"), format!("yes: {}", server.port));
    assert_eq!(r.field("server_root"), server.root.display().to_string());
    // Files in the document root are served, even under the mount point.
    let f = server.get("/hello.txt");
    assert_eq!((f.status, f.body.as_str()), (200, "static file\n"));
    let f = server.get("/app/inside.txt");
    assert_eq!(
        (f.status, f.body.as_str()),
        (200, "inside the mount point\n")
    );
    // Outside the mount point only static files exist.
    assert_eq!(server.get("/elsewhere").status, 404);
    let f = server.get("/inc/inc.txt");
    assert_eq!(
        (f.status, f.body.as_str()),
        (200, "from the include file\n")
    );
    assert!(
        s.join("logs/error_log").is_file(),
        "error_log not in --log-directory"
    );
    assert!(s.join("logs/startup_log").is_file(), "no startup_log");
    assert!(!server.root.join("error_log").exists());
    let stdout = fs::read_to_string(&server.stdout).unwrap();
    assert!(
        stdout.contains(&format!(
            "Environ Variables  : {}",
            s.join("env.sh").display()
        )),
        "{stdout}"
    );
    let status = server.stop();
    assert!(status.success(), "{status}");
}

both_modules!(
    express_options_with_mod_wsgi,
    express_options_with_the_wsgirt_module,
    express_options_with
);

/// `--application-type module`: the entry point is a module name imported
/// from the working directory, as mod_wsgi-express 4.9.4's handler does,
/// in daemon mode (the default) and in embedded mode.
fn application_type_module_with(module: &str) {
    let s = Scratch::new("module-type");
    s.write("mysite/__init__.py", "");
    s.write(
        "mysite/wsgi.py",
        "def app(environ, start_response):\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
         return [('module %s' % __name__).encode()]\n",
    );
    for mode in [None, Some("--embedded-mode")] {
        let mut args = vec![
            "mysite.wsgi",
            "--application-type",
            "module",
            "--callable-object",
            "app",
            "--module-path",
            module,
        ];
        args.extend(mode);
        let mut server = Server::start(&s, &args, &[]);
        let r = server.get("/");
        assert_eq!(r.status, 200, "{mode:?}: {}", server.diagnostics());
        assert_eq!(r.body, "module mysite.wsgi", "{mode:?}");
        let status = server.stop();
        assert!(status.success(), "{status}");
    }
}

both_modules!(
    application_type_module_with_mod_wsgi,
    application_type_module_with_the_wsgirt_module,
    application_type_module_with
);

const METRICS_APP: &str = "\
def application(environ, start_response):
    import mod_wsgi
    metrics = mod_wsgi.server_metrics()
    body = ('metrics=%s' % (metrics is not None)).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
";

/// `--server-status` and `--server-metrics`, served for real with `module`
/// in daemon mode (the default): mod_status answers /server-status (before
/// the application mounted at /), with ExtendedStatus counters;
/// `apachectl status` prints the plain-text report; the application sees
/// the scoreboard through `mod_wsgi.server_metrics()`.
fn server_status_with(module: &str) {
    let s = Scratch::new("status");
    s.write("metrics.wsgi", METRICS_APP);
    let mut server = Server::start(
        &s,
        &[
            "metrics.wsgi",
            "--server-status",
            "--server-metrics",
            "--module-path",
            module,
        ],
        &[],
    );
    let r = server.get("/");
    assert_eq!(r.status, 200, "{}", server.diagnostics());
    assert_eq!(r.body, "metrics=True");

    let r = server.get("/server-status?auto");
    assert_eq!(r.status, 200, "{}", server.diagnostics());
    assert!(r.body.contains("ServerUptimeSeconds: "), "{}", r.body);
    // ExtendedStatus On adds the request counters.
    assert!(r.body.contains("Total Accesses: "), "{}", r.body);
    let page = server.get("/server-status");
    assert!(page.body.contains("Apache Server Status"), "{}", page.body);

    let out = common::clean_command(server.root.join("apachectl").to_str().unwrap())
        .arg("status")
        .output()
        .unwrap();
    let stdout = common::text(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        common::text(&out.stderr)
    );
    assert!(stdout.contains("Total Accesses: "), "{stdout}");
    assert!(stdout.contains("Scoreboard: "), "{stdout}");

    let stdout = fs::read_to_string(&server.stdout).unwrap();
    assert!(
        stdout.contains(&format!(
            "Server Status      : http://127.0.0.1:{}/server-status\n",
            server.port
        )),
        "{stdout}"
    );
    let status = server.stop();
    assert!(status.success(), "{status}");
}

both_modules!(
    server_status_with_mod_wsgi,
    server_status_with_the_wsgirt_module,
    server_status_with
);

const TUNING_APP: &str = "\
import os


def application(environ, start_response):
    if environ['PATH_INFO'] == '/header':
        size = int(environ['QUERY_STRING'])
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('X-Big', 'x' * size)])
        return [b'big header']
    cache = os.environ.get('PYTHON_EGG_CACHE', '')
    body = 'eggs=%s\\nwritable=%s\\nlang=%s\\nlc_all=%s\\n' % (
        cache, os.access(cache, os.W_OK), os.environ.get('LANG'),
        os.environ.get('LC_ALL'))
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body.encode()]
";

/// The daemon options 4.9.4 writes into `WSGIDaemonProcess` and we had
/// not: `--python-eggs` reaches the daemons as a writable
/// `PYTHON_EGG_CACHE` (the tests run as root, so the daemons run as
/// www-data), `--header-buffer-size` limits response headers (a header
/// over it fails the request; the default, 32768, would pass it), and
/// `--locale` is the daemons' LANG and LC_ALL.
fn daemon_tuning_with(module: &str) {
    let s = Scratch::new("tuning");
    s.write("tuning.wsgi", TUNING_APP);
    let mut server = Server::start(
        &s,
        &[
            "tuning.wsgi",
            "--python-eggs",
            "eggs",
            "--header-buffer-size",
            "8192",
            "--response-buffer-size",
            "65536",
            "--send-buffer-size",
            "65536",
            "--receive-buffer-size",
            "65536",
            "--response-socket-timeout",
            "5",
            "--locale",
            "C.utf8",
            "--module-path",
            module,
        ],
        &[],
    );
    let r = server.get("/");
    assert_eq!(r.status, 200, "{}", server.diagnostics());
    assert_eq!(r.field("eggs"), s.join("eggs").display().to_string());
    assert_eq!(r.field("writable"), "True");
    assert_eq!(r.field("lang"), "C.utf8");
    assert_eq!(r.field("lc_all"), "C.utf8");
    let stdout = fs::read_to_string(&server.stdout).unwrap();
    assert!(stdout.contains("Locale Setting     : C.utf8\n"), "{stdout}");
    let r = server.get("/header?4000");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "big header"),
        "{}",
        server.diagnostics()
    );
    assert_eq!(server.get("/header?9000").status, 500);
    let status = server.stop();
    assert!(status.success(), "{status}");
}

both_modules!(
    daemon_tuning_with_mod_wsgi,
    daemon_tuning_with_the_wsgirt_module,
    daemon_tuning_with
);

/// `--header-timeout` reaches mod_reqtimeout: a client that sends half a
/// request and stalls gets 408 after about that long, not after the
/// default 15 s. (Apache's behaviour, so Debian's mod_wsgi suffices.)
#[test]
fn header_timeout_limits_a_stalled_request() {
    use std::io::{Read, Write};
    let s = Scratch::new("reqtimeout");
    s.write("hello.wsgi", HELLO_APP);
    let mut server = Server::start(
        &s,
        &[
            "hello.wsgi",
            "--header-timeout",
            "1",
            "--header-max-timeout",
            "0",
            "--header-min-rate",
            "0",
            debian()[0],
            debian()[1],
        ],
        &[],
    );
    let conf = fs::read_to_string(server.conf()).unwrap();
    assert!(conf
        .lines()
        .any(|l| l == "RequestReadTimeout header=1 body=15,MinRate=500"));
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = std::time::Instant::now();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let waited = started.elapsed();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 408 "), "{reply}");
    assert!(waited < Duration::from_secs(5), "408 after {waited:?}");
    let status = server.stop();
    assert!(status.success(), "{status}");
}

/// mod_wsgi-express 4.9.4's log options, for real: a custom access log
/// format and file name, the error log's format and name, the startup
/// log's name. (Apache's own logging, so Debian's mod_wsgi suffices.)
#[test]
fn log_formats_and_names() {
    let s = Scratch::new("log-formats");
    s.write("hello.wsgi", HELLO_APP);
    let mut server = Server::start(
        &s,
        &[
            "hello.wsgi",
            "--access-log",
            "--access-log-format",
            "%h %>s \"%{X-Test}i\"",
            "--access-log-name",
            "acc.log",
            "--error-log-name",
            "err.log",
            "--error-log-format",
            "[%l] %M",
            "--log-level",
            "info",
            "--startup-log",
            "--startup-log-name",
            "st.log",
            debian()[0],
            debian()[1],
        ],
        &[],
    );
    let r = server.get_with("/", &[("X-Test", "from the test")]);
    assert_eq!(r.status, 200, "{}", server.diagnostics());
    let status = server.stop();
    assert!(status.success(), "{status}");
    let access = fs::read_to_string(server.root.join("acc.log")).unwrap();
    assert!(
        access
            .lines()
            .any(|l| l == "127.0.0.1 200 \"from the test\""),
        "{access}"
    );
    let errors = fs::read_to_string(server.root.join("err.log")).unwrap();
    assert!(
        errors
            .lines()
            .any(|l| l.starts_with("[notice] ") && l.contains("resuming normal operations")),
        "{errors}"
    );
    assert!(!server.root.join("error_log").exists());
    assert!(server.root.join("st.log").is_file());
    let stdout = fs::read_to_string(&server.stdout).unwrap();
    assert!(
        stdout.contains(&format!(
            "Access Log File    : {}\n",
            server.root.join("acc.log").display()
        )),
        "{stdout}"
    );
}

const FEATURES_APP: &str = "\
VERSION = 'one'


def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/missing':
        start_response('404 Not Found', [('Content-Type', 'text/plain')])
        return [b'the application says not found']
    if path == '/text':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'compress me ' * 200]
    body = environ['wsgi.input'].read()
    lines = [
        'version=%s' % VERSION,
        'remote_addr=%s' % environ['REMOTE_ADDR'],
        'passenv=%s' % environ.get('EXPRESS_PASSENV', ''),
        'body=%s' % body.decode(),
    ]
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('\\n'.join(lines) + '\\n').encode()]
";

/// Sends raw bytes, returns the whole reply (the request must ask the
/// server to close the connection).
fn raw_request(port: u16, request: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    String::from_utf8_lossy(&reply).into_owned()
}

/// mod_wsgi-express 4.9.4's switches that map onto module and Apache
/// directives, served for real with `module` in daemon mode:
/// `--chunked-request` (a chunked body is read, not refused with 411),
/// `--trust-proxy-header`/`--trust-proxy` (REMOTE_ADDR from
/// X-Forwarded-For), `--passenv`, `--error-override` (Apache's 404 page
/// replaces the application's), `--compress-responses` (gzip for text),
/// `--disable-reloading` (a changed script is not reloaded, although daemon
/// mode reloads by default), `--error-document` (the page Apache answers
/// the overridden 404 with), `--process-name`, `--pid-file` and
/// `--socket-prefix`, with `--enable-sendfile`, `--orphan-interpreter` and
/// `--ignore-activity` in play.
fn features_with(module: &str) {
    let s = Scratch::new("features");
    let script = s.write("features.wsgi", FEATURES_APP);
    s.write("docs/not-found.html", "custom not found page\n");
    fs::create_dir(s.join("sockets")).unwrap();
    let mut server = Server::start(
        &s,
        &[
            "features.wsgi",
            "--chunked-request",
            "--trust-proxy-header",
            "X-Forwarded-For",
            "--trust-proxy",
            "127.0.0.1",
            "--passenv",
            "EXPRESS_PASSENV",
            "--error-override",
            "--compress-responses",
            "--disable-reloading",
            "--enable-sendfile",
            "--orphan-interpreter",
            "--document-root",
            "docs",
            "--error-document",
            "404",
            "/not-found.html",
            "--process-name",
            "wsgirt-test-server",
            "--pid-file",
            "app.pid",
            "--socket-prefix",
            "sockets",
            "--ignore-activity",
            "/health",
            "--module-path",
            module,
        ],
        &[("EXPRESS_PASSENV", "from Apache's environment")],
    );
    let reply = raw_request(
        server.port,
        "POST /env HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Transfer-Encoding: chunked\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n\
         5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    );
    assert!(
        reply.starts_with("HTTP/1.1 200 "),
        "{reply}\n{}",
        server.diagnostics()
    );
    for line in [
        "version=one",
        "remote_addr=203.0.113.7",
        "passenv=from Apache's environment",
        "body=hello world",
    ] {
        assert!(
            reply.lines().any(|l| l == line),
            "missing {line:?} in {reply}"
        );
    }

    let r = server.get("/missing");
    assert_eq!(r.status, 404);
    assert_eq!(r.body, "custom not found page\n");

    let pid = server.pid().to_string();
    assert_eq!(fs::read_to_string(s.join("app.pid")).unwrap().trim(), pid);
    let argv0 = fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(
        argv0.starts_with(b"wsgirt-test-server"),
        "{}",
        String::from_utf8_lossy(&argv0)
    );
    let sockets: Vec<String> = fs::read_dir(s.join("sockets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        sockets
            .iter()
            .any(|n| n.starts_with("wsgi.") && n.ends_with(".sock")),
        "{sockets:?}"
    );

    let r = server.get_with("/text", &[("Accept-Encoding", "gzip")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Encoding").as_deref(), Some("gzip"));
    assert!(r.body.len() < 600, "{} bytes", r.body.len());

    fs::write(&script, FEATURES_APP.replace("'one'", "'two'")).unwrap();
    let later = SystemTime::now() + Duration::from_secs(5);
    fs::File::options()
        .write(true)
        .open(&script)
        .unwrap()
        .set_modified(later)
        .unwrap();
    assert_eq!(server.get("/env").field("version"), "one");
    let status = server.stop();
    assert!(status.success(), "{status}");
}

both_modules!(
    features_with_mod_wsgi,
    features_with_the_wsgirt_module,
    features_with
);

/// GET with a given Host header; the status and the whole reply.
fn get_host(port: u16, host: &str, path: &str) -> (u16, String) {
    let reply = raw_request(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    );
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, reply)
}

/// `--server-name`, `--server-alias` and `--allow-localhost`, served for
/// real with `module`: the name and its aliases reach the application
/// (and the document root's files, through the inherited rewrite rules),
/// other names get 403 unless the client is on localhost and
/// `--allow-localhost` is given, a `www.` name redirects the bare domain,
/// and `apachectl status` reaches the page through the named host.
fn server_name_with(module: &str) {
    let s = Scratch::new("server-name");
    s.write("hello.wsgi", HELLO_APP);
    s.write("docs/static.txt", "static file\n");
    let mut server = Server::start(
        &s,
        &[
            "hello.wsgi",
            "--server-name",
            "app.example.test",
            "--server-alias",
            "*.alias.test",
            "--document-root",
            "docs",
            "--server-status",
            "--module-path",
            module,
        ],
        &[],
    );
    let port = server.port;
    for host in ["app.example.test", "x.alias.test"] {
        let (status, reply) = get_host(port, host, "/");
        assert_eq!(status, 200, "{host}: {reply}\n{}", server.diagnostics());
        assert!(reply.contains("Hello World!"), "{reply}");
        let (status, reply) = get_host(port, host, "/static.txt");
        assert_eq!(status, 200, "{reply}");
        assert!(reply.contains("\r\n\r\nstatic file\n"), "{reply}");
    }
    let (status, reply) = get_host(port, "other.test", "/");
    assert_eq!(status, 403, "{reply}");
    let stdout = fs::read_to_string(&server.stdout).unwrap();
    assert!(
        stdout.contains(&format!(
            "Server URL         : http://app.example.test:{port}/\n"
        )),
        "{stdout}"
    );
    let out = common::clean_command(server.root.join("apachectl").to_str().unwrap())
        .arg("status")
        .output()
        .unwrap();
    assert!(
        out.status.success() && common::text(&out.stdout).contains("Total Accesses: "),
        "{}{}",
        common::text(&out.stdout),
        common::text(&out.stderr)
    );
    let status = server.stop();
    assert!(status.success(), "{status}");

    let mut server = Server::start(
        &s,
        &[
            "hello.wsgi",
            "--server-name",
            "www.example.test",
            "--allow-localhost",
            "--module-path",
            module,
        ],
        &[],
    );
    let port = server.port;
    let (status, reply) = get_host(port, "other.test", "/");
    assert_eq!(
        status,
        200,
        "--allow-localhost: {reply}\n{}",
        server.diagnostics()
    );
    let (status, reply) = get_host(port, "example.test", "/page");
    assert_eq!(status, 301, "{reply}");
    assert!(
        reply.contains(&format!(
            "Location: http://www.example.test:{port}/page\r\n"
        )),
        "{reply}"
    );
    let status = server.stop();
    assert!(status.success(), "{status}");
}

both_modules!(
    server_name_with_mod_wsgi,
    server_name_with_the_wsgirt_module,
    server_name_with
);

const WHOAMI_APP: &str = "\
def application(environ, start_response):
    body = ('remote_user=%s\\nauth_type=%s\\n' % (
        environ.get('REMOTE_USER'), environ.get('AUTH_TYPE'))).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
";

const ACCESS_SCRIPT: &str = "\
def allow_access(environ, host):
    return environ.get('HTTP_X_LET_ME_IN') == 'yes'
";

const USER_SCRIPT: &str = "\
def check_password(environ, user, password):
    if user in ('alice', 'bob'):
        return password == 'secret'
    return None
";

const GROUP_SCRIPT: &str = "\
def groups_for_user(environ, user):
    return {'alice': ['admins'], 'bob': ['staff']}.get(user, [])
";

/// `--host-access-script`, `--auth-user-script`, `--auth-group-script` and
/// `--auth-group`, served for real with `module`: the access script turns
/// clients away with 403, then Basic authentication against the user
/// script (401 with the `HOST:PORT` realm, 401 for a wrong password), and
/// only members of the group get through, as `REMOTE_USER`.
fn hook_scripts_with(module: &str) {
    let s = Scratch::new("hooks");
    s.write("whoami.wsgi", WHOAMI_APP);
    s.write("hooks/access.py", ACCESS_SCRIPT);
    s.write("hooks/users.py", USER_SCRIPT);
    s.write("hooks/groups.py", GROUP_SCRIPT);
    let mut server = Server::start(
        &s,
        &[
            "whoami.wsgi",
            "--host-access-script",
            "hooks/access.py",
            "--auth-user-script",
            "hooks/users.py",
            "--auth-group-script",
            "hooks/groups.py",
            "--auth-group",
            "admins",
            "--module-path",
            module,
        ],
        &[],
    );
    let port = server.port;
    let r = server.get("/");
    assert_eq!(r.status, 403, "access script: {}", server.diagnostics());
    let allowed = ("X-Let-Me-In", "yes");
    let r = server.get_with("/", &[allowed]);
    assert_eq!(r.status, 401, "{}", server.diagnostics());
    assert_eq!(
        r.header("WWW-Authenticate"),
        Some(format!("Basic realm=\"127.0.0.1:{port}\""))
    );
    let alice = ("Authorization", "Basic YWxpY2U6c2VjcmV0");
    let r = server.get_with("/page", &[allowed, alice]);
    assert_eq!(r.status, 200, "{}", server.diagnostics());
    assert_eq!(r.body, "remote_user=alice\nauth_type=Basic\n");
    let r = server.get_with("/page", &[alice]);
    assert_eq!(r.status, 403, "the access check comes first");
    let wrong = ("Authorization", "Basic YWxpY2U6d3Jvbmc=");
    assert_eq!(server.get_with("/", &[allowed, wrong]).status, 401);
    // bob's password is right, but he is not in --auth-group.
    let bob = ("Authorization", "Basic Ym9iOnNlY3JldA==");
    assert_eq!(server.get_with("/", &[allowed, bob]).status, 401);
    let status = server.stop();
    assert!(status.success(), "{status}");
}

both_modules!(
    hook_scripts_with_mod_wsgi,
    hook_scripts_with_the_wsgirt_module,
    hook_scripts_with
);

/// `--directory-index`, `--directory-listing` and `--allow-override`,
/// served for real: directories of the document root are served from
/// their index file (or listed when they have none) instead of by the
/// application, which still gets every other URL, and a `.htaccess` there
/// is read for the allowed directive types. (Apache's own modules do the
/// work; the WSGI module only serves the application, so Debian's
/// mod_wsgi stands in.)
#[test]
fn document_root_directories_and_htaccess() {
    let s = Scratch::new("directories");
    s.write("hello.wsgi", HELLO_APP);
    s.write("docs/index.html", "home page\n");
    s.write("docs/files/report.txt", "report\n");
    s.write("docs/typed/.htaccess", "AddType text/x-express-test .txt\n");
    s.write("docs/typed/a.txt", "typed\n");
    let mut server = Server::start(
        &s,
        &[
            "hello.wsgi",
            "--document-root",
            "docs",
            "--directory-index",
            "index.html",
            "--directory-listing",
            "--allow-override",
            "FileInfo",
            "--module-path",
            DEBIAN_MOD_WSGI,
        ],
        &[],
    );
    let r = server.get("/");
    assert_eq!(r.status, 200, "{}", server.diagnostics());
    assert_eq!(r.body, "home page\n");
    let r = server.get("/files/");
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("Index of /files") && r.body.contains("report.txt"),
        "{}",
        r.body
    );
    let r = server.get("/files");
    assert_eq!(r.status, 301, "mod_dir adds the slash");
    let r = server.get("/typed/a.txt");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Content-Type").as_deref(),
        Some("text/x-express-test")
    );
    assert_eq!(server.get("/not/there").body, "Hello World!");
    server.stop();

    // Without them, directories and .htaccess are the application's and
    // ignored, as before.
    let mut server = Server::start(
        &s,
        &[
            "hello.wsgi",
            "--document-root",
            "docs",
            "--module-path",
            DEBIAN_MOD_WSGI,
        ],
        &[],
    );
    assert_eq!(server.get("/").body, "Hello World!");
    assert_eq!(server.get("/files/").body, "Hello World!");
    let r = server.get("/typed/a.txt");
    assert_eq!(r.header("Content-Type").as_deref(), Some("text/plain"));
    server.stop();
}

const NOISY_APP: &str = "\
def application(environ, start_response):
    if environ['PATH_INFO'] == '/big':
        environ['wsgi.errors'].write(('x' * 4000 + '\\n') * 300)
    else:
        environ['wsgi.errors'].write('marker-line\\n')
    environ['wsgi.errors'].flush()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
";

/// `--rotate-logs` with `--max-log-size 1`, served for real: the error
/// and access logs are written by rotatelogs to time-stamped files, and
/// once the error log is past 1 MB the next line starts a new file.
#[test]
fn rotate_logs_starts_new_files() {
    let s = Scratch::new("rotate");
    s.write("noisy.wsgi", NOISY_APP);
    let mut server = Server::start(
        &s,
        &[
            "noisy.wsgi",
            "--rotate-logs",
            "--max-log-size",
            "1",
            "--access-log",
            "--log-directory",
            "logs",
            "--module-path",
            DEBIAN_MOD_WSGI,
        ],
        &[],
    );
    let logs = |prefix: &str| -> Vec<std::path::PathBuf> {
        let mut found: Vec<_> = fs::read_dir(s.join("logs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{prefix}."))
            })
            .collect();
        found.sort();
        found
    };
    assert_eq!(server.get("/big").status, 200);
    // rotatelogs names files by the second: the next line must come later.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(server.get("/mark").status, 200);
    assert!(
        wait_until(Duration::from_secs(10), || {
            let files = logs("error_log");
            files.len() >= 2
                && fs::read_to_string(files.last().unwrap())
                    .unwrap_or_default()
                    .contains("marker-line")
        }),
        "error logs: {:?}\n{}",
        logs("error_log"),
        server.diagnostics()
    );
    assert!(!s.join("logs/error_log").exists());
    assert!(
        wait_until(Duration::from_secs(10), || logs("access_log").iter().any(
            |f| fs::read_to_string(f)
                .unwrap_or_default()
                .contains("GET /mark")
        )),
        "access logs: {:?}",
        logs("access_log")
    );
    let status = server.stop();
    assert!(status.success(), "{status}");
}

/// `--server-mpm`, served with `module`: of the MPMs named, the first of
/// event, worker, prefork is loaded (Apache's startup notice names it),
/// and prefork is sized as 4.9.4 sizes it: in daemon mode single-threaded
/// children proxy to the daemon; in embedded mode `processes x threads`
/// single-threaded children run the application (`wsgi.multithread`
/// False), all of them started.
fn server_mpm_with(module: &str) {
    let s = Scratch::new("server-mpm");
    s.write("env.wsgi", ENVIRON_APP);
    let started_with = |server: &Server, mpm: &str| {
        let log = server.root.join("error_log");
        let notice = format!("[mpm_{mpm}:notice]");
        assert!(
            wait_until(Duration::from_secs(10), || fs::read_to_string(&log)
                .unwrap_or_default()
                .contains(&notice)),
            "no {notice}\n{}",
            server.diagnostics()
        );
    };
    // The order given does not matter: worker precedes prefork.
    let mut server = Server::start(
        &s,
        &[
            "env.wsgi",
            "--server-mpm",
            "prefork",
            "--server-mpm",
            "worker",
            "--module-path",
            module,
        ],
        &[],
    );
    let r = server.get("/");
    assert_eq!(r.status, 200, "{}", server.diagnostics());
    started_with(&server, "worker");
    assert!(server.stop().success());

    let mut server = Server::start(
        &s,
        &[
            "env.wsgi",
            "--server-mpm",
            "prefork",
            "--module-path",
            module,
        ],
        &[],
    );
    let r = server.get("/");
    assert_eq!(r.status, 200, "{}", server.diagnostics());
    assert_eq!(r.field("multithread"), "True", "the daemon has 5 threads");
    started_with(&server, "prefork");
    assert!(server.stop().success());

    let mut server = Server::start(
        &s,
        &[
            "env.wsgi",
            "--server-mpm",
            "prefork",
            "--embedded-mode",
            "--processes",
            "2",
            "--threads",
            "1",
            "--module-path",
            module,
        ],
        &[],
    );
    let r = server.get("/");
    assert_eq!(r.status, 200, "{}", server.diagnostics());
    assert_eq!(r.field("multithread"), "False", "prefork children");
    assert_eq!(r.field("multiprocess"), "True");
    started_with(&server, "prefork");
    // One parent plus 2 x 1 children, as 4.9.4's embedded prefork sizing.
    let conf = server.conf();
    assert!(
        wait_until(Duration::from_secs(10), || pids_with_cmdline(&conf).len()
            == 3),
        "expected 3 processes on {conf}, found {:?}",
        pids_with_cmdline(&conf)
    );
    assert!(server.stop().success());
}

both_modules!(
    server_mpm_with_mod_wsgi,
    server_mpm_with_the_wsgirt_module,
    server_mpm_with
);

/// A managed service: writes who and where it runs as, logs a line to
/// stderr, then beats until Apache stops it.
const SERVICE_SCRIPT: &str = "\
import os
import sys
import time

import mod_wsgi

name = mod_wsgi.process_group.split(':', 1)[1]
sys.stderr.write('service-line from %s\\n' % name)
sys.stderr.flush()
out = os.path.join(os.environ['SERVICE_OUT'], name)
with open(out + '.tmp', 'w') as f:
    f.write('%d %d %d %s\\n' % (os.getpid(), os.getuid(), os.getgid(), os.getcwd()))
os.rename(out + '.tmp', out)
beats = 0
while True:
    beats += 1
    with open(out + '.beats', 'w') as f:
        f.write(str(beats))
    time.sleep(0.1)
";

/// `--service-script` (twice), `--service-user`, `--service-group`,
/// `--service-log-file`, served with `module`: each service runs its script
/// in a process of its own, `(wsgi:service:NAME)`, in the working
/// directory, as the server's user (www-data under root) or its
/// `--service-user`/`--service-group`, keeps running, logs to its own file
/// when given one (and only there), and stops with Apache. The site is
/// still served: the log file's virtual host takes no requests.
fn services_with(module: &str) {
    let s = Scratch::new("services");
    s.write("hello.wsgi", HELLO_APP);
    s.write("service.py", SERVICE_SCRIPT);
    let out = s.join("out");
    fs::create_dir(&out).unwrap();
    // World-writable: the services run as www-data and nobody under root.
    fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o1777)).unwrap();
    fs::write(
        s.join("envvars"),
        format!("export SERVICE_OUT='{}'\n", out.display()),
    )
    .unwrap();
    let root_run = common::uid() == 0;
    let mut args = vec![
        "hello.wsgi",
        "--envvars-script",
        "envvars",
        "--service-script",
        "plain",
        "service.py",
        "--service-script",
        "logged",
        "service.py",
        "--service-log-file",
        "logged",
        "logged.log",
        "--module-path",
        module,
    ];
    if root_run {
        args.extend([
            "--service-user",
            "logged",
            "nobody",
            "--service-group",
            "logged",
            "nogroup",
        ]);
    }
    let mut server = Server::start(&s, &args, &[]);
    assert_eq!(
        server.get("/").body,
        "Hello World!",
        "{}",
        server.diagnostics()
    );
    let marker = |name: &str| -> Vec<String> {
        fs::read_to_string(out.join(name))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    for name in ["plain", "logged"] {
        assert!(
            wait_until(Duration::from_secs(15), || marker(name).len() == 4),
            "service {name} did not run\n{}",
            server.diagnostics()
        );
    }
    let (plain, logged) = (marker("plain"), marker("logged"));
    if root_run {
        assert_eq!(
            (plain[1].as_str(), plain[2].as_str()),
            ("33", "33"),
            "www-data"
        );
        assert_eq!(
            (logged[1].as_str(), logged[2].as_str()),
            ("65534", "65534"),
            "nobody"
        );
    } else {
        // Not root: nobody can switch user; both run as the invoking user.
        assert_eq!(plain[1], common::uid().to_string());
        assert_eq!(logged[1..3], plain[1..3]);
    }
    let cwd = s.path.display().to_string();
    assert_eq!(plain[3], cwd, "home= is the working directory");
    assert_eq!(logged[3], cwd);
    // Their own processes, named by mod_wsgi's display-name=%{GROUP}, on
    // this server's config (so stop() below checks they exit).
    let conf = server.conf();
    for (name, m) in [("plain", &plain), ("logged", &logged)] {
        let cmdline = fs::read(format!("/proc/{}/cmdline", m[0])).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        assert!(
            cmdline.starts_with(&format!("(wsgi:service:{name})")) && cmdline.contains(&conf),
            "{name}: {cmdline:?}"
        );
    }
    // They keep running (the same process goes on beating).
    let beats = |name: &str| -> u32 {
        fs::read_to_string(out.join(format!("{name}.beats")))
            .ok()
            .and_then(|b| b.trim().parse().ok())
            .unwrap_or(0)
    };
    let before = beats("plain");
    assert!(
        wait_until(Duration::from_secs(10), || beats("plain") >= before + 5),
        "plain stopped beating"
    );
    assert_eq!(marker("plain")[0], plain[0], "the service was restarted");
    // Logs: the logged service in its own file only, the other in the
    // server's error log.
    let read = |p: std::path::PathBuf| fs::read_to_string(p).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(10), || read(
            server.root.join("logged.log")
        )
        .contains("service-line from logged")),
        "{}",
        read(server.root.join("logged.log"))
    );
    let error_log = read(server.root.join("error_log"));
    assert!(error_log.contains("service-line from plain"), "{error_log}");
    assert!(
        !error_log.contains("service-line from logged"),
        "{error_log}"
    );
    assert!(!read(server.root.join("logged.log")).contains("from plain"));
    assert_eq!(server.get("/again").body, "Hello World!");
    assert!(server.stop().success());
    for m in [&plain, &logged] {
        assert!(!std::path::Path::new(&format!("/proc/{}", m[0])).exists());
    }
}

both_modules!(
    services_with_mod_wsgi,
    services_with_the_wsgirt_module,
    services_with
);
