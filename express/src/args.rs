//! Command-line parsing: subcommands, the option table, `--help` text.
//!
//! Hand-rolled on purpose (the crate is std-only). The option table drives
//! both parsing and the help text so they cannot drift apart. Options follow
//! mod_wsgi-express 4.9.4: `--name VALUE` or `--name=VALUE`, options and the
//! positional SCRIPT may be interleaved, `--` ends option parsing, and
//! repeatable options (`--python-path`, `--url-alias`, `--setenv`,
//! `--include-file`) accumulate.

use std::ffi::OsString;
use std::path::PathBuf;
use std::str::FromStr;

use crate::config::{
    DaemonSettings, Features, Fraction, HookScripts, Proxies, ReadTimeouts, SiteOptions,
};
use crate::error::{Error, Result};

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `wsgirt-express`, `--help` or `help`: the list of commands.
    Help,
    /// `--version`.
    Version,
    /// `COMMAND --help`.
    HelpFor(&'static str),
    StartServer(ServerArgs),
    SetupServer(ServerArgs),
    ModuleConfig(ModuleArgs),
    ModuleLocation(ModuleArgs),
}

/// Which way the application is hosted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModeChoice {
    /// Nothing given: daemon mode, as in mod_wsgi-express.
    #[default]
    Default,
    /// `--embedded-mode`.
    Embedded,
    /// `--daemon-mode`: the default spelled out (a wsgirt-express flag;
    /// mod_wsgi-express 4.9.4 has none).
    Daemon,
}

/// Options of `module-config` and `module-location`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModuleArgs {
    pub module_path: Option<PathBuf>,
}

/// Options of `start-server` and `setup-server`, as given (nothing resolved
/// against the filesystem yet; see `resolve.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerArgs {
    pub script: Option<PathBuf>,
    pub application_type: String,
    pub callable_object: String,
    pub host: Option<String>,
    pub port: u16,
    /// `None` unless `--processes` was given: only then is the application
    /// told it is multi-process (mod_wsgi-express semantics).
    pub processes: Option<u32>,
    pub threads: u32,
    pub mode: ModeChoice,
    pub server_root: Option<PathBuf>,
    pub working_directory: Option<PathBuf>,
    pub python_paths: Vec<PathBuf>,
    pub url_aliases: Vec<(String, PathBuf)>,
    /// `--entry-point`: wins over the positional SCRIPT, as in 4.9.4.
    pub entry_point: Option<PathBuf>,
    pub mount_point: String,
    pub document_root: Option<PathBuf>,
    pub include_files: Vec<PathBuf>,
    pub envvars_script: Option<PathBuf>,
    pub setenv: Vec<(String, String)>,
    pub log_directory: Option<PathBuf>,
    pub startup_log: bool,
    pub user: Option<String>,
    pub group: Option<String>,
    pub log_level: String,
    pub log_to_terminal: bool,
    pub access_log: bool,
    pub access_log_format: Option<String>,
    pub error_log_format: Option<String>,
    pub error_log_name: String,
    pub access_log_name: String,
    pub startup_log_name: String,
    pub reload_on_changes: bool,
    pub map_head_to_get: String,
    pub keep_alive_timeout: u32,
    pub limit_request_body: u64,
    pub socket_timeout: u32,
    pub server_backlog: u32,
    pub maximum_requests: u32,
    pub read_timeouts: ReadTimeouts,
    pub features: Features,
    pub pid_file: Option<PathBuf>,
    pub process_name: Option<String>,
    pub socket_prefix: Option<PathBuf>,
    pub error_documents: Vec<(u16, String)>,
    pub ignore_activity: Vec<String>,
    pub server_name: Option<String>,
    pub server_aliases: Vec<String>,
    pub allow_localhost: bool,
    pub daemon: DaemonSettings,
    /// Daemon-only options the user gave explicitly (for the "ignored in
    /// embedded mode" warning).
    pub daemon_only_given: Vec<&'static str>,
    pub setup_only: bool,
    pub httpd_executable: Option<PathBuf>,
    pub modules_directory: Option<PathBuf>,
    pub module_path: Option<PathBuf>,
    pub mime_types: Option<PathBuf>,
    pub server_status: bool,
    pub server_metrics: bool,
    pub python_eggs: Option<PathBuf>,
    /// `--locale`, else `--lang` (4.9.4 keeps `--lang` as a hidden alias).
    pub locale: Option<String>,
    /// `--host-access-script`, `--auth-user-script`, `--auth-group-script`,
    /// `--auth-type`, `--auth-group` (paths as given).
    pub hooks: HookScripts,
    /// Whether `--auth-type` / `--auth-group` were given (for the warning
    /// when there is no `--auth-user-script` for them to apply to).
    pub auth_type_given: bool,
    pub auth_group_given: bool,
    /// `--directory-index`, `--directory-listing`, `--allow-override`.
    pub site: SiteOptions,
    pub rotate_logs: bool,
    /// `--max-log-size` in MB (4.9.4's default 5).
    pub max_log_size: u32,
    pub rotatelogs_executable: Option<PathBuf>,
    /// `--https-port` and the `--ssl-*` options, as given.
    pub https: HttpsArgs,
    /// `--server-mpm` names (`event`, `worker`, `prefork`), as given.
    pub server_mpm: Vec<String>,
    /// `--service-script NAME PATH` pairs, in order: each runs in its own
    /// `threads=0` daemon group `service:NAME`.
    pub service_scripts: Vec<(String, PathBuf)>,
    /// `--service-user`, `--service-group`, `--service-log-file` pairs
    /// (the last given for a name wins, as 4.9.4's dict() does).
    pub service_users: Vec<(String, String)>,
    pub service_groups: Vec<(String, String)>,
    pub service_log_files: Vec<(String, String)>,
    /// `--proxy-mount-point` (`--proxy-url-alias`), `--proxy-virtual-host`.
    pub proxies: Proxies,
    /// `--debug-mode` and its tools, as given.
    pub debug: DebugArgs,
}

/// `--debug-mode`, `--enable-debugger`, `--debugger-startup`,
/// `--enable-profiler`, `--profiler-directory`, `--enable-recorder`,
/// `--recorder-directory`, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DebugArgs {
    pub debug_mode: bool,
    pub enable_debugger: bool,
    pub debugger_startup: bool,
    pub enable_profiler: bool,
    pub profiler_directory: Option<PathBuf>,
    pub enable_recorder: bool,
    pub recorder_directory: Option<PathBuf>,
}

impl DebugArgs {
    /// Debug mode: asked for, or implied by a tool, as in 4.9.4.
    pub fn enabled(&self) -> bool {
        self.debug_mode || self.enable_debugger || self.enable_profiler || self.enable_recorder
    }
}

/// `--https-port` (`--ssl-port`), `--ssl-certificate-file`,
/// `--ssl-certificate-key-file`, `--ssl-certificate`,
/// `--ssl-certificate-chain-file`, `--ssl-ca-certificate-file`,
/// `--ssl-verify-client`, `--ssl-environment`, `--https-only`,
/// `--hsts-policy`, before `resolve` checks them (paths as given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpsArgs {
    pub port: Option<u16>,
    pub certificate_file: Option<PathBuf>,
    pub certificate_key_file: Option<PathBuf>,
    /// The common prefix of `PREFIX.crt` and `PREFIX.key`; wins over the
    /// two options above, as in 4.9.4.
    pub certificate: Option<PathBuf>,
    pub certificate_chain_file: Option<PathBuf>,
    pub ca_certificate_file: Option<PathBuf>,
    pub verify_client_urls: Vec<String>,
    pub environment: bool,
    pub https_only: bool,
    pub hsts_policy: Option<String>,
}

impl Default for ServerArgs {
    fn default() -> Self {
        ServerArgs {
            script: None,
            application_type: "script".into(),
            callable_object: "application".into(),
            host: None,
            port: 8000,
            processes: None,
            threads: 5,
            mode: ModeChoice::Default,
            server_root: None,
            working_directory: None,
            python_paths: Vec::new(),
            url_aliases: Vec::new(),
            entry_point: None,
            mount_point: "/".into(),
            document_root: None,
            include_files: Vec::new(),
            envvars_script: None,
            setenv: Vec::new(),
            log_directory: None,
            startup_log: false,
            user: None,
            group: None,
            log_level: "warn".into(),
            log_to_terminal: false,
            access_log: false,
            access_log_format: None,
            error_log_format: None,
            error_log_name: "error_log".into(),
            access_log_name: "access_log".into(),
            startup_log_name: "startup_log".into(),
            reload_on_changes: false,
            map_head_to_get: "Auto".into(),
            keep_alive_timeout: 2,
            limit_request_body: 10_485_760,
            socket_timeout: 60,
            server_backlog: 500,
            maximum_requests: 0,
            read_timeouts: ReadTimeouts::default(),
            features: Features::default(),
            pid_file: None,
            process_name: None,
            socket_prefix: None,
            error_documents: Vec::new(),
            ignore_activity: Vec::new(),
            server_name: None,
            server_aliases: Vec::new(),
            allow_localhost: false,
            daemon: DaemonSettings::default(),
            daemon_only_given: Vec::new(),
            setup_only: false,
            httpd_executable: None,
            modules_directory: None,
            module_path: None,
            mime_types: None,
            server_status: false,
            server_metrics: false,
            python_eggs: None,
            locale: None,
            hooks: HookScripts::default(),
            auth_type_given: false,
            auth_group_given: false,
            site: SiteOptions::default(),
            rotate_logs: false,
            max_log_size: 5,
            rotatelogs_executable: None,
            https: HttpsArgs::default(),
            server_mpm: Vec::new(),
            service_scripts: Vec::new(),
            service_users: Vec::new(),
            service_groups: Vec::new(),
            service_log_files: Vec::new(),
            proxies: Proxies::default(),
            debug: DebugArgs::default(),
        }
    }
}

/// Apache `LogLevel` names accepted by `--log-level`.
pub const LOG_LEVELS: &[&str] = &[
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug", "trace1", "trace2",
    "trace3", "trace4", "trace5", "trace6", "trace7", "trace8",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Help,
    // Application
    ApplicationType,
    EntryPoint,
    CallableObject,
    WorkingDirectory,
    PythonPath,
    UrlAlias,
    MountPoint,
    DocumentRoot,
    SetEnv,
    ReloadOnChanges,
    DisableReloading,
    MapHeadToGet,
    ChunkedRequest,
    EnableSendfile,
    ErrorOverride,
    OrphanInterpreter,
    CompressResponses,
    TrustProxyHeader,
    TrustProxy,
    PassEnv,
    ErrorDocument,
    DirectoryIndex,
    DirectoryListing,
    AllowOverride,
    // Access control
    HostAccessScript,
    AuthUserScript,
    AuthType,
    AuthGroupScript,
    AuthGroup,
    PidFile,
    ProcessName,
    SocketPrefix,
    IgnoreActivity,
    // Server
    Host,
    Port,
    Http2,
    ProxyMountPoint,
    ProxyVirtualHost,
    ServerName,
    ServerAlias,
    AllowLocalhost,
    Processes,
    Threads,
    User,
    Group,
    ServerRoot,
    SetupOnly,
    KeepAliveTimeout,
    LimitRequestBody,
    SocketTimeout,
    ServerBacklog,
    HeaderTimeout,
    HeaderMaxTimeout,
    HeaderMinRate,
    BodyTimeout,
    BodyMaxTimeout,
    BodyMinRate,
    MaximumRequests,
    IncludeFile,
    EnvvarsScript,
    ServerStatus,
    ServerMetrics,
    Locale,
    Lang,
    // Logging
    LogLevel,
    LogToTerminal,
    AccessLog,
    LogDirectory,
    StartupLog,
    AccessLogFormat,
    ErrorLogFormat,
    ErrorLogName,
    AccessLogName,
    StartupLogName,
    RotateLogs,
    MaxLogSize,
    RotatelogsExecutable,
    ServerMpm,
    // HTTPS
    HttpsPort,
    SslCertificateFile,
    SslCertificateKeyFile,
    SslCertificate,
    SslCertificateChainFile,
    SslCaCertificateFile,
    SslVerifyClient,
    SslEnvironment,
    HttpsOnly,
    HstsPolicy,
    // Managed services
    ServiceScript,
    ServiceUser,
    ServiceGroup,
    ServiceLogFile,
    // Mode
    EmbeddedMode,
    DaemonMode,
    MaxClients,
    InitialWorkers,
    MinimumSpareWorkers,
    MaximumSpareWorkers,
    RequestTimeout,
    QueueTimeout,
    ConnectTimeout,
    StartupTimeout,
    DeadlockTimeout,
    GracefulTimeout,
    EvictionTimeout,
    ShutdownTimeout,
    InactivityTimeout,
    RestartInterval,
    CpuTimeLimit,
    DaemonBacklog,
    SendBufferSize,
    ReceiveBufferSize,
    HeaderBufferSize,
    ResponseBufferSize,
    ResponseSocketTimeout,
    PythonEggs,
    // Debug mode
    DebugMode,
    EnableDebugger,
    DebuggerStartup,
    EnableProfiler,
    ProfilerDirectory,
    EnableRecorder,
    RecorderDirectory,
    // Locations
    ModulePath,
    HttpdExecutable,
    ModulesDirectory,
    MimeTypes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    General,
    Application,
    Server,
    Logging,
    Daemon,
    Locations,
    Access,
    Https,
    Services,
    Debug,
}

impl Section {
    fn title(self) -> &'static str {
        match self {
            Section::General => "Options",
            Section::Application => "Application",
            Section::Server => "Server",
            Section::Logging => "Logging",
            Section::Daemon => "Mode (daemon mode is the default)",
            Section::Locations => "Locations of Apache, the module and Python",
            Section::Access => "Access control (mod_wsgi hook scripts, run in Apache's children)",
            Section::Https => "HTTPS (mod_ssl)",
            Section::Services => "Managed services (a daemon process running a script)",
            Section::Debug => "Debug mode (Apache in one process, the application on one thread)",
        }
    }
}

