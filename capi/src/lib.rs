//! The C ABI of libipcring (docs/c-api.md). cbindgen turns this file and its modules, doc
//! comments included, into `include/ipcring.h`:
//! - `lib.rs` (here): the calls, every `extern "C" fn` but the two about status codes, with
//!   their argument checks and the panic guard; the flags and the structs the calls fill in;
//! - [`status`]: the status codes, `ipcring_strerror`, `ipcring_last_error` and the mapping
//!   from the crate's [`Error`];
//! - [`events`]: the event-loop calls, `ipcring_fd` and `ipcring_poll`;
//! - [`handle`]: the handle shells (`ipcring_t`) and their lock-free pool.
//!
//! The calls are thin: they check pointers and strings, convert, call `ipcring::channel`,
//! map [`Error`] to a status code, and catch panics so that none crosses the boundary.
//!
//! Conventions (the rustls-ffi / hyper C API style):
//! - every function returns an `int` status: `IPCRING_OK` (0), `IPCRING_EOF` (1, end of
//!   stream), or a negative `IPCRING_E*` code; codes are never renumbered or reused;
//! - outputs go through out-pointers and are written only on success;
//! - a NULL pointer where one is required, or an address that is not UTF-8, is
//!   `IPCRING_EINVAL`, never a crash; `ipcring_close(NULL)` is a no-op, like `free(NULL)`;
//! - `ipcring_strerror` turns any integer into static text, and `ipcring_last_error` gives
//!   the calling thread's detailed message for its last failure (naming the offending value).
//!
//! Handles live in shells that are never returned to the allocator: a closed shell is marked
//! closed and parked for reuse by a later open. So a double close, or a call on a handle that
//! was closed, reads valid memory and gets `IPCRING_ECLOSED` — until that shell is handed out
//! again by a later open, after which the stale pointer is indistinguishable from the new
//! handle (the "where detectable" of use after close). A pointer that never came from
//! ipcring but points at readable, aligned memory is `IPCRING_EBADHANDLE`.

mod events;
mod handle;
mod status;

use handle::{close_handle, ends, interrupters, ipcring_t, new_handle, Ends};
use ipcring::address::{Address, Transport};
use ipcring::channel::{open_ends, pair_addr, remove_addr, unlink_addr, Create, Receiver, Sender};
use ipcring::{Error, Kind, Timeout, WakeBackend};
use status::*;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

// ---------------------------------------------------------------------------------------
// Flags and constants.

/// `ipcring_open` flag: attach a sender.
pub const IPCRING_SEND: u32 = 1;
/// `ipcring_open` flag: attach a receiver.
pub const IPCRING_RECV: u32 = 2;
/// `ipcring_open` flag: create the ring if it does not exist (options from the address).
pub const IPCRING_CREATE: u32 = 4;
/// `ipcring_open` flag, with `IPCRING_CREATE`: fail with `IPCRING_EEXIST` if it exists.
pub const IPCRING_EXCL: u32 = 8;
const ALL_FLAGS: u32 = IPCRING_SEND | IPCRING_RECV | IPCRING_CREATE | IPCRING_EXCL;
/// `ipcring_remove` flag: remove the channel even if it is in use.
pub const IPCRING_REMOVE_FORCE: u32 = 1;

/// Timeout: wait as long as it takes.
pub const IPCRING_FOREVER: i64 = -1;
/// Timeout: do not wait (`IPCRING_EAGAIN` if the call cannot complete at once).
pub const IPCRING_NONBLOCK: i64 = 0;

/// `ipcring_info_t.mode`: one sender and one receiver.
pub const IPCRING_MODE_SPSC: u32 = 0;
/// `ipcring_info_t.mode`: any number of senders and receivers.
pub const IPCRING_MODE_MPMC: u32 = 1;
/// `ipcring_info_t.wake`: blocked callers sleep on a futex word.
pub const IPCRING_WAKE_FUTEX: u32 = 0;
/// `ipcring_info_t.wake`: blocked callers sleep on a process-shared `sem_t`.
pub const IPCRING_WAKE_SEM: u32 = 1;
/// `ipcring_info_t.transport`: the ring in shared memory (`shm://`).
pub const IPCRING_TRANSPORT_SHM: u32 = 0;
/// `ipcring_info_t.transport`: an anonymous pipe (`pipe://`).
pub const IPCRING_TRANSPORT_PIPE: u32 = 1;
/// `ipcring_info_t.transport`: a named pipe (`fifo:///path`).
pub const IPCRING_TRANSPORT_FIFO: u32 = 2;
/// `ipcring_info_t.transport`: a POSIX message queue (`mq://NAME`).
pub const IPCRING_TRANSPORT_MQ: u32 = 3;
/// `ipcring_info_t.transport`: a UNIX SOCK_SEQPACKET socket (`unix:///path`).
pub const IPCRING_TRANSPORT_UNIX: u32 = 4;
/// `ipcring_info_t.transport`: TCP (`tcp://HOST:PORT`).
pub const IPCRING_TRANSPORT_TCP: u32 = 5;
/// `nats://HOST:PORT/NAME`: NATS JetStream.
pub const IPCRING_TRANSPORT_NATS: u32 = 6;

// ---------------------------------------------------------------------------------------
// Types.

/// One message of a batch: `len` bytes at `data` (`data` may be NULL when `len` is 0).
#[allow(non_camel_case_types)] // the C name (cbindgen copies it into the header)
#[repr(C)]
pub struct ipcring_msg_t {
    /// The message's bytes.
    pub data: *const c_void,
    /// Its length.
    pub len: usize,
}

