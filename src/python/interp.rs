//! Interpreters: one per application group, `%{GLOBAL}` (the empty name)
//! being the main interpreter, others created on first use.
//!
//! Each [`Interp`] carries a per-interpreter cache (its `mod_wsgi` types,
//! the environ template, interned environ keys, loaded scripts). The cache
//! is only touched with the GIL held and that interpreter attached, and
//! never across a GIL release.

use crate::config::RuntimeConfig;
use crate::diagnostics::events::EventKey;
use crate::logging::{self, Level};
use crate::module::{self, log_object};
use crate::python::object::{self, PyOwned};
use crate::python::tstate;
use parking_lot::Mutex;
use pyo3::ffi;
use std::cell::UnsafeCell;
use std::collections::HashMap;

/// Heap types of this interpreter's `mod_wsgi` module (borrowed from the
/// module state, which the cache keeps alive through `module`).
#[derive(Clone, Copy)]
pub struct Types {
    pub log: *mut ffi::PyObject,
    pub input: *mut ffi::PyObject,
    pub start_response: *mut ffi::PyObject,
    pub file_wrapper: *mut ffi::PyObject,
    /// `mod_wsgi.RequestTimeout`.
    pub request_timeout: *mut ffi::PyObject,
}

/// A loaded WSGI script.
pub struct LoadedScript {
    /// Owned reference to the module object.
    pub module: *mut ffi::PyObject,
    /// Owned reference to the module name (`_mod_wsgi_<md5>`).
    pub name: *mut ffi::PyObject,
    pub mtime: i64,
    /// The callable name last looked up in the module and its interned
    /// string (owned), so a request needs no new string for the lookup.
    pub callable: Option<(Box<str>, *mut ffi::PyObject)>,
}

impl LoadedScript {
    /// Releases the owned references.
    ///
    /// # Safety
    /// GIL held with the owning interpreter attached.
    pub unsafe fn release(self) {
        // SAFETY: per contract; each pointer is an owned reference.
        unsafe {
            ffi::Py_DECREF(self.module);
            ffi::Py_DECREF(self.name);
            if let Some((_, key)) = self.callable {
                ffi::Py_DECREF(key);
            }
        }
    }
}

/// Objects created once per interpreter. All pointers are owned references.
pub struct InterpCache {
    pub module: *mut ffi::PyObject,
    pub types: Types,
    pub environ_template: *mut ffi::PyObject,
    keys: HashMap<Box<[u8]>, *mut ffi::PyObject>,
    /// The previous request's environ names in host order with their keys
    /// (owned references): hosts send the same names in the same order, so
    /// one comparison per variable usually replaces a hash lookup.
    recent: Vec<(Box<[u8]>, *mut ffi::PyObject)>,
    pub key_url_scheme: *mut ffi::PyObject,
    pub key_input: *mut ffi::PyObject,
    pub key_errors: *mut ffi::PyObject,
    pub http: *mut ffi::PyObject,
    pub https: *mut ffi::PyObject,
    /// Interned `"close"`, looked up on every response iterable.
    pub name_close: *mut ffi::PyObject,
    /// Interned names of the `mod_wsgi` attributes every request looks up
    /// (`crate::diagnostics::events`, `crate::wsgi::tracking`).
    pub name_event_callbacks: *mut ffi::PyObject,
    pub name_shutdown_callbacks: *mut ffi::PyObject,
    pub name_active_requests: *mut ffi::PyObject,
    /// Interned `"reload_required"`, looked up in a loaded script's module
    /// on every request while `WSGIScriptReloading` is on.
    pub name_reload_required: *mut ffi::PyObject,
    pub scripts: HashMap<String, LoadedScript>,
    /// Interned event field names, by [`EventKey`] (NULL until first use).
    event_keys: [*mut ffi::PyObject; EventKey::COUNT],
    /// The keyword-name tuple last built for each event, by the event's
    /// name key ([`InterpCache::event_kwnames`]; NULL until first use).
    event_kwnames: [*mut ffi::PyObject; EventKey::COUNT],
}

