//! The buffer protocol, both ways, for an abi3 extension that loads on CPython 3.9 and 3.10.
//!
//! PyO3 offers `PyBuffer` and `__getbuffer__` only where the buffer protocol is part of the
//! limited API (3.11 on), and this package is one abi3 wheel for CPython >= 3.9. The protocol
//! itself (the `Py_buffer` struct, `PyObject_GetBuffer`, `PyBuffer_Release`,
//! `PyBuffer_FillInfo`, the type slots `Py_bf_getbuffer` = 1 and `Py_bf_releasebuffer` = 2)
//! has the same layout and symbols in every CPython 3 since 3.3; 3.11 only declared them
//! stable. So this file declares them itself, the way 3.11's headers do, and nothing else of
//! the extension touches a non-limited symbol.
//!
//! - [`Borrowed`]: a buffer of a caller's object (`send(bytearray)`, `recv_into(buf)`), held
//!   for the duration of one call and released on drop.
//! - [`Exporter`]: a tiny type of our own whose buffer is a slot of a channel (what `peek()`
//!   and `reserve()` hand out as memoryviews). It counts its exports, and once its slot is
//!   gone ([`Shared::invalidate`]) it refuses every new export, so a memoryview made from it
//!   after its `with` block raises `BufferError` instead of reading memory the channel has
//!   reused. The handle owning the slot refuses to give the slot up while exports are alive
//!   (the rule of `mmap.close()`: "cannot close exported pointers exist").

use pyo3::ffi;
use pyo3::prelude::*;
use std::ffi::{c_char, c_int, c_void};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// `Py_buffer` as CPython 3.3 and later lay it out (Include/pybuffer.h, stable since 3.11).
#[repr(C)]
pub struct PyBuffer {
    pub buf: *mut c_void,
    pub obj: *mut ffi::PyObject,
    pub len: ffi::Py_ssize_t,
    pub itemsize: ffi::Py_ssize_t,
    pub readonly: c_int,
    pub ndim: c_int,
    pub format: *mut c_char,
    pub shape: *mut ffi::Py_ssize_t,
    pub strides: *mut ffi::Py_ssize_t,
    pub suboffsets: *mut ffi::Py_ssize_t,
    pub internal: *mut c_void,
}

const PYBUF_SIMPLE: c_int = 0;
const PYBUF_WRITABLE: c_int = 0x0001;
const PY_BF_GETBUFFER: c_int = 1;
const PY_BF_RELEASEBUFFER: c_int = 2;

extern "C" {
    fn PyObject_GetBuffer(obj: *mut ffi::PyObject, view: *mut PyBuffer, flags: c_int) -> c_int;
    fn PyBuffer_Release(view: *mut PyBuffer);
    fn PyBuffer_FillInfo(
        view: *mut PyBuffer,
        obj: *mut ffi::PyObject,
        buf: *mut c_void,
        len: ffi::Py_ssize_t,
        readonly: c_int,
        flags: c_int,
    ) -> c_int;
}

/// A contiguous buffer borrowed from a Python object for the length of one call.
pub struct Borrowed {
    view: PyBuffer,
}

// SAFETY: the buffer's memory is pinned by the export for as long as `Borrowed` lives (the
// exporter may not resize or free it while the export is held); `Borrowed` is only dropped
// with the GIL held (it never leaves the call that made it, and that call holds the GIL when
// it returns). Sending it to a thread that runs without the GIL reads or writes bytes only.
unsafe impl Send for Borrowed {}

