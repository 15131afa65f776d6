//! `ipcring._ipcring`: the native half of the Python package `ipcring` (the pure-Python
//! half, `python/ipcring/`, holds the exception classes, the asyncio helpers and the stubs).
//!
//! Every handle is a frozen Python object around a `Mutex` holding the Rust end, so several
//! Python threads may call it (each call takes the lock; one handle's calls run one at a time)
//! and `close()` from any thread drops the end, after which every call raises `Closed`.
//!
//! Blocking, the GIL and Ctrl-C (`run`): a call first tries without waiting, with the GIL held
//! (the fast path: no GIL release per message while messages are there). When it would have
//! to wait, it releases the GIL and waits in slices of at most [`SLICE`]; between slices it
//! takes the GIL back and runs `check_signals`, so a pending `KeyboardInterrupt` (or any
//! signal handler's exception) is raised within a slice. A slice that ends takes nothing, so
//! an interrupted call has sent or received nothing. Why slices rather than the library's
//! `Interrupter`: CPython gives an extension no hook when a signal arrives (its C handler only
//! sets a flag that the main thread reads when it next runs bytecode; the one notification,
//! `signal.set_wakeup_fd`, belongs to asyncio), so something would have to poll that flag
//! anyway; a slice is that poll, costs one timed wake-up per 50 ms of waiting, needs no thread
//! and no descriptor per handle, and works the same in every thread.

mod buffer;
#[path = "../../tests/common/msg.rs"]
mod msg;

use buffer::{Borrowed, Shared};
use ipcring as ir;
use pyo3::exceptions::{PyBufferError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList, PyModule, PyTuple};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The longest a blocking call waits without the GIL before it checks for signals.
const SLICE: Duration = Duration::from_millis(50);

// ---------------------------------------------------------------------------------------
// errors

/// Why a call failed, before it is a Python exception (made with the GIL, after the call).
enum Fail {
    Ir(ir::Error),
    Closed,
    Py(PyErr),
}

impl From<ir::Error> for Fail {
    fn from(e: ir::Error) -> Fail {
        Fail::Ir(e)
    }
}

impl From<PyErr> for Fail {
    fn from(e: PyErr) -> Fail {
        Fail::Py(e)
    }
}

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn errors(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    Ok(ERRORS
        .get_or_try_init(py, || py.import("ipcring._errors").map(Bound::unbind))?
        .bind(py))
}

/// The Python class of an error kind: `ipcring.<Kind>` (the Rust `ErrorKind`'s name, so a
/// kind added to the library later, e.g. `SenderDied`, maps to the class of that name as
/// soon as the Python side defines it), else `ipcring.Error`.
fn raise(py: Python<'_>, kind: &str, msg: String, address: &str, errno: Option<i32>) -> PyErr {
    let make = || -> PyResult<PyErr> {
        let m = errors(py)?;
        let cls = m.getattr(kind).or_else(|_| m.getattr("Error"))?;
        let e = cls.call1((msg.clone(),))?;
        e.setattr("kind", kind)?;
        e.setattr("address", address)?;
        if let Some(errno) = errno {
            e.setattr("errno", errno)?;
        }
        Ok(PyErr::from_value(e))
    };
    make().unwrap_or_else(|e| e)
}

fn ir_err(py: Python<'_>, e: ir::Error, address: &str) -> PyErr {
    let kind = format!("{:?}", e.kind());
    let errno = match &e {
        ir::Error::Io { source, .. } => source.raw_os_error(),
        _ => None,
    };
    raise(py, &kind, e.to_string(), address, errno)
}

fn fail(py: Python<'_>, f: Fail, address: &str, what: &str) -> PyErr {
    match f {
        Fail::Ir(e) => ir_err(py, e, address),
        Fail::Py(e) => e,
        Fail::Closed => raise(
            py,
            "Closed",
            format!("{what} on a closed handle of {address}"),
            address,
            None,
        ),
    }
}

// ---------------------------------------------------------------------------------------
// timeouts and the blocking loop

#[derive(Clone, Copy)]
enum Wait {
    NonBlocking,
    Forever,
    Until(ir::Deadline),
}

/// `None` (or infinity): forever; `0`: do not wait; a positive number: seconds.
fn wait_of(timeout: Option<f64>) -> PyResult<Wait> {
    match timeout {
        None => Ok(Wait::Forever),
        Some(t) if t.is_nan() || t < 0.0 => Err(PyValueError::new_err(format!(
            "timeout must be None or a number >= 0 (seconds), not {t}"
        ))),
        Some(0.0) => Ok(Wait::NonBlocking),
        Some(t) if t.is_infinite() || t > 1e12 => Ok(Wait::Forever),
        Some(t) => Ok(Wait::Until(ir::Deadline::after(Duration::from_secs_f64(t)))),
    }
}

