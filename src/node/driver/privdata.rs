//! Private data at the owner task, receiving side: a pushed `PrivateDataMessage` goes to its
//! channel's receiver and is answered with an `Acknowledgement` on the connection it came
//! from; a `RemotePvtDataRequest` is answered with a `RemotePvtDataResponse` by the
//! responder. Both run on blocking threads (channel policy check, transient store file I/O),
//! never on the owner task; at most `MAX_IN_PROGRESS` per channel at once.
//!
//! The transient store of each joined channel lives in `<peer.fileSystemPath>/transientstore/
//! <channel>` and is purged below `height - transientstoreMaxBlockRetention` as blocks commit.

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use tokio::sync::mpsc;

use super::super::counters::NodeCounters;
use super::super::privdata::{channel_msps, membership, read_registry};
use super::pvt_commit::{PvtCommit, PvtResponse};
use super::Driver;
use crate::comm::{Comm, ConnectionInfo, ReceivedMessage, RemotePeer};
use crate::config::ImplicitCollectionPolicy;
use crate::crypto::{MessageCryptoService, SecurityAdvisor};
use crate::message::SignedGossipMessage;
use crate::privdata::{
    receive, respond, Answered, CollectionRegistry, LocalPeer, Outcome, PrivDataStats,
    TransientStore, TransientStoreLimits,
};
use crate::proto::gossip::gossip_message::{Content, Tag};
use crate::proto::gossip::GossipMessage;
use crate::state::check_state_access;
use crate::sync::MutexExt;

/// Pushes and requests handled at once per channel; more are answered busy (pushes) or
/// dropped (requests), and counted.
const MAX_IN_PROGRESS: usize = 16;

/// Refusals logged at `warn` at most once per this interval per channel; the others are
/// counted (`fabgossip_privdata_received`) and summed into the next warning.
const REFUSAL_WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Lets one warning through per interval and counts the ones held back.
#[derive(Debug, Default)]
struct WarnLimiter {
    last: Option<Instant>,
    suppressed: u64,
}

impl WarnLimiter {
    /// `Some(held back since the last one)` when a warning may be logged at `now`.
    fn allow(&mut self, now: Instant, interval: Duration) -> Option<u64> {
        if self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < interval)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// A private data message taken off the owner task, with what its blocking job needs.
struct Inbound {
    channel: String,
    pd: Arc<ChannelPrivData>,
    to: RemotePeer,
    nonce: u64,
    conn: Arc<ConnectionInfo>,
    mcs: Arc<dyn MessageCryptoService>,
    advisor: Arc<dyn SecurityAdvisor>,
    org: String,
    identity: Vec<u8>,
    policy: ImplicitCollectionPolicy,
    collections: Arc<RwLock<CollectionRegistry>>,
    comm: Comm,
}

impl Inbound {
    /// Whether the sender's handshake credential passes the channel's readers policy.
    fn sender_is_reader(&self) -> bool {
        check_state_access(
            &*self.mcs,
            &self.channel,
            &self.conn.identity,
            &self.conn.auth,
        )
        .is_ok()
    }

