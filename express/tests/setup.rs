//! setup-server: the files it writes, and Apache accepting the config
//! (`apache2 -t`) when the module is Debian's mod_wsgi.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::{express, run, text, Scratch, DEBIAN_MOD_WSGI, HELLO_APP};

fn setup(scratch: &Scratch, args: &[&str]) -> Output {
    let out = run(express()
        .arg("setup-server")
        .args(args)
        .args(["--module-path", DEBIAN_MOD_WSGI])
        .current_dir(&scratch.path));
    assert!(
        out.status.success(),
        "setup-server {args:?} failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

fn configtest(root: &Path) {
    let out = Command::new("apache2")
        .arg("-t")
        .arg("-f")
        .arg(root.join("httpd.conf"))
        .output()
        .expect("run apache2 -t");
    assert!(
        out.status.success(),
        "apache2 -t rejected {}:\n{}\n--- config\n{}",
        root.display(),
        text(&out.stderr),
        fs::read_to_string(root.join("httpd.conf")).unwrap_or_default()
    );
    assert!(
        text(&out.stderr).contains("Syntax OK"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn setup_server_writes_the_server_root() {
    let s = Scratch::new("files");
    s.write("app/hello.wsgi", HELLO_APP);
    let root = s.join("root");
    let out = setup(
        &s,
        &[
            "app/hello.wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            "18000",
            "--server-root",
            "root",
        ],
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Server URL         : http://127.0.0.1:18000/"),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("Server Root        : {}", root.display())));
    assert!(stdout.contains(&format!(
        "Control Script     : {}/apachectl",
        root.display()
    )));

    for file in ["httpd.conf", "apachectl", "envvars", "htdocs"] {
        assert!(root.join(file).exists(), "{file} missing");
    }
    assert!(!root.join("default.wsgi").exists());
    let mode = fs::metadata(root.join("apachectl"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "apachectl is not executable");

    let conf = fs::read_to_string(root.join("httpd.conf")).unwrap();
    let script = s.join("app/hello.wsgi");
    for line in [
        format!("ServerRoot \"{}\"", root.display()),
        "Listen 127.0.0.1:18000".to_string(),
        format!("LoadModule wsgi_module \"{DEBIAN_MOD_WSGI}\""),
        // Daemon mode by default, as mod_wsgi-express 4.9.4.
        "WSGIDaemonProcess \"127.0.0.1:18000\" \\".to_string(),
        format!("    home=\"{}\" \\", s.path.display()),
        format!(
            "WSGIScriptAlias / \"{}\" process-group=\"127.0.0.1:18000\" application-group=%{{GLOBAL}}",
            script.display()
        ),
        format!("ErrorLog \"{}/error_log\"", root.display()),
        "LogLevel warn".to_string(),
        "KeepAlive On".to_string(),
        "KeepAliveTimeout 2".to_string(),
    ] {
        assert!(
            conf.lines().any(|l| l == line),
            "missing {line:?} in\n{conf}"
        );
    }
    assert!(!conf.contains("CustomLog"), "access log is off by default");
    assert!(
        !conf.contains("WSGIPythonPath"),
        "daemon mode imports from home="
    );

    // envvars is the user's once it exists.
    fs::write(root.join("envvars"), "export FROM_USER=1\n").unwrap();
    setup(
        &s,
        &["app/hello.wsgi", "--port", "18000", "--server-root", "root"],
    );
    assert_eq!(
        fs::read_to_string(root.join("envvars")).unwrap(),
        "export FROM_USER=1\n"
    );
}

#[test]
fn apache_accepts_the_embedded_config() {
    let s = Scratch::new("embedded-t");
    s.write("app/hello.wsgi", HELLO_APP);
    s.write("static/a.txt", "static\n");
    s.write("files/robots.txt", "User-agent: *\n");
    let root = s.join("root");
    setup(
        &s,
        &[
            "app/hello.wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            "18001",
            "--server-root",
            "root",
            "--embedded-mode",
        ],
    );
    configtest(&root);

    // The same with most options in play.
    setup(
        &s,
        &[
            "app/hello.wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            "18001",
            "--server-root",
            "root",
            "--processes",
            "3",
            "--threads",
            "4",
            "--url-alias",
            "/static",
            "static",
            "--url-alias",
            "/robots.txt",
            "files/robots.txt",
            "--python-path",
            "app",
            "--working-directory",
            "app",
            "--callable-object",
            "app",
            "--reload-on-changes",
            "--access-log",
            "--log-level",
            "info",
            "--keep-alive-timeout",
            "5",
            "--maximum-requests",
            "100",
            "--map-head-to-get",
            "Off",
            "--embedded-mode",
        ],
    );
    configtest(&root);
    let conf = fs::read_to_string(root.join("httpd.conf")).unwrap();
    assert!(conf.contains("MaxRequestWorkers 12"));
    assert!(conf.contains("WSGIScriptReloading On"));
    assert!(conf.contains(&format!(
        "CustomLog \"{}/access_log\" common",
        root.display()
    )));

    // The control script's configtest runs the same check.
    let out = Command::new(root.join("apachectl"))
        .arg("configtest")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn apache_accepts_the_daemon_config() {
    let s = Scratch::new("daemon-t");
    s.write("app/hello.wsgi", HELLO_APP);
    let root = s.join("root");
    let out = setup(
        &s,
        &[
            "app/hello.wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            "18002",
            "--server-root",
            "root",
            "--processes",
            "2",
            "--request-timeout",
            "30",
            "--send-buffer-size",
            "4096",
            "--receive-buffer-size",
            "4096",
            "--header-buffer-size",
            "16384",
            "--response-buffer-size",
            "131072",
            "--response-socket-timeout",
            "10",
            "--python-eggs",
            "eggs",
            "--max-clients",
            "200",
            "--initial-workers",
            "0.5",
            "--maximum-spare-workers",
            "0.9",
        ],
    );
    // Daemon mode is the default, as in mod_wsgi-express 4.9.4.
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Operating Mode     : daemon\n"));
    configtest(&root);
    let conf = fs::read_to_string(root.join("httpd.conf")).unwrap();
    // 4.9.4's daemon summary lines; the capacity is what the MPM is sized to.
    let workers = conf
        .lines()
        .find_map(|l| l.strip_prefix("MaxRequestWorkers "))
        .unwrap();
    // The prefork block comes last.
    let prefork = conf
        .lines()
        .filter_map(|l| l.strip_prefix("MaxRequestWorkers "))
        .next_back()
        .unwrap();
    assert_eq!(prefork, "200", "--max-clients");
    assert!(
        conf.contains(
            "<IfModule mpm_prefork_module>\nServerLimit 200\nStartServers 100\n\
             MaxRequestWorkers 200\nMinSpareServers 100\nMaxSpareServers 180\n"
        ),
        "4.9.4's prefork figures for --initial-workers 0.5, --maximum-spare-workers 0.9:\n{conf}"
    );
    for line in [
        "Request Capacity   : 10 (2 processes * 5 threads)\n".to_string(),
        "Request Timeout    : 30 (seconds)\n".to_string(),
        "Startup Timeout    : 15 (seconds)\n".to_string(),
        "Queue Backlog      : 100 (connections)\n".to_string(),
        "Queue Timeout      : 45 (seconds)\n".to_string(),
        format!("Server Capacity    : {workers} (event/worker), {prefork} (prefork)\n"),
        "Server Backlog     : 500 (connections)\n".to_string(),
    ] {
        assert!(stdout.contains(&line), "missing {line:?} in\n{stdout}");
    }
    assert!(conf.contains("WSGIDaemonProcess \"127.0.0.1:18002\""));
    assert!(conf.contains("    processes=2 \\"));
    assert!(conf.contains("    request-timeout=30 \\"));
    for line in [
        "    send-buffer-size=4096 \\",
        "    receive-buffer-size=4096 \\",
        "    header-buffer-size=16384 \\",
        "    response-buffer-size=131072 \\",
        "    response-socket-timeout=10 \\",
    ] {
        assert!(conf.lines().any(|l| l == line), "missing {line:?}");
    }
    let eggs = s.join("eggs");
    assert!(conf.contains(&format!("    python-eggs=\"{}\" \\", eggs.display())));
    assert!(eggs.is_dir(), "--python-eggs is made");
    // 200 clients: 12 children of 18 threads; 4.9.4's fractions of them.
    for line in [
        "ServerLimit 12",
        "ThreadsPerChild 18",
        "StartServers 6",
        "MinSpareThreads 108",
        "MaxSpareThreads 180",
    ] {
        assert!(conf.lines().any(|l| l == line), "missing {line:?}");
    }
    assert!(conf.contains("WSGIRestrictEmbedded On"));
    // mod_wsgi-express 4.8+ defaults --keep-alive-timeout to 2.
    assert!(conf.lines().any(|l| l == "KeepAlive On"));
    assert!(conf.lines().any(|l| l == "KeepAliveTimeout 2"));
}

#[test]
fn welcome_page_without_a_script() {
    let s = Scratch::new("welcome");
    let root = s.join("root");
    setup(&s, &["--port", "18003", "--server-root", "root"]);
    let script = root.join("default.wsgi");
    assert!(script.is_file());
    let conf = fs::read_to_string(root.join("httpd.conf")).unwrap();
    assert!(conf.contains(&format!("WSGIScriptAlias / \"{}\"", script.display())));
    assert!(
        conf.lines().any(|l| l == "Listen 18003"),
        "all interfaces without --host"
    );
    assert!(conf.lines().any(|l| l == "ServerName localhost"));
    configtest(&root);
}

#[test]
fn default_server_root_is_under_tmpdir() {
    let s = Scratch::new("tmpdir");
    s.write("hello.wsgi", HELLO_APP);
    let port = common::free_port();
    let out = run(express()
        .args(["setup-server", "hello.wsgi", "--port", &port.to_string()])
        .args(["--module-path", DEBIAN_MOD_WSGI])
        .env("TMPDIR", &s.path)
        .current_dir(&s.path));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let root = s.join(&format!("mod_wsgi-localhost:{port}:{}", common::uid()));
    assert!(
        root.join("httpd.conf").is_file(),
        "no server root at {}",
        root.display()
    );
    assert!(text(&out.stdout).contains(&format!("Server URL         : http://localhost:{port}/")));
}

#[test]
fn refuses_a_planted_symlink_in_a_shared_tmpdir() {
    let s = Scratch::new("symlink");
    s.write("hello.wsgi", HELLO_APP);
    // A world-writable TMPDIR where someone planted the default root name.
    let tmp = s.join("tmp");
    fs::create_dir(&tmp).unwrap();
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777)).unwrap();
    fs::create_dir(s.join("elsewhere")).unwrap();
    let port = common::free_port();
    let planted = tmp.join(format!("mod_wsgi-localhost:{port}:{}", common::uid()));
    std::os::unix::fs::symlink(s.join("elsewhere"), &planted).unwrap();
    let out = run(express()
        .args(["setup-server", "hello.wsgi", "--port", &port.to_string()])
        .args(["--module-path", DEBIAN_MOD_WSGI])
        .env("TMPDIR", &tmp)
        .current_dir(&s.path));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("symbolic link"),
        "{}",
        text(&out.stderr)
    );
    assert!(!s.join("elsewhere/httpd.conf").exists());
}

#[test]
fn daemon_only_options_warn_in_embedded_mode() {
    let s = Scratch::new("warn");
    s.write("hello.wsgi", HELLO_APP);
    let out = setup(
        &s,
        &[
            "hello.wsgi",
            "--server-root",
            "root",
            "--queue-timeout",
            "5",
            "--embedded-mode",
        ],
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("warning: --queue-timeout only applies in daemon mode"),
        "{stderr}"
    );
    // Without --embedded-mode (daemon mode, the default) they apply silently.
    let out = setup(
        &s,
        &[
            "hello.wsgi",
            "--server-root",
            "root",
            "--queue-timeout",
            "5",
        ],
    );
    assert!(
        !text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );
    let conf = fs::read_to_string(s.join("root/httpd.conf")).unwrap();
    assert!(conf.contains("    queue-timeout=5 \\"), "{conf}");
}

#[test]
fn apache_accepts_the_4_9_options_and_apachectl_matches() {
    let s = Scratch::new("opts-t");
    s.write("app/hello.wsgi", HELLO_APP);
    s.write("extra.conf", "# nothing\n");
    s.write("env.sh", "export X=1\n");
    let root = s.join("root");
    let out = setup(
        &s,
        &[
            "--entry-point",
            "app/hello.wsgi",
            "--port",
            "18004",
            "--server-root",
            "root",
            "--mount-point",
            "/app",
            "--document-root",
            "docs",
            "--setenv",
            "K",
            "v w",
            "--include-file",
            "extra.conf",
            "--envvars-script",
            "env.sh",
            "--log-directory",
            "logs",
            "--startup-log",
        ],
    );
    configtest(&root);
    assert!(s.join("docs").is_dir() && s.join("logs").is_dir());
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "Startup Log File   : {}/startup_log",
            s.join("logs").display()
        )),
        "{stdout}"
    );
    assert_eq!(
        fs::read_to_string(root.join("envvars")).unwrap(),
        format!(". '{}'\n", s.join("env.sh").display())
    );
    let conf = fs::read_to_string(root.join("httpd.conf")).unwrap();
    assert!(conf.contains(&format!("Include \"{}/extra.conf\"", s.path.display())));
    assert!(conf.contains("SetEnv \"K\" \"v w\""));

    // apachectl with no command prints Apache's usage, as 4.9.4's does.
    let out = Command::new(root.join("apachectl")).output().unwrap();
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("Usage:"), "{all}");
    // configtest passes the startup log (-E) like every other command.
    let out = Command::new(root.join("apachectl"))
        .arg("configtest")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// `--server-status` and `--server-metrics` in both modes: Apache loads
/// mod_status and accepts the `<Location /server-status>` block, and the
/// summary names the page, as mod_wsgi-express 4.9.4's does.
#[test]
fn apache_accepts_server_status_and_metrics() {
    let s = Scratch::new("status-t");
    s.write("hello.wsgi", HELLO_APP);
    let root = s.join("root");
    for mode in [None, Some("--embedded-mode")] {
        let mut args = vec![
            "hello.wsgi",
            "--port",
            "18005",
            "--server-root",
            "root",
            "--server-status",
            "--server-metrics",
        ];
        args.extend(mode);
        let out = setup(&s, &args);
        configtest(&root);
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains(
                "Server URL         : http://localhost:18005/\n\
                 Server Status      : http://localhost:18005/server-status\n"
            ),
            "{stdout}"
        );
        let conf = fs::read_to_string(root.join("httpd.conf")).unwrap();
        assert!(conf.lines().any(|l| l == "ExtendedStatus On"));
        assert!(conf.lines().any(|l| l == "WSGIServerMetrics On"));
        assert_eq!(
            conf.lines().any(|l| l == "    server-metrics=On"),
            mode.is_none(),
            "server-metrics= is a daemon option"
        );
    }

    // Without --server-status, apachectl status says how to get the page.
    setup(
        &s,
        &["hello.wsgi", "--port", "18005", "--server-root", "root"],
    );
    let out = Command::new(root.join("apachectl"))
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("the server status page is off; set up the server with --server-status"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn apache_accepts_digest_authentication_with_a_group_script() {
    let s = Scratch::new("digest");
    s.write("hello.wsgi", HELLO_APP);
    s.write(
        "users.py",
        "def get_realm_hash(environ, user, realm):\n    return None\n",
    );
    s.write(
        "groups.py",
        "def groups_for_user(environ, user):\n    return []\n",
    );
    let root = s.join("root");
    setup(
        &s,
        &[
            "hello.wsgi",
            "--server-root",
            "root",
            "--auth-user-script",
            "users.py",
            "--auth-type",
            "Digest",
            "--auth-group-script",
            "groups.py",
            "--auth-group",
            "admins",
        ],
    );
    configtest(&root);
    let conf = fs::read_to_string(root.join("httpd.conf")).unwrap();
    assert!(conf.contains("    AuthDigestProvider wsgi\n"), "{conf}");
    assert!(conf.contains(&format!(
        "    WSGIAuthGroupScript \"{}\"\n",
        s.join("groups.py").display()
    )));

    // A group script, type or group without a user script is ignored, with
    // a warning (4.9.4 ignores them silently).
    let out = setup(
        &s,
        &[
            "hello.wsgi",
            "--server-root",
            "root",
            "--auth-group-script",
            "groups.py",
            "--auth-group",
            "admins",
        ],
    );
    assert!(
        text(&out.stderr).contains(
            "warning: --auth-group-script, --auth-group only apply with --auth-user-script"
        ),
        "{}",
        text(&out.stderr)
    );
    let conf = fs::read_to_string(root.join("httpd.conf")).unwrap();
    assert!(!conf.contains("WSGIAuthGroupScript"), "{conf}");

    // A hook script that is not there is a usage error.
    let out = run(express()
        .args(["setup-server", "hello.wsgi", "--server-root", "root"])
        .args(["--host-access-script", "missing.py"])
        .args(["--module-path", DEBIAN_MOD_WSGI])
        .current_dir(&s.path));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--host-access-script")
            && text(&out.stderr).contains("does not exist"),
        "{}",
        text(&out.stderr)
    );
}

/// Services in embedded mode (4.9.4 writes them there too), one with a
/// rotated log file of its own and a --server-name in front: Apache
/// accepts the config, and the warnings name what is ignored.
#[test]
fn apache_accepts_services_in_embedded_mode_with_rotated_logs() {
    let s = Scratch::new("services-t");
    s.write("app/hello.wsgi", HELLO_APP);
    s.write("app/tick.py", "import time\n");
    let root = s.join("root");
    let out = setup(
        &s,
        &[
            "app/hello.wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            "18009",
            "--server-root",
            "root",
            "--embedded-mode",
            "--server-name",
            "www.example.com",
            "--rotate-logs",
            "--service-script",
            "tick",
            "app/tick.py",
            "--service-log-file",
            "tick",
            "tick.log",
            "--service-script",
            "tock",
            "app/tick.py",
            "--service-group",
            "nobody-runs-this",
            "www-data",
        ],
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--service-group names 'nobody-runs-this'"),
        "{stderr}"
    );
    configtest(&root);
    let conf = fs::read_to_string(root.join("httpd.conf")).unwrap();
    assert!(
        conf.contains("WSGIDaemonProcess \"service:tick\""),
        "{conf}"
    );
    assert!(
        conf.contains("WSGIDaemonProcess \"service:tock\""),
        "{conf}"
    );
    assert!(conf.contains("/tick.log.%Y-%m-%d-%H_%M_%S"), "{conf}");
}
