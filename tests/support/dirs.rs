//! Paths of test apps, and per-process scratch directories.

use std::path::{Path, PathBuf};

/// Path of a test app in tests/apps.
pub fn app(name: &str) -> String {
    let mut p = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    p.push("tests/apps");
    p.push(name);
    p.to_string_lossy().into_owned()
}

/// A fresh, empty directory `<base>/<prefix><pid>-<name>` for this test
/// process (removed first if left over). Directories of the same `prefix`
/// left by earlier test processes that have exited are removed on the
/// first call: whatever a process shares across its tests (scripts, a
/// daemon) must outlive them, so each process leaves its own behind.
pub fn fresh_dir(base: &Path, prefix: &str, name: &str) -> PathBuf {
    remove_stale_dirs(base, prefix);
    let dir = base.join(format!("{prefix}{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Removes `<base>/<prefix><pid>-*` of processes that have exited (once
/// per process and prefix).
fn remove_stale_dirs(base: &Path, prefix: &str) {
    static DONE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    {
        let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
        if done.iter().any(|p| p == prefix) {
            return;
        }
        done.push(prefix.to_owned());
    }
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Writes a script file and returns its path as a string.
pub fn write_script(dir: &Path, name: &str, source: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, source).expect("write script");
    path.to_string_lossy().into_owned()
}
