//! Hello-world round trips through the daemon proxy client and server in
//! one process (no Apache): the cost of daemon mode's own path. Prints µs
//! per request, best and median of 5 rounds of 2,000, wall clock and CPU
//! time of the process (user + system, both sides). Wall clock swings with
//! other load on the machine; CPU time per request much less.
//!
//! Run: `cargo bench --bench daemon_round_trip`. Results: docs/daemon.md.

#[path = "../tests/daemon_support/mod.rs"]
mod daemon_support;

use daemon_support::*;
use std::time::Instant;

/// User + system CPU time of this process so far, in µs.
fn cpu_us() -> f64 {
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a live rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    us(usage.ru_utime) + us(usage.ru_stime)
}

fn bench(target: &Tgt, label: &str) {
    let req = Req::app("hello");
    for _ in 0..200 {
        get(target, &req);
    }
    let mut rounds = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..5 {
        let n = 2000;
        let cpu_start = cpu_us();
        let started = Instant::now();
        for _ in 0..n {
            let mut host = Host::new(Vec::new());
            let (status, _) = proxy(target, &req, &mut host);
            assert_eq!(status, WSGIRT_STATUS_OK);
        }
        rounds.push(started.elapsed().as_nanos() as f64 / n as f64 / 1000.0);
        cpu.push((cpu_us() - cpu_start) / n as f64);
    }
    rounds.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    println!(
        "daemon hello round trip ({label}): best {:.1} µs, median {:.1} µs; CPU best {:.1} µs, median {:.1} µs",
        rounds[0], rounds[2], cpu[0], cpu[2]
    );
}

fn main() {
    let four = Daemon::start("bench4", |o| o.threads = 4);
    bench(&four.target(), "4 threads");
    let one = Daemon::start("bench1", |o| o.threads = 1);
    bench(&one.target(), "1 thread");
}
