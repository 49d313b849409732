//! Finding Apache (the binary and its modules directory) and running it.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Binary names tried, in order, when `--httpd-executable` and `$HTTPD` are
/// unset: Debian's name, then upstream's.
const HTTPD_NAMES: &[&str] = &["apache2", "httpd"];

/// Directories searched after `$PATH` (sbin is often not on a user's PATH).
const HTTPD_DIRS: &[&str] = &["/usr/sbin", "/usr/local/sbin", "/usr/local/apache2/bin"];

/// Debian's modules directory, used when `apxs` is not installed.
pub const DEFAULT_MODULES_DIRECTORY: &str = "/usr/lib/apache2/modules";

fn search(names: &[&str], path_var: Option<OsString>) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = path_var
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(HTTPD_DIRS.iter().map(PathBuf::from));
    for name in names {
        for dir in &dirs {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Finds Apache's `rotatelogs` for `--rotate-logs`: `--rotatelogs-executable`
/// (a path, or a name searched for), else `rotatelogs` on `$PATH` or in the
/// directories searched for httpd (Debian keeps it in /usr/bin).
pub fn find_rotatelogs(explicit: Option<&Path>) -> Result<PathBuf, String> {
    let path_var = std::env::var_os("PATH");
    match explicit {
        Some(p) if p.components().count() > 1 => {
            let p = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
            if p.is_file() {
                Ok(p)
            } else {
                Err(format!(
                    "the rotatelogs executable {} does not exist",
                    p.display()
                ))
            }
        }
        other => {
            let name = other.map_or("rotatelogs".into(), |n| n.to_string_lossy().into_owned());
            search(&[&name], path_var).ok_or_else(|| {
                format!(
                    "cannot find '{name}' for --rotate-logs on PATH or in /usr/sbin; pass \
                     --rotatelogs-executable"
                )
            })
        }
    }
}

/// Finds the Apache binary: `--httpd-executable`, else `$HTTPD`, else
/// `apache2`/`httpd` on `$PATH` or in the usual sbin directories. A bare
/// name is searched for the same way.
pub fn find_httpd(explicit: Option<&Path>) -> Result<PathBuf, String> {
    let wanted = explicit.map(Path::to_path_buf).or_else(|| {
        std::env::var_os("HTTPD")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let path_var = std::env::var_os("PATH");
    match wanted {
        Some(p) if p.components().count() > 1 => {
            let p = std::path::absolute(&p).unwrap_or(p);
            if p.is_file() {
                Ok(p)
            } else {
                Err(format!(
                    "the Apache executable {} does not exist",
                    p.display()
                ))
            }
        }
        Some(name) => {
            let name = name.to_string_lossy().into_owned();
            search(&[&name], path_var)
                .ok_or_else(|| format!("cannot find the Apache executable '{name}' on PATH"))
        }
        None => search(HTTPD_NAMES, path_var).ok_or_else(|| {
            "cannot find Apache httpd ('apache2' or 'httpd' on PATH or in /usr/sbin); install \
             it (Debian: apt-get install apache2) or pass --httpd-executable"
                .to_string()
        }),
    }
}

/// Apache's modules directory: `--modules-directory`, else
/// `apxs -q LIBEXECDIR` (apxs or apxs2), else Debian's default.
pub fn modules_directory(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    }
    for apxs in ["apxs", "apxs2"] {
        if let Ok(out) = Command::new(apxs).args(["-q", "LIBEXECDIR"]).output() {
            let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && dir.starts_with('/') {
                return PathBuf::from(dir);
            }
        }
    }
    PathBuf::from(DEFAULT_MODULES_DIRECTORY)
}

/// The command that runs Apache in the foreground on a generated config.
pub fn foreground_command(httpd: &Path, conf: &Path, extra: &[String]) -> Command {
    let mut cmd = Command::new(httpd);
    cmd.args(extra).arg("-f").arg(conf).arg("-DFOREGROUND");
    cmd
}

/// The environment after `/bin/sh` sources `envvars` on top of ours plus
/// `preset` (what apachectl does before it runs Apache). Only exported
/// variables come back; anything else the script does (ulimit, umask, cd)
/// stays in that shell. What the script prints goes to our stderr.
pub fn environment_after(
    envvars: &Path,
    cwd: &Path,
    preset: &[(&'static str, String)],
) -> Result<Vec<(OsString, OsString)>, String> {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(r#". "$1" >&2 && exec env -0"#)
        .arg("sh")
        .arg(envvars)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit());
    for (k, v) in preset {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run /bin/sh to read {}: {e}", envvars.display()))?;
    if !out.status.success() {
        return Err(format!(
            "sourcing {} failed ({})",
            envvars.display(),
            out.status
        ));
    }
    Ok(parse_env0(&out.stdout))
}

/// Parses `env -0` output: NAME=VALUE entries, each ended by a NUL.
fn parse_env0(bytes: &[u8]) -> Vec<(OsString, OsString)> {
    use std::os::unix::ffi::OsStrExt;
    bytes
        .split(|b| *b == 0)
        .filter_map(|entry| {
            let eq = entry.iter().position(|b| *b == b'=')?;
            if eq == 0 {
                return None;
            }
            Some((
                std::ffi::OsStr::from_bytes(&entry[..eq]).to_owned(),
                std::ffi::OsStr::from_bytes(&entry[eq + 1..]).to_owned(),
            ))
        })
        .collect()
}

/// Whether this process has a controlling terminal (then a window resize
/// sends SIGWINCH to the foreground process group, Apache included).
pub fn has_controlling_terminal() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .open("/dev/tty")
        .is_ok()
}

/// Apache handles SIGWINCH as *graceful-stop*, so resizing the terminal that
/// runs `start-server` would stop the server (mod_wsgi-express 4.6 added
/// `--isatty` for this). With a controlling terminal, start Apache with
/// SIGWINCH blocked: a blocked signal stays blocked across exec and Apache's
/// parent never unblocks it. Without one (containers, service managers),
/// SIGWINCH keeps its meaning, e.g. Docker's `STOPSIGNAL SIGWINCH`.
#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64",
        target_arch = "powerpc64",
        target_arch = "s390x",
        target_arch = "loongarch64"
    )
))]
mod winch {
    use std::io;

    /// Linux values on the architectures above (MIPS and SPARC differ).
    const SIG_BLOCK: i32 = 0;
    const SIGWINCH: i32 = 28;

    /// Room for any libc's `sigset_t` (glibc and musl use 128 bytes).
    #[repr(C, align(8))]
    struct SigSet([u8; 128]);

    extern "C" {
        fn sigemptyset(set: *mut SigSet) -> i32;
        fn sigaddset(set: *mut SigSet, signum: i32) -> i32;
        fn sigprocmask(how: i32, set: *const SigSet, old: *mut SigSet) -> i32;
    }

    /// Adds SIGWINCH to the signal mask. Async-signal-safe: it only calls
    /// sigemptyset, sigaddset and sigprocmask on a stack buffer.
    pub fn block() -> io::Result<()> {
        let mut set = SigSet([0; 128]);
        // SAFETY: `set` is a writable, 8-aligned buffer at least as large as
        // the C library's sigset_t, so these calls write only inside it;
        // `old` may be null per POSIX.
        let rc = unsafe {
            if sigemptyset(&mut set) != 0 || sigaddset(&mut set, SIGWINCH) != 0 {
                -1
            } else {
                sigprocmask(SIG_BLOCK, &set, std::ptr::null_mut())
            }
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64",
        target_arch = "powerpc64",
        target_arch = "s390x",
        target_arch = "loongarch64"
    )
)))]
mod winch {
    /// Not implemented here: resizing the terminal gracefully stops Apache.
    pub fn block() -> std::io::Result<()> {
        Ok(())
    }
}

