//! Many host threads running requests concurrently in several application
//! groups: correct bodies, persistent per-thread thread states
//! (`threading.local` survives between requests) and stable thread idents.
//!
//! `WSGIRT_THREAD_REQUESTS` sets the requests per thread and group
//! (default 10,000: 8 threads × 3 groups × 10,000 = 240,000 requests).

mod common;
use common::*;
use std::collections::HashMap;

const THREADS: usize = 8;
const GROUPS: [&str; 3] = ["", "a", "b"];

fn requests_per_thread() -> usize {
    std::env::var("WSGIRT_THREAD_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

#[test]
fn threads_times_groups() {
    runtime();
    let n = requests_per_thread();
    let started = std::time::Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                // ident per group, as seen by Python in that group.
                let mut idents: HashMap<&str, String> = HashMap::new();
                let mut host = Host::new(Vec::new());
                for i in 0..n {
                    for group in GROUPS {
                        let query = format!("t{t}-i{i}");
                        let req = Req::new("threads.wsgi").group(group).query(&query);
                        host.response = Response::default();
                        let (status, result) = run(&req, &mut host);
                        assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(req.ctx));
                        let result = result.unwrap();
                        assert_eq!(result.http_status, 200);
                        assert!(!result.incomplete && !result.client_gone);
                        let body = host.response.text();
                        let parts: Vec<&str> = body.split('|').collect();
                        assert_eq!(parts.len(), 4, "body {body:?}");
                        assert_eq!(parts[0], group, "body {body:?}");
                        assert_eq!(parts[1], query, "body {body:?}");
                        let ident = idents.entry(group).or_insert_with(|| parts[2].to_owned());
                        assert_eq!(parts[2], ident, "thread ident changed: {body:?}");
                        assert_eq!(
                            parts[3],
                            (i + 1).to_string(),
                            "threading.local lost between requests: {body:?}"
                        );
                        assert_eq!(result.bytes_written, body.len() as u64);
                    }
                }
                idents
            })
        })
        .collect();
    let all: Vec<HashMap<&str, String>> = handles
        .into_iter()
        .map(|h| h.join().expect("worker thread"))
        .collect();
    // One host thread has one OS thread ident, whatever the interpreter;
    // different host threads have different idents.
    let mut seen = std::collections::HashSet::new();
    for idents in &all {
        let first = &idents[""];
        assert!(idents.values().all(|i| i == first), "{idents:?}");
        assert!(
            seen.insert(first.clone()),
            "two threads share ident {first}"
        );
    }
    let total = THREADS * GROUPS.len() * n;
    let elapsed = started.elapsed();
    eprintln!(
        "{total} requests in {:.2?} ({:.1} µs/request)",
        elapsed,
        elapsed.as_secs_f64() * 1e6 / total as f64
    );
    // Each sub-interpreter was created exactly once despite the race to create it.
    for group in ["a", "b"] {
        assert_eq!(
            log_lines_with(&format!("Create interpreter '{group}'")).len(),
            1
        );
    }
    assert!(log_lines_with("Traceback").is_empty());
}

/// Threads keep serving while the script is rewritten (and so reloaded)
/// under them: every response comes from some version, none fails, and
/// the last version wins.
#[test]
fn reload_under_load() {
    runtime();
    let dir = temp_dir("reload-load");
    let source = |v: usize| {
        format!(
            "import time\nVERSION = {v}\n\
             def application(environ, start_response):\n    \
             start_response('200 OK', [])\n    \
             return [b'v%d' % VERSION]\n"
        )
    };
    let path = write_script(&dir, "app.wsgi", &source(0));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let (path, stop) = (path.clone(), stop.clone());
            std::thread::spawn(move || {
                let group = if t % 2 == 0 { "" } else { "reload-load" };
                let mut seen = 0usize;
                let mut host = Host::new(Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || seen < 100 {
                    let req = Req::new(&path).group(group);
                    host.response = Response::default();
                    let (status, _) = run(&req, &mut host);
                    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(req.ctx));
                    let body = host.response.text();
                    assert!(body.starts_with('v'), "{body:?}");
                    seen += 1;
                }
                seen
            })
        })
        .collect();
    let file = || std::fs::File::options().write(true).open(&path).unwrap();
    let start = std::fs::metadata(&path).unwrap().modified().unwrap();
    for v in 1..=20 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        // Write to a temp file and rename, as deployment tools do, so no
        // request ever reads a half-written script.
        let tmp = dir.join("app.wsgi.tmp");
        std::fs::write(&tmp, source(v)).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        file()
            .set_modified(start + std::time::Duration::from_secs(v as u64))
            .unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let total: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(total >= 400);
    for group in ["", "reload-load"] {
        assert_eq!(get(&Req::new(&path).group(group)).text(), "v20");
    }
    assert!(log_lines_with("Traceback").is_empty());
}
