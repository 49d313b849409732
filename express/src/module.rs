//! Where the wsgirt Apache module is, and which Python it belongs to.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The file name of the built module (`target/release/mod_wsgirt.so`).
pub const MODULE_FILE: &str = "mod_wsgirt.so";

/// Environment variable naming the module to use.
pub const MODULE_ENV: &str = "WSGIRT_MODULE";

/// Environment variable naming the Python the module was built for.
pub const PYTHON_ENV: &str = "WSGIRT_PYTHON";

/// The Python the module is built against by default (DESIGN.md: Debian's
/// `/usr/bin/python3`, never a pyenv shim from PATH).
pub const DEFAULT_PYTHON: &str = "/usr/bin/python3";

/// The places searched, in order, when neither `--module-path` nor
/// `$WSGIRT_MODULE` is set: next to this executable (a cargo target
/// directory), then the `lib/apache2/modules` of an install prefix whose
/// `bin/` holds this executable.
pub fn candidates(exe: &Path) -> Vec<PathBuf> {
    let Some(dir) = exe.parent() else {
        return Vec::new();
    };
    let mut out = vec![dir.join(MODULE_FILE)];
    if let Some(prefix) = dir.parent() {
        out.push(prefix.join("lib/apache2/modules").join(MODULE_FILE));
    }
    out
}

/// Finds the module. `cli` is `--module-path`, `env` is `$WSGIRT_MODULE`,
/// `exe` this executable's path; `exists` is the filesystem test.
pub fn locate_with(
    cli: Option<&Path>,
    env: Option<OsString>,
    exe: Option<PathBuf>,
    exists: impl Fn(&Path) -> bool,
) -> Result<PathBuf, String> {
    let explicit = match (cli, env.filter(|e| !e.is_empty())) {
        (Some(p), _) => Some((p.to_path_buf(), "--module-path".to_string())),
        (None, Some(e)) => Some((PathBuf::from(e), format!("${MODULE_ENV}"))),
        (None, None) => None,
    };
    if let Some((path, source)) = explicit {
        let path = std::path::absolute(&path).unwrap_or(path);
        return if exists(&path) {
            Ok(path)
        } else {
            Err(format!(
                "the module {} (from {source}) does not exist",
                path.display()
            ))
        };
    }
    let searched = exe.as_deref().map(candidates).unwrap_or_default();
    if let Some(found) = searched.iter().find(|p| exists(p)) {
        return Ok(fs::canonicalize(found).unwrap_or_else(|_| found.clone()));
    }
    let list: Vec<String> = searched
        .iter()
        .map(|p| format!("  {}", p.display()))
        .collect();
    Err(format!(
        "cannot find the wsgirt Apache module ({MODULE_FILE}). Searched:\n{}\n\
         Build it (cargo build --release puts it in target/release/), or point \
         --module-path or ${MODULE_ENV} at it.",
        if list.is_empty() {
            "  (nothing: the location of this executable is unknown)".to_string()
        } else {
            list.join("\n")
        }
    ))
}

/// Finds the module using the real environment.
pub fn locate(cli: Option<&Path>) -> Result<PathBuf, String> {
    locate_with(
        cli,
        std::env::var_os(MODULE_ENV),
        std::env::current_exe().ok(),
        |p| p.is_file(),
    )
}

/// What we need to know about the module's Python.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonInfo {
    pub executable: PathBuf,
    /// `sys.prefix`: the value for `WSGIPythonHome` (a virtualenv's prefix
    /// when the executable is a virtualenv's python).
    pub prefix: PathBuf,
    /// `major.minor`.
    pub version: String,
}

/// The Python named by `$WSGIRT_PYTHON`, else `/usr/bin/python3`.
pub fn python_executable() -> PathBuf {
    std::env::var_os(PYTHON_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PYTHON))
}

/// Asks `python` for `sys.prefix` and its version.
pub fn python_info(python: &Path) -> Result<PythonInfo, String> {
    let out = Command::new(python)
        .args([
            "-c",
            "import os, sys; print(os.path.normpath(sys.prefix)); print('%d.%d' % sys.version_info[:2])",
        ])
        .output()
        .map_err(|e| {
            format!(
                "cannot run {} to find sys.prefix for WSGIPythonHome: {e} (set ${PYTHON_ENV} \
                 to the Python the module was built for)",
                python.display()
            )
        })?;
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}) while asking for sys.prefix: {}",
            python.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    parse_python_output(python, &String::from_utf8_lossy(&out.stdout))
}

fn parse_python_output(python: &Path, stdout: &str) -> Result<PythonInfo, String> {
    let mut lines = stdout.lines();
    match (lines.next(), lines.next()) {
        (Some(prefix), Some(version)) if prefix.starts_with('/') && !version.is_empty() => {
            Ok(PythonInfo {
                executable: python.to_path_buf(),
                prefix: PathBuf::from(prefix),
                version: version.trim().to_string(),
            })
        }
        _ => Err(format!(
            "unexpected output from {} when asking for sys.prefix: {stdout:?}",
            python.display()
        )),
    }
}

