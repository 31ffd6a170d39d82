//! MSP principals (Fabric's `common.MSPPrincipal` and the messages it carries) and whether an
//! identity satisfies one, as Fabric's MSP 1.4.3 answers: ROLE (member, admin, client, peer,
//! orderer), ORGANIZATION_UNIT, IDENTITY, ANONYMITY and COMBINED.

use prost::Message;

use super::fabric_msp::{Msp, NodeRole};
use super::identity::Identity;
use super::MspError;

/// `common.MSPPrincipal`.
#[derive(Clone, PartialEq, Message)]
pub struct MspPrincipal {
    /// One of the `CLASSIFICATION_*` constants.
    #[prost(int32, tag = "1")]
    pub principal_classification: i32,
    #[prost(bytes = "vec", tag = "2")]
    pub principal: Vec<u8>,
}

pub const CLASSIFICATION_ROLE: i32 = 0;
pub const CLASSIFICATION_ORGANIZATION_UNIT: i32 = 1;
pub const CLASSIFICATION_IDENTITY: i32 = 2;
pub const CLASSIFICATION_ANONYMITY: i32 = 3;
pub const CLASSIFICATION_COMBINED: i32 = 4;

/// `common.MSPRole`.
#[derive(Clone, PartialEq, Message)]
pub struct MspRole {
    #[prost(string, tag = "1")]
    pub msp_identifier: String,
    /// One of the `ROLE_*` constants.
    #[prost(int32, tag = "2")]
    pub role: i32,
}

pub const ROLE_MEMBER: i32 = 0;
pub const ROLE_ADMIN: i32 = 1;
pub const ROLE_CLIENT: i32 = 2;
pub const ROLE_PEER: i32 = 3;
pub const ROLE_ORDERER: i32 = 4;

/// `common.OrganizationUnit`.
#[derive(Clone, PartialEq, Message)]
pub struct OrganizationUnit {
    #[prost(string, tag = "1")]
    pub msp_identifier: String,
    #[prost(string, tag = "2")]
    pub organizational_unit_identifier: String,
    #[prost(bytes = "vec", tag = "3")]
    pub certifiers_identifier: Vec<u8>,
}

/// `common.MSPIdentityAnonymity`.
#[derive(Clone, PartialEq, Message)]
pub struct MspIdentityAnonymity {
    /// 0 = NOMINAL, 1 = ANONYMOUS.
    #[prost(int32, tag = "1")]
    pub anonymity_type: i32,
}

/// `common.CombinedPrincipal`.
#[derive(Clone, PartialEq, Message)]
pub struct CombinedPrincipal {
    #[prost(message, repeated, tag = "1")]
    pub principals: Vec<MspPrincipal>,
}

impl MspPrincipal {
    pub fn role(mspid: &str, role: i32) -> MspPrincipal {
        MspPrincipal {
            principal_classification: CLASSIFICATION_ROLE,
            principal: MspRole {
                msp_identifier: mspid.into(),
                role,
            }
            .encode_to_vec(),
        }
    }
}

/// Nesting bound for combined principals (configuration is untrusted input).
const MAX_COMBINED_DEPTH: usize = 16;

fn collect(p: &MspPrincipal, depth: usize, out: &mut Vec<MspPrincipal>) -> Result<(), MspError> {
    if p.principal_classification != CLASSIFICATION_COMBINED {
        out.push(p.clone());
        return Ok(());
    }
    if depth >= MAX_COMBINED_DEPTH {
        return Err(MspError::Principal(
            "combined principal nested too deep".into(),
        ));
    }
    let c = CombinedPrincipal::decode(p.principal.as_slice()).map_err(|e| {
        MspError::Principal(format!(
            "could not unmarshal CombinedPrincipal from principal: {e}"
        ))
    })?;
    if c.principals.is_empty() {
        return Err(MspError::Principal(
            "No principals in CombinedPrincipal".into(),
        ));
    }
    for inner in &c.principals {
        collect(inner, depth + 1, out)?;
    }
    Ok(())
}

fn decode<M: Message + Default>(b: &[u8], what: &str) -> Result<M, MspError> {
    M::decode(b)
        .map_err(|e| MspError::Principal(format!("could not unmarshal {what} from principal: {e}")))
}

impl Msp {
    /// Whether `id` (deserialized by this MSP) satisfies `principal`.
    pub fn satisfies_principal(
        &self,
        id: &Identity,
        principal: &MspPrincipal,
    ) -> Result<(), MspError> {
        let mut all = Vec::new();
        collect(principal, 0, &mut all)?;
        for p in &all {
            self.satisfies_one(id, p)?;
        }
        Ok(())
    }

    fn check_msp(&self, mspid: &str) -> Result<(), MspError> {
        if mspid != self.name() {
            return Err(MspError::Principal(format!(
                "the identity is a member of a different MSP (expected {mspid}, got {})",
                self.name()
            )));
        }
        Ok(())
    }

    fn satisfies_one(&self, id: &Identity, p: &MspPrincipal) -> Result<(), MspError> {
        match p.principal_classification {
            CLASSIFICATION_ROLE => {
                let role: MspRole = decode(&p.principal, "MSPRole")?;
                self.check_msp(&role.msp_identifier)?;
                let with_role = |r: NodeRole| -> Result<(), MspError> {
                    self.validate(id)?;
                    self.has_ou_role(id, r)
                };
                match role.role {
                    ROLE_MEMBER => self.validate(id),
                    ROLE_ADMIN if self.node_ous_enabled() => {
                        if self.is_in_admins(id) {
                            Ok(())
                        } else {
                            with_role(NodeRole::Admin)
                        }
                    }
                    ROLE_ADMIN => {
                        if self.is_in_admins(id) {
                            Ok(())
                        } else {
                            Err(MspError::Principal("This identity is not an admin".into()))
                        }
                    }
                    ROLE_ORDERER if self.node_ous_enabled() => with_role(NodeRole::Orderer),
                    ROLE_CLIENT => with_role(NodeRole::Client),
                    ROLE_PEER => with_role(NodeRole::Peer),
                    r => Err(MspError::Principal(format!("invalid MSP role type {r}"))),
                }
            }
            CLASSIFICATION_IDENTITY => {
                let other = self.deserialize_identity(&p.principal).map_err(|e| {
                    MspError::Principal(format!(
                        "invalid identity principal, not a certificate: {e}"
                    ))
                })?;
                if other.cert.der != id.cert.der {
                    return Err(MspError::Principal("The identities do not match".into()));
                }
                self.validate(&other)
            }
            CLASSIFICATION_ORGANIZATION_UNIT => {
                let ou: OrganizationUnit = decode(&p.principal, "OrganizationUnit")?;
                self.check_msp(&ou.msp_identifier)?;
                self.validate(id)?;
                let found = self.organizational_units(id).iter().any(|o| {
                    o.organizational_unit_identifier == ou.organizational_unit_identifier
                        && o.certifiers_identifier == ou.certifiers_identifier
                });
                if found {
                    Ok(())
                } else {
                    Err(MspError::Principal("The identities do not match".into()))
                }
            }
            CLASSIFICATION_ANONYMITY => {
                let a: MspIdentityAnonymity = decode(&p.principal, "MSPIdentityAnonymity")?;
                match a.anonymity_type {
                    0 => Ok(()),
                    1 => Err(MspError::Principal(
                        "Principal is anonymous, but X.509 MSP does not support anonymous identities".into(),
                    )),
                    t => Err(MspError::Principal(format!("Unknown principal anonymity type: {t}"))),
                }
            }
            c => Err(MspError::Principal(format!("invalid principal type {c}"))),
        }
    }
}