fn lock<S>(m: &Mutex<S>) -> MutexGuard<'_, S> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `op` on the locked state: once without waiting with the GIL held, then (if it would
/// block and `wait` allows) in slices without the GIL, checking for signals between slices.
/// `op` gets the timeout of the attempt; a slice's `TimedOut` that is not the caller's
/// deadline starts the next slice.
fn run<S: Send, T: Send>(
    py: Python<'_>,
    st: &Mutex<S>,
    wait: Wait,
    mut op: impl FnMut(&mut S, ir::Timeout) -> Result<T, Fail> + Send,
) -> Result<T, Fail> {
    match st.try_lock() {
        Ok(mut g) => match op(&mut g, ir::Timeout::NonBlocking) {
            // Nothing listens yet (tcp/unix) is a wait like any other until the caller's time ends.
            Err(Fail::Ir(ir::Error::WouldBlock | ir::Error::NoListener { .. }))
                if !matches!(wait, Wait::NonBlocking) => {}
            r => return r,
        },
        Err(std::sync::TryLockError::Poisoned(p)) => {
            let mut g = p.into_inner();
            match op(&mut g, ir::Timeout::NonBlocking) {
                Err(Fail::Ir(ir::Error::WouldBlock | ir::Error::NoListener { .. }))
                    if !matches!(wait, Wait::NonBlocking) => {}
                r => return r,
            }
        }
        // Another thread holds the handle (it waits without the GIL): wait for it without
        // the GIL too.
        Err(std::sync::TryLockError::WouldBlock) => {
            if matches!(wait, Wait::NonBlocking) {
                return py.detach(|| op(&mut lock(st), ir::Timeout::NonBlocking));
            }
        }
    }
    loop {
        let slice = ir::Deadline::after(SLICE);
        let (until, last) = match wait {
            Wait::Until(d) if d <= slice => (d, true),
            _ => (slice, false),
        };
        match py.detach(|| op(&mut lock(st), ir::Timeout::At(until))) {
            // A slice that ended (or found nothing listening yet) is not the caller's deadline.
            Err(Fail::Ir(ir::Error::TimedOut | ir::Error::NoListener { .. })) if !last => py.check_signals()?,
            r => return r,
        }
    }
}

// ---------------------------------------------------------------------------------------
// outstanding zero-copy slots

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Finish {
    /// Give a peeked message back as consumed.
    Release,
    /// Leave a peeked message for the next receive (SPSC, fallbacks).
    Keep,
    /// Give a reservation back unsent.
    Cancel,
}

/// A slot handed to Python (`peek()` / `reserve()`), until the handle has given it back.
struct Pending {
    shared: Arc<Shared>,
    pos: u64,
    len: usize,
    /// Its `with` block (or object) is still alive.
    open: bool,
    finish: Finish,
}

const OUTSTANDING: &str =
    "a peeked message or reserved slot of this handle is still open: end its with block (or release/commit it) first";

fn exports_alive(n: usize) -> Fail {
    Fail::Py(PyBufferError::new_err(format!(
        "{n} buffer export(s) of the slot's memory are still alive (memoryviews made from it, slices of them, or \
         objects holding its buffer): release or delete them; the slot is given back once none is left"
    )))
}

// ---------------------------------------------------------------------------------------
// Receiver

struct RxState {
    rx: Option<ir::Receiver>,
    pending: Option<Pending>,
    scratch: Vec<u8>,
}

impl RxState {
    fn end(&mut self) -> Result<&mut ir::Receiver, Fail> {
        self.settle()?;
        self.rx.as_mut().ok_or(Fail::Closed)
    }

    /// Gives back a slot whose block has ended once nothing exports its memory; refuses while
    /// one is open or exported.
    fn settle(&mut self) -> Result<(), Fail> {
        let Some(p) = &self.pending else { return Ok(()) };
        if p.open {
            return Err(Fail::Py(PyBufferError::new_err(OUTSTANDING)));
        }
        let n = p.shared.exports();
        if n > 0 {
            return Err(exports_alive(n));
        }
        let p = self.pending.take().expect("checked above");
        p.shared.invalidate();
        if let (Finish::Release, Some(rx)) = (p.finish, self.rx.as_mut()) {
            rx.release_raw(p.pos, p.len);
        }
        Ok(())
    }
}

