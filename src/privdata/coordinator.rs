//! Fabric's coordinator, sans-IO: the private data a block commits with.
//!
//! [`prepare`] takes a block's needs ([`super::block_pvt`]) and decides each digest: not
//! eligible here (listed missing with `eligible = false`, as Fabric records it for a later
//! reconciliation), present (in the payload's own private data or the transient store, with
//! the hash the block names), or to fetch. [`Fetch`] then asks eligible peers that hold the
//! block height, endorsers first, one peer per digest at a time, and moves to the next
//! peer as soon as one answers without the data. It fails fast: once every candidate peer
//! answered without a digest, the digest is missing at once, without waiting for
//! `peer.gossip.pvtData.pullRetryThreshold`; what is left at that deadline is missing too.
//! [`assemble`] turns what was found into the marshaled `PvtDataPayload`s the ledger takes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use prost::Message;
use sha2::{Digest, Sha256};

use super::block_pvt::BlockPvtNeeds;
use super::collection::{implicit_collection_org, resolve, CollectionAccess};
use super::transient_store::TransientEntry;
use crate::config::ImplicitCollectionPolicy;
use crate::proto::gossip::{PvtDataDigest, PvtDataPayload, RemotePvtDataResponse};
use crate::proto::rwset::{CollectionPvtReadWriteSet, NsPvtReadWriteSet, TxPvtReadWriteSet};
use crate::types::PkiId;

/// How long one asked peer may stay silent before the digest is asked of the next one.
/// Fabric's puller waits as long (`responseWaitTime`).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The access of explicit collections, from wherever the channel keeps their configs.
pub trait CollectionLookup {
    fn access(&self, namespace: &str, collection: &str) -> Option<CollectionAccess>;
}

pub use crate::ledger::MissingPvtData;

/// A collection's private write set found for the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Position of the digest in the block's needs (keeps block order).
    order: usize,
    pub digest: PvtDataDigest,
    /// A marshaled `KVRWSet`.
    pub rwset: Vec<u8>,
}

/// A digest to fetch from other peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    order: usize,
    pub digest: PvtDataDigest,
    pub pvt_rwset_hash: Vec<u8>,
    pub member_orgs: BTreeSet<String>,
    /// PKI-IDs of the transaction's endorsers, asked first.
    pub endorsers: Vec<PkiId>,
}

/// How the digests of a block were decided before any fetch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrepareCounts {
    /// Found in the payload's own private data.
    pub preloaded: u64,
    pub transient_hits: u64,
    pub ineligible: u64,
    /// Explicit collections with no config anywhere: not eligible, counted.
    pub unknown_config: u64,
    /// Stored write sets whose hash is not the one the block names.
    pub hash_mismatch: u64,
}

/// The block's digests after [`prepare`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prepared {
    pub block_seq: u64,
    pub found: Vec<Found>,
    pub to_fetch: Vec<Wanted>,
    pub missing: Vec<MissingPvtData>,
    pub counts: PrepareCounts,
}

/// This peer as eligibility sees it.
pub struct LocalOrg<'a> {
    pub org: &'a str,
    pub implicit_policy: &'a ImplicitCollectionPolicy,
}

fn hash_ok(expected: &[u8], rwset: &[u8]) -> bool {
    expected.is_empty() || Sha256::digest(rwset).as_slice() == expected
}

