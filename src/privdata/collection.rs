//! A collection's access: its member orgs and member-orgs policy, read/write rules,
//! dissemination counts and block-to-live, from a `StaticCollectionConfig` or, for
//! `_implicit_org_<MSPID>`, from the implicit rule with no configuration at all.
//!
//! One eligibility rule, [`CollectionAccess::is_eligible`], serves every side: the distributor
//! choosing targets, the receiver deciding whether this peer keeps a pushed write set, the
//! responder deciding whether a requester may read, and `fg_explain_private_data`. As Fabric's
//! collection access filter it evaluates the member-orgs signature policy over the identity
//! alone, through the channel's MSPs ([`Membership::Policy`]), and requires the identity's
//! MSP ID to be a member org (Fabric groups eligible peers by member org). A channel joined
//! without a config block (Ed25519 identities, JSON join) has no MSPs to evaluate principals
//! with; there the identity's org must be a member org ([`Membership::MspId`]), so a
//! principal's role and an AND of several orgs are not enforced.
//!
//! `MemberOnlyRead`/`MemberOnlyWrite` restrict clients, not peers (Fabric checks them on the
//! proposal's creator at endorsement): [`CollectionAccess::read_write_permission`] gives
//! Fabric's answer; peer eligibility does not depend on them.

use std::collections::BTreeSet;

use prost::Message;

use crate::channelconfig::{signature_policy_holds, PrincipalCheck};
use crate::config::ImplicitCollectionPolicy;
use crate::crypto::SecurityAdvisor;
use crate::proto::common::msp_principal::Classification;
use crate::proto::common::msp_role::MspRoleType;
use crate::proto::common::{
    signature_policy, MspPrincipal, MspRole, SignaturePolicy, SignaturePolicyEnvelope,
};
use crate::proto::msp::SerializedIdentity;
use crate::proto::protos::collection_config::Payload as CollectionPayload;
use crate::proto::protos::collection_policy_config::Payload as PolicyPayload;
use crate::proto::protos::{
    CollectionConfigPackage, CollectionPolicyConfig, StaticCollectionConfig,
};

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
    #[error("no collection config for collection {0}")]
    NotFound(String),
    #[error("collection {0} has no member orgs policy")]
    NoPolicy(String),
    #[error("collection {name}: malformed member orgs policy: {reason}")]
    MalformedPolicy { name: String, reason: String },
    #[error("collection {name}: negative peer count {count}")]
    NegativeCount { name: String, count: i32 },
}

/// How a channel tells whether an identity satisfies a collection's member-orgs policy.
#[derive(Clone, Copy)]
pub enum Membership<'a> {
    /// The channel was joined with a config block: its MSPs evaluate the policy.
    Policy(&'a dyn PrincipalCheck),
    /// No channel MSPs: the org the advisor reads from the identity must be a member org.
    MspId(&'a dyn SecurityAdvisor),
}

/// What gossip needs to know of one collection.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionAccess {
    pub name: String,
    pub member_orgs: BTreeSet<String>,
    /// The member-orgs signature policy (for an implicit collection: any member of its org).
    pub policy: SignaturePolicyEnvelope,
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
            policy: policy.clone(),
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
            policy: member_of(mspid),
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

    /// Whether the peer with this serialized identity may hold the collection's data: its
    /// org is a member org and, where the channel has MSPs, the member-orgs policy holds
    /// over it alone (Fabric's collection access filter). The identity was proven by a
    /// handshake or a verified message, so no signature is checked here.
    pub fn is_eligible(&self, membership: Membership<'_>, identity: &[u8]) -> bool {
        match membership {
            Membership::Policy(check) => {
                SerializedIdentity::decode(identity)
                    .is_ok_and(|sid| self.member_orgs.contains(&sid.mspid))
                    && signature_policy_holds(&self.policy, &[identity], check)
            }
            Membership::MspId(advisor) => advisor
                .org_by_peer_identity(identity)
                .is_some_and(|org| self.is_member_org(&org)),
        }
    }

    /// Fabric's read and write permission of a client (a proposal's creator): members may
    /// read and write; others may read unless `MemberOnlyRead` and write unless
    /// `MemberOnlyWrite`.
    pub fn read_write_permission(
        &self,
        membership: Membership<'_>,
        creator: &[u8],
    ) -> (bool, bool) {
        if !self.member_only_read && !self.member_only_write {
            return (true, true);
        }
        if self.is_eligible(membership, creator) {
            return (true, true);
        }
        (!self.member_only_read, !self.member_only_write)
    }

    /// The config an implicit collection is sent with (Fabric's lifecycle generates the same
    /// for each org): its name, its member policy and its dissemination counts.
    pub fn implicit_static_config(&self) -> StaticCollectionConfig {
        StaticCollectionConfig {
            name: self.name.clone(),
            member_orgs_policy: Some(CollectionPolicyConfig {
                payload: Some(PolicyPayload::SignaturePolicy(self.policy.clone())),
            }),
            required_peer_count: i32::try_from(self.required_peer_count).unwrap_or(i32::MAX),
            maximum_peer_count: i32::try_from(self.max_peer_count).unwrap_or(i32::MAX),
            ..Default::default()
        }
    }
}

