//! Helpers shared by the integration tests: scratch directories, the
//! binary under test, free ports, a tiny HTTP client and a guard that stops
//! an Apache started by `start-server`.
#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Debian's real mod_wsgi, which reads the same directives as our module.
pub const DEBIAN_MOD_WSGI: &str = "/usr/lib/apache2/modules/mod_wsgi.so";

/// Our Apache module for the `*_with_the_wsgirt_module` tests:
/// `$WSGIRT_MODULE` when set, else the workspace's release build
/// (`target/release/mod_wsgirt.so`, or under `$CARGO_TARGET_DIR`), which
/// `scripts/test.sh` builds before these tests run. Panics when neither
/// exists: those tests must run against our module, never pass without it.
pub fn wsgirt_module() -> String {
    if let Some(path) = std::env::var_os("WSGIRT_MODULE").filter(|m| !m.is_empty()) {
        return path.to_string_lossy().into_owned();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let module = target.join("release/mod_wsgirt.so");
    assert!(
        module.is_file(),
        "our module is not built at {}: run scripts/build.sh, or set WSGIRT_MODULE",
        module.display()
    );
    module.to_string_lossy().into_owned()
}

/// Defines the two tests of one behaviour, `$with_mod_wsgi` against
/// Debian's mod_wsgi and `$with_wsgirt` against our module
/// ([`wsgirt_module`]), both calling `$run(module_path)`: what express
/// writes must work with the module it stands in for and with ours.
#[allow(unused_macros)] // cli.rs and setup.rs include this module without using it
macro_rules! both_modules {
    ($with_mod_wsgi:ident, $with_wsgirt:ident, $run:path) => {
        #[test]
        fn $with_mod_wsgi() {
            $run($crate::common::DEBIAN_MOD_WSGI);
        }

        #[test]
        fn $with_wsgirt() {
            $run(&$crate::common::wsgirt_module());
        }
    };
}

pub const HELLO_APP: &str = "\
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'Hello World!']
";

/// Reports what the generated config promises the application.
pub const ENVIRON_APP: &str = "\
import os
import sys


def application(environ, start_response):
    import mod_wsgi
    lines = [
        'multiprocess=%s' % environ['wsgi.multiprocess'],
        'multithread=%s' % environ['wsgi.multithread'],
        'script_name=%s' % environ.get('SCRIPT_NAME'),
        'path_info=%s' % environ.get('PATH_INFO'),
        'authorization=%s' % environ.get('HTTP_AUTHORIZATION', ''),
        'process_group=%s' % mod_wsgi.process_group,
        'application_group=%s' % mod_wsgi.application_group,
        'sys_path=%s' % '|'.join(sys.path),
        'pid=%d' % os.getpid(),
    ]
    body = ('\\n'.join(lines) + '\\n').encode('utf-8')
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
";

mod sys {
    extern "C" {
        pub fn kill(pid: i32, sig: i32) -> i32;
        pub fn getuid() -> u32;
    }
}

pub const SIGTERM: i32 = 15;
pub const SIGKILL: i32 = 9;
pub const SIGWINCH: i32 = 28;

pub fn send_signal(pid: u32, sig: i32) -> bool {
    // SAFETY: kill(2) only takes integers; a stale pid at worst hits
    // nothing (ESRCH). We only signal processes this test started.
    unsafe { sys::kill(pid as i32, sig) == 0 }
}

pub fn uid() -> u32 {
    // SAFETY: getuid(2) takes no arguments and cannot fail.
    unsafe { sys::getuid() }
}

pub fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_wsgirt-express")
}

/// `program` without the variables wsgirt-express reads, so the tests do
/// not depend on the caller's environment.
pub fn clean_command(program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_remove("WSGIRT_MODULE")
        .env_remove("WSGIRT_PYTHON")
        .env_remove("HTTPD");
    cmd
}

pub fn express() -> Command {
    clean_command(exe())
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run wsgirt-express")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A scratch directory readable by Apache's children (www-data when the
/// tests run as root). Removed on success, kept (and named) on failure.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!(
            "wsgirt-express-it-{}-{n}-{name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        Scratch { path }
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }

    /// Writes a file (creating parent directories), world-readable.
    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let path = self.path.join(rel);
        let mut dir = path.parent().unwrap().to_path_buf();
        fs::create_dir_all(&dir).unwrap();
        while dir.starts_with(&self.path) {
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
            if !dir.pop() {
                break;
            }
        }
        fs::write(&path, contents).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("keeping {} for inspection", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    /// `key=value` lines of ENVIRON_APP.
    pub fn field(&self, key: &str) -> String {
        let prefix = format!("{key}=");
        self.body
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {key} in body:\n{}", self.body))
            .to_string()
    }
}