/// Keys beyond this many distinct names are not cached (unbounded header
/// names from clients must not grow memory).
const MAX_CACHED_KEYS: usize = 512;

/// Positions remembered by [`InterpCache::key_at`] (more variables than
/// this fall back to the hash lookup).
const MAX_RECENT_KEYS: usize = 128;

impl InterpCache {
    /// The `mod_wsgi` module attribute `name` (an interned name from this
    /// cache), borrowed from the module's dict; NULL if absent. Read at
    /// each use, so an attribute the application reassigned is honoured.
    ///
    /// # Safety
    /// GIL held, owning interpreter attached.
    pub unsafe fn module_attr(&self, name: *mut ffi::PyObject) -> *mut ffi::PyObject {
        // SAFETY: per contract; the module is owned by the cache.
        unsafe { ffi::PyDict_GetItem(ffi::PyModule_GetDict(self.module), name) }
    }

    /// The interned name of an event field, made on first use (borrowed
    /// from the cache; NULL if Python cannot allocate it).
    ///
    /// # Safety
    /// GIL held, owning interpreter attached.
    pub unsafe fn event_key(&mut self, key: EventKey) -> *mut ffi::PyObject {
        let slot = &mut self.event_keys[key as usize];
        if slot.is_null() {
            // SAFETY: per contract.
            unsafe {
                let name = ffi::PyUnicode_InternFromString(key.name().as_ptr());
                if name.is_null() {
                    ffi::PyErr_Clear();
                }
                *slot = name;
            }
        }
        *slot
    }

    /// The tuple of `keys` (interned field names from
    /// [`InterpCache::event_key`]) for publishing the event `name`, as a
    /// new reference; NULL with an exception if it cannot be made.
    ///
    /// An event carries the same fields in the same order request after
    /// request, so the tuple built last time for that event is reused when
    /// its items are the very same objects: a subscriber's three calls per
    /// request then allocate no keyword tuple.
    ///
    /// # Safety
    /// GIL held, owning interpreter attached; `keys` valid objects.
    pub unsafe fn event_kwnames(
        &mut self,
        name: EventKey,
        keys: &[*mut ffi::PyObject],
    ) -> *mut ffi::PyObject {
        let slot = &mut self.event_kwnames[name as usize];
        // SAFETY: per contract; a cached tuple is an owned reference whose
        // items are only read.
        unsafe {
            let cached = *slot;
            if !cached.is_null()
                && ffi::PyTuple_GET_SIZE(cached) as usize == keys.len()
                && keys
                    .iter()
                    .enumerate()
                    .all(|(i, &key)| ffi::PyTuple_GET_ITEM(cached, i as ffi::Py_ssize_t) == key)
            {
                ffi::Py_INCREF(cached);
                return cached;
            }
            let tuple = ffi::PyTuple_New(keys.len() as ffi::Py_ssize_t);
            if tuple.is_null() {
                return tuple;
            }
            for (i, &key) in keys.iter().enumerate() {
                ffi::Py_INCREF(key);
                ffi::PyTuple_SET_ITEM(tuple, i as ffi::Py_ssize_t, key);
            }
            ffi::Py_XDECREF(cached);
            ffi::Py_INCREF(tuple);
            *slot = tuple;
            tuple
        }
    }

