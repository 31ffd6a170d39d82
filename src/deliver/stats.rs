//! Counters of one channel's delivery service, shared between its task and the node's
//! snapshot.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::sync::MutexExt;
use serde::Serialize;

/// What the delivery client did, as of a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryStats {
    /// The orderer endpoint dialed last (empty before the first attempt).
    pub endpoint: String,
    /// A Deliver stream is open and the seek request was sent.
    pub connected: bool,
    /// Blocks that passed verification and were handed over.
    pub blocks_received: u64,
    /// Blocks that failed verification or came out of order: dropped, the endpoint left.
    pub blocks_rejected: u64,
    /// Sessions that ended in failure (dial, stream error, status reply, bad block).
    pub reconnects: u64,
    /// Status replies (any status ends a session, as in Fabric).
    pub status_replies: u64,
    /// Times no orderer could be reached for longer than `reconnectTotalTimeThreshold`.
    pub unreachable_reports: u64,
    /// The next block number the client expects (the last handed over + 1).
    pub next_block: u64,
    /// `next_block` minus the committed height (filled in by the node).
    pub lag: u64,
}

/// The shared, lock-free-on-the-hot-path form of [`DeliveryStats`].
#[derive(Debug, Default)]
pub struct DeliveryCounters {
    endpoint: Mutex<String>,
    connected: AtomicBool,
    blocks_received: AtomicU64,
    blocks_rejected: AtomicU64,
    reconnects: AtomicU64,
    status_replies: AtomicU64,
    unreachable_reports: AtomicU64,
    next_block: AtomicU64,
}

impl DeliveryCounters {
    pub fn snapshot(&self) -> DeliveryStats {
        DeliveryStats {
            endpoint: self.endpoint.locked().clone(),
            connected: self.connected.load(Ordering::Relaxed),
            blocks_received: self.blocks_received.load(Ordering::Relaxed),
            blocks_rejected: self.blocks_rejected.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            status_replies: self.status_replies.load(Ordering::Relaxed),
            unreachable_reports: self.unreachable_reports.load(Ordering::Relaxed),
            next_block: self.next_block.load(Ordering::Relaxed),
            lag: 0,
        }
    }

    pub(super) fn set_endpoint(&self, endpoint: &str) {
        let mut e = self.endpoint.locked();
        if *e != endpoint {
            *e = endpoint.to_string();
        }
    }

    pub(super) fn set_connected(&self, on: bool) {
        self.connected.store(on, Ordering::Relaxed);
    }

    pub(super) fn received(&self, seq: u64) {
        self.blocks_received.fetch_add(1, Ordering::Relaxed);
        self.next_block.store(seq + 1, Ordering::Relaxed);
    }

    pub(super) fn rejected(&self) {
        self.blocks_rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn status_reply(&self) {
        self.status_replies.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn unreachable(&self) {
        self.unreachable_reports.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn seek_from(&self, seq: u64) {
        self.next_block.store(seq, Ordering::Relaxed);
    }
}
