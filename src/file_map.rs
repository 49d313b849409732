//! Shared read-only mappings of the files applications return through
//! `wsgi.file_wrapper`, for hosts that send them from memory.
//!
//! Without `sendfile`, Apache's core output filter maps a file bucket with
//! `mmap`, copies it into the socket and unmaps it: per response one
//! `mmap`, one `munmap` and a page fault per 16 pages, and every response
//! in flight maps its own copy (each counted in the process's RSS). This
//! cache maps a file once per process and hands every response a pointer
//! into that one mapping, counted by reference:
//!
//! - entries are keyed by (device, inode) and checked on every use against
//!   the file's size, mtime and ctime (one `fstat` of the application's
//!   descriptor), so a replaced or resized file gets a new mapping; the
//!   mapping is `MAP_SHARED`, so in-place edits show as they do through
//!   Apache's own mapping;
//! - a replaced entry, or one evicted to stay within [`MAX_ENTRIES`] /
//!   [`MAX_MAPPED_BYTES`], is unmapped when its last response releases it;
//!   the mapping of a file replaced by a rename (a new inode) cannot be
//!   told from a live one, so an entry unused for [`MAX_IDLE`] is dropped
//!   at the next mapping call;
//! - only regular files of 1 byte to [`MAX_FILE_BYTES`] are mapped (APR's
//!   own limit for mapping a file bucket); hosts send others as before.
//!
//! As with Apache's mapping, a file truncated while a response is being
//! sent from it makes the reading thread fault (SIGBUS); `EnableMMAP Off`
//! is the administrator's switch for file systems where that can happen,
//! and the Apache module honours it by not calling here.

use parking_lot::Mutex;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// Files larger than this are not mapped (APR's `APR_MMAP_LIMIT`).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Most files kept mapped at once.
pub const MAX_ENTRIES: usize = 16;
/// Most bytes kept mapped at once (entries still in use may exceed it
/// until released).
pub const MAX_MAPPED_BYTES: u64 = 32 * 1024 * 1024;
/// An entry nobody used for this long is unmapped at the next [`map`].
pub const MAX_IDLE: Duration = Duration::from_secs(30);

/// What identifies one version of a file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Version {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// One mapping of a whole file.
struct Mapping {
    version: Version,
    base: usize,
    len: usize,
    /// Responses holding a pointer into it.
    users: usize,
    /// False once replaced or evicted: unmapped when `users` drops to 0.
    cached: bool,
    /// For eviction: larger is more recent.
    last_use: u64,
    /// When it was last handed out.
    used_at: Instant,
}

impl Mapping {
    fn contains(&self, address: usize) -> bool {
        address >= self.base && address < self.base + self.len
    }
}

struct Cache {
    mappings: Vec<Mapping>,
    clock: u64,
}

static CACHE: Mutex<Cache> = Mutex::new(Cache {
    mappings: Vec::new(),
    clock: 0,
});

/// Why a file was not mapped (the host then sends it another way).
#[derive(Debug, PartialEq, Eq)]
pub enum NotMapped {
    /// Not a regular file, empty, larger than [`MAX_FILE_BYTES`], or the
    /// range runs past its end.
    Unsuitable,
    /// `fstat` or `mmap` failed.
    System(std::io::ErrorKind),
}

/// The file behind `fd`, if it may be mapped.
fn version_of(fd: RawFd) -> Result<Version, NotMapped> {
    // SAFETY: fstat writes into the zeroed struct we own; an invalid
    // descriptor only makes it fail.
    let st = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 {
            return Err(NotMapped::System(std::io::Error::last_os_error().kind()));
        }
        st
    };
    let size = st.st_size as u64;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG || size == 0 || size > MAX_FILE_BYTES {
        return Err(NotMapped::Unsuitable);
    }
    Ok(Version {
        dev: st.st_dev,
        ino: st.st_ino,
        size,
        mtime: (st.st_mtime, st.st_mtime_nsec),
        ctime: (st.st_ctime, st.st_ctime_nsec),
    })
}

