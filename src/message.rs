//! Signed gossip messages: a `GossipMessage` together with the `Envelope` it travels in.
//!
//! The payload is encoded once and those exact bytes are signed; forwarding re-sends the
//! original envelope, never a re-encoding. prost writes fields in field-number order, as Go's
//! deterministic marshaling does, so our encodings equal Fabric's (see `tests/wire_vectors.rs`).
//!
//! Also here: the secret envelope carrying an alive's internal endpoint, Fabric's tag rules
//! (`IsTagLegal`), the channel MAC, and small constructors.

use prost::Message;
use sha2::{Digest, Sha256};

use crate::crypto::CryptoError;
/// The gossip `Payload` (a block and its private data), named apart from `common.Payload`.
pub use crate::proto::gossip::Payload as GossipPayload;
use crate::proto::gossip::{
    secret, Acknowledgement, AliveMessage, ConnEstablish, DataDigest, DataMessage, DataRequest,
    DataUpdate, Envelope, GossipHello, GossipMessage, LeadershipMessage, Member, MembershipRequest,
    MembershipResponse, PeerIdentity, PeerTime, Properties, PullMsgType, RemoteStateRequest,
    RemoteStateResponse, Secret, SecretEnvelope, StateInfo, StateInfoPullRequest,
    StateInfoSnapshot,
};
use crate::types::PkiId;

pub use crate::proto::gossip::gossip_message::{Content, Tag};

/// Why an envelope was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("envelope payload is not a GossipMessage: {0}")]
    Undecodable(String),
    #[error("envelope has an empty payload")]
    EmptyPayload,
    #[error("envelope has an empty signature")]
    EmptySignature,
    #[error("secret envelope has an empty payload or signature")]
    EmptySecret,
    #[error("signature check failed: {0}")]
    Signature(CryptoError),
}

/// A decoded `GossipMessage` and the envelope it came in (or was signed into).
#[derive(Clone, Debug, PartialEq)]
pub struct SignedGossipMessage {
    pub envelope: Envelope,
    pub msg: GossipMessage,
}

/// Encodes `msg` once and signs exactly those bytes.
pub fn sign_envelope(
    msg: &GossipMessage,
    signer: impl FnOnce(&[u8]) -> Result<Vec<u8>, CryptoError>,
) -> Result<Envelope, CryptoError> {
    let payload = msg.encode_to_vec();
    let signature = signer(&payload)?;
    Ok(Envelope {
        payload: payload.into(),
        signature,
        secret_envelope: None,
    })
}

impl SignedGossipMessage {
    /// Signs `msg` with `signer` (for example `|p| mcs.sign(p)`).
    pub fn sign(
        msg: GossipMessage,
        signer: impl FnOnce(&[u8]) -> Result<Vec<u8>, CryptoError>,
    ) -> Result<Self, CryptoError> {
        let envelope = sign_envelope(&msg, signer)?;
        Ok(SignedGossipMessage { envelope, msg })
    }

    /// An unsigned envelope, for the kinds Fabric sends unsigned (data, pull, responses, acks).
    pub fn unsigned(msg: GossipMessage) -> Self {
        let envelope = Envelope {
            payload: msg.encode_to_vec().into(),
            signature: Vec::new(),
            secret_envelope: None,
        };
        SignedGossipMessage { envelope, msg }
    }

    /// Decodes the envelope's payload. The envelope is kept untouched for forwarding.
    pub fn from_envelope(envelope: Envelope) -> Result<Self, MessageError> {
        let msg = GossipMessage::decode(envelope.payload.clone())
            .map_err(|e| MessageError::Undecodable(e.to_string()))?;
        Ok(SignedGossipMessage { envelope, msg })
    }

