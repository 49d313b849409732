//! The command line: help, usage errors, module-location, module-config.

mod common;

use std::path::Path;
use std::process::Command;

use common::{express, run, text, DEBIAN_MOD_WSGI};

#[test]
fn main_help_lists_commands() {
    for args in [&["--help"][..], &["help"], &["-h"]] {
        let out = run(express().args(args));
        assert!(out.status.success());
        let stdout = text(&out.stdout);
        for cmd in [
            "start-server",
            "setup-server",
            "module-config",
            "module-location",
        ] {
            assert!(stdout.contains(cmd), "{stdout}");
        }
    }
}

#[test]
fn every_command_has_help() {
    for cmd in [
        "start-server",
        "setup-server",
        "module-config",
        "module-location",
    ] {
        let out = run(express().args([cmd, "--help"]));
        assert!(out.status.success(), "{cmd} --help failed");
        let stdout = text(&out.stdout);
        assert!(
            stdout.starts_with(&format!("Usage: wsgirt-express {cmd}")),
            "{stdout}"
        );
        assert!(stdout.contains("--module-path"));
    }
    let start = text(&run(express().args(["start-server", "--help"])).stdout);
    for opt in [
        "--host",
        "--port",
        "--processes",
        "--threads",
        "--server-root",
        "--user",
        "--group",
        "--url-alias",
        "--working-directory",
        "--python-path",
        "--callable-object",
        "--application-type",
        "--reload-on-changes",
        "--setup-only",
        "--httpd-executable",
        "--modules-directory",
        "--log-level",
        "--log-to-terminal",
        "--access-log",
        "--daemon-mode",
        "--embedded-mode",
        "--entry-point",
        "--mount-point",
        "--document-root",
        "--setenv",
        "--include-file",
        "--envvars-script",
        "--log-directory",
        "--startup-log",
    ] {
        assert!(
            start.contains(opt),
            "{opt} missing from start-server --help"
        );
    }
    assert!(
        !start.contains("EXPERIMENTAL"),
        "daemon mode is no longer experimental"
    );
}

#[test]
fn version() {
    let out = run(express().arg("--version"));
    assert!(out.status.success());
    assert!(text(&out.stdout).starts_with("wsgirt-express "));
}

fn assert_usage_error(args: &[&str], needle: &str) {
    let out = run(express().args(args));
    assert_eq!(out.status.code(), Some(2), "{args:?} should exit 2");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(needle),
        "{args:?}: {stderr:?} lacks {needle:?}"
    );
    assert!(
        out.stdout.is_empty(),
        "usage errors print nothing on stdout"
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_usage_error(&[], "no command given");
    assert_usage_error(&["serve"], "unknown command 'serve'");
    assert_usage_error(&["start-server", "--bogus"], "unknown option '--bogus'");
    assert_usage_error(
        &["start-server", "--bogus"],
        "wsgirt-express start-server --help",
    );
    assert_usage_error(&["setup-server", "--port", "x"], "whole number");
    // Debug-mode tools not implemented stay unknown options.
    for option in [
        "--enable-coverage",
        "--coverage-directory",
        "--enable-gdb",
        "--gdb-executable",
    ] {
        assert_usage_error(
            &["setup-server", option],
            &format!("unknown option '{option}'"),
        );
    }
    assert_usage_error(
        &["setup-server", "--proxy-mount-point", "/a", "ftp://h/"],
        "an http:// URL",
    );
    assert_usage_error(
        &["module-config", "--threads", "2"],
        "unknown option '--threads'",
    );
    assert_usage_error(
        &["start-server", "app.ini", "--application-type", "paste"],
        "not supported yet",
    );
    assert_usage_error(
        &[
            "setup-server",
            "app/wsgi.py",
            "--application-type",
            "module",
        ],
        "needs a Python module name",
    );
    assert_usage_error(&["setup-server", "/nonexistent/app.wsgi"], "does not exist");
    assert_usage_error(
        &[
            "setup-server",
            "--service-script",
            "tick",
            "/nonexistent/tick.py",
        ],
        "does not exist",
    );
    assert_usage_error(
        &["setup-server", "--service-script", "two words", "/dev/null"],
        "SERVICE must be a name",
    );
}

#[test]
fn module_location_from_env_and_option() {
    let out = run(express()
        .arg("module-location")
        .env("WSGIRT_MODULE", DEBIAN_MOD_WSGI));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{DEBIAN_MOD_WSGI}\n"));

    // --module-path wins over the environment.
    let out = run(express()
        .args(["module-location", "--module-path", DEBIAN_MOD_WSGI])
        .env("WSGIRT_MODULE", "/nonexistent/mod_wsgirt.so"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{DEBIAN_MOD_WSGI}\n"));

    // Relative paths are printed absolute.
    let out = run(express()
        .args(["module-location", "--module-path", "mod_wsgi.so"])
        .current_dir("/usr/lib/apache2/modules"));
    assert_eq!(text(&out.stdout), format!("{DEBIAN_MOD_WSGI}\n"));

    let out = run(express()
        .arg("module-location")
        .env("WSGIRT_MODULE", "/nonexistent/mod_wsgirt.so"));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/mod_wsgirt.so"));
}

#[test]
fn module_location_search_next_to_the_executable() {
    let exe = Path::new(common::exe());
    let dir = exe.parent().unwrap();
    let candidates = [
        dir.join("mod_wsgirt.so"),
        dir.parent()
            .unwrap()
            .join("lib/apache2/modules/mod_wsgirt.so"),
    ];
    let out = run(express().arg("module-location"));
    match candidates.iter().find(|c| c.is_file()) {
        Some(found) => {
            assert!(out.status.success());
            let printed = text(&out.stdout);
            assert_eq!(
                Path::new(printed.trim()),
                std::fs::canonicalize(found).unwrap()
            );
        }
        None => {
            assert_eq!(out.status.code(), Some(1));
            let stderr = text(&out.stderr);
            for c in &candidates {
                assert!(stderr.contains(&c.display().to_string()), "{stderr}");
            }
            assert!(stderr.contains("WSGIRT_MODULE"));
        }
    }
}

fn python_prefix(python: &str) -> String {
    let out = Command::new(python)
        .args(["-c", "import os, sys; print(os.path.normpath(sys.prefix))"])
        .output()
        .expect("run python");
    text(&out.stdout).trim().to_string()
}

#[test]
fn module_config_prints_load_module_and_python_home() {
    let out = run(express()
        .arg("module-config")
        .env("WSGIRT_MODULE", DEBIAN_MOD_WSGI));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let expected = format!(
        "LoadModule wsgi_module \"{DEBIAN_MOD_WSGI}\"\nWSGIPythonHome \"{}\"\n",
        python_prefix("/usr/bin/python3")
    );
    assert_eq!(text(&out.stdout), expected);
    assert!(!text(&out.stdout).contains("LoadFile"));
}

#[test]
fn module_config_honours_wsgirt_python() {
    let out = run(express()
        .args(["module-config", "--module-path", DEBIAN_MOD_WSGI])
        .env("WSGIRT_PYTHON", "/nonexistent/python3"));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/python3"));
}