struct OptSpec {
    opt: Opt,
    name: &'static str,
    /// Empty for flags; one word per value otherwise.
    metavar: &'static str,
    arity: u8,
    section: Section,
    help: &'static str,
}

const fn flag(opt: Opt, name: &'static str, section: Section, help: &'static str) -> OptSpec {
    OptSpec {
        opt,
        name,
        metavar: "",
        arity: 0,
        section,
        help,
    }
}

const fn one(
    opt: Opt,
    name: &'static str,
    metavar: &'static str,
    section: Section,
    help: &'static str,
) -> OptSpec {
    OptSpec {
        opt,
        name,
        metavar,
        arity: 1,
        section,
        help,
    }
}

use Section::{
    Access as Acc, Application as App, Daemon as Dmn, Debug as Dbg, General as Gen, Https as Tls,
    Locations as Loc, Logging as Log, Server as Srv, Services as Svc,
};

const SERVER_OPTIONS: &[OptSpec] = &[
    flag(Opt::Help, "--help", Gen, "Show this help and exit."),
    one(
        Opt::ApplicationType,
        "--application-type",
        "TYPE",
        App,
        "The type of entry point: 'script' (a WSGI script file, the default) \
         or 'module' (a Python module name, such as 'mysite.wsgi', imported \
         from the working directory or --python-path). 'paste' and 'static' \
         are not implemented.",
    ),
    one(
        Opt::EntryPoint,
        "--entry-point",
        "FILE-PATH",
        App,
        "The WSGI script file (or module name with --application-type \
         module), the same as giving SCRIPT. If both are given, this option \
         wins (as in mod_wsgi-express).",
    ),
    one(
        Opt::CallableObject,
        "--callable-object",
        "NAME",
        App,
        "The name of the WSGI application object in the script. Defaults to \
         'application'.",
    ),
    one(
        Opt::WorkingDirectory,
        "--working-directory",
        "DIRECTORY-PATH",
        App,
        "The application's working directory, also put first on the Python \
         module search path. Defaults to the directory the command is run \
         from.",
    ),
    one(
        Opt::PythonPath,
        "--python-path",
        "DIRECTORY-PATH",
        App,
        "An extra directory for the Python module search path (WSGIPythonPath, \
         or python-path= in daemon mode). Repeatable.",
    ),
    OptSpec {
        opt: Opt::UrlAlias,
        name: "--url-alias",
        metavar: "URL-PATH FILE-OR-DIRECTORY-PATH",
        arity: 2,
        section: App,
        help: "Serve a static file or directory at a sub URL (Apache Alias). \
               Repeatable.",
    },
    one(
        Opt::MountPoint,
        "--mount-point",
        "URL-PATH",
        App,
        "The URL path the application is mounted at (its SCRIPT_NAME). \
         Defaults to '/'.",
    ),
    one(
        Opt::DocumentRoot,
        "--document-root",
        "DIRECTORY-PATH",
        App,
        "The directory of static files. A request for a file that exists \
         there is served from it; every other request goes to the \
         application. Defaults to SERVER-ROOT/htdocs.",
    ),
    one(
        Opt::DirectoryIndex,
        "--directory-index",
        "FILE-NAME",
        App,
        "The index file of directories in the document root \
         (DirectoryIndex): a request for a directory there is served from \
         it instead of going to the application.",
    ),
    flag(
        Opt::DirectoryListing,
        "--directory-listing",
        App,
        "With --directory-index, list document root directories that have \
         no index file (Options +Indexes).",
    ),
    OptSpec {
        opt: Opt::AllowOverride,
        name: "--allow-override",
        metavar: "DIRECTIVE-TYPE",
        arity: 1,
        section: App,
        help: "A directive type (All, AuthConfig, FileInfo, Indexes, Limit, \
               Options[=...]) that '.htaccess' files in the document root \
               and --url-alias directories may set (AllowOverride). \
               Repeatable; defaults to None, '.htaccess' ignored.",
    },
    OptSpec {
        opt: Opt::SetEnv,
        name: "--setenv",
        metavar: "KEY VALUE",
        arity: 2,
        section: App,
        help: "Add KEY=VALUE to every request's WSGI environ (Apache \
               SetEnv). Repeatable.",
    },
    flag(
        Opt::ReloadOnChanges,
        "--reload-on-changes",
        App,
        "Reload the WSGI script when the script file changes \
         (WSGIScriptReloading On). Unlike mod_wsgi-express this watches only \
         the script file, not every imported module. Daemon mode always \
         reloads a changed script; in embedded mode this is off by default.",
    ),
    flag(
        Opt::DisableReloading,
        "--disable-reloading",
        App,
        "Never reload a changed script (WSGIScriptReloading Off), not even \
         in daemon mode or with --reload-on-changes.",
    ),
    one(
        Opt::MapHeadToGet,
        "--map-head-to-get",
        "Off|On|Auto",
        App,
        "Whether HEAD requests reach the application as GET \
         (WSGIMapHEADToGET). Defaults to 'Auto'.",
    ),
    flag(
        Opt::ChunkedRequest,
        "--chunked-request",
        App,
        "Accept request bodies sent with chunked transfer encoding \
         (WSGIChunkedRequest On); they are refused (411) by default.",
    ),
    flag(
        Opt::EnableSendfile,
        "--enable-sendfile",
        App,
        "Send files with sendfile() (EnableSendfile On, WSGIEnableSendfile \
         On). Off by default; enable it only where the file system supports \
         it.",
    ),
    flag(
        Opt::ErrorOverride,
        "--error-override",
        App,
        "Replace the application's error responses (4xx, 5xx) with \
         Apache's error documents (WSGIErrorOverride On; daemon mode).",
    ),
    flag(
        Opt::OrphanInterpreter,
        "--orphan-interpreter",
        App,
        "Do not destroy the Python interpreter when a process exits \
         (WSGIDestroyInterpreter Off): atexit callbacks do not run.",
    ),
    flag(
        Opt::CompressResponses,
        "--compress-responses",
        App,
        "Compress text responses (plain text, HTML, XML, CSS, JavaScript, \
         JSON) for clients that accept it (mod_deflate).",
    ),
    OptSpec {
        opt: Opt::TrustProxyHeader,
        name: "--trust-proxy-header",
        metavar: "HEADER-NAME",
        arity: 1,
        section: App,
        help: "A proxy header (X-Forwarded-For, X-Forwarded-Proto, ...) \
               whose value replaces the request's own details \
               (WSGITrustedProxyHeaders). Repeatable.",
    },
    OptSpec {
        opt: Opt::TrustProxy,
        name: "--trust-proxy",
        metavar: "IP-ADDRESS/SUBNET",
        arity: 1,
        section: App,
        help: "A proxy whose --trust-proxy-header headers are believed \
               (WSGITrustedProxies). Repeatable; without it every client \
               is trusted.",
    },
    OptSpec {
        opt: Opt::ErrorDocument,
        name: "--error-document",
        metavar: "STATUS URL-PATH",
        arity: 2,
        section: App,
        help: "Answer errors of HTTP status STATUS (400-599) that Apache \
               produces with the page at URL-PATH (ErrorDocument). \
               Repeatable.",
    },
    OptSpec {
        opt: Opt::PassEnv,
        name: "--passenv",
        metavar: "KEY",
        arity: 1,
        section: App,
        help: "Copy Apache's environment variable KEY into every request's \
               WSGI environ (PassEnv). Repeatable.",
    },
    one(
        Opt::HostAccessScript,
        "--host-access-script",
        "SCRIPT-PATH",
        Acc,
        "A Python script whose allow_access(environ, host) decides whether a \
         client may use the site (WSGIAccessScript): False gives 403.",
    ),
    one(
        Opt::AuthUserScript,
        "--auth-user-script",
        "SCRIPT-PATH",
        Acc,
        "A Python script that authenticates users for the whole site \
         (WSGIAuthUserScript): check_password(environ, user, password) for \
         Basic, get_realm_hash(environ, user, realm) for Digest.",
    ),
    one(
        Opt::AuthType,
        "--auth-type",
        "TYPE",
        Acc,
        "The authentication scheme of --auth-user-script: 'Basic' (the \
         default) or 'Digest'.",
    ),
    one(
        Opt::AuthGroupScript,
        "--auth-group-script",
        "SCRIPT-PATH",
        Acc,
        "With --auth-user-script, a Python script whose \
         groups_for_user(environ, user) lists a user's groups \
         (WSGIAuthGroupScript); only members of --auth-group are served.",
    ),
    one(
        Opt::AuthGroup,
        "--auth-group",
        "NAME",
        Acc,
        "The group users must be in with --auth-group-script (Require \
         wsgi-group). Defaults to 'wsgi', a placeholder to replace.",
    ),
    one(
        Opt::HttpsPort,
        "--https-port",
        "NUMBER",
        Tls,
        "Also serve the site over HTTPS on this port (mod_ssl), with \
         --ssl-certificate-file and --ssl-certificate-key-file (or \
         --ssl-certificate).",
    ),
    one(
        Opt::HttpsPort,
        "--ssl-port",
        "NUMBER",
        Tls,
        "The same as --https-port (kept from mod_wsgi-express, where it is \
         hidden).",
    ),
    one(
        Opt::SslCertificateFile,
        "--ssl-certificate-file",
        "FILE-PATH",
        Tls,
        "The server's certificate (PEM) for --https-port.",
    ),
    one(
        Opt::SslCertificateKeyFile,
        "--ssl-certificate-key-file",
        "FILE-PATH",
        Tls,
        "The private key (PEM, not encrypted) of --ssl-certificate-file.",
    ),
    one(
        Opt::SslCertificate,
        "--ssl-certificate",
        "FILE-PATH",
        Tls,
        "The common path of the certificate and key files, without their \
         extensions: FILE-PATH.crt and FILE-PATH.key. Wins over the two \
         options above.",
    ),
    one(
        Opt::SslCertificateChainFile,
        "--ssl-certificate-chain-file",
        "FILE-PATH",
        Tls,
        "The intermediate CA certificates sent with the server's \
         certificate (SSLCertificateChainFile).",
    ),
    one(
        Opt::SslCaCertificateFile,
        "--ssl-ca-certificate-file",
        "FILE-PATH",
        Tls,
        "The CA certificates client certificates are checked against. The \
         whole site then requires a client certificate over HTTPS, unless \
         --ssl-verify-client names the URLs that do.",
    ),
    OptSpec {
        opt: Opt::SslVerifyClient,
        name: "--ssl-verify-client",
        metavar: "URL-PATH",
        arity: 1,
        section: Tls,
        help: "With --ssl-ca-certificate-file, require a client certificate \
               only under this URL (instead of the whole site). Plain HTTP \
               requests there are refused. Repeatable.",
    },
    flag(
        Opt::SslEnvironment,
        "--ssl-environment",
        Tls,
        "Add mod_ssl's variables (SSL_PROTOCOL, SSL_CIPHER, SSL_CLIENT_S_DN, \
         ...) to the WSGI environ of HTTPS requests.",
    ),
    flag(
        Opt::HttpsOnly,
        "--https-only",
        Tls,
        "Redirect every plain HTTP request to the same URL over HTTPS.",
    ),
    one(
        Opt::HstsPolicy,
        "--hsts-policy",
        "PARAMS",
        Tls,
        "With --https-only, the Strict-Transport-Security header sent on \
         HTTPS responses, such as 'max-age=31536000; includeSubDomains'.",
    ),
    OptSpec {
        opt: Opt::ServiceScript,
        name: "--service-script",
        metavar: "SERVICE SCRIPT-PATH",
        arity: 2,
        section: Svc,
        help: "Run the Python script in a daemon process of its own \
               ('service:SERVICE', no request threads) for as long as the \
               server runs; it is started again when it ends. Repeatable.",
    },
    OptSpec {
        opt: Opt::ServiceUser,
        name: "--service-user",
        metavar: "SERVICE USERNAME",
        arity: 2,
        section: Svc,
        help: "When started as root, the user the service's process runs \
               as. Defaults to the server's user.",
    },
    OptSpec {
        opt: Opt::ServiceGroup,
        name: "--service-group",
        metavar: "SERVICE GROUP",
        arity: 2,
        section: Svc,
        help: "When started as root, the group the service's process runs \
               as. Defaults to the server's group.",
    },
    OptSpec {
        opt: Opt::ServiceLogFile,
        name: "--service-log-file",
        metavar: "SERVICE FILE-NAME",
        arity: 2,
        section: Svc,
        help: "A log file of its own, in the log directory, for what the \
               service's Python code logs to stderr.",
    },
    one(
        Opt::Host,
        "--host",
        "IP-ADDRESS",
        Srv,
        "The address to listen on. Defaults to all interfaces (the server \
         name is then 'localhost').",
    ),
    one(
        Opt::Port,
        "--port",
        "NUMBER",
        Srv,
        "The port to listen on. Defaults to 8000.",
    ),
    flag(
        Opt::Http2,
        "--http2",
        Srv,
        "Also speak HTTP/2 (mod_http2): h2 over HTTPS, h2c on the plain \
         port (Upgrade or prior knowledge). Not under the prefork MPM.",
    ),
    OptSpec {
        opt: Opt::ProxyMountPoint,
        name: "--proxy-mount-point",
        metavar: "URL-PATH URL",
        arity: 2,
        section: Srv,
        help: "Pass requests under URL-PATH on to the http:// URL (mod_proxy; \
               Location headers are mapped back). URL-PATH without a \
               trailing '/' is redirected to URL-PATH/. Repeatable.",
    },
    OptSpec {
        opt: Opt::ProxyMountPoint,
        name: "--proxy-url-alias",
        metavar: "URL-PATH URL",
        arity: 2,
        section: Srv,
        help: "The same as --proxy-mount-point (kept from mod_wsgi-express, \
               where it is hidden).",
    },
    OptSpec {
        opt: Opt::ProxyVirtualHost,
        name: "--proxy-virtual-host",
        metavar: "HOSTNAME URL",
        arity: 2,
        section: Srv,
        help: "Pass every request for the host name HOSTNAME on the HTTP \
               port on to the http:// URL (a virtual host with mod_proxy). \
               Repeatable.",
    },
    one(
        Opt::ServerName,
        "--server-name",
        "HOSTNAME",
        Srv,
        "The site's host name: requests for other names get 403 \
         (name-based virtual hosts). A name starting with 'www.' also \
         redirects the bare domain to it.",
    ),
    OptSpec {
        opt: Opt::ServerAlias,
        name: "--server-alias",
        metavar: "HOSTNAME",
        arity: 1,
        section: Srv,
        help: "Another host name for the site (wildcards allowed), with \
               --server-name. Repeatable.",
    },
    flag(
        Opt::AllowLocalhost,
        "--allow-localhost",
        Srv,
        "With --server-name, still serve clients on localhost whatever \
         host name they use.",
    ),
    OptSpec {
        opt: Opt::ServerMpm,
        name: "--server-mpm",
        metavar: "NAME",
        arity: 1,
        section: Srv,
        help: "The MPM to load when Apache has several: 'event', 'worker' or \
               'prefork'. Repeatable: the first of event, worker, prefork \
               that is named and installed is used. Defaults to event.",
    },
    one(
        Opt::Processes,
        "--processes",
        "NUMBER",
        Srv,
        "The number of processes running the application. Defaults to 1. \
         Giving it at all makes daemon mode report wsgi.multiprocess=True; in \
         embedded mode wsgi.multiprocess is True only for more than one \
         process.",
    ),
    one(
        Opt::Threads,
        "--threads",
        "NUMBER",
        Srv,
        "The number of request threads in each process. Defaults to 5.",
    ),
    one(
        Opt::User,
        "--user",
        "USERNAME",
        Srv,
        "When started as root, the user the Apache children run as. Defaults \
         to 'www-data' when started as root, else the invoking user.",
    ),
    one(
        Opt::Group,
        "--group",
        "GROUP",
        Srv,
        "When started as root, the group the Apache children run as. Defaults \
         to the primary group of the run user.",
    ),
    one(
        Opt::ServerRoot,
        "--server-root",
        "DIRECTORY-PATH",
        Srv,
        "Where to write the generated configuration, control script and logs. \
         Defaults to $TMPDIR/mod_wsgi-HOST:PORT:UID (/tmp when TMPDIR is \
         unset).",
    ),
    one(
        Opt::PidFile,
        "--pid-file",
        "FILE-PATH",
        Srv,
        "Where Apache writes its process ID. Defaults to \
         SERVER-ROOT/httpd.pid.",
    ),
    one(
        Opt::ProcessName,
        "--process-name",
        "NAME",
        Srv,
        "The name of Apache's parent process (its argv[0]), for process \
         managers that look for one. Defaults to 'apache2 \
         (wsgirt-express)'.",
    ),
    flag(
        Opt::SetupOnly,
        "--setup-only",
        Srv,
        "Write the server root and exit without starting Apache (same as the \
         setup-server command).",
    ),
    one(
        Opt::KeepAliveTimeout,
        "--keep-alive-timeout",
        "SECONDS",
        Srv,
        "Keep client connections open for this long between requests. \
         Defaults to 2; 0 turns keep-alive off (KeepAlive Off).",
    ),
    one(
        Opt::LimitRequestBody,
        "--limit-request-body",
        "NUMBER",
        Srv,
        "The largest request body accepted, in bytes. Defaults to 10485760.",
    ),
    one(
        Opt::SocketTimeout,
        "--socket-timeout",
        "SECONDS",
        Srv,
        "Apache's network I/O Timeout (and socket-timeout= of the daemon \
         process group). Defaults to 60.",
    ),
    one(
        Opt::ServerBacklog,
        "--server-backlog",
        "NUMBER",
        Srv,
        "The listen queue depth of the HTTP socket. Defaults to 500.",
    ),
    one(
        Opt::HeaderTimeout,
        "--header-timeout",
        "SECONDS",
        Srv,
        "Time allowed for receiving the request line and headers \
         (RequestReadTimeout header=). Defaults to 15; 0 sets no limit.",
    ),
    one(
        Opt::HeaderMaxTimeout,
        "--header-max-timeout",
        "SECONDS",
        Srv,
        "Upper bound for the header timeout as --header-min-rate extends \
         it. Defaults to 30; 0 means no extension.",
    ),
    one(
        Opt::HeaderMinRate,
        "--header-min-rate",
        "BYTES",
        Srv,
        "Each time this many header bytes arrive the header timeout grows \
         by a second. Defaults to 500.",
    ),
    one(
        Opt::BodyTimeout,
        "--body-timeout",
        "SECONDS",
        Srv,
        "Time allowed for receiving the request body (RequestReadTimeout \
         body=). Defaults to 15; 0 sets no limit.",
    ),
    one(
        Opt::BodyMaxTimeout,
        "--body-max-timeout",
        "SECONDS",
        Srv,
        "Upper bound for the body timeout as --body-min-rate extends it. \
         Defaults to 0, no upper bound.",
    ),
    one(
        Opt::BodyMinRate,
        "--body-min-rate",
        "BYTES",
        Srv,
        "Each time this many body bytes arrive the body timeout grows by a \
         second. Defaults to 500.",
    ),
    one(
        Opt::MaximumRequests,
        "--maximum-requests",
        "NUMBER",
        Srv,
        "Restart a process after it has handled this many requests \
         (MaxConnectionsPerChild in embedded mode, maximum-requests= in daemon \
         mode). Defaults to 0, never.",
    ),
    OptSpec {
        opt: Opt::IncludeFile,
        name: "--include-file",
        metavar: "FILE-PATH",
        arity: 1,
        section: Srv,
        help: "An extra Apache configuration file, included at the end of \
               the generated httpd.conf. Repeatable.",
    },
    one(
        Opt::EnvvarsScript,
        "--envvars-script",
        "FILE-PATH",
        Srv,
        "A shell script of environment settings for Apache and the \
         application: SERVER-ROOT/envvars is rewritten to source it. \
         Defaults to SERVER-ROOT/envvars itself.",
    ),
    flag(
        Opt::ServerStatus,
        "--server-status",
        Srv,
        "Serve Apache's status page (mod_status, ExtendedStatus On) at \
         /server-status, to clients on localhost only; 'apachectl status' \
         prints it. Off by default.",
    ),
    flag(
        Opt::ServerMetrics,
        "--server-metrics",
        Srv,
        "Let the application read Apache's scoreboard through \
         mod_wsgi.server_metrics() (WSGIServerMetrics On, server-metrics=On \
         in daemon mode). Off by default.",
    ),
    one(
        Opt::Locale,
        "--locale",
        "NAME",
        Srv,
        "The locale (LANG and LC_ALL) of Apache and the application; \
         lang= and locale= of the daemon processes. Defaults to the \
         current one (LC_ALL, LC_CTYPE, LANG); C or POSIX becomes C.UTF-8.",
    ),
    one(
        Opt::Lang,
        "--lang",
        "NAME",
        Srv,
        "The same as --locale, which wins when both are given (kept from \
         mod_wsgi-express, where it is hidden).",
    ),
    one(
        Opt::LogLevel,
        "--log-level",
        "NAME",
        Log,
        "Apache LogLevel: emerg, alert, crit, error, warn, notice, info, debug \
         or trace1-8. Defaults to 'warn'.",
    ),
    flag(
        Opt::LogToTerminal,
        "--log-to-terminal",
        Log,
        "Send the error log to stderr and the access log to stdout instead of \
         files in the server root.",
    ),
    flag(
        Opt::AccessLog,
        "--access-log",
        Log,
        "Write an access log (access_log in the log directory, common \
         format). Off by default.",
    ),
    one(
        Opt::LogDirectory,
        "--log-directory",
        "DIRECTORY-PATH",
        Log,
        "Where error_log, access_log and startup_log go. Defaults to the \
         server root. Overrides --log-to-terminal.",
    ),
    flag(
        Opt::StartupLog,
        "--startup-log",
        Log,
        "Send Apache's messages from before its error log is open to \
         startup_log in the log directory (stderr with --log-to-terminal) \
         instead of the terminal (httpd -E). Off by default.",
    ),
    one(
        Opt::AccessLogFormat,
        "--access-log-format",
        "FORMAT",
        Log,
        "The access log's format: 'common' (the default), 'combined', or a \
         LogFormat string such as '%h %>s %D'.",
    ),
    one(
        Opt::ErrorLogFormat,
        "--error-log-format",
        "FORMAT",
        Log,
        "The error log's format (ErrorLogFormat). Defaults to Apache's.",
    ),
    one(
        Opt::ErrorLogName,
        "--error-log-name",
        "FILE-NAME",
        Log,
        "The error log's file name in the log directory. Defaults to \
         'error_log'.",
    ),
    one(
        Opt::AccessLogName,
        "--access-log-name",
        "FILE-NAME",
        Log,
        "The access log's file name in the log directory. Defaults to \
         'access_log'.",
    ),
    one(
        Opt::StartupLogName,
        "--startup-log-name",
        "FILE-NAME",
        Log,
        "The startup log's file name in the log directory. Defaults to \
         'startup_log'.",
    ),
    flag(
        Opt::RotateLogs,
        "--rotate-logs",
        Log,
        "Pipe the error and access logs through Apache's rotatelogs, which \
         starts a new time-stamped file (NAME.YYYY-MM-DD-HH_MM_SS) when one \
         reaches --max-log-size. Not with --log-to-terminal.",
    ),
    one(
        Opt::MaxLogSize,
        "--max-log-size",
        "MB",
        Log,
        "The size in MB at which --rotate-logs starts a new file. Defaults \
         to 5.",
    ),
    one(
        Opt::RotatelogsExecutable,
        "--rotatelogs-executable",
        "FILE-PATH",
        Log,
        "The rotatelogs program. Defaults to 'rotatelogs' on PATH or in \
         /usr/sbin.",
    ),
    flag(
        Opt::EmbeddedMode,
        "--embedded-mode",
        Dmn,
        "Run the application inside the Apache child processes instead of \
         the default daemon process group. The daemon-only options below \
         are then ignored (with a warning).",
    ),
    flag(
        Opt::DaemonMode,
        "--daemon-mode",
        Dmn,
        "Run the application in a WSGIDaemonProcess group named HOST:PORT. \
         This is the default, as in mod_wsgi-express (which has no such \
         flag); it is accepted for scripts that spell the default out. The \
         options below apply only in this mode.",
    ),
    one(
        Opt::MaxClients,
        "--max-clients",
        "NUMBER",
        Dmn,
        "The most simultaneous client connections Apache accepts. Defaults to \
         10 + max(10, 1.5 x processes x threads).",
    ),
    one(
        Opt::InitialWorkers,
        "--initial-workers",
        "NUMBER",
        Dmn,
        "The share (0 to 1) of Apache's child processes started at once. \
         Defaults to 0.2.",
    ),
    one(
        Opt::MinimumSpareWorkers,
        "--minimum-spare-workers",
        "NUMBER",
        Dmn,
        "The share (0 to 1) of Apache's capacity kept idle and ready. \
         Defaults to --initial-workers.",
    ),
    one(
        Opt::MaximumSpareWorkers,
        "--maximum-spare-workers",
        "NUMBER",
        Dmn,
        "The share (0 to 1) of Apache's capacity allowed to sit idle before \
         children are stopped. Defaults to 0.6.",
    ),
    one(
        Opt::RequestTimeout,
        "--request-timeout",
        "SECONDS",
        Dmn,
        "Restart a daemon process whose requests run too long. Defaults to 60.",
    ),
    one(
        Opt::QueueTimeout,
        "--queue-timeout",
        "SECONDS",
        Dmn,
        "Fail requests (504) that waited this long for a daemon process. \
         Defaults to 45.",
    ),
    one(
        Opt::ConnectTimeout,
        "--connect-timeout",
        "SECONDS",
        Dmn,
        "How long to keep trying to connect to a daemon process (503 after). \
         Defaults to 15.",
    ),
    one(
        Opt::StartupTimeout,
        "--startup-timeout",
        "SECONDS",
        Dmn,
        "Restart a daemon process whose script fails to load within this \
         time. Defaults to 15.",
    ),
    one(
        Opt::DeadlockTimeout,
        "--deadlock-timeout",
        "SECONDS",
        Dmn,
        "Restart a daemon process whose GIL is held this long. Defaults to 60.",
    ),
    one(
        Opt::GracefulTimeout,
        "--graceful-timeout",
        "SECONDS",
        Dmn,
        "Grace period for requests on a planned restart. Defaults to 15.",
    ),
    one(
        Opt::EvictionTimeout,
        "--eviction-timeout",
        "SECONDS",
        Dmn,
        "Grace period for requests on an eviction (SIGUSR1). Defaults to 0.",
    ),
    one(
        Opt::ShutdownTimeout,
        "--shutdown-timeout",
        "SECONDS",
        Dmn,
        "Force exit a daemon process that takes longer to stop. Defaults to 5.",
    ),
    one(
        Opt::InactivityTimeout,
        "--inactivity-timeout",
        "SECONDS",
        Dmn,
        "Restart an idle daemon process after this long. Defaults to 0, never.",
    ),
    one(
        Opt::RestartInterval,
        "--restart-interval",
        "SECONDS",
        Dmn,
        "Restart daemon processes this often. Defaults to 0, never.",
    ),
    one(
        Opt::CpuTimeLimit,
        "--cpu-time-limit",
        "SECONDS",
        Dmn,
        "Restart a daemon process after this much CPU time. Defaults to 0, \
         never.",
    ),
    one(
        Opt::DaemonBacklog,
        "--daemon-backlog",
        "NUMBER",
        Dmn,
        "The listen queue depth of the daemon socket. Defaults to 100.",
    ),
    one(
        Opt::SocketPrefix,
        "--socket-prefix",
        "DIRECTORY-PATH",
        Dmn,
        "The directory for the daemon processes' UNIX sockets \
         (WSGISocketPrefix DIR/wsgi). Defaults to the server root.",
    ),
    OptSpec {
        opt: Opt::IgnoreActivity,
        name: "--ignore-activity",
        metavar: "URL-PATH",
        arity: 1,
        section: Dmn,
        help: "Requests under URL-PATH (a health check, say) do not count \
               as activity for --inactivity-timeout (WSGIIgnoreActivity). \
               Repeatable.",
    },
    one(
        Opt::SendBufferSize,
        "--send-buffer-size",
        "NUMBER",
        Dmn,
        "Socket buffer size for sending request data to the daemon \
         processes (>= 512). Defaults to 0, the system default.",
    ),
    one(
        Opt::ReceiveBufferSize,
        "--receive-buffer-size",
        "NUMBER",
        Dmn,
        "Socket buffer size for receiving responses from the daemon \
         processes (>= 512). Defaults to 0, the system default.",
    ),
    one(
        Opt::HeaderBufferSize,
        "--header-buffer-size",
        "NUMBER",
        Dmn,
        "Largest response status line or header accepted from a daemon \
         process (>= 8192). Defaults to 0, meaning 32768.",
    ),
    one(
        Opt::ResponseBufferSize,
        "--response-buffer-size",
        "NUMBER",
        Dmn,
        "Most response data buffered in Apache while relaying a response \
         (>= 65536). Defaults to 0, meaning 65536.",
    ),
    one(
        Opt::ResponseSocketTimeout,
        "--response-socket-timeout",
        "SECONDS",
        Dmn,
        "Timeout for writing a buffered response to the client. Defaults \
         to 0, meaning --socket-timeout.",
    ),
    one(
        Opt::PythonEggs,
        "--python-eggs",
        "DIRECTORY-PATH",
        Dmn,
        "Where Python eggs are unpacked (PYTHON_EGG_CACHE of the daemon \
         processes). Defaults to SERVER-ROOT/python-eggs.",
    ),
    flag(
        Opt::DebugMode,
        "--debug-mode",
        Dbg,
        "Run Apache as a single process in the foreground (-DONE_PROCESS) \
         with the application embedded on one thread and reloading off, so \
         a Python debugger can use the terminal. Overrides the process, \
         thread and daemon options.",
    ),
    flag(
        Opt::EnableDebugger,
        "--enable-debugger",
        Dbg,
        "Enter the Python debugger (pdb post-mortem) on the terminal when \
         an exception escapes the application. Implies --debug-mode.",
    ),
    flag(
        Opt::DebuggerStartup,
        "--debugger-startup",
        Dbg,
        "With --enable-debugger, also enter pdb once the application is \
         loaded, to set breakpoints.",
    ),
    flag(
        Opt::EnableProfiler,
        "--enable-profiler",
        Dbg,
        "Profile each request (cProfile) and write its statistics to a \
         pstats file in --profiler-directory. Implies --debug-mode.",
    ),
    one(
        Opt::ProfilerDirectory,
        "--profiler-directory",
        "DIRECTORY-PATH",
        Dbg,
        "Where --enable-profiler writes. Defaults to SERVER-ROOT/pstats.",
    ),
    flag(
        Opt::EnableRecorder,
        "--enable-recorder",
        Dbg,
        "Record each request and response (environ, bodies, status and \
         headers, exceptions) as files in --recorder-directory. Implies \
         --debug-mode.",
    ),
    one(
        Opt::RecorderDirectory,
        "--recorder-directory",
        "DIRECTORY-PATH",
        Dbg,
        "Where --enable-recorder writes. Defaults to SERVER-ROOT/archive.",
    ),
    one(
        Opt::ModulePath,
        "--module-path",
        "FILE-PATH",
        Loc,
        "The Apache module to load as wsgi_module. Overrides $WSGIRT_MODULE \
         and the search next to this executable.",
    ),
    one(
        Opt::HttpdExecutable,
        "--httpd-executable",
        "FILE-PATH",
        Loc,
        "The Apache httpd binary. Defaults to $HTTPD, else 'apache2' or \
         'httpd' on PATH or in /usr/sbin.",
    ),
    one(
        Opt::ModulesDirectory,
        "--modules-directory",
        "DIRECTORY-PATH",
        Loc,
        "Where Apache's own modules (mod_mpm_event.so, ...) are. Defaults to \
         'apxs -q LIBEXECDIR', else /usr/lib/apache2/modules.",
    ),
    one(
        Opt::MimeTypes,
        "--mime-types",
        "FILE-PATH",
        Loc,
        "The MIME types file (TypesConfig). Defaults to /etc/mime.types.",
    ),
];