/// Decides each digest of `needs`: ineligible, present (in `preloaded`, the payload's
/// marshaled `PvtDataPayload`s, or in the transient store through `entries_of`), or to
/// fetch. `endorser_pki_id` maps an endorser's serialized identity to its PKI-ID.
pub fn prepare(
    needs: &BlockPvtNeeds,
    local: &LocalOrg<'_>,
    lookup: &dyn CollectionLookup,
    entries_of: &mut dyn FnMut(&str) -> Vec<TransientEntry>,
    preloaded: &[Vec<u8>],
    endorser_pki_id: &dyn Fn(&[u8]) -> Option<PkiId>,
) -> Prepared {
    let preloaded = preloaded_rwsets(preloaded);
    let mut out = Prepared {
        block_seq: needs.block_seq,
        ..Default::default()
    };
    let mut order = 0usize;
    for tx in &needs.txs {
        let entries = entries_of(&tx.tx_id);
        let endorsers: Vec<PkiId> = tx
            .endorsers
            .iter()
            .filter_map(|e| endorser_pki_id(e))
            .collect();
        for need in &tx.collections {
            let digest = PvtDataDigest {
                tx_id: tx.tx_id.clone(),
                namespace: need.namespace.clone(),
                collection: need.collection.clone(),
                block_seq: needs.block_seq,
                seq_in_block: tx.seq_in_block,
            };
            let this = order;
            order += 1;
            let access = if implicit_collection_org(&need.collection).is_some() {
                resolve(&need.collection, None, local.org, local.implicit_policy).ok()
            } else {
                lookup
                    .access(&need.namespace, &need.collection)
                    .or_else(|| {
                        entries
                            .iter()
                            .rev()
                            .filter_map(|e| e.configs_of(&need.namespace))
                            .find_map(|c| {
                                resolve(&need.collection, Some(c), local.org, local.implicit_policy)
                                    .ok()
                            })
                    })
            };
            let Some(access) = access else {
                out.counts.unknown_config += 1;
                out.missing.push(MissingPvtData {
                    digest,
                    eligible: false,
                });
                continue;
            };
            if !access.is_member_org(local.org) {
                out.counts.ineligible += 1;
                out.missing.push(MissingPvtData {
                    digest,
                    eligible: false,
                });
                continue;
            }
            let key = (
                tx.seq_in_block,
                need.namespace.clone(),
                need.collection.clone(),
            );
            if let Some(rwset) = preloaded
                .get(&key)
                .and_then(|c| c.iter().find(|r| hash_ok(&need.pvt_rwset_hash, r)))
            {
                out.counts.preloaded += 1;
                out.found.push(Found {
                    order: this,
                    digest,
                    rwset: rwset.clone(),
                });
                continue;
            }
            let stored: Vec<Vec<u8>> = entries
                .iter()
                .flat_map(|e| e.rwsets_of(&need.namespace, &need.collection))
                .collect();
            match stored.iter().find(|r| hash_ok(&need.pvt_rwset_hash, r)) {
                Some(rwset) => {
                    out.counts.transient_hits += 1;
                    out.found.push(Found {
                        order: this,
                        digest,
                        rwset: rwset.clone(),
                    });
                }
                None => {
                    if !stored.is_empty() {
                        out.counts.hash_mismatch += 1;
                    }
                    out.to_fetch.push(Wanted {
                        order: this,
                        digest,
                        pvt_rwset_hash: need.pvt_rwset_hash.clone(),
                        member_orgs: access.member_orgs.clone(),
                        endorsers: endorsers.clone(),
                    });
                }
            }
        }
    }
    out
}

/// The payload's own private data, by (tx seq, namespace, collection). Undecodable entries
/// count for nothing.
fn preloaded_rwsets(preloaded: &[Vec<u8>]) -> HashMap<(u64, String, String), Vec<Vec<u8>>> {
    let mut map: HashMap<(u64, String, String), Vec<Vec<u8>>> = HashMap::new();
    let decoded = preloaded
        .iter()
        .filter_map(|p| PvtDataPayload::decode(p.as_slice()).ok())
        .filter_map(|p| {
            TxPvtReadWriteSet::decode(p.payload.as_slice())
                .ok()
                .map(|t| (p.tx_seq_in_block, t))
        });
    for (seq, tx) in decoded {
        for ns in tx.ns_pvt_rwset {
            for c in ns.collection_pvt_rwset {
                map.entry((seq, ns.namespace.clone(), c.collection_name))
                    .or_default()
                    .push(c.rwset);
            }
        }
    }
    map
}

/// A channel peer as the fetch sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPeer {
    pub pki_id: PkiId,
    pub org: String,
    pub ledger_height: u64,
}

/// A `RemotePvtDataRequest` to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvtRequest {
    pub to: PkiId,
    /// The request's nonce; the response carries it back.
    pub nonce: u64,
    pub digests: Vec<PvtDataDigest>,
}

