//! From command-line options to a `ServerConfig`: absolute paths, defaults
//! that depend on the machine (user, TMPDIR, Apache, module, Python, locale)
//! and the checks that keep the generated config well-formed.

use std::env;
use std::path::{Path, PathBuf};

use crate::apache;
use crate::args::{HttpsArgs, ModeChoice, ServerArgs};
use crate::config::{
    AliasTarget, DebugMode, Https, LogRotation, Mode, ServerConfig, Service, UrlAlias,
};
use crate::error::{Error, Result};
use crate::layout;
use crate::module;
use crate::users::{self, Identity, UserDb};

/// A resolved server plus what the user should be told about it.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub config: ServerConfig,
    /// True when no SCRIPT was given and the welcome page is served.
    pub welcome_page: bool,
    pub warnings: Vec<String>,
    /// The Python behind WSGIPythonHome, if it could be asked.
    pub python: Option<module::PythonInfo>,
}

/// Text that ends up inside the Apache config must stay on one line, and
/// `${` would be taken as an Apache variable reference.
fn check_text(what: &str, value: &str) -> Result<()> {
    if value.contains(['\n', '\r', '\0']) {
        return Err(Error::fatal(format!(
            "{what} {value:?} contains a line break"
        )));
    }
    if value.contains("${") {
        return Err(Error::fatal(format!(
            "{what} {value:?} contains '${{', which Apache would read as a variable reference"
        )));
    }
    Ok(())
}

fn path_text<'a>(what: &str, path: &'a Path) -> Result<&'a str> {
    let text = path
        .to_str()
        .ok_or_else(|| Error::fatal(format!("{what} {} is not valid UTF-8", path.display())))?;
    check_text(what, text)?;
    Ok(text)
}

