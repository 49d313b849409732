//! wsgirt-express: the mod_wsgi-express equivalent for wsgirt.
//!
//! `start-server` writes a self-contained Apache server root for one WSGI
//! script and execs Apache in the foreground with wsgirt's module;
//! `setup-server` only writes it; `module-config` and `module-location`
//! help wire the module into an existing Apache. See docs/express.md.
//!
//! Modules, one concern each:
//! - `args`: command line and help text
//! - `resolve`: options -> `ServerConfig` (paths, defaults, checks)
//! - `config`: `ServerConfig` and the `httpd.conf` renderer
//! - `layout`: the server root directory and its files
//! - `module`: locating the module and its Python
//! - `apache`: locating and running Apache
//! - `users`: process identity, Apache `User`/`Group`

mod apache;
mod args;
mod config;
mod error;
mod layout;
mod module;
mod resolve;
mod users;

use std::io::Write as _;
use std::process::ExitCode;

use args::{Command, ModuleArgs, ServerArgs};
use config::{quote, Mode};
use error::{Error, Result};
use resolve::Resolved;

fn main() -> ExitCode {
    let argv: Vec<_> = std::env::args_os().skip(1).collect();
    match args::parse(&argv).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("wsgirt-express: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cmd: Command) -> Result<()> {
    match cmd {
        Command::Help => print!("{}", args::main_help()),
        Command::Version => println!("wsgirt-express {}", env!("CARGO_PKG_VERSION")),
        Command::HelpFor(name) => print!("{}", args::command_help(name)),
        Command::ModuleLocation(m) => println!("{}", module_path(&m)?.display()),
        Command::ModuleConfig(m) => module_config(&m)?,
        Command::SetupServer(s) => {
            setup("setup-server", &s, true)?;
        }
        Command::StartServer(s) => start("start-server", &s)?,
    }
    Ok(())
}

fn module_path(m: &ModuleArgs) -> Result<std::path::PathBuf> {
    module::locate(m.module_path.as_deref()).map_err(Error::fatal)
}

/// Prints the lines to add to an existing Apache config. mod_wsgi-express
/// also prints a `LoadFile` for libpython, but only on macOS framework
/// builds; our module has libpython as a DT_NEEDED entry, so the dynamic
/// loader maps it when Apache loads the module (see docs/express.md).
fn module_config(m: &ModuleArgs) -> Result<()> {
    let path = module_path(m)?;
    let python = module::python_info(&module::python_executable()).map_err(Error::fatal)?;
    println!(
        "LoadModule wsgi_module {}",
        quote(&path.display().to_string())
    );
    println!(
        "WSGIPythonHome {}",
        quote(&python.prefix.display().to_string())
    );
    Ok(())
}

/// Resolves the options, writes the server root and prints the summary.
fn setup(cmd: &'static str, s: &ServerArgs, setup_only: bool) -> Result<Resolved> {
    let resolved = resolve::resolve(cmd, s)?;
    for w in &resolved.warnings {
        eprintln!("wsgirt-express: warning: {w}");
    }
    let c = &resolved.config;
    layout::prepare_server_root(&c.server_root, users::Identity::current().euid)
        .map_err(Error::fatal)?;
    layout::write_server_root(c, resolved.welcome_page).map_err(Error::fatal)?;
    print_summary(&resolved, setup_only);
    Ok(resolved)
}

fn print_summary(r: &Resolved, setup_only: bool) {
    let mut out = std::io::stdout().lock();
    for (label, value) in summary_lines(r, setup_only) {
        let _ = writeln!(out, "{label:<19}: {value}");
    }
    let _ = out.flush();
}

/// The startup summary, in mod_wsgi-express 4.9.4's order and wording, so
/// what people and scripts read from it is where they expect it. Our own
/// lines (the script, the module, Python, Apache) sit just before the
/// closing `Locale Setting`. 4.9.4's `Rewrite Rules` line has no
/// counterpart (there is no `rewrite.conf`).
fn summary_lines(r: &Resolved, setup_only: bool) -> Vec<(&'static str, String)> {
    let c = &r.config;
    let root = &c.server_root;
    let mut lines: Vec<(&str, String)> = vec![("Server URL", c.url())];
    if let Some(url) = c.https_url() {
        lines.push(("Server URL (HTTPS)", url));
    }
    if c.server_status {
        lines.push(("Server Status", c.server_status_url()));
    }
    lines.extend([
        ("Server Root", root.display().to_string()),
        ("Server Conf", c.httpd_conf().display().to_string()),
        (
            "Error Log File",
            format!("{} ({})", c.error_log(), c.log_level),
        ),
    ]);
    if let Some(access) = c.access_log_file() {
        lines.push(("Access Log File", access));
    }
    if let Some(startup) = c.startup_log_file() {
        lines.push(("Startup Log File", startup));
    }
    if let Some(d) = &c.debug {
        if let Some(dir) = &d.profiler_directory {
            lines.push(("Profiler Output", dir.display().to_string()));
        }
        if let Some(dir) = &d.recorder_directory {
            lines.push(("Recorder Output", dir.display().to_string()));
        }
    }
    if let Some(script) = &c.envvars_script {
        lines.push(("Environ Variables", script.display().to_string()));
    } else if setup_only {
        lines.push((
            "Environ Variables",
            root.join("envvars").display().to_string(),
        ));
    }
    if setup_only {
        lines.push((
            "Control Script",
            root.join("apachectl").display().to_string(),
        ));
    }
    if let Some(module) = &c.application_module {
        lines.push(("Application Type", "module".to_string()));
        lines.push(("Entry Point", module.clone()));
    }
    lines.push(("WSGI Script", c.script.display().to_string()));
    lines.push(("Operating Mode", c.operating_mode().to_string()));
    lines.push((
        "Request Capacity",
        format!(
            "{} ({} process{} * {} threads)",
            c.processes * c.threads,
            c.processes,
            if c.processes == 1 { "" } else { "es" },
            c.threads
        ),
    ));
    if c.mode == Mode::Daemon {
        let d = &c.daemon;
        lines.push((
            "Request Timeout",
            format!("{} (seconds)", d.request_timeout),
        ));
        if d.startup_timeout > 0 {
            lines.push((
                "Startup Timeout",
                format!("{} (seconds)", d.startup_timeout),
            ));
        }
        lines.push((
            "Queue Backlog",
            format!("{} (connections)", d.listen_backlog),
        ));
        lines.push(("Queue Timeout", format!("{} (seconds)", d.queue_timeout)));
        let front = config::daemon_front_end_sizing(c.processes, c.threads, d);
        let prefork = config::daemon_prefork_sizing(c.processes, c.threads, d);
        lines.push((
            "Server Capacity",
            format!(
                "{} (event/worker), {} (prefork)",
                front.max_request_workers, prefork.max_request_workers
            ),
        ));
    }
    lines.push((
        "Server Backlog",
        format!("{} (connections)", c.server_backlog),
    ));
    lines.push(("WSGI Module", c.module_path.display().to_string()));
    if let Some(p) = &r.python {
        lines.push((
            "Python Home",
            format!("{} (Python {})", p.prefix.display(), p.version),
        ));
    }
    lines.push(("Apache", c.httpd.display().to_string()));
    lines.push(("Locale Setting", c.locale.clone()));
    lines
}

/// Sets up, then replaces this process with Apache in the foreground.
fn start(cmd: &'static str, s: &ServerArgs) -> Result<()> {
    let resolved = setup(cmd, s, false)?;
    let c = &resolved.config;
    // Apache gets what apachectl would give it: our environment, the
    // control variables, then whatever ROOT/envvars exports.
    let env = apache::environment_after(
        &c.server_root.join("envvars"),
        &c.working_directory,
        &layout::control_environment(c),
    )
    .map_err(Error::fatal)?;
    let err = apache::exec_foreground(
        &c.httpd,
        &c.httpd_conf(),
        &c.httpd_args(),
        &c.argv0(),
        &c.working_directory,
        &env,
    );
    Err(Error::fatal(format!(
        "cannot execute {}: {err}",
        c.httpd.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(r: &Resolved, setup_only: bool) -> Vec<&'static str> {
        summary_lines(r, setup_only)
            .into_iter()
            .map(|(l, _)| l)
            .collect()
    }

    #[test]
    fn summary_follows_mod_wsgi_express_4_9_4() {
        let mut r = Resolved {
            config: config::tests::sample(),
            welcome_page: false,
            warnings: Vec::new(),
            python: None,
        };
        r.config.mode = Mode::Daemon;
        r.config.server_status = true;
        assert_eq!(
            labels(&r, true),
            [
                "Server URL",
                "Server Status",
                "Server Root",
                "Server Conf",
                "Error Log File",
                "Environ Variables",
                "Control Script",
                "WSGI Script",
                "Operating Mode",
                "Request Capacity",
                "Request Timeout",
                "Startup Timeout",
                "Queue Backlog",
                "Queue Timeout",
                "Server Capacity",
                "Server Backlog",
                "WSGI Module",
                "Apache",
                "Locale Setting",
            ]
        );
        let lines = summary_lines(&r, false);
        let value = |label: &str| {
            lines
                .iter()
                .find(|(l, _)| *l == label)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(value("Startup Timeout"), "15 (seconds)");
        assert_eq!(value("Queue Backlog"), "100 (connections)");
        assert_eq!(value("Server Capacity"), "20 (event/worker), 20 (prefork)");
        assert_eq!(value("Server Backlog"), "500 (connections)");

        // 4.9.4 leaves Startup Timeout out at 0, and embedded mode prints
        // none of the daemon lines.
        r.config.daemon.startup_timeout = 0;
        assert!(!labels(&r, false).contains(&"Startup Timeout"));
        r.config.mode = Mode::Embedded;
        let embedded = labels(&r, false);
        for daemon_only in [
            "Request Timeout",
            "Queue Backlog",
            "Queue Timeout",
            "Server Capacity",
        ] {
            assert!(!embedded.contains(&daemon_only), "{daemon_only}");
        }
        assert!(embedded.contains(&"Server Backlog"));
    }
}