/// The Python version a module links against, from the `libpython3.X`
/// name in its dynamic section (`None` if it has none, e.g. a static build).
pub fn linked_python_version(module: &Path) -> Option<String> {
    let bytes = fs::read(module).ok()?;
    find_libpython_version(&bytes)
}

fn find_libpython_version(bytes: &[u8]) -> Option<String> {
    const NEEDLE: &[u8] = b"libpython3.";
    let mut start = 0;
    while let Some(pos) = bytes[start..]
        .windows(NEEDLE.len())
        .position(|w| w == NEEDLE)
    {
        let at = start + pos + NEEDLE.len();
        let minor: String = bytes[at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .map(|&b| char::from(b))
            .collect();
        if !minor.is_empty()
            && bytes[at..]
                .get(minor.len())
                .is_some_and(|&b| b == b'.' || b == b'd')
        {
            return Some(format!("3.{minor}"));
        }
        start = at;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_next_to_exe_then_install_prefix() {
        assert_eq!(
            candidates(Path::new("/repo/target/release/wsgirt-express")),
            vec![
                PathBuf::from("/repo/target/release/mod_wsgirt.so"),
                PathBuf::from("/repo/target/lib/apache2/modules/mod_wsgirt.so"),
            ]
        );
        assert_eq!(
            candidates(Path::new("/usr/local/bin/wsgirt-express"))[1],
            PathBuf::from("/usr/local/lib/apache2/modules/mod_wsgirt.so")
        );
    }

    #[test]
    fn explicit_paths_win_and_must_exist() {
        let exe = Some(PathBuf::from("/opt/bin/wsgirt-express"));
        let all = |_: &Path| true;
        assert_eq!(
            locate_with(
                Some(Path::new("/cli.so")),
                Some("/env.so".into()),
                exe.clone(),
                all
            )
            .unwrap(),
            PathBuf::from("/cli.so")
        );
        assert_eq!(
            locate_with(None, Some("/env.so".into()), exe.clone(), all).unwrap(),
            PathBuf::from("/env.so")
        );
        let err = locate_with(None, Some("/env.so".into()), exe.clone(), |_| false).unwrap_err();
        assert!(
            err.contains("/env.so") && err.contains("$WSGIRT_MODULE"),
            "{err}"
        );
        let err = locate_with(Some(Path::new("/cli.so")), None, exe, |_| false).unwrap_err();
        assert!(err.contains("--module-path"), "{err}");
    }

    #[test]
    fn relative_explicit_paths_become_absolute() {
        let found = locate_with(Some(Path::new("x/mod.so")), None, None, |_| true).unwrap();
        assert!(found.is_absolute());
        assert!(found.ends_with("x/mod.so"));
    }

    #[test]
    fn empty_env_is_ignored() {
        let exe = Some(PathBuf::from("/nonexistent-dir/bin/wsgirt-express"));
        let found = locate_with(None, Some("".into()), exe, |p| {
            p == Path::new("/nonexistent-dir/lib/apache2/modules/mod_wsgirt.so")
        })
        .unwrap();
        assert_eq!(
            found,
            PathBuf::from("/nonexistent-dir/lib/apache2/modules/mod_wsgirt.so")
        );
    }

    #[test]
    fn not_found_names_what_was_searched() {
        let exe = Some(PathBuf::from("/a/b/wsgirt-express"));
        let err = locate_with(None, None, exe, |_| false).unwrap_err();
        assert!(err.contains("/a/b/mod_wsgirt.so"), "{err}");
        assert!(
            err.contains("/a/lib/apache2/modules/mod_wsgirt.so"),
            "{err}"
        );
        assert!(err.contains("--module-path") && err.contains("WSGIRT_MODULE"));
    }

    #[test]
    fn python_output_parsing() {
        let info = parse_python_output(Path::new("/usr/bin/python3"), "/usr\n3.11\n").unwrap();
        assert_eq!(info.prefix, PathBuf::from("/usr"));
        assert_eq!(info.version, "3.11");
        assert!(parse_python_output(Path::new("p"), "garbage").is_err());
    }

    #[test]
    fn real_python_if_present() {
        // DESIGN.md pins Debian's /usr/bin/python3; the e2e environment has it.
        let python = Path::new(DEFAULT_PYTHON);
        if python.exists() {
            let info = python_info(python).unwrap();
            assert!(info.prefix.is_absolute());
            assert!(info.version.starts_with("3."));
        }
        assert!(python_info(Path::new("/nonexistent/python3")).is_err());
    }

    #[test]
    fn libpython_version_from_dynamic_section() {
        assert_eq!(
            find_libpython_version(b"\0libc.so.6\0libpython3.11.so.1.0\0").as_deref(),
            Some("3.11")
        );
        assert_eq!(
            find_libpython_version(b"libpython3.13d.so").as_deref(),
            Some("3.13")
        );
        assert_eq!(
            find_libpython_version(b"libpython3.x libpython3.12.so").as_deref(),
            Some("3.12")
        );
        assert_eq!(find_libpython_version(b"no python here"), None);
    }
}
