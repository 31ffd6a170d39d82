//! The two things the registry asks of the rest of the node: membership (from discovery)
//! and StateInfo verification (from the identity mapper and the crypto contract).

use std::sync::Arc;

use crate::crypto::{CryptoError, MessageCryptoService, SecurityAdvisor};
use crate::discovery::{Discovery, MemberView};
use crate::identity::IdentityMapper;
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

/// The verifier a node uses: identities from the identity mapper, orgs from the
/// `SecurityAdvisor`, signatures by `MessageCryptoService::verify_by_channel` (or `verify`
/// without a channel).
#[derive(Clone)]
pub struct MapperVerifier {
    pub mapper: Arc<IdentityMapper>,
    pub mcs: Arc<dyn MessageCryptoService>,
    pub advisor: Arc<dyn SecurityAdvisor>,
}

impl StateInfoVerifier for MapperVerifier {
    fn org_of(&self, pki_id: &PkiId) -> Option<OrgId> {
        let identity = self.mapper.get(pki_id)?;
        self.advisor.org_by_peer_identity(&identity)
    }

    fn verify(
        &self,
        channel: Option<&str>,
        pki_id: &PkiId,
        signature: &[u8],
        payload: &[u8],
    ) -> Result<(), CryptoError> {
        let identity = self.mapper.get(pki_id).ok_or_else(|| {
            CryptoError::MalformedIdentity(format!("no identity known for PKI-ID {pki_id}"))
        })?;
        match channel {
            Some(ch) => self
                .mcs
                .verify_by_channel(ch, &identity, signature, payload),
            None => self.mcs.verify(&identity, signature, payload),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::ed25519::Ed25519Crypto;

    #[test]
    fn mapper_verifier_checks_identity_org_and_channel() {
        let me = Ed25519Crypto::new("Org1MSP".into(), [1; 32], vec!["Org2MSP".into()]);
        let other = Ed25519Crypto::new("Org2MSP".into(), [2; 32], vec![]);
        let mapper = Arc::new(IdentityMapper::new(me.clone(), &me.serialized_identity()).unwrap());
        let other_pki = me.pki_id_of(&other.serialized_identity()).unwrap();
        let v = MapperVerifier {
            mapper: mapper.clone(),
            mcs: me.clone(),
            advisor: me.clone(),
        };
        // Unknown until the mapper holds the identity.
        assert_eq!(v.org_of(&other_pki), None);
        let sig = other.sign(b"payload").unwrap();
        assert!(v.verify(None, &other_pki, &sig, b"payload").is_err());
        mapper
            .put(&other_pki, &other.serialized_identity())
            .unwrap();
        assert_eq!(v.org_of(&other_pki).as_deref(), Some("Org2MSP"));
        v.verify(None, &other_pki, &sig, b"payload").unwrap();
        assert!(v.verify(None, &other_pki, &sig, b"payloaD").is_err());
        // The channel's readers policy: Org2 must be a member.
        assert_eq!(
            v.verify(Some("ch"), &other_pki, &sig, b"payload"),
            Err(CryptoError::NotInChannel("ch".into()))
        );
        me.set_channel_orgs("ch", vec!["Org1MSP".into(), "Org2MSP".into()]);
        v.verify(Some("ch"), &other_pki, &sig, b"payload").unwrap();
    }
}
