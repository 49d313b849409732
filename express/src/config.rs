//! The resolved server description and the `httpd.conf` it renders to.
//!
//! Everything here is pure: `ServerConfig` holds absolute paths and final
//! values (see `resolve.rs` for how they are found) and `render_httpd_conf`
//! turns it into text. The file is built from independent sections so the
//! embedded/daemon choice only swaps two of them: `mpm_*` (how Apache's
//! children are sized) and `wsgi_*_block` (where the application runs).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Where the WSGI application runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Inside the Apache child processes (mpm_event sized processes x threads).
    Embedded,
    /// In a `WSGIDaemonProcess` group named `HOST:PORT`, as mod_wsgi-express
    /// does; Apache's children only proxy to it.
    Daemon,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Embedded => "embedded",
            Mode::Daemon => "daemon",
        }
    }
}

/// A fraction of `--max-clients` in 0..=1 (`--initial-workers` and the
/// spare-worker options), kept as the float mod_wsgi-express multiplies
/// with so the truncated results match it exactly. Never NaN (checked when
/// parsed), hence `Eq`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fraction(pub f64);

impl Eq for Fraction {}

impl Fraction {
    /// Python's `int(fraction * n)`.
    fn of(self, n: u32) -> u32 {
        (self.0 * f64::from(n)) as u32
    }
}

/// `WSGIDaemonProcess` tuning, with mod_wsgi-express 4.6 defaults. Used only
/// in daemon mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonSettings {
    pub request_timeout: u32,
    pub queue_timeout: u32,
    pub connect_timeout: u32,
    pub startup_timeout: u32,
    pub deadlock_timeout: u32,
    pub graceful_timeout: u32,
    pub eviction_timeout: u32,
    pub shutdown_timeout: u32,
    pub inactivity_timeout: u32,
    pub restart_interval: u32,
    pub cpu_time_limit: u32,
    pub listen_backlog: u32,
    /// `send-buffer-size=` .. `response-socket-timeout=`: 0 means the
    /// module's default, as in mod_wsgi.
    pub send_buffer_size: u32,
    pub receive_buffer_size: u32,
    pub header_buffer_size: u32,
    pub response_buffer_size: u32,
    pub response_socket_timeout: u32,
    /// `--max-clients`: sizes Apache's proxying front end.
    pub max_clients: Option<u32>,
    /// `--initial-workers`, `--minimum-spare-workers`,
    /// `--maximum-spare-workers`: the front end's `StartServers`,
    /// `MinSpareThreads`, `MaxSpareThreads` as fractions of its children.
    pub initial_workers: Option<Fraction>,
    pub minimum_spare_workers: Option<Fraction>,
    pub maximum_spare_workers: Option<Fraction>,
}

impl Default for DaemonSettings {
    fn default() -> Self {
        DaemonSettings {
            request_timeout: 60,
            queue_timeout: 45,
            connect_timeout: 15,
            startup_timeout: 15,
            deadlock_timeout: 60,
            graceful_timeout: 15,
            eviction_timeout: 0,
            shutdown_timeout: 5,
            inactivity_timeout: 0,
            restart_interval: 0,
            cpu_time_limit: 0,
            listen_backlog: 100,
            send_buffer_size: 0,
            receive_buffer_size: 0,
            header_buffer_size: 0,
            response_buffer_size: 0,
            response_socket_timeout: 0,
            max_clients: None,
            initial_workers: None,
            minimum_spare_workers: None,
            maximum_spare_workers: None,
        }
    }
}

/// mod_reqtimeout's limits on reading a request (`--header-timeout` ..
/// `--body-min-rate`), with mod_wsgi-express 4.9.4's defaults. 0 leaves a
/// part out, as 4.9.4 does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadTimeouts {
    pub header: u32,
    pub header_max: u32,
    pub header_min_rate: u32,
    pub body: u32,
    pub body_max: u32,
    pub body_min_rate: u32,
}

impl Default for ReadTimeouts {
    fn default() -> Self {
        ReadTimeouts {
            header: 15,
            header_max: 30,
            header_min_rate: 500,
            body: 15,
            body_max: 0,
            body_min_rate: 500,
        }
    }
}

impl ReadTimeouts {
    /// The `RequestReadTimeout` arguments, composed as 4.9.4 composes them:
    /// `header=T[-MAX][,MinRate=R] body=T[-MAX][,MinRate=R]`, a part only
    /// when its timeout is above 0. With both at 0, 4.9.4 writes the
    /// directive with no arguments, which Apache rejects; we write
    /// `header=0 body=0` (no limits), what the user asked for.
    pub fn directive_value(&self) -> String {
        let part = |name: &str, timeout: u32, max: u32, rate: u32| {
            let mut p = format!("{name}={timeout}");
            if max > 0 {
                p.push_str(&format!("-{max}"));
            }
            if rate > 0 {
                p.push_str(&format!(",MinRate={rate}"));
            }
            p
        };
        let mut parts = Vec::new();
        if self.header > 0 {
            parts.push(part(
                "header",
                self.header,
                self.header_max,
                self.header_min_rate,
            ));
        }
        if self.body > 0 {
            parts.push(part("body", self.body, self.body_max, self.body_min_rate));
        }
        if parts.is_empty() {
            "header=0 body=0".into()
        } else {
            parts.join(" ")
        }
    }
}

/// mod_wsgi-express 4.9.4's switches that map one to one onto Apache or
/// module directives. All off or empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    /// `--chunked-request`: `WSGIChunkedRequest On`.
    pub chunked_request: bool,
    /// `--enable-sendfile`: `EnableSendfile On`, `WSGIEnableSendfile On`.
    pub enable_sendfile: bool,
    /// `--error-override`: `WSGIErrorOverride On` (daemon mode).
    pub error_override: bool,
    /// `--orphan-interpreter`: `WSGIDestroyInterpreter Off`.
    pub orphan_interpreter: bool,
    /// `--disable-reloading`: `WSGIScriptReloading Off`, whatever else.
    pub disable_reloading: bool,
    /// `--compress-responses`: mod_deflate on common text types.
    pub compress_responses: bool,
    /// `--trust-proxy-header`: `WSGITrustedProxyHeaders`.
    pub trusted_proxy_headers: Vec<String>,
    /// `--trust-proxy`: `WSGITrustedProxies`.
    pub trusted_proxies: Vec<String>,
    /// `--passenv`: `PassEnv`.
    pub passenv: Vec<String>,
    /// `--http2`: mod_http2 and `Protocols h2 h2c http/1.1`.
    pub http2: bool,
}

/// `--proxy-mount-point` (`--proxy-url-alias`) and `--proxy-virtual-host`:
/// requests passed on to other HTTP servers by mod_proxy_http, as
/// mod_wsgi-express 4.9.4 writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    /// `(URL-PATH, URL)` pairs, in the order given.
    pub mount_points: Vec<(String, String)>,
    /// `(HOSTNAME, URL)` pairs, in the order given.
    pub virtual_hosts: Vec<(String, String)>,
}

impl Proxies {
    pub fn any(&self) -> bool {
        !(self.mount_points.is_empty() && self.virtual_hosts.is_empty())
    }
}

/// `--debug-mode` and its tools, as mod_wsgi-express 4.9.4 arranges them:
/// Apache in one process (`-DONE_PROCESS`, in the foreground), the
/// application embedded in it on one thread with reloading off, loaded and
/// wrapped by the generated `SERVER-ROOT/debug.wsgi` (the WSGI script).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugMode {
    /// What `debug.wsgi` loads: the user's script, or the generated
    /// `module.wsgi` / `default.wsgi`.
    pub target: PathBuf,
    /// `--enable-debugger`: pdb post-mortem on an escaping exception.
    pub enable_debugger: bool,
    /// `--debugger-startup`: pdb once the application is loaded.
    pub debugger_startup: bool,
    /// `--enable-profiler`: a pstats file per request here.
    pub profiler_directory: Option<PathBuf>,
    /// `--enable-recorder`: each request's files here.
    pub recorder_directory: Option<PathBuf>,
}

/// mod_wsgi's hook scripts over the whole site (`<Location />`), as
/// mod_wsgi-express 4.9.4 writes them: `--host-access-script`
/// (`WSGIAccessScript`), `--auth-user-script` (`WSGIAuthUserScript`, the
/// `wsgi` authentication provider of `--auth-type`), `--auth-group-script`
/// (`WSGIAuthGroupScript`, `Require wsgi-group --auth-group`). The scripts
/// run in Apache's children, whatever the mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookScripts {
    pub host_access_script: Option<PathBuf>,
    pub auth_user_script: Option<PathBuf>,
    /// Used only with `auth_user_script`, as in 4.9.4.
    pub auth_group_script: Option<PathBuf>,
    /// `Basic` or `Digest`.
    pub auth_type: String,
    pub auth_group: String,
}

impl Default for HookScripts {
    fn default() -> Self {
        HookScripts {
            host_access_script: None,
            auth_user_script: None,
            auth_group_script: None,
            auth_type: "Basic".into(),
            auth_group: "wsgi".into(),
        }
    }
}

/// How the document root is served, as mod_wsgi-express 4.9.4 writes it
/// into the document root's `<Directory>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteOptions {
    /// `--directory-index NAME`: `DirectoryIndex NAME`, and directories of
    /// the document root are served statically instead of by the
    /// application.
    pub directory_index: Option<String>,
    /// `--directory-listing`: `Options +Indexes` (mod_autoindex).
    pub directory_listing: bool,
    /// `--allow-override TYPE` (repeatable): `AllowOverride TYPE...`;
    /// empty is `None`.
    pub allow_override: Vec<String>,
}

impl SiteOptions {
    /// The `AllowOverride` value for the document root and `--url-alias`
    /// directories.
    pub fn allow_override(&self) -> String {
        if self.allow_override.is_empty() {
            "None".into()
        } else {
            self.allow_override.join(" ")
        }
    }
}

/// `--rotate-logs`: the error and access logs go through Apache's
/// `rotatelogs`, which starts a new, time-stamped file when one reaches
/// `max_log_size` MB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRotation {
    pub executable: PathBuf,
    pub max_log_size: u32,
}

impl LogRotation {
    /// A piped log target: `|'rotatelogs' 'FILE.%Y-%m-%d-%H_%M_%S' NM`,
    /// 4.9.4's names and size, run by Apache through `/bin/sh`, hence the
    /// shell quoting.
    pub fn pipe(&self, file: &str) -> String {
        format!(
            "|{} {} {}M",
            crate::layout::sh_quote(&self.executable.display().to_string()),
            crate::layout::sh_quote(&format!("{file}.%Y-%m-%d-%H_%M_%S")),
            self.max_log_size
        )
    }
}

/// HTTPS: `--https-port` with its certificate and the other `--ssl-*`
/// options, resolved (absolute paths that exist). The site is served on
/// both ports; mod_ssl does the TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Https {
    pub port: u16,
    pub certificate_file: PathBuf,
    pub certificate_key_file: PathBuf,
    pub certificate_chain_file: Option<PathBuf>,
    /// `--ssl-ca-certificate-file`: client certificates are checked
    /// against it, under `verify_client_urls` (`/` when empty).
    pub ca_certificate_file: Option<PathBuf>,
    pub verify_client_urls: Vec<String>,
    /// `--ssl-environment`: `SSLOptions +StdEnvVars`.
    pub environment: bool,
    /// `--https-only`: plain HTTP requests are redirected to HTTPS.
    pub https_only: bool,
    /// `--hsts-policy`, kept only with `https_only` (as in 4.9.4).
    pub hsts_policy: Option<String>,
}

/// A `--service-script`: a `threads=0` daemon group `service:NAME` that
/// imports the script at start and runs it as its whole job, as
/// mod_wsgi-express 4.9.4 does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    /// Absolute.
    pub script: PathBuf,
    /// `--service-user` / `--service-group`, else Apache's `User`/`Group`.
    pub user: String,
    pub group: String,
    /// `--service-log-file`: a file name in the log directory.
    pub log_file: Option<String>,
}

impl Service {
    /// The daemon process group, as in 4.9.4.
    pub fn group_name(&self) -> String {
        format!("service:{}", self.name)
    }
}

/// The address of the virtual host that carries a service's `ErrorLog`:
/// mod_wsgi logs a daemon group to the error log of the server it is
/// defined in, so the group needs a virtual host of its own. TEST-NET-1
/// (RFC 5737) is never a local address, so no request ever lands there and
/// the site keeps being served (and logged) by the hosts above.
pub const SERVICE_LOG_HOST: &str = "192.0.2.1";

/// The types 4.9.4 compresses with `--compress-responses`.
const COMPRESSED_TYPES: &[&str] = &[
    "text/plain",
    "text/html",
    "text/xml",
    "text/css",
    "text/javascript",
    "application/xhtml+xml",
    "application/javascript",
    "application/json",
];