/// Counters of one handle (process-local). Declare it with `IPCRING_STATS_INIT`, which sets
/// `size`; see `ipcring_stats` for the size rule.
#[allow(non_camel_case_types)] // the C name (cbindgen copies it into the header)
#[repr(C)]
#[derive(Default)]
pub struct ipcring_stats_t {
    /// Set by the caller to `sizeof(ipcring_stats_t)` before the call; set by the library to
    /// the number of bytes it wrote. Later versions only append fields.
    pub size: usize,
    /// Messages sent through this handle.
    pub sent_messages: u64,
    /// Payload bytes sent.
    pub sent_bytes: u64,
    /// Messages received through this handle.
    pub received_messages: u64,
    /// Payload bytes received.
    pub received_bytes: u64,
    /// Times a call on this handle went to sleep (one system call each).
    pub parks: u64,
    /// Times a call on this handle woke a sleeping peer (one system call each).
    pub wakes: u64,
    /// Every system call the handle's calls made on the message path (sleeps, wake-ups,
    /// liveness checks; on the fallbacks each read, write, poll, queue or socket call).
    pub syscalls: u64,
}

/// The shape of the channel behind a handle. Declare it with `IPCRING_INFO_INIT`, which sets
/// `size`; see `ipcring_info` for the size rule.
#[allow(non_camel_case_types)] // the C name (cbindgen copies it into the header)
#[repr(C)]
pub struct ipcring_info_t {
    /// Set by the caller to `sizeof(ipcring_info_t)` before the call; set by the library to
    /// the number of bytes it wrote. Later versions only append fields.
    pub size: usize,
    /// Messages the channel holds before a send waits: an MPMC ring's slots, an SPSC ring's
    /// bound on queued messages (0 for a ring sized by `bytes=` alone), or an `mq://` queue's
    /// `mq_maxmsg`; 0 on the other transports (the kernel sizes their buffers in bytes).
    pub capacity: u64,
    /// Largest message in bytes.
    pub msg_size: u64,
    /// Messages in the channel at the time of the call (a snapshot); 0 where the transport
    /// cannot tell (pipe, FIFO, sockets).
    pub queued: u64,
    /// `IPCRING_MODE_SPSC` or `IPCRING_MODE_MPMC` (ring); `IPCRING_MODE_SPSC` elsewhere.
    pub mode: u32,
    /// `IPCRING_WAKE_FUTEX` or `IPCRING_WAKE_SEM` (ring); `IPCRING_WAKE_FUTEX` elsewhere.
    pub wake: u32,
    /// The ends this handle holds: `IPCRING_SEND`, `IPCRING_RECV` or both.
    pub ends: u32,
    /// The transport: `IPCRING_TRANSPORT_SHM`, `_PIPE`, `_FIFO`, `_MQ`, `_UNIX` or `_TCP`.
    pub transport: u32,
    /// A ring's data area in bytes (`bytes=` of the address: SPSC messages are packed records
    /// of 8 bytes plus the payload rounded up to 8; an MPMC ring's slots take `capacity` times
    /// the slot size); 0 on the other transports. Appended in ABI 5 (a program built against
    /// an older header does not see it).
    pub bytes: u64,
}

/// A caller-allocated output struct whose first field is its size (`size_t size`), so that
/// it can grow without breaking programs built against an older header.
trait SizedOut {
    /// The size of the struct's first version: the smallest `size` the library accepts.
    const FIRST_SIZE: usize;
    /// Its C name, for messages.
    const NAME: &'static str;
    fn set_size(&mut self, size: usize);
}

impl SizedOut for ipcring_stats_t {
    const FIRST_SIZE: usize = std::mem::size_of::<usize>() + 7 * 8;
    const NAME: &'static str = "ipcring_stats_t";
    fn set_size(&mut self, size: usize) {
        self.size = size;
    }
}

impl SizedOut for ipcring_info_t {
    const FIRST_SIZE: usize = std::mem::size_of::<usize>() + 3 * 8 + 4 * 4;
    const NAME: &'static str = "ipcring_info_t";
    fn set_size(&mut self, size: usize) {
        self.size = size;
    }
}

// The structs have no padding (every byte copied out is a field's), `size` first; a later
// version appends fields and keeps FIRST_SIZE. `ipcring_info_t` is in its second version
// (ABI 5 appended `bytes`).
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(offset_of!(ipcring_stats_t, size) == 0 && offset_of!(ipcring_info_t, size) == 0);
    assert!(size_of::<ipcring_stats_t>() == <ipcring_stats_t as SizedOut>::FIRST_SIZE);
    assert!(offset_of!(ipcring_info_t, bytes) == <ipcring_info_t as SizedOut>::FIRST_SIZE);
    assert!(size_of::<ipcring_info_t>() == <ipcring_info_t as SizedOut>::FIRST_SIZE + 8);
};

/// Checks the size the caller set in `*out` against the first version's: the number of bytes
/// to write, min(caller's size, this library's), or `IPCRING_EINVAL` (nothing written).
///
/// # Safety
/// `out` is non-NULL, aligned and valid for reading its first `size_t`.
unsafe fn out_size<T: SizedOut>(out: *mut T) -> Result<usize, Status> {
    // SAFETY: the caller's contract; `size` is the first field (asserted above).
    let size = unsafe { (out as *const usize).read() };
    if size < T::FIRST_SIZE {
        let name = T::NAME;
        return Err(fail(
            IPCRING_EINVAL,
            &format!(
                "{name}.size is {size}, smaller than the first version of {name} ({} bytes): \
                 set it to sizeof({name}) before the call",
                T::FIRST_SIZE
            ),
        ));
    }
    Ok(size.min(std::mem::size_of::<T>()))
}

/// Writes the first `n` bytes of `value` (from [`out_size`]) to `out`, with `size` set to `n`;
/// the caller's bytes past `n` are left alone.
///
/// # Safety
/// `out` is non-NULL and valid for `n` bytes of writes, `n` ≤ `size_of::<T>()`.
unsafe fn write_sized<T: SizedOut>(out: *mut T, mut value: T, n: usize) {
    value.set_size(n);
    // SAFETY: `value` has no padding (asserted above), so its n ≤ size_of::<T>() bytes are
    // initialised; `out` is valid for n bytes of writes by the caller's contract and cannot
    // overlap a local.
    unsafe { std::ptr::copy_nonoverlapping(&value as *const T as *const u8, out as *mut u8, n) };
}

