//! `mod_ssl.is_https` and `mod_ssl.var_lookup` in the environ of access
//! and auth scripts (mod_wsgi 3.4+): Python callables over the host's TLS
//! lookups.
//!
//! Each callable is a builtin function whose `self` is a capsule owning a
//! [`Binding`]; the binding points at the host's lookups while the hook
//! runs and is expired when it ends, after which a call raises
//! `RuntimeError("request object has expired")` as mod_wsgi's does. A
//! call from any thread but the hook's raises too: the host's lookups may
//! use per-request memory that only the hook's thread may touch.
//! Capsules and builtin functions are static CPython types, so nothing
//! here is shared across interpreters.

use crate::module::types;
use crate::python::error;
use crate::python::object::{self, PyOwned};
use crate::python::tstate;
use parking_lot::Mutex;
use pyo3::ffi;
use std::ffi::{c_void, CStr};
use std::marker::PhantomData;
use std::thread::ThreadId;

/// The TLS facts of the request being checked.
pub trait SslLookup {
    /// mod_ssl's `ssl_is_https`: non-zero when the connection uses TLS.
    fn is_https(&self) -> i32;
    /// mod_ssl's `ssl_var_lookup`: the variable's value, `None` when unset.
    fn var_lookup(&self, name: &[u8]) -> Option<Vec<u8>>;
}

/// A host without TLS information: `0` and `None`, as mod_wsgi answers
/// when mod_ssl is not loaded.
pub struct NoSsl;

impl SslLookup for NoSsl {
    fn is_https(&self) -> i32 {
        0
    }
    fn var_lookup(&self, _name: &[u8]) -> Option<Vec<u8>> {
        None
    }
}

/// What the capsule owns.
struct Binding {
    /// The host's lookups while the hook runs; `None` once expired.
    lookup: Option<*const (dyn SslLookup + 'static)>,
    /// The thread running the hook.
    thread: ThreadId,
}

// SAFETY: `lookup` is only dereferenced on `thread` (checked on every use)
// and only before `Bound::expire`, which runs before the referent's
// lifetime ends; the mutex orders the expiry against calls.
unsafe impl Send for Binding {}

const CAPSULE: &CStr = c"wsgirt.hook_ssl";
const EXPIRED: &str = "request object has expired";

/// The two callables' shared owner, bound to `lookup` for `'a`.
pub struct Bound<'a> {
    capsule: PyOwned,
    binding: *const Mutex<Binding>,
    _lookup: PhantomData<&'a dyn SslLookup>,
}

impl<'a> Bound<'a> {
    /// Binds `lookup` to a new capsule.
    ///
    /// # Safety
    /// GIL held. The `Bound` must be dropped (or expired) before `'a`
    /// ends; it must not be leaked.
    pub unsafe fn new(lookup: &'a dyn SslLookup) -> Option<Bound<'a>> {
        // SAFETY: only the lifetime changes; `expire` (at the latest in
        // drop) removes the pointer before `'a` ends, per the contract.
        let erased: *const (dyn SslLookup + 'static) = unsafe {
            std::mem::transmute::<*const (dyn SslLookup + 'a), *const (dyn SslLookup + 'static)>(
                lookup,
            )
        };
        let binding = Box::into_raw(Box::new(Mutex::new(Binding {
            lookup: Some(erased),
            thread: std::thread::current().id(),
        })));
        // SAFETY: GIL held; on success the capsule owns `binding` and
        // frees it in `destroy`; on failure we free it here.
        unsafe {
            let capsule =
                ffi::PyCapsule_New(binding.cast::<c_void>(), CAPSULE.as_ptr(), Some(destroy));
            match PyOwned::from_owned(capsule) {
                Some(capsule) => Some(Bound {
                    capsule,
                    binding,
                    _lookup: PhantomData,
                }),
                None => {
                    drop(Box::from_raw(binding));
                    None
                }
            }
        }
    }

    /// A new `is_https()` callable.
    ///
    /// # Safety
    /// GIL held.
    pub unsafe fn is_https(&self) -> Option<PyOwned> {
        // SAFETY: GIL held; the method table is static and never written.
        unsafe { function(&METHODS.0[0], self.capsule.as_ptr()) }
    }

    /// A new `var_lookup(name)` callable.
    ///
    /// # Safety
    /// GIL held.
    pub unsafe fn var_lookup(&self) -> Option<PyOwned> {
        // SAFETY: as for `is_https`.
        unsafe { function(&METHODS.0[1], self.capsule.as_ptr()) }
    }

    /// Ends the binding: later calls raise `RuntimeError`.
    pub fn expire(&self) {
        // SAFETY: the capsule (which we hold a reference to) owns the
        // binding, so it is alive.
        unsafe { (*self.binding).lock().lookup = None };
    }
}

impl Drop for Bound<'_> {
    fn drop(&mut self) {
        self.expire();
    }
}

/// The method table (static: CPython keeps a pointer to each entry).
struct Methods([ffi::PyMethodDef; 2]);
// SAFETY: plain constant data that nothing writes.
unsafe impl Sync for Methods {}