const MODULE_OPTIONS: &[OptSpec] = &[
    flag(Opt::Help, "--help", Gen, "Show this help and exit."),
    one(
        Opt::ModulePath,
        "--module-path",
        "FILE-PATH",
        Loc,
        "The module to report. Overrides $WSGIRT_MODULE and the search next to \
         this executable.",
    ),
];

/// The subcommands, with their one-line summaries and usage lines.
const COMMANDS: &[(&str, &str, &str)] = &[
    (
        "start-server",
        "Set up a server root for a WSGI script and run Apache.",
        "wsgirt-express start-server [SCRIPT] [options]",
    ),
    (
        "setup-server",
        "Set up the server root only (run it with its apachectl).",
        "wsgirt-express setup-server [SCRIPT] [options]",
    ),
    (
        "module-config",
        "Print the LoadModule/WSGIPythonHome lines to add to Apache.",
        "wsgirt-express module-config [--module-path FILE-PATH]",
    ),
    (
        "module-location",
        "Print the absolute path of the wsgirt Apache module.",
        "wsgirt-express module-location [--module-path FILE-PATH]",
    ),
];

fn command_name(arg: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .map(|(name, _, _)| *name)
        .find(|name| *name == arg)
}

/// Parses the arguments after the program name.
pub fn parse(args: &[OsString]) -> Result<Command> {
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            a.to_str()
                .map(str::to_owned)
                .ok_or_else(|| Error::usage(None, format!("argument {a:?} is not valid UTF-8")))
        })
        .collect::<Result<_>>()?;
    let Some((first, rest)) = args.split_first() else {
        return Err(Error::usage(None, "no command given"));
    };
    match first.as_str() {
        "-h" | "--help" | "help" => return Ok(Command::Help),
        "--version" | "-V" => return Ok(Command::Version),
        _ => {}
    }
    let Some(cmd) = command_name(first) else {
        let what = if first.starts_with('-') {
            format!("expected a command before '{first}'")
        } else {
            format!("unknown command '{first}'")
        };
        return Err(Error::usage(None, what));
    };
    let specs = match cmd {
        "start-server" | "setup-server" => SERVER_OPTIONS,
        _ => MODULE_OPTIONS,
    };
    let (given, positionals) = tokenize(cmd, specs, rest)?;
    if given.iter().any(|(opt, _, _)| *opt == Opt::Help) {
        return Ok(Command::HelpFor(cmd));
    }
    match cmd {
        "start-server" | "setup-server" => {
            let server = build_server_args(cmd, given, positionals)?;
            if cmd == "setup-server" || server.setup_only {
                Ok(Command::SetupServer(server))
            } else {
                Ok(Command::StartServer(server))
            }
        }
        _ => {
            if let Some(extra) = positionals.first() {
                return Err(Error::usage(
                    Some(cmd),
                    format!("unexpected argument '{extra}'"),
                ));
            }
            let mut module = ModuleArgs::default();
            for (opt, _, values) in given {
                if opt == Opt::ModulePath {
                    module.module_path = Some(PathBuf::from(&values[0]));
                }
            }
            if cmd == "module-config" {
                Ok(Command::ModuleConfig(module))
            } else {
                Ok(Command::ModuleLocation(module))
            }
        }
    }
}