    /// Decodes an `Envelope` and then its payload.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MessageError> {
        let env = Envelope::decode(bytes)
            .map_err(|e| MessageError::Undecodable(format!("not an Envelope: {e}")))?;
        Self::from_envelope(env)
    }

    /// Whether the envelope carries a signature at all.
    pub fn is_signed(&self) -> bool {
        !self.envelope.payload.is_empty() && !self.envelope.signature.is_empty()
    }

    /// Checks the payload signature and, when present, the secret envelope's signature, with
    /// `verifier(signed_bytes, signature)` (typically `mcs.verify(identity, sig, bytes)`).
    pub fn verify(
        &self,
        verifier: impl Fn(&[u8], &[u8]) -> Result<(), CryptoError>,
    ) -> Result<(), MessageError> {
        if self.envelope.payload.is_empty() {
            return Err(MessageError::EmptyPayload);
        }
        if self.envelope.signature.is_empty() {
            return Err(MessageError::EmptySignature);
        }
        verifier(&self.envelope.payload, &self.envelope.signature)
            .map_err(MessageError::Signature)?;
        if let Some(secret) = &self.envelope.secret_envelope {
            if secret.payload.is_empty() || secret.signature.is_empty() {
                return Err(MessageError::EmptySecret);
            }
            verifier(&secret.payload, &secret.signature).map_err(MessageError::Signature)?;
        }
        Ok(())
    }

    /// The internal endpoint carried in the secret envelope, if any.
    pub fn internal_endpoint(&self) -> Option<String> {
        internal_endpoint(&self.envelope)
    }

    pub fn tag(&self) -> Tag {
        tag_of(&self.msg)
    }

    /// The encoded envelope, as sent on the stream.
    pub fn envelope_bytes(&self) -> Vec<u8> {
        self.envelope.encode_to_vec()
    }
}

/// Attaches a signed `Secret{internalEndpoint}` to `env` (alive messages).
pub fn sign_secret_internal_endpoint(
    env: &mut Envelope,
    internal_endpoint: &str,
    signer: impl FnOnce(&[u8]) -> Result<Vec<u8>, CryptoError>,
) -> Result<(), CryptoError> {
    let payload = Secret {
        content: Some(secret::Content::InternalEndpoint(
            internal_endpoint.to_string(),
        )),
    }
    .encode_to_vec();
    let signature = signer(&payload)?;
    env.secret_envelope = Some(SecretEnvelope { payload, signature });
    Ok(())
}

/// The internal endpoint in `env`'s secret envelope; `None` when absent, empty or undecodable.
/// The caller checks the secret's signature (see [`SignedGossipMessage::verify`]).
pub fn internal_endpoint(env: &Envelope) -> Option<String> {
    let secret = Secret::decode(env.secret_envelope.as_ref()?.payload.as_slice()).ok()?;
    match secret.content? {
        secret::Content::InternalEndpoint(ep) if !ep.is_empty() => Some(ep),
        _ => None,
    }
}

/// The envelope without its secret, as sent to peers of other orgs.
pub fn strip_secret(mut env: Envelope) -> Envelope {
    env.secret_envelope = None;
    env
}

/// channel_MAC = SHA-256(pki_id ‖ channel): how StateInfo names a channel without saying it.
pub fn channel_mac(pki_id: &PkiId, channel: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(pki_id.as_bytes());
    h.update(channel);
    h.finalize().to_vec()
}

/// A message's tag; unknown numbers read as `Undefined`.
pub fn tag_of(msg: &GossipMessage) -> Tag {
    Tag::try_from(msg.tag).unwrap_or(Tag::Undefined)
}

/// Whether the message may only travel inside its channel.
pub fn is_channel_restricted(msg: &GossipMessage) -> bool {
    matches!(
        tag_of(msg),
        Tag::ChanAndOrg | Tag::ChanOnly | Tag::ChanOrOrg
    )
}

/// Whether the message may only travel inside the organization.
pub fn is_org_restricted(msg: &GossipMessage) -> bool {
    matches!(tag_of(msg), Tag::ChanAndOrg | Tag::OrgOnly)
}

