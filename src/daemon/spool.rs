//! The spool: a shared-memory ring per proxy connection that carries large
//! response blocks from the daemon to the worker without copying them
//! through the socket (`Spool` frames, [`crate::daemon::protocol`]).
//!
//! Through the socket a block costs three copies (into the socket, out of
//! it, into the client's TCP socket) plus the socket's buffer management.
//! Through the spool it costs two: the daemon copies the block into the
//! ring ([`Ring::write`]), the worker hands the mapped range to the host as
//! an ordinary write (Apache copies it into the client socket).
//!
//! The ring is a memory file (`memfd_create`) of [`RING_LEN`] bytes, made
//! by the daemon on a connection's first large block, sealed against
//! shrinking (so the worker's read-only mapping can never fault with
//! `SIGBUS`) and passed once with `SCM_RIGHTS`; both sides keep it mapped
//! for the connection's life, across kept-alive requests, so its pages are
//! allocated once, not per request. Why not a fresh memory file per
//! response, sent with `sendfile`: measured on `big`, allocating, charging
//! and freeing 256 page-cache pages per MiB cost more than the two copies
//! saved (941 req/s against 1,580 through the socket); and a ring's pages
//! cannot be handed to `sendfile`, which references them in the client
//! socket's queue after it returns, so a reused page could change bytes
//! not yet sent.
//!
//! The ring is two halves of [`SEGMENT`] bytes. Every request starts at
//! offset 0 (the worker sends the next request only after it finished the
//! previous response); frames never cross a half; the first frame of every
//! later segment carries the sync flag, which the worker answers with
//! `SpoolDone` when it reaches that frame (every earlier range is sent).
//! The daemon writes into segment `s ≥ 2` only after the `SpoolDone` of
//! segment `s − 1`, which says segment `s − 2` (the same half) is free. So
//! at most [`RING_LEN`] bytes are ahead of the client per request (plus
//! what the client's TCP socket buffers), and a response of up to
//! [`RING_LEN`] never waits. (A 512 KiB ring cost `big`, 1 MiB per
//! response, a fifth of its throughput in those waits.)
//!
//! Memory: a ring's pages are allocated when it is made (so writing or
//! reading the mapping can never fault for want of memory) and stay while
//! the connection is kept, mapped in both processes (so both RSS figures
//! count them). A daemon process holds at most
//! [`RINGS_PER_THREAD`] × threads rings; connections beyond that send
//! large blocks through the socket.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Size of a connection's ring.
pub const RING_LEN: usize = 1 << 20;
/// Half of the ring: the unit of flow control.
pub const SEGMENT: usize = RING_LEN / 2;
/// Largest ring a worker maps.
const MAX_VIEW: usize = 64 << 20;
/// Rings a daemon process may hold per request thread (kept connections
/// outnumber threads: Apache's threads each keep one).
pub const RINGS_PER_THREAD: usize = 4;

/// Rings alive in this process, and how many may be (0: not set, 64).
static LIVE: AtomicUsize = AtomicUsize::new(0);
static LIMIT: AtomicUsize = AtomicUsize::new(0);

/// Sets how many rings this process may hold at once. A daemon process
/// serves once; where several serve loops share a process (tests), the
/// largest limit applies.
pub fn set_limit(rings: usize) {
    LIMIT.fetch_max(rings.max(1), Ordering::AcqRel);
}

/// One ring counted against the limit; released on drop.
struct Slot;