// ---------------------------------------------------------------------------------------
// Internals: the panic guard and the argument checks.

/// Runs a call's body, turning a panic into `IPCRING_EPANIC`.
fn guard(body: impl FnOnce() -> Result<c_int, Status>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(code)) | Ok(Err(code)) => code,
        Err(_) => fail(
            IPCRING_EPANIC,
            "internal error: a panic was caught at the C boundary (a bug in ipcring; please report it)",
        ),
    }
}

/// The address at `address`, parsed.
///
/// # Safety
/// `address` is NULL or a NUL-terminated string.
unsafe fn parse_address(address: *const c_char) -> Result<Address, Status> {
    if address.is_null() {
        return Err(fail(IPCRING_EINVAL, "address is NULL"));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let text = unsafe { CStr::from_ptr(address) }
        .to_str()
        .map_err(|_| fail(IPCRING_EINVAL, "address is not valid UTF-8"))?;
    Address::parse(text).map_err(err)
}

fn named(addr: &Address, what: &str) -> Result<(), Status> {
    if addr.target().is_empty() {
        let scheme = addr.transport().scheme();
        let msg = format!("{what} needs a named address ({scheme}:// with a name or path); shm:// and pipe:// alone are for ipcring_pair");
        return Err(fail(IPCRING_EADDRESS, &msg));
    }
    Ok(())
}

fn out_ptr<T>(p: *mut T, name: &str) -> Result<*mut T, Status> {
    if p.is_null() {
        return Err(fail(IPCRING_EINVAL, &format!("{name} is NULL")));
    }
    Ok(p)
}

fn sender(e: &mut Ends) -> Result<&mut Sender, Status> {
    if e.reserved.is_some() {
        return Err(fail(
            IPCRING_ESTATE,
            "a reserved slot is outstanding: commit or cancel it first",
        ));
    }
    e.tx.as_mut()
        .ok_or_else(|| fail(IPCRING_EDIRECTION, "handle was not opened with IPCRING_SEND"))
}

fn receiver(e: &mut Ends) -> Result<&mut Receiver, Status> {
    if e.peeked.is_some() {
        return Err(fail(
            IPCRING_ESTATE,
            "a peeked message is outstanding: release it first",
        ));
    }
    e.rx.as_mut()
        .ok_or_else(|| fail(IPCRING_EDIRECTION, "handle was not opened with IPCRING_RECV"))
}

/// `len` bytes at `buf` as a slice (`buf` may be NULL only when `len` is 0).
///
/// # Safety
/// `buf` is NULL or valid for `len` bytes of reads for the duration of the call.
unsafe fn bytes<'a>(buf: *const c_void, len: usize, name: &str) -> Result<&'a [u8], Status> {
    if len == 0 {
        return Ok(&[]);
    }
    if buf.is_null() {
        return Err(fail(IPCRING_EINVAL, &format!("{name} is NULL but the length is {len}")));
    }
    if len > isize::MAX as usize {
        return Err(fail(IPCRING_EINVAL, &format!("length {len} is larger than any buffer")));
    }
    // SAFETY: non-NULL, len ≤ isize::MAX, valid for len bytes by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(buf as *const u8, len) })
}

/// `cap` writable bytes at `buf` (`buf` may be NULL only when `cap` is 0).
///
/// # Safety
/// `buf` is NULL or valid for `cap` bytes of writes for the duration of the call.
unsafe fn bytes_mut<'a>(buf: *mut c_void, cap: usize, name: &str) -> Result<&'a mut [u8], Status> {
    if cap == 0 {
        return Ok(&mut []);
    }
    if buf.is_null() {
        return Err(fail(
            IPCRING_EINVAL,
            &format!("{name} is NULL but the capacity is {cap}"),
        ));
    }
    if cap > isize::MAX as usize {
        return Err(fail(
            IPCRING_EINVAL,
            &format!("capacity {cap} is larger than any buffer"),
        ));
    }
    // SAFETY: non-NULL, cap ≤ isize::MAX, valid for cap bytes of writes by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(buf as *mut u8, cap) })
}

/// A batch message as a byte slice, for `Sender::send_batch` without copying the array.
#[repr(transparent)]
struct BatchMsg(ipcring_msg_t);

impl AsRef<[u8]> for BatchMsg {
    fn as_ref(&self) -> &[u8] {
        if self.0.len == 0 {
            return &[];
        }
        // SAFETY: every entry was checked non-NULL (len > 0) and ≤ isize::MAX before the
        // batch was sent; the caller keeps the bytes valid for the call.
        unsafe { std::slice::from_raw_parts(self.0.data as *const u8, self.0.len) }
    }
}

// ---------------------------------------------------------------------------------------
// The calls.

/// Opens the channel named by `address` and writes a new handle to `*out`.
///
/// `flags`: `IPCRING_SEND` and/or `IPCRING_RECV` (at least one), optionally `IPCRING_CREATE`
/// (create the channel from the address's options if it does not exist) and `IPCRING_EXCL`
/// (with `IPCRING_CREATE`: it must not exist). Options in the address's query string
/// (`capacity`, `msg_size`, `mode`, `wake`, `fence`, `perm`) set up a created channel and must match an
/// existing one (`IPCRING_EMISMATCH` otherwise); `spin=off` (this handle's blocking calls
/// sleep at once instead of spinning first) is the caller's own and never checked. Every named transport is served:
/// `shm://NAME`, `fifo:///path`, `mq://NAME`, `unix:///path` and `tcp://HOST:PORT` (on the
/// socket transports the receiver listens and the sender connects at its first send; see the
/// README's transport table for what each one supports).
///
/// Thread safety: may be called from any thread at any time.
///
/// # Safety
/// `address` is NULL or a NUL-terminated string; `out` is NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn ipcring_open(address: *const c_char, flags: u32, out: *mut *mut ipcring_t) -> c_int {
    guard(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller's contract.
        let addr = unsafe { parse_address(address) }?;
        if flags & !ALL_FLAGS != 0 {
            return Err(fail(
                IPCRING_EINVAL,
                &format!("unknown flag bits {:#x}", flags & !ALL_FLAGS),
            ));
        }
        if flags & (IPCRING_SEND | IPCRING_RECV) == 0 {
            return Err(fail(IPCRING_EINVAL, "flags need IPCRING_SEND, IPCRING_RECV or both"));
        }
        if flags & IPCRING_EXCL != 0 && flags & IPCRING_CREATE == 0 {
            return Err(fail(IPCRING_EINVAL, "IPCRING_EXCL needs IPCRING_CREATE"));
        }
        named(&addr, "ipcring_open")?;
        let text = format!("{}://{}", addr.transport().scheme(), addr.target());
        let create = match (flags & IPCRING_CREATE != 0, flags & IPCRING_EXCL != 0) {
            (false, _) => Create::No,
            (true, false) => Create::IfMissing,
            (true, true) => Create::Exclusive,
        };
        let (tx, rx) =
            open_ends(&addr, flags & IPCRING_SEND != 0, flags & IPCRING_RECV != 0, create).map_err(err_at(&text))?;
        let h = new_handle(tx, rx)?;
        // SAFETY: checked non-NULL; valid for a write by the caller's contract.
        unsafe { out.write(h) };
        Ok(IPCRING_OK)
    })
}