/// The pull phase's message type (blocks or identities); `Undefined` for non-pull messages.
pub fn pull_msg_type(msg: &GossipMessage) -> PullMsgType {
    PullMsgType::try_from(raw_pull_msg_type(msg)).unwrap_or(PullMsgType::Undefined)
}

fn raw_pull_msg_type(msg: &GossipMessage) -> i32 {
    match &msg.content {
        Some(Content::Hello(m)) => m.msg_type,
        Some(Content::DataDig(m)) => m.msg_type,
        Some(Content::DataReq(m)) => m.msg_type,
        Some(Content::DataUpdate(m)) => m.msg_type,
        _ => 0,
    }
}

pub fn is_pull_msg(msg: &GossipMessage) -> bool {
    matches!(
        msg.content,
        Some(
            Content::Hello(_) | Content::DataDig(_) | Content::DataReq(_) | Content::DataUpdate(_)
        )
    )
}

/// A short name of the content kind, for logs and counters.
pub fn kind_name(msg: &GossipMessage) -> &'static str {
    match &msg.content {
        None => "none",
        Some(c) => match c {
            Content::AliveMsg(_) => "alive",
            Content::MemReq(_) => "mem_req",
            Content::MemRes(_) => "mem_res",
            Content::DataMsg(_) => "data",
            Content::Hello(_) => "hello",
            Content::DataDig(_) => "data_dig",
            Content::DataReq(_) => "data_req",
            Content::DataUpdate(_) => "data_update",
            Content::Empty(_) => "empty",
            Content::Conn(_) => "conn",
            Content::StateInfo(_) => "state_info",
            Content::StateSnapshot(_) => "state_snapshot",
            Content::StateInfoPullReq(_) => "state_info_pull_req",
            Content::StateRequest(_) => "state_request",
            Content::StateResponse(_) => "state_response",
            Content::LeadershipMsg(_) => "leadership",
            Content::PeerIdentity(_) => "peer_identity",
            Content::Ack(_) => "ack",
            Content::PrivateReq(_) => "private_req",
            Content::PrivateRes(_) => "private_res",
            Content::PrivateData(_) => "private_data",
        },
    }
}

/// Why a message's tag does not fit its content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("undefined tag")]
    Undefined,
    #[error("unknown tag value {0}")]
    UnknownTag(i32),
    #[error("{kind} must be tagged {expected:?}, got {got:?}")]
    Wrong {
        kind: &'static str,
        expected: Tag,
        got: Tag,
    },
    #[error("pull message with invalid PullMsgType {0}")]
    InvalidPullMsgType(i32),
    #[error("message kind {0} has no tag rule")]
    UnknownType(&'static str),
}

/// Fabric's `IsTagLegal`: the tag each content kind must carry (reference §4.3).
/// Private data kinds, which Fabric routes before this check, are held to CHAN_ONLY (the tag
/// Fabric sends them with); conn, empty and ack have no rule and are refused.
pub fn is_tag_legal(msg: &GossipMessage) -> Result<(), TagError> {
    let got = Tag::try_from(msg.tag).map_err(|_| TagError::UnknownTag(msg.tag))?;
    if got == Tag::Undefined {
        return Err(TagError::Undefined);
    }
    let kind = kind_name(msg);
    let expected = match &msg.content {
        Some(Content::DataMsg(_)) | Some(Content::LeadershipMsg(_)) => Tag::ChanAndOrg,
        Some(Content::AliveMsg(_)) | Some(Content::MemReq(_)) | Some(Content::MemRes(_)) => {
            Tag::Empty
        }
        Some(Content::PeerIdentity(_)) => Tag::OrgOnly,
        Some(
            Content::Hello(_) | Content::DataDig(_) | Content::DataReq(_) | Content::DataUpdate(_),
        ) => match pull_msg_type(msg) {
            PullMsgType::BlockMsg => Tag::ChanAndOrg,
            PullMsgType::IdentityMsg => Tag::Empty,
            PullMsgType::Undefined => {
                return Err(TagError::InvalidPullMsgType(raw_pull_msg_type(msg)))
            }
        },
        Some(
            Content::StateInfo(_)
            | Content::StateInfoPullReq(_)
            | Content::StateSnapshot(_)
            | Content::StateRequest(_)
            | Content::StateResponse(_),
        ) => Tag::ChanOrOrg,
        Some(Content::PrivateReq(_) | Content::PrivateRes(_) | Content::PrivateData(_)) => {
            Tag::ChanOnly
        }
        Some(Content::Conn(_) | Content::Empty(_) | Content::Ack(_)) | None => {
            return Err(TagError::UnknownType(kind))
        }
    };
    if got != expected {
        return Err(TagError::Wrong {
            kind,
            expected,
            got,
        });
    }
    Ok(())
}

