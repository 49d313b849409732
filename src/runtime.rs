//! The process's runtime: Python's lifecycle, the application-group
//! registry and the entry points the C API calls.
//!
//! Only one runtime can exist per process (CPython is process-global), it
//! must be created in the process that serves (never in a parent that
//! forks), and it refuses use from a forked child.

use crate::config::RuntimeConfig;
use crate::logging::{self, Level};
use crate::python::interp::{self, Interp};
use crate::python::{lifecycle, tstate};
use crate::wsgi::host::HostIo;
use crate::wsgi::request::{self, Completion, RequestSpec};
use crate::wsgi::script;
use parking_lot::{Mutex, RwLock};
use pyo3::ffi;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Why a runtime call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeError {
    AlreadyInitialized,
    PythonInitFailed(String),
    WrongProcess,
    ShuttingDown,
    InterpreterFailed,
    ScriptLoadFailed,
}

static CASE_SENSITIVE: AtomicBool = AtomicBool::new(true);
static PROCESS_GROUP: OnceLock<String> = OnceLock::new();
static PYTHON_STARTED: AtomicBool = AtomicBool::new(false);

/// Set in the child of every `fork()` after [`watch_forks`]: until then the
/// process is the one that started the runtime, and the per-call process
/// check needs no `getpid` system call.
static FORKED: AtomicBool = AtomicBool::new(false);

extern "C" fn mark_forked() {
    FORKED.store(true, Ordering::Relaxed);
}

/// Registers the fork handler that sets [`FORKED`] (once per process).
fn watch_forks() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a child handler that only stores to an atomic
        // (async-signal-safe); nothing is unregistered later.
        unsafe { libc::pthread_atfork(None, None, Some(mark_forked)) };
    });
}

/// `WSGICaseSensitivity` of the running runtime.
pub fn case_sensitive() -> bool {
    CASE_SENSITIVE.load(Ordering::Relaxed)
}

/// True once a runtime has started Python in this process (it cannot be
/// started again, even after shutdown).
pub fn python_started() -> bool {
    PYTHON_STARTED.load(Ordering::SeqCst)
}

/// The process group of the running runtime (empty in embedded mode).
pub fn process_group() -> &'static str {
    PROCESS_GROUP.get().map_or("", String::as_str)
}

/// The runtime of this process.
pub struct Runtime {
    config: RuntimeConfig,
    pid: u32,
    main: Arc<Interp>,
    groups: RwLock<HashMap<String, Arc<Interp>>>,
    /// Serialises interpreter creation; taken without the GIL.
    create_lock: Mutex<()>,
    next_slot: Mutex<usize>,
    shutting_down: AtomicBool,
    /// `process_stopping` has been published (it is sent once).
    stopping_published: AtomicBool,
}

impl Runtime {
    /// Starts Python in this process and sets up the main interpreter.
    pub fn start(config: RuntimeConfig) -> Result<Arc<Runtime>, RuntimeError> {
        if PYTHON_STARTED.swap(true, Ordering::SeqCst) {
            return Err(RuntimeError::AlreadyInitialized);
        }
        logging::install_panic_hook();
        watch_forks();
        let pid = std::process::id();
        CASE_SENSITIVE.store(config.case_sensitive, Ordering::Relaxed);
        let _ = PROCESS_GROUP.set(config.process_group.clone());
        crate::module::set_process_config(&config);
        logging::log_process(
            Level::Info,
            &format!("mod_wsgi (pid={pid}): Initializing Python."),
        );
        if !crate::module::register_builtins() {
            return Err(RuntimeError::PythonInitFailed(
                "cannot register builtin modules".into(),
            ));
        }
        // SAFETY: first and only initialisation in this process (checked above).
        unsafe { lifecycle::initialize(&config) }.map_err(|e| {
            logging::log_process(
                Level::Alert,
                &format!(
                    "WSGIRT0101: mod_wsgi (pid={pid}): Python initialisation failed: {}",
                    e.0
                ),
            );
            RuntimeError::PythonInitFailed(e.0)
        })?;
        tstate::GENERATION.fetch_add(1, Ordering::AcqRel);
        crate::diagnostics::registry::mark_restart_time();
        // SAFETY: Python is initialised and this thread holds the GIL with
        // the main thread state current.
        let main = unsafe { interp::adopt_main() };
        logging::log_process(
            Level::Info,
            &format!("mod_wsgi (pid={pid}): Attach interpreter ''."),
        );
        // SAFETY: as above.
        let ok = unsafe { interp::setup_current(&main, &config, &config.python_paths) };
        // SAFETY: releases the GIL, keeping the main thread state for this thread.
        let main_ts = unsafe { ffi::PyEval_SaveThread() };
        tstate::adopt_main_state(main_ts);
        if !ok {
            return Err(RuntimeError::PythonInitFailed(
                "interpreter set-up failed".into(),
            ));
        }
        Ok(Arc::new(Runtime {
            config,
            pid,
            main: Arc::new(main),
            groups: RwLock::new(HashMap::new()),
            create_lock: Mutex::new(()),
            next_slot: Mutex::new(1),
            shutting_down: AtomicBool::new(false),
            stopping_published: AtomicBool::new(false),
        }))
    }

