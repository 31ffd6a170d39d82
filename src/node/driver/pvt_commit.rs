//! The commit of a batch whose blocks need private data (Fabric's coordinator `StoreBlock`).
//!
//! A commit job finds, off the owner task, whether any block of the batch has transactions
//! with private write sets ([`batch_needs`]); a batch with none takes the plain commit path.
//! Otherwise the batch goes to [`PvtCommit::run`], a task of its own: per block, the
//! coordinator takes what the payload and the transient store hold, and fetches the rest
//! with `RemotePvtDataRequest`s to eligible peers. The owner task routes each
//! `RemotePvtDataResponse` of the channel to the running fetch and never waits for it. The
//! state provider has this batch in flight, so the channel's later blocks wait (in order, as
//! in Fabric) while other channels go on. Then the batch is committed with its private data
//! and missing lists, and the transient store is purged of the committed transactions.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::{BlockJobReport, ChannelPrivData, ChannelSnapshot};
use crate::comm::{Comm, RemotePeer};
use crate::config::ImplicitCollectionPolicy;
use crate::crypto::MessageCryptoService;
use crate::ledger::{Ledger, MissingPvtData};
use crate::message::SignedGossipMessage;
use crate::privdata::block_pvt::{needs_of_block_bytes, BlockPvtNeeds};
use crate::privdata::collection::{resolve, CollectionAccess};
use crate::privdata::coordinator::{
    assemble, prepare, CollectionLookup, Fetch, FetchCounts, FetchPeer, Found, LocalOrg, Prepared,
    PvtRequest, DEFAULT_REQUEST_TIMEOUT,
};
use crate::privdata::registry::CollectionRegistry;
use crate::proto::gossip::gossip_message::{Content, Tag};
use crate::proto::gossip::{GossipMessage, RemotePvtDataRequest, RemotePvtDataResponse};
use crate::state::{self, commit_batch, CommitBatch, Payload};
use crate::sync::{MutexExt, RwLockExt};
use crate::types::PkiId;

/// A `RemotePvtDataResponse` routed to a running fetch: sender, nonce, response.
pub(crate) type PvtResponse = (PkiId, u64, RemotePvtDataResponse);

/// Responses queued for a running fetch; more are dropped and counted.
pub(crate) const RESPONSE_QUEUE: usize = 256;

/// How often a fetch with nobody to ask looks at the channel's peers again.
const MEMBERSHIP_POLL: Duration = Duration::from_secs(1);

/// What the private data of one committed batch took, for metrics.
#[derive(Debug, Default)]
pub(crate) struct PvtCommitTimes {
    pub fetch: Vec<Duration>,
    pub commit_block: Vec<Duration>,
    pub purge: Option<Duration>,
    pub missing: u64,
}

/// The needs of each block of `batch`; `None` when no block needs private data.
pub(super) fn batch_needs(batch: &CommitBatch) -> Option<Vec<BlockPvtNeeds>> {
    let needs: Vec<BlockPvtNeeds> = batch
        .payloads()
        .iter()
        .map(|p| needs_of_block_bytes(&p.block).unwrap_or_default())
        .collect();
    needs.iter().any(|n| !n.is_empty()).then_some(needs)
}

/// What a private data commit needs of the node, taken at the commit.
pub(super) struct PvtCommit {
    pub channel: String,
    pub pd: Arc<ChannelPrivData>,
    pub comm: Comm,
    pub view: Arc<RwLock<ChannelSnapshot>>,
    pub mcs: Arc<dyn MessageCryptoService>,
    pub self_pki_id: PkiId,
    pub own_org: String,
    pub implicit_policy: ImplicitCollectionPolicy,
    pub pull_retry_threshold: Duration,
    /// The host's collection configs (`fg_set_collection_config`).
    pub collections: Arc<RwLock<CollectionRegistry>>,
}

/// Explicit collections resolved through the host's configs of the channel.
struct HostConfigs<'a> {
    registry: &'a CollectionRegistry,
    channel: &'a str,
    org: &'a str,
    policy: &'a ImplicitCollectionPolicy,
}

impl CollectionLookup for HostConfigs<'_> {
    fn access(&self, namespace: &str, collection: &str) -> Option<CollectionAccess> {
        let package = self.registry.get(self.channel, namespace)?;
        resolve(collection, Some(package), self.org, self.policy).ok()
    }
}

/// One block of the batch, decided.
struct Decided {
    payload: Payload,
    /// Transactions with private data (purged from the transient store at commit).
    tx_ids: Vec<String>,
    missing: Vec<MissingPvtData>,
    /// When its preparation started (`None`: the block needs no private data).
    started: Option<Instant>,
}

