//! Per-thread thread states and the attach/detach guard.
//!
//! Rules (docs/architecture.md, "Threads"):
//! 1. A thread's first entry binds it to the *main* interpreter with
//!    `PyGILState_Ensure` and keeps that state for the thread's life, so the
//!    simplified GIL API used by C extensions always finds the main
//!    interpreter, and later sub-interpreter thread states cannot capture
//!    the thread's gilstate slot.
//! 2. Each thread keeps one persistent thread state per interpreter it
//!    enters (never one per request): entering is `PyEval_RestoreThread`,
//!    leaving is `PyEval_SaveThread` (about 30 ns).
//! 3. Thread-local destructors never call Python; thread states of exited
//!    threads are deleted with their interpreter.

use crate::python::interp::Interp;
use pyo3::ffi;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bumped whenever Python is (re)initialised so stale thread-local slots
/// from an earlier runtime are never reused.
pub static GENERATION: AtomicU64 = AtomicU64::new(0);

#[derive(Default)]
struct ThreadSlots {
    generation: u64,
    /// Indexed by interpreter slot; slot 0 is the main interpreter.
    states: Vec<*mut ffi::PyThreadState>,
    /// The interpreter slot this thread is attached to right now, if any.
    attached: Option<usize>,
}

thread_local! {
    static SLOTS: RefCell<ThreadSlots> = RefCell::new(ThreadSlots::default());
}

/// Records `ts` as this thread's main-interpreter state (used by the thread
/// that initialised Python, whose state already owns the gilstate slot).
pub fn adopt_main_state(ts: *mut ffi::PyThreadState) {
    SLOTS.with(|slots| {
        let mut slots = slots.borrow_mut();
        slots.generation = GENERATION.load(Ordering::Acquire);
        slots.states.clear();
        slots.states.push(ts);
    });
}

/// Records a thread state for `slot` created on this thread (used right
/// after `Py_NewInterpreter`, whose first thread state belongs to us).
pub fn adopt_state(slot: usize, ts: *mut ffi::PyThreadState) {
    SLOTS.with(|slots| {
        let mut slots = slots.borrow_mut();
        if slots.states.len() <= slot {
            slots.states.resize(slot + 1, std::ptr::null_mut());
        }
        slots.states[slot] = ts;
    });
}

/// This thread's thread state for `interp`, creating it on first use
/// (main-first binding included). Must be called without the GIL.
fn state_for(interp: &Interp) -> *mut ffi::PyThreadState {
    SLOTS.with(|slots| {
        let mut slots = slots.borrow_mut();
        let generation = GENERATION.load(Ordering::Acquire);
        if slots.generation != generation || slots.states.is_empty() || slots.states[0].is_null() {
            slots.generation = generation;
            slots.states.clear();
            // SAFETY: Python is initialised (a runtime exists) and this thread
            // holds no GIL; Ensure creates and binds a main-interpreter state,
            // and SaveThread releases the GIL while keeping that state. The
            // Ensure is deliberately never paired with a Release: the binding
            // lasts for the thread's life.
            let main = unsafe {
                ffi::PyGILState_Ensure();
                ffi::PyEval_SaveThread()
            };
            slots.states.push(main);
        }
        if slots.states.len() <= interp.slot {
            slots.states.resize(interp.slot + 1, std::ptr::null_mut());
        }
        if slots.states[interp.slot].is_null() {
            // SAFETY: the interpreter state is alive (the registry keeps it
            // until finalisation); PyThreadState_New needs no GIL and, since
            // this thread is already bound to main, does not touch gilstate.
            let ts = unsafe { ffi::PyThreadState_New(interp.istate) };
            interp.host_states.lock().push(ts as usize);
            slots.states[interp.slot] = ts;
        }
        slots.states[interp.slot]
    })
}

/// Proof that this thread holds the GIL with `interp` current. Dropping it
/// (also during unwinding) saves the thread state and releases the GIL.
pub struct Attached<'i> {
    pub interp: &'i Interp,
    hold: Hold,
    _not_send: PhantomData<*mut ()>,
}

/// How an [`Attached`] came to hold the GIL, which says what dropping it does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hold {
    /// It attached the thread: dropping releases the GIL and detaches.
    Own,
    /// The thread already held the GIL for this interpreter: nothing to undo.
    Nested,
    /// The thread was marked attached but its Python code had released the
    /// GIL (see [`attach`]): dropping releases the GIL again and leaves the
    /// outer scope marked attached.
    Retaken,
}

