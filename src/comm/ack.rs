//! Send with acknowledgement (Fabric's `SendWithAck`): one message to a set of peers, each
//! expected to answer with an `Acknowledgement` carrying the message's nonce.
//!
//! Acks are taken out of the inbound stream before anything else sees them and matched by
//! (nonce, PKI-ID of the connection they came on), as Fabric does. A pending entry lives only
//! while its sender waits: a timeout, a cancelled wait or an answer removes it, and an ack no
//! one waits for is counted and dropped, so forged acks cannot grow memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::RemotePeer;
use crate::sync::MutexExt;
use crate::types::PkiId;

/// How one peer answered a message sent with ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckOutcome {
    /// The peer acknowledged it (an `Acknowledgement` with an empty error).
    Acked,
    /// The peer answered with an error (Fabric: "NACK").
    Nacked(String),
    /// No answer within the timeout.
    TimedOut,
    /// Never handed to the peer: no connection could be made, or the send failed.
    SendFailed(String),
}

impl AckOutcome {
    pub fn is_ack(&self) -> bool {
        matches!(self, AckOutcome::Acked)
    }

    /// Short stable name: `acked`, `nacked`, `timeout`, `send_failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            AckOutcome::Acked => "acked",
            AckOutcome::Nacked(_) => "nacked",
            AckOutcome::TimedOut => "timeout",
            AckOutcome::SendFailed(_) => "send_failed",
        }
    }
}

impl std::fmt::Display for AckOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AckOutcome::Acked => f.write_str("acked"),
            AckOutcome::Nacked(e) => write!(f, "nacked: {e}"),
            AckOutcome::TimedOut => f.write_str("timed out"),
            AckOutcome::SendFailed(e) => write!(f, "send failed: {e}"),
        }
    }
}

/// The outcome of one peer of a send with ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckResult {
    pub peer: RemotePeer,
    pub outcome: AckOutcome,
}

/// Counters of `fabgossip_comm_acks{result}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AckCounts {
    /// Acks matched to a waiting sender with an empty error.
    pub acked: u64,
    /// Acks matched to a waiting sender with an error text.
    pub nacked: u64,
    /// Peers that did not answer within the timeout.
    pub timeout: u64,
    /// Acks no sender waits for (late, duplicated or forged): dropped.
    pub unknown_nonce: u64,
}

/// The senders waiting for acks, per peer and nonce.
#[derive(Default)]
pub(crate) struct PendingAcks {
    waiting: Mutex<HashMap<PkiId, HashMap<u64, oneshot::Sender<AckOutcome>>>>,
    acked: AtomicU64,
    nacked: AtomicU64,
    timeout: AtomicU64,
    unknown_nonce: AtomicU64,
}

impl PendingAcks {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<PkiId, HashMap<u64, oneshot::Sender<AckOutcome>>>> {
        self.waiting.locked()
    }

    /// Starts waiting for `peer`'s ack of `nonce`. `None` when the same (nonce, peer) is
    /// already awaited.
    pub(crate) fn register(
        &self,
        nonce: u64,
        peer: &PkiId,
    ) -> Option<oneshot::Receiver<AckOutcome>> {
        let mut g = self.lock();
        let per_peer = g.entry(peer.clone()).or_default();
        if per_peer.contains_key(&nonce) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        per_peer.insert(nonce, tx);
        Some(rx)
    }

    fn take(&self, nonce: u64, peer: &PkiId) -> Option<oneshot::Sender<AckOutcome>> {
        let mut g = self.lock();
        let per_peer = g.get_mut(peer)?;
        let tx = per_peer.remove(&nonce);
        if per_peer.is_empty() {
            g.remove(peer);
        }
        tx
    }