type Given = Vec<(Opt, &'static str, Vec<String>)>;

/// Splits arguments into recognised options (with their values) and
/// positionals, in order.
fn tokenize(
    cmd: &'static str,
    specs: &'static [OptSpec],
    args: &[String],
) -> Result<(Given, Vec<String>)> {
    let mut given = Vec::new();
    let mut positionals = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            positionals.extend(args[i..].iter().cloned());
            break;
        }
        if arg == "-h" {
            given.push((Opt::Help, "--help", Vec::new()));
            continue;
        }
        if !arg.starts_with('-') || arg == "-" {
            positionals.push(arg.clone());
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let Some(spec) = specs.iter().find(|s| s.name == name) else {
            return Err(Error::usage(Some(cmd), format!("unknown option '{name}'")));
        };
        let values = match (spec.arity, inline) {
            (0, None) => Vec::new(),
            (0, Some(_)) => {
                return Err(Error::usage(
                    Some(cmd),
                    format!("option '{name}' takes no value"),
                ))
            }
            (1, Some(v)) => vec![v],
            (_, Some(_)) => {
                return Err(Error::usage(
                    Some(cmd),
                    format!("option '{name}' takes two values: {name} {}", spec.metavar),
                ))
            }
            (n, None) => {
                let n = usize::from(n);
                if args.len() - i < n {
                    let what = if n == 1 { "a value" } else { "two values" };
                    return Err(Error::usage(
                        Some(cmd),
                        format!("option '{name}' requires {what}: {name} {}", spec.metavar),
                    ));
                }
                let v = args[i..i + n].to_vec();
                i += n;
                v
            }
        };
        given.push((spec.opt, spec.name, values));
    }
    Ok((given, positionals))
}

/// The target of `--proxy-mount-point` / `--proxy-virtual-host`: an
/// `http://` URL with a host (mod_proxy_http; an `https://` target would
/// need `SSLProxyEngine` and CA settings that 4.9.4 does not write either).
fn proxy_target(cmd: &'static str, name: &str, value: &str) -> Result<String> {
    let host = value.strip_prefix("http://").unwrap_or("");
    let ok = !host.is_empty()
        && !host.starts_with('/')
        && !value.contains(|c: char| c.is_whitespace() || c.is_control() || c == '"')
        && !value.contains("${");
    if !ok {
        return Err(Error::usage(
            Some(cmd),
            format!("{name} URL must be an http:// URL with a host, got '{value}'"),
        ));
    }
    Ok(value.to_string())
}

fn number<T>(cmd: &'static str, name: &str, value: &str, min: T) -> Result<T>
where
    T: FromStr + PartialOrd + std::fmt::Display,
{
    match value.trim().parse::<T>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(Error::usage(
            Some(cmd),
            format!("option '{name}' expects a whole number >= {min}, got '{value}'"),
        )),
    }
}

/// A share of the front end's capacity, 0 to 1, as mod_wsgi-express's
/// `check_percentage` demands.
fn fraction(cmd: &'static str, name: &str, value: &str) -> Result<Fraction> {
    match value.trim().parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(Fraction(f)),
        _ => Err(Error::usage(
            Some(cmd),
            format!("option '{name}' expects a number from 0 to 1, got '{value}'"),
        )),
    }
}

/// A daemon buffer size: 0 (the module's default) or at least `min`, the
/// limits mod_wsgi's `WSGIDaemonProcess` enforces. Checked here so the
/// mistake is a usage error, not an Apache that fails to start.
fn buffer_size(cmd: &'static str, name: &str, value: &str, min: u32) -> Result<u32> {
    let n = number::<u32>(cmd, name, value, 0)?;
    if n != 0 && n < min {
        return Err(Error::usage(
            Some(cmd),
            format!("option '{name}' must be >= {min} bytes, or 0 for the default; got {n}"),
        ));
    }
    Ok(n)
}

/// mod_reqtimeout refuses a range whose maximum is not above its timeout,
/// and a range without a MinRate (which is what extends the timeout).
/// 4.9.4 writes such values and Apache then fails to start; we say which
/// options clash instead.
fn check_read_timeouts(cmd: &'static str, t: &ReadTimeouts) -> Result<()> {
    for (part, timeout, max, rate) in [
        ("header", t.header, t.header_max, t.header_min_rate),
        ("body", t.body, t.body_max, t.body_min_rate),
    ] {
        if timeout == 0 || max == 0 {
            continue;
        }
        if max <= timeout {
            return Err(Error::usage(
                Some(cmd),
                format!(
                    "--{part}-max-timeout ({max}) must be greater than --{part}-timeout \
                     ({timeout}), or 0"
                ),
            ));
        }
        if rate == 0 {
            return Err(Error::usage(
                Some(cmd),
                format!("--{part}-max-timeout needs a --{part}-min-rate above 0"),
            ));
        }
    }
    Ok(())
}