/// A message with the given header fields and content.
pub fn new_msg(tag: Tag, channel: &[u8], nonce: u64, content: Content) -> GossipMessage {
    GossipMessage {
        nonce,
        channel: channel.to_vec(),
        tag: tag as i32,
        content: Some(content),
    }
}

/// `GossipMessage{tag EMPTY, empty{}}`.
pub fn empty_msg() -> GossipMessage {
    new_msg(
        Tag::Empty,
        &[],
        0,
        Content::Empty(crate::proto::gossip::Empty {}),
    )
}

/// The handshake message: `{tag EMPTY, nonce 0, conn{pki_id, identity, tls_cert_hash, probe}}`.
pub fn conn_msg(
    pki_id: &PkiId,
    identity: &[u8],
    tls_cert_hash: &[u8],
    probe: bool,
) -> GossipMessage {
    new_msg(
        Tag::Empty,
        &[],
        0,
        Content::Conn(ConnEstablish {
            pki_id: pki_id.0.clone(),
            identity: identity.to_vec(),
            tls_cert_hash: tls_cert_hash.to_vec(),
            probe,
        }),
    )
}

/// An alive message (tag EMPTY). `identity` is sent only during the first publishCertPeriod.
pub fn alive_msg(
    endpoint: &str,
    metadata: &[u8],
    pki_id: &PkiId,
    timestamp: PeerTime,
    identity: Option<&[u8]>,
) -> GossipMessage {
    new_msg(
        Tag::Empty,
        &[],
        0,
        Content::AliveMsg(AliveMessage {
            membership: Some(Member {
                endpoint: endpoint.to_string(),
                metadata: metadata.to_vec(),
                pki_id: pki_id.0.clone(),
            }),
            timestamp: Some(timestamp),
            identity: identity.unwrap_or_default().to_vec(),
        }),
    )
}

/// A membership request carrying the requester's signed alive envelope (tag EMPTY).
pub fn mem_req_msg(nonce: u64, self_alive: Envelope) -> GossipMessage {
    new_msg(
        Tag::Empty,
        &[],
        nonce,
        Content::MemReq(MembershipRequest {
            self_information: Some(self_alive),
            known: Vec::new(),
        }),
    )
}

/// A membership response echoing the request's nonce (tag EMPTY).
pub fn mem_res_msg(nonce: u64, alive: Vec<Envelope>, dead: Vec<Envelope>) -> GossipMessage {
    new_msg(
        Tag::Empty,
        &[],
        nonce,
        Content::MemRes(MembershipResponse { alive, dead }),
    )
}

/// A block for `channel` (tag CHAN_AND_ORG); `block` is a marshaled `common.Block`.
pub fn data_msg(channel: &[u8], seq_num: u64, block: impl Into<bytes::Bytes>) -> GossipMessage {
    new_msg(
        Tag::ChanAndOrg,
        channel,
        0,
        Content::DataMsg(DataMessage {
            payload: Some(GossipPayload {
                seq_num,
                data: block.into(),
                private_data: Vec::new(),
            }),
        }),
    )
}

/// The tag a pull message of `msg_type` carries: CHAN_AND_ORG for blocks, EMPTY for identities.
pub fn pull_tag(msg_type: PullMsgType) -> Tag {
    match msg_type {
        PullMsgType::IdentityMsg => Tag::Empty,
        _ => Tag::ChanAndOrg,
    }
}