    /// Runs `f` with this peer as the receiver and responder see it: the channel's MSPs
    /// (or MSP IDs) and the host's collection configs.
    fn with_local<R>(&self, f: impl FnOnce(&LocalPeer<'_>) -> R) -> R {
        let msps = channel_msps(&*self.mcs, &self.channel);
        let registry = read_registry(&self.collections);
        let local = LocalPeer {
            org: &self.org,
            identity: &self.identity,
            channel: &self.channel,
            membership: membership(msps.as_ref(), &*self.advisor),
            implicit_policy: &self.policy,
            registry: &registry,
        };
        f(&local)
    }
}

/// One joined channel's private data: its transient store and counters.
#[derive(Debug)]
pub(crate) struct ChannelPrivData {
    store: Mutex<Result<TransientStore, String>>,
    received: [AtomicU64; Outcome::LABELS.len()],
    served: AtomicU64,
    not_found: AtomicU64,
    refused: AtomicU64,
    requests_unauthorized: AtomicU64,
    requests_busy: AtomicU64,
    in_progress: AtomicUsize,
    refusal_warnings: Mutex<WarnLimiter>,
    /// Where the channel's running private data fetch takes responses (one at a time: the
    /// channel commits one batch at a time).
    fetch: Mutex<Option<mpsc::Sender<PvtResponse>>>,
    /// Responses no fetch was waiting for, or that overflowed its queue.
    pub(crate) responses_dropped: AtomicU64,
}

impl ChannelPrivData {
    fn open(dir: &Path) -> ChannelPrivData {
        let store = TransientStore::open(dir, TransientStoreLimits::default()).map_err(|e| {
            warn!(error = %e, "transient store unavailable: private data of the channel is refused");
            e.to_string()
        });
        ChannelPrivData {
            store: Mutex::new(store),
            received: Default::default(),
            served: AtomicU64::new(0),
            not_found: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            requests_unauthorized: AtomicU64::new(0),
            requests_busy: AtomicU64::new(0),
            in_progress: AtomicUsize::new(0),
            refusal_warnings: Mutex::new(WarnLimiter::default()),
            fetch: Mutex::new(None),
            responses_dropped: AtomicU64::new(0),
        }
    }