    /// [`InterpCache::key`] for the variable at position `index` of the
    /// host's list: a hit when the previous request had the same name there.
    ///
    /// # Safety
    /// As for [`InterpCache::key`].
    pub unsafe fn key_at(&mut self, index: usize, name: &[u8]) -> Option<*mut ffi::PyObject> {
        if let Some((known, key)) = self.recent.get(index) {
            if **known == *name {
                return Some(*key);
            }
        }
        // SAFETY: per contract.
        let key = unsafe { self.key(name)? };
        if index < MAX_RECENT_KEYS {
            // SAFETY: GIL held; the slot owns one reference to its key.
            unsafe { ffi::Py_INCREF(key) };
            let entry = (Box::from(name), key);
            if index < self.recent.len() {
                let old = std::mem::replace(&mut self.recent[index], entry);
                // SAFETY: GIL held; the replaced slot's reference.
                unsafe { ffi::Py_DECREF(old.1) };
            } else if index == self.recent.len() {
                self.recent.push(entry);
            } else {
                // SAFETY: GIL held; the entry is not stored.
                unsafe { ffi::Py_DECREF(entry.1) };
            }
        }
        Some(key)
    }

    /// The interned key for an environ name, cached per interpreter.
    ///
    /// # Safety
    /// GIL held, owning interpreter attached. The pointer is borrowed from
    /// the cache or from the returned guard's object.
    pub unsafe fn key(&mut self, name: &[u8]) -> Option<*mut ffi::PyObject> {
        if let Some(key) = self.keys.get(name) {
            return Some(*key);
        }
        // SAFETY: per contract.
        unsafe {
            let mut key = object::str_from_latin1(name)?.into_ptr();
            ffi::PyUnicode_InternInPlace(&mut key);
            if self.keys.len() >= MAX_CACHED_KEYS {
                // Not cached: hand the reference to a per-thread holder that
                // lives until the next uncached key (the dict keeps its own).
                thread_local! {
                    static SPARE: std::cell::Cell<*mut ffi::PyObject> = const { std::cell::Cell::new(std::ptr::null_mut()) };
                }
                let old = SPARE.with(|spare| spare.replace(key));
                if !old.is_null() {
                    ffi::Py_DECREF(old);
                }
                return Some(key);
            }
            self.keys.insert(name.into(), key);
            Some(key)
        }
    }
}

/// One application group's interpreter.
pub struct Interp {
    /// Index into each thread's thread-state slots; 0 is the main interpreter.
    pub slot: usize,
    /// Application group name (`""` for `%{GLOBAL}`).
    pub name: String,
    pub istate: *mut ffi::PyInterpreterState,
    cache: UnsafeCell<Option<InterpCache>>,
    /// Serialises script (re)loading; taken with the GIL released.
    pub script_lock: Mutex<()>,
    /// Thread states created for host threads (as `usize`, to be `Send`).
    /// [`destroy_sub`] deletes them before `threading._shutdown()`: a host
    /// thread that first imported `threading` here is the module's "main
    /// thread", whose lock is only released when its state is deleted.
    pub host_states: Mutex<Vec<usize>>,
    /// Whether the last request here had event subscribers: read without
    /// the GIL so a request can sample its thread's CPU time before it
    /// takes the GIL (`crate::wsgi::tracking`).
    pub events_hint: std::sync::atomic::AtomicBool,
}

// SAFETY: the raw pointers are only dereferenced with the GIL held and the
// interpreter attached (see the module docs); the cache is never touched
// without the GIL, which serialises access to it.
unsafe impl Send for Interp {}
// SAFETY: as above.
unsafe impl Sync for Interp {}