/// Pull hello; `channel` is empty for identity pull.
pub fn hello_msg(channel: &[u8], nonce: u64, msg_type: PullMsgType) -> GossipMessage {
    let hello = GossipHello {
        nonce,
        metadata: Vec::new(),
        msg_type: msg_type as i32,
    };
    new_msg(pull_tag(msg_type), channel, 0, Content::Hello(hello))
}

/// Pull digest: decimal sequence numbers for blocks, raw PKI-IDs for identities.
pub fn data_dig_msg(
    channel: &[u8],
    nonce: u64,
    msg_type: PullMsgType,
    digests: Vec<Vec<u8>>,
) -> GossipMessage {
    let dig = DataDigest {
        nonce,
        digests,
        msg_type: msg_type as i32,
    };
    new_msg(pull_tag(msg_type), channel, 0, Content::DataDig(dig))
}

/// Pull request for the listed digests.
pub fn data_req_msg(
    channel: &[u8],
    nonce: u64,
    msg_type: PullMsgType,
    digests: Vec<Vec<u8>>,
) -> GossipMessage {
    let req = DataRequest {
        nonce,
        digests,
        msg_type: msg_type as i32,
    };
    new_msg(pull_tag(msg_type), channel, 0, Content::DataReq(req))
}

/// Pull update with the stored envelopes (original bytes).
pub fn data_update_msg(
    channel: &[u8],
    nonce: u64,
    msg_type: PullMsgType,
    data: Vec<Envelope>,
) -> GossipMessage {
    let upd = DataUpdate {
        nonce,
        data,
        msg_type: msg_type as i32,
    };
    new_msg(pull_tag(msg_type), channel, 0, Content::DataUpdate(upd))
}

/// A StateInfo for `channel`: the channel field stays empty, the MAC names the channel
/// (tag CHAN_OR_ORG).
pub fn state_info_msg(
    pki_id: &PkiId,
    channel: &[u8],
    timestamp: PeerTime,
    properties: Properties,
) -> GossipMessage {
    new_msg(
        Tag::ChanOrOrg,
        &[],
        0,
        Content::StateInfo(StateInfo {
            timestamp: Some(timestamp),
            pki_id: pki_id.0.clone(),
            channel_mac: channel_mac(pki_id, channel),
            properties: Some(properties),
        }),
    )
}

/// A request for the StateInfo snapshot of the channel named by our MAC (tag CHAN_OR_ORG).
pub fn state_info_pull_req_msg(channel_mac: Vec<u8>) -> GossipMessage {
    new_msg(
        Tag::ChanOrOrg,
        &[],
        0,
        Content::StateInfoPullReq(StateInfoPullRequest { channel_mac }),
    )
}

/// The cached StateInfo envelopes of `channel` (tag CHAN_OR_ORG).
pub fn state_snapshot_msg(channel: &[u8], elements: Vec<Envelope>) -> GossipMessage {
    new_msg(
        Tag::ChanOrOrg,
        channel,
        0,
        Content::StateSnapshot(StateInfoSnapshot { elements }),
    )
}

/// Anti-entropy request for blocks `start..=end` (tag CHAN_OR_ORG).
pub fn state_request_msg(
    channel: &[u8],
    nonce: u64,
    start_seq_num: u64,
    end_seq_num: u64,
) -> GossipMessage {
    let req = RemoteStateRequest {
        start_seq_num,
        end_seq_num,
    };
    new_msg(Tag::ChanOrOrg, channel, nonce, Content::StateRequest(req))
}

/// Anti-entropy response echoing the request's nonce (tag CHAN_OR_ORG).
pub fn state_response_msg(
    channel: &[u8],
    nonce: u64,
    payloads: Vec<GossipPayload>,
) -> GossipMessage {
    new_msg(
        Tag::ChanOrOrg,
        channel,
        nonce,
        Content::StateResponse(RemoteStateResponse { payloads }),
    )
}