/// The receiving end of a channel. Open one with `Receiver.open(address, create=...)` or
/// `ipcring.pair(address)`.
#[pyclass(frozen, module = "ipcring")]
struct Receiver {
    st: Mutex<RxState>,
    address: String,
    max: usize,
    consumes: bool,
}

impl Receiver {
    fn new(rx: ir::Receiver, address: String) -> Receiver {
        Receiver {
            max: rx.max_msg_size(),
            consumes: rx.peek_consumes(),
            st: Mutex::new(RxState {
                rx: Some(rx),
                pending: None,
                scratch: Vec::new(),
            }),
            address,
        }
    }

    fn err(&self, py: Python<'_>, f: Fail, what: &str) -> PyErr {
        fail(py, f, &self.address, what)
    }

    fn recv_opt<'py>(&self, py: Python<'py>, wait: Wait) -> PyResult<Option<Bound<'py, PyBytes>>> {
        // Fast path: a message is there; copy it straight into a bytes object.
        if let Ok(mut g) = self.st.try_lock() {
            let s = &mut *g;
            if s.scratch.len() < self.max {
                s.scratch.resize(self.max, 0);
            }
            let r = match s.settle() {
                Ok(()) => match s.rx.as_mut() {
                    Some(rx) => rx
                        .recv_with_timeout(&mut s.scratch, ir::Timeout::NonBlocking)
                        .map_err(Fail::Ir),
                    None => Err(Fail::Closed),
                },
                Err(f) => Err(f),
            };
            match r {
                Ok(n) => return Ok(Some(PyBytes::new(py, &s.scratch[..n]))),
                Err(Fail::Ir(ir::Error::WouldBlock)) if !matches!(wait, Wait::NonBlocking) => {}
                Err(Fail::Ir(ir::Error::EndOfStream)) => return Ok(None),
                Err(f) => return Err(self.err(py, f, "recv")),
            }
        }
        match run(py, &self.st, wait, |s, t| Ok(s.end()?.recv_vec_with_timeout(t)?)) {
            Ok(v) => Ok(Some(PyBytes::new(py, &v))),
            Err(Fail::Ir(ir::Error::EndOfStream)) => Ok(None),
            Err(f) => Err(self.err(py, f, "recv")),
        }
    }
}

fn create_of(create: &Bound<'_, PyAny>) -> PyResult<ir::Create> {
    if let Ok(s) = create.extract::<String>() {
        return match s.as_str() {
            "exclusive" => Ok(ir::Create::Exclusive),
            "if_missing" => Ok(ir::Create::IfMissing),
            "no" => Ok(ir::Create::No),
            _ => Err(PyValueError::new_err(format!(
                "create must be False, True, \"if_missing\" or \"exclusive\", not {s:?}"
            ))),
        };
    }
    match create.extract::<bool>() {
        Ok(true) => Ok(ir::Create::IfMissing),
        Ok(false) => Ok(ir::Create::No),
        Err(_) => Err(PyTypeError::new_err("create must be a bool or \"exclusive\"")),
    }
}

#[pymethods]
impl Receiver {
    /// Opens the receiving end of the channel at `address` (`shm://NAME?capacity=..&msg_size=..`,
    /// or sized in bytes `shm://NAME?msg_size=..&bytes=..`, `fifo:///path`, `mq://NAME`, `unix:///path`, `tcp://host:port`). `create`: False (it must
    /// exist), True (create it from the address's options if missing) or "exclusive".
    #[staticmethod]
    #[pyo3(signature = (address, create = None))]
    fn open(py: Python<'_>, address: &str, create: Option<&Bound<'_, PyAny>>) -> PyResult<Receiver> {
        let c = match create {
            Some(c) => create_of(c)?,
            None => ir::Create::No,
        };
        let a = address.to_string();
        let rx = py
            .detach(|| ir::Receiver::open(&a, c))
            .map_err(|e| ir_err(py, e, address))?;
        Ok(Receiver::new(rx, a))
    }

    /// Receives one message as bytes. `timeout`: None waits for ever, 0 does not wait
    /// (`WouldBlock`), a number of seconds waits at most that long (`TimedOut`). Raises
    /// `EndOfStream` once every sender has gone and the channel is drained.
    #[pyo3(signature = (timeout = None))]
    fn recv<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyBytes>> {
        match self.recv_opt(py, wait_of(timeout)?)? {
            Some(b) => Ok(b),
            None => Err(self.err(py, Fail::Ir(ir::Error::EndOfStream), "recv")),
        }
    }

