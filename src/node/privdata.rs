//! Private data distribution (Fabric's distributor over `SendByCriteria`): for each
//! collection of an endorsed transaction's private write set, a `PrivateDataMessage` pushed
//! with send-with-ack to the peers the distributor's plan chooses, and the verdict per
//! collection. Also the host's collection configs (`set_collection_config`) and why a peer
//! is or is not a target for a collection (`explain_private_data`).
//!
//! Eligibility is the collection's one rule (`CollectionAccess::is_eligible`) over each
//! channel peer's identity, with the channel's MSPs where it has a config block.

use std::sync::{Arc, Mutex, RwLock};

use prost::Message;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;

use super::channel_info::ChannelPeerInfo;
use super::GossipService;
use crate::comm::{AckOutcome, RemotePeer};
use crate::config::{ImplicitCollectionPolicy, PvtDataConfig};
use crate::crypto::{MessageCryptoService, SecurityAdvisor};
use crate::identity::IdentityMapper;
use crate::msp::MspManager;
use crate::privdata::collection::{resolve, static_config, CollectionAccess, Membership};
use crate::privdata::distributor::{
    self, Candidate, CollectionReport, DisseminationPolicy, PeerResult, Target,
};
use crate::privdata::{CollectionRegistry, RegistryError};
use crate::proto::gossip::gossip_message::{Content, Tag};
use crate::proto::gossip::{GossipMessage, PrivateDataMessage, PrivatePayload};
use crate::proto::protos::{collection_config, CollectionConfig, CollectionConfigPackage};
use crate::proto::transientstore::TxPvtReadWriteSetWithConfigInfo;
use crate::sync::{MutexExt, RwLockExt};
use crate::types::PkiId;

/// The settings and random source of distribution, and the host's collection configs.
pub(super) struct Distribution {
    cfg: PvtDataConfig,
    rng: Mutex<StdRng>,
    mapper: Arc<IdentityMapper>,
    /// Shared with the owner task's receiver and responder.
    registry: Arc<RwLock<CollectionRegistry>>,
}

impl Distribution {
    pub(super) fn new(
        cfg: PvtDataConfig,
        seed: u64,
        mapper: Arc<IdentityMapper>,
        registry: Arc<RwLock<CollectionRegistry>>,
    ) -> Self {
        Distribution {
            cfg,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            mapper,
            registry,
        }
    }
}

/// The channel's MSPs, when a config block gave it some (the built-in X.509 MSP).
pub(crate) fn channel_msps(mcs: &dyn MessageCryptoService, channel: &str) -> Option<MspManager> {
    mcs.as_msp()?.channel(channel).map(|c| c.msps)
}

/// How `channel` evaluates collection membership: its MSPs, else MSP IDs.
pub(crate) fn membership<'a>(
    msps: Option<&'a MspManager>,
    advisor: &'a dyn SecurityAdvisor,
) -> Membership<'a> {
    match msps {
        Some(m) => Membership::Policy(m),
        None => Membership::MspId(advisor),
    }
}

pub(crate) fn read_registry(
    r: &RwLock<CollectionRegistry>,
) -> std::sync::RwLockReadGuard<'_, CollectionRegistry> {
    r.read_locked()
}

/// The endpoint a push to this channel peer is sent to: its external endpoint, else its
/// internal one (a peer of this org); empty when it publishes neither.
fn push_endpoint(p: &ChannelPeerInfo) -> &str {
    if p.internal_endpoint.is_empty() {
        &p.endpoint
    } else {
        &p.internal_endpoint
    }
}

/// The outcome of distributing one transaction's private data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DistributionReport {
    pub channel: String,
    pub tx_id: String,
    /// One entry per namespace × collection, in the order of the write set.
    pub collections: Vec<CollectionReport>,
    /// Every collection reached its `requiredPeerCount` acks.
    pub required_met: bool,
}

impl DistributionReport {
    /// The collections that missed their `requiredPeerCount`, as `namespace/collection`.
    pub fn failed_collections(&self) -> Vec<String> {
        self.collections
            .iter()
            .filter(|c| !c.required_met)
            .map(|c| format!("{}/{}", c.namespace, c.collection))
            .collect()
    }
}

