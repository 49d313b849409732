//! Owned and borrowed Python object references.
//!
//! [`PyOwned`] holds one strong reference and releases it on drop. It is
//! `!Send`: a reference must be released in the interpreter that created it,
//! while that interpreter is attached on the current thread, which every
//! caller in this crate guarantees by only using these types inside an
//! [`crate::python::tstate::Attached`] scope.

use pyo3::ffi;
use std::ffi::CStr;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// A strong reference to a Python object. Dropping it decrefs.
pub struct PyOwned {
    ptr: NonNull<ffi::PyObject>,
    _not_send: PhantomData<*mut ()>,
}

impl PyOwned {
    /// Takes ownership of a new reference; `None` when `ptr` is NULL (a
    /// Python exception is then normally set).
    ///
    /// # Safety
    /// `ptr` must be NULL or a new (owned) reference, and the interpreter
    /// that owns it must be attached on this thread.
    pub unsafe fn from_owned(ptr: *mut ffi::PyObject) -> Option<PyOwned> {
        NonNull::new(ptr).map(|ptr| PyOwned {
            ptr,
            _not_send: PhantomData,
        })
    }

    /// Takes a new strong reference to a borrowed object.
    ///
    /// # Safety
    /// `ptr` must be NULL or a valid borrowed reference; attached as above.
    pub unsafe fn from_borrowed(ptr: *mut ffi::PyObject) -> Option<PyOwned> {
        let ptr = NonNull::new(ptr)?;
        // SAFETY: the caller guarantees `ptr` is a live object and the GIL is held.
        unsafe { ffi::Py_INCREF(ptr.as_ptr()) };
        Some(PyOwned {
            ptr,
            _not_send: PhantomData,
        })
    }

    /// The raw pointer, still owned by `self`.
    pub fn as_ptr(&self) -> *mut ffi::PyObject {
        self.ptr.as_ptr()
    }

    /// Gives up ownership: the caller now owns the reference.
    pub fn into_ptr(self) -> *mut ffi::PyObject {
        let ptr = self.ptr.as_ptr();
        std::mem::forget(self);
        ptr
    }
}

impl Clone for PyOwned {
    fn clone(&self) -> Self {
        // SAFETY: `self` keeps the object alive and, by the type's contract,
        // its interpreter is attached on this thread.
        unsafe { ffi::Py_INCREF(self.ptr.as_ptr()) };
        PyOwned {
            ptr: self.ptr,
            _not_send: PhantomData,
        }
    }
}

impl Drop for PyOwned {
    fn drop(&mut self) {
        // SAFETY: we own one reference and the owning interpreter is attached
        // (the type is `!Send` and only lives inside an attached scope).
        unsafe { ffi::Py_DECREF(self.ptr.as_ptr()) }
    }
}

/// A `str` decoded from latin-1 bytes (WSGI's "native string" rule).
///
/// # Safety
/// The GIL must be held.
pub unsafe fn str_from_latin1(bytes: &[u8]) -> Option<PyOwned> {
    // SAFETY: pointer and length describe `bytes`; GIL held per contract.
    unsafe {
        PyOwned::from_owned(ffi::PyUnicode_DecodeLatin1(
            bytes.as_ptr().cast(),
            bytes.len() as ffi::Py_ssize_t,
            std::ptr::null(),
        ))
    }
}

/// A `str` from UTF-8 text.
///
/// # Safety
/// The GIL must be held.
pub unsafe fn str_from_utf8(text: &str) -> Option<PyOwned> {
    // SAFETY: pointer and length describe `text`; GIL held per contract.
    unsafe {
        PyOwned::from_owned(ffi::PyUnicode_FromStringAndSize(
            text.as_ptr().cast(),
            text.len() as ffi::Py_ssize_t,
        ))
    }
}

/// A `bytes` object copied from `data`.
///
/// # Safety
/// The GIL must be held.
pub unsafe fn bytes_from(data: &[u8]) -> Option<PyOwned> {
    // SAFETY: pointer and length describe `data`; GIL held per contract.
    unsafe {
        PyOwned::from_owned(ffi::PyBytes_FromStringAndSize(
            data.as_ptr().cast(),
            data.len() as ffi::Py_ssize_t,
        ))
    }
}

