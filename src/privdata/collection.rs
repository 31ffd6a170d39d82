//! A collection's access: its member orgs, read/write rules, dissemination counts and
//! block-to-live, from a `StaticCollectionConfig` or, for `_implicit_org_<MSPID>`, from the
//! implicit rule with no configuration at all.
//!
//! Membership is decided by MSP ID: the member orgs are the MSP IDs named by the principals
//! of the collection's `member_orgs_policy`, and a peer identity is eligible when the
//! `SecurityAdvisor` maps it to one of them. The handshake already proved the identity, so the
//! org is all that is left to check. This is looser than evaluating the signature policy
//! itself: a principal's role (member, peer, admin) and an AND of several orgs are not
//! enforced; any identity of a named org counts.

use std::collections::BTreeSet;

use prost::Message;

use crate::config::ImplicitCollectionPolicy;
use crate::crypto::SecurityAdvisor;
use crate::proto::common::msp_principal::Classification;
use crate::proto::common::{MspPrincipal, MspRole};
use crate::proto::msp::SerializedIdentity;
use crate::proto::protos::collection_config::Payload as CollectionPayload;
use crate::proto::protos::collection_policy_config::Payload as PolicyPayload;
use crate::proto::protos::{CollectionConfigPackage, StaticCollectionConfig};

/// Name prefix of the implicit per-org collections.
pub const IMPLICIT_COLLECTION_PREFIX: &str = "_implicit_org_";

/// `msp.OrganizationUnit`: only the MSP ID is needed from an OU principal.
#[derive(Clone, PartialEq, prost::Message)]
struct OrganizationUnit {
    #[prost(string, tag = "1")]
    organizational_unit_identifier: String,
    #[prost(string, tag = "2")]
    msp_identifier: String,
}

/// Why a collection's access could not be established.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CollectionError {
    #[error("collection {0} is not in the collection configs")]
    NotFound(String),
    #[error("collection {0} has no member orgs policy")]
    NoPolicy(String),
    #[error("collection {name}: malformed member orgs policy: {reason}")]
    MalformedPolicy { name: String, reason: String },
    #[error("collection {name}: negative peer count {count}")]
    NegativeCount { name: String, count: i32 },
}

/// What gossip needs to know of one collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionAccess {
    pub name: String,
    pub member_orgs: BTreeSet<String>,
    pub required_peer_count: u32,
    pub max_peer_count: u32,
    /// Blocks the private data lives after commit; 0 = forever.
    pub block_to_live: u64,
    pub member_only_read: bool,
    pub member_only_write: bool,
}

impl CollectionAccess {
    /// The access of an explicit collection.
    pub fn from_static(cfg: &StaticCollectionConfig) -> Result<Self, CollectionError> {
        let name = cfg.name.clone();
        let count = |c: i32| {
            u32::try_from(c).map_err(|_| CollectionError::NegativeCount {
                name: name.clone(),
                count: c,
            })
        };
        let required_peer_count = count(cfg.required_peer_count)?;
        let max_peer_count = count(cfg.maximum_peer_count)?;
        let policy = match cfg
            .member_orgs_policy
            .as_ref()
            .and_then(|p| p.payload.as_ref())
        {
            Some(PolicyPayload::SignaturePolicy(p)) => p,
            None => return Err(CollectionError::NoPolicy(name)),
        };
        let member_orgs =
            member_orgs(&policy.identities).map_err(|reason| CollectionError::MalformedPolicy {
                name: name.clone(),
                reason,
            })?;
        Ok(CollectionAccess {
            name,
            member_orgs,
            required_peer_count,
            max_peer_count,
            block_to_live: cfg.block_to_live,
            member_only_read: cfg.member_only_read,
            member_only_write: cfg.member_only_write,
        })
    }

    /// `_implicit_org_<mspid>`: only `mspid` is a member; the dissemination counts come from
    /// `implicitCollectionDisseminationPolicy` for the own org's collection and are 0 for the
    /// other orgs' (as Fabric's lifecycle generates them). Private data lives forever.
    pub fn implicit(mspid: &str, own_org: &str, policy: &ImplicitCollectionPolicy) -> Self {
        let (required_peer_count, max_peer_count) = if mspid == own_org {
            (policy.required_peer_count, policy.max_peer_count)
        } else {
            (0, 0)
        };
        CollectionAccess {
            name: implicit_collection_name(mspid),
            member_orgs: BTreeSet::from([mspid.to_string()]),
            required_peer_count,
            max_peer_count,
            block_to_live: 0,
            member_only_read: false,
            member_only_write: false,
        }
    }

    pub fn is_member_org(&self, org: &str) -> bool {
        self.member_orgs.contains(org)
    }