/// Creates an anonymous channel for use across `fork()`: writes a send-only handle to
/// `*sender` and a receive-only handle to `*receiver`. `address` is `shm://` (a ring) with
/// optional options (`shm://?capacity=16&msg_size=64`) or `pipe://` (a pipe; `msg_size` is
/// its only option). After `fork()`, each process closes the end it does not use, so that
/// end-of-stream and `IPCRING_EDISCONNECTED` work.
///
/// Thread safety: may be called from any thread at any time.
///
/// # Safety
/// `address` is NULL or a NUL-terminated string; `sender` and `receiver` are NULL or valid
/// for one write each.
#[no_mangle]
pub unsafe extern "C" fn ipcring_pair(
    address: *const c_char,
    sender: *mut *mut ipcring_t,
    receiver: *mut *mut ipcring_t,
) -> c_int {
    guard(|| {
        let sender = out_ptr(sender, "sender")?;
        let receiver = out_ptr(receiver, "receiver")?;
        // SAFETY: the caller's contract.
        let addr = unsafe { parse_address(address) }?;
        if !addr.target().is_empty() {
            return Err(fail(
                IPCRING_EADDRESS,
                "ipcring_pair makes an anonymous channel: give shm:// or pipe:// without a name",
            ));
        }
        let (tx, rx) = pair_addr(&addr).map_err(err)?;
        let s = new_handle(Some(tx), None)?;
        let r = match new_handle(None, Some(rx)) {
            Ok(r) => r,
            Err(status) => {
                // SAFETY: `s` was opened just now and nobody else has it.
                drop(unsafe { close_handle(s) });
                return Err(status);
            }
        };
        // SAFETY: checked non-NULL; valid for a write each by the caller's contract.
        unsafe {
            sender.write(s);
            receiver.write(r);
        }
        Ok(IPCRING_OK)
    })
}

/// Attaches another endpoint of the same ring, with the same ends as `ch`, and writes it to
/// `*out`: one handle per thread or per child on an MPMC ring. An SPSC ring has one sender
/// and one receiver, so cloning one of its handles is `IPCRING_EBUSY`.
///
/// Thread safety: must not overlap another call on `ch`; the new handle is independent.
///
/// # Safety
/// `ch` is NULL or a handle from ipcring; `out` is NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn ipcring_clone(ch: *mut ipcring_t, out: *mut *mut ipcring_t) -> c_int {
    guard(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller's contract.
        let e = unsafe { ends(ch) }?;
        let tx = e.tx.as_ref().map(Sender::try_clone).transpose().map_err(err)?;
        let rx = e.rx.as_ref().map(Receiver::try_clone).transpose().map_err(err)?;
        let h = new_handle(tx, rx)?;
        // SAFETY: checked non-NULL; valid for a write by the caller's contract.
        unsafe { out.write(h) };
        Ok(IPCRING_OK)
    })
}

/// Sends the `len` bytes at `buf` as one message. `timeout_ns`: `IPCRING_FOREVER` (< 0)
/// waits for room as long as it takes, `IPCRING_NONBLOCK` (0) returns `IPCRING_EAGAIN` when
/// the channel is full, > 0 waits at most that many nanoseconds (`IPCRING_ETIMEDOUT`).
/// `len` > msg_size is `IPCRING_ETOOLARGE` and sends nothing; `IPCRING_EDISCONNECTED` when
/// every receiver has gone. `buf` may be NULL when `len` is 0 (an empty message).
///
/// Thread safety: calls on one handle must not overlap (use `ipcring_clone` for a handle per
/// thread); different handles may be used from different threads at once.
///
/// # Safety
/// `ch` is NULL or a handle from ipcring; `buf` is NULL or valid for `len` bytes of reads.
#[no_mangle]
pub unsafe extern "C" fn ipcring_send(ch: *mut ipcring_t, buf: *const c_void, len: usize, timeout_ns: i64) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let tx = sender(unsafe { ends(ch) }?)?;
        if len > tx.max_msg_size() {
            return Err(err(Error::TooLarge {
                len,
                max: tx.max_msg_size(),
            }));
        }
        // SAFETY: the caller's contract.
        let msg = unsafe { bytes(buf, len, "buf") }?;
        tx.send_with_timeout(msg, Timeout::from_nanos(timeout_ns))
            .map_err(err)?;
        Ok(IPCRING_OK)
    })
}