    fn count(&self, outcome: &Outcome) {
        if let Some(i) = Outcome::LABELS.iter().position(|l| *l == outcome.label()) {
            self.received[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A refused push or request, logged at `warn` at most once per
    /// [`REFUSAL_WARN_INTERVAL`]; each is counted regardless.
    fn refused_warn(&self, channel: &str, from: &RemotePeer, outcome: &Outcome) {
        let allowed = self
            .refusal_warnings
            .locked()
            .allow(Instant::now(), REFUSAL_WARN_INTERVAL);
        match allowed {
            Some(suppressed) => warn!(
                channel,
                peer = %from.pki_id,
                reason = ?outcome,
                suppressed,
                "private data refused ({suppressed} more refusals since the last warning)"
            ),
            None => debug!(channel, peer = %from.pki_id, reason = ?outcome, "private data refused"),
        }
    }

    pub(super) fn set_fetch(&self, tx: Option<mpsc::Sender<PvtResponse>>) {
        *self.fetch.locked() = tx;
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Result<TransientStore, String>> {
        self.store.locked()
    }

    /// Takes a slot for one push or request; `false` when all are taken.
    fn begin(&self) -> bool {
        if self.in_progress.fetch_add(1, Ordering::AcqRel) >= MAX_IN_PROGRESS {
            self.in_progress.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    fn end(&self) {
        self.in_progress.fetch_sub(1, Ordering::AcqRel);
    }

    /// The counters as metrics read them. Waits for a write in progress at most as long as
    /// one file write takes.
    pub(crate) fn stats(&self) -> PrivDataStats {
        let (transient, store_unavailable) = match &*self.lock() {
            Ok(s) => (s.stats(), None),
            Err(e) => (Default::default(), Some(e.clone())),
        };
        PrivDataStats {
            received: Outcome::LABELS
                .iter()
                .zip(&self.received)
                .map(|(l, v)| (*l, v.load(Ordering::Relaxed)))
                .collect(),
            requests: Answered {
                served: self.served.load(Ordering::Relaxed),
                not_found: self.not_found.load(Ordering::Relaxed),
                refused: self.refused.load(Ordering::Relaxed)
                    + self.requests_busy.load(Ordering::Relaxed),
            },
            requests_unauthorized: self.requests_unauthorized.load(Ordering::Relaxed),
            responses_dropped: self.responses_dropped.load(Ordering::Relaxed),
            transient,
            store_unavailable,
        }
    }
}

impl Driver {
    /// Opens the channel's transient store (at first join, or a rejoin after leave).
    pub(super) fn privdata_join(&mut self, channel: &str) {
        if self.privdata.contains_key(channel) {
            return;
        }
        let dir = self.pvt_root.join(channel);
        self.privdata
            .insert(channel.to_string(), Arc::new(ChannelPrivData::open(&dir)));
    }

    pub(super) fn privdata_leave(&mut self, channel: &str) {
        self.privdata.remove(channel);
    }

    /// The message's joined channel and its private data; else counted as
    /// `privdata_unknown_channel` and dropped.
    fn privdata_channel(&self, m: &ReceivedMessage) -> Option<(String, Arc<ChannelPrivData>)> {
        let found = std::str::from_utf8(&m.msg.channel)
            .ok()
            .and_then(|c| self.privdata.get(c).map(|p| (c.to_string(), p.clone())));
        if found.is_none() {
            NodeCounters::inc(&self.counters.privdata_unknown_channel);
            debug!(peer = %m.conn.pki_id, "private data message for a channel not joined dropped");
        }
        found
    }

    /// The preamble of the push and request handlers: the message's joined channel, who
    /// sent it, and what the blocking job needs to decide.
    fn privdata_inbound(&self, m: ReceivedMessage) -> Option<(Inbound, Option<Content>)> {
        let (channel, pd) = self.privdata_channel(&m)?;
        let inbound = Inbound {
            to: RemotePeer {
                endpoint: m.conn.endpoint.clone(),
                pki_id: m.conn.pki_id.clone(),
            },
            nonce: m.msg.nonce,
            conn: m.conn,
            channel,
            pd,
            mcs: self.crypto.mcs.clone(),
            advisor: self.crypto.advisor.clone(),
            org: self.crypto.self_org.clone(),
            identity: self.crypto.self_identity.clone(),
            policy: self
                .gossip_cfg
                .pvt_data
                .implicit_collection_dissemination_policy
                .clone(),
            collections: self.collections.clone(),
            comm: self.comm.clone(),
        };
        Some((inbound, m.msg.content))
    }

    /// A pushed `PrivateDataMessage` (send-with-ack at the sender).
    pub(super) fn on_private_data(&mut self, m: ReceivedMessage) {
        let Some((inb, Some(Content::PrivateData(msg)))) = self.privdata_inbound(m) else {
            return;
        };
        if !inb.pd.begin() {
            let outcome = Outcome::Busy;
            inb.pd.count(&outcome);
            inb.pd.refused_warn(&inb.channel, &inb.to, &outcome);
            if let Some(error) = outcome.ack() {
                inb.comm.send_ack(&inb.to.pki_id, inb.nonce, &error);
            }
            return;
        }
        tokio::task::spawn_blocking(move || {
            // Fabric's filter: the sender's handshake credential passes the readers policy.
            let reader = inb.sender_is_reader();
            let outcome = inb.with_local(|local| match &mut *inb.pd.lock() {
                Ok(store) => receive(store, local, reader, &msg),
                Err(e) if reader => Outcome::StoreError(e.clone()),
                Err(_) => Outcome::Unauthorized,
            });
            inb.pd.count(&outcome);
            match &outcome {
                Outcome::Stored => {
                    debug!(channel = %inb.channel, peer = %inb.to.pki_id, "private data stored")
                }
                refused => inb.pd.refused_warn(&inb.channel, &inb.to, refused),
            }
            if let Some(error) = outcome.ack() {
                inb.comm.send_ack(&inb.to.pki_id, inb.nonce, &error);
            }
            inb.pd.end();
        });
    }

    /// A `RemotePvtDataRequest`: answered with what the requester may read.
    pub(super) fn on_private_request(&mut self, m: ReceivedMessage) {
        let Some((inb, Some(Content::PrivateReq(req)))) = self.privdata_inbound(m) else {
            return;
        };
        if !inb.pd.begin() {
            inb.pd
                .requests_busy
                .fetch_add(req.digests.len() as u64, Ordering::Relaxed);
            return;
        }
        let ledger = self.blocks.get(&inb.channel).map(|b| b.ledger.clone());
        tokio::task::spawn_blocking(move || {
            if !inb.sender_is_reader() {
                inb.pd
                    .requests_unauthorized
                    .fetch_add(req.digests.len() as u64, Ordering::Relaxed);
                inb.pd
                    .refused_warn(&inb.channel, &inb.to, &Outcome::Unauthorized);
                inb.pd.end();
                return;
            }
            // Committed private data, read from the ledger only for digests the transient
            // store has nothing for.
            let mut committed = |seq: u64| {
                let Some(l) = &ledger else {
                    return Vec::new();
                };
                let l = l.locked();
                if seq >= l.height() {
                    return Vec::new();
                }
                l.get_private_data(seq).unwrap_or_else(|e| {
                    warn!(
                        channel = inb.channel,
                        block = seq,
                        "committed private data unreadable: {e}"
                    );
                    Vec::new()
                })
            };
            let answer = inb.with_local(|local| match &mut *inb.pd.lock() {
                Ok(store) => Some(respond(
                    store,
                    &mut committed,
                    local,
                    &inb.conn.identity,
                    &req,
                )),
                Err(_) => None,
            });
            if let Some((res, answered)) = answer {
                let pd = &inb.pd;
                pd.served.fetch_add(answered.served, Ordering::Relaxed);
                pd.not_found
                    .fetch_add(answered.not_found, Ordering::Relaxed);
                pd.refused.fetch_add(answered.refused, Ordering::Relaxed);
                let msg = GossipMessage {
                    nonce: inb.nonce,
                    channel: inb.channel.clone().into_bytes(),
                    tag: Tag::ChanOnly as i32,
                    content: Some(Content::PrivateRes(res)),
                };
                inb.comm
                    .send(SignedGossipMessage::unsigned(msg).envelope, &inb.to);
            }
            inb.pd.end();
        });
    }

    /// A `RemotePvtDataResponse`: handed to the channel's running fetch, which matches it
    /// to its request by sender and nonce. Never waits: a full queue drops it (counted).
    pub(super) fn on_private_response(&mut self, m: ReceivedMessage) {
        let Some((channel, pd)) = self.privdata_channel(&m) else {
            return;
        };
        let Some(Content::PrivateRes(res)) = m.msg.content else {
            return;
        };
        let sent = pd.fetch.locked().as_ref().map(|tx| {
            tx.try_send((m.conn.pki_id.clone(), m.msg.nonce, res))
                .is_ok()
        });
        if sent != Some(true) {
            pd.responses_dropped.fetch_add(1, Ordering::Relaxed);
            debug!(channel, peer = %m.conn.pki_id, "private data response nobody waits for dropped");
        }
    }

    /// What a commit with private data needs of this node; `None` for a channel without
    /// private data (not joined).
    pub(super) fn pvt_commit(&self, channel: &str) -> Option<PvtCommit> {
        let pd = self.privdata.get(channel)?.clone();
        let cfg = &self.gossip_cfg.pvt_data;
        Some(PvtCommit {
            channel: channel.to_string(),
            pd,
            comm: self.comm.clone(),
            view: self.channel_view.clone(),
            mcs: self.crypto.mcs.clone(),
            self_pki_id: self.crypto.self_pki_id.clone(),
            own_org: self.crypto.self_org.to_string(),
            implicit_policy: cfg.implicit_collection_dissemination_policy.clone(),
            pull_retry_threshold: cfg.pull_retry_threshold,
            collections: self.collections.clone(),
        })
    }

    /// After a commit: entries received more than `transientstoreMaxBlockRetention` blocks
    /// below the ledger height are dropped. Skipped while a write holds the store (the next
    /// commit purges).
    pub(super) fn privdata_committed(&mut self, channel: &str) {
        let retention = self.gossip_cfg.pvt_data.transientstore_max_block_retention;
        let (Some(pd), Some(b)) = (self.privdata.get(channel), self.blocks.get(channel)) else {
            return;
        };
        let Some(floor) = b.height().checked_sub(retention).filter(|f| *f > 0) else {
            return;
        };
        if let Ok(mut guard) = pd.store.try_lock() {
            if let Ok(store) = &mut *guard {
                if store.min_height().is_some_and(|h| h < floor) {
                    store.purge_below_height(floor);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_interval_with_the_count_held_back() {
        let mut w = WarnLimiter::default();
        let t0 = Instant::now();
        let every = Duration::from_secs(10);
        assert_eq!(w.allow(t0, every), Some(0));
        for i in 1..=5 {
            assert_eq!(w.allow(t0 + Duration::from_secs(i), every), None);
        }
        assert_eq!(w.allow(t0 + every, every), Some(5));
        assert_eq!(w.allow(t0 + every, every), None);
        assert_eq!(w.allow(t0 + every * 3, every), Some(1));
    }
}
