//! `--debug-mode` and its tools, served for real with Debian's mod_wsgi and
//! with our module: Apache in one process (`-DONE_PROCESS`) with the
//! application on one thread, the profiler's pstats files and the
//! recorder's files per request, and pdb post-mortem (and at startup)
//! driven through Apache's stdin.

#[macro_use]
mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use common::{
    express, free_port, http_get, pids_with_cmdline, send_signal, wait_until, Scratch, Server,
    SIGKILL, SIGTERM,
};

const WORK_APP: &str = "\
import os


def work(n):
    return sum(i * i for i in range(n))


def application(environ, start_response):
    data = environ['wsgi.input'].read()
    lines = [
        'multithread=%s' % environ['wsgi.multithread'],
        'multiprocess=%s' % environ['wsgi.multiprocess'],
        'debug_mode=%s' % os.environ.get('MOD_WSGI_DEBUG_MODE'),
        'profiler=%s' % os.environ.get('MOD_WSGI_PROFILER_ENABLED'),
        'recorder=%s' % os.environ.get('MOD_WSGI_RECORDER_ENABLED'),
        'work=%d' % work(1000),
        'body=%s' % data.decode('utf-8'),
    ]
    body = ('\\n'.join(lines) + '\\n').encode('utf-8')
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
";

/// A POST over HTTP/1.0; the status and the body.
fn post(port: u16, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

fn profiler_and_recorder_with(module: &str) {
    let s = Scratch::new("debug-tools");
    s.write("work.wsgi", WORK_APP);
    let profiles = s.join("profiles");
    let mut server = Server::start(
        &s,
        &[
            "work.wsgi",
            "--enable-profiler",
            "--profiler-directory",
            "profiles",
            "--enable-recorder",
            // Overridden by debug mode, with a warning.
            "--processes",
            "3",
            "--module-path",
            module,
        ],
        &[],
    );
    let archive = server.root.join("archive");
    let stdout = fs::read_to_string(&server.stdout).unwrap();
    for line in [
        "Operating Mode     : debug".to_string(),
        "Request Capacity   : 1 (1 process * 1 threads)".to_string(),
        format!("Profiler Output    : {}", profiles.display()),
        format!("Recorder Output    : {}", archive.display()),
    ] {
        assert!(stdout.contains(&line), "no {line:?} in\n{stdout}");
    }
    let stderr = fs::read_to_string(&server.stderr).unwrap();
    assert!(stderr.contains("--processes ignored"), "{stderr}");

    // Server::start's readiness probe was recorded and profiled too.
    let profiled_before = files_in(&profiles).len();
    let recorded_before = files_in(&archive).len();
    assert!(profiled_before >= 1 && recorded_before == 7 * profiled_before);
    let (status, body) = post(server.port, "/first", "hello");
    assert_eq!(status, 200, "{body}\n{}", server.diagnostics());
    for line in [
        "multithread=False",
        "multiprocess=False",
        "debug_mode=true",
        "profiler=true",
        "recorder=true",
        "work=332833500",
        "body=hello",
    ] {
        assert!(body.lines().any(|l| l == line), "no {line} in\n{body}");
    }
    let r = server.get("/second");
    assert_eq!(r.status, 200);

    // One process: Apache serves from the process it started in.
    assert_eq!(
        pids_with_cmdline(&server.conf()),
        [server.pid()],
        "{}",
        server.diagnostics()
    );

    // A pstats file per request, with the application's own function.
    assert!(wait_until(Duration::from_secs(10), || files_in(&profiles)
        .len()
        == profiled_before + 2));
    for file in files_in(&profiles) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.ends_with(&format!("-{}.pstats", server.pid())),
            "{name}"
        );
        let out = Command::new("/usr/bin/python3")
            .args([
                "-c",
                "import pstats, sys\n\
                 stats = pstats.Stats(sys.argv[1]).stats\n\
                 print(sorted(f[2] for f in stats if f[0].endswith('work.wsgi')))",
            ])
            .arg(&file)
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && listed.contains("'work'") && listed.contains("'application'"),
            "{listed}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Seven files per request, named TIME-PID-COUNT.
    let recorded = files_in(&archive);
    assert_eq!(recorded.len(), recorded_before + 14, "{recorded:?}");
    let first = recorded
        .iter()
        .find(|f| {
            f.to_string_lossy().ends_with(".iheaders")
                && fs::read_to_string(f).unwrap().contains("'/first'")
        })
        .unwrap_or_else(|| panic!("{recorded:?}"));
    let count = recorded_before / 7 + 1;
    assert!(
        first
            .to_string_lossy()
            .ends_with(&format!("-{}-{count}.iheaders", server.pid())),
        "{first:?}"
    );
    let key = first
        .to_string_lossy()
        .trim_end_matches(".iheaders")
        .to_string();
    let read = |suffix: &str| fs::read_to_string(format!("{key}{suffix}")).unwrap();
    let environ = read(".iheaders");
    assert!(environ.contains("'REQUEST_METHOD': 'POST'"), "{environ}");
    assert!(environ.contains("'PATH_INFO': '/first'"), "{environ}");
    assert_eq!(read(".icontent"), "hello");
    let headers = read(".oheaders");
    assert!(headers.starts_with("('200 OK',"), "{headers}");
    assert!(headers.contains("'text/plain'"), "{headers}");
    assert_eq!(read(".ocontent"), body);
    for suffix in [".oaexcept", ".orexcept", ".ofexcept"] {
        assert_eq!(read(suffix), "", "{suffix}");
    }

    assert!(server.stop().success());
}

