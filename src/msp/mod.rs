//! Fabric's X.509 MSP, built in, sans-IO: every host gets a stock Fabric network's identities
//! from the library itself.
//!
//! - [`fabric_msp`]: one MSP from a `FabricMSPConfig`: setup, deserialization, validation
//!   (chain, CRLs, NodeOUs, OU identifiers), roles.
//! - [`principal`]: MSP principals and `satisfies_principal`.
//! - [`manager`]: the MSPs of a channel, by mspid.
//! - [`folder`]: the local MSP from an MSP folder, as a Fabric peer loads it, with its signing
//!   identity.
//! - [`identity`]: a deserialized identity; the gossip PKI-ID.
//! - [`cache`]: the bounded memo of identity decisions each MSP keeps.
//! - [`cert`], [`crl`], [`chain`], [`key`]: certificates, revocation lists, chain building,
//!   ECDSA keys with Fabric's low-S rule.
//!
//! Time is an input: validation follows Fabric (chains checked at the certificate's own
//! NotBefore + 1 s); callers that care about expiry pass `now`.

pub mod cache;
pub mod cert;
pub mod chain;
pub mod crl;
pub mod fabric_msp;
pub mod folder;
pub mod identity;
pub mod key;
pub mod manager;
pub mod principal;

pub use fabric_msp::{Msp, MspCacheCounters, NodeRole, OuIdentifier};
pub use folder::{LocalMsp, SigningIdentity};
pub use identity::{pki_id, Identity};
pub use manager::MspManager;
pub use principal::MspPrincipal;

#[cfg(test)]
pub(crate) mod test_pki;
#[cfg(test)]
mod tests;

/// Why the MSP refused a configuration, an identity, a signature or a principal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MspError {
    #[error("MSP configuration: {0}")]
    Config(String),
    #[error("malformed identity: {0}")]
    Malformed(String),
    #[error("MSP {0} is not defined")]
    UnknownMsp(String),
    #[error("invalid identity: {0}")]
    Invalid(String),
    /// The certificate chains to no root or intermediate CA of the MSP.
    #[error("invalid identity: {0}")]
    UnknownAuthority(String),
    /// The certificate's NodeOU or OU does not make it a member of the MSP.
    #[error("invalid identity: {0}")]
    Role(String),
    #[error("the certificate is not yet valid")]
    NotYetValid,
    #[error("the certificate has been revoked")]
    Revoked,
    #[error("the certificate has expired")]
    Expired,
    #[error("bad signature: {0}")]
    BadSignature(String),
    #[error("principal not satisfied: {0}")]
    Principal(String),
}

impl MspError {
    /// Short stable name of the refusal: the `reason` label of the MSP metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            MspError::Config(_) => "config",
            MspError::Malformed(_) => "malformed",
            MspError::UnknownMsp(_) => "unknown_msp",
            MspError::Invalid(_) => "invalid",
            MspError::UnknownAuthority(_) => "unknown_ca",
            MspError::Role(_) => "wrong_role",
            MspError::NotYetValid => "not_yet_valid",
            MspError::Revoked => "revoked",
            MspError::Expired => "expired",
            MspError::BadSignature(_) => "bad_signature",
            MspError::Principal(_) => "principal",
        }
    }
}