/// Makes `cmd` start with SIGWINCH blocked.
pub fn block_sigwinch_on_exec(cmd: &mut Command) {
    // SAFETY: the closure runs between fork (or nothing, for exec) and
    // execve and only calls async-signal-safe functions (see winch::block);
    // it allocates nothing and touches no locks.
    unsafe {
        cmd.pre_exec(winch::block);
    }
}

/// Replaces this process with Apache (`exec`), so Apache keeps our PID and
/// receives SIGINT/SIGTERM directly. Returns only on failure.
/// `env` is Apache's whole environment.
pub fn exec_foreground(
    httpd: &Path,
    conf: &Path,
    extra: &[String],
    arg0: &str,
    cwd: &Path,
    env: &[(OsString, OsString)],
) -> io::Error {
    let mut cmd = foreground_command(httpd, conf, extra);
    cmd.arg0(arg0).current_dir(cwd).env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
    if has_controlling_terminal() {
        block_sigwinch_on_exec(&mut cmd);
    }
    cmd.exec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_httpd_must_exist() {
        let err = find_httpd(Some(Path::new("/nonexistent/apache2"))).unwrap_err();
        assert!(err.contains("/nonexistent/apache2"), "{err}");
        let err = find_httpd(Some(Path::new("no-such-httpd-binary"))).unwrap_err();
        assert!(err.contains("no-such-httpd-binary"), "{err}");
    }

    #[test]
    fn bare_names_are_searched() {
        // `sh` is in /bin or /usr/bin everywhere.
        let found = search(&["sh"], Some(OsString::from("/usr/bin:/bin"))).unwrap();
        assert!(found.is_absolute() && found.ends_with("sh"));
        assert_eq!(
            search(&["no-such-binary-xyz"], Some(OsString::from("/bin"))),
            None
        );
    }

    #[test]
    fn explicit_modules_directory_is_absolute() {
        assert_eq!(
            modules_directory(Some(Path::new("/m"))),
            PathBuf::from("/m")
        );
        assert!(modules_directory(Some(Path::new("rel"))).is_absolute());
        assert!(modules_directory(None).is_absolute());
    }

    /// The blocked-signal mask of a child started with
    /// `block_sigwinch_on_exec`, read back from /proc.
    #[test]
    #[cfg(target_os = "linux")]
    fn sigwinch_is_blocked_in_the_exec_image() {
        let mut cmd = Command::new("grep");
        cmd.args(["^SigBlk:", "/proc/self/status"]);
        block_sigwinch_on_exec(&mut cmd);
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let mask =
            u64::from_str_radix(text.trim().trim_start_matches("SigBlk:").trim(), 16).unwrap();
        assert_ne!(mask & (1 << (28 - 1)), 0, "SIGWINCH not blocked: {text}");
    }

    #[test]
    fn foreground_command_line() {
        let cmd = foreground_command(
            Path::new("/usr/sbin/apache2"),
            Path::new("/r/httpd.conf"),
            &[],
        );
        assert_eq!(cmd.get_program(), "/usr/sbin/apache2");
        let args: Vec<_> = cmd.get_args().collect();
        assert_eq!(args, ["-f", "/r/httpd.conf", "-DFOREGROUND"]);
        let cmd = foreground_command(
            Path::new("/usr/sbin/apache2"),
            Path::new("/r/httpd.conf"),
            &["-E".into(), "/r/startup_log".into()],
        );
        let args: Vec<_> = cmd.get_args().collect();
        assert_eq!(
            args,
            [
                "-E",
                "/r/startup_log",
                "-f",
                "/r/httpd.conf",
                "-DFOREGROUND"
            ]
        );
    }

    #[test]
    fn envvars_exports_reach_the_environment() {
        let dir = std::env::temp_dir().join(format!("wsgirt-envvars-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let envvars = dir.join("envvars");
        std::fs::write(
            &envvars,
            "export FROM_ENVVARS=\"a b\"\nNOT_EXPORTED=1\nexport LANG=fr_FR.UTF-8\necho noise\n",
        )
        .unwrap();
        let env = environment_after(&envvars, &dir, &[("LANG", "C.UTF-8".into())]).unwrap();
        let get = |k: &str| {
            env.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.to_string_lossy().into_owned())
        };
        assert_eq!(get("FROM_ENVVARS").as_deref(), Some("a b"));
        assert_eq!(get("NOT_EXPORTED"), None);
        assert_eq!(get("LANG").as_deref(), Some("fr_FR.UTF-8"), "envvars wins");
        std::fs::write(&envvars, "exit 3\n").unwrap();
        assert!(environment_after(&envvars, &dir, &[]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
