//! `fg_ledger_callbacks`: a ledger kept by the host. Once registered with
//! `fg_set_ledger_callbacks`, every channel joined afterwards commits its blocks through
//! the host instead of the embedded file ledger.
//!
//! Threading: `commit` runs on a library blocking-pool thread, one call at a time per
//! channel, strictly in block order (block `height` and nothing else); it may block (disk
//! I/O). Calls for different channels may overlap. `height` runs at join on a library worker
//! thread and on the commit thread after a refused commit (the library counts the commits
//! the host accepted, so a block costs one call); `get_block` on library threads when
//! committed blocks are read back. Every callback must be thread-safe.

use std::ffi::c_void;
use std::sync::Arc;

use super::host_ledger::HostLedgerTable;
use crate::ffi::call::{self, Out};
use crate::ffi::call_error::CallError;
use crate::ffi::callbacks::fg_release_fn;
use crate::ffi::counters::CallId;
use crate::ffi::status::*;

/// A borrowed byte string: `len` bytes at `ptr` (`ptr` may be NULL when `len` is 0).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct fg_slice {
    pub ptr: *const u8,
    pub len: usize,
}

/// Writes the number of blocks the host's ledger of `channel` holds (the next block's
/// number) to `*out_height`. Return `FG_STATUS_OK`, or an error status when the ledger
/// cannot answer (a join then fails with `FG_STATUS_IO`).
pub type fg_ledger_height_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        channel: *const u8,
        channel_len: usize,
        out_height: *mut u64,
    ) -> fg_status,
>;

/// Appends block `seq` of `channel` (a serialized `common.Block` that passed
/// `verify_block`) and its private data (`private_data_count` slices; the pointer may be
/// NULL when the count is 0) to the host's ledger. `seq` is always the ledger's current
/// height. Return `FG_STATUS_OK` once the block is committed; any other status leaves the
/// height unchanged: the error is logged and the same block is offered again later (never
/// skipped). A block the host committed by other means is not offered again: the library
/// reads the height before every commit.
pub type fg_ledger_commit_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        channel: *const u8,
        channel_len: usize,
        seq: u64,
        block: *const u8,
        block_len: usize,
        private_data: *const fg_slice,
        private_data_count: usize,
    ) -> fg_status,
>;

/// Writes committed block `seq` of `channel` into `(out, cap, out_len)`. When `cap` is too
/// small, write the needed length to `*out_len` and return `FG_STATUS_BUFFER_TOO_SMALL`;
/// the library retries once with a buffer of that size. Return `FG_STATUS_NOT_FOUND` for a
/// block the ledger does not hold.
pub type fg_ledger_get_block_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        channel: *const u8,
        channel_len: usize,
        seq: u64,
        out: *mut u8,
        cap: usize,
        out_len: *mut usize,
    ) -> fg_status,
>;

/// The host's ledger: where the blocks of every channel joined after
/// `fg_set_ledger_callbacks` are committed. Required: `height`, `commit`, `get_block`.
///
/// Rules:
/// - Thread: `commit` is called from a library blocking-pool thread, one at a time per
///   channel and in block order; calls for different channels, and `height`/`get_block`
///   calls, may overlap: callbacks must be thread-safe. `commit` may block (disk I/O);
///   `height` should be quick (it also runs on a gossip worker at join). `height` is
///   asked at join and after a refused commit, not per block: a host that commits blocks
///   by other means refuses them when they come, and the library moves past them.
/// - Borrowing: input pointers are valid only during the call; copy what you keep.
///   `channel` is UTF-8 with a length, not NUL-terminated.
/// - Any `fg_*` call made inside a callback returns `FG_STATUS_REENTRANT`.
/// - A status other than `FG_STATUS_OK` is an error: reported through the log callback
///   and counted; a failed commit is retried, never skipped.
/// - Lifetime: `release(user_data)` runs exactly once per `fg_set_ledger_callbacks` call
///   given this table: before that call returns when it fails, else when the table is
///   replaced (next `fg_set_ledger_callbacks`) or in `fg_shutdown`. No callback of the
///   table runs after that.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct fg_ledger_callbacks {
    /// Passed as the first argument of every callback; opaque to the library.
    pub user_data: *mut c_void,
    /// Optional: called exactly once when the library is done with `user_data`.
    pub release: fg_release_fn,
    /// The ledger height of a channel.
    pub height: fg_ledger_height_fn,
    /// Commits the next block of a channel.
    pub commit: fg_ledger_commit_fn,
    /// Reads a committed block back.
    pub get_block: fg_ledger_get_block_fn,
}