impl<'i> Attached<'i> {
    fn new(interp: &'i Interp, hold: Hold) -> Attached<'i> {
        Attached {
            interp,
            hold,
            _not_send: PhantomData,
        }
    }
}

/// Attaches this thread to `interp`, blocking until the GIL is free.
///
/// Panics if the thread is already attached to a *different* interpreter
/// (a host calling back into the runtime from a callback, which the C API
/// forbids); attaching again to the same interpreter is a no-op guard.
pub fn attach(interp: &Interp) -> Attached<'_> {
    let current = SLOTS.with(|slots| slots.borrow().attached);
    if let Some(current) = current {
        let outer = SLOTS.with(|slots| slots.borrow().states[current]);
        // SAFETY: reads which thread state holds the GIL (NULL: none);
        // needs no GIL.
        let holder = unsafe { ffi::compat::PyThreadState_GetUnchecked() };
        if holder == outer {
            assert_eq!(
                current, interp.slot,
                "re-entrant attach to another interpreter"
            );
            return Attached::new(interp, Hold::Nested);
        }
        // Attached, but the request's Python code released the GIL
        // (time.sleep, socket I/O) and this runs in the middle of it: a
        // signal handler on the request's thread, as prefork's exit path
        // runs the module's cleanup. Take the GIL with the thread's state
        // for `interp` (the request's own one when it is the same
        // interpreter), as mod_wsgi's PyGILState_Ensure does there; the
        // request stays marked attached to its interpreter.
        let ts = state_for(interp);
        // SAFETY: `ts` is this thread's state for `interp`, not current:
        // the interrupted code saved it (or it is another interpreter's)
        // and this thread holds no GIL.
        unsafe { ffi::PyEval_RestoreThread(ts) };
        return Attached::new(interp, Hold::Retaken);
    }
    let ts = state_for(interp);
    // SAFETY: `ts` belongs to this thread and to `interp`, and this thread
    // does not hold the GIL (it is not attached).
    unsafe { ffi::PyEval_RestoreThread(ts) };
    SLOTS.with(|slots| slots.borrow_mut().attached = Some(interp.slot));
    Attached::new(interp, Hold::Own)
}

impl Attached<'_> {
    /// Runs `f` with the GIL released (host I/O, blocking waits), then
    /// re-attaches, also if `f` panics.
    pub fn allow_threads<R>(&self, f: impl FnOnce() -> R) -> R {
        allow_threads(f)
    }
}

/// Releases the GIL around `f` on a thread that currently holds it.
pub fn allow_threads<R>(f: impl FnOnce() -> R) -> R {
    let slot = SLOTS.with(|slots| slots.borrow_mut().attached.take());
    // SAFETY: the caller holds the GIL (it is inside an attached scope).
    let ts = unsafe { ffi::PyEval_SaveThread() };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    // SAFETY: `ts` is the state we just saved on this same thread.
    unsafe { ffi::PyEval_RestoreThread(ts) };
    SLOTS.with(|slots| slots.borrow_mut().attached = slot);
    match result {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

impl Attached<'_> {
    /// True when this guard did not take the GIL itself (the thread was
    /// already attached), so dropping it keeps the GIL held.
    pub fn is_nested(&self) -> bool {
        self.hold == Hold::Nested
    }
}

impl Drop for Attached<'_> {
    fn drop(&mut self) {
        match self.hold {
            Hold::Nested => return,
            Hold::Own => SLOTS.with(|slots| slots.borrow_mut().attached = None),
            Hold::Retaken => {}
        }
        // SAFETY: this thread attached in `attach` and still holds the GIL.
        unsafe { ffi::PyEval_SaveThread() };
    }
}

/// True when this thread currently holds the GIL through [`attach`].
pub fn is_attached() -> bool {
    SLOTS.with(|slots| slots.borrow().attached.is_some())
}

/// Forgets this thread's states for `slot` (its interpreter is being
/// destroyed; the states themselves are deleted by the interpreter).
pub fn forget_slot(slot: usize) {
    SLOTS.with(|slots| {
        let mut slots = slots.borrow_mut();
        if let Some(ts) = slots.states.get_mut(slot) {
            *ts = std::ptr::null_mut();
        }
    });
}

/// The current thread's state for the main interpreter, if bound.
pub fn main_state() -> Option<*mut ffi::PyThreadState> {
    SLOTS.with(|slots| {
        let slots = slots.borrow();
        (slots.generation == GENERATION.load(Ordering::Acquire))
            .then(|| slots.states.first().copied())
            .flatten()
            .filter(|ts| !ts.is_null())
    })
}

/// Clears the attached marker after a thread state was destroyed while
/// current (`Py_EndInterpreter`), where no guard can run its drop.
pub fn mark_detached() {
    SLOTS.with(|slots| slots.borrow_mut().attached = None);
}
