//! Hello-world round trips through the daemon proxy client and server in
//! one process (no Apache): the cost of daemon mode's own path. Prints µs
//! per request, best and median of 5 rounds of 2,000.
//!
//! Run: `cargo bench --bench daemon_round_trip`. Results: docs/daemon.md.

#[path = "../tests/daemon_support/mod.rs"]
mod daemon_support;

use daemon_support::*;
use std::time::Instant;

fn bench(target: &Tgt, label: &str) {
    let req = Req::app("hello");
    for _ in 0..200 {
        get(target, &req);
    }
    let mut rounds = Vec::new();
    for _ in 0..5 {
        let n = 2000;
        let started = Instant::now();
        for _ in 0..n {
            let mut host = Host::new(Vec::new());
            let (status, _) = proxy(target, &req, &mut host);
            assert_eq!(status, WSGIRT_STATUS_OK);
        }
        rounds.push(started.elapsed().as_nanos() as f64 / n as f64 / 1000.0);
    }
    rounds.sort_by(f64::total_cmp);
    println!(
        "daemon hello round trip ({label}): best {:.1} µs, median {:.1} µs",
        rounds[0], rounds[2]
    );
}

fn main() {
    let four = Daemon::start("bench4", |o| o.threads = 4);
    bench(&four.target(), "4 threads");
    let one = Daemon::start("bench1", |o| o.threads = 1);
    bench(&one.target(), "1 thread");
}
