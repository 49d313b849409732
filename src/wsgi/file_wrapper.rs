//! `wsgi.file_wrapper` (`mod_wsgi.FileWrapper`): iterates a file-like object
//! in `blksize` blocks; when returned for a real file, the response loop
//! sends the file with the host's send-file callback instead.

use crate::module::types::{self, StaticSpec};
use crate::python::error;
use crate::python::object::{self, PyOwned};
use pyo3::ffi;
use std::ffi::c_void;
use std::sync::OnceLock;

/// Default block size, as in mod_wsgi.
const DEFAULT_BLKSIZE: isize = 8192;

/// Instance layout.
#[repr(C)]
pub struct FileWrapperObject {
    ob_base: ffi::PyObject,
    /// Owned reference to the wrapped file-like object.
    pub filelike: *mut ffi::PyObject,
    pub blksize: isize,
}

fn spec() -> &'static StaticSpec {
    static SPEC: OnceLock<StaticSpec> = OnceLock::new();
    SPEC.get_or_init(|| {
        types::build_spec(
            c"mod_wsgi.FileWrapper",
            std::mem::size_of::<FileWrapperObject>(),
            // Subclassable, as mod_wsgi's; a subclass still gets sent as a file.
            ffi::Py_TPFLAGS_DEFAULT | ffi::Py_TPFLAGS_BASETYPE,
            vec![
                (ffi::Py_tp_new, wrapper_new as *mut c_void),
                (ffi::Py_tp_dealloc, wrapper_dealloc as *mut c_void),
                (ffi::Py_tp_iter, wrapper_iter as *mut c_void),
                (ffi::Py_tp_iternext, wrapper_iternext as *mut c_void),
            ],
            vec![types::method_noargs(c"close", wrapper_close)],
            vec![
                types::getter(c"filelike", get_filelike),
                types::getter(c"blksize", get_blksize),
            ],
        )
    })
}

/// Creates the `FileWrapper` type for a module being executed.
///
/// # Safety
/// GIL held.
pub unsafe fn create_type(module: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: per contract.
    unsafe { types::create_type(module, spec()) }
}

unsafe extern "C" fn wrapper_new(
    tp: *mut ffi::PyTypeObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    types::trampoline(|| {
        // SAFETY: tp_new with the GIL held; args is a tuple, kwargs NULL or a dict.
        unsafe {
            let nargs = ffi::PyTuple_Size(args);
            let mut filelike = if nargs >= 1 {
                ffi::PyTuple_GetItem(args, 0)
            } else {
                std::ptr::null_mut()
            };
            let mut blksize_obj = if nargs >= 2 {
                ffi::PyTuple_GetItem(args, 1)
            } else {
                std::ptr::null_mut()
            };
            if !kwargs.is_null() {
                let f = ffi::PyDict_GetItemString(kwargs, c"filelike".as_ptr());
                let b = ffi::PyDict_GetItemString(kwargs, c"blksize".as_ptr());
                if !f.is_null() {
                    filelike = f;
                }
                if !b.is_null() {
                    blksize_obj = b;
                }
            }
            if filelike.is_null() || nargs > 2 {
                error::set(ffi::PyExc_TypeError, "FileWrapper(filelike, blksize=8192)");
                return std::ptr::null_mut();
            }
            let mut blksize = DEFAULT_BLKSIZE;
            if !blksize_obj.is_null() {
                blksize = ffi::PyLong_AsSsize_t(blksize_obj);
                if blksize == -1 && !ffi::PyErr_Occurred().is_null() {
                    return std::ptr::null_mut();
                }
            }
            let obj = types::alloc(tp.cast());
            if obj.is_null() {
                return std::ptr::null_mut();
            }
            ffi::Py_INCREF(filelike);
            let wrapper = obj.cast::<FileWrapperObject>();
            (*wrapper).filelike = filelike;
            (*wrapper).blksize = blksize;
            obj
        }
    })
}

unsafe extern "C" fn wrapper_iter(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: GIL held; new reference to self.
    unsafe { ffi::Py_INCREF(slf) };
    slf
}