/// What happened during one block's fetch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchCounts {
    pub requests: u64,
    pub responses: u64,
    /// Responses from peers nothing was asked of (late or unsolicited), ignored.
    pub unsolicited: u64,
    /// Requests that got no answer within the request timeout.
    pub silent: u64,
    /// Write sets whose hash is not the one the block names, refused.
    pub bad_payload: u64,
    pub fetched: u64,
    /// Digests every candidate peer answered without: missing before the deadline.
    pub failed_fast: u64,
    /// Digests still unresolved at the deadline.
    pub timed_out: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    Waiting,
    /// Answered, without the data.
    Without,
    /// Asked at this time and never answered.
    Silent(Instant),
}

#[derive(Debug)]
struct Pending {
    wanted: Wanted,
    asked: HashMap<PkiId, Asked>,
    resolved: bool,
}

#[derive(Debug)]
struct Outstanding {
    nonce: u64,
    sent: Instant,
    digests: Vec<usize>,
}

/// Fetching one block's remaining digests from other peers.
#[derive(Debug)]
pub struct Fetch {
    block_seq: u64,
    self_pki_id: PkiId,
    deadline: Instant,
    request_timeout: Duration,
    pending: Vec<Pending>,
    /// At most one request per peer in flight, so a response answers exactly it.
    outstanding: HashMap<PkiId, Outstanding>,
    found: Vec<Found>,
    missing: Vec<MissingPvtData>,
    counts: FetchCounts,
    next_nonce: u64,
}

impl Fetch {
    /// Starts fetching `wanted` at `now`; `pull_retry_threshold` bounds the whole fetch.
    /// Request nonces count up from `nonce_base` (random, so that another fetch's late
    /// responses do not match).
    pub fn new(
        block_seq: u64,
        self_pki_id: PkiId,
        wanted: Vec<Wanted>,
        now: Instant,
        pull_retry_threshold: Duration,
        request_timeout: Duration,
        nonce_base: u64,
    ) -> Self {
        Fetch {
            block_seq,
            self_pki_id,
            deadline: now + pull_retry_threshold,
            request_timeout,
            pending: wanted
                .into_iter()
                .map(|wanted| Pending {
                    wanted,
                    asked: HashMap::new(),
                    resolved: false,
                })
                .collect(),
            outstanding: HashMap::new(),
            found: Vec::new(),
            missing: Vec::new(),
            counts: FetchCounts::default(),
            next_nonce: nonce_base,
        }
    }

    /// Every digest is found or missing.
    pub fn is_done(&self) -> bool {
        self.pending.iter().all(|p| p.resolved)
    }

    /// When [`Fetch::poll`] must run again at the latest (the deadline, or a request's
    /// timeout); `None` once done.
    pub fn next_wakeup(&self) -> Option<Instant> {
        if self.is_done() {
            return None;
        }
        let timeouts = self
            .outstanding
            .values()
            .map(|o| o.sent + self.request_timeout);
        Some(timeouts.fold(self.deadline, Instant::min))
    }