/// A `--url-alias` target, classified the way mod_wsgi-express does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasTarget {
    /// A directory, or a path that does not exist (yet).
    Directory(PathBuf),
    /// A single existing file.
    File { directory: PathBuf, name: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlAlias {
    pub url: String,
    pub target: AliasTarget,
}

/// Everything needed to write a server root. All paths are absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub mode: Mode,
    pub script: PathBuf,
    pub callable_object: String,
    /// `--host`, if given; `None` listens on all interfaces.
    pub listen_host: Option<String>,
    /// The host part of the server name, root name and URL (`localhost`
    /// when no `--host`).
    pub host: String,
    pub port: u16,
    pub processes: u32,
    /// True when `--processes` was given (daemon mode `processes=N`).
    pub multiprocess: bool,
    pub threads: u32,
    pub uid: u32,
    pub server_root: PathBuf,
    pub working_directory: PathBuf,
    /// The Python module search path additions, in order.
    pub python_paths: Vec<PathBuf>,
    /// `WSGIPythonHome`; `None` leaves it to the module's built-in default.
    pub python_home: Option<PathBuf>,
    pub module_path: PathBuf,
    pub modules_directory: PathBuf,
    pub mime_types: PathBuf,
    pub user: String,
    pub group: String,
    pub log_level: String,
    pub log_to_terminal: bool,
    pub access_log: bool,
    /// `--access-log-format`: `common`, `combined` or a format string.
    pub access_log_format: Option<String>,
    /// `--error-log-format`: `ErrorLogFormat`.
    pub error_log_format: Option<String>,
    /// File names in the log directory (`--error-log-name` and friends).
    pub error_log_name: String,
    pub access_log_name: String,
    pub startup_log_name: String,
    pub url_aliases: Vec<UrlAlias>,
    /// `--application-type module`: the module imported by the generated
    /// `script`.
    pub application_module: Option<String>,
    /// `--mount-point`: `/`, or a path without a trailing slash.
    pub mount_point: String,
    /// `DocumentRoot`: `--document-root`, else `SERVER-ROOT/htdocs`.
    pub document_root: PathBuf,
    /// `--setenv` pairs, in order.
    pub setenv: Vec<(String, String)>,
    /// `--include-file`s, absolute, in order.
    pub include_files: Vec<PathBuf>,
    /// `--envvars-script`, absolute: `envvars` then only sources it.
    pub envvars_script: Option<PathBuf>,
    /// Where the log files go (`--log-directory`, else the server root).
    pub log_directory: PathBuf,
    /// `--startup-log`: `httpd -E` to a file (or stderr).
    pub startup_log: bool,
    pub reload_on_changes: bool,
    pub map_head_to_get: String,
    pub keep_alive_timeout: u32,
    pub limit_request_body: u64,
    pub socket_timeout: u32,
    pub server_backlog: u32,
    pub maximum_requests: u32,
    pub read_timeouts: ReadTimeouts,
    pub features: Features,
    /// `PidFile`: `--pid-file`, else `SERVER-ROOT/httpd.pid`.
    pub pid_file: PathBuf,
    /// `--process-name`: Apache's `argv[0]` instead of
    /// `apache2 (wsgirt-express)`.
    pub process_name: Option<String>,
    /// `WSGISocketPrefix`: `--socket-prefix DIR` + `/wsgi`, else
    /// `SERVER-ROOT/wsgi`.
    pub socket_prefix: PathBuf,
    /// `--error-document STATUS URL`s: `ErrorDocument`.
    pub error_documents: Vec<(u16, String)>,
    /// `--ignore-activity URL`s: `WSGIIgnoreActivity On` there.
    pub ignore_activity: Vec<String>,
    /// `--server-name`: serve only this host name (and `server_aliases`),
    /// through name-based virtual hosts; other names get 403.
    pub server_name: Option<String>,
    /// `--server-alias`es (wildcards allowed).
    pub server_aliases: Vec<String>,
    /// `--allow-localhost`: clients on localhost may use any host name.
    pub allow_localhost: bool,
    pub daemon: DaemonSettings,
    pub locale: String,
    pub httpd: PathBuf,
    /// `--server-status`: mod_status at `/server-status` (localhost only).
    pub server_status: bool,
    /// `--python-eggs`, else `SERVER-ROOT/python-eggs`: `python-eggs=`
    /// (`PYTHON_EGG_CACHE`) of the daemon processes.
    pub python_eggs: PathBuf,
    /// Who gets `python_eggs` when it is made: Apache's run user and group
    /// when started as root (so the daemons can write there), else `None`.
    pub python_eggs_owner: Option<(u32, u32)>,
    /// `--server-metrics`: `mod_wsgi.server_metrics()` in the application.
    pub server_metrics: bool,
    /// `--host-access-script`, `--auth-user-script` and friends.
    pub hooks: HookScripts,
    /// `--directory-index`, `--directory-listing`, `--allow-override`.
    pub site: SiteOptions,
    /// `--rotate-logs` (not with `--log-to-terminal`, as in 4.9.4).
    pub log_rotation: Option<LogRotation>,
    /// `--https-port` and the `--ssl-*` options.
    pub https: Option<Https>,
    /// The MPM loaded when httpd has none built in: `event`, or the
    /// `--server-mpm` choice (`event`, `worker` or `prefork`).
    pub server_mpm: String,
    /// The Python behind `WSGIPythonHome`; `apachectl status` fetches the
    /// status page with it. `None` when it could not be run.
    pub python_executable: Option<PathBuf>,
    /// `--service-script`s, in the order given.
    pub services: Vec<Service>,
    /// `--proxy-mount-point`s and `--proxy-virtual-host`s.
    pub proxies: Proxies,
    /// `--debug-mode` (then `mode` is embedded, one process, one thread).
    pub debug: Option<DebugMode>,
}

impl ServerConfig {
    pub fn httpd_conf(&self) -> PathBuf {
        self.server_root.join("httpd.conf")
    }

    /// The default document root inside a server root.
    pub fn default_document_root(server_root: &Path) -> PathBuf {
        server_root.join("htdocs")
    }

    /// `ErrorLog` target.
    pub fn error_log(&self) -> String {
        if self.log_to_terminal {
            "/dev/stderr".into()
        } else {
            self.log_directory
                .join(&self.error_log_name)
                .display()
                .to_string()
        }
    }

    /// `CustomLog` target, when the access log is on.
    pub fn access_log_file(&self) -> Option<String> {
        match (self.access_log, self.log_to_terminal) {
            (false, _) => None,
            (true, true) => Some("/dev/stdout".into()),
            (true, false) => Some(
                self.log_directory
                    .join(&self.access_log_name)
                    .display()
                    .to_string(),
            ),
        }
    }

    /// Where `httpd -E` sends Apache's startup messages, with
    /// `--startup-log`.
    pub fn startup_log_file(&self) -> Option<String> {
        match (self.startup_log, self.log_to_terminal) {
            (false, _) => None,
            (true, true) => Some("/dev/stderr".into()),
            (true, false) => Some(
                self.log_directory
                    .join(&self.startup_log_name)
                    .display()
                    .to_string(),
            ),
        }
    }

    /// Arguments for httpd besides `-f CONF` and `-k ...`, used by both
    /// start-server and apachectl.
    pub fn httpd_args(&self) -> Vec<String> {
        let mut args = match self.startup_log_file() {
            Some(file) => vec!["-E".into(), file],
            None => Vec::new(),
        };
        if self.debug.is_some() {
            // What 4.9.4 passes for --debug-mode: the MPM serves from the
            // process Apache started in, with no children.
            args.push("-DONE_PROCESS".into());
        }
        args
    }

    /// 4.9.4's `Operating Mode`: `debug`, else the mode's name.
    pub fn operating_mode(&self) -> &'static str {
        if self.debug.is_some() {
            "debug"
        } else {
            self.mode.name()
        }
    }

    /// The address part of `Listen` and URLs (`[::1]` for IPv6).
    fn bracketed(host: &str) -> String {
        if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_string()
        }
    }

    pub fn listen(&self) -> String {
        self.listen_on(self.port)
    }

    /// `Listen` for `port` on `--host` (or every interface).
    fn listen_on(&self, port: u16) -> String {
        match &self.listen_host {
            Some(h) => format!("{}:{port}", Self::bracketed(h)),
            None => port.to_string(),
        }
    }

    /// The site's HTTPS URL (4.9.4's `Server URL (HTTPS)`), with
    /// `--https-port`.
    pub fn https_url(&self) -> Option<String> {
        let port = self.https.as_ref()?.port;
        let host = Self::bracketed(self.server_name.as_deref().unwrap_or(&self.host));
        Some(if port == 443 {
            format!("https://{host}/")
        } else {
            format!("https://{host}:{port}/")
        })
    }

    /// The site's URL: with `--server-name` that name, else the host (as
    /// 4.9.4's `Server URL`).
    pub fn url(&self) -> String {
        let host = Self::bracketed(self.server_name.as_deref().unwrap_or(&self.host));
        if self.port == 80 {
            format!("http://{host}/")
        } else {
            format!("http://{host}:{}/", self.port)
        }
    }

    /// The daemon process group name, `HOST:PORT` as in mod_wsgi-express.
    pub fn daemon_group(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// `display-name=` of the daemon processes, as in mod_wsgi-express.
    pub fn daemon_display_name(&self) -> String {
        format!("(wsgi:{}:{}:{})", self.host, self.port, self.uid)
    }

    /// Apache's `argv[0]` (`--process-name`, else `apache2
    /// (wsgirt-express)`): mod_wsgi writes `display-name` over the argv
    /// area in place, so it is padded to fit the daemon name (what
    /// mod_wsgi-express does with `exec -a`).
    pub fn argv0(&self) -> String {
        let name = match &self.process_name {
            Some(name) => name.clone(),
            None => {
                let base = self
                    .httpd
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "httpd".into());
                format!("{base} (wsgirt-express)")
            }
        };
        // Services' processes are named `(wsgi:service:NAME)` (mod_wsgi's
        // %{GROUP}); 4.9.4 pads for the site's daemons only, which cuts
        // those names short.
        let width = self
            .services
            .iter()
            .map(|s| format!("(wsgi:{})", s.group_name()).len())
            .fold(self.daemon_display_name().len(), usize::max);
        format!("{name:<width$}")
    }

    /// The mod_status page's URL, as the summary prints it.
    pub fn server_status_url(&self) -> String {
        format!("{}server-status", self.url())
    }

    /// Where `apachectl status` connects: `--host` or `localhost`, as
    /// mod_wsgi-express's `STATUSURL` (it sends `--server-name` as the
    /// `Host`, so that the right virtual host answers).
    pub fn status_fetch_url(&self) -> String {
        format!(
            "http://{}:{}/server-status",
            Self::bracketed(&self.host),
            self.port
        )
    }

    /// Whether the module re-imports the script when its file changes.
    /// Embedded mode: only with `--reload-on-changes` (mod_wsgi-express 4.8
    /// `--embedded-mode` disables reloading). Daemon mode: on, as in
    /// mod_wsgi-express 4.6 where a changed script restarts the daemon.
    /// `--disable-reloading` turns it off in any case (in 4.9.4 it also
    /// wins over `--reload-on-changes`).
    pub fn script_reloading(&self) -> bool {
        // Debug mode never reloads, as in 4.9.4.
        self.debug.is_none()
            && !self.features.disable_reloading
            && (self.reload_on_changes || self.mode == Mode::Daemon)
    }
}

/// Quotes a value for an Apache config line. Apache's tokenizer
/// (`ap_getword_conf`) unescapes `\\` and `\"` inside double quotes.
/// Values are checked for newlines and `${` in `resolve.rs`.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A URL path as an Apache argument: bare when it needs no quoting.
fn url_path(value: &str) -> String {
    if value.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\' || c == '\'') {
        quote(value)
    } else {
        value.to_string()
    }
}

/// A literal for a PCRE pattern (mod_rewrite), written unquoted: Apache's
/// tokenizer keeps a backslash inside quotes unless a quote follows it.
/// (The value has no whitespace or quotes; see `--directory-index`.)
fn regex_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn qp(path: &Path) -> String {
    quote(&path.display().to_string())
}

/// Front-end sizing for daemon mode, mod_wsgi-express 4.9.4's worker/event
/// formula (`--max-clients` default 10 + max(10, 1.5 x processes x threads),
/// split into children of at most 20 threads; of those children, 20%
/// started (`--initial-workers` 0.2), as many kept spare
/// (`--minimum-spare-workers`, default: the initial fraction) and at most
/// 60% spare (`--maximum-spare-workers` 0.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSizing {
    pub server_limit: u32,
    pub start_servers: u32,
    pub threads_per_child: u32,
    pub max_request_workers: u32,
    pub min_spare_threads: u32,
    pub max_spare_threads: u32,
}

/// How many client connections Apache's children accept in daemon mode,
/// as 4.9.4 computes it for every MPM: `--max-clients` (never below the
/// daemons' capacity), else 10 plus the larger of 10 and 1.5 x capacity.
fn daemon_max_clients(processes: u32, threads: u32, d: &DaemonSettings) -> u32 {
    let capacity = processes.saturating_mul(threads);
    match d.max_clients {
        Some(m) => m.max(capacity),
        None => 10 + 10u32.max(capacity.saturating_mul(3) / 2),
    }
}

pub fn daemon_front_end_sizing(processes: u32, threads: u32, d: &DaemonSettings) -> WorkerSizing {
    let max_clients = daemon_max_clients(processes, threads, d);
    let threads_per_child = if max_clients > 20 {
        max_clients / (max_clients / 20 + 1)
    } else {
        10
    };
    let server_limit = max_clients.div_ceil(threads_per_child);
    let initial = d.initial_workers.unwrap_or(Fraction(0.2));
    let min_spare = d.minimum_spare_workers.unwrap_or(initial);
    let max_spare = d.maximum_spare_workers.unwrap_or(Fraction(0.6));
    let start_servers = initial.of(server_limit).max(1);
    let min_spare_threads = threads_per_child.max(min_spare.of(server_limit) * threads_per_child);
    let max_spare_threads = threads_per_child.max(max_spare.of(server_limit) * threads_per_child);
    WorkerSizing {
        server_limit,
        start_servers,
        threads_per_child,
        max_request_workers: server_limit * threads_per_child,
        min_spare_threads,
        max_spare_threads,
    }
}

/// Embedded-mode sizing: Apache's children *are* the Python processes, so
/// exactly `processes` children of `threads` threads, never more and never
/// reaped for being idle (starting Python is expensive).
///
/// MinSpareThreads is 1 on purpose: with every child already running, any
/// value above 1 makes mpm_event log the misleading AH10159 "server is within
/// MinSpareThreads of MaxRequestWorkers" error as soon as one request is
/// busy; with 1 it only reports real saturation (AH00484). MaxSpareThreads
/// equal to the total means idle children are never stopped.
pub fn embedded_sizing(processes: u32, threads: u32) -> WorkerSizing {
    let total = processes.saturating_mul(threads);
    WorkerSizing {
        server_limit: processes,
        start_servers: processes,
        threads_per_child: threads,
        max_request_workers: total,
        min_spare_threads: 1,
        max_spare_threads: total,
    }
}

/// How 4.9.4 sizes mpm_prefork, whose children have one thread each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreforkSizing {
    pub server_limit: u32,
    pub start_servers: u32,
    pub max_request_workers: u32,
    pub min_spare_servers: u32,
    pub max_spare_servers: u32,
}

/// Daemon mode under prefork, as 4.9.4: the same `--max-clients` as
/// event/worker, in single-threaded children; of those, `initial x
/// clients` start (default 0.05, prefork's own), `minimum-spare x clients`
/// (default: initial) and `maximum-spare x clients` (default 0.1) are the
/// spare servers, each at least 1.
pub fn daemon_prefork_sizing(processes: u32, threads: u32, d: &DaemonSettings) -> PreforkSizing {
    let max_clients = daemon_max_clients(processes, threads, d);
    let initial = d.initial_workers.unwrap_or(Fraction(0.05));
    let min_spare = d.minimum_spare_workers.unwrap_or(initial);
    let max_spare = d.maximum_spare_workers.unwrap_or(Fraction(0.1));
    PreforkSizing {
        server_limit: max_clients,
        start_servers: initial.of(max_clients).max(1),
        max_request_workers: max_clients,
        min_spare_servers: min_spare.of(max_clients).max(1),
        max_spare_servers: max_spare.of(max_clients).max(1),
    }
}