fn build_server_args(
    cmd: &'static str,
    given: Given,
    positionals: Vec<String>,
) -> Result<ServerArgs> {
    let mut s = ServerArgs::default();
    let mut positionals = positionals.into_iter();
    s.script = positionals.next().map(PathBuf::from);
    if let Some(extra) = positionals.next() {
        return Err(Error::usage(
            Some(cmd),
            format!("unexpected argument '{extra}' (only one SCRIPT can be given)"),
        ));
    }
    let mut embedded = false;
    let mut lang = None;
    for (opt, name, values) in given {
        let v = values.first().cloned().unwrap_or_default();
        let num = |min: u32| number::<u32>(cmd, name, &v, min);
        match opt {
            Opt::Help => {}
            Opt::ApplicationType => s.application_type = v,
            Opt::EntryPoint => s.entry_point = Some(PathBuf::from(v)),
            Opt::MountPoint => s.mount_point = v,
            Opt::DocumentRoot => s.document_root = Some(PathBuf::from(v)),
            Opt::SetEnv => {
                let name = values[0].clone();
                if name.is_empty() || name.contains(char::is_whitespace) {
                    return Err(Error::usage(
                        Some(cmd),
                        format!("--setenv KEY must be a non-empty word, got '{name}'"),
                    ));
                }
                s.setenv.push((name, values[1].clone()));
            }
            Opt::IncludeFile => s.include_files.push(PathBuf::from(v)),
            Opt::EnvvarsScript => s.envvars_script = Some(PathBuf::from(v)),
            Opt::ServerStatus => s.server_status = true,
            Opt::Locale | Opt::Lang => {
                if v.is_empty() || v.contains(|c: char| c.is_whitespace() || c == '"') {
                    return Err(Error::usage(Some(cmd), format!("invalid {name} '{v}'")));
                }
                if opt == Opt::Locale {
                    s.locale = Some(v);
                } else {
                    lang = Some(v);
                }
            }
            Opt::ServerMetrics => s.server_metrics = true,
            Opt::LogDirectory => s.log_directory = Some(PathBuf::from(v)),
            Opt::StartupLog => s.startup_log = true,
            Opt::AccessLogFormat | Opt::ErrorLogFormat => {
                if v.is_empty() {
                    return Err(Error::usage(
                        Some(cmd),
                        format!("option '{name}' needs a format"),
                    ));
                }
                if opt == Opt::AccessLogFormat {
                    s.access_log_format = Some(v);
                } else {
                    s.error_log_format = Some(v);
                }
            }
            Opt::ErrorLogName | Opt::AccessLogName | Opt::StartupLogName => {
                if v.is_empty() || v.contains('/') || v == "." || v == ".." {
                    return Err(Error::usage(
                        Some(cmd),
                        format!("option '{name}' expects a file name, got '{v}'"),
                    ));
                }
                match opt {
                    Opt::ErrorLogName => s.error_log_name = v,
                    Opt::AccessLogName => s.access_log_name = v,
                    _ => s.startup_log_name = v,
                }
            }
            Opt::CallableObject => {
                if v.is_empty() {
                    return Err(Error::usage(
                        Some(cmd),
                        "option '--callable-object' needs a name",
                    ));
                }
                s.callable_object = v
            }
            Opt::WorkingDirectory => s.working_directory = Some(PathBuf::from(v)),
            Opt::PythonPath => s.python_paths.push(PathBuf::from(v)),
            Opt::UrlAlias => {
                let url = values[0].clone();
                if !url.starts_with('/') {
                    return Err(Error::usage(
                        Some(cmd),
                        format!("--url-alias URL-PATH must start with '/', got '{url}'"),
                    ));
                }
                s.url_aliases.push((url, PathBuf::from(&values[1])));
            }
            Opt::ReloadOnChanges => s.reload_on_changes = true,
            Opt::DisableReloading => s.features.disable_reloading = true,
            Opt::ChunkedRequest => s.features.chunked_request = true,
            Opt::EnableSendfile => s.features.enable_sendfile = true,
            Opt::ErrorOverride => s.features.error_override = true,
            Opt::OrphanInterpreter => s.features.orphan_interpreter = true,
            Opt::CompressResponses => s.features.compress_responses = true,
            Opt::Http2 => s.features.http2 = true,
            Opt::DebugMode => s.debug.debug_mode = true,
            Opt::EnableDebugger => s.debug.enable_debugger = true,
            Opt::DebuggerStartup => s.debug.debugger_startup = true,
            Opt::EnableProfiler => s.debug.enable_profiler = true,
            Opt::ProfilerDirectory => s.debug.profiler_directory = Some(PathBuf::from(v)),
            Opt::EnableRecorder => s.debug.enable_recorder = true,
            Opt::RecorderDirectory => s.debug.recorder_directory = Some(PathBuf::from(v)),
            Opt::ProxyMountPoint => {
                let url = values[0].clone();
                if !url.starts_with('/') || url.contains(|c: char| c.is_whitespace() || c == '"') {
                    return Err(Error::usage(
                        Some(cmd),
                        format!("{name} URL-PATH must start with '/', got '{url}'"),
                    ));
                }
                let target = proxy_target(cmd, name, &values[1])?;
                s.proxies.mount_points.push((url, target));
            }
            Opt::ProxyVirtualHost => {
                let host = values[0].clone();
                let ok = !host.is_empty()
                    && host
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
                if !ok {
                    return Err(Error::usage(
                        Some(cmd),
                        format!("{name} expects a host name, got '{host}'"),
                    ));
                }
                let target = proxy_target(cmd, name, &values[1])?;
                s.proxies.virtual_hosts.push((host, target));
            }
            Opt::TrustProxyHeader => {
                let ok = !v.is_empty()
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !ok {
                    return Err(Error::usage(
                        Some(cmd),
                        format!("--trust-proxy-header expects a header name, got '{v}'"),
                    ));
                }
                s.features.trusted_proxy_headers.push(v);
            }
            Opt::TrustProxy => {
                let ok = !v.is_empty()
                    && v.chars()
                        .all(|c| c.is_ascii_hexdigit() || ".:/".contains(c));
                if !ok {
                    return Err(Error::usage(
                        Some(cmd),
                        format!("--trust-proxy expects an IP address or subnet, got '{v}'"),
                    ));
                }
                s.features.trusted_proxies.push(v);
            }
            Opt::ErrorDocument => {
                let status = number::<u16>(cmd, name, &values[0], 400)
                    .ok()
                    .filter(|s| *s <= 599)
                    .ok_or_else(|| {
                        Error::usage(
                            Some(cmd),
                            format!(
                                "--error-document STATUS must be an HTTP error status \
                                 (400-599), got '{}'",
                                values[0]
                            ),
                        )
                    })?;
                if values[1].is_empty() {
                    return Err(Error::usage(Some(cmd), "--error-document needs a URL-PATH"));
                }
                s.error_documents.push((status, values[1].clone()));
            }
            Opt::HostAccessScript => s.hooks.host_access_script = Some(PathBuf::from(v)),
            Opt::AuthUserScript => s.hooks.auth_user_script = Some(PathBuf::from(v)),
            Opt::AuthGroupScript => s.hooks.auth_group_script = Some(PathBuf::from(v)),
            Opt::AuthType => {
                // Apache's Auth<TYPE>Provider exists for these two only.
                s.hooks.auth_type = match v.to_ascii_lowercase().as_str() {
                    "basic" => "Basic".into(),
                    "digest" => "Digest".into(),
                    _ => {
                        return Err(Error::usage(
                            Some(cmd),
                            format!("--auth-type expects Basic or Digest, got '{v}'"),
                        ))
                    }
                };
                s.auth_type_given = true;
            }
            Opt::AuthGroup => {
                if v.is_empty() {
                    return Err(Error::usage(Some(cmd), "--auth-group needs a group name"));
                }
                s.hooks.auth_group = v;
                s.auth_group_given = true;
            }
            Opt::DirectoryIndex => {
                if v.is_empty() || v.contains(|c: char| c.is_whitespace() || "/\"'\\".contains(c)) {
                    return Err(Error::usage(
                        Some(cmd),
                        format!("--directory-index expects a file name, got '{v}'"),
                    ));
                }
                s.site.directory_index = Some(v);
            }
            Opt::DirectoryListing => s.site.directory_listing = true,
            Opt::AllowOverride => {
                // Apache's AllowOverride types (case-insensitive there too).
                let (kind, options) = match v.split_once('=') {
                    Some((k, o)) => (k, Some(o)),
                    None => (v.as_str(), None),
                };
                let known = [
                    "All",
                    "None",
                    "AuthConfig",
                    "FileInfo",
                    "Indexes",
                    "Limit",
                    "Options",
                ]
                .into_iter()
                .find(|k| k.eq_ignore_ascii_case(kind));
                let ok = match (known, options) {
                    (Some("Options"), Some(o)) => {
                        !o.is_empty()
                            && o.split(',').all(|o| {
                                !o.is_empty() && o.chars().all(|c| c.is_ascii_alphabetic())
                            })
                    }
                    (Some(_), None) => true,
                    _ => false,
                };
                if !ok {
                    return Err(Error::usage(
                        Some(cmd),
                        format!(
                            "--allow-override expects All, None, AuthConfig, FileInfo, Indexes, \
                             Limit or Options[=...], got '{v}'"
                        ),
                    ));
                }
                s.site.allow_override.push(v);
            }
            Opt::PidFile => s.pid_file = Some(PathBuf::from(v)),
            Opt::ProcessName => {
                if v.is_empty() {
                    return Err(Error::usage(Some(cmd), "--process-name needs a name"));
                }
                s.process_name = Some(v)
            }
            Opt::SocketPrefix | Opt::IgnoreActivity => {
                if opt == Opt::SocketPrefix {
                    s.socket_prefix = Some(PathBuf::from(v));
                } else {
                    if !v.starts_with('/') {
                        return Err(Error::usage(
                            Some(cmd),
                            format!("--ignore-activity URL-PATH must start with '/', got '{v}'"),
                        ));
                    }
                    s.ignore_activity.push(v);
                }
                if !s.daemon_only_given.contains(&name) {
                    s.daemon_only_given.push(name);
                }
            }
            Opt::PassEnv => {
                if v.is_empty() || v.contains(|c: char| c.is_whitespace() || c == '=') {
                    return Err(Error::usage(
                        Some(cmd),
                        format!("--passenv expects a variable name, got '{v}'"),
                    ));
                }
                s.features.passenv.push(v);
            }
            Opt::MapHeadToGet => {
                s.map_head_to_get = match v.to_ascii_lowercase().as_str() {
                    "off" => "Off".into(),
                    "on" => "On".into(),
                    "auto" => "Auto".into(),
                    _ => {
                        return Err(Error::usage(
                            Some(cmd),
                            format!(
                                "option '--map-head-to-get' expects Off, On or Auto, got '{v}'"
                            ),
                        ))
                    }
                }
            }
            Opt::Host => {
                if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c == '/') {
                    return Err(Error::usage(Some(cmd), format!("invalid --host '{v}'")));
                }
                s.host = Some(v)
            }
            Opt::Port => s.port = number::<u16>(cmd, name, &v, 1)?,
            Opt::ServerMpm => {
                if !["event", "worker", "prefork"].contains(&v.as_str()) {
                    return Err(Error::usage(
                        Some(cmd),
                        format!("--server-mpm expects event, worker or prefork, got '{v}'"),
                    ));
                }
                s.server_mpm.push(v)
            }
            Opt::HttpsPort => s.https.port = Some(number::<u16>(cmd, name, &v, 1)?),
            Opt::SslCertificateFile => s.https.certificate_file = Some(PathBuf::from(v)),
            Opt::SslCertificateKeyFile => s.https.certificate_key_file = Some(PathBuf::from(v)),
            Opt::SslCertificate => s.https.certificate = Some(PathBuf::from(v)),
            Opt::SslCertificateChainFile => s.https.certificate_chain_file = Some(PathBuf::from(v)),
            Opt::SslCaCertificateFile => s.https.ca_certificate_file = Some(PathBuf::from(v)),
            Opt::SslVerifyClient => {
                if !v.starts_with('/') {
                    return Err(Error::usage(
                        Some(cmd),
                        format!(
                            "--ssl-verify-client expects a URL path starting with '/', got '{v}'"
                        ),
                    ));
                }
                s.https.verify_client_urls.push(v)
            }
            Opt::SslEnvironment => s.https.environment = true,
            Opt::HttpsOnly => s.https.https_only = true,
            Opt::HstsPolicy => {
                if v.trim().is_empty() {
                    return Err(Error::usage(Some(cmd), "--hsts-policy needs a policy"));
                }
                s.https.hsts_policy = Some(v)
            }
            Opt::ServerName | Opt::ServerAlias => {
                let wildcards = if opt == Opt::ServerAlias { "*?" } else { "" };
                let ok = !v.is_empty()
                    && v.chars().all(|c| {
                        c.is_ascii_alphanumeric() || "-._".contains(c) || wildcards.contains(c)
                    });
                if !ok {
                    return Err(Error::usage(
                        Some(cmd),
                        format!("{name} expects a host name, got '{v}'"),
                    ));
                }
                if opt == Opt::ServerName {
                    s.server_name = Some(v);
                } else {
                    s.server_aliases.push(v);
                }
            }
            Opt::ServiceScript | Opt::ServiceUser | Opt::ServiceGroup | Opt::ServiceLogFile => {
                let service = values[0].clone();
                // The name becomes the daemon group 'service:NAME' (and its
                // display name): one word, nothing Apache would unquote.
                let ok = !service.is_empty()
                    && !service.contains(|c: char| {
                        c.is_whitespace() || c.is_control() || "\"'\\%$".contains(c)
                    });
                if !ok {
                    return Err(Error::usage(
                        Some(cmd),
                        format!(
                            "{name} SERVICE must be a name without spaces or quotes, got \
                             '{service}'"
                        ),
                    ));
                }
                let value = values[1].clone();
                if value.is_empty() {
                    return Err(Error::usage(
                        Some(cmd),
                        format!("{name} needs a value after SERVICE"),
                    ));
                }
                match opt {
                    Opt::ServiceScript => {
                        if s.service_scripts.iter().any(|(n, _)| *n == service) {
                            return Err(Error::usage(
                                Some(cmd),
                                format!("--service-script '{service}' is given twice"),
                            ));
                        }
                        s.service_scripts.push((service, PathBuf::from(value)))
                    }
                    Opt::ServiceUser => s.service_users.push((service, value)),
                    Opt::ServiceGroup => s.service_groups.push((service, value)),
                    _ => {
                        if value.contains('/') || value == "." || value == ".." {
                            return Err(Error::usage(
                                Some(cmd),
                                format!("--service-log-file expects a file name, got '{value}'"),
                            ));
                        }
                        s.service_log_files.push((service, value))
                    }
                }
            }
            Opt::AllowLocalhost => s.allow_localhost = true,
            Opt::Processes => s.processes = Some(num(1)?),
            Opt::Threads => s.threads = num(1)?,
            Opt::User => s.user = Some(v),
            Opt::Group => s.group = Some(v),
            Opt::ServerRoot => s.server_root = Some(PathBuf::from(v)),
            Opt::SetupOnly => s.setup_only = true,
            Opt::KeepAliveTimeout => s.keep_alive_timeout = num(0)?,
            Opt::LimitRequestBody => s.limit_request_body = number::<u64>(cmd, name, &v, 0)?,
            Opt::SocketTimeout => s.socket_timeout = num(1)?,
            Opt::ServerBacklog => s.server_backlog = num(1)?,
            Opt::MaximumRequests => s.maximum_requests = num(0)?,
            Opt::HeaderTimeout => s.read_timeouts.header = num(0)?,
            Opt::HeaderMaxTimeout => s.read_timeouts.header_max = num(0)?,
            Opt::HeaderMinRate => s.read_timeouts.header_min_rate = num(0)?,
            Opt::BodyTimeout => s.read_timeouts.body = num(0)?,
            Opt::BodyMaxTimeout => s.read_timeouts.body_max = num(0)?,
            Opt::BodyMinRate => s.read_timeouts.body_min_rate = num(0)?,
            Opt::LogLevel => {
                let level = v.to_ascii_lowercase();
                if !LOG_LEVELS.contains(&level.as_str()) {
                    return Err(Error::usage(
                        Some(cmd),
                        format!(
                            "unknown --log-level '{v}' (expected one of {})",
                            LOG_LEVELS.join(", ")
                        ),
                    ));
                }
                s.log_level = level
            }
            Opt::LogToTerminal => s.log_to_terminal = true,
            Opt::RotateLogs => s.rotate_logs = true,
            Opt::MaxLogSize => s.max_log_size = num(1)?,
            Opt::RotatelogsExecutable => s.rotatelogs_executable = Some(PathBuf::from(v)),
            Opt::AccessLog => s.access_log = true,
            Opt::EmbeddedMode => embedded = true,
            Opt::DaemonMode => s.mode = ModeChoice::Daemon,
            Opt::ModulePath => s.module_path = Some(PathBuf::from(v)),
            Opt::PythonEggs => {
                s.python_eggs = Some(PathBuf::from(v));
                // 4.9.4 writes it only into WSGIDaemonProcess.
                if !s.daemon_only_given.contains(&name) {
                    s.daemon_only_given.push(name);
                }
            }
            Opt::HttpdExecutable => s.httpd_executable = Some(PathBuf::from(v)),
            Opt::ModulesDirectory => s.modules_directory = Some(PathBuf::from(v)),
            Opt::MimeTypes => s.mime_types = Some(PathBuf::from(v)),
            daemon_only => {
                let d = &mut s.daemon;
                let slot = match daemon_only {
                    Opt::MaxClients => {
                        d.max_clients = Some(num(1)?);
                        None
                    }
                    Opt::InitialWorkers => {
                        d.initial_workers = Some(fraction(cmd, name, &v)?);
                        None
                    }
                    Opt::MinimumSpareWorkers => {
                        d.minimum_spare_workers = Some(fraction(cmd, name, &v)?);
                        None
                    }
                    Opt::MaximumSpareWorkers => {
                        d.maximum_spare_workers = Some(fraction(cmd, name, &v)?);
                        None
                    }
                    Opt::RequestTimeout => Some(&mut d.request_timeout),
                    Opt::QueueTimeout => Some(&mut d.queue_timeout),
                    Opt::ConnectTimeout => Some(&mut d.connect_timeout),
                    Opt::StartupTimeout => Some(&mut d.startup_timeout),
                    Opt::DeadlockTimeout => Some(&mut d.deadlock_timeout),
                    Opt::GracefulTimeout => Some(&mut d.graceful_timeout),
                    Opt::EvictionTimeout => Some(&mut d.eviction_timeout),
                    Opt::ShutdownTimeout => Some(&mut d.shutdown_timeout),
                    Opt::InactivityTimeout => Some(&mut d.inactivity_timeout),
                    Opt::RestartInterval => Some(&mut d.restart_interval),
                    Opt::CpuTimeLimit => Some(&mut d.cpu_time_limit),
                    Opt::DaemonBacklog => Some(&mut d.listen_backlog),
                    Opt::ResponseSocketTimeout => Some(&mut d.response_socket_timeout),
                    Opt::SendBufferSize
                    | Opt::ReceiveBufferSize
                    | Opt::HeaderBufferSize
                    | Opt::ResponseBufferSize => {
                        let (slot, min) = match daemon_only {
                            Opt::SendBufferSize => (&mut d.send_buffer_size, 512),
                            Opt::ReceiveBufferSize => (&mut d.receive_buffer_size, 512),
                            Opt::HeaderBufferSize => (&mut d.header_buffer_size, 8192),
                            _ => (&mut d.response_buffer_size, 65536),
                        };
                        *slot = buffer_size(cmd, name, &v, min)?;
                        None
                    }
                    other => unreachable!("option {other:?} not handled"),
                };
                if let Some(slot) = slot {
                    *slot = num(0)?;
                }
                if !s.daemon_only_given.contains(&name) {
                    s.daemon_only_given.push(name);
                }
            }
        }
    }
    if let Some(entry) = &s.entry_point {
        s.script = Some(entry.clone());
    }
    check_read_timeouts(cmd, &s.read_timeouts)?;
    if s.locale.is_none() {
        s.locale = lang;
    }
    if embedded {
        if s.mode == ModeChoice::Daemon {
            return Err(Error::usage(
                Some(cmd),
                "--embedded-mode and --daemon-mode cannot be used together",
            ));
        }
        s.mode = ModeChoice::Embedded;
    }
    match s.application_type.as_str() {
        "script" => {}
        "module" => {
            if let Some(name) = &s.script {
                let name = name.to_string_lossy();
                if !is_module_name(&name) {
                    return Err(Error::usage(
                        Some(cmd),
                        format!(
                            "--application-type module needs a Python module name such as \
                             'mysite.wsgi', got '{name}'"
                        ),
                    ));
                }
            }
            if !is_module_name(&s.callable_object) || s.callable_object.contains('.') {
                return Err(Error::usage(
                    Some(cmd),
                    format!(
                        "--callable-object '{}' is not a Python name",
                        s.callable_object
                    ),
                ));
            }
        }
        "paste" | "static" => {
            return Err(Error::usage(
                Some(cmd),
                format!(
                    "--application-type '{}' is not supported yet; only 'script' and 'module' \
                     are",
                    s.application_type
                ),
            ))
        }
        other => {
            return Err(Error::usage(
                Some(cmd),
                format!("unknown --application-type '{other}' (expected 'script' or 'module')"),
            ))
        }
    }
    Ok(s)
}

