//! `wsgirt_runtime_free`: sub-interpreters wait for their non-daemon
//! threads and run their `atexit` callbacks, the main interpreter too, and
//! the whole shutdown finishes within a bound. (Its own test binary: the
//! runtime cannot be used after this.)

mod common;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};
use wsgirt::capi::runtime::wsgirt_runtime_free;

const BOUND: Duration = Duration::from_secs(10);

#[test]
fn shutdown_joins_threads_and_runs_atexit() {
    let rt = runtime();
    let dir = temp_dir("shutdown");
    let file = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let (thread_file, sub_atexit, main_atexit, other_atexit) = (
        file("thread-done"),
        file("sub-atexit"),
        file("main-atexit"),
        file("other-atexit"),
    );

    // A sub-interpreter running a non-daemon thread that ends shortly.
    exec_in(
        "shutdown-threads",
        &format!(
            "import threading, time\n\
             def work():\n    time.sleep(0.5)\n    open({thread_file:?}, 'w').write('done')\n\
             t = threading.Thread(target=work)\n\
             t.start()\n\
             result = t.daemon"
        ),
    );
    // A sub-interpreter registering an atexit callback.
    exec_in(
        "shutdown-atexit",
        &format!(
            "import atexit\n\
             atexit.register(lambda: open({sub_atexit:?}, 'w').write('sub'))\n\
             result = 'registered'"
        ),
    );
    // Another one with both, and the main interpreter with atexit.
    exec_in(
        "shutdown-both",
        &format!(
            "import atexit, threading, time\n\
             atexit.register(lambda: open({other_atexit:?}, 'w').write('other'))\n\
             threading.Thread(target=time.sleep, args=(0.2,)).start()"
        ),
    );
    exec_in(
        "",
        &format!(
            "import atexit\n\
             atexit.register(lambda: open({main_atexit:?}, 'w').write('main'))"
        ),
    );
    // Host threads that used the interpreters: one has exited, one is
    // still alive (idle) when the runtime is freed; their thread states
    // are cleaned up with the interpreters. The exited one is the first to
    // import `threading` in "shutdown-foreign" (and in the main
    // interpreter), which makes it that module's main thread there.
    let used = |tag: &'static str| {
        move || {
            for group in [
                "",
                "shutdown-foreign",
                "shutdown-threads",
                "shutdown-atexit",
                "shutdown-idle",
            ] {
                let code =
                    format!("import threading; threading.current_thread(); result = '{tag}'");
                assert_eq!(exec_in(group, &code), tag);
            }
        }
    };
    std::thread::spawn(used("exited")).join().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready) = std::sync::mpsc::channel::<()>();
    let idle = std::thread::spawn(move || {
        used("idle")();
        ready_tx.send(()).unwrap();
        let _ = rx.recv();
    });
    ready.recv().unwrap();
    assert!(
        !Path::new(&thread_file).exists(),
        "the thread is still sleeping"
    );

    // Abort the whole process if shutdown hangs.
    std::thread::spawn(|| {
        std::thread::sleep(BOUND + Duration::from_secs(5));
        eprintln!("wsgirt_runtime_free did not return within {BOUND:?}");
        std::process::exit(101);
    });
    let started = Instant::now();
    // SAFETY: the handle came from wsgirt_runtime_new and is freed once; no
    // other thread calls in any more (the idle thread is parked).
    unsafe { wsgirt_runtime_free(rt.0) };
    let took = started.elapsed();
    eprintln!("wsgirt_runtime_free took {took:?}");
    assert!(took < BOUND, "shutdown took {took:?}");
    drop(tx);
    idle.join().unwrap();

    assert_eq!(
        std::fs::read_to_string(&thread_file).ok().as_deref(),
        Some("done"),
        "the non-daemon thread was not waited for"
    );
    for (path, text) in [
        (&sub_atexit, "sub"),
        (&other_atexit, "other"),
        (&main_atexit, "main"),
    ] {
        assert_eq!(
            std::fs::read_to_string(path).ok().as_deref(),
            Some(text),
            "atexit callback did not run: {path}"
        );
    }
    for line in [
        "Destroying interpreters.",
        "End interpreter 'shutdown-threads'.",
        "End interpreter 'shutdown-atexit'.",
        "End interpreter 'shutdown-both'.",
        "End interpreter 'shutdown-idle'.",
        "End interpreter 'shutdown-foreign'.",
        "Terminating Python.",
        "Python has shutdown.",
    ] {
        assert_eq!(log_lines_with(line).len(), 1, "{line}");
    }
    assert!(log_lines_with("Traceback").is_empty());
}