// SAFETY: plain function pointers and the host's opaque `user_data`; the contract above makes
// the host responsible for the thread-safety of what `user_data` points to.
unsafe impl Send for fg_ledger_callbacks {}
// SAFETY: as for `Send`: the library only copies the table and calls through it.
unsafe impl Sync for fg_ledger_callbacks {}

/// Makes the host's ledger the ledger of every channel joined from now on; `callbacks`
/// NULL goes back to the embedded file ledger. The table is copied. Valid after `fg_init`
/// while no channel is joined (a channel left with `fg_leave_channel` no longer counts).
/// When the call succeeds, the table set by an earlier call (if any) is released before it
/// returns; the last table set is released by `fg_shutdown`.
///
/// Returns `FG_STATUS_OK`, `FG_STATUS_INVALID_ARG` (a required callback is NULL),
/// `FG_STATUS_NOT_INITIALIZED`, `FG_STATUS_BUSY` (a channel is joined: leave it first, or
/// register before joining), `FG_STATUS_SHUTDOWN`, `FG_STATUS_REENTRANT` or
/// `FG_STATUS_PANIC`. On any failure the given table's `release` has run before return.
///
/// # Safety
/// `callbacks` is NULL or points to a valid `fg_ledger_callbacks`.
#[no_mangle]
pub unsafe extern "C" fn fg_set_ledger_callbacks(
    callbacks: *const fg_ledger_callbacks,
) -> fg_status {
    const CALL: CallId = CallId::named("fg_set_ledger_callbacks");
    // Owning the table before the call's checks makes `release` run exactly once on every
    // failure path, the refusal of a call made inside a callback included.
    // SAFETY: `callbacks` is NULL or points to a valid table (this function's contract).
    let table = unsafe { callbacks.as_ref() }.map(|cb| Arc::new(HostLedgerTable::new(*cb)));
    let status = call::run(CALL, Out::none(), || {
        if let Some(t) = &table {
            t.check_required().map_err(CallError::invalid_arg)?;
        }
        crate::ffi::service::set_ledger(table.clone())
            .map_err(|(status, detail)| CallError::new(status, detail))
    });
    if status != FG_STATUS_OK {
        if let Some(t) = &table {
            t.release();
        }
    }
    status
}