both_modules!(
    debug_mode_profiler_and_recorder_with_mod_wsgi,
    debug_mode_profiler_and_recorder_with_the_wsgirt_module,
    profiler_and_recorder_with
);

const FAILING_APP: &str = "\
def application(environ, start_response):
    secret = 6 * 7
    raise RuntimeError('boom %d' % secret)
";

/// start-server with a pipe for stdin, as a terminal would be: pdb reads
/// its commands there and prints to stdout (a file here).
struct Interactive {
    child: Child,
    stdin: ChildStdin,
    port: u16,
    stdout: PathBuf,
    conf: String,
}

impl Interactive {
    fn start(s: &Scratch, args: &[&str]) -> Interactive {
        let port = free_port();
        let root = s.join("root");
        let stdout = s.join("stdout");
        let mut child = express()
            .arg("start-server")
            .args(args)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("--server-root")
            .arg(&root)
            .current_dir(&s.path)
            .stdin(Stdio::piped())
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(s.join("stderr")).unwrap())
            .process_group(0)
            .spawn()
            .expect("spawn start-server");
        let stdin = child.stdin.take().unwrap();
        Interactive {
            child,
            stdin,
            port,
            stdout,
            conf: root.join("httpd.conf").display().to_string(),
        }
    }

    fn output(&self) -> String {
        fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Waits for the `n`th pdb prompt.
    fn wait_for_prompt(&self, n: usize) {
        assert!(
            wait_until(Duration::from_secs(20), || self
                .output()
                .matches("(Pdb) ")
                .count()
                >= n),
            "no pdb prompt #{n}:\n{}",
            self.output()
        );
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn stop(&mut self) {
        assert!(send_signal(self.child.id(), SIGTERM));
        let child = &mut self.child;
        assert!(
            wait_until(Duration::from_secs(20), || matches!(
                child.try_wait(),
                Ok(Some(_))
            )),
            "Apache ignored SIGTERM"
        );
        assert!(wait_until(Duration::from_secs(10), || pids_with_cmdline(
            &self.conf
        )
        .is_empty()));
    }
}

impl Drop for Interactive {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        send_signal(self.child.id(), SIGKILL);
        let _ = self.child.wait();
        for pid in pids_with_cmdline(&self.conf) {
            send_signal(pid, SIGKILL);
        }
    }
}

fn debugger_with(module: &str) {
    let s = Scratch::new("debugger");
    s.write("boom.wsgi", FAILING_APP);
    let mut server = Interactive::start(
        &s,
        &[
            "boom.wsgi",
            "--enable-debugger",
            "--debugger-startup",
            "--module-path",
            module,
        ],
    );
    // --debugger-startup: pdb once the application is loaded; continue.
    server.wait_for_prompt(1);
    server.send("c");

    // The exception stops in pdb, in the application's frame, until told
    // to continue; then the request fails as usual.
    let port = server.port;
    let request = std::thread::spawn(move || {
        let mut status = 0;
        wait_until(Duration::from_secs(20), || {
            status = http_get(port, "/", &[]).map(|r| r.status).unwrap_or(0);
            status != 0
        });
        status
    });
    server.wait_for_prompt(2);
    assert!(
        server
            .output()
            .contains("-> raise RuntimeError('boom %d' % secret)"),
        "{}",
        server.output()
    );
    server.send("p secret");
    server.wait_for_prompt(3);
    server.send("c");
    assert_eq!(request.join().unwrap(), 500);
    let output = server.output();
    assert!(output.contains("(Pdb) 42\n"), "{output}");
    server.stop();
}

both_modules!(
    debugger_with_mod_wsgi,
    debugger_with_the_wsgirt_module,
    debugger_with
);
