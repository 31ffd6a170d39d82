//! Counters of what the node refused or could not handle. Bad input is counted, never fatal.

use std::sync::atomic::{AtomicU64, Ordering};

use super::alive_check::AliveReject;

/// Monotonic counters, shared between the driver task and readers.
#[derive(Debug, Default)]
pub struct NodeCounters {
    pub alive_malformed: AtomicU64,
    pub alive_bad_identity: AtomicU64,
    pub alive_unknown_identity: AtomicU64,
    pub alive_bad_signature: AtomicU64,
    pub alive_no_org: AtomicU64,
    /// Alive messages whose secret envelope (internal endpoint) did not verify; the alive
    /// was kept without it.
    pub alive_bad_secret: AtomicU64,
    /// Alive messages membership already held (or older ones), dropped unverified.
    pub alive_known: AtomicU64,
    /// Messages whose tag is illegal for their content kind (Fabric's `IsTagLegal`).
    pub illegal_tag: AtomicU64,
    /// Membership requests without a self alive.
    pub mem_req_malformed: AtomicU64,
    /// Connections whose identity has no organization or failed the mapper.
    pub conn_rejected: AtomicU64,
    /// Message kinds this node does not handle yet, dropped.
    pub unhandled: AtomicU64,
    /// Block and block pull messages naming a channel this peer has not joined.
    pub block_unknown_channel: AtomicU64,
    /// Private data pushes and requests naming a channel this peer has not joined.
    pub privdata_unknown_channel: AtomicU64,
    /// Committed config blocks that reconfigured their channel (not a refusal: kept out of
    /// [`snapshot`](Self::snapshot)).
    pub config_block_applied: AtomicU64,
    /// Committed config blocks that could not be read (the channel keeps its config).
    pub config_block_invalid: AtomicU64,
}

impl NodeCounters {
    pub fn alive_rejected(&self, reason: AliveReject) {
        let c = match reason {
            AliveReject::Malformed => &self.alive_malformed,
            AliveReject::BadIdentity => &self.alive_bad_identity,
            AliveReject::UnknownIdentity => &self.alive_unknown_identity,
            AliveReject::BadSignature => &self.alive_bad_signature,
            AliveReject::NoOrg => &self.alive_no_org,
            AliveReject::Known => &self.alive_known,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Name → value, for metrics and diagnostics.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            ("alive_malformed", r(&self.alive_malformed)),
            ("alive_bad_identity", r(&self.alive_bad_identity)),
            ("alive_unknown_identity", r(&self.alive_unknown_identity)),
            ("alive_bad_signature", r(&self.alive_bad_signature)),
            ("alive_no_org", r(&self.alive_no_org)),
            ("alive_bad_secret", r(&self.alive_bad_secret)),
            ("alive_known", r(&self.alive_known)),
            ("illegal_tag", r(&self.illegal_tag)),
            ("mem_req_malformed", r(&self.mem_req_malformed)),
            ("conn_rejected", r(&self.conn_rejected)),
            ("unhandled", r(&self.unhandled)),
            ("block_unknown_channel", r(&self.block_unknown_channel)),
            (
                "privdata_unknown_channel",
                r(&self.privdata_unknown_channel),
            ),
            ("config_block_invalid", r(&self.config_block_invalid)),
        ]
    }
}