    /// Receives one message into `buffer` (any writable buffer: bytearray, memoryview,
    /// array, numpy array) and returns its length. A buffer shorter than the message raises
    /// `BufferTooSmall` and leaves the message in the channel.
    #[pyo3(signature = (buffer, timeout = None))]
    fn recv_into(&self, py: Python<'_>, buffer: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<usize> {
        let wait = wait_of(timeout)?;
        let mut buf = Borrowed::get(buffer, true)?;
        run(py, &self.st, wait, |s, t| {
            Ok(s.end()?.recv_with_timeout(buf.as_mut_slice(), t)?)
        })
        .map_err(|f| self.err(py, f, "recv_into"))
    }

    /// Receives up to `max` messages (at least one, waiting as `timeout` allows for the
    /// first) as a list of bytes: one call and, on the ring, one cursor update for all.
    #[pyo3(signature = (max = 64, timeout = None))]
    fn recv_batch<'py>(&self, py: Python<'py>, max: usize, timeout: Option<f64>) -> PyResult<Bound<'py, PyList>> {
        let wait = wait_of(timeout)?;
        let list = PyList::empty(py);
        if max == 0 {
            return Ok(list);
        }
        if let Ok(mut g) = self.st.try_lock() {
            let mut pyerr = None;
            let r = g.end().and_then(|rx| {
                rx.recv_batch(max, ir::Timeout::NonBlocking, |m| {
                    if pyerr.is_none() {
                        if let Err(e) = list.append(PyBytes::new(py, m)) {
                            pyerr = Some(e);
                        }
                    }
                })
                .map_err(Fail::Ir)
            });
            if let Some(e) = pyerr {
                return Err(e);
            }
            match r {
                Ok(_) => return Ok(list),
                Err(Fail::Ir(ir::Error::WouldBlock)) if !matches!(wait, Wait::NonBlocking) => {}
                Err(f) => return Err(self.err(py, f, "recv_batch")),
            }
        }
        let (flat, ends) = run(py, &self.st, wait, |s, t| {
            let (mut flat, mut ends) = (Vec::new(), Vec::new());
            s.end()?.recv_batch(max, t, |m| {
                flat.extend_from_slice(m);
                ends.push(flat.len());
            })?;
            Ok((flat, ends))
        })
        .map_err(|f| self.err(py, f, "recv_batch"))?;
        let mut start = 0;
        for end in ends {
            list.append(PyBytes::new(py, &flat[start..end]))?;
            start = end;
        }
        Ok(list)
    }

    /// Looks at the next message in place, without a copy: a context manager whose
    /// `__enter__` gives a read-only memoryview of the message, valid inside the `with` block
    /// only (afterwards it is released, and a new export of it raises `BufferError`). At the
    /// end of the block the message is consumed; if the block raised, it stays for the next
    /// receive (SPSC rings and fallbacks; on MPMC looking at a message takes it).
    #[pyo3(signature = (timeout = None))]
    fn peek(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<Peek> {
        let py = slf.py();
        let me = slf.get();
        let wait = wait_of(timeout)?;
        let consumes = me.consumes;
        let shared = run(py, &me.st, wait, |s, t| {
            let (ptr, len, pos) = s.end()?.peek_raw(t)?;
            let shared = Shared::new(ptr as *mut u8, len, true);
            s.pending = Some(Pending {
                shared: Arc::clone(&shared),
                pos,
                len,
                open: true,
                finish: if consumes { Finish::Release } else { Finish::Keep },
            });
            Ok(shared)
        })
        .map_err(|f| me.err(py, f, "peek"))?;
        Ok(Peek {
            owner: slf.clone().unbind(),
            shared,
            mv: None,
            done: false,
        })
    }

    /// Closes this end (idempotent). Raises `BufferError` while a memoryview of a peeked
    /// message is still alive (the rule of `mmap.close()`).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| {
            let mut g = lock(&self.st);
            if let Some(p) = g.pending.as_mut() {
                // A peek whose block is still open is abandoned as its drop would be.
                p.open = false;
            }
            g.settle()?;
            g.rx = None;
            Ok(())
        })
        .map_err(|f| self.err(py, f, "close"))
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        py.detach(|| lock(&self.st).rx.is_none())
    }

    /// The largest message this channel carries, in bytes.
    #[getter]
    fn max_msg_size(&self) -> usize {
        self.max
    }

    /// The address this end was opened with.
    #[getter]
    fn address(&self) -> &str {
        &self.address
    }

    /// Whether a peeked message is consumed even when its block raises (MPMC rings).
    #[getter]
    fn peek_consumes(&self) -> bool {
        self.consumes
    }

    /// The descriptor an event loop waits on (readable when a receive would not block).
    fn fileno(&self, py: Python<'_>) -> PyResult<i32> {
        match py.detach(|| lock(&self.st).rx.as_ref().map(fd::of)) {
            None => Err(self.err(py, Fail::Closed, "fileno")),
            Some(r) => r.map_err(|what| raise(py, "Unsupported", what.to_string(), &self.address, None)),
        }
    }

    /// `await rx.recv_async(timeout=None)`: receives one message in an asyncio event loop.
    #[pyo3(signature = (timeout = None))]
    fn recv_async<'py>(slf: &Bound<'py, Self>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        slf.py()
            .import("ipcring._aio")?
            .getattr("recv_async")?
            .call1((slf, timeout))
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        self.recv_opt(py, Wait::Forever)
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("ipcring._aio")?.getattr("anext")?.call1((slf,))
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let state = if self.closed(py) { "closed" } else { "open" };
        format!("<ipcring.Receiver {:?} {state}>", self.address)
    }
}