/// Receives one message into the `cap` bytes at `buf` and writes its length to `*len`. Returns
/// `IPCRING_EOF` once every sender has gone and the channel is drained. A message longer than
/// `cap` is `IPCRING_ETOOSMALL` and stays in the channel (a buffer of msg_size bytes, from
/// `ipcring_info`, always fits). `timeout_ns` as for `ipcring_send` (`IPCRING_EAGAIN` when
/// empty and non-blocking). End of stream lasts while no sender is attached: a sender that
/// attaches later makes the channel flow again. Where it would return `IPCRING_EOF`, it
/// returns `IPCRING_EDIED` if a sender died without closing since this receiver attached (the
/// stream may be incomplete; see the README's transport notes for what each transport can
/// tell). A receiver opened on a channel left by an earlier run waits for a sender (like a
/// FIFO's reader) unless that run left messages in it.
///
/// The receive loop: test for `IPCRING_OK`, not `>= 0` (`IPCRING_EOF` is 1, and `*len` is
/// written only on success, so a `>= 0` loop would reuse a stale length at end of stream):
///
/// ```c
/// int rc;
/// size_t len;
/// while ((rc = ipcring_recv(ch, buf, cap, &len, IPCRING_FOREVER)) == IPCRING_OK)
///     consume(buf, len);
/// if (rc == IPCRING_EDIED)
///     fprintf(stderr, "a sender crashed: the stream may be incomplete\n");
/// else if (rc != IPCRING_EOF)
///     fprintf(stderr, "ipcring_recv: %s: %s", ipcring_strerror(rc), ipcring_last_error());
/// ```
///
/// Signals do not interrupt a wait, in this call or any other (EINTR is retried inside,
/// keeping the deadline): to react to a signal, wait with a timeout and check a flag.
///
/// Thread safety: calls on one handle must not overlap; different handles may be used from
/// different threads at once.
///
/// # Safety
/// `ch` is NULL or a handle from ipcring; `buf` is NULL or valid for `cap` bytes of writes;
/// `len` is NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn ipcring_recv(
    ch: *mut ipcring_t,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    timeout_ns: i64,
) -> c_int {
    guard(|| {
        let len = out_ptr(len, "len")?;
        // SAFETY: the caller's contract.
        let rx = receiver(unsafe { ends(ch) }?)?;
        // SAFETY: the caller's contract.
        let buf = unsafe { bytes_mut(buf, cap, "buf") }?;
        let n = rx
            .recv_with_timeout(buf, Timeout::from_nanos(timeout_ns))
            .map_err(err)?;
        // SAFETY: checked non-NULL; valid for a write by the caller's contract.
        unsafe { len.write(n) };
        Ok(IPCRING_OK)
    })
}

/// Reserves the next slot for a zero-copy send, waiting for room as `timeout_ns` allows, and
/// writes its address to `*buf` and its size (msg_size) to `*cap`. Write the message there,
/// then `ipcring_commit` it or `ipcring_cancel` the reservation; until then other sends on
/// this handle are `IPCRING_ESTATE`.
///
/// Thread safety: calls on one handle must not overlap.
///
/// # Safety
/// `ch` is NULL or a handle from ipcring; `buf` and `cap` are NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn ipcring_reserve(
    ch: *mut ipcring_t,
    buf: *mut *mut c_void,
    cap: *mut usize,
    timeout_ns: i64,
) -> c_int {
    guard(|| {
        let buf = out_ptr(buf, "buf")?;
        let cap = out_ptr(cap, "cap")?;
        // SAFETY: the caller's contract.
        let e = unsafe { ends(ch) }?;
        let tx = sender(e)?;
        let (ptr, pos) = tx.reserve_raw(Timeout::from_nanos(timeout_ns)).map_err(err)?;
        let size = tx.max_msg_size();
        e.reserved = Some(pos);
        // SAFETY: checked non-NULL; valid for a write each by the caller's contract.
        unsafe {
            buf.write(ptr as *mut c_void);
            cap.write(size);
        }
        Ok(IPCRING_OK)
    })
}

/// Publishes the first `len` bytes of the slot from `ipcring_reserve` as one message.
/// `len` > msg_size is `IPCRING_ETOOLARGE` and leaves the reservation in place (commit a
/// shorter length or cancel); no reservation is `IPCRING_ESTATE`.
///
/// Thread safety: calls on one handle must not overlap.
///
/// # Safety
/// `ch` is NULL or a handle from ipcring.
#[no_mangle]
pub unsafe extern "C" fn ipcring_commit(ch: *mut ipcring_t, len: usize) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let e = unsafe { ends(ch) }?;
        let pos = e
            .reserved
            .ok_or_else(|| fail(IPCRING_ESTATE, "ipcring_commit without ipcring_reserve"))?;
        let tx =
            e.tx.as_mut()
                .ok_or_else(|| fail(IPCRING_EPANIC, "reservation without a sender"))?;
        tx.commit_raw(pos, len).map_err(err)?;
        e.reserved = None;
        Ok(IPCRING_OK)
    })
}

/// Gives up the slot from `ipcring_reserve` without sending anything (on an MPMC ring the
/// slot is skipped by receivers). No reservation is `IPCRING_ESTATE`.
///
/// Thread safety: calls on one handle must not overlap.
///
/// # Safety
/// `ch` is NULL or a handle from ipcring.
#[no_mangle]
pub unsafe extern "C" fn ipcring_cancel(ch: *mut ipcring_t) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let e = unsafe { ends(ch) }?;
        let pos = e
            .reserved
            .take()
            .ok_or_else(|| fail(IPCRING_ESTATE, "ipcring_cancel without ipcring_reserve"))?;
        if let Some(tx) = e.tx.as_mut() {
            tx.cancel_raw(pos);
        }
        Ok(IPCRING_OK)
    })
}