impl Interp {
    fn new(slot: usize, name: &str, istate: *mut ffi::PyInterpreterState) -> Interp {
        Interp {
            slot,
            name: name.to_owned(),
            istate,
            cache: UnsafeCell::new(None),
            script_lock: Mutex::new(()),
            host_states: Mutex::new(Vec::new()),
            events_hint: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The per-interpreter cache.
    ///
    /// # Safety
    /// GIL held with this interpreter attached; do not keep the reference
    /// across a GIL release (another thread may then take it).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn cache(&self) -> &mut InterpCache {
        // SAFETY: per contract, the GIL serialises all access.
        unsafe { (*self.cache.get()).as_mut().expect("interpreter set up") }
    }

    /// This interpreter's `mod_wsgi` heap types.
    ///
    /// # Safety
    /// As for [`Interp::cache`].
    pub unsafe fn types(&self) -> Types {
        // SAFETY: per contract.
        unsafe { self.cache().types }
    }

    /// Human-readable name for log lines.
    pub fn display_name(&self) -> &str {
        if self.name.is_empty() {
            "%{GLOBAL}"
        } else {
            &self.name
        }
    }

    /// Releases every object of the cache. GIL held, interpreter current.
    unsafe fn clear_cache(&self) {
        // SAFETY: per contract; each pointer is an owned reference.
        unsafe {
            let Some(cache) = (*self.cache.get()).take() else {
                return;
            };
            for (_, script) in cache.scripts {
                script.release();
            }
            for key in cache.keys.values() {
                ffi::Py_DECREF(*key);
            }
            for (_, key) in &cache.recent {
                ffi::Py_DECREF(*key);
            }
            for obj in [
                cache.environ_template,
                cache.key_url_scheme,
                cache.key_input,
                cache.key_errors,
                cache.http,
                cache.https,
                cache.name_close,
                cache.name_event_callbacks,
                cache.name_shutdown_callbacks,
                cache.name_active_requests,
                cache.name_reload_required,
                cache.module,
            ]
            .into_iter()
            .chain(cache.event_keys)
            .chain(cache.event_kwnames)
            {
                ffi::Py_XDECREF(obj);
            }
        }
    }
}

/// Runs the per-interpreter set-up in the *current* interpreter: the
/// `mod_wsgi` module, `sys.stdout`/`sys.stderr`, restrictions, `sys.path`
/// additions and the environ template. Logs and returns `false` on failure.
///
/// # Safety
/// GIL held with `interp`'s thread state current.
pub unsafe fn setup_current(interp: &Interp, config: &RuntimeConfig, paths: &[String]) -> bool {
    // SAFETY: per contract.
    match unsafe { try_setup(interp, config, paths) } {
        Some(cache) => {
            // SAFETY: GIL held; nobody else can see this interpreter yet.
            unsafe { *interp.cache.get() = Some(cache) };
            true
        }
        None => {
            // SAFETY: GIL held.
            unsafe {
                crate::wsgi::request::log_exception("<interpreter set-up>", std::ptr::null_mut());
            }
            logging::log_process(
                Level::Crit,
                &format!(
                    "WSGIRT0102: mod_wsgi (pid={}): Failed to set up interpreter '{}'.",
                    std::process::id(),
                    interp.display_name()
                ),
            );
            false
        }
    }
}

unsafe fn try_setup(
    interp: &Interp,
    config: &RuntimeConfig,
    paths: &[String],
) -> Option<InterpCache> {
    // SAFETY: GIL held with the interpreter current (caller's contract).
    unsafe {
        let module = object::import(c"mod_wsgi")?;
        let group = object::str_from_utf8(&interp.name)?;
        if ffi::PyObject_SetAttrString(
            module.as_ptr(),
            c"application_group".as_ptr(),
            group.as_ptr(),
        ) != 0
        {
            return None;
        }
        let st = module::state(module.as_ptr());
        let types = Types {
            log: (*st).log_type,
            input: (*st).input_type,
            start_response: (*st).start_response_type,
            file_wrapper: (*st).file_wrapper_type,
            request_timeout: (*st).request_timeout_type,
        };
        run_bootstrap(module.as_ptr(), types, config, paths)?;
        let template = environ_template(types, config)?;
        let mut cache = InterpCache {
            module: std::ptr::null_mut(),
            types,
            environ_template: template.into_ptr(),
            keys: HashMap::new(),
            recent: Vec::new(),
            key_url_scheme: std::ptr::null_mut(),
            key_input: std::ptr::null_mut(),
            key_errors: std::ptr::null_mut(),
            http: object::str_from_utf8("http")?.into_ptr(),
            https: object::str_from_utf8("https")?.into_ptr(),
            name_close: std::ptr::null_mut(),
            name_event_callbacks: std::ptr::null_mut(),
            name_shutdown_callbacks: std::ptr::null_mut(),
            name_active_requests: std::ptr::null_mut(),
            name_reload_required: std::ptr::null_mut(),
            scripts: HashMap::new(),
            event_keys: [std::ptr::null_mut(); EventKey::COUNT],
            event_kwnames: [std::ptr::null_mut(); EventKey::COUNT],
        };
        for (slot, name) in [
            (&mut cache.name_close, "close"),
            (&mut cache.name_event_callbacks, "event_callbacks"),
            (&mut cache.name_shutdown_callbacks, "shutdown_callbacks"),
            (&mut cache.name_active_requests, "active_requests"),
            (&mut cache.name_reload_required, "reload_required"),
            (&mut cache.key_url_scheme, "wsgi.url_scheme"),
            (&mut cache.key_input, "wsgi.input"),
            (&mut cache.key_errors, "wsgi.errors"),
        ] {
            let mut key = object::str_from_utf8(name)?.into_ptr();
            ffi::PyUnicode_InternInPlace(&mut key);
            *slot = key;
        }
        cache.module = module.into_ptr();
        Some(cache)
    }
}

/// Executes `bootstrap.py` and calls its `setup()`.
unsafe fn run_bootstrap(
    module: *mut ffi::PyObject,
    types: Types,
    config: &RuntimeConfig,
    paths: &[String],
) -> Option<()> {
    const SOURCE: &str = concat!(include_str!("../module/bootstrap.py"), "\0");
    // SAFETY: GIL held (caller's contract); SOURCE is NUL-terminated.
    unsafe {
        let globals = PyOwned::from_owned(ffi::PyDict_New())?;
        let builtins = ffi::PyEval_GetBuiltins();
        ffi::PyDict_SetItemString(globals.as_ptr(), c"__builtins__".as_ptr(), builtins);
        let name = object::str_from_utf8("_wsgirt_bootstrap")?;
        ffi::PyDict_SetItemString(globals.as_ptr(), c"__name__".as_ptr(), name.as_ptr());
        PyOwned::from_owned(ffi::PyRun_String(
            SOURCE.as_ptr().cast(),
            ffi::Py_file_input,
            globals.as_ptr(),
            globals.as_ptr(),
        ))?;
        let setup = PyOwned::from_borrowed(ffi::PyDict_GetItemString(
            globals.as_ptr(),
            c"setup".as_ptr(),
        ))?;
        let stdout = log_object::new_log(types.log, Level::Err, std::ptr::null_mut())?;
        let stderr = log_object::new_log(types.log, Level::Err, std::ptr::null_mut())?;
        let path_list = PyOwned::from_owned(ffi::PyList_New(0))?;
        for path in paths {
            let item = object::str_from_utf8(path)?;
            if ffi::PyList_Append(path_list.as_ptr(), item.as_ptr()) != 0 {
                return None;
            }
        }
        let home = match &config.home_directory {
            Some(home) => object::str_from_utf8(home)?,
            None => PyOwned::from_borrowed(ffi::Py_None())?,
        };
        let log_fn = object::getattr(module, c"_wsgirt_log")?;
        let flags = [
            PyOwned::from_owned(object::py_bool(config.restrict_stdin))?,
            PyOwned::from_owned(object::py_bool(config.restrict_stdout))?,
            PyOwned::from_owned(object::py_bool(config.restrict_signal))?,
        ];
        // None: keep the console's sys.stdout and sys.stdin (`apache2 -X`).
        let stdout = if config.console_stdio {
            PyOwned::from_borrowed(ffi::Py_None())?
        } else {
            stdout
        };
        object::call(
            setup.as_ptr(),
            &[
                stdout.as_ptr(),
                stderr.as_ptr(),
                flags[0].as_ptr(),
                flags[1].as_ptr(),
                flags[2].as_ptr(),
                path_list.as_ptr(),
                home.as_ptr(),
                log_fn.as_ptr(),
            ],
        )?;
        Some(())
    }
}

/// The constant part of every environ in this interpreter.
unsafe fn environ_template(types: Types, config: &RuntimeConfig) -> Option<PyOwned> {
    // SAFETY: GIL held (caller's contract).
    unsafe {
        let dict = PyOwned::from_owned(ffi::PyDict_New())?;
        let tuple = |parts: &[i64]| -> Option<PyOwned> {
            let t = PyOwned::from_owned(ffi::PyTuple_New(parts.len() as ffi::Py_ssize_t))?;
            for (i, p) in parts.iter().enumerate() {
                ffi::PyTuple_SetItem(
                    t.as_ptr(),
                    i as ffi::Py_ssize_t,
                    ffi::PyLong_FromLongLong(*p),
                );
            }
            Some(t)
        };
        let (ha, hb, hc) = config.host_version;
        let (ma, mb, mc) = module::MOD_WSGI_VERSION;
        let entries: Vec<(&std::ffi::CStr, PyOwned)> = vec![
            (c"wsgi.version", tuple(&[1, 0])?),
            (
                c"wsgi.multithread",
                PyOwned::from_owned(object::py_bool(config.multithread))?,
            ),
            (
                c"wsgi.multiprocess",
                PyOwned::from_owned(object::py_bool(config.multiprocess))?,
            ),
            (
                c"wsgi.run_once",
                PyOwned::from_owned(object::py_bool(config.run_once))?,
            ),
            (
                c"wsgi.input_terminated",
                PyOwned::from_owned(object::py_bool(true))?,
            ),
            (
                c"wsgi.file_wrapper",
                PyOwned::from_borrowed(types.file_wrapper)?,
            ),
            (
                c"apache.version",
                tuple(&[ha.into(), hb.into(), hc.into()])?,
            ),
            (c"mod_wsgi.version", tuple(&[ma, mb, mc])?),
        ];
        for (key, value) in entries {
            if ffi::PyDict_SetItemString(dict.as_ptr(), key.as_ptr(), value.as_ptr()) != 0 {
                return None;
            }
        }
        Some(dict)
    }
}

/// Creates the [`Interp`] for the main interpreter. GIL held, main current.
///
/// # Safety
/// Called once, right after initialisation, on the initialising thread.
pub unsafe fn adopt_main() -> Interp {
    // SAFETY: per contract, Python is initialised.
    Interp::new(0, "", unsafe { ffi::PyInterpreterState_Main() })
}

/// Creates a sub-interpreter for `name` in `slot` and sets it up. The
/// caller holds no GIL and has the main interpreter's `Interp`.
pub fn create_sub(
    main: &Interp,
    slot: usize,
    name: &str,
    config: &RuntimeConfig,
    paths: &[String],
) -> Option<Interp> {
    let attached = tstate::attach(main);
    // SAFETY: the GIL is held with main current; Py_NewInterpreter makes the
    // new interpreter's first thread state current; we swap back to main
    // before `attached` drops so that drop saves main's state.
    unsafe {
        let main_ts = ffi::PyThreadState_Get();
        let new_ts = ffi::Py_NewInterpreter();
        if new_ts.is_null() {
            ffi::PyThreadState_Swap(main_ts);
            logging::log_process(
                Level::Crit,
                &format!(
                    "WSGIRT0103: mod_wsgi (pid={}): Cannot create interpreter '{name}'.",
                    std::process::id()
                ),
            );
            return None;
        }
        let interp = Interp::new(slot, name, ffi::PyThreadState_GetInterpreter(new_ts));
        let ok = setup_current(&interp, config, paths);
        tstate::adopt_state(slot, new_ts);
        interp.host_states.lock().push(new_ts as usize);
        ffi::PyThreadState_Swap(main_ts);
        drop(attached);
        if !ok {
            destroy_sub(&interp);
            return None;
        }
        Some(interp)
    }
}

/// Shuts a sub-interpreter down: waits for its non-daemon threads, runs its
/// `atexit` callbacks, deletes every other thread state, ends it. The
/// caller holds no GIL.
pub fn destroy_sub(interp: &Interp) {
    for step in ["Destroy", "End"] {
        logging::log_process(
            Level::Info,
            &format!(
                "mod_wsgi (pid={}): {step} interpreter '{}'.",
                std::process::id(),
                interp.display_name()
            ),
        );
    }
    let attached = tstate::attach(interp);
    // SAFETY: GIL held with this interpreter's state (ours) current. Host
    // threads' states are deleted first (host threads no longer call in:
    // shutdown contract); the states of the interpreter's own Python threads
    // only after `threading._shutdown()` has joined them.
    unsafe {
        let mut ours = ffi::PyThreadState_Get();
        // Our state still has a frame when this runs in the middle of a
        // request of this interpreter (prefork's exit path runs the cleanup
        // in a signal handler on the request's thread), and
        // Py_EndInterpreter refuses such a state: end it with a fresh one;
        // the request's is deleted with the other host states below.
        let frame = ffi::PyThreadState_GetFrame(ours);
        if !frame.is_null() {
            ffi::Py_DECREF(frame.cast());
            let fresh = ffi::PyThreadState_New(interp.istate);
            if !fresh.is_null() {
                ffi::PyThreadState_Swap(fresh);
                ours = fresh;
            }
        }
        // Host threads' states first (no host thread runs in the
        // interpreter any more): otherwise `threading._shutdown()` waits
        // forever for the lock of a host thread that imported `threading`.
        let host_states = std::mem::take(&mut *interp.host_states.lock());
        for ts in host_states {
            let ts = ts as *mut ffi::PyThreadState;
            if ts != ours {
                ffi::PyThreadState_Swap(ts);
                ffi::PyThreadState_Clear(ts);
                ffi::PyThreadState_Swap(ours);
                ffi::PyThreadState_Delete(ts);
            }
        }
        interp.clear_cache();
        if let Some(threading) =
            PyOwned::from_owned(ffi::PyImport_ImportModule(c"threading".as_ptr()))
        {
            if let Some(shutdown) = object::getattr(threading.as_ptr(), c"_shutdown") {
                drop(object::call(shutdown.as_ptr(), &[]));
            }
        }
        ffi::PyErr_Clear();
        // Then the atexit callbacks, while the interpreter's daemon threads
        // still have their states (mod_wsgi's ShutdownInterpreter order): a
        // callback that wakes and joins a daemon=True worker to flush its
        // queue (error reporting clients) must find it alive. They run once:
        // Py_EndInterpreter finds none left.
        if let Some(atexit) = PyOwned::from_owned(ffi::PyImport_ImportModule(c"atexit".as_ptr())) {
            if let Some(run) = object::getattr(atexit.as_ptr(), c"_run_exitfuncs") {
                drop(object::call(run.as_ptr(), &[]));
            }
        }
        ffi::PyErr_Clear();
        let mut others = Vec::new();
        let mut ts = ffi::PyInterpreterState_ThreadHead(interp.istate);
        while !ts.is_null() {
            if ts != ours {
                others.push(ts);
            }
            ts = ffi::PyThreadState_Next(ts);
        }
        for ts in others {
            ffi::PyThreadState_Swap(ts);
            ffi::PyThreadState_Clear(ts);
            ffi::PyThreadState_Swap(ours);
            ffi::PyThreadState_Delete(ts);
        }
        std::mem::forget(attached);
        ffi::Py_EndInterpreter(ours);
        tstate::forget_slot(interp.slot);
        tstate::mark_detached();
        // Py_EndInterpreter leaves the GIL held with no current state (3.11):
        // make this thread's main state current and release the GIL.
        if let Some(main_ts) = tstate::main_state() {
            ffi::PyThreadState_Swap(main_ts);
            ffi::PyEval_SaveThread();
        }
    }
}
