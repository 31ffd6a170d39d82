//! Leadership in the C ABI: `fg_is_leader` reads the node's snapshot, `fg_yield_leadership`
//! steps down, and a host callback hears every leadership change.
//!
//! The node's owner task only queues each change (`LeadershipQueue`); the `fg-leadership`
//! thread calls the host, one change at a time in the order they happen, under a read lock
//! of the sink: swapping the callback waits for a running call, and since `fg_shutdown`
//! delivers the queue and joins that thread, no call happens after it returns.

use std::ffi::{c_char, c_void};
use std::sync::{Arc, RwLock};

use crate::channel::ChannelError;
use crate::ffi::bytes::fg_bytes;
use crate::ffi::call::{self, Out};
use crate::ffi::call_error::CallError;
use crate::ffi::channel_name::channel_arg;
use crate::ffi::counters::CallId;
use crate::ffi::leadership_queue::LeadershipQueue;
use crate::ffi::reentry::CallbackScope;
use crate::ffi::service::current;
use crate::ffi::status::*;
use crate::node::{ChannelCallError, GossipService, LeadershipEvent};
use crate::sync::RwLockExt;

/// Receives one leadership change: this peer now leads `channel` (`is_leader == 1`) or no
/// longer does (`0`). `channel` is UTF-8, borrowed for the call only, not NUL-terminated.
/// Called from the library's `fg-leadership` thread, in the order of the changes, never
/// concurrently with itself. Gossip does not wait for it, but later leadership changes do,
/// so it should return soon; `fg_*` calls inside it return `FG_STATUS_REENTRANT`.
pub type fg_leadership_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        channel: *const c_char,
        channel_len: usize,
        is_leader: i32,
    ),
>;

struct Sink {
    cb: unsafe extern "C" fn(*mut c_void, *const c_char, usize, i32),
    user_data: *mut c_void,
}

// SAFETY: `fg_set_leadership_callback` makes the host promise that `cb` may be called with
// `user_data` from any library thread until it is replaced; the library holds nothing else.
unsafe impl Send for Sink {}
// SAFETY: as for `Send`; calls are made under the read lock of `SINK`, one thread at a time
// (the delivery thread), and the host's promise covers any thread.
unsafe impl Sync for Sink {}

static SINK: RwLock<Option<Sink>> = RwLock::new(None);

/// Starts the delivery thread and hooks the running service's leadership changes to it
/// (called by `fg_init`); `fg_shutdown` closes the returned queue after stopping the
/// service.
pub(crate) fn attach(service: &GossipService) -> std::io::Result<Arc<LeadershipQueue>> {
    let queue = Arc::new(LeadershipQueue::start(deliver)?);
    let q = queue.clone();
    service.set_leadership_listener(Some(Arc::new(move |e: &LeadershipEvent| q.push(e.clone()))));
    Ok(queue)
}

/// Calls the host sink with one change (on the delivery thread).
fn deliver(event: &LeadershipEvent) {
    let sink = SINK.read_locked();
    let Some(sink) = sink.as_ref() else {
        return;
    };
    let _scope = CallbackScope::enter();
    // SAFETY: the host registered `cb` for exactly these arguments; the channel name
    // outlives the call.
    unsafe {
        (sink.cb)(
            sink.user_data,
            event.channel.as_ptr().cast(),
            event.channel.len(),
            i32::from(event.leader),
        )
    };
}

/// Calls `cb(user_data, channel, channel_len, is_leader)` at every leadership change of a
/// joined channel from now on, replacing any previous callback; `cb == NULL` removes it.
/// When this returns, the previous callback is not running and will not run again; changes
/// queued but not yet delivered then go to the new callback. May be called before `fg_init`
/// and after `fg_shutdown`; the callback stays registered across restarts. Changes delivered
/// before the call are not replayed: read them with `fg_is_leader`.
///
/// Returns `FG_STATUS_OK`, `FG_STATUS_REENTRANT` inside a callback, or `FG_STATUS_PANIC`.
///
/// # Safety
/// `cb` must be safe to call from any library thread with `user_data` until it is replaced.
#[no_mangle]
pub unsafe extern "C" fn fg_set_leadership_callback(
    cb: fg_leadership_fn,
    user_data: *mut c_void,
) -> fg_status {
    const CALL: CallId = CallId::named("fg_set_leadership_callback");
    call::run(CALL, Out::none(), || {
        let sink = cb.map(|cb| Sink { cb, user_data });
        *SINK.write_locked() = sink;
        Ok(())
    })
}

