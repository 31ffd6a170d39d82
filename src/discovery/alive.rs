//! The alive message: its timestamp order, reading a received one, and building the own one.

use prost::Message;

use super::error::AliveError;
use super::signer::Signer;
use crate::crypto::CryptoError;
use crate::proto::gossip::{
    gossip_message, secret, AliveMessage, Envelope, GossipMessage, Member,
    PeerTime as WirePeerTime, Secret, SecretEnvelope,
};
use crate::types::{OrgId, PkiId};

/// `PeerTime{inc_num, seq_num}`: inc_num = the peer's start time in ns, seq_num a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PeerTime {
    pub inc_num: u64,
    pub seq_num: u64,
}

impl PeerTime {
    /// Fabric's rule: a larger inc_num wins; with the same inc_num a larger seq_num wins;
    /// equal timestamps are duplicates (not newer).
    pub fn is_newer_than(&self, other: &PeerTime) -> bool {
        self.inc_num > other.inc_num
            || (self.inc_num == other.inc_num && self.seq_num > other.seq_num)
    }
}

/// An alive message whose signatures (payload and secret envelope) the driver already checked.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedAlive {
    /// The envelope as received: original payload bytes, with its secret envelope if any.
    pub envelope: Envelope,
    pub pki_id: PkiId,
    /// Organization of `pki_id`; empty when unknown (such an alive is never disclosed).
    pub org: OrgId,
    /// `Member.endpoint`: the external endpoint, empty when the peer has none.
    pub endpoint: String,
    /// From the secret envelope; `None` when it was stripped or empty.
    pub internal_endpoint: Option<String>,
    pub timestamp: PeerTime,
    /// Present during the originator's first `publishCertPeriod`.
    pub identity: Option<Vec<u8>>,
    pub metadata: Vec<u8>,
}

impl VerifiedAlive {
    /// Reads an alive envelope. Call it only after verifying the signatures; `org` is the
    /// organization the security advisor gives for the PKI-ID's identity.
    pub fn new(envelope: Envelope, org: OrgId) -> Result<Self, AliveError> {
        let f = decode_alive(&envelope)?;
        Ok(VerifiedAlive {
            envelope,
            pki_id: f.pki_id,
            org,
            endpoint: f.endpoint,
            internal_endpoint: f.internal_endpoint,
            timestamp: f.timestamp,
            identity: f.identity,
            metadata: f.metadata,
        })
    }
}

/// The fields of an alive envelope, read without checking any signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliveFields {
    pub pki_id: PkiId,
    pub endpoint: String,
    pub internal_endpoint: Option<String>,
    pub timestamp: PeerTime,
    pub identity: Option<Vec<u8>>,
    pub metadata: Vec<u8>,
}

/// Decodes `envelope.payload` as a GossipMessage carrying an alive message, and the secret
/// envelope (if any) as a `Secret{internalEndpoint}`. The outer tag is not checked here:
/// Fabric checks it on the outer message only, not on alives nested in membership messages.
pub fn decode_alive(envelope: &Envelope) -> Result<AliveFields, AliveError> {
    let msg = GossipMessage::decode(envelope.payload.clone())
        .map_err(|e| AliveError::Decode(e.to_string()))?;
    let alive = match msg.content {
        Some(gossip_message::Content::AliveMsg(a)) => a,
        _ => return Err(AliveError::NotAlive),
    };
    let member = alive.membership.ok_or(AliveError::NoMembership)?;
    if member.pki_id.is_empty() {
        return Err(AliveError::EmptyPkiId);
    }
    let ts = alive.timestamp.ok_or(AliveError::NoTimestamp)?;
    let internal_endpoint = match &envelope.secret_envelope {
        Some(se) => internal_endpoint_of(se)?,
        None => None,
    };
    Ok(AliveFields {
        pki_id: PkiId(member.pki_id),
        endpoint: member.endpoint,
        internal_endpoint,
        timestamp: PeerTime {
            inc_num: ts.inc_num,
            seq_num: ts.seq_num,
        },
        identity: if alive.identity.is_empty() {
            None
        } else {
            Some(alive.identity)
        },
        metadata: member.metadata,
    })
}

/// The internal endpoint carried by a secret envelope; `None` when empty.
pub fn internal_endpoint_of(se: &SecretEnvelope) -> Result<Option<String>, AliveError> {
    let s =
        Secret::decode(se.payload.as_slice()).map_err(|e| AliveError::BadSecret(e.to_string()))?;
    Ok(match s.content {
        Some(secret::Content::InternalEndpoint(ep)) if !ep.is_empty() => Some(ep),
        _ => None,
    })
}

/// A copy of `envelope` without its secret envelope, for peers of other organizations.
pub fn without_secret(envelope: &Envelope) -> Envelope {
    Envelope {
        payload: envelope.payload.clone(),
        signature: envelope.signature.clone(),
        secret_envelope: None,
    }
}

/// What goes into the own alive message.
pub(crate) struct SelfAliveParts<'a> {
    pub pki_id: &'a PkiId,
    pub endpoint: &'a str,
    pub metadata: &'a [u8],
    pub timestamp: PeerTime,
    /// `Some` during `publishCertPeriod`.
    pub identity: Option<&'a [u8]>,
}

/// Builds and signs the own alive: `GossipMessage{tag EMPTY, nonce 0, alive_msg}`, the
/// signature over the encoded payload, and `secret` (already signed) attached.
pub(crate) fn sign_self_alive(
    parts: &SelfAliveParts<'_>,
    secret: Option<&SecretEnvelope>,
    signer: &dyn Signer,
) -> Result<Envelope, CryptoError> {
    let msg = GossipMessage {
        nonce: 0,
        channel: Vec::new(),
        tag: gossip_message::Tag::Empty as i32,
        content: Some(gossip_message::Content::AliveMsg(AliveMessage {
            membership: Some(Member {
                endpoint: parts.endpoint.to_string(),
                metadata: parts.metadata.to_vec(),
                pki_id: parts.pki_id.0.clone(),
            }),
            timestamp: Some(WirePeerTime {
                inc_num: parts.timestamp.inc_num,
                seq_num: parts.timestamp.seq_num,
            }),
            identity: parts.identity.map(|i| i.to_vec()).unwrap_or_default(),
        })),
    };
    let payload = msg.encode_to_vec();
    let signature = signer.sign(&payload)?;
    Ok(Envelope {
        payload: payload.into(),
        signature,
        secret_envelope: secret.cloned(),
    })
}

/// Signs `Secret{internalEndpoint}`; done once, since the internal endpoint never changes.
pub(crate) fn sign_secret(
    internal_endpoint: &str,
    signer: &dyn Signer,
) -> Result<SecretEnvelope, CryptoError> {
    let payload = Secret {
        content: Some(secret::Content::InternalEndpoint(
            internal_endpoint.to_string(),
        )),
    }
    .encode_to_vec();
    let signature = signer.sign(&payload)?;
    Ok(SecretEnvelope { payload, signature })
}