/// `rx.peek()`: a message seen in place (see `Receiver.peek`).
#[pyclass(module = "ipcring")]
struct Peek {
    owner: Py<Receiver>,
    shared: Arc<Shared>,
    mv: Option<Py<PyAny>>,
    done: bool,
}

impl Peek {
    fn finish(&mut self, py: Python<'_>, normal: bool) -> PyResult<()> {
        if self.done {
            return Ok(());
        }
        if let Some(mv) = self.mv.take() {
            if let Err(e) = mv.bind(py).call_method0("release") {
                self.mv = Some(mv);
                return Err(e);
            }
        }
        self.done = true;
        let owner = self.owner.get();
        let consumes = owner.consumes;
        py.detach(|| {
            let mut g = lock(&owner.st);
            if let Some(p) = g.pending.as_mut().filter(|p| Arc::ptr_eq(&p.shared, &self.shared)) {
                p.open = false;
                p.finish = if normal || consumes {
                    Finish::Release
                } else {
                    Finish::Keep
                };
                if p.shared.exports() == 0 {
                    return g.settle();
                }
                return Err(exports_alive(p.shared.exports()));
            }
            Ok(())
        })
        .map_err(|f| owner.err(py, f, "peek"))
    }
}

#[pymethods]
impl Peek {
    /// A read-only memoryview of the message (the same one each time), valid until the
    /// block ends or `release()`.
    #[getter]
    fn view<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if self.done {
            return Err(PyBufferError::new_err(
                "the peeked message was given back: its view is gone",
            ));
        }
        if let Some(mv) = &self.mv {
            return Ok(mv.bind(py).clone());
        }
        let mv = buffer::memoryview_of(py, &self.shared, self.owner.bind(py).as_any())?;
        self.mv = Some(mv.clone().unbind());
        Ok(mv)
    }

    /// Consumes the message (what the end of the `with` block does).
    fn release(&mut self, py: Python<'_>) -> PyResult<()> {
        self.finish(py, true)
    }

    fn __len__(&self) -> usize {
        self.owner_len()
    }

    fn __enter__<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.view(py)
    }

    #[pyo3(signature = (exc_type, _exc = None, _tb = None))]
    fn __exit__(
        &mut self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.finish(py, exc_type.map_or(true, |t| t.is_none()))?;
        Ok(false)
    }
}

impl Peek {
    fn owner_len(&self) -> usize {
        let g = lock(&self.owner.get().st);
        g.pending
            .as_ref()
            .filter(|p| Arc::ptr_eq(&p.shared, &self.shared))
            .map_or(0, |p| p.len)
    }
}