/// Why a peer is or is not a target for a collection's private data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PvtReason {
    /// Eligible, with an endpoint, at or above the height asked about: a candidate (the
    /// distributor still picks among candidates at random, up to `maxPeerCount`).
    Eligible,
    /// This peer itself: never a target.
    IsSelf,
    /// Not among the channel's peers (no StateInfo from it), or it left the channel.
    NotInChannel,
    /// No config for the explicit collection: neither the host's nor one to go by.
    UnknownCollection,
    /// Its identity is not known (expired or never learnt), so nothing can be evaluated.
    IdentityUnknown,
    /// Its org is not a member org, or the member-orgs policy does not hold over it.
    NotEligible,
    /// It publishes no endpoint a push could be sent to.
    NoEndpoint,
    /// Its ledger height is below the block height asked about.
    BelowBlockHeight,
}

/// `fg_explain_private_data`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PvtExplanation {
    pub channel: String,
    pub namespace: String,
    pub collection: String,
    pub query: String,
    pub reason: PvtReason,
    pub detail: String,
    pub pki_id: Option<String>,
    pub org: Option<String>,
    pub endpoint: Option<String>,
    pub ledger_height: Option<u64>,
    /// The collection's member orgs, when its access is known.
    pub member_orgs: Vec<String>,
    pub required_peer_count: Option<u32>,
    pub max_peer_count: Option<u32>,
    /// `msp_policy` (the channel's MSPs evaluate the member-orgs policy) or `msp_id`.
    pub membership: &'static str,
}

/// Why nothing was distributed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DistributeError {
    #[error("channel {0} is not joined")]
    UnknownChannel(String),
    #[error("invalid private data: {0}")]
    InvalidInput(String),
    #[error("the gossip service is stopped")]
    Stopped,
}

/// Why no explanation could be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PvtExplainError {
    #[error("channel {0} is not joined")]
    UnknownChannel(String),
    #[error("{0}")]
    InvalidInput(String),
}

/// One collection's message and targets.
struct Planned {
    namespace: String,
    collection: String,
    policy: DisseminationPolicy,
    targets: Vec<Target>,
    msg: GossipMessage,
}