    /// Whether the peer with this serialized identity may hold the collection's data.
    pub fn is_eligible(&self, advisor: &dyn SecurityAdvisor, identity: &[u8]) -> bool {
        advisor
            .org_by_peer_identity(identity)
            .is_some_and(|org| self.is_member_org(&org))
    }
}

pub fn implicit_collection_name(mspid: &str) -> String {
    format!("{IMPLICIT_COLLECTION_PREFIX}{mspid}")
}

/// The MSP ID of an implicit collection's name, `None` for any other name.
pub fn implicit_collection_org(name: &str) -> Option<&str> {
    name.strip_prefix(IMPLICIT_COLLECTION_PREFIX)
        .filter(|org| !org.is_empty())
}

/// The access of `collection`: the implicit rule for `_implicit_org_*` names, else its
/// static config in `package` (the configs a push carries, or the host's).
pub fn resolve(
    collection: &str,
    package: Option<&CollectionConfigPackage>,
    own_org: &str,
    policy: &ImplicitCollectionPolicy,
) -> Result<CollectionAccess, CollectionError> {
    if let Some(org) = implicit_collection_org(collection) {
        return Ok(CollectionAccess::implicit(org, own_org, policy));
    }
    let found = package
        .into_iter()
        .flat_map(|p| &p.config)
        .filter_map(|c| {
            c.payload
                .as_ref()
                .map(|CollectionPayload::StaticCollectionConfig(s)| s)
        })
        .find(|s| s.name == collection);
    match found {
        Some(s) => CollectionAccess::from_static(s),
        None => Err(CollectionError::NotFound(collection.to_string())),
    }
}