/// Embedded mode under prefork, as 4.9.4: `processes x threads`
/// single-threaded children, all started and kept.
pub fn embedded_prefork_sizing(processes: u32, threads: u32) -> PreforkSizing {
    let total = processes.saturating_mul(threads);
    PreforkSizing {
        server_limit: total,
        start_servers: total,
        max_request_workers: total,
        min_spare_servers: total,
        max_spare_servers: total,
    }
}

/// Renders `httpd.conf`.
pub fn render_httpd_conf(c: &ServerConfig) -> String {
    let mut out = String::new();
    header(&mut out, c);
    core_section(&mut out, c);
    modules_section(&mut out, c);
    match c.mode {
        Mode::Embedded => mpm_section(&mut out, &embedded_sizing(c.processes, c.threads), c, false),
        Mode::Daemon => mpm_section(
            &mut out,
            &daemon_front_end_sizing(c.processes, c.threads, &c.daemon),
            c,
            true,
        ),
    }
    logging_section(&mut out, c);
    wsgi_common_section(&mut out, c);
    match c.mode {
        Mode::Embedded => wsgi_embedded_block(&mut out, c),
        Mode::Daemon => wsgi_daemon_block(&mut out, c),
    }
    application_section(&mut out, c);
    hooks_section(&mut out, c);
    status_section(&mut out, c);
    error_documents_section(&mut out, c);
    aliases_section(&mut out, c);
    proxy_mount_points_section(&mut out, c);
    setenv_section(&mut out, c);
    virtual_hosts_section(&mut out, c);
    https_section(&mut out, c);
    proxy_virtual_hosts_section(&mut out, c);
    services_section(&mut out, c);
    include_section(&mut out, c);
    out
}

fn header(out: &mut String, c: &ServerConfig) {
    let _ = writeln!(
        out,
        "# Generated by wsgirt-express {}. Regenerated on every start-server or\n\
         # setup-server run for this server root: edit the command line, not this file.\n\
         #\n\
         # Mode: {} (see docs/express.md)",
        env!("CARGO_PKG_VERSION"),
        c.operating_mode()
    );
}

fn core_section(out: &mut String, c: &ServerConfig) {
    let _ = writeln!(out, "\nServerRoot {}", qp(&c.server_root));
    let _ = writeln!(out, "PidFile {}", qp(&c.pid_file));
    let _ = writeln!(out, "DefaultRuntimeDir {}", qp(&c.server_root));
    let _ = writeln!(out, "ServerName {}", c.host);
    out.push_str("ServerTokens ProductOnly\nServerSignature Off\n");
    let _ = writeln!(out, "User {}", quote(&c.user));
    let _ = writeln!(out, "Group {}", quote(&c.group));
    let _ = writeln!(out, "\nListen {}", c.listen());
    let _ = writeln!(out, "ListenBacklog {}", c.server_backlog);
    if c.features.http2 {
        // --http2, as 4.9.4: h2 over TLS (ALPN), h2c on plain ports.
        out.push_str("Protocols h2 h2c http/1.1\n");
    }
    let _ = writeln!(out, "Timeout {}", c.socket_timeout);
    out.push_str("HostnameLookups Off\nMaxMemFree 64\n");
    if c.keep_alive_timeout > 0 {
        let _ = writeln!(
            out,
            "KeepAlive On\nKeepAliveTimeout {}",
            c.keep_alive_timeout
        );
    } else {
        out.push_str("KeepAlive Off\n");
    }
    let _ = writeln!(out, "LimitRequestBody {}", c.limit_request_body);
}

fn load_module(out: &mut String, c: &ServerConfig, name: &str, file: &str) {
    let _ = writeln!(
        out,
        "<IfModule !{name}>\nLoadModule {name} {}\n</IfModule>",
        qp(&c.modules_directory.join(file))
    );
}

fn modules_section(out: &mut String, c: &ServerConfig) {
    out.push_str(
        "\n# Apache's own modules. Each load is guarded so modules compiled into httpd\n\
         # (Debian: core, so, watchdog, http, log_config, logio, version, unixd) are skipped.\n\
         <IfModule !mpm_event_module>\n<IfModule !mpm_worker_module>\n<IfModule !mpm_prefork_module>\n",
    );
    let _ = writeln!(
        out,
        "LoadModule mpm_{mpm}_module {}",
        qp(&c
            .modules_directory
            .join(format!("mod_mpm_{}.so", c.server_mpm))),
        mpm = c.server_mpm
    );
    out.push_str("</IfModule>\n</IfModule>\n</IfModule>\n");
    for (name, file) in [
        ("unixd_module", "mod_unixd.so"),
        ("authz_core_module", "mod_authz_core.so"),
        ("mime_module", "mod_mime.so"),
        ("alias_module", "mod_alias.so"),
        ("dir_module", "mod_dir.so"),
        ("env_module", "mod_env.so"),
        ("rewrite_module", "mod_rewrite.so"),
        ("reqtimeout_module", "mod_reqtimeout.so"),
    ] {
        load_module(out, c, name, file);
    }
    if c.access_log {
        load_module(out, c, "log_config_module", "mod_log_config.so");
    }
    if c.server_status || c.server_metrics {
        load_module(out, c, "status_module", "mod_status.so");
    }
    if c.server_status || (c.server_name.is_some() && c.allow_localhost) {
        // `Require host localhost`.
        load_module(out, c, "authz_host_module", "mod_authz_host.so");
    }
    if c.hooks.auth_user_script.is_some() {
        load_module(out, c, "authn_core_module", "mod_authn_core.so");
        load_module(out, c, "authz_user_module", "mod_authz_user.so");
        if c.hooks.auth_type == "Digest" {
            load_module(out, c, "auth_digest_module", "mod_auth_digest.so");
        } else {
            load_module(out, c, "auth_basic_module", "mod_auth_basic.so");
        }
    }
    if c.site.directory_listing {
        load_module(out, c, "autoindex_module", "mod_autoindex.so");
    }
    if let Some(h) = &c.https {
        load_module(out, c, "ssl_module", "mod_ssl.so");
        if h.hsts_policy.is_some() {
            load_module(out, c, "headers_module", "mod_headers.so");
        }
    }
    if c.features.http2 {
        load_module(out, c, "http2_module", "mod_http2.so");
    }
    if c.proxies.any() {
        load_module(out, c, "proxy_module", "mod_proxy.so");
        load_module(out, c, "proxy_http_module", "mod_proxy_http.so");
        // RequestHeader, for the X-Forwarded-* headers.
        load_module(out, c, "headers_module", "mod_headers.so");
    }
    if c.features.compress_responses {
        // AddOutputFilterByType lives in mod_filter since Apache 2.4.
        load_module(out, c, "filter_module", "mod_filter.so");
        load_module(out, c, "deflate_module", "mod_deflate.so");
    }
    let _ = writeln!(out, "\nTypesConfig {}", qp(&c.mime_types));
    let _ = writeln!(
        out,
        "<IfModule reqtimeout_module>\nRequestReadTimeout {}\n</IfModule>",
        c.read_timeouts.directive_value()
    );
}

fn mpm_section(out: &mut String, s: &WorkerSizing, c: &ServerConfig, daemon: bool) {
    if daemon {
        out.push_str(
            "\n# MPM: daemon mode. Apache's children only proxy requests to the daemon\n\
             # processes, so they are sized for connections, with small thread stacks.\n",
        );
    } else {
        let _ = writeln!(
            out,
            "\n# MPM: embedded mode. The application runs in Apache's children, so there\n\
             # are exactly {} process(es) x {} thread(s); idle children are never reaped.",
            c.processes, c.threads
        );
    }
    for mpm in ["mpm_event_module", "mpm_worker_module"] {
        let _ = writeln!(out, "<IfModule {mpm}>");
        let _ = writeln!(out, "ServerLimit {}", s.server_limit);
        let _ = writeln!(out, "StartServers {}", s.start_servers);
        let _ = writeln!(out, "ThreadLimit {}", s.threads_per_child);
        let _ = writeln!(out, "ThreadsPerChild {}", s.threads_per_child);
        let _ = writeln!(out, "MaxRequestWorkers {}", s.max_request_workers);
        let _ = writeln!(out, "MinSpareThreads {}", s.min_spare_threads);
        let _ = writeln!(out, "MaxSpareThreads {}", s.max_spare_threads);
        let per_child = if daemon { 0 } else { c.maximum_requests };
        let _ = writeln!(out, "MaxConnectionsPerChild {per_child}");
        if daemon {
            out.push_str("ThreadStackSize 262144\n");
        }
        out.push_str("</IfModule>\n");
    }
    let p = if daemon {
        daemon_prefork_sizing(c.processes, c.threads, &c.daemon)
    } else {
        embedded_prefork_sizing(c.processes, c.threads)
    };
    let per_child = if daemon { 0 } else { c.maximum_requests };
    let _ = writeln!(
        out,
        "<IfModule mpm_prefork_module>\nServerLimit {}\nStartServers {}\n\
         MaxRequestWorkers {}\nMinSpareServers {}\nMaxSpareServers {}\n\
         MaxConnectionsPerChild {per_child}\n</IfModule>",
        p.server_limit,
        p.start_servers,
        p.max_request_workers,
        p.min_spare_servers,
        p.max_spare_servers
    );
}

/// The error log, and the access log with mod_wsgi-express 4.9.4's
/// formats: `common` (the default) and `combined` by nickname, anything
/// else as a `custom` format.
fn logging_section(out: &mut String, c: &ServerConfig) {
    let rotated = |file: String| match &c.log_rotation {
        Some(rotation) => rotation.pipe(&file),
        None => file,
    };
    let _ = writeln!(out, "\nErrorLog {}", quote(&rotated(c.error_log())));
    let _ = writeln!(out, "LogLevel {}", c.log_level);
    if let Some(format) = &c.error_log_format {
        let _ = writeln!(out, "ErrorLogFormat {}", quote(format));
    }
    if let Some(access) = c.access_log_file() {
        out.push_str(
            "LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b\" common\n\
             LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b \\\"%{Referer}i\\\" \\\"%{User-agent}i\\\"\" combined\n",
        );
        let nickname = match c.access_log_format.as_deref() {
            None => "common",
            Some(name @ ("common" | "combined")) => name,
            Some(format) => {
                let _ = writeln!(out, "LogFormat {} custom", quote(format));
                "custom"
            }
        };
        let _ = writeln!(out, "CustomLog {} {nickname}", quote(&rotated(access)));
    }
}

fn python_path_value(c: &ServerConfig) -> Option<String> {
    if c.python_paths.is_empty() {
        return None;
    }
    let parts: Vec<String> = c
        .python_paths
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    Some(parts.join(":"))
}

fn wsgi_common_section(out: &mut String, c: &ServerConfig) {
    out.push_str("\n# The WSGI module: wsgirt's mod_wsgirt.so (a drop-in for mod_wsgi).\n");
    let _ = writeln!(out, "LoadModule wsgi_module {}", qp(&c.module_path));
    if let Some(home) = &c.python_home {
        let _ = writeln!(out, "WSGIPythonHome {}", qp(home));
    }
    // Explicit because mod_wsgi's documented defaults (On) and its 4.6 code
    // (Off) disagree: print() and pdb must work, as under mod_wsgi-express.
    out.push_str("WSGIRestrictStdin Off\nWSGIRestrictStdout Off\n");
    out.push_str("WSGIPassAuthorization On\n");
    let _ = writeln!(out, "WSGIMapHEADToGET {}", c.map_head_to_get);
    let _ = writeln!(
        out,
        "WSGIScriptReloading {}",
        if c.script_reloading() { "On" } else { "Off" }
    );
    let _ = writeln!(out, "WSGICallableObject {}", quote(&c.callable_object));
    // Written either way, as mod_wsgi-express 4.9.4 does.
    let _ = writeln!(out, "WSGIServerMetrics {}", on_off(c.server_metrics));
    let f = &c.features;
    let _ = writeln!(
        out,
        "WSGIDestroyInterpreter {}",
        on_off(!f.orphan_interpreter)
    );
    if f.chunked_request {
        out.push_str("WSGIChunkedRequest On\n");
    }
    if !f.trusted_proxy_headers.is_empty() {
        let _ = writeln!(
            out,
            "WSGITrustedProxyHeaders {}",
            f.trusted_proxy_headers.join(" ")
        );
    }
    if !f.trusted_proxies.is_empty() {
        let _ = writeln!(out, "WSGITrustedProxies {}", f.trusted_proxies.join(" "));
    }
    if f.error_override {
        out.push_str("WSGIErrorOverride On\n");
    }
    if f.enable_sendfile {
        out.push_str("EnableSendfile On\nWSGIEnableSendfile On\n");
    }
    if f.compress_responses {
        for mime in COMPRESSED_TYPES {
            let _ = writeln!(out, "AddOutputFilterByType DEFLATE {mime}");
        }
    }
}

fn on_off(flag: bool) -> &'static str {
    if flag {
        "On"
    } else {
        "Off"
    }
}

/// Embedded mode: Python in the Apache children, the main interpreter.
fn wsgi_embedded_block(out: &mut String, c: &ServerConfig) {
    out.push_str("\n# Embedded mode: the application runs in the Apache child processes.\n");
    if let Some(path) = python_path_value(c) {
        let _ = writeln!(out, "WSGIPythonPath {}", quote(&path));
    }
}

