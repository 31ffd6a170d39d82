//! Waits for a future on the calling host thread. The futures awaited here only wait for
//! the node's owner task, which runs on the library's runtime; a plain park/unpark loop is
//! enough and, unlike a Tokio `block_on`, is allowed on a thread that is itself inside a
//! (host's) runtime.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `fut` to completion, parking the thread between wake-ups.
pub(crate) fn wait<F: Future>(fut: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            // A spurious unpark only costs one more poll.
            Poll::Pending => std::thread::park(),
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
        assert_eq!(wait(rx), Ok(42));
        t.join().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        drop(tx);
        assert!(wait(rx).is_err());
    }
}