/// Exercised against the running singleton by `ffi::service`'s life-cycle test (the
/// singleton is process-wide, so its whole life is one test).
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ffi::channel::fg_ledger_height;
    use crate::ffi::channel::{fg_add_payload, fg_join_channel, fg_leave_channel};
    use prost::Message;
    use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    /// An in-memory host ledger; the first `fail_commits` commits fail.
    #[derive(Default)]
    pub(crate) struct LedgerHost {
        blocks: Mutex<Vec<Vec<u8>>>,
        fail_commits: AtomicUsize,
        commits: AtomicUsize,
        heights: AtomicUsize,
        pub releases: AtomicUsize,
        /// What `fg_ledger_height` answered inside `commit`.
        reentry_status: AtomicU32,
    }

    unsafe fn host<'a>(ud: *mut c_void) -> &'a LedgerHost {
        // SAFETY: the library calls this test double with the arguments its callback

        // contract promises (a live `Host` as user data, readable and writable buffers).

        unsafe { &*(ud as *const LedgerHost) }
    }

    unsafe extern "C" fn release(ud: *mut c_void) {
        // SAFETY: the library calls this test double with the arguments its callback

        // contract promises (a live `Host` as user data, readable and writable buffers).

        unsafe {
            host(ud).releases.fetch_add(1, Ordering::SeqCst);
        }
    }

    unsafe extern "C" fn height(
        ud: *mut c_void,
        _ch: *const u8,
        _chl: usize,
        out: *mut u64,
    ) -> fg_status {
        // SAFETY: the library calls this test double with the arguments its callback

        // contract promises (a live `Host` as user data, readable and writable buffers).

        unsafe {
            let h = host(ud);
            h.heights.fetch_add(1, Ordering::SeqCst);
            *out = h.blocks.lock().unwrap().len() as u64;
            FG_STATUS_OK
        }
    }

    unsafe extern "C" fn commit(
        ud: *mut c_void,
        ch: *const u8,
        chl: usize,
        seq: u64,
        block: *const u8,
        block_len: usize,
        _pvt: *const fg_slice,
        _count: usize,
    ) -> fg_status {
        // SAFETY: the library calls this test double with the arguments its callback

        // contract promises (a live `Host` as user data, readable and writable buffers).

        unsafe {
            let h = host(ud);
            h.commits.fetch_add(1, Ordering::SeqCst);
            let mut out = 0u64;
            h.reentry_status
                .store(fg_ledger_height(ch.cast(), chl, &mut out), Ordering::SeqCst);
            if h.fail_commits
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return FG_STATUS_IO;
            }
            let mut blocks = h.blocks.lock().unwrap();
            if seq != blocks.len() as u64 {
                return FG_STATUS_CALLBACK_FAILED;
            }
            blocks.push(std::slice::from_raw_parts(block, block_len).to_vec());
            FG_STATUS_OK
        }
    }

    unsafe extern "C" fn get_block(
        ud: *mut c_void,
        _ch: *const u8,
        _chl: usize,
        seq: u64,
        out: *mut u8,
        cap: usize,
        len: *mut usize,
    ) -> fg_status {
        // SAFETY: the library calls this test double with the arguments its callback

        // contract promises (a live `Host` as user data, readable and writable buffers).

        unsafe {
            let blocks = host(ud).blocks.lock().unwrap();
            let Some(b) = blocks.get(seq as usize) else {
                return FG_STATUS_NOT_FOUND;
            };
            *len = b.len();
            if b.len() > cap {
                return FG_STATUS_BUFFER_TOO_SMALL;
            }
            std::ptr::copy_nonoverlapping(b.as_ptr(), out, b.len());
            FG_STATUS_OK
        }
    }

    fn table(h: &LedgerHost) -> fg_ledger_callbacks {
        fg_ledger_callbacks {
            user_data: h as *const LedgerHost as *mut c_void,
            release: Some(release),
            height: Some(height),
            commit: Some(commit),
            get_block: Some(get_block),
        }
    }

    /// Before `fg_init`: refused, and the table is released at once.
    pub(crate) unsafe fn before_init() {
        // SAFETY: the library calls this test double with the arguments its callback
        // contract promises (a live `Host` as user data, readable and writable buffers).
        unsafe {
            let h = LedgerHost::default();
            assert_eq!(
                fg_set_ledger_callbacks(&table(&h)),
                FG_STATUS_NOT_INITIALIZED
            );
            assert_eq!(h.releases.load(Ordering::SeqCst), 1);
        }
    }

    /// With the service running and no channel joined. Returns the host whose table is
    /// left installed, for the caller to check `fg_shutdown` releases it.
    pub(crate) unsafe fn ledger_calls() -> Box<LedgerHost> {
        // SAFETY: the library calls this test double with the arguments its callback
        // contract promises (a live `Host` as user data, readable and writable buffers).
        unsafe {
            let ch = b"hostledger";
            let join = br#"{"sequence":1,"members":["Org1MSP"]}"#;
            // A required callback missing: refused, released.
            let bad = LedgerHost::default();
            let mut t = table(&bad);
            t.get_block = None;
            assert_eq!(fg_set_ledger_callbacks(&t), FG_STATUS_INVALID_ARG);
            assert_eq!(bad.releases.load(Ordering::SeqCst), 1);

            let first = Box::new(LedgerHost::default());
            first.blocks.lock().unwrap().push(
                crate::crypto::block::new_block(0, vec![], vec![b"genesis".to_vec()])
                    .encode_to_vec(),
            );
            first.fail_commits.store(2, Ordering::SeqCst);
            assert_eq!(fg_set_ledger_callbacks(&table(&first)), FG_STATUS_OK);
            assert_eq!(
                fg_join_channel(
                    ch.as_ptr().cast(),
                    ch.len(),
                    join.as_ptr().cast(),
                    join.len(),
                    std::ptr::null_mut()
                ),
                FG_STATUS_OK
            );
            assert!(
                first.heights.load(Ordering::SeqCst) >= 1,
                "height read at join"
            );
            let mut height = 0u64;
            assert_eq!(
                fg_ledger_height(ch.as_ptr().cast(), ch.len(), &mut height),
                FG_STATUS_OK
            );
            assert_eq!(height, 1, "the host's height, not the file ledger's");

            // Replacing while a channel is joined: refused, the new table released, the old kept.
            let other = LedgerHost::default();
            assert_eq!(fg_set_ledger_callbacks(&table(&other)), FG_STATUS_BUSY);
            assert_eq!(other.releases.load(Ordering::SeqCst), 1);
            assert_eq!(first.releases.load(Ordering::SeqCst), 0);

            // Block 1 fails twice at the host, then is committed: retried, not skipped.
            let genesis_hash = crate::crypto::block::block_header_hash(
                &crate::ledger::chain::block_header(&first.blocks.lock().unwrap()[0]).unwrap(),
            );
            let b1 = crate::crypto::block::new_block(1, genesis_hash, vec![b"tx".to_vec()])
                .encode_to_vec();
            assert_eq!(
                fg_add_payload(
                    ch.as_ptr().cast(),
                    ch.len(),
                    1,
                    b1.as_ptr(),
                    b1.len(),
                    std::ptr::null_mut()
                ),
                FG_STATUS_OK
            );
            let deadline = Instant::now() + Duration::from_secs(30);
            while height != 2 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
                assert_eq!(
                    fg_ledger_height(ch.as_ptr().cast(), ch.len(), &mut height),
                    FG_STATUS_OK
                );
            }
            assert_eq!(height, 2);
            assert_eq!(first.blocks.lock().unwrap()[1], b1);
            assert_eq!(first.commits.load(Ordering::SeqCst), 3);
            assert_eq!(
                first.reentry_status.load(Ordering::SeqCst),
                FG_STATUS_REENTRANT,
                "fg_* inside commit is refused"
            );
            let stats = crate::ffi::service::current()
                .and_then(|s| s.block_stats("hostledger"))
                .unwrap();
            assert_eq!(stats.blocks.commit_errors, 2);

            // After leaving: back to the file ledger releases the table; then a new one is set.
            assert_eq!(
                fg_leave_channel(ch.as_ptr().cast(), ch.len(), std::ptr::null_mut()),
                FG_STATUS_OK
            );
            assert_eq!(fg_set_ledger_callbacks(std::ptr::null()), FG_STATUS_OK);
            assert_eq!(first.releases.load(Ordering::SeqCst), 1);
            let last = Box::new(LedgerHost::default());
            assert_eq!(fg_set_ledger_callbacks(&table(&last)), FG_STATUS_OK);
            assert_eq!(first.releases.load(Ordering::SeqCst), 1, "released once");
            last
        }
    }
}
