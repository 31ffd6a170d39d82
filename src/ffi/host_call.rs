//! What every host callback table shares: a gate that lets calls run only while the table is
//! open and releases `user_data` exactly once, and the buffer-retry contract for callbacks
//! that fill a library buffer `(out, cap, out_len)`.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use super::callbacks::fg_release_fn;
use super::reentry::CallbackScope;
use super::status::{fg_status, FG_STATUS_BUFFER_TOO_SMALL, FG_STATUS_OK};
use crate::sync::RwLockExt;

/// Every call holds a shared lock and checks that the table is still open; [`release`]
/// takes the lock exclusively, so once it returns no callback is running and none will start.
///
/// [`release`]: HostGate::release
pub(crate) struct HostGate {
    open: RwLock<bool>,
    released: AtomicBool,
}

impl HostGate {
    pub(crate) fn new() -> HostGate {
        HostGate {
            open: RwLock::new(true),
            released: AtomicBool::new(false),
        }
    }

    /// Closes the gate: waits for running callbacks, forbids new ones, then calls
    /// `release(user_data)` if that has not happened yet.
    pub(crate) fn release(&self, release: fg_release_fn, user_data: *mut c_void) {
        *self.open.write_locked() = false;
        if !self.released.swap(true, Ordering::AcqRel) {
            if let Some(release) = release {
                let _scope = CallbackScope::enter();
                // SAFETY: `release` comes from the host's table with its own `user_data`; the
                // `released` flag makes this the only call, and the write lock above means no
                // other callback of the table is running or will start.
                unsafe { release(user_data) };
            }
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        *self.open.read_locked()
    }

    /// Runs one host call while the gate is open, the thread marked "in callback";
    /// `None` once released.
    pub(crate) fn call<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        let open = self.open.read_locked();
        if !*open {
            return None;
        }
        let _scope = CallbackScope::enter();
        Some(f())
    }
}

/// How a buffer-filling callback ended.
pub(crate) enum Filled {
    /// `FG_STATUS_OK` with the bytes written.
    Bytes(Vec<u8>),
    /// `FG_STATUS_OK` claiming more bytes than the buffer holds.
    Overrun { len: usize, cap: usize },
    /// `FG_STATUS_BUFFER_TOO_SMALL` beyond the limit, or a second time.
    TooSmall { len: usize, cap: usize },
    /// Any other status.
    Status(fg_status),
}

/// Calls `f(out, cap, out_len)` with a `first_cap`-byte buffer, and once more with the size
/// the host asks for on `FG_STATUS_BUFFER_TOO_SMALL` (at most `limit`). `f` returns `Err`
/// when it could not call the host at all.
pub(crate) fn fill_buffer<E>(
    first_cap: usize,
    limit: usize,
    mut f: impl FnMut(*mut u8, usize, *mut usize) -> Result<fg_status, E>,
) -> Result<Filled, E> {
    let mut cap = first_cap;
    let mut retried = false;
    loop {
        let mut buf = vec![0u8; cap];
        let mut len = 0usize;
        match f(buf.as_mut_ptr(), cap, &mut len)? {
            FG_STATUS_OK if len <= cap => {
                buf.truncate(len);
                return Ok(Filled::Bytes(buf));
            }
            FG_STATUS_OK => return Ok(Filled::Overrun { len, cap }),
            FG_STATUS_BUFFER_TOO_SMALL if !retried && len > cap && len <= limit => {
                cap = len;
                retried = true;
            }
            FG_STATUS_BUFFER_TOO_SMALL => return Ok(Filled::TooSmall { len, cap }),
            other => return Ok(Filled::Status(other)),
        }
    }
}