fn absolute(cwd: &Path, path: &Path) -> PathBuf {
    // Lexically: like os.path.abspath, without resolving symlinks, so the
    // config names paths the way the user did.
    let joined = cwd.join(path);
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Apache treats `*`, `?` and `[` in `<Directory>` paths as wildcards.
fn wildcard_warning(what: &str, path: &Path, warnings: &mut Vec<String>) {
    if path.to_string_lossy().contains(['*', '?', '[']) {
        warnings.push(format!(
            "{what} {} contains a wildcard character (*, ? or [); Apache's <Directory> will \
             treat it as a pattern and may deny access",
            path.display()
        ));
    }
}

/// The `--service-script`s with their `--service-user`, `--service-group`
/// and `--service-log-file` (the last given for a name wins, as in 4.9.4).
/// The scripts must exist (4.9.4 finds out when the daemon starts, and
/// restarts it forever); options naming no service draw a warning (4.9.4
/// ignores them silently).
fn resolve_services(
    cmd: &'static str,
    cwd: &Path,
    args: &ServerArgs,
    id: Identity,
    run: (&str, &str),
    warnings: &mut Vec<String>,
) -> Result<Vec<Service>> {
    let last = |pairs: &[(String, String)], name: &str| {
        pairs
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    for (what, pairs) in [
        ("--service-user", &args.service_users),
        ("--service-group", &args.service_groups),
        ("--service-log-file", &args.service_log_files),
    ] {
        for (name, _) in pairs.iter() {
            if !args.service_scripts.iter().any(|(n, _)| n == name) {
                warnings.push(format!(
                    "{what} names '{name}', which no --service-script starts; ignored"
                ));
            }
        }
    }
    let db = UserDb::load();
    let mut services = Vec::new();
    let mut ignored = false;
    for (name, script) in &args.service_scripts {
        check_text("--service-script", name)?;
        let script = absolute(cwd, script);
        path_text("--service-script", &script)?;
        if !script.is_file() {
            return Err(Error::usage(
                Some(cmd),
                format!(
                    "the --service-script {} of '{name}' does not exist or is not a file",
                    script.display()
                ),
            ));
        }
        let user = last(&args.service_users, name);
        let group = last(&args.service_groups, name);
        let ((user, group), skipped) =
            users::service_user_group(id, &db, user.as_deref(), group.as_deref(), run)
                .map_err(|e| Error::usage(Some(cmd), format!("service '{name}': {e}")))?;
        check_text("--service-user", &user)?;
        check_text("--service-group", &group)?;
        ignored |= skipped;
        let log_file = last(&args.service_log_files, name);
        if let Some(file) = &log_file {
            check_text("--service-log-file", file)?;
        }
        services.push(Service {
            name: name.clone(),
            script,
            user,
            group,
            log_file,
        });
    }
    if ignored {
        warnings.push(
            "--service-user and --service-group apply only when started as root (a process \
             cannot switch user otherwise); ignored"
                .into(),
        );
    }
    Ok(services)
}

/// `--mount-point` as a URL path: a leading `/` added (mod_wsgi-express
/// normalizes `app` to `/app`), `.`/`..`/empty segments folded, and no
/// trailing `/` except for the root.
pub fn normalize_mount_point(value: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in value.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// LANG/LC_ALL for Apache and the application: `--locale` (or `--lang`),
/// else the user's locale, with C.UTF-8 instead of C/POSIX in any case
/// (glibc always has it), the way mod_wsgi-express upgrades C to a UTF-8
/// locale, an explicit `--locale C` included. (4.9.4 tries en_US.UTF-8
/// first; we skip it because it is often not generated, and C.UTF-8 gives
/// the same UTF-8 encoding everywhere.)
pub fn choose_locale(
    given: Option<&str>,
    lc_all: Option<&str>,
    lc_ctype: Option<&str>,
    lang: Option<&str>,
) -> String {
    let current = [given, lc_all, lc_ctype, lang]
        .into_iter()
        .flatten()
        .find(|v| !v.is_empty())
        .unwrap_or("C");
    if current.eq_ignore_ascii_case("C") || current.eq_ignore_ascii_case("POSIX") {
        "C.UTF-8".into()
    } else {
        current.into()
    }
}

fn env_text(name: &str) -> Option<String> {
    env::var(name).ok()
}

/// Resolves the options of start-server/setup-server.
pub fn resolve(cmd: &'static str, args: &ServerArgs) -> Result<Resolved> {
    let id = Identity::current();
    let cwd = env::current_dir()
        .map_err(|e| Error::fatal(format!("cannot read the current directory: {e}")))?;
    let mut warnings = Vec::new();

    let debug = args.debug.enabled();
    let mode = match args.mode {
        _ if debug => Mode::Embedded,
        ModeChoice::Embedded => Mode::Embedded,
        ModeChoice::Default | ModeChoice::Daemon => Mode::Daemon,
    };
    if debug {
        warnings.extend(debug_mode_warnings(args));
    } else {
        let unused: Vec<&str> = [
            args.debug.debugger_startup.then_some("--debugger-startup"),
            args.debug
                .profiler_directory
                .is_some()
                .then_some("--profiler-directory"),
            args.debug
                .recorder_directory
                .is_some()
                .then_some("--recorder-directory"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !unused.is_empty() {
            warnings.push(format!(
                "{} only appl{} in debug mode; ignored",
                unused.join(", "),
                if unused.len() == 1 { "ies" } else { "y" }
            ));
        }
    }
    if mode == Mode::Embedded && !args.daemon_only_given.is_empty() {
        warnings.push(format!(
            "{} only appl{} in daemon mode; ignored with {}",
            args.daemon_only_given.join(", "),
            if args.daemon_only_given.len() == 1 {
                "ies"
            } else {
                "y"
            },
            if debug {
                "--debug-mode"
            } else {
                "--embedded-mode"
            }
        ));
    }

    if args.server_name.is_none() {
        let unused: Vec<&str> = [
            (!args.server_aliases.is_empty()).then_some("--server-alias"),
            args.allow_localhost.then_some("--allow-localhost"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !unused.is_empty() {
            warnings.push(format!(
                "{} only appl{} with --server-name; ignored",
                unused.join(", "),
                if unused.len() == 1 { "ies" } else { "y" }
            ));
        }
    }

    let listen_host = args.host.clone();
    let host = listen_host.clone().unwrap_or_else(|| "localhost".into());
    check_text("--host", &host)?;

    let server_root = match &args.server_root {
        Some(root) => absolute(&cwd, root),
        None => {
            layout::default_server_root(env_text("TMPDIR").as_deref(), &host, args.port, id.uid)
        }
    };
    path_text("the server root", &server_root)?;

    let application_module = match &args.script {
        Some(name) if args.application_type == "module" => {
            Some(name.to_string_lossy().into_owned())
        }
        _ => None,
    };
    let (script, welcome_page) = match &args.script {
        Some(_) if application_module.is_some() => (layout::module_script(&server_root), false),
        Some(s) => {
            let script = absolute(&cwd, s);
            if !script.is_file() {
                return Err(Error::usage(
                    Some(cmd),
                    format!(
                        "the WSGI script {} does not exist or is not a file",
                        script.display()
                    ),
                ));
            }
            (script, false)
        }
        None => (layout::default_script(&server_root), true),
    };
    // Debug mode serves the generated debug.wsgi, which loads the script.
    let (script, debug_target) = if debug {
        (layout::debug_script(&server_root), Some(script))
    } else {
        (script, None)
    };
    path_text("the WSGI script", &script)?;
    if let Some(dir) = script.parent() {
        wildcard_warning("the script directory", dir, &mut warnings);
    }
    check_text("--callable-object", &args.callable_object)?;

    let working_directory = match &args.working_directory {
        Some(w) => absolute(&cwd, w),
        None => cwd.clone(),
    };
    if !working_directory.is_dir() {
        return Err(Error::usage(
            Some(cmd),
            format!(
                "the working directory {} does not exist",
                working_directory.display()
            ),
        ));
    }
    path_text("the working directory", &working_directory)?;

    let mut python_paths = Vec::new();
    for p in &args.python_paths {
        let p = absolute(&cwd, p);
        if path_text("--python-path", &p)?.contains(':') {
            return Err(Error::usage(
                Some(cmd),
                format!(
                    "--python-path {} contains ':', the search path separator",
                    p.display()
                ),
            ));
        }
        python_paths.push(p);
    }
    // Embedded mode has no home= to make the working directory importable,
    // so it goes first on the path (mod_wsgi-express 4.8 --embedded-mode).
    if mode == Mode::Embedded && !python_paths.contains(&working_directory) {
        if working_directory.to_string_lossy().contains(':') {
            warnings.push(format!(
                "the working directory {} contains ':' and cannot be put on the Python path",
                working_directory.display()
            ));
        } else {
            python_paths.insert(0, working_directory.clone());
        }
    }

    let mut url_aliases = Vec::new();
    for (url, target) in &args.url_aliases {
        check_text("--url-alias URL", url)?;
        let keep_slash = target.to_string_lossy().ends_with('/');
        let path = absolute(&cwd, target);
        path_text("--url-alias path", &path)?;
        let target = if path.is_file() {
            let directory = path.parent().unwrap_or(Path::new("/")).to_path_buf();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            wildcard_warning("the --url-alias directory", &directory, &mut warnings);
            AliasTarget::File { directory, name }
        } else {
            wildcard_warning("the --url-alias directory", &path, &mut warnings);
            // Alias maps "/url/" to "/dir/" only if both keep the slash.
            let mut dir = path;
            if keep_slash && dir != Path::new("/") {
                dir = PathBuf::from(format!("{}/", dir.display()));
            }
            AliasTarget::Directory(dir)
        };
        url_aliases.push(UrlAlias {
            url: url.clone(),
            target,
        });
    }

    let mount_point = normalize_mount_point(&args.mount_point);
    check_text("--mount-point", &mount_point)?;

    let document_root = match &args.document_root {
        Some(d) => absolute(&cwd, d),
        None => ServerConfig::default_document_root(&server_root),
    };
    path_text("the document root", &document_root)?;
    wildcard_warning("the document root", &document_root, &mut warnings);

    // --log-directory overrides --log-to-terminal, as in mod_wsgi-express.
    let (log_directory, log_to_terminal) = match &args.log_directory {
        Some(d) => (absolute(&cwd, d), false),
        None => (server_root.clone(), args.log_to_terminal),
    };
    path_text("the log directory", &log_directory)?;

    let mut include_files = Vec::new();
    for f in &args.include_files {
        let f = absolute(&cwd, f);
        let text = path_text("--include-file", &f)?;
        if !text.contains(['*', '?', '[']) && !f.is_file() {
            return Err(Error::usage(
                Some(cmd),
                format!("the --include-file {} does not exist", f.display()),
            ));
        }
        include_files.push(f);
    }

    let envvars_script = match &args.envvars_script {
        Some(e) => {
            let e = absolute(&cwd, e);
            path_text("--envvars-script", &e)?;
            Some(e)
        }
        None => None,
    };

    for (what, value) in [
        ("--access-log-format", &args.access_log_format),
        ("--error-log-format", &args.error_log_format),
    ] {
        if let Some(value) = value {
            check_text(what, value)?;
        }
    }
    for (what, value) in [
        ("--error-log-name", &args.error_log_name),
        ("--access-log-name", &args.access_log_name),
        ("--startup-log-name", &args.startup_log_name),
    ] {
        check_text(what, value)?;
    }

    for (name, value) in &args.setenv {
        check_text("--setenv KEY", name)?;
        check_text("--setenv VALUE", value)?;
    }

    let module_path = module::locate(args.module_path.as_deref()).map_err(Error::fatal)?;
    path_text("the module", &module_path)?;

    let python = match module::python_info(&module::python_executable()) {
        Ok(info) => {
            if let Some(linked) = module::linked_python_version(&module_path) {
                if linked != info.version {
                    warnings.push(format!(
                        "{} links Python {linked} but {} is Python {}: WSGIPythonHome will point \
                         at the wrong Python (set ${} to a Python {linked})",
                        module_path.display(),
                        info.executable.display(),
                        info.version,
                        module::PYTHON_ENV
                    ));
                }
            }
            path_text("the Python prefix", &info.prefix)?;
            Some(info)
        }
        Err(e) => {
            warnings.push(format!("{e}; WSGIPythonHome is left unset"));
            None
        }
    };

    let httpd = apache::find_httpd(args.httpd_executable.as_deref()).map_err(Error::fatal)?;
    path_text("the Apache executable", &httpd)?;
    let modules_directory = apache::modules_directory(args.modules_directory.as_deref());
    path_text("the modules directory", &modules_directory)?;
    // Debug mode takes worker, else prefork, whatever --server-mpm says,
    // as 4.9.4 does.
    let server_mpm = if debug {
        choose_mpm(
            cmd,
            &["worker".into(), "prefork".into()],
            &modules_directory,
        )?
    } else {
        choose_mpm(cmd, &args.server_mpm, &modules_directory)?
    };
    if !modules_directory
        .join(format!("mod_mpm_{server_mpm}.so"))
        .is_file()
    {
        warnings.push(format!(
            "{} has no mod_mpm_{server_mpm}.so; is it Apache's modules directory? \
             (--modules-directory)",
            modules_directory.display()
        ));
    }

    if args.features.http2 {
        require_apache_module(cmd, "--http2", &modules_directory, "mod_http2.so")?;
        if server_mpm == "prefork" {
            warnings.push(
                "--http2 under the prefork MPM: mod_http2 disables itself there, \
                 requests are served over HTTP/1.1"
                    .into(),
            );
        }
    }

    if args.proxies.any() {
        let option = if args.proxies.mount_points.is_empty() {
            "--proxy-virtual-host"
        } else {
            "--proxy-mount-point"
        };
        for file in ["mod_proxy.so", "mod_proxy_http.so", "mod_headers.so"] {
            require_apache_module(cmd, option, &modules_directory, file)?;
        }
    }

    let mime_types = match &args.mime_types {
        Some(m) => {
            let m = absolute(&cwd, m);
            if !m.is_file() {
                return Err(Error::usage(
                    Some(cmd),
                    format!("the MIME types file {} does not exist", m.display()),
                ));
            }
            m
        }
        None if Path::new("/etc/mime.types").is_file() => PathBuf::from("/etc/mime.types"),
        None => server_root.join("mime.types"),
    };
    path_text("the MIME types file", &mime_types)?;

    let (user, group) = users::run_user_group(
        id,
        &UserDb::load(),
        args.user.as_deref(),
        args.group.as_deref(),
    )
    .map_err(Error::fatal)?;
    check_text("--user", &user)?;
    check_text("--group", &group)?;

    let pid_file = match &args.pid_file {
        Some(p) => absolute(&cwd, p),
        None => server_root.join("httpd.pid"),
    };
    path_text("--pid-file", &pid_file)?;
    // mod_wsgi appends `.PID.N.sock` to the prefix; 4.9.4 uses DIR/wsgi.
    let socket_prefix = match &args.socket_prefix {
        Some(d) => absolute(&cwd, d).join("wsgi"),
        None => server_root.join("wsgi"),
    };
    path_text("--socket-prefix", &socket_prefix)?;
    if let Some(name) = &args.process_name {
        check_text("--process-name", name)?;
    }
    for (_, url) in &args.error_documents {
        check_text("--error-document URL-PATH", url)?;
    }
    for url in &args.ignore_activity {
        check_text("--ignore-activity", url)?;
    }

    let python_eggs = match &args.python_eggs {
        Some(e) => absolute(&cwd, e),
        None => server_root.join("python-eggs"),
    };
    path_text("--python-eggs", &python_eggs)?;
    // The daemons run as Apache's User when started as root: they must be
    // able to write there (mod_wsgi-express chowns it too).
    let python_eggs_owner = if id.is_root() {
        let db = UserDb::load();
        db.uid_of(&user).zip(db.gid_of(&group))
    } else {
        None
    };

    // The hook scripts: absolute, and there (4.9.4 finds out at the first
    // request). A group script needs a user script, as in 4.9.4.
    let mut hooks = args.hooks.clone();
    for (what, slot) in [
        ("--host-access-script", &mut hooks.host_access_script),
        ("--auth-user-script", &mut hooks.auth_user_script),
        ("--auth-group-script", &mut hooks.auth_group_script),
    ] {
        if let Some(path) = slot {
            let path = absolute(&cwd, path);
            path_text(what, &path)?;
            if !path.is_file() {
                return Err(Error::usage(
                    Some(cmd),
                    format!("the {what} {} does not exist", path.display()),
                ));
            }
            *slot = Some(path);
        }
    }
    check_text("--auth-group", &hooks.auth_group)?;
    if hooks.auth_user_script.is_none() {
        let unused: Vec<&str> = [
            hooks
                .auth_group_script
                .is_some()
                .then_some("--auth-group-script"),
            args.auth_type_given.then_some("--auth-type"),
            args.auth_group_given.then_some("--auth-group"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !unused.is_empty() {
            warnings.push(format!(
                "{} only appl{} with --auth-user-script; ignored",
                unused.join(", "),
                if unused.len() == 1 { "ies" } else { "y" }
            ));
        }
        hooks.auth_group_script = None;
    }

    if let Some(index) = &args.site.directory_index {
        check_text("--directory-index", index)?;
    }
    if args.site.directory_listing && args.site.directory_index.is_none() {
        // 4.9.4 writes Options +Indexes but still hands directories to the
        // application unless --directory-index is given (its listings
        // otherwise serve --application-type static only).
        warnings.push(
            "--directory-listing only applies with --directory-index (directories are \
             otherwise the application's); ignored"
                .into(),
        );
    }

    let debug = match debug_target {
        None => None,
        Some(target) => {
            let directory = |given: &Option<PathBuf>, default: &str, what: &str| {
                let dir = match given {
                    Some(d) => absolute(&cwd, d),
                    None => server_root.join(default),
                };
                path_text(what, &dir)?;
                Ok::<PathBuf, Error>(dir)
            };
            let d = &args.debug;
            Some(DebugMode {
                target,
                enable_debugger: d.enable_debugger,
                debugger_startup: d.enable_debugger && d.debugger_startup,
                profiler_directory: if d.enable_profiler {
                    Some(directory(
                        &d.profiler_directory,
                        "pstats",
                        "--profiler-directory",
                    )?)
                } else {
                    None
                },
                recorder_directory: if d.enable_recorder {
                    Some(directory(
                        &d.recorder_directory,
                        "archive",
                        "--recorder-directory",
                    )?)
                } else {
                    None
                },
            })
        }
    };

    let services = resolve_services(cmd, &cwd, args, id, (&user, &group), &mut warnings)?;

    let https = resolve_https(cmd, &cwd, &args.https, args.port, &mut warnings)?;

    // --log-to-terminal wins over --rotate-logs, as in 4.9.4.
    let log_rotation = if args.rotate_logs && !log_to_terminal {
        let executable =
            apache::find_rotatelogs(args.rotatelogs_executable.as_deref()).map_err(Error::fatal)?;
        path_text("the rotatelogs executable", &executable)?;
        Some(LogRotation {
            executable,
            max_log_size: args.max_log_size,
        })
    } else {
        None
    };

    let locale = choose_locale(
        args.locale.as_deref(),
        env_text("LC_ALL").as_deref(),
        env_text("LC_CTYPE").as_deref(),
        env_text("LANG").as_deref(),
    );
    check_text("the locale", &locale)?;

    let config = ServerConfig {
        mode,
        script,
        callable_object: args.callable_object.clone(),
        listen_host,
        host,
        port: args.port,
        processes: if debug.is_some() {
            1
        } else {
            args.processes.unwrap_or(1)
        },
        multiprocess: debug.is_none() && args.processes.is_some(),
        threads: if debug.is_some() { 1 } else { args.threads },
        uid: id.uid,
        server_root,
        working_directory,
        python_paths,
        python_home: python.as_ref().map(|p| p.prefix.clone()),
        module_path,
        modules_directory,
        mime_types,
        user,
        group,
        log_level: args.log_level.clone(),
        log_to_terminal,
        access_log: args.access_log,
        access_log_format: args.access_log_format.clone(),
        error_log_format: args.error_log_format.clone(),
        error_log_name: args.error_log_name.clone(),
        access_log_name: args.access_log_name.clone(),
        startup_log_name: args.startup_log_name.clone(),
        url_aliases,
        application_module,
        mount_point,
        document_root,
        setenv: args.setenv.clone(),
        include_files,
        envvars_script,
        log_directory,
        startup_log: args.startup_log,
        reload_on_changes: args.reload_on_changes,
        map_head_to_get: args.map_head_to_get.clone(),
        keep_alive_timeout: args.keep_alive_timeout,
        limit_request_body: args.limit_request_body,
        socket_timeout: args.socket_timeout,
        server_backlog: args.server_backlog,
        maximum_requests: args.maximum_requests,
        read_timeouts: args.read_timeouts,
        features: args.features.clone(),
        pid_file,
        process_name: args.process_name.clone(),
        socket_prefix,
        error_documents: args.error_documents.clone(),
        ignore_activity: args.ignore_activity.clone(),
        proxies: args.proxies.clone(),
        server_name: args.server_name.clone(),
        server_aliases: args.server_aliases.clone(),
        allow_localhost: args.allow_localhost,
        daemon: args.daemon.clone(),
        locale,
        httpd,
        server_status: args.server_status,
        python_eggs,
        python_eggs_owner,
        server_metrics: args.server_metrics,
        hooks,
        site: args.site.clone(),
        log_rotation,
        https,
        server_mpm,
        python_executable: python.as_ref().map(|p| p.executable.clone()),
        services,
        debug,
    };
    Ok(Resolved {
        config,
        welcome_page,
        warnings,
        python,
    })
}

/// What debug mode overrides, as 4.9.4 does silently: one process and one
/// thread, embedded, no reloading, worker or prefork; and a
/// `--debugger-startup` that has no debugger to start.
fn debug_mode_warnings(args: &ServerArgs) -> Vec<String> {
    let mut warnings = Vec::new();
    let overridden: Vec<&str> = [
        args.processes.is_some().then_some("--processes"),
        (args.threads != ServerArgs::default().threads).then_some("--threads"),
        (args.mode == ModeChoice::Embedded).then_some("--embedded-mode"),
        (args.mode == ModeChoice::Daemon).then_some("--daemon-mode"),
        args.reload_on_changes.then_some("--reload-on-changes"),
        (!args.server_mpm.is_empty()).then_some("--server-mpm"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !overridden.is_empty() {
        warnings.push(format!(
            "{} ignored: debug mode runs one process with one thread, embedded, \
             without reloading, under worker (else prefork)",
            overridden.join(", ")
        ));
    }
    if args.debug.debugger_startup && !args.debug.enable_debugger {
        warnings.push("--debugger-startup only applies with --enable-debugger; ignored".into());
    }
    warnings
}

/// An Apache module an option needs, looked for in the modules directory.
/// Missing is a usage error here, as for `--server-mpm`; 4.9.4 writes the
/// `LoadModule` anyway and Apache refuses to start.
fn require_apache_module(
    cmd: &'static str,
    option: &str,
    modules: &Path,
    file: &str,
) -> Result<()> {
    if modules.join(file).is_file() {
        return Ok(());
    }
    Err(Error::usage(
        Some(cmd),
        format!(
            "{option} needs Apache's {file}, which is not in {} (--modules-directory)",
            modules.display()
        ),
    ))
}

/// `--server-mpm`: as 4.9.4, the first of event, worker and prefork (that
/// order, whatever the order given) that was named and whose module is in
/// the modules directory. Without the option, event (4.9.4 also prefers
/// event, except in embedded mode, where it starts from worker; our
/// embedded sizing is made for event). None installed is a usage error
/// here; 4.9.4 loads no MPM and Apache refuses to start.
fn choose_mpm(cmd: &'static str, given: &[String], modules: &Path) -> Result<String> {
    if given.is_empty() {
        return Ok("event".into());
    }
    ["event", "worker", "prefork"]
        .into_iter()
        .filter(|name| given.iter().any(|g| g == name))
        .find(|name| modules.join(format!("mod_mpm_{name}.so")).is_file())
        .map(String::from)
        .ok_or_else(|| {
            Error::usage(
                Some(cmd),
                format!(
                    "--server-mpm {}: no such MPM module in {}",
                    given.join(", "),
                    modules.display()
                ),
            )
        })
}

/// `--https-port` and the `--ssl-*` options. 4.9.4 turns HTTPS on only
/// when the port, the certificate and the key are all given, and otherwise
/// ignores the rest in silence (it even prints an HTTPS URL nobody
/// serves). Here a port without a certificate and key, a missing file, or
/// `--https-only` without a port is a usage error, and options that have
/// nothing to apply to draw a warning.
fn resolve_https(
    cmd: &'static str,
    cwd: &Path,
    a: &HttpsArgs,
    http_port: u16,
    warnings: &mut Vec<String>,
) -> Result<Option<Https>> {
    let (certificate_file, certificate_key_file) = match &a.certificate {
        // --ssl-certificate PREFIX wins, as in 4.9.4.
        Some(prefix) => {
            let text = prefix.as_os_str().to_string_lossy();
            (
                Some(PathBuf::from(format!("{text}.crt"))),
                Some(PathBuf::from(format!("{text}.key"))),
            )
        }
        None => (a.certificate_file.clone(), a.certificate_key_file.clone()),
    };
    let Some(port) = a.port else {
        if a.https_only {
            return Err(Error::usage(
                Some(cmd),
                "--https-only needs --https-port (and a certificate) to redirect to",
            ));
        }
        let unused: Vec<&str> = [
            a.certificate.as_ref().map(|_| "--ssl-certificate"),
            a.certificate_file
                .as_ref()
                .map(|_| "--ssl-certificate-file"),
            a.certificate_key_file
                .as_ref()
                .map(|_| "--ssl-certificate-key-file"),
            a.certificate_chain_file
                .as_ref()
                .map(|_| "--ssl-certificate-chain-file"),
            a.ca_certificate_file
                .as_ref()
                .map(|_| "--ssl-ca-certificate-file"),
            (!a.verify_client_urls.is_empty()).then_some("--ssl-verify-client"),
            a.environment.then_some("--ssl-environment"),
            a.hsts_policy.as_ref().map(|_| "--hsts-policy"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !unused.is_empty() {
            warnings.push(format!(
                "{} only appl{} with --https-port; ignored",
                unused.join(", "),
                if unused.len() == 1 { "ies" } else { "y" }
            ));
        }
        return Ok(None);
    };
    if port == http_port {
        return Err(Error::usage(
            Some(cmd),
            format!("--https-port {port} is also the HTTP --port"),
        ));
    }
    let (Some(certificate_file), Some(certificate_key_file)) =
        (certificate_file, certificate_key_file)
    else {
        return Err(Error::usage(
            Some(cmd),
            "--https-port needs --ssl-certificate-file and --ssl-certificate-key-file \
             (or --ssl-certificate PREFIX for PREFIX.crt and PREFIX.key)",
        ));
    };
    let file = |what: &str, path: &Path| -> Result<PathBuf> {
        let path = absolute(cwd, path);
        path_text(what, &path)?;
        if !path.is_file() {
            return Err(Error::usage(
                Some(cmd),
                format!("the {what} {} does not exist", path.display()),
            ));
        }
        Ok(path)
    };
    let certificate_file = file("certificate file", &certificate_file)?;
    let certificate_key_file = file("certificate key file", &certificate_key_file)?;
    let certificate_chain_file = a
        .certificate_chain_file
        .as_deref()
        .map(|p| file("--ssl-certificate-chain-file", p))
        .transpose()?;
    let ca_certificate_file = a
        .ca_certificate_file
        .as_deref()
        .map(|p| file("--ssl-ca-certificate-file", p))
        .transpose()?;
    for url in &a.verify_client_urls {
        check_text("--ssl-verify-client", url)?;
    }
    if ca_certificate_file.is_none() && !a.verify_client_urls.is_empty() {
        warnings.push(
            "--ssl-verify-client needs --ssl-ca-certificate-file to check client \
             certificates against; ignored"
                .into(),
        );
    }
    if let Some(policy) = &a.hsts_policy {
        check_text("--hsts-policy", policy)?;
        if !a.https_only {
            warnings.push("--hsts-policy only applies with --https-only; ignored".into());
        }
    }
    Ok(Some(Https {
        port,
        certificate_file,
        certificate_key_file,
        certificate_chain_file,
        ca_certificate_file,
        verify_client_urls: a.verify_client_urls.clone(),
        environment: a.environment,
        https_only: a.https_only,
        hsts_policy: a.hsts_policy.clone().filter(|_| a.https_only),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_needing_an_apache_module_are_usage_errors_without_it() {
        let dir = env::temp_dir().join(format!("wsgirt-express-mods-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("mod_http2.so"), "").unwrap();
        assert!(require_apache_module("start-server", "--http2", &dir, "mod_http2.so").is_ok());
        let e = require_apache_module("start-server", "--proxy-mount-point", &dir, "mod_proxy.so")
            .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let e = e.to_string();
        assert!(
            e.contains("--proxy-mount-point needs Apache's mod_proxy.so"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn server_mpm_takes_the_first_installed_in_4_9_4_order() {
        let dir = env::temp_dir().join(format!("wsgirt-express-mpm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["mod_mpm_worker.so", "mod_mpm_prefork.so"] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let choose = |given: &[&str]| {
            let given: Vec<String> = given.iter().map(|g| g.to_string()).collect();
            choose_mpm("start-server", &given, &dir)
        };
        assert_eq!(choose(&[]).unwrap(), "event", "our default");
        assert_eq!(choose(&["prefork", "worker"]).unwrap(), "worker");
        // event is preferred but not installed here.
        assert_eq!(choose(&["event", "prefork"]).unwrap(), "prefork");
        let e = choose(&["event"]).unwrap_err().to_string();
        assert!(e.contains("no such MPM module"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn https_needs_a_port_a_certificate_and_a_key() {
        let dir = env::temp_dir().join(format!("wsgirt-express-https-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["site.crt", "site.key", "ca.crt"] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let run = |a: &HttpsArgs| {
            let mut warnings = Vec::new();
            let r = resolve_https("start-server", &dir, a, 8000, &mut warnings);
            (r, warnings)
        };
        // Nothing asked for.
        let (r, w) = run(&HttpsArgs::default());
        assert_eq!(r.unwrap(), None);
        assert!(w.is_empty());
        // --ssl-certificate PREFIX: PREFIX.crt and PREFIX.key, made absolute.
        let a = HttpsArgs {
            port: Some(8443),
            certificate: Some("site".into()),
            certificate_file: Some("ignored.crt".into()),
            ca_certificate_file: Some("ca.crt".into()),
            hsts_policy: Some("max-age=1".into()),
            ..HttpsArgs::default()
        };
        let (r, w) = run(&a);
        let h = r.unwrap().unwrap();
        assert_eq!(h.certificate_file, dir.join("site.crt"));
        assert_eq!(h.certificate_key_file, dir.join("site.key"));
        assert_eq!(h.ca_certificate_file, Some(dir.join("ca.crt")));
        // HSTS only with --https-only, as in 4.9.4: warned and dropped.
        assert_eq!(h.hsts_policy, None);
        assert_eq!(w, ["--hsts-policy only applies with --https-only; ignored"]);

        let usage = |a: &HttpsArgs| match run(a).0 {
            Err(e) => e.to_string(),
            Ok(h) => panic!("accepted: {h:?}"),
        };
        let port_only = HttpsArgs {
            port: Some(8443),
            certificate_file: Some("site.crt".into()),
            ..HttpsArgs::default()
        };
        assert!(usage(&port_only).contains("needs --ssl-certificate-file"));
        let missing = HttpsArgs {
            certificate: Some("nothere".into()),
            ..port_only.clone()
        };
        assert!(usage(&missing).contains("nothere.crt does not exist"));
        let same_port = HttpsArgs {
            port: Some(8000),
            certificate: Some("site".into()),
            ..HttpsArgs::default()
        };
        assert!(usage(&same_port).contains("also the HTTP --port"));
        let only = HttpsArgs {
            https_only: true,
            ..HttpsArgs::default()
        };
        assert!(usage(&only).contains("--https-only needs --https-port"));
        // Options without --https-port: warned about, ignored.
        let (r, w) = run(&HttpsArgs {
            certificate: Some("site".into()),
            environment: true,
            ..HttpsArgs::default()
        });
        assert_eq!(r.unwrap(), None);
        assert_eq!(
            w,
            ["--ssl-certificate, --ssl-environment only apply with --https-port; ignored"]
        );
        let (_, w) = run(&HttpsArgs {
            port: Some(8443),
            certificate: Some("site".into()),
            verify_client_urls: vec!["/admin".into()],
            ..HttpsArgs::default()
        });
        assert!(w[0].contains("--ssl-verify-client needs --ssl-ca-certificate-file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lexical_absolute_paths() {
        let cwd = Path::new("/home/u/proj");
        assert_eq!(
            absolute(cwd, Path::new("app.wsgi")),
            PathBuf::from("/home/u/proj/app.wsgi")
        );
        assert_eq!(
            absolute(cwd, Path::new("../x/./y")),
            PathBuf::from("/home/u/x/y")
        );
        assert_eq!(absolute(cwd, Path::new("/abs")), PathBuf::from("/abs"));
    }

    #[test]
    fn text_checks() {
        assert!(check_text("x", "/ok path").is_ok());
        assert!(check_text("x", "/a\nb").is_err());
        assert!(check_text("x", "/a/${HOME}")
            .unwrap_err()
            .to_string()
            .contains("variable"));
    }

    #[test]
    fn locale_choice() {
        assert_eq!(choose_locale(None, None, None, None), "C.UTF-8");
        assert_eq!(choose_locale(None, None, None, Some("C")), "C.UTF-8");
        assert_eq!(
            choose_locale(None, Some("POSIX"), None, Some("de_DE.UTF-8")),
            "C.UTF-8"
        );
        assert_eq!(
            choose_locale(None, None, None, Some("en_GB.UTF-8")),
            "en_GB.UTF-8"
        );
        assert_eq!(
            choose_locale(None, Some(""), Some("fr_FR.UTF-8"), Some("C")),
            "fr_FR.UTF-8"
        );
        // --locale wins over the environment, and c/posix are upgraded too.
        assert_eq!(
            choose_locale(Some("C.utf8"), Some("fr_FR.UTF-8"), None, None),
            "C.utf8"
        );
        assert_eq!(choose_locale(Some("posix"), None, None, None), "C.UTF-8");
    }

    #[test]
    fn mount_points() {
        assert_eq!(normalize_mount_point("/"), "/");
        assert_eq!(normalize_mount_point(""), "/");
        assert_eq!(normalize_mount_point("app"), "/app");
        assert_eq!(normalize_mount_point("/app/"), "/app");
        assert_eq!(normalize_mount_point("/a//b/./c/../d"), "/a/b/d");
    }

    #[test]
    fn wildcard_paths_warn() {
        let mut w = Vec::new();
        wildcard_warning("d", Path::new("/srv/app"), &mut w);
        assert!(w.is_empty());
        wildcard_warning("d", Path::new("/srv/app[1]"), &mut w);
        assert_eq!(w.len(), 1);
    }
}