/// Daemon mode: one `WSGIDaemonProcess HOST:PORT` carrying the express
/// timeouts; embedded Python is switched off in Apache's children.
fn wsgi_daemon_block(out: &mut String, c: &ServerConfig) {
    let d = &c.daemon;
    out.push_str("\n# Daemon mode: the application runs in its own process group.\n");
    out.push_str("WSGIRestrictEmbedded On\n");
    let _ = writeln!(out, "WSGISocketPrefix {}", qp(&c.socket_prefix));
    out.push_str("WSGISocketRotation Off\n");
    let mut opts: Vec<String> = vec![
        format!("display-name={}", quote(&c.daemon_display_name())),
        format!("home={}", qp(&c.working_directory)),
    ];
    if c.multiprocess {
        opts.push(format!("processes={}", c.processes));
    }
    opts.push(format!("threads={}", c.threads));
    opts.push(format!("maximum-requests={}", c.maximum_requests));
    if let Some(path) = python_path_value(c) {
        opts.push(format!("python-path={}", quote(&path)));
    }
    opts.push(format!("python-eggs={}", qp(&c.python_eggs)));
    opts.push(format!("lang={}", quote(&c.locale)));
    opts.push(format!("locale={}", quote(&c.locale)));
    for (name, value) in [
        ("listen-backlog", d.listen_backlog),
        ("queue-timeout", d.queue_timeout),
        ("socket-timeout", c.socket_timeout),
        ("connect-timeout", d.connect_timeout),
        ("request-timeout", d.request_timeout),
        ("inactivity-timeout", d.inactivity_timeout),
        ("startup-timeout", d.startup_timeout),
        ("deadlock-timeout", d.deadlock_timeout),
        ("graceful-timeout", d.graceful_timeout),
        ("eviction-timeout", d.eviction_timeout),
        ("restart-interval", d.restart_interval),
        ("cpu-time-limit", d.cpu_time_limit),
        ("shutdown-timeout", d.shutdown_timeout),
        ("send-buffer-size", d.send_buffer_size),
        ("receive-buffer-size", d.receive_buffer_size),
        ("header-buffer-size", d.header_buffer_size),
        ("response-buffer-size", d.response_buffer_size),
        ("response-socket-timeout", d.response_socket_timeout),
    ] {
        opts.push(format!("{name}={value}"));
    }
    opts.push(format!("server-metrics={}", on_off(c.server_metrics)));
    let _ = write!(out, "WSGIDaemonProcess {}", quote(&c.daemon_group()));
    for opt in opts {
        let _ = write!(out, " \\\n    {opt}");
    }
    out.push('\n');
}

/// The application itself: one `WSGIScriptAlias /`. Giving both groups
/// without `%{...}` substitutions other than `%{GLOBAL}` makes mod_wsgi
/// preload the script when each process starts (what mod_wsgi-express does
/// with WSGIImportScript), so import errors show up at startup.
fn application_section(out: &mut String, c: &ServerConfig) {
    let script_dir = c.script.parent().unwrap_or(Path::new("/"));
    let process_group = match c.mode {
        Mode::Embedded => "%{GLOBAL}".to_string(),
        Mode::Daemon => quote(&c.daemon_group()),
    };
    let site = &c.site;
    let _ = write!(
        out,
        "\nDocumentRoot {}\n\
         <Directory />\n    AllowOverride None\n    Require all denied\n</Directory>\n\
         <Directory {}>\n    AllowOverride {}\n",
        qp(&c.document_root),
        qp(&c.document_root),
        site.allow_override(),
    );
    if let Some(index) = &site.directory_index {
        let _ = writeln!(out, "    DirectoryIndex {}", quote(index));
    }
    if site.directory_listing {
        out.push_str("    Options +Indexes\n");
    }
    out.push_str("    Require all granted\n</Directory>\n");
    // As in mod_wsgi-express, a file that exists in the document root is
    // served as is and everything else goes to the application. mod_rewrite
    // translates URLs before mod_alias and mod_wsgi, so the alias below
    // never sees these requests. With --directory-index, directories are
    // served the same way (mod_dir then finds the index), as 4.9.4's
    // `!-d` condition in front of its handler does.
    out.push_str(
        "# Existing files in the document root are served statically.\n\
         RewriteEngine On\n\
         RewriteCond \"%{DOCUMENT_ROOT}%{REQUEST_URI}\" -f\n\
         RewriteRule \"^\" \"%{DOCUMENT_ROOT}%{REQUEST_URI}\" [L]\n",
    );
    if let Some(index) = &site.directory_index {
        // mod_dir looks the index up with a subrequest, and takes any
        // answer that is a regular file: `WSGIScriptAlias /` would answer
        // with the script. Such lookups stay in the document root, so a
        // directory without the index is listed (or refused), as in 4.9.4.
        out.push_str(
            "RewriteCond \"%{DOCUMENT_ROOT}%{REQUEST_URI}\" -d\n\
             RewriteRule \"^\" \"%{DOCUMENT_ROOT}%{REQUEST_URI}\" [L]\n\
             RewriteCond %{IS_SUBREQ} true\n",
        );
        let _ = writeln!(
            out,
            "RewriteRule /{}$ \"%{{DOCUMENT_ROOT}}%{{REQUEST_URI}}\" [L]",
            regex_escape(index)
        );
    }
    let _ = writeln!(
        out,
        "<Directory {}>\n    AllowOverride None\n    Require all granted\n</Directory>\n\
         WSGIScriptAlias {} {} process-group={} application-group=%{{GLOBAL}}",
        qp(script_dir),
        url_path(&c.mount_point),
        qp(&c.script),
        process_group
    );
}

/// The hook scripts, over the whole site as in 4.9.4: the access script
/// first (Apache's access checker runs before authentication), then the
/// authentication realm `HOST:PORT` with our module's `wsgi` provider and,
/// with a group script, `Require wsgi-group` next to `Require
/// valid-user`. A `<Location>` is merged after the `<Directory>` grants,
/// so its `Require` lines replace theirs; `/server-status`'s own
/// `<Location>` comes later and keeps it for localhost only.
fn hooks_section(out: &mut String, c: &ServerConfig) {
    let h = &c.hooks;
    if let Some(script) = &h.host_access_script {
        let _ = writeln!(
            out,
            "\n# Host access script (--host-access-script).\n\
             <Location />\n    WSGIAccessScript {}\n</Location>",
            qp(script)
        );
    }
    let Some(user_script) = &h.auth_user_script else {
        return;
    };
    let _ = writeln!(
        out,
        "\n# Authentication (--auth-user-script, --auth-type, --auth-group-script).\n\
         <Location />\n    AuthType {kind}\n    AuthName {realm}\n    \
         Auth{kind}Provider wsgi\n    WSGIAuthUserScript {script}",
        kind = h.auth_type,
        realm = quote(&c.daemon_group()),
        script = qp(user_script)
    );
    if let Some(group_script) = &h.auth_group_script {
        let _ = writeln!(out, "    WSGIAuthGroupScript {}", qp(group_script));
    }
    out.push_str("    <RequireAll>\n    Require valid-user\n");
    if h.auth_group_script.is_some() {
        let _ = writeln!(out, "    Require wsgi-group {}", quote(&h.auth_group));
    }
    out.push_str("    </RequireAll>\n</Location>\n");
}

/// `--server-status` / `--server-metrics`: mod_status with per-request
/// detail (`ExtendedStatus On`, which `mod_wsgi.server_metrics()` also
/// reads), and with `--server-status` its page at `/server-status` for
/// clients on localhost, as mod_wsgi-express 4.9.4 writes them. Apache runs
/// `SetHandler` in its fixups, after `WSGIScriptAlias /` has mapped the URL,
/// so the page wins over the application mounted at `/`.
fn status_section(out: &mut String, c: &ServerConfig) {
    if !(c.server_status || c.server_metrics) {
        return;
    }
    out.push_str("\n# Server status (--server-status, --server-metrics).\nExtendedStatus On\n");
    if c.server_status {
        out.push_str(
            "<Location /server-status>\n    SetHandler server-status\n    \
             Require all denied\n    Require host localhost\n</Location>\n",
        );
    }
}

/// `--setenv`: per-request WSGI environ entries (mod_env's `SetEnv`).
/// `--error-document` (Apache's `ErrorDocument`) and `--ignore-activity`
/// (URLs, such as health checks, whose requests do not count as activity
/// for `--inactivity-timeout`), as 4.9.4 writes them.
fn error_documents_section(out: &mut String, c: &ServerConfig) {
    for (status, url) in &c.error_documents {
        let _ = writeln!(out, "ErrorDocument {status} {}", quote(url));
    }
    for url in &c.ignore_activity {
        let _ = writeln!(
            out,
            "<Location {}>\nWSGIIgnoreActivity On\n</Location>",
            quote(url)
        );
    }
}

/// `--passenv`: Apache's own environment variables copied in (`PassEnv`).
fn setenv_section(out: &mut String, c: &ServerConfig) {
    if c.setenv.is_empty() && c.features.passenv.is_empty() {
        return;
    }
    out.push_str("\n# Request environment (--setenv, --passenv).\n");
    for (name, value) in &c.setenv {
        let _ = writeln!(out, "SetEnv {} {}", quote(name), quote(value));
    }
    for name in &c.features.passenv {
        let _ = writeln!(out, "PassEnv {}", quote(name));
    }
}

/// `--service-script`s, as mod_wsgi-express 4.9.4 writes them: per
/// service a `WSGIDaemonProcess 'service:NAME'` with `threads=0` (the
/// process runs what the script does on import and serves no requests) and
/// the site daemons' home, Python path, egg cache, locale and
/// server-metrics, and a `WSGIImportScript` of the script into it, in the
/// main interpreter. With `--service-log-file` both go into a virtual host
/// whose `ErrorLog` is that file: mod_wsgi logs a daemon group to the
/// error log of the server it is defined in. 4.9.4 puts that host on
/// `*:PORT`, where it becomes the default host and takes the site's
/// requests (and their log lines) unless `--server-name` hosts come first;
/// ours is on an address no request arrives at (`SERVICE_LOG_HOST`).
/// Written in embedded mode too, as 4.9.4 does; the sockets then go to
/// the default `WSGISocketPrefix`, relative to `DefaultRuntimeDir`, the
/// server root.
fn services_section(out: &mut String, c: &ServerConfig) {
    if c.services.is_empty() {
        return;
    }
    out.push_str("\n# Managed services (--service-script).\n");
    for service in &c.services {
        let mut block = String::new();
        let group = quote(&service.group_name());
        let mut opts: Vec<String> = vec![
            "display-name=%{GROUP}".into(),
            format!("user={}", quote(&service.user)),
            format!("group={}", quote(&service.group)),
            format!("home={}", qp(&c.working_directory)),
            "threads=0".into(),
        ];
        if let Some(path) = python_path_value(c) {
            opts.push(format!("python-path={}", quote(&path)));
        }
        opts.push(format!("python-eggs={}", qp(&c.python_eggs)));
        opts.push(format!("lang={}", quote(&c.locale)));
        opts.push(format!("locale={}", quote(&c.locale)));
        opts.push(format!("server-metrics={}", on_off(c.server_metrics)));
        let _ = write!(block, "WSGIDaemonProcess {group}");
        for opt in opts {
            let _ = write!(block, " \\\n    {opt}");
        }
        let _ = writeln!(
            block,
            "\nWSGIImportScript {} process-group={group} application-group=%{{GLOBAL}}",
            qp(&service.script)
        );
        match &service.log_file {
            None => out.push_str(&block),
            Some(name) => {
                let file = c.log_directory.join(name).display().to_string();
                let target = match &c.log_rotation {
                    Some(rotation) => rotation.pipe(&file),
                    None => file,
                };
                let _ = write!(
                    out,
                    "<VirtualHost {SERVICE_LOG_HOST}:{}>\nServerName {}\nErrorLog {}\n{block}</VirtualHost>\n",
                    c.port,
                    c.host,
                    quote(&target)
                );
            }
        }
    }
}

/// `--server-name`: name-based virtual hosts, as mod_wsgi-express 4.9.4
/// writes them. The first, default host answers names nobody asked for
/// with 403 (`--allow-localhost`: except to clients on localhost); the
/// second serves the name and its aliases; a `www.` name also gets a host
/// for the bare name that redirects to it. Everything else is inherited
/// from the main server, except mod_rewrite's rules, which a virtual host
/// takes only with `RewriteOptions Inherit` (4.9.4 keeps its rules in a
/// `<Directory>`, which needs no such line).
///
/// 4.9.4 writes `Allow from localhost` (mod_access_compat) for
/// `--allow-localhost`; Apache 2.4 requires that *and* `Require all denied`,
/// so localhost is refused as well. We write the 2.4 form, `Require host
/// localhost` (what 4.9.4 writes for `/server-status`), so the option does
/// what its help promises.
fn virtual_hosts_section(out: &mut String, c: &ServerConfig) {
    let Some(name) = &c.server_name else {
        return;
    };
    let inherit = "RewriteEngine On\nRewriteOptions Inherit\n";
    let _ = write!(
        out,
        "\n# Name-based virtual hosts (--server-name).\n\
         <VirtualHost _default_:{port}>\n{inherit}<Location />\n    Require all denied\n",
        port = c.port
    );
    if c.allow_localhost {
        out.push_str("    Require host localhost\n");
    }
    out.push_str("</Location>\n</VirtualHost>\n");
    // --https-only: the name (and the bare domain of a www. name) is
    // redirected to HTTPS instead of served, as in 4.9.4.
    let to_https = c
        .https
        .as_ref()
        .filter(|h| h.https_only)
        .map(|h| https_redirect(&format!("https://{name}:{}", h.port)));
    let _ = writeln!(out, "<VirtualHost *:{}>\nServerName {name}", c.port);
    if !c.server_aliases.is_empty() {
        let _ = writeln!(out, "ServerAlias {}", c.server_aliases.join(" "));
    }
    let _ = writeln!(
        out,
        "{}</VirtualHost>",
        to_https.as_deref().unwrap_or(inherit)
    );
    if let Some(parent) = parent_domain(name) {
        let _ = write!(out, "<VirtualHost *:{}>\nServerName {parent}\n", c.port);
        match &to_https {
            Some(redirect) => out.push_str(redirect),
            None => {
                let _ = writeln!(out, "Redirect permanent / http://{name}:{}/", c.port);
            }
        }
        out.push_str("</VirtualHost>\n");
    }
}

/// The bare domain of a `www.` server name.
fn parent_domain(name: &str) -> Option<&str> {
    name.get(..4)
        .filter(|p| p.eq_ignore_ascii_case("www."))
        .map(|_| &name[4..])
}

/// mod_rewrite lines that send a plain HTTP request to `BASE` + its path
/// (4.9.4's rules; the query string is kept, the redirect is a 302).
fn https_redirect(base: &str) -> String {
    format!(
        "RewriteEngine On\nRewriteCond %{{HTTPS}} off\n\
         RewriteRule (.*) {base}%{{REQUEST_URI}} [R,L]\n"
    )
}

