//! A forked child must not use the parent's runtime: every call that
//! would touch Python returns WRONG_PROCESS. (Its own test binary: forking
//! a process with several test threads running would be unsafe.)

mod common;
use common::*;
use wsgirt::capi::runtime::*;

#[test]
fn forked_child_gets_wrong_process() {
    // The parent uses the runtime first, so Python is fully up.
    let rt = runtime();
    assert_eq!(get(&Req::new("hello.wsgi")).status, 200);
    assert_eq!(get(&Req::new("hello.wsgi").group("forked")).status, 200);

    // SAFETY: only this test's thread runs here; the child only calls the
    // runtime (which refuses) and _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // Child: report the statuses through the exit code, then _exit
        // without running any destructor or atexit handler.
        let mut host = Host::new(Vec::new());
        let (run_main, _) = run(&Req::new("hello.wsgi"), &mut host);
        let (run_sub, _) = run(&Req::new("hello.wsgi").group("forked"), &mut host);
        let group = "other";
        let prepare =
            // SAFETY: live runtime handle and a (ptr, len) pair of a live str.
            unsafe { wsgirt_runtime_prepare_group(rt.0, group.as_ptr().cast(), group.len()) };
        let path = app("hello.wsgi");
        // SAFETY: as above; NULL with length 0 is the empty group.
        let import = unsafe {
            wsgirt_runtime_import_script(
                rt.0,
                std::ptr::null(),
                0,
                path.as_ptr().cast(),
                path.len(),
            )
        };
        let all_wrong = [run_main, run_sub, prepare, import]
            .iter()
            .all(|s| *s == WSGIRT_STATUS_WRONG_PROCESS);
        let code = if all_wrong {
            WSGIRT_STATUS_WRONG_PROCESS as i32
        } else {
            // 50 + the first request's status (mod 50), to tell them apart.
            run_main as i32 % 50 + 50
        };
        let no_callbacks = host.response.start_calls == 0 && host.read_calls == 0;
        // SAFETY: ends the forked child without running the parent's destructors.
        unsafe { libc::_exit(if no_callbacks { code } else { 99 }) };
    }
    let mut status = 0;
    // SAFETY: `status` is a valid out pointer.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(
        libc::WIFEXITED(status),
        "child did not exit normally: {status:#x}"
    );
    assert_eq!(
        libc::WEXITSTATUS(status),
        WSGIRT_STATUS_WRONG_PROCESS as i32,
        "child's calls did not all return WRONG_PROCESS"
    );
    // The parent is unaffected.
    assert_eq!(get(&Req::new("hello.wsgi")).status, 200);
    assert_eq!(get(&Req::new("hello.wsgi").group("forked")).status, 200);
}