    /// Moves the fetch on at `now` with the channel's current `peers`: silent requests time
    /// out, digests every candidate answered without become missing, the rest are asked of
    /// their next candidate. Returns the requests to send, one per peer.
    pub fn poll(&mut self, now: Instant, peers: &[FetchPeer]) -> Vec<PvtRequest> {
        if self.is_done() {
            return Vec::new();
        }
        if now >= self.deadline {
            for p in self.pending.iter_mut().filter(|p| !p.resolved) {
                p.resolved = true;
                self.counts.timed_out += 1;
                self.missing.push(MissingPvtData {
                    digest: p.wanted.digest.clone(),
                    eligible: true,
                });
            }
            self.outstanding.clear();
            return Vec::new();
        }
        let expired: Vec<PkiId> = self
            .outstanding
            .iter()
            .filter(|(_, o)| o.sent + self.request_timeout <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for peer in expired {
            if let Some(o) = self.outstanding.remove(&peer) {
                self.counts.silent += 1;
                for i in o.digests {
                    self.pending[i]
                        .asked
                        .insert(peer.clone(), Asked::Silent(o.sent));
                }
            }
        }
        let busy: HashSet<PkiId> = self.outstanding.keys().cloned().collect();
        let mut batches: BTreeMap<PkiId, Vec<usize>> = BTreeMap::new();
        for (i, p) in self.pending.iter_mut().enumerate() {
            if p.resolved || p.asked.values().any(|a| *a == Asked::Waiting) {
                continue;
            }
            let candidates = candidates(&p.wanted, self.block_seq, &self.self_pki_id, peers);
            if !candidates.is_empty()
                && candidates
                    .iter()
                    .all(|c| p.asked.get(*c) == Some(&Asked::Without))
            {
                p.resolved = true;
                self.counts.failed_fast += 1;
                self.missing.push(MissingPvtData {
                    digest: p.wanted.digest.clone(),
                    eligible: true,
                });
                continue;
            }
            let free = |c: &&&PkiId| !busy.contains(**c);
            let fresh = candidates
                .iter()
                .filter(free)
                .find(|c| !p.asked.contains_key(**c))
                .copied();
            // Else the silent peer asked longest ago.
            let retry = || {
                candidates
                    .iter()
                    .filter(free)
                    .filter_map(|c| match p.asked.get(*c) {
                        Some(Asked::Silent(at)) => Some((*at, *c)),
                        _ => None,
                    })
                    .min_by_key(|(at, _)| *at)
                    .map(|(_, c)| c)
            };
            if let Some(peer) = fresh.or_else(retry) {
                p.asked.insert(peer.clone(), Asked::Waiting);
                batches.entry(peer.clone()).or_default().push(i);
            }
        }
        let mut requests = Vec::with_capacity(batches.len());
        for (to, digests) in batches {
            let nonce = self.next_nonce;
            self.next_nonce = self.next_nonce.wrapping_add(1);
            requests.push(PvtRequest {
                to: to.clone(),
                nonce,
                digests: digests
                    .iter()
                    .map(|i| self.pending[*i].wanted.digest.clone())
                    .collect(),
            });
            self.counts.requests += 1;
            self.outstanding.insert(
                to,
                Outstanding {
                    nonce,
                    sent: now,
                    digests,
                },
            );
        }
        requests
    }

    /// A peer's `RemotePvtDataResponse` with the nonce it carried. Call [`Fetch::poll`]
    /// afterwards: a digest this peer answered without moves on to the next candidate, or
    /// fails fast.
    pub fn on_response(&mut self, from: &PkiId, nonce: u64, res: &RemotePvtDataResponse) {
        if self.outstanding.get(from).map(|o| o.nonce) != Some(nonce) {
            self.counts.unsolicited += 1;
            return;
        }
        let Some(o) = self.outstanding.remove(from) else {
            return;
        };
        self.counts.responses += 1;
        for i in o.digests {
            let p = &mut self.pending[i];
            if p.resolved {
                continue;
            }
            let d = &p.wanted.digest;
            let offered: Vec<&Vec<u8>> = res
                .elements
                .iter()
                .filter(|e| e.digest.as_ref() == Some(d))
                .flat_map(|e| &e.payload)
                .collect();
            match offered
                .iter()
                .find(|r| hash_ok(&p.wanted.pvt_rwset_hash, r))
            {
                Some(rwset) => {
                    p.resolved = true;
                    self.counts.fetched += 1;
                    self.found.push(Found {
                        order: p.wanted.order,
                        digest: d.clone(),
                        rwset: (*rwset).clone(),
                    });
                }
                None => {
                    if !offered.is_empty() {
                        self.counts.bad_payload += 1;
                    }
                    p.asked.insert(from.clone(), Asked::Without);
                }
            }
        }
    }

    pub fn counts(&self) -> FetchCounts {
        self.counts
    }

    /// What was found and what is missing (everything unresolved counts as missing).
    pub fn finish(mut self) -> (Vec<Found>, Vec<MissingPvtData>, FetchCounts) {
        for p in self.pending.iter().filter(|p| !p.resolved) {
            self.counts.timed_out += 1;
            self.missing.push(MissingPvtData {
                digest: p.wanted.digest.clone(),
                eligible: true,
            });
        }
        (self.found, self.missing, self.counts)
    }
}

/// The peers that may serve `w`, in the order to ask them: eligible (org a member), holding
/// the block's height, not this peer; the transaction's endorsers first.
fn candidates<'a>(
    w: &Wanted,
    block_seq: u64,
    self_pki_id: &PkiId,
    peers: &'a [FetchPeer],
) -> Vec<&'a PkiId> {
    let ok = |p: &&FetchPeer| {
        &p.pki_id != self_pki_id && p.ledger_height >= block_seq && w.member_orgs.contains(&p.org)
    };
    let mut out: Vec<&PkiId> = w
        .endorsers
        .iter()
        .filter_map(|e| peers.iter().filter(ok).find(|p| &p.pki_id == e))
        .map(|p| &p.pki_id)
        .collect();
    for p in peers.iter().filter(ok) {
        if !out.contains(&&p.pki_id) {
            out.push(&p.pki_id);
        }
    }
    out
}