/// The UTF-8 text of a `str`, or `None` (with an exception set) otherwise.
///
/// # Safety
/// The GIL must be held and `obj` must be valid. The returned slice borrows
/// from `obj` and must not outlive it.
pub unsafe fn str_as_utf8<'a>(obj: *mut ffi::PyObject) -> Option<&'a str> {
    let mut len: ffi::Py_ssize_t = 0;
    // SAFETY: `obj` is valid per contract; CPython caches the UTF-8 form in the object.
    let ptr = unsafe { ffi::PyUnicode_AsUTF8AndSize(obj, &mut len) };
    if ptr.is_null() {
        return None;
    }
    // SAFETY: CPython guarantees `len` valid UTF-8 bytes at `ptr` for the object's life.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len as usize) };
    std::str::from_utf8(bytes).ok()
}

/// The bytes of a `bytes` object.
///
/// # Safety
/// The GIL must be held and `obj` must be a `bytes` object; the slice
/// borrows from `obj`.
pub unsafe fn bytes_as_slice<'a>(obj: *mut ffi::PyObject) -> &'a [u8] {
    // SAFETY: `obj` is a bytes object per contract.
    unsafe {
        let ptr = ffi::PyBytes_AsString(obj);
        let len = ffi::PyBytes_Size(obj);
        std::slice::from_raw_parts(ptr.cast::<u8>(), len as usize)
    }
}

/// Imports a module by name.
///
/// # Safety
/// The GIL must be held.
pub unsafe fn import(name: &CStr) -> Option<PyOwned> {
    // SAFETY: `name` is NUL-terminated; GIL held per contract.
    unsafe { PyOwned::from_owned(ffi::PyImport_ImportModule(name.as_ptr())) }
}

/// `getattr(obj, name)`.
///
/// # Safety
/// The GIL must be held and `obj` valid.
pub unsafe fn getattr(obj: *mut ffi::PyObject, name: &CStr) -> Option<PyOwned> {
    // SAFETY: as above.
    unsafe { PyOwned::from_owned(ffi::PyObject_GetAttrString(obj, name.as_ptr())) }
}

/// Calls `callable(*args)` with positional arguments.
///
/// # Safety
/// The GIL must be held and all pointers valid.
pub unsafe fn call(callable: *mut ffi::PyObject, args: &[*mut ffi::PyObject]) -> Option<PyOwned> {
    // SAFETY: the argument array outlives the call; vectorcall does not keep it.
    unsafe {
        PyOwned::from_owned(ffi::PyObject_Vectorcall(
            callable,
            args.as_ptr(),
            args.len(),
            std::ptr::null_mut(),
        ))
    }
}

/// `None`, as a new reference.
///
/// # Safety
/// The GIL must be held.
pub unsafe fn none() -> *mut ffi::PyObject {
    // SAFETY: Py_None is immortal enough; we hand out a new reference.
    unsafe {
        let none = ffi::Py_None();
        ffi::Py_INCREF(none);
        none
    }
}

/// `True`/`False`, as a new reference.
///
/// # Safety
/// The GIL must be held.
pub unsafe fn py_bool(value: bool) -> *mut ffi::PyObject {
    // SAFETY: returns a new reference to a singleton.
    unsafe { ffi::PyBool_FromLong(value as std::os::raw::c_long) }
}

/// A marker proving the current thread holds the GIL of some interpreter.
/// Functions taking `Gil<'_>` need not be `unsafe` about the GIL.
#[derive(Clone, Copy)]
pub struct Gil<'a> {
    _scope: PhantomData<&'a *mut ()>,
}

impl Gil<'_> {
    /// # Safety
    /// The GIL must be held for the whole of `'a`.
    pub unsafe fn assume<'a>() -> Gil<'a> {
        Gil {
            _scope: PhantomData,
        }
    }
}
