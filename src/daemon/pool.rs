//! Idle proxy connections of this process, kept for reuse per daemon
//! group (socket path and origin token).
//!
//! A connection per request costs a `socket`/`connect`/`accept`/`close`
//! round in both processes and two `setsockopt`s on each side; reusing one
//! is a plain `sendmsg`. A connection enters the pool only after an `End`
//! carrying [`crate::daemon::protocol::FLAG_END_KEEP`] (the daemon will read
//! the next request from it) and only when nothing else is pending on it.
//! Taking one does no system call: a connection the daemon has closed
//! meanwhile is detected by the proxy when it uses it, before anything was
//! delivered (`EPIPE` on send, `ECONNRESET` before the first frame), and
//! the request is then sent on a fresh connection ([`clear`] drops the
//! group's other idle connections, which are most likely dead too).

use crate::daemon::protocol::TOKEN_LEN;
use crate::daemon::spool::View;
use parking_lot::Mutex;
use std::os::fd::OwnedFd;

/// Idle connections kept per group at most (Apache's threads per child
/// bound how many are in use at once).
const MAX_IDLE: usize = 256;

struct Group {
    path: Vec<u8>,
    token: [u8; TOKEN_LEN],
    /// Most recently used last, each with its mapped spool ring if the
    /// daemon passed one on it.
    idle: Vec<(OwnedFd, Option<View>)>,
}

static POOL: Mutex<Vec<Group>> = Mutex::new(Vec::new());

fn find<'p>(pool: &'p mut [Group], path: &[u8], token: &[u8; TOKEN_LEN]) -> Option<&'p mut Group> {
    pool.iter_mut()
        .find(|g| g.path == path && g.token == *token)
}

/// The most recently used idle connection to the group, if any.
pub fn take(path: &[u8], token: &[u8; TOKEN_LEN]) -> Option<(OwnedFd, Option<View>)> {
    let mut pool = POOL.lock();
    find(&mut pool, path, token)?.idle.pop()
}

/// Keeps `fd` (the daemon said it reads the next request from it) with
/// its spool ring's mapping (the daemon refers to the ring without
/// passing it again).
pub fn put(path: &[u8], token: &[u8; TOKEN_LEN], fd: OwnedFd, view: Option<View>) {
    let mut pool = POOL.lock();
    let group = match find(&mut pool, path, token) {
        Some(group) => group,
        None => {
            pool.push(Group {
                path: path.to_vec(),
                token: *token,
                idle: Vec::new(),
            });
            pool.last_mut().expect("just pushed")
        }
    };
    if group.idle.len() < MAX_IDLE {
        group.idle.push((fd, view));
    }
}

/// Drops the group's idle connections (its daemon closed one: it stopped
/// or restarted). Closed outside the lock.
pub fn clear(path: &[u8], token: &[u8; TOKEN_LEN]) {
    let idle = {
        let mut pool = POOL.lock();
        find(&mut pool, path, token).map(|g| std::mem::take(&mut g.idle))
    };
    drop(idle);
}