    /// An ack arrived from `peer`; true if a sender waited for it.
    pub(crate) fn on_ack(&self, nonce: u64, peer: &PkiId, error: &str) -> bool {
        let Some(tx) = self.take(nonce, peer) else {
            self.unknown_nonce.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        let outcome = if error.is_empty() {
            self.acked.fetch_add(1, Ordering::Relaxed);
            AckOutcome::Acked
        } else {
            self.nacked.fetch_add(1, Ordering::Relaxed);
            AckOutcome::Nacked(error.to_string())
        };
        let _ = tx.send(outcome);
        true
    }

    /// Everything sent to `peer` and still awaited was lost (its dial or connection failed).
    pub(crate) fn fail_peer(&self, peer: &PkiId, why: &str) {
        let Some(per_peer) = self.lock().remove(peer) else {
            return;
        };
        for (_, tx) in per_peer {
            let _ = tx.send(AckOutcome::SendFailed(why.to_string()));
        }
    }

    /// Comm stops: nothing awaited will be answered.
    pub(crate) fn fail_all(&self, why: &str) {
        let all = std::mem::take(&mut *self.lock());
        for (_, tx) in all.into_values().flatten() {
            let _ = tx.send(AckOutcome::SendFailed(why.to_string()));
        }
    }

    /// The sender stopped waiting (timeout or cancelled).
    pub(crate) fn forget(&self, nonce: u64, peer: &PkiId) {
        self.take(nonce, peer);
    }

    pub(crate) fn timed_out(&self) {
        self.timeout.fetch_add(1, Ordering::Relaxed);
    }

    /// Entries awaited now, for tests and diagnostics.
    pub(crate) fn len(&self) -> usize {
        self.lock().values().map(HashMap::len).sum()
    }

    pub(crate) fn counts(&self) -> AckCounts {
        AckCounts {
            acked: self.acked.load(Ordering::Relaxed),
            nacked: self.nacked.load(Ordering::Relaxed),
            timeout: self.timeout.load(Ordering::Relaxed),
            unknown_nonce: self.unknown_nonce.load(Ordering::Relaxed),
        }
    }
}

/// Removes a pending entry when its waiter goes away, whatever the reason.
pub(crate) struct PendingGuard<'a> {
    pub acks: &'a PendingAcks,
    pub nonce: u64,
    pub peer: PkiId,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.acks.forget(self.nonce, &self.peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pki(b: u8) -> PkiId {
        PkiId::from(vec![b; 4])
    }

    #[test]
    fn an_ack_reaches_its_waiter_once_and_frees_the_entry() {
        let acks = PendingAcks::default();
        let mut rx = acks.register(7, &pki(1)).unwrap();
        assert!(acks.register(7, &pki(1)).is_none(), "same nonce twice");
        assert!(
            !acks.on_ack(7, &pki(2), ""),
            "another peer's ack does not match"
        );
        assert!(acks.on_ack(7, &pki(1), ""));
        assert_eq!(rx.try_recv().unwrap(), AckOutcome::Acked);
        assert!(!acks.on_ack(7, &pki(1), ""), "a second ack is unknown");
        assert_eq!(acks.len(), 0);
        let c = acks.counts();
        assert_eq!((c.acked, c.unknown_nonce), (1, 2));
    }

    #[test]
    fn a_nack_carries_the_error_text() {
        let acks = PendingAcks::default();
        let mut rx = acks.register(1, &pki(1)).unwrap();
        acks.on_ack(1, &pki(1), "not eligible");
        assert_eq!(
            rx.try_recv().unwrap(),
            AckOutcome::Nacked("not eligible".into())
        );
        assert_eq!(acks.counts().nacked, 1);
    }

    #[test]
    fn a_failed_peer_fails_all_its_waiters_only() {
        let acks = PendingAcks::default();
        let mut a = acks.register(1, &pki(1)).unwrap();
        let mut b = acks.register(2, &pki(1)).unwrap();
        let mut c = acks.register(1, &pki(2)).unwrap();
        acks.fail_peer(&pki(1), "dial failed");
        assert!(matches!(a.try_recv(), Ok(AckOutcome::SendFailed(_))));
        assert!(matches!(b.try_recv(), Ok(AckOutcome::SendFailed(_))));
        assert!(c.try_recv().is_err());
        assert_eq!(acks.len(), 1);
    }

    #[test]
    fn a_dropped_guard_forgets_the_entry_and_fake_acks_leave_nothing() {
        let acks = PendingAcks::default();
        {
            let _rx = acks.register(9, &pki(1)).unwrap();
            let _g = PendingGuard {
                acks: &acks,
                nonce: 9,
                peer: pki(1),
            };
        }
        assert_eq!(acks.len(), 0);
        for n in 0..10_000u64 {
            acks.on_ack(n, &pki(3), "");
        }
        assert_eq!(acks.len(), 0);
        assert_eq!(acks.counts().unknown_nonce, 10_000);
        assert!(acks.lock().is_empty());
    }
}