/// Writes whether this peer leads `channel` to `*out` (1 = leader, 0 = not): elected with
/// `useLeaderElection`, always with `orgLeader`, never with both off. Never blocks: it
/// reads the node's snapshot.
///
/// Returns `FG_STATUS_OK`, `FG_STATUS_INVALID_ARG` (NULL `out`, NULL/empty/non-UTF-8
/// channel, or a name outside Fabric's rule `[a-z][a-z0-9.-]*` of at most 249
/// characters), `FG_STATUS_NOT_FOUND` (not joined, or left), `FG_STATUS_NOT_INITIALIZED`,
/// `FG_STATUS_REENTRANT` or `FG_STATUS_PANIC`.
///
/// # Safety
/// `channel` points to `channel_len` readable bytes; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fg_is_leader(
    channel: *const c_char,
    channel_len: usize,
    out: *mut i32,
) -> fg_status {
    const CALL: CallId = CallId::named("fg_is_leader");
    // SAFETY: `out` is NULL or writable, as this function requires.
    let out = unsafe { Out::new(out) };
    call::run(CALL, Out::none(), || {
        out.required("out")?;
        // SAFETY: `channel` points to `channel_len` readable bytes, as this function requires.
        let ch = unsafe { channel_arg(channel, channel_len) }?;
        let service = current().ok_or_else(CallError::not_initialized)?;
        match service.is_leader(ch) {
            Ok(leader) => {
                out.write(i32::from(leader));
                Ok(())
            }
            Err(e @ ChannelCallError::Stopped) => Err(e.into()),
            Err(e) => Err(CallError::new(FG_STATUS_NOT_FOUND, e.to_string())),
        }
    })
}