/// Unmaps a mapping nobody uses any more.
fn unmap(mapping: &Mapping) {
    // SAFETY: `base`/`len` came from our own successful mmap, and no
    // response holds a pointer into it (`users` is 0).
    unsafe { libc::munmap(mapping.base as *mut libc::c_void, mapping.len) };
}

impl Cache {
    /// Drops unused entries that are no longer cached or idle for
    /// [`MAX_IDLE`], then evicts the least recently used entries beyond
    /// the limits.
    fn trim(&mut self, now: Instant) {
        self.mappings.retain(|m| {
            let idle = m.users == 0 && now.duration_since(m.used_at) > MAX_IDLE;
            let keep = (m.cached && !idle) || m.users > 0;
            if !keep {
                unmap(m);
            }
            keep
        });
        loop {
            let cached = self.mappings.iter().filter(|m| m.cached);
            let (count, bytes) = cached.fold((0, 0u64), |(n, b), m| (n + 1, b + m.len as u64));
            if count <= MAX_ENTRIES && bytes <= MAX_MAPPED_BYTES {
                return;
            }
            let Some(oldest) = self
                .mappings
                .iter()
                .enumerate()
                .filter(|(_, m)| m.cached)
                .min_by_key(|(_, m)| m.last_use)
                .map(|(i, _)| i)
            else {
                return;
            };
            let mapping = &mut self.mappings[oldest];
            mapping.cached = false;
            if mapping.users == 0 {
                unmap(mapping);
                self.mappings.swap_remove(oldest);
            }
        }
    }
}

/// `len` bytes at `offset` of the file open on `fd`, from the process's
/// shared mapping of it. The pointer stays valid until passed to
/// [`release`] (exactly once). `fd` is only examined: its position is not
/// moved and it may be closed at once.
pub fn map(fd: RawFd, offset: u64, len: u64) -> Result<*const u8, NotMapped> {
    let version = version_of(fd)?;
    if len == 0 || offset.checked_add(len).is_none_or(|end| end > version.size) {
        return Err(NotMapped::Unsuitable);
    }
    let mut cache = CACHE.lock();
    cache.clock += 1;
    let now = cache.clock;
    let instant = Instant::now();
    let key = (version.dev, version.ino);
    if let Some(found) = cache
        .mappings
        .iter_mut()
        .find(|m| m.cached && (m.version.dev, m.version.ino) == key)
    {
        if found.version == version {
            found.users += 1;
            found.last_use = now;
            found.used_at = instant;
            let data = (found.base + offset as usize) as *const u8;
            cache.trim(instant);
            return Ok(data);
        }
        // The file changed: later responses get a new mapping.
        found.cached = false;
    }
    // SAFETY: a read-only shared mapping of a regular file's current size;
    // failure is reported and nothing else is touched.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            version.size as usize,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(NotMapped::System(std::io::Error::last_os_error().kind()));
    }
    cache.mappings.push(Mapping {
        version,
        base: base as usize,
        len: version.size as usize,
        users: 1,
        cached: true,
        last_use: now,
        used_at: instant,
    });
    cache.trim(instant);
    Ok((base as usize + offset as usize) as *const u8)
}

/// Gives back a pointer [`map`] returned (any address inside the same
/// mapping is accepted). False if no mapping holds it.
pub fn release(data: *const u8) -> bool {
    let address = data as usize;
    let mut cache = CACHE.lock();
    let Some(index) = cache
        .mappings
        .iter()
        .position(|m| m.users > 0 && m.contains(address))
    else {
        return false;
    };
    let mapping = &mut cache.mappings[index];
    mapping.users -= 1;
    if mapping.users == 0 && !mapping.cached {
        unmap(mapping);
        cache.mappings.swap_remove(index);
    }
    true
}

/// Applies the limits as [`map`] would at `now` (tests use a time past
/// [`MAX_IDLE`] to see idle entries go).
pub fn trim_at(now: Instant) {
    CACHE.lock().trim(now);
}

/// How many files are mapped and how many bytes (cached or still in use),
/// for tests and diagnostics.
pub fn stats() -> (usize, u64) {
    let cache = CACHE.lock();
    (
        cache.mappings.len(),
        cache.mappings.iter().map(|m| m.len as u64).sum(),
    )
}