/// Waits (as `timeout_ns` allows) for the next message and writes its address in the ring
/// to `*buf` and its length to `*len`, without copying. The bytes stay valid and unchanged
/// until `ipcring_release`, which consumes the message; until then other receives on this
/// handle are `IPCRING_ESTATE`. `IPCRING_EOF` at end of stream.
///
/// Thread safety: calls on one handle must not overlap.
///
/// # Safety
/// `ch` is NULL or a handle from ipcring; `buf` and `len` are NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn ipcring_peek(
    ch: *mut ipcring_t,
    buf: *mut *const c_void,
    len: *mut usize,
    timeout_ns: i64,
) -> c_int {
    guard(|| {
        let buf = out_ptr(buf, "buf")?;
        let len = out_ptr(len, "len")?;
        // SAFETY: the caller's contract.
        let e = unsafe { ends(ch) }?;
        let rx = receiver(e)?;
        let (ptr, n, pos) = rx.peek_raw(Timeout::from_nanos(timeout_ns)).map_err(err)?;
        e.peeked = Some((pos, n));
        // SAFETY: checked non-NULL; valid for a write each by the caller's contract.
        unsafe {
            buf.write(ptr as *const c_void);
            len.write(n);
        }
        Ok(IPCRING_OK)
    })
}

/// Consumes the message from `ipcring_peek`, freeing its slot for senders. No outstanding
/// peek is `IPCRING_ESTATE`.
///
/// Thread safety: calls on one handle must not overlap.
///
/// # Safety
/// `ch` is NULL or a handle from ipcring.
#[no_mangle]
pub unsafe extern "C" fn ipcring_release(ch: *mut ipcring_t) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let e = unsafe { ends(ch) }?;
        let (pos, n) = e
            .peeked
            .take()
            .ok_or_else(|| fail(IPCRING_ESTATE, "ipcring_release without ipcring_peek"))?;
        if let Some(rx) = e.rx.as_mut() {
            rx.release_raw(pos, n);
        }
        Ok(IPCRING_OK)
    })
}

/// Sends the `count` messages of `msgs` in order, publishing each run that fits at once,
/// and writes how many were sent to `*sent`: all of them, or fewer if the wait for room
/// ended after at least one was sent. If none could be sent the call fails
/// (`IPCRING_EAGAIN`, `IPCRING_ETIMEDOUT`, ...). Every length is checked first: one larger
/// than msg_size is `IPCRING_ETOOLARGE` with nothing sent. On an SPSC ring each run that
/// fits becomes visible to the receiver at once; on MPMC, message by message.
///
/// Thread safety: calls on one handle must not overlap.
///
/// # Safety
/// `ch` is NULL or a handle from ipcring; `msgs` is NULL or valid for `count` entries, each
/// `data` NULL or valid for `len` bytes; `sent` is NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn ipcring_send_batch(
    ch: *mut ipcring_t,
    msgs: *const ipcring_msg_t,
    count: usize,
    sent: *mut usize,
    timeout_ns: i64,
) -> c_int {
    guard(|| {
        let sent = out_ptr(sent, "sent")?;
        // SAFETY: the caller's contract.
        let tx = sender(unsafe { ends(ch) }?)?;
        if count == 0 {
            // SAFETY: checked non-NULL; valid for a write by the caller's contract.
            unsafe { sent.write(0) };
            return Ok(IPCRING_OK);
        }
        if msgs.is_null() {
            return Err(fail(IPCRING_EINVAL, &format!("msgs is NULL but count is {count}")));
        }
        if count > isize::MAX as usize / std::mem::size_of::<ipcring_msg_t>() {
            return Err(fail(IPCRING_EINVAL, &format!("count {count} is larger than any array")));
        }
        // SAFETY: non-NULL, valid for `count` entries by the caller's contract; BatchMsg is
        // a transparent wrapper of ipcring_msg_t.
        let batch = unsafe { std::slice::from_raw_parts(msgs as *const BatchMsg, count) };
        for (i, m) in batch.iter().enumerate() {
            if m.0.len > 0 && m.0.data.is_null() {
                return Err(fail(
                    IPCRING_EINVAL,
                    &format!("msgs[{i}].data is NULL but len is {}", m.0.len),
                ));
            }
            if m.0.len > isize::MAX as usize {
                return Err(fail(
                    IPCRING_EINVAL,
                    &format!("msgs[{i}].len is larger than any buffer"),
                ));
            }
        }
        let n = tx.send_batch(batch, Timeout::from_nanos(timeout_ns)).map_err(err)?;
        // SAFETY: checked non-NULL; valid for a write by the caller's contract.
        unsafe { sent.write(n) };
        Ok(IPCRING_OK)
    })
}

/// Receives up to `max` messages, waiting (as `timeout_ns` allows) for the first: message
/// `i` is copied to `buf + i * stride` and its length written to `lens[i]`; the number
/// received (≥ 1) goes to `*count`. `stride` must be at least the channel's msg_size
/// (`IPCRING_ETOOSMALL` otherwise, nothing taken). `max` 0 returns at once with `*count` 0.
/// `IPCRING_EOF` at end of stream.
///
/// Thread safety: calls on one handle must not overlap.
///
/// # Safety
/// `ch` is NULL or a handle from ipcring; `buf` is NULL or valid for `stride * max` bytes of
/// writes; `lens` is NULL or valid for `max` writes; `count` is NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn ipcring_recv_batch(
    ch: *mut ipcring_t,
    buf: *mut c_void,
    stride: usize,
    max: usize,
    lens: *mut usize,
    count: *mut usize,
    timeout_ns: i64,
) -> c_int {
    guard(|| {
        let count = out_ptr(count, "count")?;
        // SAFETY: the caller's contract.
        let rx = receiver(unsafe { ends(ch) }?)?;
        if max == 0 {
            // SAFETY: checked non-NULL; valid for a write by the caller's contract.
            unsafe { count.write(0) };
            return Ok(IPCRING_OK);
        }
        let lens = out_ptr(lens, "lens")?;
        let need = rx.max_msg_size();
        if stride < need {
            return Err(fail(
                IPCRING_ETOOSMALL,
                &format!("stride {stride} is smaller than the ring's msg_size {need}"),
            ));
        }
        let total = stride
            .checked_mul(max)
            .ok_or_else(|| fail(IPCRING_EINVAL, "stride * max overflows"))?;
        // SAFETY: the caller's contract (valid for stride * max bytes).
        let out = unsafe { bytes_mut(buf, total, "buf") }?;
        if max > isize::MAX as usize / std::mem::size_of::<usize>() {
            return Err(fail(IPCRING_EINVAL, &format!("max {max} is larger than any array")));
        }
        // SAFETY: non-NULL, valid for `max` writes by the caller's contract.
        let lens = unsafe { std::slice::from_raw_parts_mut(lens, max) };
        let mut i = 0;
        let n = rx
            .recv_batch(max, Timeout::from_nanos(timeout_ns), |m| {
                out[i * stride..i * stride + m.len()].copy_from_slice(m);
                lens[i] = m.len();
                i += 1;
            })
            .map_err(err)?;
        // SAFETY: checked non-NULL; valid for a write by the caller's contract.
        unsafe { count.write(n) };
        Ok(IPCRING_OK)
    })
}

