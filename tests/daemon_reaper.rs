//! The shutdown bound of a daemon process (`wsgirt_daemon_reaper_start`,
//! mod_wsgi's reaper thread): after the timeout it logs mod_wsgi's two
//! lines and ends the process with status 255, whatever the process is
//! doing. Tested in a forked child (its own test binary, one test: forking
//! while other test threads run would be unsafe). Also the appended
//! `exit_on_shutdown_timeout` field of `wsgirt_daemon_options`.

use std::io::Read;
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};
use wsgirt::capi::daemon::*;
use wsgirt::capi::request::wsgirt_str;
use wsgirt::capi::status::wsgirt_status::*;

fn name(text: &'static [u8]) -> wsgirt_str {
    wsgirt_str {
        ptr: text.as_ptr().cast(),
        len: text.len(),
    }
}

/// The host's log sink in the child: each line, then a newline, to the
/// descriptor in `userdata`.
unsafe extern "C" fn log_to_fd(
    userdata: *mut std::ffi::c_void,
    _level: u32,
    _request_ctx: *mut std::ffi::c_void,
    message: *const std::ffi::c_char,
    len: usize,
) {
    let fd = userdata as usize as i32;
    // SAFETY: the library passes `len` readable bytes; plain writes.
    unsafe {
        libc::write(fd, message.cast(), len);
        libc::write(fd, b"\n".as_ptr().cast(), 1);
    }
}

#[test]
fn reaper_ends_the_process_after_the_timeout() {
    // Arguments, in this process: nothing may start here.
    // SAFETY: (ptr, len) pairs of live statics, or NULL with a length.
    unsafe {
        assert_eq!(wsgirt_daemon_reaper_start(name(b"g"), 0), WSGIRT_STATUS_OK);
        let null = wsgirt_str {
            ptr: std::ptr::null(),
            len: 1,
        };
        assert_eq!(wsgirt_daemon_reaper_start(null, 1), WSGIRT_STATUS_NULL_ARG);
        assert_eq!(
            wsgirt_daemon_reaper_start(name(b"\xff"), 1),
            WSGIRT_STATUS_INVALID_ARG
        );
    }

    // The options: default off, and a first-version struct is still
    // accepted and only its own bytes are written.
    let mut options: wsgirt_daemon_options =
        // SAFETY: all-zero is a valid value of this C struct.
        unsafe { std::mem::zeroed() };
    options.struct_size = std::mem::size_of::<wsgirt_daemon_options>();
    options.exit_on_shutdown_timeout = true;
    // SAFETY: a live, writable struct of the size given.
    let status = unsafe { wsgirt_daemon_options_init(&mut options) };
    assert_eq!(status, WSGIRT_STATUS_OK);
    assert!(!options.exit_on_shutdown_timeout);
    let v1 = std::mem::offset_of!(wsgirt_daemon_options, exit_on_shutdown_timeout);
    let mut bytes = vec![0xa5u8; std::mem::size_of::<wsgirt_daemon_options>()];
    bytes[..std::mem::size_of::<usize>()].copy_from_slice(&v1.to_ne_bytes());
    // SAFETY: the buffer has `v1` (its struct_size) writable bytes and
    // more; the library must write no byte past `v1`.
    let status = unsafe { wsgirt_daemon_options_init(bytes.as_mut_ptr().cast()) };
    assert_eq!(status, WSGIRT_STATUS_OK);
    assert!(bytes[v1..].iter().all(|b| *b == 0xa5));
    let shorter = (v1 - 1).to_ne_bytes();
    bytes[..std::mem::size_of::<usize>()].copy_from_slice(&shorter);
    // SAFETY: as above.
    let status = unsafe { wsgirt_daemon_options_init(bytes.as_mut_ptr().cast()) };
    assert_eq!(status, WSGIRT_STATUS_INVALID_ARG);

    // The reaper, in a forked child that logs to a pipe.
    let mut fds = [0; 2];
    // SAFETY: a two-element array for pipe(2).
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let started = Instant::now();
    // SAFETY: only this test's thread runs here; the child only starts the
    // reaper (a thread), sleeps and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: descriptors of this process; then the library call with a
        // live name; then _exit without destructors.
        unsafe {
            libc::close(fds[0]);
            let sink = fds[1] as usize as *mut std::ffi::c_void;
            if wsgirt_daemon_set_log_callback(Some(log_to_fd), sink) != WSGIRT_STATUS_OK {
                libc::_exit(4);
            }
            let first = wsgirt_daemon_reaper_start(name(b"g"), 200_000);
            // A second call changes nothing (the first deadline stands).
            let second = wsgirt_daemon_reaper_start(name(b"other"), 60_000_000);
            if first != WSGIRT_STATUS_OK || second != WSGIRT_STATUS_OK {
                libc::_exit(3);
            }
            // Stands for a teardown that never ends.
            libc::sleep(30);
            libc::_exit(0);
        }
    }
    // SAFETY: the write end is the child's now; the read end is ours.
    unsafe { libc::close(fds[1]) };
    // SAFETY: an open descriptor owned from here on.
    let mut reader = unsafe { std::fs::File::from_raw_fd(fds[0]) };
    let mut output = String::new();
    reader.read_to_string(&mut output).unwrap();
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    let took = started.elapsed();
    assert!(libc::WIFEXITED(status), "status {status:#x}: {output}");
    assert_eq!(libc::WEXITSTATUS(status), 255, "{output}");
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), 2, "{output}");
    assert!(
        lines[0].ends_with(&format!("mod_wsgi (pid={pid}): Aborting process 'g'.")),
        "{output}"
    );
    assert!(
        lines[1].ends_with(&format!("mod_wsgi (pid={pid}): Exiting process 'g'.")),
        "{output}"
    );
}