/// A dotted Python name of ASCII identifiers (`pkg.sub.module`).
pub fn is_module_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            let mut chars = part.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

const WIDTH: usize = 79;
const HELP_COLUMN: usize = 32;

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn render_options(out: &mut String, specs: &[OptSpec]) {
    let mut section = None;
    for spec in specs {
        if section != Some(spec.section) {
            section = Some(spec.section);
            out.push_str(&format!("\n{}:\n", spec.section.title()));
        }
        let mut left = format!("  {}", spec.name);
        if !spec.metavar.is_empty() {
            left.push(' ');
            left.push_str(spec.metavar);
        }
        let body = wrap(spec.help, WIDTH - HELP_COLUMN);
        if left.len() + 2 <= HELP_COLUMN {
            out.push_str(&format!("{left:<HELP_COLUMN$}"));
        } else {
            out.push_str(&left);
            out.push('\n');
            out.push_str(&" ".repeat(HELP_COLUMN));
        }
        for (n, line) in body.iter().enumerate() {
            if n > 0 {
                out.push_str(&" ".repeat(HELP_COLUMN));
            }
            out.push_str(line);
            out.push('\n');
        }
    }
}

/// The top-level help.
pub fn main_help() -> String {
    let mut out = String::from(
        "Usage: wsgirt-express COMMAND [options]\n\n\
         Runs a WSGI application under Apache httpd with the wsgirt module, the \
         way\nmod_wsgi-express does for mod_wsgi.\n\nCommands:\n",
    );
    for (name, summary, _) in COMMANDS {
        out.push_str(&format!("  {name:<17}{summary}\n"));
    }
    out.push_str(
        "\nRun 'wsgirt-express COMMAND --help' for a command's options.\n\n\
         Environment:\n  \
         WSGIRT_MODULE    the module to load (see module-location)\n  \
         WSGIRT_PYTHON    the Python the module was built for, for WSGIPythonHome\n                   \
         (default /usr/bin/python3)\n  \
         HTTPD            the Apache binary (see --httpd-executable)\n  \
         TMPDIR           where default server roots go (default /tmp)\n",
    );
    out
}