impl Drop for Peek {
    fn drop(&mut self) {
        // Dropped without its block ending (no `with`, no release): give the message back as
        // the Rust slot's drop does, once nothing exports it (at the handle's next call).
        if !self.done {
            let owner = self.owner.get();
            let mut g = lock(&owner.st);
            if let Some(p) = g.pending.as_mut().filter(|p| Arc::ptr_eq(&p.shared, &self.shared)) {
                p.open = false;
                p.finish = if owner.consumes { Finish::Release } else { Finish::Keep };
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Sender

struct TxState {
    tx: Option<ir::Sender>,
    pending: Option<Pending>,
}

impl TxState {
    fn end(&mut self) -> Result<&mut ir::Sender, Fail> {
        self.settle()?;
        self.tx.as_mut().ok_or(Fail::Closed)
    }

    fn settle(&mut self) -> Result<(), Fail> {
        let Some(p) = &self.pending else { return Ok(()) };
        if p.open {
            return Err(Fail::Py(PyBufferError::new_err(OUTSTANDING)));
        }
        let n = p.shared.exports();
        if n > 0 {
            return Err(exports_alive(n));
        }
        let p = self.pending.take().expect("checked above");
        p.shared.invalidate();
        if let Some(tx) = self.tx.as_mut() {
            tx.cancel_raw(p.pos);
        }
        Ok(())
    }
}

/// A message to send: a `bytes` object's own memory, or a buffer exported for the call.
enum Msg<'py> {
    Bytes(Bound<'py, PyBytes>),
    Buf(Borrowed),
}

impl Msg<'_> {
    fn of<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Msg<'py>> {
        match obj.cast::<PyBytes>() {
            Ok(b) => Ok(Msg::Bytes(b.clone())),
            Err(_) => Ok(Msg::Buf(Borrowed::get(obj, false)?)),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Msg::Bytes(b) => b.as_bytes(),
            Msg::Buf(b) => b.as_slice(),
        }
    }
}

/// The sending end of a channel. Open one with `Sender.open(address, create=...)` or
/// `ipcring.pair(address)`.
#[pyclass(frozen, module = "ipcring")]
struct Sender {
    st: Mutex<TxState>,
    address: String,
    max: usize,
}

impl Sender {
    fn new(tx: ir::Sender, address: String) -> Sender {
        Sender {
            max: tx.max_msg_size(),
            st: Mutex::new(TxState {
                tx: Some(tx),
                pending: None,
            }),
            address,
        }
    }

    fn err(&self, py: Python<'_>, f: Fail, what: &str) -> PyErr {
        fail(py, f, &self.address, what)
    }
}

#[pymethods]
impl Sender {
    /// Opens the sending end of the channel at `address` (see `Receiver.open`).
    #[staticmethod]
    #[pyo3(signature = (address, create = None))]
    fn open(py: Python<'_>, address: &str, create: Option<&Bound<'_, PyAny>>) -> PyResult<Sender> {
        let c = match create {
            Some(c) => create_of(c)?,
            None => ir::Create::No,
        };
        let a = address.to_string();
        let tx = py
            .detach(|| ir::Sender::open(&a, c))
            .map_err(|e| ir_err(py, e, address))?;
        Ok(Sender::new(tx, a))
    }

    /// Sends one message (bytes or any bytes-like object of at most `max_msg_size` bytes).
    /// `timeout` as for `Receiver.recv`. Raises `Disconnected` once every receiver has gone,
    /// `TooLarge` (nothing sent) for a message over `max_msg_size`.
    #[pyo3(signature = (data, timeout = None))]
    fn send(&self, py: Python<'_>, data: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<()> {
        let wait = wait_of(timeout)?;
        let msg = Msg::of(data)?;
        let bytes = msg.bytes();
        run(py, &self.st, wait, |s, t| Ok(s.end()?.send_with_timeout(bytes, t)?)).map_err(|f| self.err(py, f, "send"))
    }

    /// Sends the messages of `msgs` (an iterable of bytes-like objects) in order, with one
    /// publish per run that fits; returns how many were sent (fewer only when the timeout
    /// ended the wait for room). One message over `max_msg_size` raises `TooLarge` with
    /// nothing sent.
    #[pyo3(signature = (msgs, timeout = None))]
    fn send_batch(&self, py: Python<'_>, msgs: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<usize> {
        let wait = wait_of(timeout)?;
        let held: Vec<Msg<'_>> = msgs.try_iter()?.map(|m| Msg::of(&m?)).collect::<PyResult<_>>()?;
        let all: Vec<&[u8]> = held.iter().map(Msg::bytes).collect();
        let mut sent = 0;
        while sent < all.len() {
            let rest = &all[sent..];
            match run(py, &self.st, wait, |s, t| Ok(s.end()?.send_batch(rest, t)?)) {
                Ok(n) => sent += n,
                Err(Fail::Ir(ir::Error::TimedOut | ir::Error::WouldBlock)) if sent > 0 => break,
                Err(f) => return Err(self.err(py, f, "send_batch")),
            }
            match wait {
                Wait::NonBlocking => break,
                Wait::Until(d) if d.has_passed() => break,
                _ => py.check_signals()?,
            }
        }
        Ok(sent)
    }

    /// Reserves the next slot for writing in place: a context manager whose `buf` is a
    /// writable memoryview of `max_msg_size` bytes; `commit(n)` sends its first `n` bytes.
    /// A block that ends without `commit` gives the slot back unsent. The memoryview is
    /// valid inside the block only.
    #[pyo3(signature = (timeout = None))]
    fn reserve(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<Reservation> {
        let py = slf.py();
        let me = slf.get();
        let wait = wait_of(timeout)?;
        let max = me.max;
        let shared = run(py, &me.st, wait, |s, t| {
            let (ptr, pos) = s.end()?.reserve_raw(t)?;
            let shared = Shared::new(ptr, max, false);
            s.pending = Some(Pending {
                shared: Arc::clone(&shared),
                pos,
                len: max,
                open: true,
                finish: Finish::Cancel,
            });
            Ok(shared)
        })
        .map_err(|f| me.err(py, f, "reserve"))?;
        Ok(Reservation {
            owner: slf.clone().unbind(),
            shared,
            mv: None,
            done: false,
        })
    }

    /// Closes this end (idempotent); a receiver sees end of stream once every sender has
    /// closed and it has drained the channel.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| {
            let mut g = lock(&self.st);
            if let Some(p) = g.pending.as_mut() {
                p.open = false;
            }
            g.settle()?;
            g.tx = None;
            Ok(())
        })
        .map_err(|f| self.err(py, f, "close"))
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        py.detach(|| lock(&self.st).tx.is_none())
    }

