//! Python stack dumps in mod_wsgi's format, for request timeouts.
//!
//! For each interpreter in turn, with that interpreter attached, the
//! threads it owns are found (`PyInterpreterState_ThreadHead`), their
//! current frames taken (`PyThreadState_GetFrame`, which reports the line
//! being executed, not the `def` line) and walked with the public frame
//! API. Thread ids come from `sys._current_frames()`, matched by frame
//! identity, so they are the full unsigned value `threading.get_ident()`
//! returns in that thread. Every reference taken is released; lines are
//! formatted under the GIL and logged after it is released.

use crate::logging::{self, Level};
use crate::python::interp::Interp;
use crate::python::object::{self, PyOwned};
use crate::python::tstate;
use pyo3::ffi;
use std::sync::Arc;

/// One frame of a stack, innermost first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub file: String,
    pub line: i32,
    pub function: String,
}

/// The stack of one Python thread.
#[derive(Clone, Debug)]
pub struct ThreadStack {
    /// `threading.get_ident()` of the thread.
    pub thread_id: u64,
    /// Application group of the interpreter the frames belong to.
    pub group: String,
    pub frames: Vec<Frame>,
}

/// The stacks of every thread running Python code in `interps`. Must be
/// called without the GIL; attaches to each interpreter in turn.
pub fn collect(interps: &[Arc<Interp>]) -> Vec<ThreadStack> {
    let mut stacks = Vec::new();
    for interp in interps {
        let _attached = tstate::attach(interp);
        // SAFETY: the GIL is held with `interp` attached for this block.
        unsafe { collect_attached(interp, &mut stacks) };
    }
    stacks
}

/// The log lines for `stacks`, as mod_wsgi writes them (empty if none).
pub fn format(stacks: &[ThreadStack]) -> Vec<String> {
    let pid = std::process::id();
    let mut lines = Vec::new();
    if stacks.is_empty() {
        return lines;
    }
    lines.push(format!(
        "mod_wsgi (pid={pid}): Dumping stack trace for active Python threads."
    ));
    for stack in stacks {
        let last = stack.frames.len().saturating_sub(1);
        for (i, frame) in stack.frames.iter().enumerate() {
            let Frame {
                file,
                line,
                function,
            } = frame;
            lines.push(if i == 0 {
                format!(
                    "mod_wsgi (pid={pid}): Thread {} executing file \"{file}\", line {line}, in {function}",
                    stack.thread_id
                )
            } else {
                let end = if i == last { '.' } else { ',' };
                format!("mod_wsgi (pid={pid}): called from file \"{file}\", line {line}, in {function}{end}")
            });
        }
    }
    lines
}

/// Collects and logs every stack at `LogLevel info`. Without the GIL.
pub fn dump(interps: &[Arc<Interp>]) {
    for line in format(&collect(interps)) {
        logging::log_process(Level::Info, &line);
    }
}

/// The thread ids by top frame, from `sys._current_frames()`.
unsafe fn ids_by_frame() -> Vec<(usize, u64)> {
    // SAFETY: GIL held (caller's contract); references are owned or borrowed from live objects.
    unsafe {
        let current = ffi::PySys_GetObject(c"_current_frames".as_ptr());
        let Some(frames) = (!current.is_null())
            .then(|| object::call(current, &[]))
            .flatten()
        else {
            ffi::PyErr_Clear();
            return Vec::new();
        };
        let mut ids = Vec::new();
        let mut pos: ffi::Py_ssize_t = 0;
        let mut key = std::ptr::null_mut();
        let mut value = std::ptr::null_mut();
        while ffi::PyDict_Next(frames.as_ptr(), &mut pos, &mut key, &mut value) != 0 {
            let id = ffi::PyLong_AsUnsignedLongLong(key);
            if !ffi::PyErr_Occurred().is_null() {
                ffi::PyErr_Clear();
                continue;
            }
            ids.push((value as usize, id));
        }
        // The frame objects stay alive: their threads' states own them and
        // cannot run while we hold the GIL.
        ids
    }
}

unsafe fn collect_attached(interp: &Interp, stacks: &mut Vec<ThreadStack>) {
    // SAFETY: GIL held with `interp` attached (caller's contract).
    unsafe {
        let ids = ids_by_frame();
        let mut ts = ffi::PyInterpreterState_ThreadHead(interp.istate);
        while !ts.is_null() {
            let top = ffi::PyThreadState_GetFrame(ts).cast::<ffi::PyObject>();
            if let Some(top) = PyOwned::from_owned(top) {
                let thread_id = ids
                    .iter()
                    .find(|(frame, _)| *frame == top.as_ptr() as usize)
                    .map(|(_, id)| *id);
                if let Some(thread_id) = thread_id {
                    stacks.push(ThreadStack {
                        thread_id,
                        group: interp.name.clone(),
                        frames: walk(top),
                    });
                }
            }
            ts = ffi::PyThreadState_Next(ts);
        }
        ffi::PyErr_Clear();
    }
}

/// The frames from `top` outwards.
unsafe fn walk(top: PyOwned) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut current = Some(top);
    // SAFETY: GIL held (caller's contract); every reference is owned by a PyOwned.
    unsafe {
        while let Some(frame) = current {
            let ptr = frame.as_ptr().cast::<ffi::PyFrameObject>();
            let line = ffi::PyFrame_GetLineNumber(ptr);
            let (file, function) = match PyOwned::from_owned(ffi::PyFrame_GetCode(ptr).cast()) {
                Some(code) => (
                    text_attr(code.as_ptr(), c"co_filename"),
                    text_attr(code.as_ptr(), c"co_name"),
                ),
                None => ("?".to_owned(), "?".to_owned()),
            };
            frames.push(Frame {
                file,
                line,
                function,
            });
            current = PyOwned::from_owned(ffi::PyFrame_GetBack(ptr).cast());
        }
        ffi::PyErr_Clear();
    }
    frames
}

unsafe fn text_attr(obj: *mut ffi::PyObject, name: &std::ffi::CStr) -> String {
    // SAFETY: GIL held (caller's contract).
    unsafe {
        match object::getattr(obj, name) {
            Some(value) => object::str_as_utf8(value.as_ptr())
                .unwrap_or("?")
                .to_owned(),
            None => {
                ffi::PyErr_Clear();
                "?".to_owned()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_mod_wsgi() {
        let stacks = vec![ThreadStack {
            thread_id: u64::MAX,
            group: String::new(),
            frames: vec![
                Frame {
                    file: "/a.py".into(),
                    line: 7,
                    function: "inner".into(),
                },
                Frame {
                    file: "/a.py".into(),
                    line: 3,
                    function: "middle".into(),
                },
                Frame {
                    file: "/b.py".into(),
                    line: 1,
                    function: "outer".into(),
                },
            ],
        }];
        let pid = std::process::id();
        assert_eq!(
            format(&stacks),
            vec![
                format!("mod_wsgi (pid={pid}): Dumping stack trace for active Python threads."),
                format!("mod_wsgi (pid={pid}): Thread 18446744073709551615 executing file \"/a.py\", line 7, in inner"),
                format!("mod_wsgi (pid={pid}): called from file \"/a.py\", line 3, in middle,"),
                format!("mod_wsgi (pid={pid}): called from file \"/b.py\", line 1, in outer."),
            ]
        );
        assert!(format(&[]).is_empty());
    }
}