unsafe extern "C" fn wrapper_iternext(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    types::trampoline(|| {
        // SAFETY: GIL held; `slf` is a FileWrapper with an owned filelike.
        unsafe {
            let wrapper = slf.cast::<FileWrapperObject>();
            let Some(read) = object::getattr((*wrapper).filelike, c"read") else {
                return std::ptr::null_mut();
            };
            let Some(size) = PyOwned::from_owned(ffi::PyLong_FromSsize_t((*wrapper).blksize))
            else {
                return std::ptr::null_mut();
            };
            let Some(data) = object::call(read.as_ptr(), &[size.as_ptr()]) else {
                return std::ptr::null_mut();
            };
            // Bytes only, as mod_wsgi: a text-mode file-like object is an
            // error even when it is exhausted.
            if ffi::PyBytes_Check(data.as_ptr()) == 0 {
                error::set(
                    ffi::PyExc_TypeError,
                    "file like object yielded non string type",
                );
                return std::ptr::null_mut();
            }
            if ffi::PyBytes_Size(data.as_ptr()) == 0 {
                return std::ptr::null_mut();
            }
            data.into_ptr()
        }
    })
}

unsafe extern "C" fn wrapper_close(
    slf: *mut ffi::PyObject,
    _: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    types::trampoline(|| {
        // SAFETY: GIL held.
        unsafe {
            // As mod_wsgi: an error from the file's own close() is not the
            // response's problem, so it is dropped.
            let wrapper = slf.cast::<FileWrapperObject>();
            if let Some(close) = object::getattr((*wrapper).filelike, c"close") {
                let _ = object::call(close.as_ptr(), &[]);
            }
            ffi::PyErr_Clear();
            object::none()
        }
    })
}

unsafe extern "C" fn get_filelike(slf: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: GIL held; returns a new reference.
    unsafe {
        let filelike = (*slf.cast::<FileWrapperObject>()).filelike;
        ffi::Py_INCREF(filelike);
        filelike
    }
}

unsafe extern "C" fn get_blksize(slf: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: GIL held.
    unsafe { ffi::PyLong_FromSsize_t((*slf.cast::<FileWrapperObject>()).blksize) }
}

unsafe extern "C" fn wrapper_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: final release by CPython with the GIL held.
    unsafe {
        let wrapper = obj.cast::<FileWrapperObject>();
        if !(*wrapper).filelike.is_null() {
            ffi::Py_DECREF((*wrapper).filelike);
        }
        types::dealloc_tail(obj);
    }
}

/// If `result` is a FileWrapper around a regular file, returns its
/// descriptor and current offset (from `tell()`), as mod_wsgi does.
///
/// # Safety
/// GIL held; `tp` is this interpreter's FileWrapper type.
pub unsafe fn real_file(
    result: *mut ffi::PyObject,
    tp: *mut ffi::PyObject,
) -> Option<(i32, u64, u64)> {
    // SAFETY: per contract; every failure clears its exception and declines.
    unsafe {
        if ffi::PyObject_TypeCheck(result, tp.cast()) == 0 {
            return None;
        }
        let filelike = (*result.cast::<FileWrapperObject>()).filelike;
        let fd = ffi::PyObject_AsFileDescriptor(filelike);
        if fd < 0 {
            ffi::PyErr_Clear();
            return None;
        }
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 || (st.st_mode & libc::S_IFMT) != libc::S_IFREG {
            return None;
        }
        let offset = match object::getattr(filelike, c"tell")
            .and_then(|tell| object::call(tell.as_ptr(), &[]))
        {
            Some(pos) => {
                let pos = ffi::PyLong_AsLongLong(pos.as_ptr());
                if pos < 0 {
                    ffi::PyErr_Clear();
                    return None;
                }
                pos as u64
            }
            None => {
                ffi::PyErr_Clear();
                return None;
            }
        };
        let size = st.st_size as u64;
        Some((fd, offset, size.saturating_sub(offset)))
    }
}