impl PvtCommit {
    pub(super) async fn run(
        self,
        batch: CommitBatch,
        needs: Vec<BlockPvtNeeds>,
        ledger: Arc<Mutex<Box<dyn Ledger>>>,
        jobs: mpsc::Sender<BlockJobReport>,
        scan_configs: bool,
    ) {
        let (tx, mut rx) = mpsc::channel(RESPONSE_QUEUE);
        self.pd.set_fetch(Some(tx));
        let mut times = PvtCommitTimes::default();
        let first = batch.first();
        let mut decided = Vec::with_capacity(batch.len());
        for (payload, needs) in batch.into_payloads().into_iter().zip(needs) {
            if needs.is_empty() {
                decided.push(Decided {
                    payload,
                    tx_ids: Vec::new(),
                    missing: Vec::new(),
                    started: None,
                });
                continue;
            }
            let started = Instant::now();
            let prepared = self.prepare(&needs, &payload).await;
            let mut found = prepared.found;
            let mut missing = prepared.missing;
            if !prepared.to_fetch.is_empty() {
                let t = Instant::now();
                let (f, m, counts) = self.fetch(payload.seq, prepared.to_fetch, &mut rx).await;
                times.fetch.push(t.elapsed());
                self.log_fetch(payload.seq, &counts, f.len(), &m);
                found.extend(f);
                missing.extend(m);
            }
            decided.push(Decided {
                payload: Payload {
                    private_data: assemble(found).into(),
                    ..payload
                },
                tx_ids: needs.txs.iter().map(|t| t.tx_id.clone()).collect(),
                missing,
                started: Some(started),
            });
        }
        self.pd.set_fetch(None);
        let channel = self.channel.clone();
        let pd = self.pd.clone();
        tokio::task::spawn_blocking(move || {
            let (report, batch, took) = commit_decided(&ledger, first, &decided);
            let height = match &report {
                state::Input::Committed { height, .. }
                | state::Input::CommitFailed { height, .. }
                | state::Input::CommitRefused { height, .. } => *height,
                _ => 0,
            };
            let committed: Vec<&Decided> =
                decided.iter().filter(|d| d.payload.seq < height).collect();
            let done = Instant::now();
            for d in &committed {
                if let Some(s) = d.started {
                    times.commit_block.push(done.duration_since(s));
                }
                times.missing += d.missing.len() as u64;
            }
            let purge: Vec<&str> = committed
                .iter()
                .flat_map(|d| d.tx_ids.iter().map(String::as_str))
                .collect();
            if !purge.is_empty() {
                let t = Instant::now();
                if let Ok(store) = &mut *pd.lock() {
                    store.purge_by_tx_ids(purge);
                }
                times.purge = Some(t.elapsed());
            }
            let configs = match (&batch, scan_configs) {
                (Some(b), true) => super::join::committed_configs(&channel, b, &report),
                _ => Vec::new(),
            };
            let _ = jobs.blocking_send(BlockJobReport::Commit {
                channel,
                report,
                took,
                configs,
                pvt: Some(times),
            });
        });
    }

    /// The coordinator's first pass over one block, on a blocking thread (transient store
    /// reads). Should that thread fail, every digest is listed missing.
    async fn prepare(&self, needs: &BlockPvtNeeds, payload: &Payload) -> Prepared {
        let pd = self.pd.clone();
        let mcs = self.mcs.clone();
        let org = self.own_org.clone();
        let policy = self.implicit_policy.clone();
        let preloaded = payload.private_data.clone();
        let owned = needs.clone();
        let (channel, collections) = (self.channel.clone(), self.collections.clone());
        let res = tokio::task::spawn_blocking(move || {
            let local = LocalOrg {
                org: &org,
                implicit_policy: &policy,
            };
            let registry = collections.read_locked();
            let lookup = HostConfigs {
                registry: &registry,
                channel: &channel,
                org: &org,
                policy: &policy,
            };
            let mut guard = pd.lock();
            let mut entries_of = |tx: &str| match &mut *guard {
                Ok(store) => store.entries_of(tx),
                Err(_) => Vec::new(),
            };
            prepare(
                &owned,
                &local,
                &lookup,
                &mut entries_of,
                &preloaded,
                &|identity| mcs.pki_id_of(identity).ok(),
            )
        })
        .await;
        res.unwrap_or_else(|e| {
            warn!(channel = %self.channel, block = needs.block_seq, "private data preparation failed: {e}");
            Prepared {
                block_seq: needs.block_seq,
                missing: needs
                    .digests()
                    .map(|digest| MissingPvtData {
                        digest,
                        eligible: true,
                    })
                    .collect(),
                ..Default::default()
            }
        })
    }