/// `--https-port`: a second `Listen` and mod_ssl virtual hosts for it.
///
/// With `--server-name` these are 4.9.4's three: a default host that
/// answers other names with 403, the named host that serves the site (with
/// `--hsts-policy` and `--ssl-environment`), and for a `www.` name the bare
/// domain redirected to it. Without `--server-name` 4.9.4 writes nothing
/// (its HTTPS sits inside the virtual-host block, so the port is never
/// opened); we serve the site on the HTTPS port from one default host, and
/// `--https-only` redirects every plain HTTP request there.
///
/// `--ssl-ca-certificate-file` makes the hosts accept client certificates
/// (`SSLVerifyClient none`), and each `--ssl-verify-client` URL (else `/`)
/// requires one, as in 4.9.4. We add `SSLRequireSSL` there: mod_ssl skips
/// `SSLVerifyClient` on plain HTTP, so without it those URLs would be open
/// over the HTTP port.
fn https_section(out: &mut String, c: &ServerConfig) {
    let Some(h) = &c.https else {
        return;
    };
    let _ = writeln!(
        out,
        "\n# HTTPS (--https-port and the --ssl-* options).\nListen {}",
        c.listen_on(h.port)
    );
    if h.ca_certificate_file.is_some() {
        let mut urls: Vec<&str> = h.verify_client_urls.iter().map(String::as_str).collect();
        if urls.is_empty() {
            urls.push("/");
        }
        // Longest first, as 4.9.4 sorts them (reverse order).
        urls.sort_by(|a, b| b.cmp(a));
        urls.dedup();
        for url in urls {
            let _ = writeln!(
                out,
                "<Location {}>\n    SSLRequireSSL\n    SSLVerifyClient require\n    \
                 SSLVerifyDepth 1\n</Location>",
                quote(url)
            );
        }
    }
    let mut ssl = format!(
        "SSLEngine On\nSSLCertificateFile {}\nSSLCertificateKeyFile {}\n",
        qp(&h.certificate_file),
        qp(&h.certificate_key_file)
    );
    if let Some(ca) = &h.ca_certificate_file {
        let _ = writeln!(ssl, "SSLCACertificateFile {}\nSSLVerifyClient none", qp(ca));
    }
    if let Some(chain) = &h.certificate_chain_file {
        let _ = writeln!(ssl, "SSLCertificateChainFile {}", qp(chain));
    }
    let mut site = String::from("RewriteEngine On\nRewriteOptions Inherit\n");
    site.push_str(&ssl);
    if let (true, Some(policy)) = (h.https_only, &h.hsts_policy) {
        let _ = writeln!(
            site,
            "Header set Strict-Transport-Security {}",
            quote(policy)
        );
    }
    if h.environment {
        site.push_str("SSLOptions +StdEnvVars\n");
    }
    let port = h.port;
    let Some(name) = &c.server_name else {
        let _ = writeln!(out, "<VirtualHost _default_:{port}>\n{site}</VirtualHost>");
        if h.https_only {
            let _ = writeln!(
                out,
                "<VirtualHost _default_:{}>\n{}</VirtualHost>",
                c.port,
                https_redirect(&format!("https://%{{SERVER_NAME}}:{port}"))
            );
        }
        return;
    };
    let _ = write!(
        out,
        "<VirtualHost _default_:{port}>\n<Location />\n    Require all denied\n"
    );
    if c.allow_localhost {
        out.push_str("    Require host localhost\n");
    }
    let _ = writeln!(out, "</Location>\n{ssl}</VirtualHost>");
    let _ = writeln!(out, "<VirtualHost *:{port}>\nServerName {name}");
    if !c.server_aliases.is_empty() {
        let _ = writeln!(out, "ServerAlias {}", c.server_aliases.join(" "));
    }
    let _ = writeln!(out, "{site}</VirtualHost>");
    if let Some(parent) = parent_domain(name) {
        let _ = writeln!(
            out,
            "<VirtualHost *:{port}>\nServerName {parent}\n\
             Redirect permanent / https://{name}:{port}/\n{ssl}</VirtualHost>"
        );
    }
}

/// The target of a proxied prefix that ends with `/`: the URL with exactly
/// one trailing `/`, as `ProxyPass` wants when the path has one.
fn with_slash(url: &str) -> String {
    format!("{}/", url.trim_end_matches('/'))
}

/// The headers 4.9.4 adds to a proxied request, besides mod_proxy's own
/// `X-Forwarded-For`/`-Host`/`-Server`: the port the client connected to
/// and, over HTTPS, the scheme. 4.9.4 computes them with mod_rewrite
/// environment variables; `RequestHeader`'s `expr=` (Apache 2.4.10+) says
/// the same directly.
const FORWARDED_HEADERS: &str = "RequestHeader set X-Forwarded-Port \"expr=%{SERVER_PORT}\"\n\
     RequestHeader set X-Forwarded-Scheme https \"expr=%{HTTPS} == 'on'\"\n";
const FORWARDED_SCHEME: &str =
    "RequestHeader set X-Forwarded-Scheme https \"expr=%{HTTPS} == 'on'\"\n";

/// `--proxy-mount-point` (and its hidden twin `--proxy-url-alias`), as
/// 4.9.4 writes it: `ProxyPass` and `ProxyPassReverse` of the prefix, the
/// forwarded headers in a `<Location>`, and for a URL-PATH without a
/// trailing `/` the prefix `URL-PATH/` plus a 302 from `URL-PATH` itself.
/// mod_proxy translates URLs before mod_rewrite, mod_alias and mod_wsgi,
/// so the prefix wins over the application, the document root and
/// `--url-alias`.
///
/// Differences: the longest prefix is written first (`ProxyPass` takes the
/// first match; 4.9.4 keeps the order given, so `/a/` given before `/a/b/`
/// hides it); a URL-PATH ending in `/` gets a URL ending in `/` (4.9.4
/// writes the URL as given, and `ProxyPass /a/ http://h` glues the path
/// onto the host name); and the redirect is mod_alias's `RedirectMatch`,
/// which keeps the scheme and query string (4.9.4's rewrite rule always
/// says `http://` and, its pattern being `-`, fires only when the mapped
/// file name has a `-` in it).
fn proxy_mount_points_section(out: &mut String, c: &ServerConfig) {
    if c.proxies.mount_points.is_empty() {
        return;
    }
    let mut mounts: Vec<&(String, String)> = c.proxies.mount_points.iter().collect();
    mounts.sort_by(|a, b| b.0.cmp(&a.0));
    out.push_str("\n# Proxied sub URLs (--proxy-mount-point).\n");
    for (path, url) in mounts {
        let (prefix, target) = if path.ends_with('/') {
            (path.clone(), with_slash(url))
        } else {
            (format!("{path}/"), with_slash(url))
        };
        let _ = write!(
            out,
            "ProxyPass {p} {t}\nProxyPassReverse {p} {t}\n<Location {p}>\n{FORWARDED_HEADERS}</Location>\n",
            p = quote(&prefix),
            t = quote(&target)
        );
        if !path.ends_with('/') {
            let _ = writeln!(
                out,
                "RedirectMatch 302 {} {}",
                quote(&format!("^{}$", regex_escape(path))),
                quote(&prefix)
            );
        }
    }
}

/// `--proxy-virtual-host`: per host name a virtual host on the HTTP port
/// that passes every request on to the URL, as 4.9.4 writes it. Name-based
/// hosts on a port make the first of them the default for names nobody
/// claimed, so without `--server-name` (whose hosts come first) the site
/// keeps being served by a default host written first, as 4.9.4 does with
/// its empty `<VirtualHost _default_:PORT>` (with `--https-only` the
/// redirecting default host above plays that part).
fn proxy_virtual_hosts_section(out: &mut String, c: &ServerConfig) {
    if c.proxies.virtual_hosts.is_empty() {
        return;
    }
    out.push_str("\n# Proxied host names (--proxy-virtual-host).\n");
    let https_only = c.https.as_ref().is_some_and(|h| h.https_only);
    if c.server_name.is_none() && !https_only {
        let _ = writeln!(
            out,
            "<VirtualHost _default_:{}>\nRewriteEngine On\nRewriteOptions Inherit\n</VirtualHost>",
            c.port
        );
    }
    for (host, url) in &c.proxies.virtual_hosts {
        let target = quote(&with_slash(url));
        // The port is written out, as 4.9.4 does: the client's Host header
        // names no port when it came through the default one.
        let _ = write!(
            out,
            "<VirtualHost *:{port}>\nServerName {host}\nProxyPass / {target}\n\
             ProxyPassReverse / {target}\nRequestHeader set X-Forwarded-Port {port}\n\
             {FORWARDED_SCHEME}</VirtualHost>\n",
            port = c.port
        );
    }
}

/// `--include-file`: last, so the user's directives can override ours.
fn include_section(out: &mut String, c: &ServerConfig) {
    if c.include_files.is_empty() {
        return;
    }
    out.push_str("\n# Extra configuration (--include-file).\n");
    for file in &c.include_files {
        let _ = writeln!(out, "Include {}", qp(file));
    }
}

