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
use std::sync::{Arc, Mutex};

use tracing::{debug, warn};

use tokio::sync::mpsc;

use super::super::counters::NodeCounters;
use super::pvt_commit::{PvtCommit, PvtResponse};
use super::Driver;
use crate::comm::{ReceivedMessage, RemotePeer};
use crate::message::SignedGossipMessage;
use crate::privdata::{
    receive, respond, Answered, LocalPeer, Outcome, PrivDataStats, TransientStore,
    TransientStoreLimits,
};
use crate::proto::gossip::gossip_message::{Content, Tag};
use crate::proto::gossip::GossipMessage;
use crate::state::check_state_access;

/// Pushes and requests handled at once per channel; more are answered busy (pushes) or
/// dropped (requests), and counted.
const MAX_IN_PROGRESS: usize = 16;

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
            fetch: Mutex::new(None),
            responses_dropped: AtomicU64::new(0),
        }
    }

    fn count(&self, outcome: &Outcome) {
        if let Some(i) = Outcome::LABELS.iter().position(|l| *l == outcome.label()) {
            self.received[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn set_fetch(&self, tx: Option<mpsc::Sender<PvtResponse>>) {
        *self.fetch.lock().unwrap_or_else(|e| e.into_inner()) = tx;
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Result<TransientStore, String>> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
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

    fn privdata_channel(&self, m: &ReceivedMessage) -> Option<(String, Arc<ChannelPrivData>)> {
        let found = std::str::from_utf8(&m.msg.channel)
            .ok()
            .and_then(|c| self.privdata.get(c).map(|p| (c.to_string(), p.clone())));
        if found.is_none() {
            NodeCounters::inc(&self.counters.block_unknown_channel);
            debug!(peer = %m.conn.pki_id, "private data message for a channel not joined dropped");
        }
        found
    }

    /// A pushed `PrivateDataMessage` (send-with-ack at the sender).
    pub(super) fn on_private_data(&mut self, m: ReceivedMessage) {
        let Some((channel, pd)) = self.privdata_channel(&m) else {
            return;
        };
        let nonce = m.msg.nonce;
        let to = RemotePeer {
            endpoint: m.conn.endpoint.clone(),
            pki_id: m.conn.pki_id.clone(),
        };
        let Some(Content::PrivateData(msg)) = m.msg.content else {
            return;
        };
        if !pd.begin() {
            let outcome = Outcome::Busy;
            pd.count(&outcome);
            if let Some(error) = outcome.ack() {
                self.comm.send_ack(&to.pki_id, nonce, &error);
            }
            return;
        }
        let conn = m.conn;
        let mcs = self.crypto.mcs.clone();
        let org = self.crypto.self_org.clone();
        let policy = self
            .gossip_cfg
            .pvt_data
            .implicit_collection_dissemination_policy
            .clone();
        let comm = self.comm.clone();
        tokio::task::spawn_blocking(move || {
            // Fabric's filter: the sender's handshake credential passes the readers policy.
            let reader = check_state_access(&*mcs, &channel, &conn.identity, &conn.auth).is_ok();
            let local = LocalPeer {
                org: &org,
                implicit_policy: &policy,
            };
            let outcome = match &mut *pd.lock() {
                Ok(store) => receive(store, &local, reader, &msg),
                Err(e) if reader => Outcome::StoreError(e.clone()),
                Err(_) => Outcome::Unauthorized,
            };
            pd.count(&outcome);
            match &outcome {
                Outcome::Stored => debug!(channel, peer = %to.pki_id, "private data stored"),
                Outcome::Unauthorized => {
                    warn!(channel, peer = %to.pki_id, "private data from a peer outside the channel dropped")
                }
                refused => {
                    warn!(channel, peer = %to.pki_id, reason = ?refused, "private data refused")
                }
            }
            if let Some(error) = outcome.ack() {
                comm.send_ack(&to.pki_id, nonce, &error);
            }
            pd.end();
        });
    }

    /// A `RemotePvtDataRequest`: answered with what the requester may read.
    pub(super) fn on_private_request(&mut self, m: ReceivedMessage) {
        let Some((channel, pd)) = self.privdata_channel(&m) else {
            return;
        };
        let nonce = m.msg.nonce;
        let to = RemotePeer {
            endpoint: m.conn.endpoint.clone(),
            pki_id: m.conn.pki_id.clone(),
        };
        let Some(Content::PrivateReq(req)) = m.msg.content else {
            return;
        };
        if !pd.begin() {
            pd.requests_busy
                .fetch_add(req.digests.len() as u64, Ordering::Relaxed);
            return;
        }
        let conn = m.conn;
        let mcs = self.crypto.mcs.clone();
        let advisor = self.crypto.advisor.clone();
        let org = self.crypto.self_org.clone();
        let policy = self
            .gossip_cfg
            .pvt_data
            .implicit_collection_dissemination_policy
            .clone();
        let comm = self.comm.clone();
        let ledger = self.blocks.get(&channel).map(|b| b.ledger.clone());
        tokio::task::spawn_blocking(move || {
            if check_state_access(&*mcs, &channel, &conn.identity, &conn.auth).is_err() {
                pd.requests_unauthorized
                    .fetch_add(req.digests.len() as u64, Ordering::Relaxed);
                warn!(channel, peer = %to.pki_id, "private data request from a peer outside the channel dropped");
                pd.end();
                return;
            }
            // Committed private data, read from the ledger only for digests the transient
            // store has nothing for.
            let mut committed = |seq: u64| {
                let Some(l) = &ledger else {
                    return Vec::new();
                };
                let l = l.lock().unwrap_or_else(|e| e.into_inner());
                if seq >= l.height() {
                    return Vec::new();
                }
                l.get_private_data(seq).unwrap_or_else(|e| {
                    warn!(
                        channel,
                        block = seq,
                        "committed private data unreadable: {e}"
                    );
                    Vec::new()
                })
            };
            let answer = match &mut *pd.lock() {
                Ok(store) => Some(respond(
                    store,
                    &mut committed,
                    &*advisor,
                    &org,
                    &policy,
                    &conn.identity,
                    &req,
                )),
                Err(_) => None,
            };
            if let Some((res, answered)) = answer {
                pd.served.fetch_add(answered.served, Ordering::Relaxed);
                pd.not_found
                    .fetch_add(answered.not_found, Ordering::Relaxed);
                pd.refused.fetch_add(answered.refused, Ordering::Relaxed);
                let msg = GossipMessage {
                    nonce,
                    channel: channel.into_bytes(),
                    tag: Tag::ChanOnly as i32,
                    content: Some(Content::PrivateRes(res)),
                };
                comm.send(SignedGossipMessage::unsigned(msg).envelope, &to);
            }
            pd.end();
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
        let sent = pd
            .fetch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|tx| {
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