    /// Fetches one block's remaining digests: requests out through comm, responses in from
    /// the owner task, until all are found or missing.
    async fn fetch(
        &self,
        seq: u64,
        wanted: Vec<crate::privdata::coordinator::Wanted>,
        rx: &mut mpsc::Receiver<PvtResponse>,
    ) -> (Vec<Found>, Vec<MissingPvtData>, FetchCounts) {
        let mut f = Fetch::new(
            seq,
            self.self_pki_id.clone(),
            wanted,
            Instant::now(),
            self.pull_retry_threshold,
            DEFAULT_REQUEST_TIMEOUT,
            rand::random(),
        );
        loop {
            let now = Instant::now();
            let (peers, endpoints) = self.peers();
            for r in f.poll(now, &peers) {
                self.send(r, &endpoints);
            }
            let Some(wake) = f.next_wakeup() else {
                break;
            };
            let wake = wake.min(now + MEMBERSHIP_POLL);
            tokio::select! {
                got = rx.recv() => match got {
                    Some((from, nonce, res)) => f.on_response(&from, nonce, &res),
                    None => break,
                },
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
        }
        f.finish()
    }

    /// The channel's peers (not left) from the published view, with their endpoints.
    fn peers(&self) -> (Vec<FetchPeer>, BTreeMap<PkiId, String>) {
        let view = self.view.read_locked();
        let mut peers = Vec::new();
        let mut endpoints = BTreeMap::new();
        for p in view.peers.get(&self.channel).into_iter().flatten() {
            let Ok(raw) = hex::decode(&p.pki_id) else {
                continue;
            };
            if p.left_channel {
                continue;
            }
            let pki_id = PkiId(raw);
            let endpoint = if p.internal_endpoint.is_empty() {
                p.endpoint.clone()
            } else {
                p.internal_endpoint.clone()
            };
            endpoints.insert(pki_id.clone(), endpoint);
            peers.push(FetchPeer {
                pki_id,
                org: p.org.clone(),
                ledger_height: p.ledger_height,
            });
        }
        (peers, endpoints)
    }

    fn send(&self, r: PvtRequest, endpoints: &BTreeMap<PkiId, String>) {
        debug!(channel = %self.channel, peer = %r.to, digests = r.digests.len(), "requesting private data");
        let msg = GossipMessage {
            nonce: r.nonce,
            channel: self.channel.as_bytes().to_vec(),
            tag: Tag::ChanOnly as i32,
            content: Some(Content::PrivateReq(RemotePvtDataRequest {
                digests: r.digests,
            })),
        };
        let to = RemotePeer {
            endpoint: endpoints.get(&r.to).cloned().unwrap_or_default(),
            pki_id: r.to,
        };
        self.comm
            .send(SignedGossipMessage::unsigned(msg).envelope, &to);
    }

    fn log_fetch(&self, seq: u64, c: &FetchCounts, found: usize, missing: &[MissingPvtData]) {
        if missing.is_empty() {
            debug!(channel = %self.channel, block = seq, fetched = found, requests = c.requests, "private data fetched");
        } else {
            warn!(
                channel = %self.channel,
                block = seq,
                fetched = found,
                missing = missing.len(),
                failed_fast = c.failed_fast,
                timed_out = c.timed_out,
                bad_payload = c.bad_payload,
                "block committed with missing private data"
            );
        }
    }
}

/// Records each block's missing list, then commits the batch with its private data. The
/// missing lists go first: a crash in between leaves lists for blocks not committed, which
/// the ledger ignores and the retry replaces.
fn commit_decided(
    ledger: &Mutex<Box<dyn Ledger>>,
    first: u64,
    decided: &[Decided],
) -> (state::Input, Option<CommitBatch>, Duration) {
    let started = Instant::now();
    let mut l = ledger.locked();
    let height = l.height();
    // The same payloads the state provider handed out, private data added: still
    // consecutive and non-empty.
    let payloads: Vec<Payload> = decided.iter().map(|d| d.payload.clone()).collect();
    let Some(batch) = CommitBatch::new(payloads) else {
        let error = "private data batch is not a run of consecutive blocks".to_string();
        return (
            state::Input::CommitFailed {
                first,
                height,
                error,
            },
            None,
            started.elapsed(),
        );
    };
    for d in decided.iter().filter(|d| d.payload.seq >= height) {
        if d.missing.is_empty() {
            continue;
        }
        if let Err(e) = l.record_missing(d.payload.seq, &d.missing) {
            let report = state::Input::CommitFailed {
                first: batch.first(),
                height,
                error: format!(
                    "recording the missing private data of block {}: {e}",
                    d.payload.seq
                ),
            };
            return (report, Some(batch), started.elapsed());
        }
    }
    let report = commit_batch(&mut **l, &batch);
    (report, Some(batch), started.elapsed())
}