impl Borrowed {
    /// Exports `obj`'s buffer, writable when asked (`TypeError`/`BufferError` from Python if
    /// it cannot).
    pub fn get(obj: &Bound<'_, PyAny>, writable: bool) -> PyResult<Borrowed> {
        let mut view = PyBuffer {
            buf: ptr::null_mut(),
            obj: ptr::null_mut(),
            len: 0,
            itemsize: 0,
            readonly: 0,
            ndim: 0,
            format: ptr::null_mut(),
            shape: ptr::null_mut(),
            strides: ptr::null_mut(),
            suboffsets: ptr::null_mut(),
            internal: ptr::null_mut(),
        };
        let flags = if writable { PYBUF_WRITABLE } else { PYBUF_SIMPLE };
        // SAFETY: `obj` is a live object (we hold the GIL through `obj`'s token) and `view`
        // is a zeroed Py_buffer of CPython's layout; a simple request yields a C-contiguous
        // buffer of `len` bytes or fails with an exception set.
        let rc = unsafe { PyObject_GetBuffer(obj.as_ptr(), &mut view, flags) };
        if rc != 0 {
            let e = PyErr::fetch(obj.py());
            if writable {
                // As Python's own readinto(): a TypeError naming what was given.
                let ty = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
                return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                    "a writable bytes-like object is required, not {ty} ({e})"
                )));
            }
            return Err(e);
        }
        Ok(Borrowed { view })
    }

    pub fn as_slice(&self) -> &[u8] {
        if self.view.len <= 0 || self.view.buf.is_null() {
            return &[];
        }
        // SAFETY: a successful export gives `len` readable bytes at `buf`, alive until release.
        unsafe { std::slice::from_raw_parts(self.view.buf as *const u8, self.view.len as usize) }
    }

    /// The bytes, writable (only for a buffer obtained with `writable`).
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        if self.view.len <= 0 || self.view.buf.is_null() {
            return &mut [];
        }
        debug_assert_eq!(self.view.readonly, 0);
        // SAFETY: a writable export gives `len` writable bytes at `buf`, alive until release;
        // `&mut self` makes this the only slice of them in Rust.
        unsafe { std::slice::from_raw_parts_mut(self.view.buf as *mut u8, self.view.len as usize) }
    }
}

impl Drop for Borrowed {
    fn drop(&mut self) {
        // SAFETY: `view` was filled by a successful PyObject_GetBuffer and is released once;
        // the GIL is held (see the Send note above).
        unsafe { PyBuffer_Release(&mut self.view) }
    }
}

/// What an exporter and the handle owning its slot share.
pub struct Shared {
    ptr: *mut u8,
    len: usize,
    readonly: bool,
    valid: AtomicBool,
    exports: AtomicUsize,
}

// SAFETY: `ptr` is only dereferenced by Python code through an export, and exports are given
// only while `valid` is set (with the GIL held); the owning handle keeps the slot in place
// (no other call on the handle, no close) while `exports` is non-zero.
unsafe impl Send for Shared {}
// SAFETY: as above; the counters are atomics.
unsafe impl Sync for Shared {}

impl Shared {
    pub fn new(ptr: *mut u8, len: usize, readonly: bool) -> Arc<Shared> {
        Arc::new(Shared {
            ptr,
            len,
            readonly,
            valid: AtomicBool::new(true),
            exports: AtomicUsize::new(0),
        })
    }

    /// Buffers of this slot still exported (memoryviews, their slices, or other exports).
    pub fn exports(&self) -> usize {
        self.exports.load(Ordering::Acquire)
    }

    /// Refuses every later export: the slot is about to be given back.
    pub fn invalidate(&self) {
        self.valid.store(false, Ordering::Release);
    }
}

#[repr(C)]
struct ExporterObject {
    ob_base: ffi::PyObject,
    shared: *const Shared,
    owner: *mut ffi::PyObject,
}

struct TypePtr(*mut ffi::PyObject);
// SAFETY: a type object, immortal for us (never deallocated: we hold a reference for ever).
unsafe impl Send for TypePtr {}
// SAFETY: as above.
unsafe impl Sync for TypePtr {}

static EXPORTER_TYPE: OnceLock<TypePtr> = OnceLock::new();

unsafe extern "C" fn exporter_getbuffer(obj: *mut ffi::PyObject, view: *mut PyBuffer, flags: c_int) -> c_int {
    // SAFETY: CPython calls this slot with one of our objects (the slot is on our type only).
    let shared = unsafe { &*(*(obj as *mut ExporterObject)).shared };
    if !shared.valid.load(Ordering::Acquire) {
        // SAFETY: called with the GIL held; a static C string.
        unsafe {
            ffi::PyErr_SetString(
                ffi::PyExc_BufferError,
                c"this slot of the channel was given back at the end of its with block: its memoryview is no longer valid"
                    .as_ptr(),
            )
        };
        return -1;
    }
    static EMPTY: u8 = 0;
    let buf = if shared.ptr.is_null() {
        ptr::addr_of!(EMPTY) as *mut c_void
    } else {
        shared.ptr as *mut c_void
    };
    // SAFETY: `view` is the caller's Py_buffer to fill; `buf` holds `len` bytes while `valid`
    // (see Shared); FillInfo takes a new reference to `obj` into `view.obj` and refuses a
    // writable request on a read-only slot.
    let rc = unsafe {
        PyBuffer_FillInfo(
            view,
            obj,
            buf,
            shared.len as ffi::Py_ssize_t,
            shared.readonly as c_int,
            flags,
        )
    };
    if rc == 0 {
        shared.exports.fetch_add(1, Ordering::AcqRel);
    }
    rc
}

