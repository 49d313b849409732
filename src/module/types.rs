//! Helpers for defining heap types and C functions handed to CPython.
//!
//! Type specs, method tables and getset tables are built once per process
//! and leaked (CPython keeps pointers to method tables for the life of the
//! type); `PyType_FromModuleAndSpec` then creates a fresh type object per
//! interpreter, so no Python object is shared across interpreters.

use pyo3::ffi;
use std::ffi::{c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f`, turning a panic into `SystemError` and a NULL return, so that no
/// unwind ever crosses into CPython.
pub fn trampoline(f: impl FnOnce() -> *mut ffi::PyObject) -> *mut ffi::PyObject {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(_) => {
            // SAFETY: called from a CPython callback, so the GIL is held.
            unsafe {
                ffi::PyErr_SetString(
                    ffi::PyExc_SystemError,
                    c"wsgirt internal error (panic); see the error log".as_ptr(),
                )
            };
            std::ptr::null_mut()
        }
    }
}

/// Like [`trampoline`] for slots returning `c_int` (-1 on error).
pub fn trampoline_int(f: impl FnOnce() -> c_int) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(_) => {
            // SAFETY: called from a CPython callback, so the GIL is held.
            unsafe {
                ffi::PyErr_SetString(
                    ffi::PyExc_SystemError,
                    c"wsgirt internal error (panic); see the error log".as_ptr(),
                )
            };
            -1
        }
    }
}

/// A leaked, process-wide `PyType_Spec` (plain data, safe to share).
pub struct StaticSpec(pub *mut ffi::PyType_Spec);
// SAFETY: the spec and the tables it points to are immutable after
// construction and live for the whole process.
unsafe impl Send for StaticSpec {}
// SAFETY: as above.
unsafe impl Sync for StaticSpec {}

/// Builds a type spec with the given slots, methods and getsets.
pub fn build_spec(
    name: &'static CStr,
    basicsize: usize,
    flags: u64,
    mut slots: Vec<(c_int, *mut c_void)>,
    methods: Vec<ffi::PyMethodDef>,
    getsets: Vec<ffi::PyGetSetDef>,
) -> StaticSpec {
    if !methods.is_empty() {
        let mut methods = methods;
        methods.push(ffi::PyMethodDef::zeroed());
        slots.push((
            ffi::Py_tp_methods,
            Box::leak(methods.into_boxed_slice()).as_mut_ptr().cast(),
        ));
    }
    if !getsets.is_empty() {
        let mut getsets = getsets;
        getsets.push(ffi::PyGetSetDef {
            name: std::ptr::null(),
            get: None,
            set: None,
            doc: std::ptr::null(),
            closure: std::ptr::null_mut(),
        });
        slots.push((
            ffi::Py_tp_getset,
            Box::leak(getsets.into_boxed_slice()).as_mut_ptr().cast(),
        ));
    }
    let mut raw: Vec<ffi::PyType_Slot> = slots
        .into_iter()
        .map(|(slot, pfunc)| ffi::PyType_Slot { slot, pfunc })
        .collect();
    raw.push(ffi::PyType_Slot {
        slot: 0,
        pfunc: std::ptr::null_mut(),
    });
    let spec = Box::new(ffi::PyType_Spec {
        name: name.as_ptr(),
        basicsize: basicsize as c_int,
        itemsize: 0,
        flags: flags as _,
        slots: Box::leak(raw.into_boxed_slice()).as_mut_ptr(),
    });
    StaticSpec(Box::leak(spec))
}

/// A method table entry taking no arguments.
pub fn method_noargs(name: &'static CStr, f: ffi::PyCFunction) -> ffi::PyMethodDef {
    ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunction: f },
        ml_flags: ffi::METH_NOARGS,
        ml_doc: std::ptr::null(),
    }
}

/// A method table entry taking one positional argument.
pub fn method_o(name: &'static CStr, f: ffi::PyCFunction) -> ffi::PyMethodDef {
    ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunction: f },
        ml_flags: ffi::METH_O,
        ml_doc: std::ptr::null(),
    }
}

/// A method table entry taking positional arguments as a tuple.
pub fn method_varargs(name: &'static CStr, f: ffi::PyCFunction) -> ffi::PyMethodDef {
    ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunction: f },
        ml_flags: ffi::METH_VARARGS,
        ml_doc: std::ptr::null(),
    }
}

/// A read-only attribute.
pub fn getter(name: &'static CStr, get: ffi::getter) -> ffi::PyGetSetDef {
    ffi::PyGetSetDef {
        name: name.as_ptr(),
        get: Some(get),
        set: None,
        doc: std::ptr::null(),
        closure: std::ptr::null_mut(),
    }
}

/// Creates a type from `spec` in the current interpreter, owned by `module`.
///
/// # Safety
/// The GIL must be held and `module` must be a module of this interpreter.
pub unsafe fn create_type(module: *mut ffi::PyObject, spec: &StaticSpec) -> *mut ffi::PyObject {
    // SAFETY: the spec is valid and leaked; the GIL is held per contract.
    unsafe { ffi::PyType_FromModuleAndSpec(module, spec.0, std::ptr::null_mut()) }
}

/// The standard dealloc tail for heap types: free the memory, drop the
/// instance's reference to its heap type.
///
/// # Safety
/// `obj` must be an instance being deallocated; GIL held.
pub unsafe fn dealloc_tail(obj: *mut ffi::PyObject) {
    // SAFETY: per contract; heap-type instances own a reference to their type.
    unsafe {
        let tp = ffi::Py_TYPE(obj);
        let free = ffi::PyType_GetSlot(tp, ffi::Py_tp_free);
        if free.is_null() {
            ffi::PyObject_Free(obj.cast());
        } else {
            let free: ffi::freefunc = std::mem::transmute(free);
            free(obj.cast());
        }
        ffi::Py_DECREF(tp.cast());
    }
}

/// Allocates an instance of a heap type (zeroed memory, refcount 1).
///
/// # Safety
/// GIL held; `tp` a valid type object.
pub unsafe fn alloc(tp: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: per contract.
    unsafe { ffi::PyType_GenericAlloc(tp.cast(), 0) }
}
