//! Who may ask us for blocks and send us blocks by state transfer: Fabric checks the
//! sender's handshake credential (its signed `ConnEstablish`) with `VerifyByChannel`, the
//! channel's readers policy, on every state request and response.

use crate::crypto::{CryptoError, MessageCryptoService};
use crate::types::AuthInfo;

/// Whether the peer of `identity`, which handshook with `auth`, passes `channel`'s readers
/// policy.
pub fn check_state_access(
    mcs: &dyn MessageCryptoService,
    channel: &str,
    identity: &[u8],
    auth: &AuthInfo,
) -> Result<(), CryptoError> {
    mcs.verify_by_channel(channel, identity, &auth.signature, &auth.signed_data)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::crypto::ed25519::Ed25519Crypto;

    /// `peer`'s identity and the credential a handshake leaves, signed over `signed`.
    fn conn(peer: &Arc<Ed25519Crypto>, data: &[u8], signed: &[u8]) -> (Vec<u8>, AuthInfo) {
        let ctx = peer.context();
        let auth = AuthInfo {
            signed_data: data.to_vec(),
            signature: ctx.mcs.sign(signed).unwrap(),
        };
        (ctx.self_identity.clone(), auth)
    }

    fn access(
        me: &Arc<Ed25519Crypto>,
        channel: &str,
        (identity, auth): (Vec<u8>, AuthInfo),
    ) -> Result<(), CryptoError> {
        check_state_access(&**me, channel, &identity, &auth)
    }

    #[test]
    fn only_channel_members_with_a_valid_credential_pass() {
        let me = Ed25519Crypto::new("Org1MSP".into(), [1; 32], vec!["Org2MSP".into()]);
        me.set_channel_orgs("ch", vec!["Org1MSP".into()]);
        let member = Ed25519Crypto::new("Org1MSP".into(), [2; 32], vec![]);
        let outsider = Ed25519Crypto::new("Org2MSP".into(), [3; 32], vec!["Org1MSP".into()]);
        let data = b"conn establish payload";
        assert_eq!(access(&me, "ch", conn(&member, data, data)), Ok(()));
        // An org trusted for membership but not on the channel.
        assert!(access(&me, "ch", conn(&outsider, data, data)).is_err());
        // A credential whose signature does not cover the signed data.
        assert!(access(&me, "ch", conn(&member, data, b"other")).is_err());
        // A channel this peer does not know.
        assert!(access(&me, "other", conn(&member, data, data)).is_err());
    }
}
