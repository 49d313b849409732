//! Runtime configuration: plain Rust data filled in by the host (possibly in
//! a parent process before fork) and read when Python starts.

/// How string hashes are seeded (`WSGIPythonHashSeed`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum HashSeed {
    /// No directive: Python decides, honouring `PYTHONHASHSEED` from the
    /// host's environment (random when it is unset), as under mod_wsgi.
    #[default]
    FromEnvironment,
    /// `random`: random per process, whatever the environment says.
    Random,
    /// A fixed seed (0 disables randomisation).
    Fixed(u32),
}

/// Everything that shapes the embedded Python and the WSGI environ.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// `WSGIPythonHome` / `python-home`: a prefix or a virtual environment.
    pub python_home: Option<String>,
    /// `WSGIPythonPath` entries (a daemon's `python-path=`), added with
    /// `site.addsitedir` in every interpreter.
    pub python_paths: Vec<String>,
    /// A daemon's `home=`: inserted at the front of `sys.path` in every
    /// interpreter, ahead of `python_paths` (mod_wsgi 4.9.4
    /// `newInterpreterObject`).
    pub home_directory: Option<String>,
    /// `WSGIPythonOptimize`.
    pub optimize: i32,
    pub hash_seed: HashSeed,
    /// `WSGIPythonWarnings` entries, as `-W` options.
    pub warnings: Vec<String>,
    pub dont_write_bytecode: bool,
    pub restrict_stdin: bool,
    pub restrict_stdout: bool,
    /// `WSGIRestrictSignal` (default On): `signal.signal()` is ignored with a warning.
    pub restrict_signal: bool,
    /// Process group name; empty in embedded mode.
    pub process_group: String,
    pub multithread: bool,
    pub multiprocess: bool,
    pub run_once: bool,
    pub maximum_processes: i32,
    pub threads_per_process: i32,
    /// The host's version (Apache's `x.y.z`), for `apache.version`.
    pub host_version: (u32, u32, u32),
    /// `apache.description`, `apache.mpm_name` and `apache.build_date`
    /// (each attribute is absent while its text is empty).
    pub host_description: String,
    pub host_mpm_name: String,
    pub host_build_date: String,
    /// The host's own worker figures for `apache.maximum_processes` and
    /// `apache.threads_per_process`; `None`: the serving process's
    /// (`maximum_processes`, `threads_per_process`). They differ in a
    /// daemon process, whose `mod_wsgi.*` figures are its group's.
    pub host_workers: Option<(i32, i32)>,
    /// `WSGICaseSensitivity Off` lowercases script paths for module names.
    pub case_sensitive: bool,
    /// `WSGIServerMetrics On` / `server-metrics=On`: `server_metrics()`
    /// reports the host's scoreboard instead of `None`.
    pub server_metrics: bool,
    /// `WSGIDestroyInterpreter` (default On): stop the interpreters when the
    /// runtime is freed. Off leaves Python running until the process exits.
    pub destroy_interpreter: bool,
    /// Single-process mode (`apache2 -X`): `sys.stdout` and `sys.stdin`
    /// stay the console's, so that `pdb` works, as mod_wsgi leaves them
    /// when its child code runs in Apache's parent process.
    pub console_stdio: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            python_home: None,
            python_paths: Vec::new(),
            home_directory: None,
            optimize: 0,
            hash_seed: HashSeed::FromEnvironment,
            warnings: Vec::new(),
            dont_write_bytecode: false,
            restrict_stdin: false,
            restrict_stdout: false,
            restrict_signal: true,
            process_group: String::new(),
            multithread: true,
            multiprocess: false,
            run_once: false,
            maximum_processes: 1,
            threads_per_process: 1,
            host_version: (0, 0, 0),
            host_description: String::new(),
            host_mpm_name: String::new(),
            host_build_date: String::new(),
            host_workers: None,
            case_sensitive: true,
            server_metrics: false,
            destroy_interpreter: true,
            console_stdio: false,
        }
    }
}