/// Gives up leadership of `channel` (Fabric's `Yield`): this peer steps down at once and
/// stays out of the election for six `leaderAliveThreshold`s or until another peer declares
/// itself leader, so another peer of the org takes over. The leadership callback reports the
/// loss. A peer that does not lead the channel has nothing to yield: `FG_STATUS_OK`, no
/// change.
///
/// `err_out`: NULL, or receives why the call failed; free it with `fg_bytes_free`.
/// Untouched on success.
///
/// Returns `FG_STATUS_OK`, `FG_STATUS_INVALID_ARG` (NULL/empty/non-UTF-8 channel, or a
/// name outside Fabric's rule),
/// `FG_STATUS_NOT_FOUND` (not joined, or left; or no election to yield: a static
/// `orgLeader` or a peer with both `useLeaderElection` and `orgLeader` off),
/// `FG_STATUS_NOT_INITIALIZED`, `FG_STATUS_SHUTDOWN`, `FG_STATUS_REENTRANT` or
/// `FG_STATUS_PANIC`.
///
/// # Safety
/// `channel` points to `channel_len` readable bytes; `err_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fg_yield_leadership(
    channel: *const c_char,
    channel_len: usize,
    err_out: *mut fg_bytes,
) -> fg_status {
    const CALL: CallId = CallId::named("fg_yield_leadership");
    // SAFETY: `err_out` is NULL or writable, as this function requires.
    let err = unsafe { Out::new(err_out) };
    call::run(CALL, err, || {
        // SAFETY: `channel` points to `channel_len` readable bytes, as this function requires.
        let ch = unsafe { channel_arg(channel, channel_len) }?;
        let service = current().ok_or_else(CallError::not_initialized)?;
        match crate::ffi::wait::wait(CALL.name(), service.yield_leadership(ch))? {
            Ok(()) => Ok(()),
            // Joined, yet without an election machine: a static mode.
            Err(ChannelCallError::Channel(ChannelError::UnknownChannel(_)))
                if service.is_leader(ch).is_ok() =>
            {
                Err(CallError::new(
                    FG_STATUS_NOT_FOUND,
                    format!(
                        "channel {ch:?} has no leader election to yield: \
                         peer.gossip.useLeaderElection is off (a static orgLeader leads \
                         until it leaves the channel)"
                    ),
                ))
            }
            Err(e) => Err(e.into()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    static SEEN: Mutex<Vec<(String, i32, fg_status)>> = Mutex::new(Vec::new());

    unsafe extern "C" fn record(_ud: *mut c_void, ch: *const c_char, len: usize, leader: i32) {
        // SAFETY: the library passes `len` readable bytes of the channel name.
        let bytes = unsafe { std::slice::from_raw_parts(ch.cast::<u8>(), len) };
        let name = String::from_utf8_lossy(bytes);
        // Re-entry is refused inside the callback.
        let mut out = 0;
        // SAFETY: `ch`/`len` as above; `out` is a local.
        let st = unsafe { fg_is_leader(ch, len, &mut out) };
        SEEN.lock().unwrap().push((name.into_owned(), leader, st));
    }

    #[test]
    fn callback_gets_changes_in_order_and_reentry_is_refused() {
        // SAFETY: locals and static byte strings with their lengths; `record` matches the callback type.
        unsafe {
            assert_eq!(
                fg_set_leadership_callback(Some(record), std::ptr::null_mut()),
                FG_STATUS_OK
            );
            let queue = LeadershipQueue::start(deliver).unwrap();
            for (ch, leader) in [("a", true), ("b", true), ("a", false)] {
                queue.push(LeadershipEvent {
                    channel: ch.into(),
                    leader,
                });
            }
            // Delivers what is queued and joins the delivery thread.
            queue.close();
            assert_eq!(
                fg_set_leadership_callback(None, std::ptr::null_mut()),
                FG_STATUS_OK
            );
            deliver(&LeadershipEvent {
                channel: "c".into(),
                leader: true,
            });
        }
        // The singleton test of `service` may run meanwhile: keep our channels only.
        let seen: Vec<_> = SEEN
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _, _)| ["a", "b", "c"].contains(&c.as_str()))
            .cloned()
            .collect();
        assert_eq!(
            seen,
            vec![
                ("a".to_string(), 1, FG_STATUS_REENTRANT),
                ("b".to_string(), 1, FG_STATUS_REENTRANT),
                ("a".to_string(), 0, FG_STATUS_REENTRANT),
            ]
        );
    }

    #[test]
    fn is_leader_checks_its_arguments() {
        // SAFETY: locals and static byte strings with their lengths; `record` matches the callback type.
        unsafe {
            let mut out = 7;
            assert_eq!(
                fg_is_leader(std::ptr::null(), 2, &mut out),
                FG_STATUS_INVALID_ARG
            );
            assert_eq!(
                fg_is_leader(b"ch".as_ptr().cast(), 2, std::ptr::null_mut()),
                FG_STATUS_INVALID_ARG
            );
            assert_eq!(
                fg_is_leader(b"\xff".as_ptr().cast(), 1, &mut out),
                FG_STATUS_INVALID_ARG
            );
            assert_eq!(out, 7, "out untouched on failure");
        }
    }

    #[test]
    fn yield_checks_its_arguments_and_says_why() {
        // SAFETY: locals and static byte strings with their lengths; `record` matches the callback type.
        unsafe {
            let mut err = fg_bytes {
                ptr: std::ptr::null_mut(),
                len: 0,
            };
            assert_eq!(
                fg_yield_leadership(std::ptr::null(), 2, &mut err),
                FG_STATUS_INVALID_ARG
            );
            let detail = std::slice::from_raw_parts(err.ptr, err.len);
            assert_eq!(detail, b"channel is NULL or empty");
            crate::ffi::bytes::fg_bytes_free(&mut err);
            assert_eq!(
                fg_yield_leadership(b"\xff".as_ptr().cast(), 1, std::ptr::null_mut()),
                FG_STATUS_INVALID_ARG
            );
        }
    }
}