    /// The largest message this channel carries, in bytes.
    #[getter]
    fn max_msg_size(&self) -> usize {
        self.max
    }

    /// The address this end was opened with.
    #[getter]
    fn address(&self) -> &str {
        &self.address
    }

    /// The descriptor an event loop waits on (readable when a send would not block).
    fn fileno(&self, py: Python<'_>) -> PyResult<i32> {
        match py.detach(|| lock(&self.st).tx.as_ref().map(fd::of)) {
            None => Err(self.err(py, Fail::Closed, "fileno")),
            Some(r) => r.map_err(|what| raise(py, "Unsupported", what.to_string(), &self.address, None)),
        }
    }

    /// `await tx.send_async(data, timeout=None)`: sends one message in an asyncio event loop.
    #[pyo3(signature = (data, timeout = None))]
    fn send_async<'py>(
        slf: &Bound<'py, Self>,
        data: &Bound<'py, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        slf.py()
            .import("ipcring._aio")?
            .getattr("send_async")?
            .call1((slf, data, timeout))
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let state = if self.closed(py) { "closed" } else { "open" };
        format!("<ipcring.Sender {:?} {state}>", self.address)
    }
}

/// `tx.reserve()`: a slot being written in place (see `Sender.reserve`).
#[pyclass(module = "ipcring")]
struct Reservation {
    owner: Py<Sender>,
    shared: Arc<Shared>,
    mv: Option<Py<PyAny>>,
    done: bool,
}

impl Reservation {
    /// Releases our memoryview; refuses (the slot stays reserved) while other exports live.
    fn let_go(&mut self, py: Python<'_>) -> PyResult<()> {
        if let Some(mv) = self.mv.take() {
            if let Err(e) = mv.bind(py).call_method0("release") {
                self.mv = Some(mv);
                return Err(e);
            }
        }
        match self.shared.exports() {
            0 => Ok(()),
            n => Err(fail(py, exports_alive(n), "", "")),
        }
    }
}