    /// Refuses use from a process other than the one that started Python.
    pub fn check_process(&self) -> Result<(), RuntimeError> {
        // A fork since start-up is the only way to be in another process.
        if FORKED.load(Ordering::Relaxed) && std::process::id() != self.pid {
            return Err(RuntimeError::WrongProcess);
        }
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(RuntimeError::ShuttingDown);
        }
        Ok(())
    }

    /// The interpreter for an application group, created on first use.
    /// `""` and `%{GLOBAL}` name the main interpreter.
    pub fn group(&self, name: &str) -> Result<Arc<Interp>, RuntimeError> {
        self.check_process()?;
        if name.is_empty() || name == "%{GLOBAL}" {
            return Ok(self.main.clone());
        }
        if let Some(interp) = self.groups.read().get(name) {
            return Ok(interp.clone());
        }
        assert!(!tstate::is_attached(), "group() called with the GIL held");
        let _creating = self.create_lock.lock();
        if let Some(interp) = self.groups.read().get(name) {
            return Ok(interp.clone());
        }
        let slot = {
            let mut next = self.next_slot.lock();
            let slot = *next;
            *next += 1;
            slot
        };
        logging::log_process(
            Level::Info,
            &format!("mod_wsgi (pid={}): Create interpreter '{name}'.", self.pid),
        );
        let interp = interp::create_sub(
            &self.main,
            slot,
            name,
            &self.config,
            &self.config.python_paths,
        )
        .ok_or(RuntimeError::InterpreterFailed)?;
        let interp = Arc::new(interp);
        self.groups.write().insert(name.to_owned(), interp.clone());
        Ok(interp)
    }

    /// Runs one request (see [`request::run`]).
    pub fn run_request(
        &self,
        group: &str,
        spec: &RequestSpec<'_>,
        io: &dyn HostIo,
    ) -> Result<Completion, RuntimeError> {
        let interp = self.group(group)?;
        Ok(request::run(&interp, spec, io))
    }

    /// Loads a script into a group ahead of requests (`WSGIImportScript`).
    pub fn import_script(&self, group: &str, path: &str) -> Result<(), RuntimeError> {
        let interp = self.group(group)?;
        let attached = tstate::attach(&interp);
        script::preload(&attached, path).map_err(|_| RuntimeError::ScriptLoadFailed)
    }

    /// Every interpreter created so far, main first.
    pub fn interpreters(&self) -> Vec<Arc<Interp>> {
        let mut all = vec![self.main.clone()];
        let mut groups: Vec<Arc<Interp>> = self.groups.read().values().cloned().collect();
        groups.sort_by_key(|interp| interp.slot);
        all.extend(groups);
        all
    }

    /// Logs the Python stack of every thread (see [`crate::diagnostics::stacks`]).
    /// Must be called without the GIL.
    pub fn dump_stacks(&self) -> Result<(), RuntimeError> {
        self.check_process()?;
        assert!(
            !tstate::is_attached(),
            "dump_stacks() called with the GIL held"
        );
        crate::diagnostics::stacks::dump(&self.interpreters());
        Ok(())
    }

    /// Publishes `process_stopping` with `reason` in every interpreter,
    /// once per process, even while requests are still running (4.6.0).
    /// Must be called without the GIL.
    pub fn publish_process_stopping(&self, reason: &str) {
        if std::process::id() != self.pid || self.stopping_published.swap(true, Ordering::AcqRel) {
            return;
        }
        for interp in self.interpreters() {
            let _attached = tstate::attach(&interp);
            // SAFETY: the GIL is held with `interp` attached.
            unsafe { crate::diagnostics::events::publish_process_stopping(&interp, reason) };
        }
    }

    /// Ends the runtime's service without stopping Python
    /// (`WSGIDestroyInterpreter Off`, and the first step of
    /// [`Runtime::shutdown`]): publishes `process_stopping` and makes later
    /// calls fail with `ShuttingDown`, but neither destroys an interpreter
    /// nor runs `atexit` callbacks. A caller that stops here must never
    /// drop the runtime: its objects hold Python references that only a
    /// live, attached interpreter may release.
    pub fn abandon(&self) -> Result<(), RuntimeError> {
        if std::process::id() != self.pid {
            return Err(RuntimeError::WrongProcess);
        }
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(RuntimeError::ShuttingDown);
        }
        // Embedded mode has no reason to give (mod_wsgi sends "" too); a
        // daemon has already published its own.
        self.publish_process_stopping("");
        if self.shutting_down.swap(true, Ordering::AcqRel) {
            return Err(RuntimeError::ShuttingDown);
        }
        Ok(())
    }

    /// Stops serving ([`Runtime::abandon`]), then stops Python:
    /// sub-interpreters first (each waits for its threads and runs its
    /// `atexit` callbacks), then the main interpreter. No request may be
    /// running; later calls fail with `ShuttingDown`.
    pub fn shutdown(&self) -> Result<(), RuntimeError> {
        self.abandon()?;
        let pid = self.pid;
        logging::log_process(
            Level::Info,
            &format!("mod_wsgi (pid={pid}): Destroying interpreters."),
        );
        let mut groups: Vec<Arc<Interp>> = self.groups.write().drain().map(|(_, i)| i).collect();
        // In the order they were created, as mod_wsgi clears its table.
        groups.sort_by_key(|interp| interp.slot);
        for interp in &groups {
            interp::destroy_sub(interp);
        }
        logging::log_process(
            Level::Info,
            &format!("mod_wsgi (pid={pid}): Cleanup interpreter ''."),
        );
        logging::log_process(
            Level::Info,
            &format!("mod_wsgi (pid={pid}): Terminating Python."),
        );
        let attached = tstate::attach(&self.main);
        std::mem::forget(attached);
        // SAFETY: the GIL is held with this thread's main-interpreter state
        // current and no other thread is attached (shutdown contract).
        unsafe { lifecycle::finalize() };
        tstate::mark_detached();
        tstate::GENERATION.fetch_add(1, Ordering::AcqRel);
        logging::log_process(
            Level::Info,
            &format!("mod_wsgi (pid={pid}): Python has shutdown."),
        );
        Ok(())
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }
}