impl GossipService {
    /// Pushes an endorsed transaction's private data to eligible peers of `channel` (Fabric's
    /// distributor): `pvt` is a `TxPvtReadWriteSetWithConfigInfo`; each collection of each
    /// namespace goes as a `PrivateDataMessage` (with `private_sim_height = block_height`
    /// and that collection's config) to one peer of each member org first, then to others up
    /// to `maxPeerCount`, and each is awaited up to `peer.gossip.pvtData.pushAckTimeout`.
    /// The report says per collection which peers acked, which failed and why, and whether
    /// `requiredPeerCount` acks arrived; a collection that cannot be planned (no config, too
    /// few eligible peers) is reported with its error and nothing sent.
    pub async fn distribute_private_data(
        &self,
        channel: &str,
        tx_id: &str,
        pvt: &[u8],
        block_height: u64,
    ) -> Result<DistributionReport, DistributeError> {
        if self.stopped.load(std::sync::atomic::Ordering::Acquire) {
            return Err(DistributeError::Stopped);
        }
        if tx_id.is_empty() {
            return Err(DistributeError::InvalidInput("empty transaction ID".into()));
        }
        let info = TxPvtReadWriteSetWithConfigInfo::decode(pvt).map_err(|e| {
            DistributeError::InvalidInput(format!("not a TxPvtReadWriteSetWithConfigInfo: {e}"))
        })?;
        if info.pvt_rwset.is_none() {
            return Err(DistributeError::InvalidInput(
                "no private read-write set (pvt_rwset)".into(),
            ));
        }
        let candidates = self
            .candidates(channel)
            .ok_or_else(|| DistributeError::UnknownChannel(channel.to_string()))?;
        let (mut reports, planned) =
            self.plan_collections(channel, tx_id, &info, &candidates, block_height);

        let timeout = self.pvt.cfg.push_ack_timeout;
        let sends = planned.into_iter().map(|(slot, p)| async move {
            let peers: Vec<RemotePeer> = p
                .targets
                .iter()
                .map(|t| RemotePeer {
                    endpoint: t.peer.endpoint.clone(),
                    pki_id: t.peer.pki_id.clone(),
                })
                .collect();
            let results = if peers.is_empty() {
                Vec::new()
            } else {
                self.comm.send_with_ack(p.msg, timeout, 0, &peers).await
            };
            let report =
                distributor::tally(&p.namespace, &p.collection, p.policy, &p.targets, |pki| {
                    results
                        .iter()
                        .find(|r| &r.peer.pki_id == pki)
                        .map(|r| match &r.outcome {
                            AckOutcome::Acked => PeerResult::Acked,
                            AckOutcome::Nacked(e) => PeerResult::Nacked(e.clone()),
                            AckOutcome::TimedOut => PeerResult::TimedOut,
                            AckOutcome::SendFailed(e) => PeerResult::SendFailed(e.clone()),
                        })
                });
            (slot, report)
        });
        for (slot, report) in futures::future::join_all(sends).await {
            if !report.required_met {
                tracing::warn!(
                    channel,
                    tx_id,
                    namespace = %report.namespace,
                    collection = %report.collection,
                    acked = report.acked.len(),
                    required = report.required_peer_count,
                    "private data distribution missed requiredPeerCount"
                );
            }
            reports[slot] = Some(report);
        }
        let collections: Vec<CollectionReport> = reports.into_iter().flatten().collect();
        Ok(DistributionReport {
            channel: channel.to_string(),
            tx_id: tx_id.to_string(),
            required_met: collections.iter().all(|c| c.required_met),
            collections,
        })
    }

    /// The channel's peers the distributor may choose, with their identities; `None` when
    /// the channel is not joined.
    fn candidates(&self, channel: &str) -> Option<Vec<Candidate>> {
        let peers = self.peers_of_channel(channel)?;
        Some(
            peers
                .iter()
                .filter(|p| !p.left_channel)
                .filter_map(|p| {
                    let pki_id = PkiId(hex::decode(&p.pki_id).ok()?);
                    Some(Candidate {
                        identity: self.pvt.mapper.get(&pki_id).unwrap_or_default(),
                        pki_id,
                        endpoint: push_endpoint(p).to_string(),
                        org: p.org.clone(),
                    })
                })
                .collect(),
        )
    }

    /// The access of `collection` in `namespace` as the distributor decides it: the config
    /// the host handed with the data, else the one it set with `set_collection_config`, else
    /// the implicit rule (both configs come from the host, which knows best which is newer).
    fn collection_access(
        &self,
        registry: &CollectionRegistry,
        channel: &str,
        namespace: &str,
        collection: &str,
        pushed: Option<&CollectionConfigPackage>,
    ) -> Result<CollectionAccess, crate::privdata::CollectionError> {
        let implicit: &ImplicitCollectionPolicy =
            &self.pvt.cfg.implicit_collection_dissemination_policy;
        let pkg = if static_config(pushed, collection).is_some() {
            pushed
        } else {
            registry.get(channel, namespace)
        };
        resolve(collection, pkg, &self.crypto.self_org, implicit)
    }

