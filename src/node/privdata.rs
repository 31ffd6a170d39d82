//! Private data distribution (Fabric's distributor over `SendByCriteria`): for each
//! collection of an endorsed transaction's private write set, a `PrivateDataMessage` pushed
//! with send-with-ack to the peers the distributor's plan chooses, and the verdict per
//! collection.
//!
//! Eligibility is the org-level rule of `privdata::distributor::eligible_orgs` on each
//! channel peer's org.

use std::sync::Mutex;

use prost::Message;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;

use super::GossipService;
use crate::comm::{AckOutcome, RemotePeer};
use crate::config::PvtDataConfig;
use crate::privdata::distributor::{
    self, Candidate, CollectionReport, DisseminationPolicy, PeerResult, Target,
};
use crate::proto::common::SignaturePolicyEnvelope;
use crate::proto::common::{signature_policy, MspPrincipal, MspRole, SignaturePolicy};
use crate::proto::gossip::gossip_message::{Content, Tag};
use crate::proto::gossip::{GossipMessage, PrivateDataMessage, PrivatePayload};
use crate::proto::protos::{
    collection_config, collection_policy_config, CollectionConfig, CollectionConfigPackage,
    CollectionPolicyConfig, StaticCollectionConfig,
};
use crate::proto::transientstore::TxPvtReadWriteSetWithConfigInfo;
use crate::sync::MutexExt;
use crate::types::PkiId;

/// The settings and random source of distribution.
pub(super) struct Distribution {
    cfg: PvtDataConfig,
    rng: Mutex<StdRng>,
}

impl Distribution {
    pub(super) fn new(cfg: PvtDataConfig, seed: u64) -> Self {
        Distribution {
            cfg,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
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

/// One collection's message and targets.
struct Planned {
    namespace: String,
    collection: String,
    policy: DisseminationPolicy,
    targets: Vec<Target>,
    msg: GossipMessage,
}

/// Fabric's implicit collection config of an org: members of that MSP, no dissemination
/// required (what an endorser sends when the host gave none).
fn implicit_collection_config(name: &str, mspid: &str) -> StaticCollectionConfig {
    let member = MspPrincipal {
        principal_classification: 0,
        principal: MspRole {
            msp_identifier: mspid.to_string(),
            role: 0,
        }
        .encode_to_vec(),
    };
    let signed_by_first = SignaturePolicy {
        r#type: Some(signature_policy::Type::SignedBy(0)),
    };
    StaticCollectionConfig {
        name: name.to_string(),
        member_orgs_policy: Some(CollectionPolicyConfig {
            payload: Some(collection_policy_config::Payload::SignaturePolicy(
                SignaturePolicyEnvelope {
                    version: 0,
                    rule: Some(SignaturePolicy {
                        r#type: Some(signature_policy::Type::NOutOf(signature_policy::NOutOf {
                            n: 1,
                            rules: vec![signed_by_first],
                        })),
                    }),
                    identities: vec![member],
                },
            )),
        }),
        ..Default::default()
    }
}

fn static_config<'a>(
    pkg: Option<&'a CollectionConfigPackage>,
    collection: &str,
) -> Option<&'a StaticCollectionConfig> {
    pkg?.config.iter().find_map(|c| match &c.payload {
        Some(collection_config::Payload::StaticCollectionConfig(s)) if s.name == collection => {
            Some(s)
        }
        _ => None,
    })
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
        let rwset = info.pvt_rwset.as_ref().ok_or_else(|| {
            DistributeError::InvalidInput("no private read-write set (pvt_rwset)".into())
        })?;
        let peers = self
            .peers_of_channel(channel)
            .ok_or_else(|| DistributeError::UnknownChannel(channel.to_string()))?;
        let candidates: Vec<Candidate> = peers
            .iter()
            .filter(|p| !p.left_channel)
            .filter_map(|p| {
                Some(Candidate {
                    pki_id: PkiId(hex::decode(&p.pki_id).ok()?),
                    endpoint: if p.internal_endpoint.is_empty() {
                        p.endpoint.clone()
                    } else {
                        p.internal_endpoint.clone()
                    },
                    org: p.org.clone(),
                })
            })
            .collect();
        let own_org = self.crypto.self_org.to_string();
        let own_implicit = DisseminationPolicy {
            required_peer_count: self
                .pvt
                .cfg
                .implicit_collection_dissemination_policy
                .required_peer_count as usize,
            max_peer_count: self
                .pvt
                .cfg
                .implicit_collection_dissemination_policy
                .max_peer_count as usize,
        };

        let mut reports: Vec<Option<CollectionReport>> = Vec::new();
        let mut planned: Vec<(usize, Planned)> = Vec::new();
        for ns in &rwset.ns_pvt_rwset {
            let pkg = info.collection_configs.get(&ns.namespace);
            for col in &ns.collection_pvt_rwset {
                let name = &col.collection_name;
                let implicit;
                let config = match (
                    static_config(pkg, name),
                    distributor::implicit_collection_org(name),
                ) {
                    (Some(c), _) => Some(c),
                    (None, Some(org)) => {
                        implicit = implicit_collection_config(name, org);
                        Some(&implicit)
                    }
                    (None, None) => None,
                };
                let policy = config.map(|c| {
                    distributor::dissemination_policy(name, Some(c), &own_org, own_implicit)
                });
                let plan = distributor::eligible_orgs(name, config).and_then(|orgs| {
                    let policy = policy.unwrap_or(DisseminationPolicy {
                        required_peer_count: 0,
                        max_peer_count: 0,
                    });
                    let mut rng = self.pvt.rng.locked();
                    distributor::plan(
                        policy,
                        &candidates,
                        &self.crypto.self_pki_id,
                        |c| orgs.contains(&c.org),
                        &mut *rng,
                    )
                    .map_err(|e| e.to_string())
                });
                let targets = match plan {
                    Ok(t) => t,
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
                let config = config.cloned().unwrap_or_default();
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
                        policy: policy.unwrap_or(own_implicit),
                        targets,
                        msg,
                    },
                ));
                reports.push(None);
            }
        }

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
}