/// The MSP IDs the principals of a member-orgs policy name.
fn member_orgs(principals: &[MspPrincipal]) -> Result<BTreeSet<String>, String> {
    let mut orgs = BTreeSet::new();
    for p in principals {
        let mspid = match Classification::try_from(p.principal_classification) {
            Ok(Classification::Role) => {
                MspRole::decode(p.principal.as_slice())
                    .map_err(|e| format!("role principal: {e}"))?
                    .msp_identifier
            }
            Ok(Classification::Identity) => {
                SerializedIdentity::decode(p.principal.as_slice())
                    .map_err(|e| format!("identity principal: {e}"))?
                    .mspid
            }
            Ok(Classification::OrganizationUnit) => {
                OrganizationUnit::decode(p.principal.as_slice())
                    .map_err(|e| format!("OU principal: {e}"))?
                    .msp_identifier
            }
            // Anonymity and combined principals name no org.
            _ => continue,
        };
        if mspid.is_empty() {
            return Err("a principal names an empty MSP ID".into());
        }
        orgs.insert(mspid);
    }
    if orgs.is_empty() {
        return Err("no principal names an org".into());
    }
    Ok(orgs)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::proto::common::msp_role::MspRoleType;
    use crate::proto::common::SignaturePolicyEnvelope;
    use crate::proto::protos::{CollectionConfig, CollectionPolicyConfig};

    /// An advisor that reads the org from a `SerializedIdentity`'s MSP ID.
    pub struct MspidAdvisor;

    impl SecurityAdvisor for MspidAdvisor {
        fn org_by_peer_identity(&self, identity: &[u8]) -> Option<String> {
            SerializedIdentity::decode(identity)
                .ok()
                .map(|s| s.mspid)
                .filter(|m| !m.is_empty())
        }
    }

    pub fn identity(mspid: &str) -> Vec<u8> {
        SerializedIdentity {
            mspid: mspid.into(),
            id_bytes: vec![7; 32],
        }
        .encode_to_vec()
    }

    pub fn role(mspid: &str) -> MspPrincipal {
        MspPrincipal {
            principal_classification: Classification::Role as i32,
            principal: MspRole {
                msp_identifier: mspid.into(),
                role: MspRoleType::Member as i32,
            }
            .encode_to_vec(),
        }
    }

    /// A static collection `name` whose members are `orgs`.
    pub fn static_config(name: &str, orgs: &[&str]) -> StaticCollectionConfig {
        StaticCollectionConfig {
            name: name.into(),
            member_orgs_policy: Some(CollectionPolicyConfig {
                payload: Some(PolicyPayload::SignaturePolicy(SignaturePolicyEnvelope {
                    version: 0,
                    rule: None,
                    identities: orgs.iter().map(|o| role(o)).collect(),
                })),
            }),
            required_peer_count: 1,
            maximum_peer_count: 2,
            block_to_live: 100,
            member_only_read: true,
            member_only_write: false,
            endorsement_policy: None,
        }
    }

    pub fn package(configs: Vec<StaticCollectionConfig>) -> CollectionConfigPackage {
        CollectionConfigPackage {
            config: configs
                .into_iter()
                .map(|s| CollectionConfig {
                    payload: Some(CollectionPayload::StaticCollectionConfig(s)),
                })
                .collect(),
        }
    }

    fn policy() -> ImplicitCollectionPolicy {
        ImplicitCollectionPolicy {
            required_peer_count: 0,
            max_peer_count: 1,
        }
    }

    #[test]
    fn static_collection_members_come_from_the_policy_principals() {
        let mut cfg = static_config("secret", &["Org1MSP", "Org2MSP"]);
        cfg.member_orgs_policy = Some(CollectionPolicyConfig {
            payload: Some(PolicyPayload::SignaturePolicy(SignaturePolicyEnvelope {
                version: 0,
                rule: None,
                identities: vec![
                    role("Org1MSP"),
                    MspPrincipal {
                        principal_classification: Classification::Identity as i32,
                        principal: identity("Org2MSP"),
                    },
                    MspPrincipal {
                        principal_classification: Classification::OrganizationUnit as i32,
                        principal: OrganizationUnit {
                            organizational_unit_identifier: "peer".into(),
                            msp_identifier: "Org3MSP".into(),
                        }
                        .encode_to_vec(),
                    },
                ],
            })),
        });
        let a = CollectionAccess::from_static(&cfg).unwrap();
        assert_eq!(
            a.member_orgs,
            BTreeSet::from(["Org1MSP".into(), "Org2MSP".into(), "Org3MSP".into()])
        );
        assert_eq!((a.required_peer_count, a.max_peer_count), (1, 2));
        assert_eq!(a.block_to_live, 100);
        assert!(a.member_only_read && !a.member_only_write);
        assert!(a.is_eligible(&MspidAdvisor, &identity("Org2MSP")));
        assert!(!a.is_eligible(&MspidAdvisor, &identity("Org4MSP")));
        assert!(!a.is_eligible(&MspidAdvisor, b"garbage"));
    }

    #[test]
    fn malformed_configs_are_errors() {
        let mut cfg = static_config("c", &["Org1MSP"]);
        cfg.member_orgs_policy = None;
        assert_eq!(
            CollectionAccess::from_static(&cfg),
            Err(CollectionError::NoPolicy("c".into()))
        );
        let mut cfg = static_config("c", &["Org1MSP"]);
        cfg.required_peer_count = -1;
        assert!(matches!(
            CollectionAccess::from_static(&cfg),
            Err(CollectionError::NegativeCount { count: -1, .. })
        ));
        let cfg = static_config("c", &[]);
        assert!(matches!(
            CollectionAccess::from_static(&cfg),
            Err(CollectionError::MalformedPolicy { .. })
        ));
        let mut cfg = static_config("c", &["Org1MSP"]);
        if let Some(PolicyPayload::SignaturePolicy(p)) = cfg
            .member_orgs_policy
            .as_mut()
            .and_then(|p| p.payload.as_mut())
        {
            p.identities[0].principal = vec![0xff, 0xff];
        }
        assert!(matches!(
            CollectionAccess::from_static(&cfg),
            Err(CollectionError::MalformedPolicy { .. })
        ));
    }

    #[test]
    fn implicit_collections_need_no_config() {
        let own = resolve("_implicit_org_Org1MSP", None, "Org1MSP", &policy()).unwrap();
        assert_eq!(own.member_orgs, BTreeSet::from(["Org1MSP".into()]));
        assert_eq!((own.required_peer_count, own.max_peer_count), (0, 1));
        assert_eq!(own.block_to_live, 0);
        let other = resolve("_implicit_org_Org2MSP", None, "Org1MSP", &policy()).unwrap();
        assert_eq!((other.required_peer_count, other.max_peer_count), (0, 0));
        assert!(other.is_eligible(&MspidAdvisor, &identity("Org2MSP")));
        assert!(!other.is_eligible(&MspidAdvisor, &identity("Org1MSP")));
        assert_eq!(implicit_collection_org("_implicit_org_"), None);
        assert!(resolve("_implicit_org_", None, "Org1MSP", &policy()).is_err());
    }

    #[test]
    fn explicit_collections_are_looked_up_by_name() {
        let pkg = package(vec![
            static_config("a", &["Org1MSP"]),
            static_config("b", &["Org2MSP"]),
        ]);
        let b = resolve("b", Some(&pkg), "Org1MSP", &policy()).unwrap();
        assert!(b.is_member_org("Org2MSP"));
        assert_eq!(
            resolve("c", Some(&pkg), "Org1MSP", &policy()),
            Err(CollectionError::NotFound("c".into()))
        );
        assert_eq!(
            resolve("a", None, "Org1MSP", &policy()),
            Err(CollectionError::NotFound("a".into()))
        );
    }
}