/// One HTTP/1.0 request (no chunking, the server closes the connection).
pub fn http_get(
    port: u16,
    path: &str,
    extra_headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n");
    for (k, v) in extra_headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bad response: {raw:?}"),
        )
    })?;
    let (status_line, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, raw.clone()))?;
    Ok(Response {
        status,
        headers: headers.to_string(),
        body: body.to_string(),
    })
}

/// Processes whose command line mentions `needle` (our unique config path),
/// so stray Apache or daemon processes of a test can be found by id.
pub fn pids_with_cmdline(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return pids;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cmdline) = fs::read(entry.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmdline).contains(needle) {
                pids.push(pid);
            }
        }
    }
    pids
}

pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

/// An Apache started with `start-server`. Dropping it stops it (SIGTERM,
/// then SIGKILL for it and anything still running on its config).
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub root: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    stopped: bool,
}

impl Server {
    /// Runs `wsgirt-express start-server ARGS --host 127.0.0.1 --port PORT
    /// --server-root ROOT` and waits until it answers HTTP.
    pub fn start(scratch: &Scratch, args: &[&str], envs: &[(&str, &str)]) -> Server {
        let port = free_port();
        let root = scratch.join("root");
        let stdout = scratch.join("start-server.stdout");
        let stderr = scratch.join("start-server.stderr");
        let mut cmd = express();
        cmd.arg("start-server")
            .args(args)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("--server-root")
            .arg(&root)
            .current_dir(&scratch.path)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        // Its own process group: Apache's prefork MPM stops by signalling
        // its whole group (killpg), which would otherwise take the test
        // runner with it.
        cmd.process_group(0);
        let child = cmd.spawn().expect("spawn start-server");
        let mut server = Server {
            child,
            port,
            root,
            stdout,
            stderr,
            stopped: false,
        };
        server.wait_ready();
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn conf(&self) -> String {
        self.root.join("httpd.conf").display().to_string()
    }

    /// Everything useful for a failure message.
    pub fn diagnostics(&self) -> String {
        let read = |p: &Path| fs::read_to_string(p).unwrap_or_default();
        format!(
            "--- stdout\n{}\n--- stderr\n{}\n--- error_log\n{}",
            read(&self.stdout),
            read(&self.stderr),
            read(&self.root.join("error_log"))
        )
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.stopped = true;
                panic!(
                    "start-server exited early ({status})\n{}",
                    self.diagnostics()
                );
            }
            if let Ok(r) = http_get(self.port, "/__ready__", &[]) {
                if r.status != 0 {
                    return;
                }
            }
            if start.elapsed() > Duration::from_secs(30) {
                panic!("server did not answer within 30s\n{}", self.diagnostics());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn get(&self, path: &str) -> Response {
        self.get_with(path, &[])
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        http_get(self.port, path, headers)
            .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.diagnostics()))
    }

    /// SIGTERM to the PID start-server ran as (Apache, after exec); waits
    /// for it and for every process on its config to exit.
    pub fn stop(&mut self) -> ExitStatus {
        assert!(
            send_signal(self.pid(), SIGTERM),
            "kill -TERM {}",
            self.pid()
        );
        let mut status = None;
        let exited = wait_until(Duration::from_secs(20), || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        assert!(
            exited,
            "Apache (pid {}) ignored SIGTERM\n{}",
            self.pid(),
            self.diagnostics()
        );
        self.stopped = true;
        let conf = self.conf();
        assert!(
            wait_until(Duration::from_secs(10), || pids_with_cmdline(&conf)
                .is_empty()),
            "processes still running on {conf}: {:?}",
            pids_with_cmdline(&conf)
        );
        status.unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        send_signal(self.pid(), SIGTERM);
        let child = &mut self.child;
        if !wait_until(Duration::from_secs(10), || {
            matches!(child.try_wait(), Ok(Some(_)))
        }) {
            send_signal(child.id(), SIGKILL);
            let _ = child.wait();
        }
        for pid in pids_with_cmdline(&self.conf()) {
            send_signal(pid, SIGKILL);
        }
        if std::thread::panicking() {
            eprintln!("{}", self.diagnostics());
        }
    }
}