unsafe extern "C" fn exporter_releasebuffer(obj: *mut ffi::PyObject, _view: *mut PyBuffer) {
    // SAFETY: as in exporter_getbuffer.
    let shared = unsafe { &*(*(obj as *mut ExporterObject)).shared };
    shared.exports.fetch_sub(1, Ordering::AcqRel);
}

unsafe extern "C" fn exporter_dealloc(obj: *mut ffi::PyObject) {
    let me = obj as *mut ExporterObject;
    // SAFETY: `obj` is one of our objects being deallocated (refcount 0, GIL held): its fields
    // were set by `memoryview_of` (an Arc from into_raw, a strong reference to the owner) and
    // are dropped once here; then the memory goes back through the type's tp_free and the
    // reference every heap-type instance holds on its type is dropped.
    unsafe {
        drop(Arc::from_raw((*me).shared));
        ffi::Py_DecRef((*me).owner);
        let tp = ffi::Py_TYPE(obj);
        let free = ffi::PyType_GetSlot(tp, ffi::Py_tp_free);
        let free: ffi::freefunc = std::mem::transmute(free);
        free(obj as *mut c_void);
        ffi::Py_DecRef(tp as *mut ffi::PyObject);
    }
}

fn exporter_type(py: Python<'_>) -> PyResult<*mut ffi::PyObject> {
    if let Some(t) = EXPORTER_TYPE.get() {
        return Ok(t.0);
    }
    let slots = Box::leak(Box::new([
        ffi::PyType_Slot {
            slot: PY_BF_GETBUFFER,
            pfunc: exporter_getbuffer as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: PY_BF_RELEASEBUFFER,
            pfunc: exporter_releasebuffer as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_tp_dealloc,
            pfunc: exporter_dealloc as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_tp_doc,
            pfunc: c"The memory of one slot of an ipcring channel, valid inside its with block only.".as_ptr()
                as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: 0,
            pfunc: ptr::null_mut(),
        },
    ]));
    let spec = Box::leak(Box::new(ffi::PyType_Spec {
        name: c"ipcring._ipcring.SlotMemory".as_ptr(),
        basicsize: std::mem::size_of::<ExporterObject>() as c_int,
        itemsize: 0,
        flags: ffi::Py_TPFLAGS_DEFAULT as _,
        slots: slots.as_mut_ptr(),
    }));
    // SAFETY: a spec of static lifetime (leaked once; the name must outlive the type), with
    // slots whose functions have the signatures CPython calls them with.
    let tp = unsafe { ffi::PyType_FromSpec(spec) };
    if tp.is_null() {
        return Err(PyErr::fetch(py));
    }
    // With the GIL held, another thread cannot have set it in between.
    let _ = EXPORTER_TYPE.set(TypePtr(tp));
    Ok(EXPORTER_TYPE.get().map_or(tp, |t| t.0))
}

/// A new memoryview over `shared`'s slot, whose exporter keeps `owner` (the handle) alive.
pub fn memoryview_of<'py>(
    py: Python<'py>,
    shared: &Arc<Shared>,
    owner: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let tp = exporter_type(py)?;
    // SAFETY: `tp` is our heap type; GenericAlloc returns a zeroed instance with refcount 1
    // (and a new reference on the type), or NULL with an exception set.
    let obj = unsafe { ffi::PyType_GenericAlloc(tp as *mut ffi::PyTypeObject, 0) };
    if obj.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: `obj` is a fresh ExporterObject; its fields are set before any use, and the
    // strong references they take are dropped in exporter_dealloc. `from_owned_ptr` takes our
    // one reference to `obj`.
    let exporter = unsafe {
        let me = obj as *mut ExporterObject;
        (*me).shared = Arc::into_raw(Arc::clone(shared));
        ffi::Py_IncRef(owner.as_ptr());
        (*me).owner = owner.as_ptr();
        Bound::from_owned_ptr(py, obj)
    };
    // SAFETY: a live object; returns a new memoryview (a new reference) or NULL with an error.
    let mv = unsafe { ffi::PyMemoryView_FromObject(exporter.as_ptr()) };
    if mv.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: a new reference.
    Ok(unsafe { Bound::from_owned_ptr(py, mv) })
}