/// The help of one subcommand.
pub fn command_help(cmd: &str) -> String {
    let (name, summary, usage) = COMMANDS
        .iter()
        .find(|(name, _, _)| *name == cmd)
        .expect("known command");
    let mut out = format!("Usage: {usage}\n\n{summary}\n");
    match *name {
        "start-server" | "setup-server" => {
            out.push('\n');
            let intro = if *name == "start-server" {
                "SCRIPT is a WSGI script file (mod_wsgi's WSGIScriptAlias target) that \
                 defines 'application'. Without SCRIPT a built-in welcome page is served. \
                 Apache replaces this process (exec), so Ctrl-C or SIGTERM reach it directly \
                 and stop it; resizing the terminal does not."
            } else {
                "SCRIPT is a WSGI script file that defines 'application'. The server root \
                 gets httpd.conf, apachectl (start|stop|restart|graceful|configtest|status), \
                 envvars (sourced before Apache starts) and an htdocs directory."
            };
            for line in wrap(intro, WIDTH) {
                out.push_str(&line);
                out.push('\n');
            }
            render_options(&mut out, SERVER_OPTIONS);
        }
        _ => {
            out.push_str(
                "\nThe module is --module-path, else $WSGIRT_MODULE, else mod_wsgirt.so next\n\
                 to this executable, else ../lib/apache2/modules/mod_wsgirt.so relative to\n\
                 it.\n",
            );
            if *name == "module-config" {
                out.push_str(
                    "WSGIPythonHome is sys.prefix of $WSGIRT_PYTHON (default /usr/bin/python3).\n",
                );
            }
            render_options(&mut out, MODULE_OPTIONS);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Command> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        parse(&args)
    }

    fn server(args: &[&str]) -> ServerArgs {
        match parse_strs(args).unwrap() {
            Command::StartServer(s) | Command::SetupServer(s) => s,
            other => panic!("not a server command: {other:?}"),
        }
    }

    fn usage_message(args: &[&str]) -> String {
        match parse_strs(args) {
            Err(Error::Usage { message, .. }) => message,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_follow_mod_wsgi_express() {
        let s = server(&["start-server", "app.wsgi"]);
        assert_eq!(s.script, Some(PathBuf::from("app.wsgi")));
        assert_eq!(s.port, 8000);
        assert_eq!(s.host, None);
        assert_eq!(s.processes, None);
        assert_eq!(s.threads, 5);
        assert_eq!(s.log_level, "warn");
        assert_eq!(s.callable_object, "application");
        assert_eq!(s.map_head_to_get, "Auto");
        assert_eq!(s.keep_alive_timeout, 2, "4.8.0+ default");
        assert_eq!(s.mode, ModeChoice::Default);
        assert_eq!(s.daemon, DaemonSettings::default());
        assert_eq!(s.daemon.request_timeout, 60);
        assert_eq!(s.daemon.queue_timeout, 45);
        assert!(!s.access_log && !s.log_to_terminal && !s.reload_on_changes);
        assert!(!s.server_status && !s.server_metrics);
    }

    #[test]
    fn pid_file_process_name_socket_prefix_error_documents_ignore_activity() {
        let s = server(&[
            "start-server",
            "--pid-file",
            "app.pid",
            "--process-name",
            "myapp",
            "--socket-prefix",
            "/run/app",
            "--error-document",
            "404",
            "/404.html",
            "--error-document",
            "503",
            "/busy.html",
            "--ignore-activity",
            "/health",
        ]);
        assert_eq!(s.pid_file, Some(PathBuf::from("app.pid")));
        assert_eq!(s.process_name.as_deref(), Some("myapp"));
        assert_eq!(s.socket_prefix, Some(PathBuf::from("/run/app")));
        assert_eq!(
            s.error_documents,
            [
                (404, "/404.html".to_string()),
                (503, "/busy.html".to_string())
            ]
        );
        assert_eq!(s.ignore_activity, ["/health"]);
        assert_eq!(
            s.daemon_only_given,
            ["--socket-prefix", "--ignore-activity"]
        );
        for bad in ["200", "600", "abc"] {
            let msg = usage_message(&["start-server", "--error-document", bad, "/x"]);
            assert!(msg.contains("HTTP error status"), "{msg}");
        }
        assert!(
            usage_message(&["start-server", "--ignore-activity", "health"])
                .contains("must start with '/'")
        );
    }

    #[test]
    fn directory_index_listing_and_allow_override() {
        let s = server(&["start-server"]);
        assert_eq!(s.site, SiteOptions::default());
        assert_eq!(s.site.allow_override(), "None", "4.9.4's default");
        let s = server(&[
            "start-server",
            "--directory-index",
            "index.html",
            "--directory-listing",
            "--allow-override",
            "FileInfo",
            "--allow-override",
            "Options=Indexes,MultiViews",
        ]);
        assert_eq!(s.site.directory_index.as_deref(), Some("index.html"));
        assert!(s.site.directory_listing);
        assert_eq!(
            s.site.allow_override(),
            "FileInfo Options=Indexes,MultiViews"
        );
        assert!(server(&["start-server", "--allow-override", "authconfig"])
            .site
            .allow_override
            .contains(&"authconfig".to_string()));
        for bad in ["Everything", "Options=", "FileInfo=x", "Options=a b"] {
            assert!(
                usage_message(&["start-server", "--allow-override", bad])
                    .contains("--allow-override expects"),
                "{bad}"
            );
        }
        assert!(
            usage_message(&["start-server", "--directory-index", "a/b.html"])
                .contains("expects a file name")
        );
    }

    #[test]
    fn service_options() {
        let s = server(&["start-server"]);
        assert!(s.service_scripts.is_empty());
        let s = server(&[
            "start-server",
            "--service-script",
            "ticker",
            "tick.py",
            "--service-script",
            "mailer",
            "mail.py",
            "--service-user",
            "ticker",
            "nobody",
            "--service-group",
            "ticker",
            "nogroup",
            "--service-log-file",
            "mailer",
            "mailer.log",
        ]);
        assert_eq!(
            s.service_scripts,
            vec![
                ("ticker".into(), PathBuf::from("tick.py")),
                ("mailer".into(), PathBuf::from("mail.py"))
            ]
        );
        assert_eq!(s.service_users, vec![("ticker".into(), "nobody".into())]);
        assert_eq!(s.service_groups, vec![("ticker".into(), "nogroup".into())]);
        assert_eq!(
            s.service_log_files,
            vec![("mailer".into(), "mailer.log".into())]
        );
        for (args, needle) in [
            (
                &["start-server", "--service-script", "a b", "x.py"][..],
                "SERVICE",
            ),
            (
                &["start-server", "--service-script", "a\"", "x.py"][..],
                "SERVICE",
            ),
            (
                &["start-server", "--service-script", "", "x.py"][..],
                "SERVICE",
            ),
            (
                &["start-server", "--service-script", "a", ""][..],
                "needs a value",
            ),
            (
                &[
                    "start-server",
                    "--service-script",
                    "a",
                    "x.py",
                    "--service-script",
                    "a",
                    "y.py",
                ][..],
                "twice",
            ),
            (
                &["start-server", "--service-log-file", "a", "logs/a.log"][..],
                "file name",
            ),
            (
                &["start-server", "--service-script", "a"][..],
                "--service-script",
            ),
        ] {
            assert!(
                usage_message(args).contains(needle),
                "{args:?}: {}",
                usage_message(args)
            );
        }
    }

    #[test]
    fn log_rotation() {
        let s = server(&["start-server"]);
        assert!(!s.rotate_logs);
        assert_eq!(s.max_log_size, 5, "4.9.4's default");
        let s = server(&[
            "start-server",
            "--rotate-logs",
            "--max-log-size",
            "20",
            "--rotatelogs-executable",
            "/opt/bin/rotatelogs",
        ]);
        assert!(s.rotate_logs);
        assert_eq!(s.max_log_size, 20);
        assert_eq!(s.rotatelogs_executable, Some("/opt/bin/rotatelogs".into()));
        assert!(usage_message(&["start-server", "--max-log-size", "0"]).contains(">= 1"));
    }

    #[test]
    fn debug_options() {
        let s = server(&["start-server"]);
        assert_eq!(s.debug, DebugArgs::default());
        assert!(!s.debug.enabled());
        assert!(server(&["start-server", "--debug-mode"]).debug.enabled());
        // Each tool implies debug mode, as in 4.9.4; the directories alone
        // do not.
        for tool in [
            "--enable-debugger",
            "--enable-profiler",
            "--enable-recorder",
        ] {
            assert!(server(&["start-server", tool]).debug.enabled(), "{tool}");
        }
        let s = server(&[
            "start-server",
            "--debugger-startup",
            "--profiler-directory",
            "p",
            "--recorder-directory=r",
        ]);
        assert!(!s.debug.enabled());
        assert!(s.debug.debugger_startup);
        assert_eq!(s.debug.profiler_directory, Some(PathBuf::from("p")));
        assert_eq!(s.debug.recorder_directory, Some(PathBuf::from("r")));
    }

    #[test]
    fn proxy_options() {
        assert_eq!(server(&["start-server"]).proxies, Proxies::default());
        let s = server(&[
            "start-server",
            "--proxy-mount-point",
            "/api",
            "http://127.0.0.1:9000",
            "--proxy-url-alias",
            "/old/",
            "http://10.0.0.1/legacy/",
            "--proxy-virtual-host",
            "api.example.com",
            "http://127.0.0.1:9001/",
        ]);
        assert_eq!(
            s.proxies.mount_points,
            [
                ("/api".to_string(), "http://127.0.0.1:9000".to_string()),
                ("/old/".to_string(), "http://10.0.0.1/legacy/".to_string()),
            ]
        );
        assert_eq!(
            s.proxies.virtual_hosts,
            [(
                "api.example.com".to_string(),
                "http://127.0.0.1:9001/".to_string()
            )]
        );
        for (args, message) in [
            (
                ["--proxy-mount-point", "api", "http://h/"],
                "must start with '/'",
            ),
            (
                ["--proxy-mount-point", "/api", "https://h/"],
                "an http:// URL with a host",
            ),
            (["--proxy-url-alias", "/api", "http://"], "an http:// URL"),
            (
                ["--proxy-url-alias", "/api", "http://h/${X}"],
                "an http:// URL",
            ),
            (
                ["--proxy-virtual-host", "a b", "http://h/"],
                "expects a host name",
            ),
            (["--proxy-virtual-host", "h", "ftp://h/"], "an http:// URL"),
        ] {
            let mut all = vec!["start-server"];
            all.extend(args);
            let m = usage_message(&all);
            assert!(m.contains(message), "{args:?}: {m}");
        }
        assert!(
            usage_message(&["start-server", "--proxy-mount-point", "/api"]).contains("requires")
        );
    }

    #[test]
    fn server_mpm() {
        assert!(server(&["start-server"]).server_mpm.is_empty());
        let s = server(&[
            "start-server",
            "--server-mpm",
            "prefork",
            "--server-mpm=worker",
        ]);
        assert_eq!(s.server_mpm, ["prefork", "worker"]);
        assert!(usage_message(&["start-server", "--server-mpm", "winnt"])
            .contains("expects event, worker or prefork"));
    }

    #[test]
    fn https_options() {
        let s = server(&["start-server"]);
        assert_eq!(s.https, HttpsArgs::default());
        let s = server(&[
            "start-server",
            "--https-port",
            "8443",
            "--ssl-certificate-file",
            "a.crt",
            "--ssl-certificate-key-file=a.key",
            "--ssl-certificate",
            "site",
            "--ssl-certificate-chain-file",
            "chain.crt",
            "--ssl-ca-certificate-file",
            "ca.crt",
            "--ssl-verify-client",
            "/admin",
            "--ssl-verify-client",
            "/api",
            "--ssl-environment",
            "--https-only",
            "--hsts-policy",
            "max-age=60",
        ]);
        let h = &s.https;
        assert_eq!(h.port, Some(8443));
        assert_eq!(h.certificate_file, Some("a.crt".into()));
        assert_eq!(h.certificate_key_file, Some("a.key".into()));
        assert_eq!(h.certificate, Some("site".into()));
        assert_eq!(h.certificate_chain_file, Some("chain.crt".into()));
        assert_eq!(h.ca_certificate_file, Some("ca.crt".into()));
        assert_eq!(h.verify_client_urls, ["/admin", "/api"]);
        assert!(h.environment && h.https_only);
        assert_eq!(h.hsts_policy.as_deref(), Some("max-age=60"));
        // 4.9.4's hidden alias.
        assert_eq!(
            server(&["start-server", "--ssl-port", "9443"]).https.port,
            Some(9443)
        );
        assert!(usage_message(&["start-server", "--https-port", "0"]).contains("--https-port"));
        assert!(usage_message(&["start-server", "--https-port", "x"]).contains("--https-port"));
        assert!(
            usage_message(&["start-server", "--ssl-verify-client", "admin"])
                .contains("starting with '/'")
        );
        assert!(usage_message(&["start-server", "--hsts-policy", " "]).contains("needs a policy"));
    }

    #[test]
    fn hook_scripts() {
        let s = server(&["start-server"]);
        assert_eq!(s.hooks, HookScripts::default());
        assert_eq!(s.hooks.auth_type, "Basic", "4.9.4's default");
        assert_eq!(s.hooks.auth_group, "wsgi", "4.9.4's default");
        assert!(!s.auth_type_given && !s.auth_group_given);
        let s = server(&[
            "start-server",
            "--host-access-script",
            "access.py",
            "--auth-user-script",
            "users.py",
            "--auth-group-script",
            "groups.py",
            "--auth-type",
            "digest",
            "--auth-group",
            "admins",
        ]);
        assert_eq!(s.hooks.host_access_script, Some("access.py".into()));
        assert_eq!(s.hooks.auth_user_script, Some("users.py".into()));
        assert_eq!(s.hooks.auth_group_script, Some("groups.py".into()));
        assert_eq!(s.hooks.auth_type, "Digest");
        assert_eq!(s.hooks.auth_group, "admins");
        assert!(s.auth_type_given && s.auth_group_given);
        assert!(usage_message(&["start-server", "--auth-type", "Bearer"])
            .contains("expects Basic or Digest"));
        assert!(usage_message(&["start-server", "--auth-group="]).contains("needs a group name"));
    }

    #[test]
    fn server_name_alias_and_allow_localhost() {
        let s = server(&[
            "start-server",
            "--server-name",
            "www.example.com",
            "--server-alias",
            "example.org",
            "--server-alias",
            "*.example.net",
            "--allow-localhost",
        ]);
        assert_eq!(s.server_name.as_deref(), Some("www.example.com"));
        assert_eq!(s.server_aliases, ["example.org", "*.example.net"]);
        assert!(s.allow_localhost);
        assert!(
            usage_message(&["start-server", "--server-name", "*.example.com"])
                .contains("expects a host name")
        );
        assert!(usage_message(&["start-server", "--server-alias", "a b"])
            .contains("expects a host name"));
    }

    #[test]
    fn feature_flags() {
        let s = server(&[
            "start-server",
            "--disable-reloading",
            "--chunked-request",
            "--enable-sendfile",
            "--error-override",
            "--orphan-interpreter",
            "--compress-responses",
            "--trust-proxy-header",
            "X-Forwarded-For",
            "--trust-proxy-header=X-Forwarded-Proto",
            "--trust-proxy",
            "10.0.0.0/8",
            "--trust-proxy",
            "::1",
            "--passenv",
            "HOME",
            "--http2",
        ]);
        let f = &s.features;
        assert!(f.disable_reloading && f.chunked_request && f.enable_sendfile);
        assert!(f.http2);
        assert!(f.error_override && f.orphan_interpreter && f.compress_responses);
        assert_eq!(
            f.trusted_proxy_headers,
            ["X-Forwarded-For", "X-Forwarded-Proto"]
        );
        assert_eq!(f.trusted_proxies, ["10.0.0.0/8", "::1"]);
        assert_eq!(f.passenv, ["HOME"]);
        assert_eq!(server(&["start-server"]).features, Features::default());
        assert!(
            usage_message(&["start-server", "--trust-proxy-header", "X Y"]).contains("header name")
        );
        assert!(
            usage_message(&["start-server", "--trust-proxy", "proxy.local"]).contains("IP address")
        );
        assert!(usage_message(&["start-server", "--passenv", "A=B"]).contains("variable name"));
    }

    #[test]
    fn log_formats_and_names() {
        let s = server(&[
            "start-server",
            "--access-log-format",
            "%h %>s",
            "--error-log-format",
            "[%l] %M",
            "--error-log-name",
            "err.log",
            "--access-log-name",
            "acc.log",
            "--startup-log-name",
            "st.log",
        ]);
        assert_eq!(s.access_log_format.as_deref(), Some("%h %>s"));
        assert_eq!(s.error_log_format.as_deref(), Some("[%l] %M"));
        assert_eq!(
            (
                s.error_log_name.as_str(),
                s.access_log_name.as_str(),
                s.startup_log_name.as_str()
            ),
            ("err.log", "acc.log", "st.log")
        );
        let d = server(&["start-server"]);
        assert_eq!(
            (
                d.error_log_name.as_str(),
                d.access_log_name.as_str(),
                d.startup_log_name.as_str()
            ),
            ("error_log", "access_log", "startup_log")
        );
        assert!(
            usage_message(&["start-server", "--error-log-name", "logs/e"])
                .contains("expects a file name")
        );
        assert!(usage_message(&["start-server", "--access-log-format="]).contains("needs a format"));
    }

    #[test]
    fn worker_fractions() {
        let s = server(&[
            "start-server",
            "--initial-workers",
            "0.5",
            "--minimum-spare-workers=0",
            "--maximum-spare-workers",
            "1",
        ]);
        assert_eq!(s.daemon.initial_workers, Some(Fraction(0.5)));
        assert_eq!(s.daemon.minimum_spare_workers, Some(Fraction(0.0)));
        assert_eq!(s.daemon.maximum_spare_workers, Some(Fraction(1.0)));
        assert!(s.daemon_only_given.contains(&"--initial-workers"));
        for bad in ["1.5", "-0.1", "half", "NaN"] {
            let msg = usage_message(&["start-server", "--initial-workers", bad]);
            assert!(msg.contains("a number from 0 to 1"), "{msg}");
        }
    }

    #[test]
    fn locale_and_lang() {
        assert_eq!(server(&["start-server"]).locale, None);
        let s = server(&["start-server", "--lang", "de_DE.UTF-8"]);
        assert_eq!(s.locale.as_deref(), Some("de_DE.UTF-8"));
        // --locale wins, in either order (4.9.4: locale, else lang).
        let s = server(&["start-server", "--locale", "C.utf8", "--lang", "x"]);
        assert_eq!(s.locale.as_deref(), Some("C.utf8"));
        assert!(usage_message(&["start-server", "--locale", "a b"]).contains("invalid --locale"));
    }

    #[test]
    fn request_read_timeouts() {
        let s = server(&[
            "start-server",
            "--header-timeout",
            "20",
            "--header-max-timeout",
            "40",
            "--header-min-rate",
            "100",
            "--body-timeout",
            "0",
            "--body-max-timeout",
            "99",
            "--body-min-rate",
            "0",
        ]);
        assert_eq!(
            s.read_timeouts,
            ReadTimeouts {
                header: 20,
                header_max: 40,
                header_min_rate: 100,
                body: 0,
                body_max: 99,
                body_min_rate: 0,
            }
        );
        assert_eq!(
            server(&["start-server"]).read_timeouts,
            ReadTimeouts::default()
        );
        assert!(
            usage_message(&["start-server", "--header-max-timeout", "15"])
                .contains("--header-max-timeout (15) must be greater than --header-timeout (15)")
        );
        assert!(usage_message(&[
            "start-server",
            "--body-max-timeout",
            "30",
            "--body-min-rate",
            "0"
        ])
        .contains("--body-max-timeout needs a --body-min-rate above 0"));
    }

    #[test]
    fn daemon_buffer_options() {
        let s = server(&[
            "start-server",
            "--send-buffer-size",
            "512",
            "--receive-buffer-size",
            "0",
            "--header-buffer-size",
            "65536",
            "--response-buffer-size",
            "1048576",
            "--response-socket-timeout",
            "9",
            "--python-eggs",
            "eggs",
        ]);
        assert_eq!(s.daemon.send_buffer_size, 512);
        assert_eq!(s.daemon.receive_buffer_size, 0);
        assert_eq!(s.daemon.header_buffer_size, 65536);
        assert_eq!(s.daemon.response_buffer_size, 1_048_576);
        assert_eq!(s.daemon.response_socket_timeout, 9);
        assert_eq!(s.python_eggs, Some(PathBuf::from("eggs")));
        assert!(s.daemon_only_given.contains(&"--python-eggs"));
        for (opt, min) in [
            ("--send-buffer-size", "512"),
            ("--receive-buffer-size", "512"),
            ("--header-buffer-size", "8192"),
            ("--response-buffer-size", "65536"),
        ] {
            let msg = usage_message(&["start-server", opt, "100"]);
            assert!(msg.contains(&format!(">= {min} bytes, or 0")), "{msg}");
        }
    }

    #[test]
    fn server_status_and_metrics_flags() {
        let s = server(&["start-server", "--server-status", "--server-metrics"]);
        assert!(s.server_status && s.server_metrics);
        assert!(usage_message(&["start-server", "--server-status=on"]).contains("takes no value"));
    }

    #[test]
    fn commands() {
        assert_eq!(parse_strs(&[]).unwrap_err().exit_code(), 2);
        assert_eq!(parse_strs(&["--help"]).unwrap(), Command::Help);
        assert_eq!(parse_strs(&["help"]).unwrap(), Command::Help);
        assert_eq!(parse_strs(&["--version"]).unwrap(), Command::Version);
        assert!(matches!(
            parse_strs(&["start-server"]).unwrap(),
            Command::StartServer(_)
        ));
        assert!(matches!(
            parse_strs(&["setup-server", "a"]).unwrap(),
            Command::SetupServer(_)
        ));
        assert_eq!(
            parse_strs(&["module-location"]).unwrap(),
            Command::ModuleLocation(ModuleArgs::default())
        );
        assert_eq!(
            parse_strs(&["module-config", "--module-path", "/x.so"]).unwrap(),
            Command::ModuleConfig(ModuleArgs {
                module_path: Some("/x.so".into())
            })
        );
        assert!(usage_message(&["install-module"]).contains("unknown command 'install-module'"));
        assert!(usage_message(&["--port", "1"]).contains("expected a command"));
    }

    #[test]
    fn setup_only_turns_start_into_setup() {
        assert!(matches!(
            parse_strs(&["start-server", "a.wsgi", "--setup-only"]).unwrap(),
            Command::SetupServer(_)
        ));
    }

    #[test]
    fn help_per_command_wins_over_other_options() {
        assert_eq!(
            parse_strs(&["start-server", "--port", "1", "--help"]).unwrap(),
            Command::HelpFor("start-server")
        );
        assert_eq!(
            parse_strs(&["module-config", "-h"]).unwrap(),
            Command::HelpFor("module-config")
        );
    }

    #[test]
    fn values_inline_or_separate_and_interleaved_with_script() {
        let s = server(&[
            "start-server",
            "--port=9000",
            "app.wsgi",
            "--host",
            "127.0.0.1",
            "--processes",
            "3",
            "--threads=2",
        ]);
        assert_eq!(s.port, 9000);
        assert_eq!(s.host.as_deref(), Some("127.0.0.1"));
        assert_eq!(s.processes, Some(3));
        assert_eq!(s.threads, 2);
        assert_eq!(s.script, Some(PathBuf::from("app.wsgi")));
    }

    #[test]
    fn repeatable_options_accumulate() {
        let s = server(&[
            "setup-server",
            "a.wsgi",
            "--python-path",
            "/p1",
            "--python-path=/p2",
            "--url-alias",
            "/static",
            "static",
            "--url-alias",
            "/robots.txt",
            "/srv/robots.txt",
        ]);
        assert_eq!(
            s.python_paths,
            vec![PathBuf::from("/p1"), PathBuf::from("/p2")]
        );
        assert_eq!(
            s.url_aliases,
            vec![
                ("/static".to_string(), PathBuf::from("static")),
                ("/robots.txt".to_string(), PathBuf::from("/srv/robots.txt"))
            ]
        );
    }

    #[test]
    fn double_dash_ends_options() {
        let s = server(&["start-server", "--", "--odd-name.wsgi"]);
        assert_eq!(s.script, Some(PathBuf::from("--odd-name.wsgi")));
    }

    #[test]
    fn unknown_and_malformed_options_are_usage_errors() {
        assert_eq!(
            usage_message(&["start-server", "--no-such-thing"]),
            "unknown option '--no-such-thing'"
        );
        assert_eq!(
            usage_message(&["start-server", "-x"]),
            "unknown option '-x'"
        );
        assert!(usage_message(&["start-server", "--port"]).contains("requires a value"));
        assert!(usage_message(&["start-server", "--port", "http"]).contains("whole number"));
        assert!(usage_message(&["start-server", "--port", "0"]).contains(">= 1"));
        assert!(usage_message(&["start-server", "--port", "70000"]).contains("whole number"));
        assert!(usage_message(&["start-server", "--threads", "0"]).contains(">= 1"));
        assert!(usage_message(&["start-server", "--access-log=yes"]).contains("takes no value"));
        assert!(usage_message(&["start-server", "--url-alias", "/x"]).contains("two values"));
        assert!(usage_message(&["start-server", "--url-alias=/x", "y"]).contains("two values"));
        assert!(
            usage_message(&["start-server", "--url-alias", "x", "/y"]).contains("start with '/'")
        );
        assert!(usage_message(&["start-server", "a", "b"]).contains("only one SCRIPT"));
        assert!(
            usage_message(&["start-server", "--log-level", "loud"]).contains("unknown --log-level")
        );
        assert!(
            usage_message(&["start-server", "--map-head-to-get", "maybe"])
                .contains("Off, On or Auto")
        );
        assert!(usage_message(&["module-location", "extra"]).contains("unexpected argument"));
        assert!(usage_message(&["module-location", "--port", "1"]).contains("unknown option"));
        let err = parse_strs(&["start-server", "--bogus"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn script_and_module_application_types_are_accepted() {
        assert_eq!(
            server(&["start-server", "--application-type", "script"]).application_type,
            "script"
        );
        let s = server(&[
            "start-server",
            "mysite.wsgi",
            "--application-type",
            "module",
        ]);
        assert_eq!(s.application_type, "module");
        assert_eq!(s.script, Some(PathBuf::from("mysite.wsgi")));
        for bad in ["my-site.wsgi", "mysite/wsgi.py", "1st", "a..b"] {
            let msg = usage_message(&["start-server", bad, "--application-type", "module"]);
            assert!(msg.contains("module name"), "{msg}");
        }
        assert!(usage_message(&[
            "start-server",
            "m",
            "--application-type",
            "module",
            "--callable-object",
            "a.b"
        ])
        .contains("not a Python name"));
        for t in ["paste", "static"] {
            let msg = usage_message(&["start-server", "x", "--application-type", t]);
            assert!(msg.contains("not supported yet"), "{msg}");
        }
        assert!(usage_message(&["start-server", "--application-type", "egg"]).contains("unknown"));
    }

    #[test]
    fn modes() {
        assert_eq!(
            server(&["start-server", "--daemon-mode"]).mode,
            ModeChoice::Daemon
        );
        assert_eq!(
            server(&["start-server", "--embedded-mode"]).mode,
            ModeChoice::Embedded
        );
        assert!(
            usage_message(&["start-server", "--embedded-mode", "--daemon-mode"])
                .contains("cannot be used together")
        );
    }

    #[test]
    fn daemon_options_are_recorded() {
        let s = server(&[
            "start-server",
            "--request-timeout",
            "30",
            "--max-clients",
            "40",
            "--request-timeout",
            "31",
            "--cpu-time-limit",
            "0",
        ]);
        assert_eq!(s.daemon.request_timeout, 31);
        assert_eq!(s.daemon.max_clients, Some(40));
        assert_eq!(s.daemon.cpu_time_limit, 0);
        assert_eq!(
            s.daemon_only_given,
            vec!["--request-timeout", "--max-clients", "--cpu-time-limit"]
        );
    }

    #[test]
    fn misc_values() {
        let s = server(&[
            "start-server",
            "--log-level",
            "INFO",
            "--map-head-to-get",
            "off",
            "--user",
            "nobody",
            "--group",
            "nogroup",
            "--callable-object",
            "app",
            "--reload-on-changes",
            "--log-to-terminal",
            "--access-log",
            "--keep-alive-timeout",
            "2",
            "--limit-request-body",
            "0",
            "--maximum-requests",
            "100",
        ]);
        assert_eq!(s.log_level, "info");
        assert_eq!(s.map_head_to_get, "Off");
        assert_eq!(s.user.as_deref(), Some("nobody"));
        assert_eq!(s.group.as_deref(), Some("nogroup"));
        assert_eq!(s.callable_object, "app");
        assert!(s.reload_on_changes && s.log_to_terminal && s.access_log);
        assert_eq!(s.keep_alive_timeout, 2);
        assert_eq!(s.limit_request_body, 0);
        assert_eq!(s.maximum_requests, 100);
    }

    #[test]
    fn help_text_lists_every_option_within_width() {
        let text = command_help("start-server");
        for spec in SERVER_OPTIONS {
            assert!(text.contains(spec.name), "{} missing from help", spec.name);
        }
        for line in text.lines() {
            assert!(line.len() <= WIDTH, "help line too long: {line:?}");
        }
        assert!(text.contains("daemon mode is the default"));
        for cmd in ["setup-server", "module-config", "module-location"] {
            let text = command_help(cmd);
            assert!(text.starts_with(&format!("Usage: wsgirt-express {cmd}")));
            assert!(text.lines().all(|l| l.len() <= WIDTH));
        }
        let main = main_help();
        for (name, _, _) in COMMANDS {
            assert!(main.contains(name));
        }
        assert!(main.lines().all(|l| l.len() <= WIDTH), "{main}");
    }

    #[test]
    fn express_4_9_options() {
        let s = server(&[
            "start-server",
            "positional.wsgi",
            "--entry-point",
            "named.wsgi",
            "--mount-point",
            "/app",
            "--document-root",
            "static",
            "--setenv",
            "A",
            "1",
            "--setenv",
            "B",
            "two words",
            "--include-file",
            "x.conf",
            "--include-file=y.conf",
            "--envvars-script",
            "env.sh",
            "--log-directory",
            "logs",
            "--startup-log",
        ]);
        // --entry-point wins over the positional, as in 4.9.4.
        assert_eq!(s.script, Some(PathBuf::from("named.wsgi")));
        assert_eq!(s.mount_point, "/app");
        assert_eq!(s.document_root, Some(PathBuf::from("static")));
        assert_eq!(
            s.setenv,
            vec![
                ("A".to_string(), "1".to_string()),
                ("B".to_string(), "two words".to_string())
            ]
        );
        assert_eq!(
            s.include_files,
            vec![PathBuf::from("x.conf"), PathBuf::from("y.conf")]
        );
        assert_eq!(s.envvars_script, Some(PathBuf::from("env.sh")));
        assert_eq!(s.log_directory, Some(PathBuf::from("logs")));
        assert!(s.startup_log);
        let d = server(&["start-server"]);
        assert_eq!(d.mount_point, "/");
        assert!(!d.startup_log && d.setenv.is_empty() && d.include_files.is_empty());
        assert!(usage_message(&["start-server", "--setenv", "A"]).contains("two values"));
        assert!(usage_message(&["start-server", "--setenv", "", "v"]).contains("non-empty"));
    }

    #[test]
    fn option_names_are_unique() {
        for (i, a) in SERVER_OPTIONS.iter().enumerate() {
            assert!(a.name.starts_with("--"));
            for b in &SERVER_OPTIONS[i + 1..] {
                assert_ne!(a.name, b.name);
            }
        }
    }
}