/// A leadership proposal or declaration (tag CHAN_AND_ORG).
pub fn leadership_msg(
    channel: &[u8],
    pki_id: &PkiId,
    timestamp: PeerTime,
    is_declaration: bool,
) -> GossipMessage {
    let l = LeadershipMessage {
        pki_id: pki_id.0.clone(),
        timestamp: Some(timestamp),
        is_declaration,
    };
    new_msg(Tag::ChanAndOrg, channel, 0, Content::LeadershipMsg(l))
}

/// A peer identity as Fabric builds it for the identity pull (tag EMPTY).
pub fn peer_identity_msg(pki_id: &PkiId, identity: &[u8]) -> GossipMessage {
    let p = PeerIdentity {
        pki_id: pki_id.0.clone(),
        cert: identity.to_vec(),
        metadata: Vec::new(),
    };
    new_msg(Tag::Empty, &[], 0, Content::PeerIdentity(p))
}

/// The reply to a message sent with an ack request: same nonce, tag UNDEFINED, error text
/// empty on success.
pub fn ack_msg(nonce: u64, error: Option<&str>) -> GossipMessage {
    GossipMessage {
        nonce,
        channel: Vec::new(),
        tag: Tag::Undefined as i32,
        content: Some(Content::Ack(Acknowledgement {
            error: error.unwrap_or_default().to_string(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::gossip::*;

    fn alive() -> GossipMessage {
        new_msg(
            Tag::Empty,
            &[],
            0,
            Content::AliveMsg(AliveMessage {
                membership: Some(Member {
                    endpoint: "p:1".into(),
                    metadata: vec![],
                    pki_id: vec![1; 32],
                }),
                timestamp: Some(PeerTime {
                    inc_num: 10,
                    seq_num: 2,
                }),
                identity: vec![],
            }),
        )
    }

    fn toy_sign(p: &[u8]) -> Result<Vec<u8>, CryptoError> {
        Ok(Sha256::digest(p).to_vec())
    }

    fn toy_verify(p: &[u8], s: &[u8]) -> Result<(), CryptoError> {
        if Sha256::digest(p).as_slice() == s {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    #[test]
    fn sign_verify_round_trip_with_secret() {
        let mut sm = SignedGossipMessage::sign(alive(), toy_sign).unwrap();
        sign_secret_internal_endpoint(&mut sm.envelope, "10.0.0.1:7051", toy_sign).unwrap();
        sm.verify(toy_verify).unwrap();
        assert!(sm.is_signed());
        assert_eq!(sm.internal_endpoint().as_deref(), Some("10.0.0.1:7051"));

        let back = SignedGossipMessage::from_bytes(&sm.envelope_bytes()).unwrap();
        assert_eq!(back, sm);
        back.verify(toy_verify).unwrap();

        let stripped = strip_secret(sm.envelope.clone());
        assert_eq!(internal_endpoint(&stripped), None);
        assert_eq!(stripped.payload, sm.envelope.payload);
        SignedGossipMessage::from_envelope(stripped)
            .unwrap()
            .verify(toy_verify)
            .unwrap();
    }

    #[test]
    fn tampering_is_detected() {
        let mut sm = SignedGossipMessage::sign(alive(), toy_sign).unwrap();
        sign_secret_internal_endpoint(&mut sm.envelope, "10.0.0.1:7051", toy_sign).unwrap();

        let mut t = sm.clone();
        let mut payload = t.envelope.payload.to_vec();
        payload[4] ^= 1;
        t.envelope.payload = payload.into();
        assert_eq!(
            t.verify(toy_verify),
            Err(MessageError::Signature(CryptoError::BadSignature))
        );

        let mut t = sm.clone();
        t.envelope
            .secret_envelope
            .as_mut()
            .unwrap()
            .payload
            .push(b'0');
        assert_eq!(
            t.verify(toy_verify),
            Err(MessageError::Signature(CryptoError::BadSignature))
        );

        let mut t = sm.clone();
        t.envelope
            .secret_envelope
            .as_mut()
            .unwrap()
            .signature
            .clear();
        assert_eq!(t.verify(toy_verify), Err(MessageError::EmptySecret));

        let mut t = sm.clone();
        t.envelope.signature.clear();
        assert_eq!(t.verify(toy_verify), Err(MessageError::EmptySignature));
        assert!(!t.is_signed());

        let u = SignedGossipMessage::unsigned(empty_msg());
        assert_eq!(u.verify(toy_verify), Err(MessageError::EmptySignature));
        let mut e = u.clone();
        e.envelope.payload.clear();
        assert_eq!(e.verify(toy_verify), Err(MessageError::EmptyPayload));
    }

    #[test]
    fn garbage_is_refused_not_panicking() {
        let env = Envelope {
            payload: vec![0xff, 0xff, 0xff].into(),
            signature: vec![],
            secret_envelope: None,
        };
        assert!(matches!(
            SignedGossipMessage::from_envelope(env),
            Err(MessageError::Undecodable(_))
        ));
        assert!(matches!(
            SignedGossipMessage::from_bytes(&[0x0a, 0x05, 1]),
            Err(MessageError::Undecodable(_))
        ));
        let bad_secret = Envelope {
            payload: Default::default(),
            signature: vec![],
            secret_envelope: Some(SecretEnvelope {
                payload: vec![0xff],
                signature: vec![1],
            }),
        };
        assert_eq!(internal_endpoint(&bad_secret), None);
    }

    fn with(tag: Tag, content: Content) -> GossipMessage {
        new_msg(tag, b"ch", 0, content)
    }

    #[test]
    fn tag_legality_table() {
        use Tag::*;
        let block = PullMsgType::BlockMsg as i32;
        let ident = PullMsgType::IdentityMsg as i32;
        let hello = |t| {
            Content::Hello(GossipHello {
                nonce: 1,
                metadata: vec![],
                msg_type: t,
            })
        };
        let dig = |t| {
            Content::DataDig(DataDigest {
                nonce: 1,
                digests: vec![],
                msg_type: t,
            })
        };
        let req = |t| {
            Content::DataReq(DataRequest {
                nonce: 1,
                digests: vec![],
                msg_type: t,
            })
        };
        let upd = |t| {
            Content::DataUpdate(DataUpdate {
                nonce: 1,
                data: vec![],
                msg_type: t,
            })
        };
        let cases: Vec<(Content, Tag)> = vec![
            (Content::DataMsg(DataMessage::default()), ChanAndOrg),
            (Content::AliveMsg(AliveMessage::default()), Empty),
            (Content::MemReq(MembershipRequest::default()), Empty),
            (Content::MemRes(MembershipResponse::default()), Empty),
            (Content::PeerIdentity(PeerIdentity::default()), OrgOnly),
            (hello(block), ChanAndOrg),
            (dig(block), ChanAndOrg),
            (req(block), ChanAndOrg),
            (upd(block), ChanAndOrg),
            (hello(ident), Empty),
            (dig(ident), Empty),
            (req(ident), Empty),
            (upd(ident), Empty),
            (Content::StateInfo(StateInfo::default()), ChanOrOrg),
            (
                Content::StateInfoPullReq(StateInfoPullRequest::default()),
                ChanOrOrg,
            ),
            (
                Content::StateSnapshot(StateInfoSnapshot::default()),
                ChanOrOrg,
            ),
            (
                Content::StateRequest(RemoteStateRequest::default()),
                ChanOrOrg,
            ),
            (
                Content::StateResponse(RemoteStateResponse::default()),
                ChanOrOrg,
            ),
            (
                Content::LeadershipMsg(LeadershipMessage::default()),
                ChanAndOrg,
            ),
            (
                Content::PrivateReq(RemotePvtDataRequest::default()),
                ChanOnly,
            ),
            (
                Content::PrivateRes(RemotePvtDataResponse::default()),
                ChanOnly,
            ),
            (
                Content::PrivateData(PrivateDataMessage::default()),
                ChanOnly,
            ),
        ];
        let all = [Empty, OrgOnly, ChanOnly, ChanAndOrg, ChanOrOrg];
        for (content, legal) in cases {
            for t in all {
                let m = with(t, content.clone());
                let r = is_tag_legal(&m);
                if t == legal {
                    assert_eq!(r, Ok(()), "{} with {t:?}", kind_name(&m));
                } else {
                    assert!(
                        matches!(r, Err(TagError::Wrong { expected, got, .. }) if expected == legal && got == t),
                        "{} with {t:?}: {r:?}",
                        kind_name(&m)
                    );
                }
            }
            assert_eq!(
                is_tag_legal(&with(Undefined, content.clone())),
                Err(TagError::Undefined)
            );
            let mut odd = with(Empty, content);
            odd.tag = 42;
            assert_eq!(is_tag_legal(&odd), Err(TagError::UnknownTag(42)));
        }
        assert_eq!(
            is_tag_legal(&with(ChanAndOrg, hello(0))),
            Err(TagError::InvalidPullMsgType(0))
        );
        assert_eq!(
            is_tag_legal(&with(ChanAndOrg, dig(7))),
            Err(TagError::InvalidPullMsgType(7))
        );
        assert_eq!(
            is_tag_legal(&empty_msg()),
            Err(TagError::UnknownType("empty"))
        );
        assert_eq!(
            is_tag_legal(&with(Empty, Content::Conn(ConnEstablish::default()))),
            Err(TagError::UnknownType("conn"))
        );
        let mut none = empty_msg();
        none.content = None;
        assert_eq!(is_tag_legal(&none), Err(TagError::UnknownType("none")));
    }

    #[test]
    fn restriction_helpers() {
        use Tag::*;
        let cases = [
            (Undefined, false, false),
            (Empty, false, false),
            (OrgOnly, false, true),
            (ChanOnly, true, false),
            (ChanAndOrg, true, true),
            (ChanOrOrg, true, false),
        ];
        for (t, chan, org) in cases {
            let m = with(t, Content::Empty(crate::proto::gossip::Empty {}));
            assert_eq!(is_channel_restricted(&m), chan, "{t:?}");
            assert_eq!(is_org_restricted(&m), org, "{t:?}");
        }
        let a = ack_msg(77, Some("no space"));
        assert_eq!(
            a.encode_to_vec(),
            hex::decode("084db2010a0a086e6f207370616365").unwrap()
        );
        assert_eq!(
            empty_msg().encode_to_vec(),
            hex::decode("18016a00").unwrap()
        );
    }

    #[test]
    fn a_received_block_is_a_slice_of_the_received_bytes_not_a_copy() {
        let block = vec![7u8; 10_000];
        let sent = SignedGossipMessage::unsigned(data_msg(b"ch", 5, block.clone()));
        let wire = bytes::Bytes::from(sent.envelope.encode_to_vec());
        let received =
            SignedGossipMessage::from_envelope(Envelope::decode(wire.clone()).unwrap()).unwrap();
        let Some(Content::DataMsg(DataMessage { payload: Some(p) })) = &received.msg.content else {
            panic!("not a data message: {:?}", received.msg.content);
        };
        assert_eq!(&p.data[..], &block[..]);
        let inside = |outer: &bytes::Bytes, inner: &bytes::Bytes| {
            outer.as_ptr_range().contains(&inner.as_ptr())
        };
        assert!(
            inside(&wire, &received.envelope.payload),
            "payload copied out of the wire bytes"
        );
        assert!(
            inside(&received.envelope.payload, &p.data),
            "block copied out of the payload"
        );
        let kept = received.clone();
        assert!(
            inside(&received.envelope.payload, &kept.envelope.payload),
            "clone copied the payload"
        );
    }
}