static METHODS: Methods = Methods([
    ffi::PyMethodDef {
        ml_name: c"ssl_is_https".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunction: is_https,
        },
        ml_flags: ffi::METH_NOARGS,
        ml_doc: std::ptr::null(),
    },
    ffi::PyMethodDef {
        ml_name: c"ssl_var_lookup".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunction: var_lookup,
        },
        ml_flags: ffi::METH_O,
        ml_doc: std::ptr::null(),
    },
]);

/// A builtin function for `def` bound to `capsule`.
///
/// # Safety
/// GIL held; `def` is an entry of [`METHODS`].
unsafe fn function(def: &'static ffi::PyMethodDef, capsule: *mut ffi::PyObject) -> Option<PyOwned> {
    // SAFETY: per contract; CPython only reads the method definition.
    unsafe {
        PyOwned::from_owned(ffi::PyCFunction_NewEx(
            (def as *const ffi::PyMethodDef).cast_mut(),
            capsule,
            std::ptr::null_mut(),
        ))
    }
}

/// The capsule's destructor: frees the binding.
unsafe extern "C" fn destroy(capsule: *mut ffi::PyObject) {
    // SAFETY: `capsule` is one of ours (its name matches), so its pointer
    // is the boxed binding, freed exactly once here.
    unsafe {
        let ptr = ffi::PyCapsule_GetPointer(capsule, CAPSULE.as_ptr());
        if ptr.is_null() {
            ffi::PyErr_Clear();
        } else {
            drop(Box::from_raw(ptr.cast::<Mutex<Binding>>()));
        }
    }
}

/// Runs `f` with the live lookup, or sets `RuntimeError` and returns NULL.
///
/// # Safety
/// GIL held; `capsule` is the `self` of one of our functions.
unsafe fn with_lookup(
    capsule: *mut ffi::PyObject,
    f: impl FnOnce(&dyn SslLookup) -> *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: per contract.
    unsafe {
        let ptr = ffi::PyCapsule_GetPointer(capsule, CAPSULE.as_ptr());
        if ptr.is_null() {
            return std::ptr::null_mut();
        }
        let binding = &*ptr.cast::<Mutex<Binding>>();
        // Read under the lock, call without it: the call releases the GIL,
        // and another thread holding the GIL may be waiting for the lock.
        let (lookup, thread) = {
            let guard = binding.lock();
            (guard.lookup, guard.thread)
        };
        let Some(lookup) = lookup else {
            error::set(ffi::PyExc_RuntimeError, EXPIRED);
            return std::ptr::null_mut();
        };
        if thread != std::thread::current().id() {
            error::set(
                ffi::PyExc_RuntimeError,
                "mod_ssl lookups are only available on the thread running the script",
            );
            return std::ptr::null_mut();
        }
        // Only this thread expires the binding, and it is busy here: the
        // lookup stays alive for the call.
        f(&*lookup)
    }
}

/// `environ['mod_ssl.is_https']()`: an int, as mod_wsgi's.
unsafe extern "C" fn is_https(
    slf: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    types::trampoline(|| {
        // SAFETY: called by CPython with the GIL held and our capsule as self.
        unsafe {
            with_lookup(slf, |lookup| {
                let answer = tstate::allow_threads(|| lookup.is_https());
                ffi::PyLong_FromLong(answer.into())
            })
        }
    })
}

/// `environ['mod_ssl.var_lookup'](name)`: `name` is `str` (latin-1) or
/// `bytes`; the value is a latin-1 `str`, or `None`.
unsafe extern "C" fn var_lookup(
    slf: *mut ffi::PyObject,
    name: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    types::trampoline(|| {
        // SAFETY: called by CPython with the GIL held, our capsule as self
        // and one argument; every object made here is owned.
        unsafe {
            let latin;
            let bytes: &[u8] = if ffi::PyUnicode_Check(name) != 0 {
                let Some(encoded) = PyOwned::from_owned(ffi::PyUnicode_AsLatin1String(name)) else {
                    ffi::PyErr_Clear();
                    error::set(
                        ffi::PyExc_TypeError,
                        "byte string value expected, value containing non 'latin-1' characters found",
                    );
                    return std::ptr::null_mut();
                };
                latin = encoded;
                object::bytes_as_slice(latin.as_ptr())
            } else if ffi::PyBytes_Check(name) != 0 {
                object::bytes_as_slice(name)
            } else {
                let tp = CStr::from_ptr((*ffi::Py_TYPE(name)).tp_name).to_string_lossy();
                let tp: String = tp.chars().take(200).collect();
                error::set(
                    ffi::PyExc_TypeError,
                    &format!("byte string value expected, value of type {tp} found"),
                );
                return std::ptr::null_mut();
            };
            with_lookup(slf, |lookup| {
                match tstate::allow_threads(|| lookup.var_lookup(bytes)) {
                    Some(value) => object::str_from_latin1(&value)
                        .map_or(std::ptr::null_mut(), PyOwned::into_ptr),
                    None => {
                        let none = object::none();
                        ffi::Py_IncRef(none);
                        none
                    }
                }
            })
        }
    })
}