/// `--url-alias`: Apache's mod_alias translates before mod_wsgi, so these
/// win over `WSGIScriptAlias /`. Longest first, as mod_wsgi-express sorts
/// them (reverse order, so `/static/img` precedes `/static`).
fn aliases_section(out: &mut String, c: &ServerConfig) {
    if c.url_aliases.is_empty() {
        return;
    }
    let mut aliases: Vec<&UrlAlias> = c.url_aliases.iter().collect();
    aliases.sort_by(|a, b| b.url.cmp(&a.url));
    out.push_str("\n# Static files (--url-alias).\n");
    for alias in aliases {
        match &alias.target {
            AliasTarget::Directory(dir) => {
                let _ = writeln!(
                    out,
                    "Alias {} {}\n<Directory {}>\n    AllowOverride {}\n    Require all granted\n</Directory>",
                    quote(&alias.url),
                    qp(dir),
                    qp(dir),
                    c.site.allow_override()
                );
            }
            AliasTarget::File { directory, name } => {
                let _ = writeln!(
                    out,
                    "Alias {} {}\n<Directory {}>\n<Files {}>\n    Require all granted\n</Files>\n</Directory>",
                    quote(&alias.url),
                    qp(&directory.join(name)),
                    qp(directory),
                    quote(name)
                );
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A config as resolve.rs would produce for
    /// `start-server /srv/app/app.wsgi --host 127.0.0.1 --port 8123`.
    pub(crate) fn sample() -> ServerConfig {
        ServerConfig {
            mode: Mode::Embedded,
            script: "/srv/app/app.wsgi".into(),
            callable_object: "application".into(),
            listen_host: Some("127.0.0.1".into()),
            host: "127.0.0.1".into(),
            port: 8123,
            processes: 1,
            multiprocess: false,
            threads: 5,
            uid: 1000,
            server_root: "/tmp/mod_wsgi-127.0.0.1:8123:1000".into(),
            working_directory: "/srv/app".into(),
            python_paths: vec!["/srv/app".into()],
            python_home: Some("/usr".into()),
            module_path: "/opt/wsgirt/mod_wsgirt.so".into(),
            modules_directory: "/usr/lib/apache2/modules".into(),
            mime_types: "/etc/mime.types".into(),
            user: "alice".into(),
            group: "alice".into(),
            log_level: "warn".into(),
            log_to_terminal: false,
            access_log: false,
            access_log_format: None,
            error_log_format: None,
            error_log_name: "error_log".into(),
            access_log_name: "access_log".into(),
            startup_log_name: "startup_log".into(),
            url_aliases: Vec::new(),
            application_module: None,
            mount_point: "/".into(),
            document_root: "/tmp/mod_wsgi-127.0.0.1:8123:1000/htdocs".into(),
            setenv: Vec::new(),
            include_files: Vec::new(),
            envvars_script: None,
            log_directory: "/tmp/mod_wsgi-127.0.0.1:8123:1000".into(),
            startup_log: false,
            reload_on_changes: false,
            map_head_to_get: "Auto".into(),
            keep_alive_timeout: 0,
            limit_request_body: 10_485_760,
            socket_timeout: 60,
            server_backlog: 500,
            maximum_requests: 0,
            read_timeouts: ReadTimeouts::default(),
            features: Features::default(),
            pid_file: "/tmp/mod_wsgi-127.0.0.1:8123:1000/httpd.pid".into(),
            process_name: None,
            socket_prefix: "/tmp/mod_wsgi-127.0.0.1:8123:1000/wsgi".into(),
            error_documents: Vec::new(),
            ignore_activity: Vec::new(),
            server_name: None,
            server_aliases: Vec::new(),
            allow_localhost: false,
            daemon: DaemonSettings::default(),
            locale: "C.UTF-8".into(),
            httpd: "/usr/sbin/apache2".into(),
            server_status: false,
            python_eggs: "/tmp/mod_wsgi-127.0.0.1:8123:1000/python-eggs".into(),
            python_eggs_owner: None,
            server_metrics: false,
            hooks: HookScripts::default(),
            site: SiteOptions::default(),
            log_rotation: None,
            https: None,
            server_mpm: "event".into(),
            python_executable: Some("/usr/bin/python3".into()),
            services: Vec::new(),
            proxies: Proxies::default(),
            debug: None,
        }
    }

    fn lines(conf: &str) -> Vec<&str> {
        conf.lines().collect()
    }

    fn has_line(conf: &str, line: &str) -> bool {
        conf.lines().any(|l| l == line)
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("/a b/c"), "\"/a b/c\"");
        assert_eq!(quote(r#"/a"b\c"#), r#""/a\"b\\c""#);
    }

    #[test]
    fn embedded_core_and_application() {
        let conf = render_httpd_conf(&sample());
        for line in [
            "ServerRoot \"/tmp/mod_wsgi-127.0.0.1:8123:1000\"",
            "PidFile \"/tmp/mod_wsgi-127.0.0.1:8123:1000/httpd.pid\"",
            "DefaultRuntimeDir \"/tmp/mod_wsgi-127.0.0.1:8123:1000\"",
            "ServerName 127.0.0.1",
            "User \"alice\"",
            "Group \"alice\"",
            "Listen 127.0.0.1:8123",
            "KeepAlive Off",
            "TypesConfig \"/etc/mime.types\"",
            "LoadModule wsgi_module \"/opt/wsgirt/mod_wsgirt.so\"",
            "WSGIPythonHome \"/usr\"",
            "WSGIPythonPath \"/srv/app\"",
            "WSGIPassAuthorization On",
            "WSGIRestrictStdin Off",
            "WSGIScriptReloading Off",
            "WSGICallableObject \"application\"",
            "ErrorLog \"/tmp/mod_wsgi-127.0.0.1:8123:1000/error_log\"",
            "LogLevel warn",
            "<Directory \"/srv/app\">",
            "WSGIScriptAlias / \"/srv/app/app.wsgi\" process-group=%{GLOBAL} application-group=%{GLOBAL}",
        ] {
            assert!(has_line(&conf, line), "missing {line:?} in\n{conf}");
        }
        for absent in [
            "WSGIDaemonProcess",
            "WSGIRestrictEmbedded",
            "CustomLog",
            "ThreadStackSize",
        ] {
            assert!(
                !conf.contains(absent),
                "{absent} should not be in embedded config"
            );
        }
    }

    #[test]
    fn modules_are_loaded_from_the_modules_directory_with_guards() {
        let conf = render_httpd_conf(&sample());
        assert!(has_line(
            &conf,
            "LoadModule mpm_event_module \"/usr/lib/apache2/modules/mod_mpm_event.so\""
        ));
        let l = lines(&conf);
        for module in [
            "authz_core_module",
            "mime_module",
            "alias_module",
            "dir_module",
            "env_module",
            "unixd_module",
        ] {
            let i = l
                .iter()
                .position(|x| x.starts_with(&format!("LoadModule {module} ")))
                .unwrap_or_else(|| panic!("{module} not loaded"));
            assert_eq!(l[i - 1], format!("<IfModule !{module}>"));
        }
        // The WSGI module is loaded after the MPM.
        let mpm = conf.find("LoadModule mpm_event_module").unwrap();
        let wsgi = conf.find("LoadModule wsgi_module").unwrap();
        assert!(mpm < wsgi);
    }

    #[test]
    fn embedded_mpm_is_sized_processes_by_threads() {
        let mut c = sample();
        c.processes = 3;
        c.threads = 4;
        let conf = render_httpd_conf(&c);
        for line in [
            "ServerLimit 3",
            "StartServers 3",
            "ThreadLimit 4",
            "ThreadsPerChild 4",
            "MaxRequestWorkers 12",
            "MinSpareThreads 1",
            "MaxSpareThreads 12",
            "MaxConnectionsPerChild 0",
        ] {
            assert!(has_line(&conf, line), "missing {line:?}");
        }
        c.maximum_requests = 500;
        assert!(has_line(
            &render_httpd_conf(&c),
            "MaxConnectionsPerChild 500"
        ));
    }

    #[test]
    fn listen_on_all_interfaces_without_host() {
        let mut c = sample();
        c.listen_host = None;
        c.host = "localhost".into();
        c.port = 8000;
        let conf = render_httpd_conf(&c);
        assert!(has_line(&conf, "Listen 8000"));
        assert!(has_line(&conf, "ServerName localhost"));
        assert_eq!(c.url(), "http://localhost:8000/");
        c.port = 80;
        assert_eq!(c.url(), "http://localhost/");
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        let mut c = sample();
        c.listen_host = Some("::1".into());
        c.host = "::1".into();
        assert_eq!(c.listen(), "[::1]:8123");
        assert_eq!(c.url(), "http://[::1]:8123/");
    }

    #[test]
    fn logging_options() {
        let mut c = sample();
        c.access_log = true;
        c.log_level = "info".into();
        let conf = render_httpd_conf(&c);
        assert!(has_line(&conf, "LogLevel info"));
        assert!(has_line(
            &conf,
            "CustomLog \"/tmp/mod_wsgi-127.0.0.1:8123:1000/access_log\" common"
        ));
        assert!(has_line(
            &conf,
            "LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b\" common"
        ));
        assert!(conf.contains("LoadModule log_config_module"));
        c.log_to_terminal = true;
        let conf = render_httpd_conf(&c);
        assert!(has_line(&conf, "ErrorLog \"/dev/stderr\""));
        assert!(has_line(&conf, "CustomLog \"/dev/stdout\" common"));
    }

    #[test]
    fn reload_and_callable_and_head() {
        let mut c = sample();
        c.reload_on_changes = true;
        c.callable_object = "app".into();
        c.map_head_to_get = "Off".into();
        c.keep_alive_timeout = 5;
        let conf = render_httpd_conf(&c);
        assert!(has_line(&conf, "WSGIScriptReloading On"));
        assert!(has_line(&conf, "WSGICallableObject \"app\""));
        assert!(has_line(&conf, "WSGIMapHEADToGET Off"));
        assert!(has_line(&conf, "KeepAlive On"));
        assert!(has_line(&conf, "KeepAliveTimeout 5"));
    }

    #[test]
    fn python_path_joins_with_colons_and_home_is_optional() {
        let mut c = sample();
        c.python_paths = vec!["/srv/app".into(), "/srv/lib".into()];
        c.python_home = None;
        let conf = render_httpd_conf(&c);
        assert!(has_line(&conf, "WSGIPythonPath \"/srv/app:/srv/lib\""));
        assert!(!conf.contains("WSGIPythonHome"));
        c.python_paths.clear();
        assert!(!render_httpd_conf(&c).contains("WSGIPythonPath"));
    }

    #[test]
    fn url_aliases_longest_first() {
        let mut c = sample();
        c.url_aliases = vec![
            UrlAlias {
                url: "/static".into(),
                target: AliasTarget::Directory("/srv/static".into()),
            },
            UrlAlias {
                url: "/static/img".into(),
                target: AliasTarget::Directory("/srv/img".into()),
            },
            UrlAlias {
                url: "/robots.txt".into(),
                target: AliasTarget::File {
                    directory: "/srv/files".into(),
                    name: "robots.txt".into(),
                },
            },
        ];
        let conf = render_httpd_conf(&c);
        let img = conf.find("Alias \"/static/img\" \"/srv/img\"").unwrap();
        let stat = conf.find("Alias \"/static\" \"/srv/static\"").unwrap();
        assert!(img < stat);
        assert!(conf.contains(
            "Alias \"/robots.txt\" \"/srv/files/robots.txt\"\n<Directory \"/srv/files\">\n<Files \"robots.txt\">\n    Require all granted\n</Files>\n</Directory>"
        ));
        assert!(conf.contains("<Directory \"/srv/img\">\n    AllowOverride None\n    Require all granted\n</Directory>"));
    }

    #[test]
    fn daemon_block() {
        let mut c = sample();
        c.mode = Mode::Daemon;
        c.host = "localhost".into();
        c.listen_host = None;
        c.port = 8000;
        c.python_paths = vec!["/srv/lib".into()];
        let conf = render_httpd_conf(&c);
        for line in [
            "WSGIRestrictEmbedded On",
            "WSGISocketPrefix \"/tmp/mod_wsgi-127.0.0.1:8123:1000/wsgi\"",
            "WSGISocketRotation Off",
            "WSGIDaemonProcess \"localhost:8000\" \\",
            "    display-name=\"(wsgi:localhost:8000:1000)\" \\",
            "    home=\"/srv/app\" \\",
            "    threads=5 \\",
            "    python-path=\"/srv/lib\" \\",
            "    request-timeout=60 \\",
            "    queue-timeout=45 \\",
            "    socket-timeout=60 \\",
            "    connect-timeout=15 \\",
            "    startup-timeout=15 \\",
            "    deadlock-timeout=60 \\",
            "    graceful-timeout=15 \\",
            "    python-eggs=\"/tmp/mod_wsgi-127.0.0.1:8123:1000/python-eggs\" \\",
            "    shutdown-timeout=5 \\",
            "    send-buffer-size=0 \\",
            "    receive-buffer-size=0 \\",
            "    header-buffer-size=0 \\",
            "    response-buffer-size=0 \\",
            "    response-socket-timeout=0 \\",
            "    server-metrics=Off",
            "WSGIServerMetrics Off",
            "WSGIScriptReloading On",
            "WSGIScriptAlias / \"/srv/app/app.wsgi\" process-group=\"localhost:8000\" application-group=%{GLOBAL}",
            "ThreadStackSize 262144",
        ] {
            assert!(has_line(&conf, line), "missing {line:?} in\n{conf}");
        }
        assert!(
            !conf.contains("processes="),
            "processes= only when --processes given"
        );
        assert!(
            !conf.contains("WSGIPythonPath"),
            "daemon mode uses python-path="
        );
        // 4.9.4's order: python-path=, python-eggs=, lang=.
        let at = |opt: &str| conf.find(opt).unwrap();
        assert!(at("python-path=") < at("python-eggs=") && at("python-eggs=") < at("lang="));
        c.daemon.header_buffer_size = 16384;
        c.daemon.response_socket_timeout = 7;
        let tuned = render_httpd_conf(&c);
        assert!(has_line(&tuned, "    header-buffer-size=16384 \\"));
        assert!(has_line(&tuned, "    response-socket-timeout=7 \\"));
        assert!(
            !render_httpd_conf(&sample()).contains("python-eggs"),
            "daemon mode only"
        );
        // The daemon group must be defined before the alias that names it.
        assert!(conf.find("WSGIDaemonProcess").unwrap() < conf.find("WSGIScriptAlias").unwrap());
        c.multiprocess = true;
        c.processes = 2;
        assert!(has_line(&render_httpd_conf(&c), "    processes=2 \\"));
    }

    #[test]
    fn request_read_timeouts_compose_as_4_9_4() {
        let mut c = sample();
        assert!(has_line(
            &render_httpd_conf(&c),
            "RequestReadTimeout header=15-30,MinRate=500 body=15,MinRate=500"
        ));
        c.read_timeouts.header_max = 0;
        c.read_timeouts.body_max = 60;
        c.read_timeouts.body_min_rate = 0;
        assert_eq!(
            c.read_timeouts.directive_value(),
            "header=15,MinRate=500 body=15-60"
        );
        c.read_timeouts.header = 0;
        assert_eq!(c.read_timeouts.directive_value(), "body=15-60");
        c.read_timeouts.body = 0;
        assert_eq!(c.read_timeouts.directive_value(), "header=0 body=0");
    }

    #[test]
    fn server_status_and_metrics() {
        let conf = render_httpd_conf(&sample());
        assert!(has_line(&conf, "WSGIServerMetrics Off"));
        for absent in [
            "status_module",
            "ExtendedStatus",
            "server-status",
            "authz_host",
        ] {
            assert!(!conf.contains(absent), "{absent} without --server-status");
        }

        let mut c = sample();
        c.server_status = true;
        let conf = render_httpd_conf(&c);
        assert!(conf.contains(
            "<IfModule !status_module>\nLoadModule status_module \"/usr/lib/apache2/modules/mod_status.so\"\n</IfModule>"
        ));
        assert!(conf.contains("LoadModule authz_host_module "));
        assert!(has_line(&conf, "ExtendedStatus On"));
        // As mod_wsgi-express 4.9.4: localhost only; metrics stay off.
        assert!(conf.contains(
            "<Location /server-status>\n    SetHandler server-status\n    Require all denied\n    Require host localhost\n</Location>\n"
        ));
        assert!(has_line(&conf, "WSGIServerMetrics Off"));
        assert_eq!(c.server_status_url(), "http://127.0.0.1:8123/server-status");

        let mut c = sample();
        c.server_metrics = true;
        c.mode = Mode::Daemon;
        let conf = render_httpd_conf(&c);
        assert!(conf.contains("LoadModule status_module "));
        assert!(has_line(&conf, "ExtendedStatus On"));
        assert!(has_line(&conf, "WSGIServerMetrics On"));
        assert!(has_line(&conf, "    server-metrics=On"));
        assert!(!conf.contains("<Location /server-status>"));
        assert!(!conf.contains("authz_host_module"));
    }

    #[test]
    fn process_name_fits_the_daemon_display_name() {
        let mut c = sample();
        assert_eq!(c.daemon_display_name(), "(wsgi:127.0.0.1:8123:1000)");
        assert_eq!(c.argv0(), "apache2 (wsgirt-express)  ");
        c.host = "h".into();
        assert_eq!(c.argv0(), "apache2 (wsgirt-express)");
        c.process_name = Some("myapp".into());
        assert_eq!(c.argv0(), format!("{:<18}", "myapp"));
    }

    #[test]
    fn daemon_front_end_matches_mod_wsgi_express() {
        // Defaults: 1 process x 5 threads -> 20 clients in 2 children of 10.
        assert_eq!(
            daemon_front_end_sizing(1, 5, &DaemonSettings::default()),
            WorkerSizing {
                server_limit: 2,
                start_servers: 1,
                threads_per_child: 10,
                max_request_workers: 20,
                min_spare_threads: 10,
                max_spare_threads: 10,
            }
        );
        // 4 x 10 = 40 -> 10 + 60 = 70 clients; 70 / (3 + 1) = 17 per child, 5 children.
        let s = daemon_front_end_sizing(4, 10, &DaemonSettings::default());
        assert_eq!(
            (s.threads_per_child, s.server_limit, s.max_request_workers),
            (17, 5, 85)
        );
        assert_eq!(
            (s.start_servers, s.min_spare_threads, s.max_spare_threads),
            (1, 17, 51)
        );
        // --max-clients never goes below the daemon capacity.
        let mut d = DaemonSettings {
            max_clients: Some(5),
            ..DaemonSettings::default()
        };
        assert_eq!(daemon_front_end_sizing(2, 10, &d).max_request_workers, 20);

        // The worker fractions, as 4.9.4 computes them: 200 clients are 12
        // children of 18 threads; int(0.5 * 12) = 6 started, the minimum
        // spare follows the initial fraction, int(0.9 * 12) = 10 at most.
        d.max_clients = Some(200);
        d.initial_workers = Some(Fraction(0.5));
        d.maximum_spare_workers = Some(Fraction(0.9));
        let s = daemon_front_end_sizing(1, 5, &d);
        assert_eq!((s.server_limit, s.threads_per_child), (12, 18));
        assert_eq!(
            (s.start_servers, s.min_spare_threads, s.max_spare_threads),
            (6, 6 * 18, 10 * 18)
        );
        // Zero still starts one child and keeps one child's threads spare.
        d.initial_workers = Some(Fraction(0.0));
        d.minimum_spare_workers = Some(Fraction(0.0));
        let s = daemon_front_end_sizing(1, 5, &d);
        assert_eq!((s.start_servers, s.min_spare_threads), (1, 18));
        d.minimum_spare_workers = Some(Fraction(1.0));
        assert_eq!(daemon_front_end_sizing(1, 5, &d).min_spare_threads, 12 * 18);
    }

    #[test]
    fn mount_point_document_root_setenv_and_includes() {
        let mut c = sample();
        c.mount_point = "/app".into();
        c.document_root = "/srv/static".into();
        c.setenv = vec![("DEPLOY".into(), "blue green".into())];
        c.include_files = vec!["/etc/extra.conf".into(), "/etc/more.conf".into()];
        let conf = render_httpd_conf(&c);
        for line in [
            "WSGIScriptAlias /app \"/srv/app/app.wsgi\" process-group=%{GLOBAL} application-group=%{GLOBAL}",
            "DocumentRoot \"/srv/static\"",
            "<Directory \"/srv/static\">",
            "RewriteEngine On",
            "RewriteCond \"%{DOCUMENT_ROOT}%{REQUEST_URI}\" -f",
            "RewriteRule \"^\" \"%{DOCUMENT_ROOT}%{REQUEST_URI}\" [L]",
            "SetEnv \"DEPLOY\" \"blue green\"",
            "Include \"/etc/extra.conf\"",
        ] {
            assert!(has_line(&conf, line), "missing {line:?} in\n{conf}");
        }
        assert!(conf.contains("LoadModule rewrite_module"));
        // Includes come last and in order, so they can override.
        let tail: Vec<&str> = conf.lines().rev().take(2).collect();
        assert_eq!(
            tail,
            ["Include \"/etc/more.conf\"", "Include \"/etc/extra.conf\""]
        );
        c.mount_point = "/my app".into();
        assert!(render_httpd_conf(&c).contains("WSGIScriptAlias \"/my app\" "));
    }

    #[test]
    fn service_scripts_get_threads_0_daemons_and_log_hosts() {
        let mut c = sample();
        c.python_paths = vec!["/srv/lib".into()];
        c.services = vec![
            Service {
                name: "ticker".into(),
                script: "/srv/ticker.py".into(),
                user: "www-data".into(),
                group: "www-data".into(),
                log_file: None,
            },
            Service {
                name: "mailer".into(),
                script: "/srv/mail er.py".into(),
                user: "nobody".into(),
                group: "nogroup".into(),
                log_file: Some("mailer.log".into()),
            },
        ];
        let conf = render_httpd_conf(&c);
        for line in [
            "WSGIDaemonProcess \"service:ticker\" \\",
            "    display-name=%{GROUP} \\",
            "    user=\"www-data\" \\",
            "    threads=0 \\",
            "    python-path=\"/srv/lib\" \\",
            "WSGIImportScript \"/srv/ticker.py\" process-group=\"service:ticker\" application-group=%{GLOBAL}",
            "<VirtualHost 192.0.2.1:8123>",
            "ErrorLog \"/tmp/mod_wsgi-127.0.0.1:8123:1000/mailer.log\"",
            "WSGIDaemonProcess \"service:mailer\" \\",
            "    user=\"nobody\" \\",
            "    group=\"nogroup\" \\",
            "WSGIImportScript \"/srv/mail er.py\" process-group=\"service:mailer\" application-group=%{GLOBAL}",
        ] {
            assert!(has_line(&conf, line), "missing {line:?} in\n{conf}");
        }
        // The plain service is at server level, the logged one inside its host.
        let host = conf.find("<VirtualHost 192.0.2.1").unwrap();
        assert!(conf.find("\"service:ticker\" \\").unwrap() < host);
        assert!(conf.find("\"service:mailer\" \\").unwrap() > host);
        // Nothing of the request side for services.
        assert_eq!(conf.matches("threads=0").count(), 2);
        assert_eq!(conf.matches("ticker.py").count(), 1);
        // Apache's argv[0] is padded so that the longest name fits.
        assert!(c.argv0().len() >= "(wsgi:service:mailer)".len());
        c.log_rotation = Some(LogRotation {
            executable: "/usr/bin/rotatelogs".into(),
            max_log_size: 5,
        });
        assert!(has_line(
            &render_httpd_conf(&c),
            "ErrorLog \"|'/usr/bin/rotatelogs' '/tmp/mod_wsgi-127.0.0.1:8123:1000/mailer.log.%Y-%m-%d-%H_%M_%S' 5M\""
        ));
        // Embedded mode writes them too, as 4.9.4 does.
        c.mode = Mode::Embedded;
        assert!(render_httpd_conf(&c).contains("WSGIDaemonProcess \"service:ticker\""));
        assert!(!render_httpd_conf(&sample()).contains("service:"));
    }

    #[test]
    fn rotate_logs_pipes_both_logs_through_rotatelogs() {
        let mut c = sample();
        c.access_log = true;
        c.log_directory = "/var/log/my app".into();
        c.log_rotation = Some(LogRotation {
            executable: "/usr/bin/rotatelogs".into(),
            max_log_size: 5,
        });
        let conf = render_httpd_conf(&c);
        for line in [
            "ErrorLog \"|'/usr/bin/rotatelogs' '/var/log/my app/error_log.%Y-%m-%d-%H_%M_%S' 5M\"",
            "CustomLog \"|'/usr/bin/rotatelogs' '/var/log/my app/access_log.%Y-%m-%d-%H_%M_%S' 5M\" common",
        ] {
            assert!(has_line(&conf, line), "missing {line:?} in\n{conf}");
        }
    }

    #[test]
    fn directory_index_listing_and_allow_override() {
        let mut c = sample();
        let conf = render_httpd_conf(&c);
        assert!(conf.contains("<Directory \"/tmp/mod_wsgi-127.0.0.1:8123:1000/htdocs\">\n    AllowOverride None\n    Require all granted\n</Directory>\n"), "{conf}");
        assert!(!conf.contains("-d\n") && !conf.contains("autoindex"));
        c.site.directory_index = Some("index.html".into());
        c.site.directory_listing = true;
        c.site.allow_override = vec!["FileInfo".into(), "Indexes".into()];
        c.url_aliases = vec![UrlAlias {
            url: "/media".into(),
            target: AliasTarget::Directory("/srv/media".into()),
        }];
        let conf = render_httpd_conf(&c);
        let expected = "<Directory \"/tmp/mod_wsgi-127.0.0.1:8123:1000/htdocs\">\n    AllowOverride FileInfo Indexes\n    \
                        DirectoryIndex \"index.html\"\n    Options +Indexes\n    \
                        Require all granted\n</Directory>\n";
        assert!(conf.contains(expected), "{conf}");
        // Directories are served statically after existing files.
        let expected = "RewriteRule \"^\" \"%{DOCUMENT_ROOT}%{REQUEST_URI}\" [L]\n\
                        RewriteCond \"%{DOCUMENT_ROOT}%{REQUEST_URI}\" -d\n\
                        RewriteRule \"^\" \"%{DOCUMENT_ROOT}%{REQUEST_URI}\" [L]\n\
                        RewriteCond %{IS_SUBREQ} true\n\
                        RewriteRule /index\\.html$ \"%{DOCUMENT_ROOT}%{REQUEST_URI}\" [L]\n";
        assert!(conf.contains(expected), "{conf}");
        assert!(conf.contains("<Directory \"/srv/media\">\n    AllowOverride FileInfo Indexes\n"));
        assert!(conf.contains("LoadModule autoindex_module"));
    }

    #[test]
    fn prefork_is_sized_as_4_9_4_sizes_it() {
        let d = DaemonSettings::default();
        // 5 threads: 10 + max(10, 7) clients; 5% start, 5% and 10% spare.
        assert_eq!(
            daemon_prefork_sizing(1, 5, &d),
            PreforkSizing {
                server_limit: 20,
                start_servers: 1,
                max_request_workers: 20,
                min_spare_servers: 1,
                max_spare_servers: 2,
            }
        );
        let d = DaemonSettings {
            max_clients: Some(100),
            initial_workers: Some(Fraction(0.2)),
            maximum_spare_workers: Some(Fraction(0.5)),
            ..DaemonSettings::default()
        };
        assert_eq!(
            daemon_prefork_sizing(2, 5, &d),
            PreforkSizing {
                server_limit: 100,
                start_servers: 20,
                max_request_workers: 100,
                min_spare_servers: 20,
                max_spare_servers: 50,
            }
        );
        assert_eq!(
            embedded_prefork_sizing(2, 3),
            PreforkSizing {
                server_limit: 6,
                start_servers: 6,
                max_request_workers: 6,
                min_spare_servers: 6,
                max_spare_servers: 6,
            }
        );
        let mut c = sample();
        c.mode = Mode::Daemon;
        let conf = render_httpd_conf(&c);
        assert!(
            conf.contains(
                "LoadModule mpm_event_module \"/usr/lib/apache2/modules/mod_mpm_event.so\""
            ),
            "{conf}"
        );
        assert!(
            conf.contains(
                "<IfModule mpm_prefork_module>\nServerLimit 20\nStartServers 1\n\
             MaxRequestWorkers 20\nMinSpareServers 1\nMaxSpareServers 2\n\
             MaxConnectionsPerChild 0\n</IfModule>\n"
            ),
            "{conf}"
        );
        c.server_mpm = "prefork".into();
        let conf = render_httpd_conf(&c);
        assert!(
            conf.contains(
                "LoadModule mpm_prefork_module \"/usr/lib/apache2/modules/mod_mpm_prefork.so\""
            ),
            "{conf}"
        );
    }

    #[test]
    fn https_serves_the_site_on_a_second_port() {
        let mut c = sample();
        let conf = render_httpd_conf(&c);
        assert!(!conf.contains("mod_ssl.so") && !conf.contains("SSLEngine"));
        c.https = Some(Https {
            port: 8443,
            certificate_file: "/certs/site.crt".into(),
            certificate_key_file: "/certs/site.key".into(),
            certificate_chain_file: None,
            ca_certificate_file: None,
            verify_client_urls: Vec::new(),
            environment: false,
            https_only: false,
            hsts_policy: None,
        });
        assert_eq!(c.https_url().as_deref(), Some("https://127.0.0.1:8443/"));
        let conf = render_httpd_conf(&c);
        assert!(conf.contains("LoadModule ssl_module"), "{conf}");
        assert!(!conf.contains("mod_headers.so"));
        let expected = "Listen 127.0.0.1:8443\n<VirtualHost _default_:8443>\n\
                        RewriteEngine On\nRewriteOptions Inherit\nSSLEngine On\n\
                        SSLCertificateFile \"/certs/site.crt\"\n\
                        SSLCertificateKeyFile \"/certs/site.key\"\n</VirtualHost>\n";
        assert!(conf.contains(expected), "{conf}");
        assert!(!conf.contains("SSLVerifyClient") && !conf.contains("RewriteCond %{HTTPS}"));

        // Client certificates under the given URLs (longest first), HSTS,
        // the SSL environment, the chain and plain HTTP redirected.
        let h = c.https.as_mut().unwrap();
        h.ca_certificate_file = Some("/certs/ca.crt".into());
        h.verify_client_urls = vec!["/admin".into(), "/admin/deep".into()];
        h.certificate_chain_file = Some("/certs/chain.crt".into());
        h.environment = true;
        h.https_only = true;
        h.hsts_policy = Some("max-age=60; includeSubDomains".into());
        let conf = render_httpd_conf(&c);
        let deep = conf
            .find("<Location \"/admin/deep\">\n    SSLRequireSSL\n    SSLVerifyClient require\n    SSLVerifyDepth 1\n</Location>")
            .expect(&conf);
        assert!(deep < conf.find("<Location \"/admin\">").unwrap());
        for line in [
            "SSLCACertificateFile \"/certs/ca.crt\"",
            "SSLVerifyClient none",
            "SSLCertificateChainFile \"/certs/chain.crt\"",
            "Header set Strict-Transport-Security \"max-age=60; includeSubDomains\"",
            "SSLOptions +StdEnvVars",
        ] {
            assert!(
                conf.lines().any(|l| l == line),
                "missing {line:?} in\n{conf}"
            );
        }
        assert!(conf.contains("LoadModule headers_module"));
        let redirect = "<VirtualHost _default_:8123>\nRewriteEngine On\n\
                        RewriteCond %{HTTPS} off\n\
                        RewriteRule (.*) https://%{SERVER_NAME}:8443%{REQUEST_URI} [R,L]\n\
                        </VirtualHost>\n";
        assert!(conf.contains(redirect), "{conf}");
        // Without a CA there is nothing to verify against.
        c.https.as_mut().unwrap().ca_certificate_file = None;
        assert!(!render_httpd_conf(&c).contains("SSLVerifyClient"));
    }

    #[test]
    fn https_with_server_name_follows_4_9_4_virtual_hosts() {
        let mut c = sample();
        c.server_name = Some("www.example.test".into());
        c.server_aliases = vec!["*.example.test".into()];
        c.https = Some(Https {
            port: 8443,
            certificate_file: "/certs/site.crt".into(),
            certificate_key_file: "/certs/site.key".into(),
            certificate_chain_file: None,
            ca_certificate_file: None,
            verify_client_urls: Vec::new(),
            environment: true,
            https_only: false,
            hsts_policy: None,
        });
        assert_eq!(
            c.https_url().as_deref(),
            Some("https://www.example.test:8443/")
        );
        let conf = render_httpd_conf(&c);
        let https = &conf[conf.find("# HTTPS").unwrap()..];
        let ssl = "SSLEngine On\nSSLCertificateFile \"/certs/site.crt\"\n\
                   SSLCertificateKeyFile \"/certs/site.key\"\n";
        let default = format!(
            "<VirtualHost _default_:8443>\n<Location />\n    Require all denied\n</Location>\n{ssl}</VirtualHost>\n"
        );
        assert!(https.contains(&default), "{https}");
        let named = format!(
            "<VirtualHost *:8443>\nServerName www.example.test\nServerAlias *.example.test\n\
             RewriteEngine On\nRewriteOptions Inherit\n{ssl}SSLOptions +StdEnvVars\n</VirtualHost>\n"
        );
        assert!(https.contains(&named), "{https}");
        let parent = format!(
            "<VirtualHost *:8443>\nServerName example.test\n\
             Redirect permanent / https://www.example.test:8443/\n{ssl}</VirtualHost>\n"
        );
        assert!(https.contains(&parent), "{https}");
        // Plain HTTP still serves the name.
        assert!(conf.contains("Redirect permanent / http://www.example.test:8123/"));

        // --https-only: the HTTP name and bare domain redirect to HTTPS.
        c.https.as_mut().unwrap().https_only = true;
        let conf = render_httpd_conf(&c);
        let to_https = "RewriteEngine On\nRewriteCond %{HTTPS} off\n\
                        RewriteRule (.*) https://www.example.test:8443%{REQUEST_URI} [R,L]\n\
                        </VirtualHost>\n";
        let http_named = format!(
            "<VirtualHost *:8123>\nServerName www.example.test\nServerAlias *.example.test\n{to_https}"
        );
        assert!(conf.contains(&http_named), "{conf}");
        let http_parent = format!("<VirtualHost *:8123>\nServerName example.test\n{to_https}");
        assert!(conf.contains(&http_parent), "{conf}");
        assert!(!conf.contains("Redirect permanent / http://"));
        // No catch-all HTTP redirect: the default host still refuses.
        assert!(!conf.contains("%{SERVER_NAME}"));
    }

    #[test]
    fn hook_scripts_guard_the_whole_site() {
        let mut c = sample();
        let conf = render_httpd_conf(&c);
        assert!(!conf.contains("WSGIAccessScript") && !conf.contains("AuthType"));
        assert!(!conf.contains("mod_auth_basic.so"));

        c.hooks.host_access_script = Some("/srv/hooks/access.py".into());
        c.hooks.auth_user_script = Some("/srv/hooks/users.py".into());
        let conf = render_httpd_conf(&c);
        let expected = "<Location />\n    WSGIAccessScript \"/srv/hooks/access.py\"\n</Location>\n";
        assert!(conf.contains(expected), "{conf}");
        let expected = "<Location />\n    AuthType Basic\n    AuthName \"127.0.0.1:8123\"\n    \
                        AuthBasicProvider wsgi\n    WSGIAuthUserScript \"/srv/hooks/users.py\"\n    \
                        <RequireAll>\n    Require valid-user\n    </RequireAll>\n</Location>\n";
        assert!(conf.contains(expected), "{conf}");
        for module in [
            "mod_authn_core.so",
            "mod_authz_user.so",
            "mod_auth_basic.so",
        ] {
            assert!(conf.contains(module), "{module} not loaded:\n{conf}");
        }
        assert!(!conf.contains("mod_auth_digest.so"));
        // After the application and its <Directory> grants, before the
        // status page's own <Location>.
        c.server_status = true;
        let conf = render_httpd_conf(&c);
        let auth = conf.find("AuthType").unwrap();
        assert!(conf.find("WSGIScriptAlias").unwrap() < auth);
        assert!(auth < conf.find("<Location /server-status>").unwrap());

        c.hooks.auth_type = "Digest".into();
        c.hooks.auth_group_script = Some("/srv/hooks/groups.py".into());
        c.hooks.auth_group = "admins".into();
        let conf = render_httpd_conf(&c);
        for line in [
            "    AuthType Digest",
            "    AuthDigestProvider wsgi",
            "    WSGIAuthGroupScript \"/srv/hooks/groups.py\"",
            "    Require wsgi-group \"admins\"",
        ] {
            assert!(
                conf.lines().any(|l| l == line),
                "missing {line:?} in\n{conf}"
            );
        }
        assert!(conf.contains("mod_auth_digest.so") && !conf.contains("mod_auth_basic.so"));
    }

    #[test]
    fn pid_file_socket_prefix_error_documents_ignore_activity() {
        let mut c = sample();
        c.mode = Mode::Daemon;
        c.pid_file = "/run/app.pid".into();
        c.socket_prefix = "/run/app/wsgi".into();
        c.error_documents = vec![(404, "/404.html".into()), (500, "/oops.html".into())];
        c.ignore_activity = vec!["/health".into()];
        let conf = render_httpd_conf(&c);
        for line in [
            "PidFile \"/run/app.pid\"",
            "WSGISocketPrefix \"/run/app/wsgi\"",
            "ErrorDocument 404 \"/404.html\"",
            "ErrorDocument 500 \"/oops.html\"",
        ] {
            assert!(has_line(&conf, line), "missing {line:?}");
        }
        assert!(conf.contains("<Location \"/health\">\nWSGIIgnoreActivity On\n</Location>\n"));
        assert!(!render_httpd_conf(&sample()).contains("ErrorDocument"));
    }

    #[test]
    fn server_name_makes_name_based_virtual_hosts() {
        let mut c = sample();
        assert!(!render_httpd_conf(&c).contains("VirtualHost"));
        c.server_name = Some("www.example.com".into());
        c.server_aliases = vec!["example.org".into(), "*.example.net".into()];
        let conf = render_httpd_conf(&c);
        assert!(conf.contains(
            "<VirtualHost _default_:8123>\nRewriteEngine On\nRewriteOptions Inherit\n\
             <Location />\n    Require all denied\n</Location>\n</VirtualHost>\n\
             <VirtualHost *:8123>\nServerName www.example.com\n\
             ServerAlias example.org *.example.net\n\
             RewriteEngine On\nRewriteOptions Inherit\n</VirtualHost>\n\
             <VirtualHost *:8123>\nServerName example.com\n\
             Redirect permanent / http://www.example.com:8123/\n</VirtualHost>\n"
        ));
        assert!(!conf.contains("authz_host"));
        assert_eq!(c.url(), "http://www.example.com:8123/");
        assert_eq!(c.status_fetch_url(), "http://127.0.0.1:8123/server-status");

        c.server_name = Some("app.example.com".into());
        c.server_aliases.clear();
        c.allow_localhost = true;
        let conf = render_httpd_conf(&c);
        assert!(conf.contains("    Require all denied\n    Require host localhost\n</Location>"));
        assert!(conf.contains("LoadModule authz_host_module "));
        assert!(!conf.contains("ServerAlias") && !conf.contains("Redirect"));
    }

    #[test]
    fn debug_mode_is_one_process_without_reloading() {
        let mut c = sample();
        assert!(!c.httpd_args().contains(&"-DONE_PROCESS".to_string()));
        assert_eq!(c.operating_mode(), "embedded");
        c.reload_on_changes = true;
        c.debug = Some(DebugMode {
            target: "/srv/app/app.wsgi".into(),
            enable_debugger: false,
            debugger_startup: false,
            profiler_directory: None,
            recorder_directory: None,
        });
        assert_eq!(c.httpd_args(), ["-DONE_PROCESS"]);
        assert_eq!(c.operating_mode(), "debug");
        assert!(!c.script_reloading());
        let conf = render_httpd_conf(&c);
        assert!(has_line(&conf, "WSGIScriptReloading Off"), "{conf}");
        assert!(has_line(&conf, "WSGIRestrictStdin Off"), "{conf}");
        c.startup_log = true;
        assert_eq!(
            c.httpd_args(),
            [
                "-E",
                "/tmp/mod_wsgi-127.0.0.1:8123:1000/startup_log",
                "-DONE_PROCESS"
            ]
        );
    }

    #[test]
    fn proxies_follow_4_9_4() {
        let conf = render_httpd_conf(&sample());
        assert!(!conf.contains("proxy"), "{conf}");
        assert!(!conf.contains("ProxyPass"), "{conf}");
        let mut c = sample();
        c.proxies.mount_points = vec![
            ("/api".into(), "http://127.0.0.1:9000".into()),
            ("/api/v2/".into(), "http://127.0.0.1:9002/".into()),
            ("/a.b".into(), "http://h/x/".into()),
        ];
        let conf = render_httpd_conf(&c);
        for module in ["proxy_module", "proxy_http_module", "headers_module"] {
            assert!(conf.contains(&format!("LoadModule {module} ")), "{conf}");
        }
        let forwarded = "RequestHeader set X-Forwarded-Port \"expr=%{SERVER_PORT}\"\n\
                         RequestHeader set X-Forwarded-Scheme https \"expr=%{HTTPS} == 'on'\"\n";
        // Longest first; a slash-less URL-PATH proxies URL-PATH/ and
        // redirects URL-PATH itself.
        let expected = format!(
            "ProxyPass \"/api/v2/\" \"http://127.0.0.1:9002/\"\n\
             ProxyPassReverse \"/api/v2/\" \"http://127.0.0.1:9002/\"\n\
             <Location \"/api/v2/\">\n{forwarded}</Location>\n\
             ProxyPass \"/api/\" \"http://127.0.0.1:9000/\"\n\
             ProxyPassReverse \"/api/\" \"http://127.0.0.1:9000/\"\n\
             <Location \"/api/\">\n{forwarded}</Location>\n\
             RedirectMatch 302 \"^/api$\" \"/api/\"\n\
             ProxyPass \"/a.b/\" \"http://h/x/\"\n\
             ProxyPassReverse \"/a.b/\" \"http://h/x/\"\n\
             <Location \"/a.b/\">\n{forwarded}</Location>\n\
             RedirectMatch 302 \"^/a\\\\.b$\" \"/a.b/\"\n"
        );
        assert!(conf.contains(&expected), "{expected}\nnot in\n{conf}");
        assert!(!conf.contains("<VirtualHost"), "{conf}");

        // Virtual hosts: a default host that serves the site comes first.
        let mut c = sample();
        c.proxies.virtual_hosts = vec![("api.example.com".into(), "http://127.0.0.1:9001".into())];
        let conf = render_httpd_conf(&c);
        let expected = "<VirtualHost _default_:8123>\nRewriteEngine On\nRewriteOptions Inherit\n</VirtualHost>\n\
             <VirtualHost *:8123>\nServerName api.example.com\n\
             ProxyPass / \"http://127.0.0.1:9001/\"\n\
             ProxyPassReverse / \"http://127.0.0.1:9001/\"\n\
             RequestHeader set X-Forwarded-Port 8123\n\
             RequestHeader set X-Forwarded-Scheme https \"expr=%{HTTPS} == 'on'\"\n</VirtualHost>\n";
        assert!(conf.contains(expected), "{expected}\nnot in\n{conf}");
        // With --server-name its hosts come first and are the default.
        c.server_name = Some("www.example.com".into());
        let conf = render_httpd_conf(&c);
        assert_eq!(conf.matches("<VirtualHost _default_:8123>").count(), 1);
        assert!(
            conf.find("ServerName www.example.com").unwrap()
                < conf.find("ServerName api.example.com").unwrap()
        );
    }

    #[test]
    fn features_map_onto_directives() {
        let conf = render_httpd_conf(&sample());
        // 4.9.4 writes WSGIDestroyInterpreter either way.
        assert!(has_line(&conf, "WSGIDestroyInterpreter On"));
        for absent in [
            "WSGIChunkedRequest",
            "WSGITrusted",
            "WSGIErrorOverride",
            "Sendfile",
            "DEFLATE",
            "deflate_module",
            "PassEnv",
            "Protocols",
            "http2_module",
        ] {
            assert!(!conf.contains(absent), "{absent} by default");
        }
        let mut c = sample();
        c.mode = Mode::Daemon;
        c.reload_on_changes = true;
        c.features = Features {
            chunked_request: true,
            enable_sendfile: true,
            error_override: true,
            orphan_interpreter: true,
            disable_reloading: true,
            compress_responses: true,
            trusted_proxy_headers: vec!["X-Forwarded-For".into(), "X-Forwarded-Proto".into()],
            trusted_proxies: vec!["127.0.0.1".into(), "10.0.0.0/8".into()],
            passenv: vec!["HOME".into()],
            http2: true,
        };
        let conf = render_httpd_conf(&c);
        for line in [
            "Protocols h2 h2c http/1.1",
            "LoadModule http2_module \"/usr/lib/apache2/modules/mod_http2.so\"",
            "WSGIDestroyInterpreter Off",
            "WSGIChunkedRequest On",
            "WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Proto",
            "WSGITrustedProxies 127.0.0.1 10.0.0.0/8",
            "WSGIErrorOverride On",
            "EnableSendfile On",
            "WSGIEnableSendfile On",
            "AddOutputFilterByType DEFLATE text/plain",
            "AddOutputFilterByType DEFLATE application/json",
            "PassEnv \"HOME\"",
            // --disable-reloading wins, even in daemon mode.
            "WSGIScriptReloading Off",
        ] {
            assert!(has_line(&conf, line), "missing {line:?} in\n{conf}");
        }
        assert!(conf.contains("LoadModule deflate_module "));
        assert!(conf.contains("LoadModule filter_module "));
    }

    #[test]
    fn log_formats_and_names() {
        let mut c = sample();
        c.access_log = true;
        c.access_log_format = Some("combined".into());
        c.error_log_format = Some("[%l] \"%M\"".into());
        c.error_log_name = "err.log".into();
        c.access_log_name = "acc.log".into();
        c.startup_log_name = "st.log".into();
        c.startup_log = true;
        let conf = render_httpd_conf(&c);
        assert!(has_line(
            &conf,
            "LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b \\\"%{Referer}i\\\" \\\"%{User-agent}i\\\"\" combined"
        ));
        assert!(has_line(
            &conf,
            "CustomLog \"/tmp/mod_wsgi-127.0.0.1:8123:1000/acc.log\" combined"
        ));
        assert!(has_line(&conf, "ErrorLogFormat \"[%l] \\\"%M\\\"\""));
        assert!(has_line(
            &conf,
            "ErrorLog \"/tmp/mod_wsgi-127.0.0.1:8123:1000/err.log\""
        ));
        assert_eq!(
            c.httpd_args(),
            ["-E", "/tmp/mod_wsgi-127.0.0.1:8123:1000/st.log"]
        );
        assert!(!conf.contains(" custom"));
        c.access_log_format = Some("%h %{X-Test}i".into());
        let conf = render_httpd_conf(&c);
        assert!(has_line(&conf, "LogFormat \"%h %{X-Test}i\" custom"));
        assert!(has_line(
            &conf,
            "CustomLog \"/tmp/mod_wsgi-127.0.0.1:8123:1000/acc.log\" custom"
        ));
        // The names apply to files only, not to the terminal.
        c.log_to_terminal = true;
        assert_eq!(c.error_log(), "/dev/stderr");
    }

    #[test]
    fn log_directory_and_startup_log() {
        let mut c = sample();
        c.log_directory = "/var/log/app".into();
        c.access_log = true;
        assert_eq!(c.error_log(), "/var/log/app/error_log");
        assert_eq!(
            c.access_log_file().as_deref(),
            Some("/var/log/app/access_log")
        );
        assert_eq!(c.startup_log_file(), None);
        assert!(c.httpd_args().is_empty());
        c.startup_log = true;
        assert_eq!(c.httpd_args(), ["-E", "/var/log/app/startup_log"]);
        c.log_to_terminal = true;
        assert_eq!(c.httpd_args(), ["-E", "/dev/stderr"]);
    }

    #[test]
    fn directory_grant_is_for_the_script_directory() {
        let conf = render_httpd_conf(&sample());
        let grant = "<Directory \"/srv/app\">\n    AllowOverride None\n    Require all granted\n</Directory>";
        assert!(conf.contains(grant));
        assert!(conf.contains(
            "<Directory />\n    AllowOverride None\n    Require all denied\n</Directory>"
        ));
    }
}
