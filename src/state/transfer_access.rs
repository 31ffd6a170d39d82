//! Who may ask us for blocks and send us blocks by state transfer: Fabric checks the
//! sender's handshake credential (its signed `ConnEstablish`) with `VerifyByChannel`, the
//! channel's readers policy, on every state request and response.

use crate::comm::ConnectionInfo;
use crate::crypto::{CryptoError, MessageCryptoService};

/// Whether the peer behind `conn` passes `channel`'s readers policy.
pub fn check_state_access(
    mcs: &dyn MessageCryptoService,
    channel: &str,
    conn: &ConnectionInfo,
) -> Result<(), CryptoError> {
    mcs.verify_by_channel(
        channel,
        &conn.identity,
        &conn.auth.signature,
        &conn.auth.signed_data,
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::comm::AuthInfo;
    use crate::crypto::ed25519::Ed25519Crypto;

    /// `peer`'s connection as a handshake leaves it, its credential signed over `signed`.
    fn conn(peer: &Arc<Ed25519Crypto>, data: &[u8], signed: &[u8]) -> ConnectionInfo {
        let ctx = peer.context();
        ConnectionInfo {
            pki_id: ctx.self_pki_id.clone(),
            identity: ctx.self_identity.clone(),
            endpoint: "127.0.0.1:7051".into(),
            auth: AuthInfo {
                signed_data: data.to_vec(),
                signature: ctx.mcs.sign(signed).unwrap(),
            },
        }
    }

    #[test]
    fn only_channel_members_with_a_valid_credential_pass() {
        let me = Ed25519Crypto::new("Org1MSP".into(), [1; 32], vec!["Org2MSP".into()]);
        me.set_channel_orgs("ch", vec!["Org1MSP".into()]);
        let member = Ed25519Crypto::new("Org1MSP".into(), [2; 32], vec![]);
        let outsider = Ed25519Crypto::new("Org2MSP".into(), [3; 32], vec!["Org1MSP".into()]);
        let data = b"conn establish payload";
        assert_eq!(
            check_state_access(&*me, "ch", &conn(&member, data, data)),
            Ok(())
        );
        // An org trusted for membership but not on the channel.
        assert!(check_state_access(&*me, "ch", &conn(&outsider, data, data)).is_err());
        // A credential whose signature does not cover the signed data.
        assert!(check_state_access(&*me, "ch", &conn(&member, data, b"other")).is_err());
        // A channel this peer does not know.
        assert!(check_state_access(&*me, "other", &conn(&member, data, data)).is_err());
    }
}