impl Slot {
    fn take() -> Option<Slot> {
        let limit = match LIMIT.load(Ordering::Acquire) {
            0 => 64,
            n => n,
        };
        LIVE.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < limit).then_some(n + 1)
        })
        .ok()
        .map(|_| Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The daemon's side of a ring: read-write mapping, and whether the worker
/// has the descriptor already.
pub struct Ring {
    fd: OwnedFd,
    map: NonNull<u8>,
    _slot: Slot,
    /// The worker received the descriptor (with an earlier `Spool` frame).
    pub passed: bool,
}

// SAFETY: the mapping is owned by the ring and only written through
// `&mut self`; moving it to another thread is fine.
unsafe impl Send for Ring {}

impl Ring {
    /// A fresh ring; `None` if the process holds as many as it may, or a
    /// memory file cannot be made, sized, sealed or mapped (descriptor or
    /// memory limits): large blocks then go through the socket.
    pub fn new() -> Option<Ring> {
        let slot = Slot::take()?;
        // SAFETY: a NUL-terminated name and valid flags.
        let raw = unsafe {
            libc::memfd_create(
                c"wsgirt-spool".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        };
        if raw < 0 {
            return None;
        }
        // SAFETY: a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // Allocated up front (fallocate, not only sized): a page the kernel
        // could not allocate on first touch would be SIGBUS in the daemon
        // (or the worker); here it is an error, and the socket is used.
        // SAFETY: plain calls on a descriptor we own.
        let ready = unsafe {
            libc::fallocate(fd.as_raw_fd(), 0, 0, RING_LEN as libc::off_t) == 0
                && libc::fcntl(
                    fd.as_raw_fd(),
                    libc::F_ADD_SEALS,
                    libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL,
                ) == 0
        };
        if !ready {
            return None;
        }
        // SAFETY: maps the whole file, which has RING_LEN bytes and can no
        // longer shrink.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                RING_LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return None;
        }
        Some(Ring {
            fd,
            map: NonNull::new(map.cast())?,
            _slot: slot,
            passed: false,
        })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Copies `data` to `offset` (`offset + data.len()` ≤ [`RING_LEN`]).
    pub fn write(&mut self, offset: usize, data: &[u8]) {
        assert!(offset <= RING_LEN && data.len() <= RING_LEN - offset);
        // SAFETY: within the mapping (checked above); `data` is a live
        // slice of the caller's, never inside the ring. The worker maps the
        // file read-only and, by the protocol, is not reading this range
        // (it was released with `SpoolDone`, or never used in this request).
        unsafe { copy_streaming(data.as_ptr(), self.map.as_ptr().add(offset), data.len()) }
    }
}

/// Copies `len` bytes with non-temporal stores where the CPU has them:
/// the ring's lines are read next by the worker's kernel copy into the
/// client socket, not by this thread, so fetching them into the cache
/// first (a normal store's read-for-ownership) only costs time.
///
/// # Safety
/// `src` readable and `dst` writable for `len` bytes, not overlapping.
unsafe fn copy_streaming(src: *const u8, dst: *mut u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: per the contract; SSE2 is part of x86_64. Unaligned loads,
    // stores only to 16-byte aligned addresses inside `dst..dst + len`;
    // the fence orders the streaming stores before the frame that
    // announces them is sent.
    unsafe {
        use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_sfence, _mm_stream_si128};
        let head = dst.align_offset(16).min(len);
        std::ptr::copy_nonoverlapping(src, dst, head);
        let mut at = head;
        while len - at >= 64 {
            let s = src.add(at).cast::<__m128i>();
            let d = dst.add(at).cast::<__m128i>();
            let (a, b, c, e) = (
                _mm_loadu_si128(s),
                _mm_loadu_si128(s.add(1)),
                _mm_loadu_si128(s.add(2)),
                _mm_loadu_si128(s.add(3)),
            );
            _mm_stream_si128(d, a);
            _mm_stream_si128(d.add(1), b);
            _mm_stream_si128(d.add(2), c);
            _mm_stream_si128(d.add(3), e);
            at += 64;
        }
        std::ptr::copy_nonoverlapping(src.add(at), dst.add(at), len - at);
        _mm_sfence();
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: per the contract.
    unsafe {
        std::ptr::copy_nonoverlapping(src, dst, len)
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`.
        unsafe { libc::munmap(self.map.as_ptr().cast(), RING_LEN) };
    }
}

/// The worker's side of a ring: a read-only mapping of the memory file
/// passed by the daemon.
pub struct View {
    map: NonNull<u8>,
    len: usize,
}

// SAFETY: a read-only mapping owned by the view.
unsafe impl Send for View {}

impl View {
    /// Maps a ring descriptor received from the daemon. Refused unless it
    /// is a memory file sealed against shrinking (a file that could shrink
    /// would turn reads of the mapping into `SIGBUS`) of a sane size.
    pub fn map(fd: &OwnedFd) -> Result<View, &'static str> {
        // SAFETY: plain calls on a descriptor we own; the stat is zeroed.
        let (seals, st) = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(fd.as_raw_fd(), &mut st) != 0 {
                return Err("the spool descriptor cannot be inspected");
            }
            (libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS), st)
        };
        if st.st_mode & libc::S_IFMT != libc::S_IFREG
            || seals < 0
            || seals & libc::F_SEAL_SHRINK == 0
        {
            return Err("the spool descriptor is not a memory file sealed against shrinking");
        }
        let len = st.st_size as usize;
        if len == 0 || len > MAX_VIEW {
            return Err("the spool has an unexpected size");
        }
        // SAFETY: maps `len` bytes of a file that has them and cannot shrink.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err("the spool cannot be mapped");
        }
        Ok(View {
            map: NonNull::new(map.cast()).ok_or("the spool cannot be mapped")?,
            len,
        })
    }

    /// The bytes at `offset..offset + len`, or `None` outside the ring.
    pub fn range(&self, offset: u64, len: u64) -> Option<&[u8]> {
        let end = offset.checked_add(len)?;
        if end > self.len as u64 {
            return None;
        }
        // SAFETY: within the mapping (checked above), which lives as long
        // as `self`. The daemon writes a range only after the worker
        // released it (`SpoolDone`), and the worker only hands these bytes
        // to the host to send, so even a misbehaving daemon can only change
        // which bytes are sent.
        Some(unsafe {
            std::slice::from_raw_parts(self.map.as_ptr().add(offset as usize), len as usize)
        })
    }
}

impl Drop for View {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`.
        unsafe { libc::munmap(self.map.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_is_seen_by_a_view_of_its_descriptor() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let mut ring = Ring::new().expect("memfd");
        ring.write(SEGMENT - 3, b"abcdef");
        // Every alignment and length around the 64-byte streaming loop.
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for offset in 0..20 {
            for len in [0, 1, 15, 16, 17, 63, 64, 65, 127, 128, 129, 200, 300] {
                ring.write(4096 + offset * 512, &data[..len]);
            }
        }
        // SAFETY: dup of a live descriptor.
        let dup = unsafe { OwnedFd::from_raw_fd(libc::dup(ring.raw_fd())) };
        let view = View::map(&dup).unwrap();
        assert_eq!(view.range(SEGMENT as u64 - 3, 6), Some(&b"abcdef"[..]));
        for offset in 0..20u64 {
            let at = 4096 + offset * 512;
            assert_eq!(view.range(at, 300), Some(&data[..]), "offset {offset}");
        }
        assert_eq!(view.range(RING_LEN as u64 - 1, 1), Some(&[0u8][..]));
        assert_eq!(view.range(RING_LEN as u64, 1), None);
        assert_eq!(view.range(u64::MAX, 2), None);
    }

    /// The tests that make rings run one at a time (they share the count).
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn rings_are_limited_per_process() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let live = LIVE.load(Ordering::Acquire);
        let saved = LIMIT.swap(live + 2, Ordering::AcqRel);
        let a = Ring::new().expect("first");
        let b = Ring::new().expect("second");
        assert!(Ring::new().is_none(), "over the limit");
        drop(a);
        let c = Ring::new().expect("a freed slot is reused");
        drop((b, c));
        LIMIT.store(saved, Ordering::Release);
    }

    #[test]
    fn a_view_refuses_files_that_could_shrink() {
        let file = std::fs::File::open("/proc/self/exe").unwrap();
        let fd: OwnedFd = file.into();
        assert!(View::map(&fd).is_err());
        // SAFETY: a NUL-terminated name and valid flags.
        let raw = unsafe { libc::memfd_create(c"t".as_ptr(), libc::MFD_CLOEXEC) };
        // SAFETY: a new descriptor.
        let unsealed = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: a descriptor we own.
        assert_eq!(unsafe { libc::ftruncate(unsealed.as_raw_fd(), 4096) }, 0);
        assert!(View::map(&unsealed).is_err());
    }
}