#[pymethods]
impl Reservation {
    /// A writable memoryview of the slot (`max_msg_size` bytes), valid until `commit` or the
    /// end of the block.
    #[getter]
    fn buf<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if self.done {
            return Err(PyBufferError::new_err(
                "the reservation was committed or given back: its buffer is gone",
            ));
        }
        if let Some(mv) = &self.mv {
            return Ok(mv.bind(py).clone());
        }
        let mv = buffer::memoryview_of(py, &self.shared, self.owner.bind(py).as_any())?;
        self.mv = Some(mv.clone().unbind());
        Ok(mv)
    }

    /// Sends the slot's first `n` bytes as one message. Raises `BufferError` (nothing sent,
    /// the slot still reserved) while a memoryview of the slot other than `buf` is alive.
    fn commit(&mut self, py: Python<'_>, n: usize) -> PyResult<()> {
        if self.done {
            return Err(PyBufferError::new_err(
                "the reservation was already committed or given back",
            ));
        }
        let owner_ref = self.owner.clone_ref(py);
        let owner = owner_ref.get();
        if n > owner.max {
            return Err(ir_err(
                py,
                ir::Error::TooLarge { len: n, max: owner.max },
                &owner.address,
            ));
        }
        self.let_go(py)?;
        self.done = true;
        self.shared.invalidate();
        let shared = &self.shared;
        py.detach(|| {
            let mut g = lock(&owner.st);
            if !g.pending.as_ref().is_some_and(|p| Arc::ptr_eq(&p.shared, shared)) {
                return Err(Fail::Closed);
            }
            let p = g.pending.take().expect("checked above");
            let tx = g.tx.as_mut().ok_or(Fail::Closed)?;
            match tx.commit_raw(p.pos, n) {
                Ok(()) => Ok(()),
                Err(e) => {
                    tx.cancel_raw(p.pos);
                    Err(Fail::Ir(e))
                }
            }
        })
        .map_err(|f| owner.err(py, f, "commit"))
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&mut self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        if self.done {
            return Ok(false);
        }
        let r = self.let_go(py);
        self.done = true;
        let owner = self.owner.get();
        let shared = &self.shared;
        py.detach(|| {
            let mut g = lock(&owner.st);
            if let Some(p) = g.pending.as_mut().filter(|p| Arc::ptr_eq(&p.shared, shared)) {
                p.open = false;
                if p.shared.exports() == 0 {
                    return g.settle();
                }
            }
            Ok(())
        })
        .map_err(|f| owner.err(py, f, "reserve"))?;
        r.map(|()| false)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.done {
            let owner = self.owner.get();
            let mut g = lock(&owner.st);
            if let Some(p) = g.pending.as_mut().filter(|p| Arc::ptr_eq(&p.shared, &self.shared)) {
                p.open = false;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// descriptors (the library's `AsFd` on Sender / Receiver)

mod fd {
    use std::os::fd::{AsFd, AsRawFd};
    pub fn of<T: AsFd>(end: &T) -> Result<i32, &'static str> {
        Ok(end.as_fd().as_raw_fd())
    }
}

// ---------------------------------------------------------------------------------------
// module functions

/// An anonymous channel for use across `fork` (`os.fork`, `multiprocessing` with the fork
/// start method): `shm://?capacity=..&msg_size=..` (a ring) or `pipe://`. Returns
/// `(sender, receiver)`; each process closes the end it does not use.
#[pyfunction]
#[pyo3(signature = (address = "shm://"))]
fn pair(py: Python<'_>, address: &str) -> PyResult<(Sender, Receiver)> {
    let (tx, rx) = py.detach(|| ir::pair_at(address)).map_err(|e| ir_err(py, e, address))?;
    Ok((
        Sender::new(tx, address.to_string()),
        Receiver::new(rx, address.to_string()),
    ))
}

/// Removes the named object of `address` (ring, FIFO, queue or socket path); endpoints
/// already open keep working.
#[pyfunction]
fn unlink(py: Python<'_>, address: &str) -> PyResult<()> {
    py.detach(|| ir::unlink(address)).map_err(|e| ir_err(py, e, address))
}

/// Removes the named object of `address` unless it is in use (`InUse`); with `force`,
/// whoever uses it.
#[pyfunction]
#[pyo3(signature = (address, force = false))]
fn remove(py: Python<'_>, address: &str, force: bool) -> PyResult<()> {
    py.detach(|| ir::remove(address, force))
        .map_err(|e| ir_err(py, e, address))
}

/// Test support: message `(producer, seq)` of the data tests' format (`tests/common/msg.rs`,
/// `c-examples/pipeline_format.h`), whose payload is at most `max_payload` bytes.
#[pyfunction]
fn _format_encode<'py>(py: Python<'py>, producer: u32, seq: u64, max_payload: usize) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &msg::encode_vec(producer, seq, max_payload))
}

/// Test support: checks a message of that format (structure, checksum, payload length and
/// bytes); returns `(producer, seq)` or raises `ValueError` saying what is wrong.
#[pyfunction]
#[pyo3(signature = (data, max_payload = None))]
fn _format_decode(data: &[u8], max_payload: Option<usize>) -> PyResult<(u32, u64)> {
    msg::decode(data, max_payload).map_err(PyValueError::new_err)
}

#[pymodule]
fn _ipcring(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Sender>()?;
    m.add_class::<Receiver>()?;
    m.add_class::<Peek>()?;
    m.add_class::<Reservation>()?;
    m.add_function(wrap_pyfunction!(pair, m)?)?;
    m.add_function(wrap_pyfunction!(unlink, m)?)?;
    m.add_function(wrap_pyfunction!(remove, m)?)?;
    m.add_function(wrap_pyfunction!(_format_encode, m)?)?;
    m.add_function(wrap_pyfunction!(_format_decode, m)?)?;
    m.add("HAVE_FILENO", true)?;
    m.add("LIBRARY_VERSION", env!("CARGO_PKG_VERSION"))?;
    m.add("FORMAT_OVERHEAD", msg::OVERHEAD)?;
    Ok(())
}
