//! The hand-off of leadership changes to the host: the node's owner task only queues each
//! change, and one library thread (`fg-leadership`) calls the host callback, so a slow host
//! callback delays later leadership callbacks, never gossip.
//!
//! One thread keeps the changes in order and never runs the callback concurrently with
//! itself. `close` (from `fg_shutdown`, after the owner task has stopped) delivers what is
//! queued and joins the thread, so no callback runs once `fg_shutdown` returns.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Mutex;
use std::thread::JoinHandle;

use crate::ffi::counters;
use crate::node::LeadershipEvent;
use crate::sync::MutexExt;

/// Changes queued beyond this are dropped and counted: only a host callback that stays
/// blocked while leadership keeps changing can get here.
pub(crate) const QUEUE_CAPACITY: usize = 4096;

/// The queue and its delivery thread.
pub(crate) struct LeadershipQueue {
    tx: Mutex<Option<SyncSender<LeadershipEvent>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl LeadershipQueue {
    /// Starts the delivery thread; `deliver` runs there, once per change, in order.
    pub(crate) fn start(
        deliver: impl Fn(&LeadershipEvent) + Send + 'static,
    ) -> std::io::Result<LeadershipQueue> {
        let (tx, rx): (_, Receiver<LeadershipEvent>) = sync_channel(QUEUE_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("fg-leadership".into())
            .spawn(move || {
                crate::ffi::sigpipe::block_on_this_thread();
                // Ends when `close` drops the sender, after the queued changes.
                for event in rx {
                    deliver(&event);
                }
            })?;
        Ok(LeadershipQueue {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues one change; never blocks. After `close`, or when the queue is full, the change
    /// is dropped, counted and logged.
    pub(crate) fn push(&self, event: LeadershipEvent) {
        let tx = self.tx.locked();
        let Some(tx) = tx.as_ref() else {
            return;
        };
        match tx.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(e)) => {
                counters::bump(&counters::counters().leadership_events_dropped);
                tracing::error!(
                    target: "fabgossip::ffi",
                    channel = %e.channel,
                    leader = e.leader,
                    "leadership change dropped: {QUEUE_CAPACITY} changes wait for the host's leadership callback"
                );
            }
            // The thread is gone only after `close`.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Delivers the queued changes, then stops the thread. Idempotent. Must not be called
    /// from the delivery thread itself (`fg_shutdown` is refused there as re-entry).
    pub(crate) fn close(&self) {
        drop(self.tx.locked().take());
        let thread = self.thread.locked().take();
        if let Some(t) = thread {
            if t.join().is_err() {
                tracing::error!(target: "fabgossip::ffi", "the leadership delivery thread panicked");
            }
        }
    }
}

impl Drop for LeadershipQueue {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;
    use std::sync::{Arc, Mutex};

    fn ev(channel: &str, leader: bool) -> LeadershipEvent {
        LeadershipEvent {
            channel: channel.into(),
            leader,
        }
    }

    #[test]
    fn a_blocked_callback_does_not_block_push_and_order_is_kept() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (release_tx, release_rx) = channel::<()>();
        let (entered_tx, entered_rx) = channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let s = seen.clone();
        let q = LeadershipQueue::start(move |e| {
            let _ = entered_tx.send(());
            // The first change blocks until the test lets it go.
            if s.lock().unwrap().is_empty() {
                let _ = release_rx.lock().unwrap().recv();
            }
            s.lock().unwrap().push((e.channel.clone(), e.leader));
        })
        .unwrap();
        q.push(ev("a", true));
        entered_rx.recv().unwrap();
        // The callback is blocked; pushing more returns at once.
        for e in [ev("b", true), ev("a", false), ev("a", true)] {
            q.push(e);
        }
        assert!(seen.lock().unwrap().is_empty());
        release_tx.send(()).unwrap();
        // Close delivers everything queued before it returns.
        q.close();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                ("a".to_string(), true),
                ("b".to_string(), true),
                ("a".to_string(), false),
                ("a".to_string(), true)
            ]
        );
        // Nothing is delivered after close.
        q.push(ev("c", true));
        q.close();
        assert_eq!(seen.lock().unwrap().len(), 4);
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let (release_tx, release_rx) = channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let delivered = Arc::new(Mutex::new(0usize));
        let d = delivered.clone();
        let (entered_tx, entered_rx) = channel::<()>();
        let q = LeadershipQueue::start(move |_| {
            let first = *d.lock().unwrap() == 0;
            *d.lock().unwrap() += 1;
            if first {
                let _ = entered_tx.send(());
                let _ = release_rx.lock().unwrap().recv();
            }
        })
        .unwrap();
        q.push(ev("x", true));
        entered_rx.recv().unwrap();
        let before = counters::counters().snapshot().leadership_events_dropped;
        for i in 0..QUEUE_CAPACITY + 3 {
            q.push(ev("x", i % 2 == 0));
        }
        let dropped = counters::counters().snapshot().leadership_events_dropped - before;
        assert!(dropped >= 3, "{dropped}");
        release_tx.send(()).unwrap();
        q.close();
        assert_eq!(*delivered.lock().unwrap(), 1 + QUEUE_CAPACITY);
    }
}
