//! Checks a received alive message before membership sees it, as Fabric's `ValidateAliveMsg`
//! does: the identity comes from the message (during the sender's `publishCertPeriod`) or from
//! the identity mapper, the payload signature must verify with it, and the org comes from the
//! security advisor. The secret envelope (internal endpoint) is kept only when its own
//! signature verifies too.

use crate::crypto::CryptoContext;
use crate::discovery::{decode_alive, AliveFields, VerifiedAlive};
use crate::identity::IdentityMapper;
use crate::proto::gossip::Envelope;

/// Why an alive message was refused; each reason has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliveReject {
    /// Not an alive message, or a required field is missing.
    Malformed,
    /// The message carries an identity that is invalid or does not hash to its PKI-ID.
    BadIdentity,
    /// No identity in the message and none known for its PKI-ID.
    UnknownIdentity,
    BadSignature,
    /// The identity belongs to no organization.
    NoOrg,
    /// Membership holds this alive or a newer one (or knows the peer a dead report is about):
    /// dropped before its signature is checked, as Fabric checks its store before
    /// `ValidateAliveMsg`. Not an error: every forwarded alive arrives several times.
    Known,
}

impl AliveReject {
    pub fn as_str(self) -> &'static str {
        match self {
            AliveReject::Malformed => "malformed",
            AliveReject::BadIdentity => "bad_identity",
            AliveReject::UnknownIdentity => "unknown_identity",
            AliveReject::BadSignature => "bad_signature",
            AliveReject::NoOrg => "no_org",
            AliveReject::Known => "known",
        }
    }
}

/// Verifies `envelope` and returns it as a [`VerifiedAlive`], with the secret envelope
/// removed when its signature does not verify (`bad_secret` tells the caller to count it).
/// `is_news` sees the decoded fields first: an alive it calls old news is refused as
/// [`AliveReject::Known`] without a signature check, so replayed or forwarded copies cost
/// a decode, not a verification.
pub fn verify_alive(
    envelope: &Envelope,
    crypto: &CryptoContext,
    mapper: &IdentityMapper,
    is_news: impl FnOnce(&AliveFields) -> bool,
) -> Result<(VerifiedAlive, bool), AliveReject> {
    let fields = decode_alive(envelope).map_err(|_| AliveReject::Malformed)?;
    if fields.pki_id.is_empty() {
        return Err(AliveReject::Malformed);
    }
    if !is_news(&fields) {
        return Err(AliveReject::Known);
    }
    let identity = match &fields.identity {
        Some(identity) => {
            mapper
                .put(&fields.pki_id, identity)
                .map_err(|_| AliveReject::BadIdentity)?;
            identity.clone()
        }
        None => mapper
            .get(&fields.pki_id)
            .ok_or(AliveReject::UnknownIdentity)?,
    };
    crypto
        .mcs
        .verify(&identity, &envelope.signature, &envelope.payload)
        .map_err(|_| AliveReject::BadSignature)?;
    let org = crypto
        .advisor
        .org_by_peer_identity(&identity)
        .ok_or(AliveReject::NoOrg)?;

    let mut envelope = envelope.clone();
    let mut bad_secret = false;
    if let Some(secret) = &envelope.secret_envelope {
        if crypto
            .mcs
            .verify(&identity, &secret.signature, &secret.payload)
            .is_err()
        {
            envelope.secret_envelope = None;
            bad_secret = true;
        }
    }
    let alive = VerifiedAlive::new(envelope, org).map_err(|_| AliveReject::Malformed)?;
    Ok((alive, bad_secret))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::crypto::ed25519::Ed25519Crypto;
    use crate::crypto::MessageCryptoService;
    use crate::discovery::alive::{sign_self_alive, SelfAliveParts};
    use crate::discovery::PeerTime;

    const ORG: &str = "Org1MSP";

    /// A receiving peer, and an alive of another peer of its org carrying its identity.
    fn setup() -> (Arc<Ed25519Crypto>, CryptoContext, IdentityMapper, Envelope) {
        let local = Ed25519Crypto::new(ORG.into(), [1; 32], vec![ORG.into()]);
        let ctx = local.context();
        let mapper = IdentityMapper::new(ctx.mcs.clone(), &ctx.self_identity).unwrap();
        let remote = Ed25519Crypto::new(ORG.into(), [2; 32], vec![ORG.into()]);
        let remote_ctx = remote.context();
        let identity = remote.serialized_identity();
        let parts = SelfAliveParts {
            pki_id: &remote_ctx.self_pki_id,
            endpoint: "peer2:7051",
            metadata: b"",
            timestamp: PeerTime {
                inc_num: 100,
                seq_num: 7,
            },
            identity: Some(&identity),
        };
        let sign = |p: &[u8]| remote.sign(p);
        let env = sign_self_alive(&parts, None, &sign).unwrap();
        (local, ctx, mapper, env)
    }

    #[test]
    fn an_alive_that_is_old_news_is_refused_before_its_signature_is_checked() {
        let (local, ctx, mapper, mut env) = setup();
        let mut seen = None;
        let r = verify_alive(&env, &ctx, &mapper, |a| {
            seen = Some(a.timestamp);
            false
        });
        assert_eq!(r.unwrap_err(), AliveReject::Known);
        assert_eq!(
            seen.unwrap().seq_num,
            7,
            "the screen sees the decoded timestamp"
        );
        assert_eq!(local.counters().signatures_verified, 0);

        let (alive, bad_secret) = verify_alive(&env, &ctx, &mapper, |_| true).unwrap();
        assert!(!bad_secret);
        assert_eq!(
            (alive.endpoint.as_str(), alive.org.as_str()),
            ("peer2:7051", ORG)
        );
        assert_eq!(local.counters().signatures_verified, 1);

        // Passed by the screen, a forged copy is still refused.
        env.signature[0] ^= 1;
        let r = verify_alive(&env, &ctx, &mapper, |_| true);
        assert_eq!(r.unwrap_err(), AliveReject::BadSignature);
    }
}
