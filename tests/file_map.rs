//! `wsgirt_file_map` / `wsgirt_file_release`: one shared mapping per file,
//! a new one when the file changes, the old one valid until released, and
//! the files it refuses. The cache is process-wide, so the tests that count
//! mappings run one at a time.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use wsgirt::capi::file_map::{wsgirt_file_map, wsgirt_file_release};
use wsgirt::capi::status::wsgirt_status::{self, *};
use wsgirt::file_map;

/// Serialises the tests that look at the cache's totals.
static CACHE_TESTS: Mutex<()> = Mutex::new(());

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wsgirt-file-map-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Serializes the cache tests and starts each with an empty cache: entries
/// an earlier test left (up to `MAX_ENTRIES`) would otherwise be evicted
/// by this test's mappings and upset its counts.
fn fresh_cache() -> std::sync::MutexGuard<'static, ()> {
    let serial = CACHE_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    file_map::trim_at(
        std::time::Instant::now() + file_map::MAX_IDLE + std::time::Duration::from_secs(1),
    );
    assert_eq!(file_map::stats().0, 0, "every earlier mapping was released");
    serial
}

fn write(path: &Path, data: &[u8]) {
    let mut f = File::create(path).unwrap();
    f.write_all(data).unwrap();
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn map(file: &File, offset: u64, len: u64) -> Result<*const u8, wsgirt_status> {
    let mut out: *const u8 = std::ptr::null();
    // SAFETY: a valid out-pointer; the descriptor is open.
    let status = unsafe { wsgirt_file_map(file.as_raw_fd(), offset, len, &mut out) };
    if status == WSGIRT_STATUS_OK {
        Ok(out)
    } else {
        Err(status)
    }
}

/// The mapped bytes, copied.
fn read(ptr: *const u8, len: usize) -> Vec<u8> {
    // SAFETY: `ptr` came from a successful map of at least `len` bytes and
    // has not been released.
    unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec()
}

fn release(ptr: *const u8) {
    // SAFETY: from wsgirt_file_map, released once.
    unsafe { wsgirt_file_release(ptr.cast_mut().cast()) };
}

#[test]
fn one_mapping_serves_every_response_of_a_file() {
    let _serial = fresh_cache();
    let dir = dir("shared");
    let path = dir.join("a.bin");
    let content = data(300_000, 1);
    write(&path, &content);
    let (before, _) = file_map::stats();
    let first = map(&File::open(&path).unwrap(), 0, content.len() as u64).unwrap();
    let second = map(&File::open(&path).unwrap(), 1000, 5000).unwrap();
    assert_eq!(
        second as usize,
        first as usize + 1000,
        "same mapping, offset applied"
    );
    assert_eq!(file_map::stats().0, before + 1);
    assert_eq!(read(first, content.len()), content);
    assert_eq!(read(second, 5000), content[1000..6000]);
    release(second);
    release(first);
    assert_eq!(
        file_map::stats().0,
        before + 1,
        "kept for the next response"
    );
    let again = map(&File::open(&path).unwrap(), 0, 10).unwrap();
    assert_eq!(again, first, "reused");
    release(again);
    // Unused for longer than MAX_IDLE (a file renamed away looks just like
    // this): unmapped when the cache is next trimmed.
    let later = std::time::Instant::now() + file_map::MAX_IDLE + std::time::Duration::from_secs(1);
    file_map::trim_at(later);
    assert_eq!(file_map::stats().0, 0, "every idle entry is gone");
}

#[test]
fn a_replaced_file_gets_a_new_mapping_and_the_old_one_lives_until_released() {
    let _serial = fresh_cache();
    let dir = dir("replaced");
    let path = dir.join("b.bin");
    let old = data(100_000, 2);
    write(&path, &old);
    let (before, _) = file_map::stats();
    let in_flight = map(&File::open(&path).unwrap(), 0, old.len() as u64).unwrap();
    // Replaced by a rename (a new inode), as deployments do.
    let new = data(150_000, 3);
    write(&dir.join("b.new"), &new);
    std::fs::rename(dir.join("b.new"), &path).unwrap();
    let fresh = map(&File::open(&path).unwrap(), 0, new.len() as u64).unwrap();
    assert_ne!(fresh, in_flight);
    assert_eq!(read(fresh, new.len()), new);
    assert_eq!(
        read(in_flight, old.len()),
        old,
        "a response in flight keeps its bytes"
    );
    assert_eq!(file_map::stats().0, before + 2);
    release(in_flight);
    // Resized in place (same inode): the size check gives a new mapping,
    // and the replaced one goes as soon as nobody uses it.
    let grown = data(200_000, 4);
    write(&path, &grown);
    let resized = map(&File::open(&path).unwrap(), 0, grown.len() as u64).unwrap();
    assert_eq!(read(resized, grown.len()), grown);
    let (with_both, _) = file_map::stats();
    release(fresh);
    assert_eq!(
        file_map::stats().0,
        with_both - 1,
        "unmapped once its last user let go"
    );
    release(resized);
    assert_eq!(
        file_map::stats().0,
        with_both - 1,
        "the current one stays cached"
    );
}

#[test]
fn the_cache_stays_within_its_limits() {
    let _serial = fresh_cache();
    let dir = dir("limits");
    let mut held = Vec::new();
    for i in 0..file_map::MAX_ENTRIES + 4 {
        let path = dir.join(format!("{i}.bin"));
        write(&path, &data(4096, i as u8));
        held.push(map(&File::open(&path).unwrap(), 0, 4096).unwrap());
    }
    // Everything in use stays mapped, even beyond the limit...
    assert!(file_map::stats().0 >= file_map::MAX_ENTRIES + 4);
    for (i, ptr) in held.iter().enumerate() {
        assert_eq!(read(*ptr, 4096), data(4096, i as u8));
    }
    for ptr in held {
        release(ptr);
    }
    // ...and only the most recent MAX_ENTRIES stay once released.
    assert!(file_map::stats().0 <= file_map::MAX_ENTRIES);
    let big = dir.join("big.bin");
    write(&big, &data((file_map::MAX_FILE_BYTES + 1) as usize, 9));
    assert_eq!(
        map(&File::open(&big).unwrap(), 0, 10),
        Err(WSGIRT_STATUS_UNSUPPORTED),
        "larger than MAX_FILE_BYTES"
    );
}

#[test]
fn files_it_does_not_map_are_refused() {
    let dir = dir("refused");
    let path = dir.join("c.bin");
    write(&path, &data(1000, 5));
    let file = File::open(&path).unwrap();
    assert_eq!(
        map(&file, 0, 1001),
        Err(WSGIRT_STATUS_UNSUPPORTED),
        "past the end"
    );
    assert_eq!(
        map(&file, 999, 2),
        Err(WSGIRT_STATUS_UNSUPPORTED),
        "past the end"
    );
    assert_eq!(
        map(&file, u64::MAX, 2),
        Err(WSGIRT_STATUS_UNSUPPORTED),
        "overflow"
    );
    assert_eq!(
        map(&file, 0, 0),
        Err(WSGIRT_STATUS_UNSUPPORTED),
        "nothing to map"
    );
    let empty = dir.join("empty.bin");
    write(&empty, b"");
    assert_eq!(
        map(&File::open(&empty).unwrap(), 0, 1),
        Err(WSGIRT_STATUS_UNSUPPORTED)
    );
    assert_eq!(
        map(&File::open(&dir).unwrap(), 0, 1),
        Err(WSGIRT_STATUS_UNSUPPORTED),
        "a directory"
    );
    let (reader, _writer) = std::io::pipe().unwrap();
    let mut out = std::ptr::null();
    // SAFETY: valid out-pointer; a pipe's descriptor.
    let status = unsafe { wsgirt_file_map(reader.as_raw_fd(), 0, 1, &mut out) };
    assert_eq!(status, WSGIRT_STATUS_UNSUPPORTED, "a pipe");
    // SAFETY: NULL out-pointer and a negative descriptor are rejected.
    unsafe {
        assert_eq!(
            wsgirt_file_map(file.as_raw_fd(), 0, 1, std::ptr::null_mut()),
            WSGIRT_STATUS_NULL_ARG
        );
        assert_eq!(
            wsgirt_file_map(-1, 0, 1, &mut out),
            WSGIRT_STATUS_INVALID_ARG
        );
        // An unknown pointer is ignored.
        wsgirt_file_release(std::ptr::null_mut());
    }
    let closed = File::open(&path).unwrap().as_raw_fd();
    assert_eq!(
        // SAFETY: a closed descriptor only makes fstat fail.
        unsafe { wsgirt_file_map(closed, 0, 1, &mut out) },
        WSGIRT_STATUS_UNSUPPORTED,
        "a closed descriptor"
    );
}
