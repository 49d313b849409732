//! Where Python output goes: `sys.stdout` and `sys.stderr` reach the host
//! log line by line at level 3 (err) — with the request running on the
//! writing thread, as mod_wsgi's proxying log objects do, and without a
//! request context when none is running (a background Python thread,
//! `WSGIImportScript`); `wsgi.errors` lines carry the request's context.

mod common;
use common::*;
use wsgirt::capi::runtime::wsgirt_runtime_import_script;

/// Runs `code` in exec.wsgi in `group`; returns the request's ctx.
fn exec_ctx(group: &str, code: &str) -> usize {
    let req = Req::new("exec.wsgi")
        .group(group)
        .env("REQUEST_METHOD", "POST");
    let (status, _, _) = run_body(&req, code.as_bytes());
    assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(req.ctx));
    req.ctx
}

#[test]
fn stdout_and_stderr_are_line_buffered_at_err_level() {
    for (group, stream) in [
        ("", "stdout"),
        ("", "stderr"),
        ("log-sub", "stderr"),
        ("log-sub2", "stdout"),
    ] {
        let tag = format!(
            "wsgirt-{stream}-{}",
            if group.is_empty() { "main" } else { group }
        );
        let ctx = exec_ctx(
            group,
            &format!(
                "s = sys.{stream}\n\
                 s.write('{tag}-first'); s.write(' half\\n')\n\
                 print('{tag}-print', 42, file=s)\n\
                 s.write('{tag}-a\\n{tag}-b\\n{tag}-pending')\n\
                 s.write('-done\\n'); s.write('{tag}-flushed'); s.flush()\n\
                 s.writelines(['{tag}-x', 'y\\n'])"
            ),
        );
        let got: Vec<String> = log_lines_with(&tag).into_iter().map(|l| l.text).collect();
        assert_eq!(
            got,
            [
                format!("{tag}-first half"),
                format!("{tag}-print 42"),
                format!("{tag}-a"),
                format!("{tag}-b"),
                format!("{tag}-pending-done"),
                format!("{tag}-flushed"),
                format!("{tag}-xy"),
            ],
            "{group:?}"
        );
        for line in log_lines_with(&tag) {
            assert_eq!(line.level, 3, "{line:?}");
            assert_eq!(line.ctx, ctx, "the request writing the line: {line:?}");
        }
    }
}

#[test]
fn print_goes_to_the_log() {
    let ctx = exec_ctx("log-print", "print('wsgirt-print-check', 'x', sep='-')");
    let lines = log_lines_with("wsgirt-print-check");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].text, "wsgirt-print-check-x");
    assert_eq!((lines[0].level, lines[0].ctx), (3, ctx));
}

#[test]
fn output_outside_requests_has_no_request_context() {
    // A Python thread started by the application runs no request.
    for group in ["", "log-thread"] {
        let tag = format!("wsgirt-bg-{}", group.len());
        exec_ctx(
            group,
            &format!(
                "import threading\n\
                 t = threading.Thread(target=lambda: print('{tag}', file=sys.stderr))\n\
                 t.start(); t.join()"
            ),
        );
        let lines = log_lines_with(&tag);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!((lines[0].level, lines[0].ctx), (3, 0), "{lines:?}");
    }
    // WSGIImportScript runs outside any request.
    let dir = temp_dir("log-import");
    let path = write_script(
        &dir,
        "prints.wsgi",
        "import sys\nprint('wsgirt-import-print')\nsys.stderr.write('wsgirt-import-err\\n')\n\
         def application(e, s):\n    s('200 OK', [])\n    return []\n",
    );
    let rt = runtime();
    let group = "log-import";
    // SAFETY: live runtime handle and (ptr, len) pairs of live strings.
    let status = unsafe {
        wsgirt_runtime_import_script(
            rt.0,
            group.as_ptr().cast(),
            group.len(),
            path.as_ptr().cast(),
            path.len(),
        )
    };
    assert_eq!(status, WSGIRT_STATUS_OK);
    for tag in ["wsgirt-import-print", "wsgirt-import-err"] {
        let lines = log_lines_with(tag);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!((lines[0].level, lines[0].ctx), (3, 0), "{lines:?}");
    }
}

#[test]
fn wsgi_errors_lines_carry_the_request() {
    for group in ["", "errors-ctx"] {
        let req = Req::new("exec.wsgi")
            .group(group)
            .env("REQUEST_METHOD", "POST");
        let code = "e = environ['wsgi.errors']; e.write('werr-one\\nwerr-'); e.write('two\\n'); \
                    print('werr-three', file=e); e.writelines(['werr-four\\n', 'werr-tail']); \
                    G['kept'] = e; result = (e.encoding, e.closed)";
        let (status, _, host) = run_body(&req, code.as_bytes());
        assert_eq!(status, WSGIRT_STATUS_OK, "{}", log_text(req.ctx));
        assert_eq!(host.response.text(), "('utf-8', False)");
        let mine: Vec<(u32, String)> = log_for(req.ctx)
            .into_iter()
            .filter(|l| l.text.starts_with("werr-"))
            .map(|l| (l.level, l.text))
            .collect();
        // The unterminated last line is flushed when the request ends.
        assert_eq!(
            mine,
            [
                (3, "werr-one".to_owned()),
                (3, "werr-two".to_owned()),
                (3, "werr-three".to_owned()),
                (3, "werr-four".to_owned()),
                (3, "werr-tail".to_owned()),
            ],
            "{group:?}"
        );
        assert!(log_lines_with("werr-").iter().all(|l| l.ctx != 0));
        // A wsgi.errors kept past its request is closed.
        let later = exec_in(
            group,
            "try:\n    G['kept'].write('late\\n')\n    result = 'written'\n\
             except ValueError as e:\n    result = str(e)",
        );
        assert_eq!(later, "I/O operation on closed file");
    }
}
