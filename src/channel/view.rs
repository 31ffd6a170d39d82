//! The two things the registry asks of the rest of the node: membership (from discovery)
//! and StateInfo verification (from the identity mapper and the crypto contract).

use crate::crypto::CryptoError;
use crate::discovery::{Discovery, MemberView};
use crate::types::{OrgId, PkiId};

/// Membership as discovery knows it, lent to the registry for one call.
pub trait MembershipView {
    /// A known member, alive or dead (Fabric's `Lookup`); `None` once purged. The own
    /// PKI-ID is not a member.
    fn lookup(&self, pki_id: &PkiId) -> Option<MemberView>;
    /// The alive members (Fabric's `GetMembership`).
    fn alive_members(&self) -> Vec<MemberView>;
}

impl MembershipView for Discovery {
    fn lookup(&self, pki_id: &PkiId) -> Option<MemberView> {
        Discovery::lookup(self, pki_id)
    }
    fn alive_members(&self) -> Vec<MemberView> {
        Discovery::alive_members(self)
    }
}

/// Checks StateInfo messages of other peers.
///
/// A driver implements it with the identity mapper (PKI-ID → identity), the
/// `SecurityAdvisor` (identity → org) and `MessageCryptoService::verify_by_channel`.
pub trait StateInfoVerifier: Send + Sync {
    /// The org of a PKI-ID whose identity is known; `None` when it is not.
    fn org_of(&self, pki_id: &PkiId) -> Option<OrgId>;
    /// Checks `signature` over `payload` by the identity of `pki_id`. With a channel, the
    /// signer must also satisfy the channel's readers policy (`VerifyByChannel`); without
    /// one (a channel we have not joined) only the signature is checked, as Fabric does.
    fn verify(
        &self,
        channel: Option<&str>,
        pki_id: &PkiId,
        signature: &[u8],
        payload: &[u8],
    ) -> Result<(), CryptoError>;
}
