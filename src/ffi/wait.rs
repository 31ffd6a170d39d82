//! Waits for a future on the calling host thread. The futures awaited here only wait for
//! the node's owner task, which runs on the library's runtime; a plain park/unpark loop is
//! enough and, unlike a Tokio `block_on`, is allowed on a thread that is itself inside a
//! (host's) runtime.
//!
//! Every wait has a deadline (`fabgossip.callTimeout`, set at `fg_init`): a host thread is
//! never held for good by an owner task that cannot answer (a host callback that hangs,
//! a ledger that blocks). The call then returns `FG_STATUS_TIMEOUT`; the command already
//! sent may still take effect.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use super::call_error::CallError;
use super::status::FG_STATUS_TIMEOUT;

/// `fabgossip.callTimeout` in milliseconds, the default until `fg_init` sets it.
static DEADLINE_MS: AtomicU64 = AtomicU64::new(60_000);

/// Sets the deadline of the waits from now on (`fg_init`).
pub(crate) fn set_deadline(d: Duration) {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1);
    DEADLINE_MS.store(ms, Ordering::Relaxed);
}

fn deadline() -> Duration {
    Duration::from_millis(DEADLINE_MS.load(Ordering::Relaxed))
}

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `fut` to completion within the call deadline, parking the thread between
/// wake-ups. `call` names the C function for the timeout's detail.
pub(crate) fn wait<F: Future>(call: &str, fut: F) -> Result<F::Output, CallError> {
    wait_for(call, fut, deadline())
}

fn wait_for<F: Future>(call: &str, fut: F, limit: Duration) -> Result<F::Output, CallError> {
    wait_within(fut, limit).ok_or_else(|| {
        CallError::new(
            FG_STATUS_TIMEOUT,
            format!(
                "{call} got no answer from the gossip service within fabgossip.callTimeout \
                 ({limit:?}); the call may still take effect"
            ),
        )
    })
}

/// Polls `fut` until it completes (`Some`) or `limit` passed (`None`).
fn wait_within<F: Future>(fut: F, limit: Duration) -> Option<F::Output> {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    let end = Instant::now() + limit;
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return Some(v),
            // A spurious unpark only costs one more poll.
            Poll::Pending => {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return None;
                }
                std::thread::park_timeout(left);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_a_value_sent_from_another_thread() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            tx.send(42).unwrap();
        });
        assert_eq!(wait_within(rx, Duration::from_secs(60)), Some(Ok(42)));
        t.join().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        drop(tx);
        assert!(wait_within(rx, Duration::from_secs(60)).unwrap().is_err());
    }

    #[test]
    fn gives_up_at_the_deadline() {
        let (_tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let start = Instant::now();
        assert!(wait_within(rx, Duration::from_millis(50)).is_none());
        assert!(start.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn a_timeout_is_fg_status_timeout_with_the_call_and_the_key() {
        let (_tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let err = wait_for("fg_join_channel", rx, Duration::from_millis(20)).unwrap_err();
        assert_eq!(err.status, FG_STATUS_TIMEOUT);
        assert!(err.detail.contains("fg_join_channel") && err.detail.contains("callTimeout"));
    }
}
