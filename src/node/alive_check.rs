//! Checks a received alive message before membership sees it, as Fabric's `ValidateAliveMsg`
//! does: the identity comes from the message (during the sender's `publishCertPeriod`) or from
//! the identity mapper, the payload signature must verify with it, and the org comes from the
//! security advisor. The secret envelope (internal endpoint) is kept only when its own
//! signature verifies too.

use crate::crypto::CryptoContext;
use crate::discovery::{decode_alive, VerifiedAlive};
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
}

impl AliveReject {
    pub fn as_str(self) -> &'static str {
        match self {
            AliveReject::Malformed => "malformed",
            AliveReject::BadIdentity => "bad_identity",
            AliveReject::UnknownIdentity => "unknown_identity",
            AliveReject::BadSignature => "bad_signature",
            AliveReject::NoOrg => "no_org",
        }
    }
}

/// Verifies `envelope` and returns it as a [`VerifiedAlive`], with the secret envelope
/// removed when its signature does not verify (`bad_secret` tells the caller to count it).
pub fn verify_alive(
    envelope: &Envelope,
    crypto: &CryptoContext,
    mapper: &IdentityMapper,
) -> Result<(VerifiedAlive, bool), AliveReject> {
    let fields = decode_alive(envelope).map_err(|_| AliveReject::Malformed)?;
    if fields.pki_id.is_empty() {
        return Err(AliveReject::Malformed);
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