/// Writes the handle's counters (messages and bytes each way, parks, wake-ups, system calls)
/// to `*out`.
///
/// Size rule: set `out->size` to `sizeof(ipcring_stats_t)` before the call (`ipcring_stats_t st
/// = IPCRING_STATS_INIT;`). A size smaller than the first version of the struct (64 bytes on a
/// 64-bit target) is `IPCRING_EINVAL` with nothing written. Otherwise the library writes
/// min(`out->size`, the size it knows) bytes and sets `out->size` to that number: a program
/// built against a newer header, with more fields, gets the fields this library knows and the
/// rest of its struct untouched.
///
/// Thread safety: calls on one handle must not overlap.
///
/// # Safety
/// `ch` is NULL or a handle from ipcring; `out` is NULL or points at an `ipcring_stats_t`
/// whose `size` is set, valid for `size` bytes of writes.
#[no_mangle]
pub unsafe extern "C" fn ipcring_stats(ch: *mut ipcring_t, out: *mut ipcring_stats_t) -> c_int {
    guard(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller's contract.
        let e = unsafe { ends(ch) }?;
        // SAFETY: checked non-NULL; the caller's contract.
        let n = unsafe { out_size(out) }?;
        let mut s = ipcring_stats_t::default();
        if let Some(tx) = &e.tx {
            let t = tx.stats();
            (s.sent_messages, s.sent_bytes, s.parks, s.wakes) = (t.messages, t.bytes, t.parks, t.wakes);
            s.syscalls = t.syscalls;
        }
        if let Some(rx) = &e.rx {
            let r = rx.stats();
            (s.received_messages, s.received_bytes) = (r.messages, r.bytes);
            s.parks += r.parks;
            s.wakes += r.wakes;
            s.syscalls += r.syscalls;
        }
        // SAFETY: checked non-NULL; valid for n ≤ size bytes of writes by the caller's contract.
        unsafe { write_sized(out, s, n) };
        Ok(IPCRING_OK)
    })
}

/// Writes the channel's capacity, msg_size, mode, wake backend, the messages queued now, the
/// ends this handle holds and the transport to `*out`.
///
/// Size rule: set `out->size` to `sizeof(ipcring_info_t)` before the call (`ipcring_info_t info
/// = IPCRING_INFO_INIT;`). A size smaller than the first version of the struct (48 bytes on a
/// 64-bit target) is `IPCRING_EINVAL` with nothing written. Otherwise the library writes
/// min(`out->size`, the size it knows) bytes and sets `out->size` to that number: a program
/// built against a newer header, with more fields, gets the fields this library knows and the
/// rest of its struct untouched.
///
/// Thread safety: calls on one handle must not overlap.
///
/// # Safety
/// `ch` is NULL or a handle from ipcring; `out` is NULL or points at an `ipcring_info_t`
/// whose `size` is set, valid for `size` bytes of writes.
#[no_mangle]
pub unsafe extern "C" fn ipcring_info(ch: *mut ipcring_t, out: *mut ipcring_info_t) -> c_int {
    guard(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller's contract.
        let e = unsafe { ends(ch) }?;
        // SAFETY: checked non-NULL; the caller's contract.
        let n = unsafe { out_size(out) }?;
        let (g, capacity, queued, msg_size, transport) = match (&e.tx, &e.rx) {
            (_, Some(rx)) => (
                rx.geometry(),
                rx.capacity(),
                rx.queued(),
                rx.max_msg_size(),
                rx.transport(),
            ),
            (Some(tx), None) => (
                tx.geometry(),
                tx.capacity(),
                tx.queued(),
                tx.max_msg_size(),
                tx.transport(),
            ),
            (None, None) => return Err(fail(IPCRING_EBADHANDLE, "handle holds no end")),
        };
        let info = ipcring_info_t {
            size: 0,
            capacity: capacity.unwrap_or(0),
            msg_size: msg_size as u64,
            queued: queued.unwrap_or(0),
            mode: match g.map(|g| g.kind) {
                Some(Kind::Mpmc) => IPCRING_MODE_MPMC,
                _ => IPCRING_MODE_SPSC,
            },
            wake: match g.map(|g| g.wake) {
                Some(WakeBackend::Sem) => IPCRING_WAKE_SEM,
                _ => IPCRING_WAKE_FUTEX,
            },
            ends: if e.tx.is_some() { IPCRING_SEND } else { 0 } | if e.rx.is_some() { IPCRING_RECV } else { 0 },
            bytes: g.map_or(0, |g| g.bytes),
            transport: match transport {
                Transport::Shm => IPCRING_TRANSPORT_SHM,
                Transport::Pipe => IPCRING_TRANSPORT_PIPE,
                Transport::Fifo => IPCRING_TRANSPORT_FIFO,
                Transport::Mq => IPCRING_TRANSPORT_MQ,
                Transport::Unix => IPCRING_TRANSPORT_UNIX,
                Transport::Tcp => IPCRING_TRANSPORT_TCP,
                Transport::Nats => IPCRING_TRANSPORT_NATS,
                _ => IPCRING_TRANSPORT_SHM,
            },
        };
        // SAFETY: checked non-NULL; valid for n ≤ size bytes of writes by the caller's contract.
        unsafe { write_sized(out, info, n) };
        Ok(IPCRING_OK)
    })
}