/// One signature of any member of `mspid`.
fn member_of(mspid: &str) -> SignaturePolicyEnvelope {
    let member = MspPrincipal {
        principal_classification: Classification::Role as i32,
        principal: MspRole {
            msp_identifier: mspid.to_string(),
            role: MspRoleType::Member as i32,
        }
        .encode_to_vec(),
    };
    let signed_by_first = SignaturePolicy {
        r#type: Some(signature_policy::Type::SignedBy(0)),
    };
    SignaturePolicyEnvelope {
        version: 0,
        rule: Some(SignaturePolicy {
            r#type: Some(signature_policy::Type::NOutOf(signature_policy::NOutOf {
                n: 1,
                rules: vec![signed_by_first],
            })),
        }),
        identities: vec![member],
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
    let found = static_config(package, collection);
    match found {
        Some(s) => CollectionAccess::from_static(s),
        None => Err(CollectionError::NotFound(collection.to_string())),
    }
}

/// The static config of `collection` in `package`, if it has one.
pub fn static_config<'a>(
    package: Option<&'a CollectionConfigPackage>,
    collection: &str,
) -> Option<&'a StaticCollectionConfig> {
    package
        .into_iter()
        .flat_map(|p| &p.config)
        .filter_map(|c| {
            c.payload
                .as_ref()
                .map(|CollectionPayload::StaticCollectionConfig(s)| s)
        })
        .find(|s| s.name == collection)
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
    use crate::proto::protos::CollectionConfig;

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

    pub fn role(mspid: &str, role: MspRoleType) -> MspPrincipal {
        MspPrincipal {
            principal_classification: Classification::Role as i32,
            principal: MspRole {
                msp_identifier: mspid.into(),
                role: role as i32,
            }
            .encode_to_vec(),
        }
    }

    fn signed_by(i: i32) -> SignaturePolicy {
        SignaturePolicy {
            r#type: Some(signature_policy::Type::SignedBy(i)),
        }
    }

    fn n_of(n: i32, count: usize) -> SignaturePolicyEnvelope {
        SignaturePolicyEnvelope {
            version: 0,
            rule: Some(SignaturePolicy {
                r#type: Some(signature_policy::Type::NOutOf(signature_policy::NOutOf {
                    n,
                    rules: (0..count as i32).map(signed_by).collect(),
                })),
            }),
            identities: Vec::new(),
        }
    }

    /// OR over `principals`, as `OR('Org1MSP.member', ...)` compiles.
    pub fn any_of(principals: Vec<MspPrincipal>) -> SignaturePolicyEnvelope {
        SignaturePolicyEnvelope {
            identities: principals.clone(),
            ..n_of(1, principals.len())
        }
    }

    /// AND over `principals`.
    fn all_of(principals: Vec<MspPrincipal>) -> SignaturePolicyEnvelope {
        SignaturePolicyEnvelope {
            identities: principals.clone(),
            ..n_of(principals.len() as i32, principals.len())
        }
    }

    /// Channel MSPs in miniature: an identity is `SerializedIdentity{mspid, id_bytes = its
    /// role ("peer", "client", "admin")}`; a role principal holds for its MSP's members and,
    /// for PEER/CLIENT/ADMIN, only for identities of that role.
    pub struct RoleMsps;

    impl PrincipalCheck for RoleMsps {
        fn satisfies_principal(&self, identity: &[u8], principal: &MspPrincipal) -> bool {
            let (Ok(sid), Ok(role)) = (
                SerializedIdentity::decode(identity),
                MspRole::decode(principal.principal.as_slice()),
            ) else {
                return false;
            };
            let wanted: &[u8] = match MspRoleType::try_from(role.role) {
                Ok(MspRoleType::Member) => &sid.id_bytes,
                Ok(MspRoleType::Peer) => b"peer",
                Ok(MspRoleType::Client) => b"client",
                Ok(MspRoleType::Admin) => b"admin",
                _ => return false,
            };
            principal.principal_classification == Classification::Role as i32
                && sid.mspid == role.msp_identifier
                && sid.id_bytes == wanted
        }

        fn verify_signature(&self, _: &[u8], _: &[u8], _: &[u8]) -> bool {
            unreachable!("eligibility verifies no signature")
        }
    }

    fn x509(mspid: &str, role: &str) -> Vec<u8> {
        SerializedIdentity {
            mspid: mspid.into(),
            id_bytes: role.as_bytes().to_vec(),
        }
        .encode_to_vec()
    }

    fn with_policy(name: &str, policy: SignaturePolicyEnvelope) -> CollectionAccess {
        let mut cfg = static_config(name, &["Org1MSP"]);
        cfg.member_orgs_policy = Some(CollectionPolicyConfig {
            payload: Some(PolicyPayload::SignaturePolicy(policy)),
        });
        CollectionAccess::from_static(&cfg).unwrap()
    }

    #[test]
    fn with_channel_msps_the_policy_is_evaluated_over_the_identity() {
        let msps = Membership::Policy(&RoleMsps);
        let peers_only = with_policy(
            "p",
            any_of(vec![
                role("Org1MSP", MspRoleType::Peer),
                role("Org2MSP", MspRoleType::Peer),
            ]),
        );
        assert!(peers_only.is_eligible(msps, &x509("Org1MSP", "peer")));
        assert!(peers_only.is_eligible(msps, &x509("Org2MSP", "peer")));
        assert!(!peers_only.is_eligible(msps, &x509("Org1MSP", "client")));
        assert!(!peers_only.is_eligible(msps, &x509("Org3MSP", "peer")));
        assert!(!peers_only.is_eligible(msps, b"garbage"));
        // By MSP ID alone the role is not seen: any identity of a member org counts.
        let by_id = Membership::MspId(&MspidAdvisor);
        assert!(peers_only.is_eligible(by_id, &x509("Org1MSP", "client")));
        assert!(!peers_only.is_eligible(by_id, &x509("Org3MSP", "peer")));

        // An AND of two orgs holds for no single peer, as in Fabric's access filter.
        let both = with_policy(
            "and",
            all_of(vec![
                role("Org1MSP", MspRoleType::Member),
                role("Org2MSP", MspRoleType::Member),
            ]),
        );
        assert!(!both.is_eligible(msps, &x509("Org1MSP", "peer")));
        assert!(both.is_eligible(by_id, &x509("Org1MSP", "peer")));

        // A policy with no rule holds for nobody.
        let mut no_rule = any_of(vec![role("Org1MSP", MspRoleType::Member)]);
        no_rule.rule = None;
        assert!(!with_policy("none", no_rule).is_eligible(msps, &x509("Org1MSP", "peer")));
    }

    #[test]
    fn implicit_collections_hold_for_any_member_of_their_org() {
        let a = resolve("_implicit_org_Org2MSP", None, "Org1MSP", &policy()).unwrap();
        let msps = Membership::Policy(&RoleMsps);
        for r in ["peer", "client", "admin"] {
            assert!(a.is_eligible(msps, &x509("Org2MSP", r)));
            assert!(!a.is_eligible(msps, &x509("Org1MSP", r)));
        }
        let cfg = a.implicit_static_config();
        assert_eq!(cfg.name, "_implicit_org_Org2MSP");
        assert_eq!(
            CollectionAccess::from_static(&cfg).unwrap().member_orgs,
            a.member_orgs
        );
    }

    #[test]
    fn member_only_read_and_write_restrict_non_member_clients() {
        let msps = Membership::Policy(&RoleMsps);
        let member = x509("Org1MSP", "client");
        let outsider = x509("Org2MSP", "client");
        let mut a = with_policy("c", any_of(vec![role("Org1MSP", MspRoleType::Member)]));
        for (read, write, outsider_gets) in [
            (false, false, (true, true)),
            (true, false, (false, true)),
            (false, true, (true, false)),
            (true, true, (false, false)),
        ] {
            a.member_only_read = read;
            a.member_only_write = write;
            assert_eq!(a.read_write_permission(msps, &member), (true, true));
            assert_eq!(a.read_write_permission(msps, &outsider), outsider_gets);
        }
    }

    /// A static collection `name` whose members are `orgs`.
    pub fn static_config(name: &str, orgs: &[&str]) -> StaticCollectionConfig {
        StaticCollectionConfig {
            name: name.into(),
            member_orgs_policy: Some(CollectionPolicyConfig {
                payload: Some(PolicyPayload::SignaturePolicy(any_of(
                    orgs.iter().map(|o| role(o, MspRoleType::Member)).collect(),
                ))),
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
                    role("Org1MSP", MspRoleType::Member),
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
        let by_id = Membership::MspId(&MspidAdvisor);
        assert!(a.is_eligible(by_id, &identity("Org2MSP")));
        assert!(!a.is_eligible(by_id, &identity("Org4MSP")));
        assert!(!a.is_eligible(by_id, b"garbage"));
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
        let by_id = Membership::MspId(&MspidAdvisor);
        assert!(other.is_eligible(by_id, &identity("Org2MSP")));
        assert!(!other.is_eligible(by_id, &identity("Org1MSP")));
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