    /// Per namespace × collection: its report slot, and the message and targets of those
    /// that could be planned (the others' reports say why not).
    fn plan_collections(
        &self,
        channel: &str,
        tx_id: &str,
        info: &TxPvtReadWriteSetWithConfigInfo,
        candidates: &[Candidate],
        block_height: u64,
    ) -> (Vec<Option<CollectionReport>>, Vec<(usize, Planned)>) {
        let registry = read_registry(&self.pvt.registry);
        let msps = channel_msps(&*self.crypto.mcs, channel);
        let membership = membership(msps.as_ref(), &*self.crypto.advisor);
        let mut reports: Vec<Option<CollectionReport>> = Vec::new();
        let mut planned: Vec<(usize, Planned)> = Vec::new();
        let Some(rwset) = &info.pvt_rwset else {
            return (reports, planned);
        };
        for ns in &rwset.ns_pvt_rwset {
            let pushed = info.collection_configs.get(&ns.namespace);
            for col in &ns.collection_pvt_rwset {
                let name = &col.collection_name;
                let access =
                    self.collection_access(&registry, channel, &ns.namespace, name, pushed);
                let policy = access.as_ref().ok().map(DisseminationPolicy::of);
                let plan = access.map_err(|e| e.to_string()).and_then(|a| {
                    let mut rng = self.pvt.rng.locked();
                    distributor::plan(
                        DisseminationPolicy::of(&a),
                        candidates,
                        &self.crypto.self_pki_id,
                        |c| !c.endpoint.is_empty() && a.is_eligible(membership, &c.identity),
                        &mut *rng,
                    )
                    .map(|t| (a, t))
                    .map_err(|e| e.to_string())
                });
                let (access, targets) = match plan {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(channel, tx_id, namespace = %ns.namespace, collection = %name, "private data not distributed: {e}");
                        reports.push(Some(CollectionReport::unplanned(
                            &ns.namespace,
                            name,
                            policy,
                            e,
                        )));
                        continue;
                    }
                };
                let config = static_config(pushed, name)
                    .or_else(|| static_config(registry.get(channel, &ns.namespace), name))
                    .cloned()
                    .unwrap_or_else(|| access.implicit_static_config());
                let msg = GossipMessage {
                    nonce: 0,
                    channel: channel.as_bytes().to_vec(),
                    tag: Tag::ChanOnly as i32,
                    content: Some(Content::PrivateData(PrivateDataMessage {
                        payload: Some(PrivatePayload {
                            collection_name: name.clone(),
                            namespace: ns.namespace.clone(),
                            tx_id: tx_id.to_string(),
                            private_rwset: col.rwset.clone(),
                            private_sim_height: block_height,
                            collection_configs: Some(CollectionConfigPackage {
                                config: vec![CollectionConfig {
                                    payload: Some(
                                        collection_config::Payload::StaticCollectionConfig(config),
                                    ),
                                }],
                            }),
                        }),
                    })),
                };
                planned.push((
                    reports.len(),
                    Planned {
                        namespace: ns.namespace.clone(),
                        collection: name.clone(),
                        policy: DisseminationPolicy::of(&access),
                        targets,
                        msg,
                    },
                ));
                reports.push(None);
            }
        }
        (reports, planned)
    }

    /// Sets the host's collection configs of `namespace` in `channel` (a marshaled
    /// `CollectionConfigPackage`; empty removes them). They decide explicit collections
    /// over the configs pushed private data carries (see `privdata::registry`).
    pub fn set_collection_config(
        &self,
        channel: &str,
        namespace: &str,
        package: &[u8],
    ) -> Result<(), RegistryError> {
        self.pvt
            .registry
            .write_locked()
            .set(channel, namespace, package)
    }

    /// Why the peer named by `query` (an endpoint `host:port` or a PKI-ID in hex) is or is
    /// not a target for the private data of `namespace`/`collection` in `channel`, by the
    /// distributor's rules: the host's collection config (explicit collections), the
    /// collection's eligibility rule over the peer's identity, its endpoint, and, when
    /// `block_height` is not 0, whether its ledger height reached it. Never blocks.
    pub fn explain_private_data(
        &self,
        channel: &str,
        namespace: &str,
        collection: &str,
        query: &str,
        block_height: u64,
    ) -> Result<PvtExplanation, PvtExplainError> {
        if namespace.is_empty() || collection.is_empty() || query.is_empty() {
            return Err(PvtExplainError::InvalidInput(
                "namespace, collection and query must not be empty".into(),
            ));
        }
        let peers = self
            .peers_of_channel(channel)
            .ok_or_else(|| PvtExplainError::UnknownChannel(channel.to_string()))?;
        let msps = channel_msps(&*self.crypto.mcs, channel);
        let mut e = PvtExplanation {
            channel: channel.into(),
            namespace: namespace.into(),
            collection: collection.into(),
            query: query.into(),
            reason: PvtReason::Eligible,
            detail: String::new(),
            pki_id: None,
            org: None,
            endpoint: None,
            ledger_height: None,
            member_orgs: Vec::new(),
            required_peer_count: None,
            max_peer_count: None,
            membership: if msps.is_some() {
                "msp_policy"
            } else {
                "msp_id"
            },
        };
        let access = {
            let registry = read_registry(&self.pvt.registry);
            self.collection_access(&registry, channel, namespace, collection, None)
        };
        let access = match access {
            Ok(a) => a,
            Err(err) => {
                e.reason = PvtReason::UnknownCollection;
                e.detail = format!(
                    "{err}: no config set for namespace {namespace} (fg_set_collection_config); \
                     pushes of it are decided by the config they carry"
                );
                return Ok(e);
            }
        };
        e.member_orgs = access.member_orgs.iter().cloned().collect();
        e.required_peer_count = Some(access.required_peer_count);
        e.max_peer_count = Some(access.max_peer_count);

        let query_lower = query.to_ascii_lowercase();
        let self_hex = self.crypto.self_pki_id.to_hex();
        if query_lower == self_hex || query == self.self_info.endpoint {
            e.reason = PvtReason::IsSelf;
            e.pki_id = Some(self_hex);
            e.org = Some(self.crypto.self_org.clone());
            e.detail = "this peer: the distributor never sends to itself".into();
            return Ok(e);
        }
        let Some(p) = peers.iter().find(|p| {
            p.pki_id == query_lower || p.endpoint == query || p.internal_endpoint == query
        }) else {
            e.reason = PvtReason::NotInChannel;
            e.detail = format!(
                "no peer of channel {channel} has PKI-ID or endpoint {query} (no StateInfo \
                 from it: see fg_explain_peer for membership)"
            );
            return Ok(e);
        };
        e.pki_id = Some(p.pki_id.clone());
        e.org = Some(p.org.clone());
        e.endpoint = Some(push_endpoint(p).to_string()).filter(|s| !s.is_empty());
        e.ledger_height = Some(p.ledger_height);
        if p.left_channel {
            e.reason = PvtReason::NotInChannel;
            e.detail = format!("it announced that it left channel {channel}");
            return Ok(e);
        }
        let identity = hex::decode(&p.pki_id)
            .ok()
            .and_then(|id| self.pvt.mapper.get(&PkiId(id)));
        let Some(identity) = identity else {
            e.reason = PvtReason::IdentityUnknown;
            e.detail = "its identity is not known (expired or not yet learnt)".into();
            return Ok(e);
        };
        if !access.is_eligible(membership(msps.as_ref(), &*self.crypto.advisor), &identity) {
            e.reason = PvtReason::NotEligible;
            e.detail = if access.is_member_org(&p.org) {
                format!(
                    "org {} is a member org of {collection}, but the member orgs policy does \
                     not hold over its identity (a role or an AND of orgs it does not meet)",
                    p.org
                )
            } else {
                format!(
                    "org {} is not in the member orgs of {collection} ({})",
                    p.org,
                    e.member_orgs.join(", ")
                )
            };
            return Ok(e);
        }
        if e.endpoint.is_none() {
            e.reason = PvtReason::NoEndpoint;
            e.detail =
                "it publishes no endpoint (no external endpoint, and not of this org)".into();
            return Ok(e);
        }
        if block_height > 0 && p.ledger_height < block_height {
            e.reason = PvtReason::BelowBlockHeight;
            e.detail = format!(
                "its ledger height {} is below {block_height}: it does not hold that block's \
                 private data to serve yet",
                p.ledger_height
            );
            return Ok(e);
        }
        e.detail = if access.max_peer_count == 0 {
            format!("eligible, but maxPeerCount of {collection} is 0: nothing is pushed")
        } else {
            format!(
                "eligible: a candidate, chosen at random up to maxPeerCount {}",
                access.max_peer_count
            )
        };
        Ok(e)
    }
}