/// Interrupts the call blocked on `ch` in another thread: that call returns `IPCRING_EINTR`
/// at once, having sent or received nothing, and the handle stays usable. If no call on `ch`
/// is waiting, the next call on `ch` that would have to wait returns `IPCRING_EINTR` instead
/// (once: repeated interrupts before it do not add up); calls that complete without waiting
/// (a message or room is there, `IPCRING_NONBLOCK`) are not affected. On a handle opened for
/// both directions, both are interrupted: the direction that was not waiting keeps its
/// interrupt until a call in that direction has to wait. Returns 0 (or the status of a bad
/// handle).
///
/// Thread safety: the one call that may overlap another call on the same handle (that is its
/// purpose): call it from any thread while `ch` is blocked in `ipcring_send`, `ipcring_recv`,
/// their batch or zero-copy forms. It must not overlap `ipcring_close(ch)`, and is not
/// async-signal-safe: from a signal handler, wake a thread that calls it (e.g. with a
/// self-pipe).
///
/// # Safety
/// `ch` is NULL or a handle from ipcring, not being closed.
#[no_mangle]
pub unsafe extern "C" fn ipcring_interrupt(ch: *mut ipcring_t) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        for i in unsafe { interrupters(ch) }? {
            i.interrupt();
        }
        Ok(IPCRING_OK)
    })
}

/// Closes the handle: detaches its ends (the last sender's close is the receivers'
/// end-of-stream; the last receiver's close makes senders' calls `IPCRING_EDISCONNECTED`),
/// unmaps the ring (or closes the descriptors), and invalidates `ch`. An outstanding
/// reservation is cancelled; an outstanding peek is consumed on an MPMC ring and left in the
/// ring on an SPSC ring. `ipcring_close(NULL)` does nothing and returns 0; closing a closed
/// handle is `IPCRING_ECLOSED` (see "use after close" in docs/c-api.md). A named channel stays
/// until `ipcring_unlink`.
///
/// Thread safety: must not overlap any other call on the same handle.
///
/// # Safety
/// `ch` is NULL or a handle from ipcring.
#[no_mangle]
pub unsafe extern "C" fn ipcring_close(ch: *mut ipcring_t) -> c_int {
    guard(|| {
        if ch.is_null() {
            return Ok(IPCRING_OK);
        }
        // SAFETY: the caller's contract.
        let e = unsafe { ends(ch) }?;
        if let (Some(pos), Some(tx)) = (e.reserved.take(), e.tx.as_mut()) {
            tx.cancel_raw(pos);
        }
        // SAFETY: `ends` checked the pointer and that the handle is open; the caller's
        // contract says no other call on it is running.
        if let Some(mut e) = unsafe { close_handle(ch) } {
            if let (Some((pos, n)), Some(rx)) = (e.peeked.take(), e.rx.as_mut()) {
                if rx.peek_consumes() {
                    rx.release_raw(pos, n);
                }
            }
            drop(e);
        }
        Ok(IPCRING_OK)
    })
}

/// Removes the channel's name: a ring (`shm://NAME`), FIFO, queue (and its companion lock
/// file) or socket path. Processes that have it open keep using it; a ring or queue is freed
/// when the last one closes. `IPCRING_ENOENT` if there is no such object; `IPCRING_EADDRESS`
/// for `tcp://` and anonymous addresses (nothing to remove).
///
/// Thread safety: may be called from any thread at any time.
///
/// # Safety
/// `address` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ipcring_unlink(address: *const c_char) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let addr = unsafe { parse_address(address) }?;
        named(&addr, "ipcring_unlink")?;
        let text = format!("{}://{}", addr.transport().scheme(), addr.target());
        unlink_addr(&addr).map_err(err_at(&text))?;
        Ok(IPCRING_OK)
    })
}

/// Removes the channel's name, like `ipcring_unlink`, unless it is in use: a ring
/// (`shm://NAME`) with a live sender or receiver in any process, or whose creator is still
/// initialising it, or a queue (`mq://NAME`) with a live ipcring endpoint, is
/// `IPCRING_EINUSE` and stays. Endpoints and creators that died do not count (the kernel
/// says who is alive; a stopped process is alive), so this is how a crashed application's
/// leftovers are cleaned up. `flags`: 0 or `IPCRING_REMOVE_FORCE` (remove it anyway).
/// Two removes racing on one ring never remove a new ring made under the name meanwhile (the
/// loser gets `IPCRING_ENOENT`); `IPCRING_EBUSY` if another remove kept the ring busy for a
/// while. `fifo://` and `unix://` are removed as by `ipcring_unlink` (no liveness check).
///
/// Thread safety: may be called from any thread at any time.
///
/// # Safety
/// `address` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ipcring_remove(address: *const c_char, flags: u32) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let addr = unsafe { parse_address(address) }?;
        if flags & !IPCRING_REMOVE_FORCE != 0 {
            return Err(fail(
                IPCRING_EINVAL,
                &format!("unknown ipcring_remove flags {:#x}", flags & !IPCRING_REMOVE_FORCE),
            ));
        }
        named(&addr, "ipcring_remove")?;
        let text = format!("{}://{}", addr.transport().scheme(), addr.target());
        remove_addr(&addr, flags & IPCRING_REMOVE_FORCE != 0).map_err(err_at(&text))?;
        Ok(IPCRING_OK)
    })
}

/// The library's version, e.g. "0.2.0" (the header's `IPCRING_VERSION` when they match).
///
/// Thread safety: may be called from any thread at any time.
#[no_mangle]
pub extern "C" fn ipcring_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}