/// The marshaled `PvtDataPayload`s of `found`, one per transaction, in block order.
pub fn assemble(mut found: Vec<Found>) -> Vec<Vec<u8>> {
    found.sort_by_key(|f| f.order);
    let mut txs: Vec<(u64, TxPvtReadWriteSet)> = Vec::new();
    for f in found {
        let seq = f.digest.seq_in_block;
        if txs.last().map(|(s, _)| *s) != Some(seq) {
            txs.push((seq, TxPvtReadWriteSet::default()));
        }
        let Some((_, tx)) = txs.last_mut() else {
            continue;
        };
        let ns = match tx
            .ns_pvt_rwset
            .iter()
            .position(|n| n.namespace == f.digest.namespace)
        {
            Some(i) => &mut tx.ns_pvt_rwset[i],
            None => {
                tx.ns_pvt_rwset.push(NsPvtReadWriteSet {
                    namespace: f.digest.namespace.clone(),
                    collection_pvt_rwset: Vec::new(),
                });
                let last = tx.ns_pvt_rwset.len() - 1;
                &mut tx.ns_pvt_rwset[last]
            }
        };
        ns.collection_pvt_rwset.push(CollectionPvtReadWriteSet {
            collection_name: f.digest.collection,
            rwset: f.rwset,
        });
    }
    txs.into_iter()
        .map(|(seq, tx)| {
            PvtDataPayload {
                tx_seq_in_block: seq,
                payload: tx.encode_to_vec(),
            }
            .encode_to_vec()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No explicit collection configs known: only the implicit rule and the configs stored
    /// with the transient store's entries decide.
    struct NoCollectionConfigs;

    impl CollectionLookup for NoCollectionConfigs {
        fn access(&self, _: &str, _: &str) -> Option<CollectionAccess> {
            None
        }
    }
    use crate::privdata::block_pvt::needs_of_block;
    use crate::privdata::block_pvt::tests::{block, endorser_tx};
    use crate::privdata::collection::tests::{identity, package, static_config};
    use crate::privdata::transient_store::NamespaceConfigs;
    use crate::proto::gossip::PvtDataElement;

    const POLICY: ImplicitCollectionPolicy = ImplicitCollectionPolicy {
        required_peer_count: 0,
        max_peer_count: 1,
    };
    const I1: &str = "_implicit_org_Org1MSP";
    const I2: &str = "_implicit_org_Org2MSP";

    fn local() -> LocalOrg<'static> {
        LocalOrg {
            org: "Org1MSP",
            implicit_policy: &POLICY,
        }
    }

    fn pki(name: &str) -> PkiId {
        PkiId(name.as_bytes().to_vec())
    }

    /// Endorser identities map to PKI-IDs named after their org.
    fn endorser_pki(identity: &[u8]) -> Option<PkiId> {
        crate::privdata::collection::tests::MspidAdvisor
            .org_by_peer_identity(identity)
            .map(|o| pki(&format!("endorser-{o}")))
    }

    use crate::crypto::SecurityAdvisor;

    fn entry(tx: &str, coll: &str, data: &[u8], configs: Vec<NamespaceConfigs>) -> TransientEntry {
        TransientEntry {
            tx_id: tx.into(),
            received_height: 1,
            pvt_rwset: Some(crate::privdata::transient_store::tests::rwset(
                "cc", coll, data,
            )),
            collection_configs: configs,
        }
    }

    fn peer(name: &str, org: &str, height: u64) -> FetchPeer {
        FetchPeer {
            pki_id: pki(name),
            org: org.into(),
            ledger_height: height,
        }
    }

    fn wanted(order: usize, coll: &str, data: &[u8], endorsers: &[&str]) -> Wanted {
        Wanted {
            order,
            digest: PvtDataDigest {
                tx_id: format!("tx{order}"),
                namespace: "cc".into(),
                collection: coll.into(),
                block_seq: 5,
                seq_in_block: order as u64,
            },
            pvt_rwset_hash: Sha256::digest(data).to_vec(),
            member_orgs: BTreeSet::from(["Org1MSP".to_string()]),
            endorsers: endorsers.iter().map(|e| pki(e)).collect(),
        }
    }

    /// Answers the request outstanding to `from`, with its nonce.
    fn reply(f: &mut Fetch, from: &str, res: RemotePvtDataResponse) {
        let nonce = f.outstanding.get(&pki(from)).map_or(0, |o| o.nonce);
        f.on_response(&pki(from), nonce, &res)
    }

    fn answer(w: &Wanted, payload: Vec<Vec<u8>>) -> RemotePvtDataResponse {
        RemotePvtDataResponse {
            elements: vec![PvtDataElement {
                digest: Some(w.digest.clone()),
                payload,
            }],
        }
    }

    #[test]
    fn digests_split_by_eligibility_and_presence() {
        let org1 = identity("Org1MSP");
        let b = block(
            5,
            vec![
                endorser_tx(
                    "t0",
                    &[(I1, b"mine"), (I2, b"theirs")],
                    std::slice::from_ref(&org1),
                ),
                endorser_tx(
                    "t1",
                    &[("shared", b"S"), ("unknown", b"U")],
                    std::slice::from_ref(&org1),
                ),
                endorser_tx("t2", &[(I1, b"fetch me")], &[org1]),
            ],
        );
        let needs = needs_of_block(&b).unwrap();
        let shared_cfg = vec![NamespaceConfigs {
            namespace: "cc".into(),
            package: Some(package(vec![static_config(
                "shared",
                &["Org1MSP", "Org3MSP"],
            )])),
        }];
        let mut entries_of = |tx: &str| match tx {
            "t0" => vec![entry("t0", I1, b"mine", vec![])],
            "t1" => vec![entry("t1", "shared", b"S", shared_cfg.clone())],
            // A write set simulated differently: its hash is not the block's.
            "t2" => vec![entry("t2", I1, b"other", vec![])],
            _ => vec![],
        };
        let p = prepare(
            &needs,
            &local(),
            &NoCollectionConfigs,
            &mut entries_of,
            &[],
            &endorser_pki,
        );
        let found: Vec<(&str, &[u8])> = p
            .found
            .iter()
            .map(|f| (f.digest.collection.as_str(), f.rwset.as_slice()))
            .collect();
        assert_eq!(found, vec![(I1, &b"mine"[..]), ("shared", &b"S"[..])]);
        let missing: Vec<(&str, bool)> = p
            .missing
            .iter()
            .map(|m| (m.digest.collection.as_str(), m.eligible))
            .collect();
        assert_eq!(missing, vec![(I2, false), ("unknown", false)]);
        assert_eq!(p.to_fetch.len(), 1);
        assert_eq!(p.to_fetch[0].digest.tx_id, "t2");
        assert_eq!(p.to_fetch[0].digest.seq_in_block, 2);
        assert_eq!(p.to_fetch[0].endorsers, vec![pki("endorser-Org1MSP")]);
        assert_eq!(
            p.counts,
            PrepareCounts {
                preloaded: 0,
                transient_hits: 2,
                ineligible: 1,
                unknown_config: 1,
                hash_mismatch: 1,
            }
        );

        // An explicit config from the channel's lookup decides when the store has none.
        struct Lookup;
        impl CollectionLookup for Lookup {
            fn access(&self, _: &str, coll: &str) -> Option<CollectionAccess> {
                (coll == "unknown").then(|| {
                    CollectionAccess::from_static(&static_config(coll, &["Org1MSP"])).unwrap()
                })
            }
        }
        let p = prepare(
            &needs,
            &local(),
            &Lookup,
            &mut |_| vec![],
            &[],
            &endorser_pki,
        );
        let fetch: Vec<&str> = p
            .to_fetch
            .iter()
            .map(|w| w.digest.collection.as_str())
            .collect();
        assert_eq!(fetch, vec![I1, "unknown", I1]);
        assert_eq!(
            p.counts.unknown_config, 1,
            "shared has no config without the store"
        );
    }

    #[test]
    fn the_payloads_own_private_data_counts_as_present() {
        let b = block(5, vec![endorser_tx("t0", &[(I1, b"carried")], &[])]);
        let needs = needs_of_block(&b).unwrap();
        let carried = assemble(vec![Found {
            order: 0,
            digest: needs.digests().next().unwrap(),
            rwset: b"carried".to_vec(),
        }]);
        let p = prepare(
            &needs,
            &local(),
            &NoCollectionConfigs,
            &mut |_| vec![],
            &carried,
            &endorser_pki,
        );
        assert_eq!(p.counts.preloaded, 1);
        assert!(p.to_fetch.is_empty() && p.missing.is_empty());
        assert_eq!(assemble(p.found), carried);
    }

    #[test]
    fn endorsers_are_asked_first_among_eligible_peers_holding_the_height() {
        let now = Instant::now();
        let w = wanted(0, I1, b"x", &["e2", "gone"]);
        let peers = vec![
            peer("a", "Org1MSP", 9),
            peer("low", "Org1MSP", 4),
            peer("other-org", "Org2MSP", 9),
            peer("e2", "Org1MSP", 5),
            peer("me", "Org1MSP", 9),
        ];
        let order: Vec<&PkiId> = candidates(&w, 5, &pki("me"), &peers);
        assert_eq!(order, vec![&pki("e2"), &pki("a")]);

        let mut f = Fetch::new(
            5,
            pki("me"),
            vec![w.clone()],
            now,
            Duration::from_secs(60),
            DEFAULT_REQUEST_TIMEOUT,
            100,
        );
        let reqs = f.poll(now, &peers);
        assert_eq!(
            reqs,
            vec![PvtRequest {
                to: pki("e2"),
                nonce: 100,
                digests: vec![w.digest.clone()]
            }]
        );
        // Nothing new while the endorser's answer is awaited.
        assert!(f.poll(now, &peers).is_empty());
        // The endorser answers without it: the next peer is asked at once.
        reply(&mut f, "e2", answer(&w, vec![]));
        let reqs = f.poll(now, &peers);
        assert_eq!(reqs[0].to, pki("a"));
        reply(&mut f, "a", answer(&w, vec![b"x".to_vec()]));
        assert!(f.is_done());
        let (found, missing, counts) = f.finish();
        assert_eq!(found[0].rwset, b"x".to_vec());
        assert!(missing.is_empty());
        assert_eq!(
            (counts.requests, counts.responses, counts.fetched),
            (2, 2, 1)
        );
    }

    #[test]
    fn requests_batch_digests_per_peer() {
        let now = Instant::now();
        let w0 = wanted(0, I1, b"x", &["a"]);
        let w1 = wanted(1, I1, b"y", &["a"]);
        let peers = vec![peer("a", "Org1MSP", 9), peer("b", "Org1MSP", 9)];
        let mut f = Fetch::new(
            5,
            pki("me"),
            vec![w0.clone(), w1.clone()],
            now,
            Duration::from_secs(60),
            DEFAULT_REQUEST_TIMEOUT,
            100,
        );
        let reqs = f.poll(now, &peers);
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].digests, vec![w0.digest.clone(), w1.digest.clone()]);
        // One of the two answered: the other is asked of the next peer.
        reply(&mut f, "a", answer(&w0, vec![b"x".to_vec()]));
        let reqs = f.poll(now, &peers);
        assert_eq!(
            reqs,
            vec![PvtRequest {
                to: pki("b"),
                nonce: 101,
                digests: vec![w1.digest.clone()]
            }]
        );
    }

    #[test]
    fn fails_fast_when_every_candidate_answered_without_it() {
        let now = Instant::now();
        let w = wanted(0, I1, b"x", &[]);
        let peers = vec![
            peer("a", "Org1MSP", 9),
            peer("b", "Org1MSP", 9),
            peer("c", "Org2MSP", 9),
        ];
        let mut f = Fetch::new(
            5,
            pki("me"),
            vec![w.clone()],
            now,
            Duration::from_secs(3600),
            DEFAULT_REQUEST_TIMEOUT,
            100,
        );
        assert_eq!(f.poll(now, &peers)[0].to, pki("a"));
        // An explicit refusal leaves the digest out of the response.
        reply(&mut f, "a", RemotePvtDataResponse::default());
        assert_eq!(f.poll(now, &peers)[0].to, pki("b"));
        // A forged write set (wrong hash) is no better than none.
        reply(&mut f, "b", answer(&w, vec![b"forged".to_vec()]));
        assert!(f.poll(now, &peers).is_empty());
        assert!(f.is_done(), "no wait for the hour-long threshold");
        let (found, missing, counts) = f.finish();
        assert!(found.is_empty());
        assert_eq!(
            missing,
            vec![MissingPvtData {
                digest: w.digest,
                eligible: true
            }]
        );
        assert_eq!(
            (counts.failed_fast, counts.bad_payload, counts.timed_out),
            (1, 1, 0)
        );
    }

    #[test]
    fn silent_peers_time_out_and_the_deadline_leaves_the_rest_missing() {
        let start = Instant::now();
        let threshold = Duration::from_secs(10);
        let timeout = Duration::from_secs(2);
        let w = wanted(0, I1, b"x", &[]);
        let peers = vec![peer("a", "Org1MSP", 9), peer("b", "Org1MSP", 9)];
        let mut f = Fetch::new(5, pki("me"), vec![w.clone()], start, threshold, timeout, 7);
        assert_eq!(f.poll(start, &peers)[0].to, pki("a"));
        assert_eq!(f.next_wakeup(), Some(start + timeout));
        let t = start + timeout;
        assert_eq!(f.poll(t, &peers)[0].to, pki("b"));
        // b answers without; a was only silent: it is asked again, not given up on.
        reply(&mut f, "b", RemotePvtDataResponse::default());
        assert_eq!(f.poll(t, &peers)[0].to, pki("a"));
        // A late answer from a peer nothing is awaited from is ignored, and so is an answer
        // with another nonce than the request's.
        reply(&mut f, "b", answer(&w, vec![b"x".to_vec()]));
        f.on_response(&pki("a"), 1234, &answer(&w, vec![b"x".to_vec()]));
        assert!(!f.is_done());
        // With no eligible peer at all the digest waits for peers to appear, up to the deadline.
        assert!(f.poll(t + timeout, &[]).is_empty());
        assert!(!f.is_done());
        assert_eq!(f.next_wakeup(), Some(start + threshold));
        assert!(f.poll(start + threshold, &peers).is_empty());
        assert!(f.is_done());
        let (_, missing, counts) = f.finish();
        assert_eq!(missing.len(), 1);
        assert!(missing[0].eligible);
        assert_eq!(
            (counts.timed_out, counts.silent, counts.unsolicited),
            (1, 2, 2)
        );
    }

    #[test]
    fn assembled_payloads_group_by_transaction_in_block_order() {
        let d = |seq: u64, ns: &str, coll: &str| PvtDataDigest {
            tx_id: format!("t{seq}"),
            namespace: ns.into(),
            collection: coll.into(),
            block_seq: 1,
            seq_in_block: seq,
        };
        let f = |order, dg, r: &[u8]| Found {
            order,
            digest: dg,
            rwset: r.to_vec(),
        };
        let out = assemble(vec![
            f(3, d(4, "cc", "a"), b"4a"),
            f(0, d(1, "cc", "a"), b"1a"),
            f(2, d(1, "other", "b"), b"1b"),
            f(1, d(1, "cc", "c"), b"1c"),
        ]);
        let decoded: Vec<(u64, TxPvtReadWriteSet)> = out
            .iter()
            .map(|b| {
                let p = PvtDataPayload::decode(b.as_slice()).unwrap();
                (
                    p.tx_seq_in_block,
                    TxPvtReadWriteSet::decode(p.payload.as_slice()).unwrap(),
                )
            })
            .collect();
        assert_eq!(decoded.len(), 2);
        assert_eq!(decoded[0].0, 1);
        let ns: Vec<(&str, Vec<&str>)> = decoded[0]
            .1
            .ns_pvt_rwset
            .iter()
            .map(|n| {
                (
                    n.namespace.as_str(),
                    n.collection_pvt_rwset
                        .iter()
                        .map(|c| c.collection_name.as_str())
                        .collect(),
                )
            })
            .collect();
        assert_eq!(ns, vec![("cc", vec!["a", "c"]), ("other", vec!["b"])]);
        assert_eq!(decoded[1].0, 4);
    }
}
