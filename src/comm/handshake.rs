//! The ConnEstablish exchange that authenticates a gossip stream (reference §4.1).
//!
//! Each side first sends its own signed ConnEstablish, then reads the other's. The checks on the
//! received one follow Fabric's order: the content is `conn`; the PKI-ID is present; the identity
//! is valid and hashes to that PKI-ID; with TLS on, `tls_cert_hash` is SHA-256 of the
//! certificate seen on this very connection; last, the envelope signature.

use prost::Message;

use super::metrics::HandshakeFailure;
use super::AuthInfo;
use crate::crypto::CryptoContext;
use crate::proto::gossip::{gossip_message, ConnEstablish, Envelope, GossipMessage};
use crate::types::PkiId;

/// A failed handshake: the reason (a counter) and a human-readable detail (the log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeError {
    pub reason: HandshakeFailure,
    pub detail: String,
}

impl HandshakeError {
    pub(crate) fn new(reason: HandshakeFailure, detail: impl Into<String>) -> Self {
        HandshakeError {
            reason,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// What a verified ConnEstablish established about the remote.
#[derive(Debug, Clone)]
pub(crate) struct RemoteIdentity {
    pub pki_id: PkiId,
    pub identity: Vec<u8>,
    pub probe: bool,
    pub auth: AuthInfo,
}

/// Builds this peer's signed ConnEstablish envelope.
/// `tls_cert_hash` is SHA-256 of our own TLS certificate, empty without TLS.
pub(crate) fn conn_establish(
    crypto: &CryptoContext,
    tls_cert_hash: Vec<u8>,
    probe: bool,
) -> Result<Envelope, crate::crypto::CryptoError> {
    let msg = GossipMessage {
        nonce: 0,
        channel: Vec::new(),
        tag: gossip_message::Tag::Empty as i32,
        content: Some(gossip_message::Content::Conn(ConnEstablish {
            pki_id: crypto.self_pki_id.0.clone(),
            identity: crypto.self_identity.clone(),
            tls_cert_hash,
            probe,
        })),
    };
    let payload = msg.encode_to_vec();
    let signature = crypto.mcs.sign(&payload)?;
    Ok(Envelope {
        payload,
        signature,
        secret_envelope: None,
    })
}

/// Checks a received ConnEstablish envelope.
///
/// `tls_on` says whether this peer runs TLS; `remote_cert` is the DER certificate the remote
/// presented on this connection (`None` when it presented none).
pub(crate) fn verify_conn_establish(
    crypto: &CryptoContext,
    env: &Envelope,
    tls_on: bool,
    remote_cert: Option<&[u8]>,
) -> Result<RemoteIdentity, HandshakeError> {
    use HandshakeFailure as F;
    let msg = GossipMessage::decode(env.payload.as_slice()).map_err(|e| {
        HandshakeError::new(
            F::BadMessage,
            format!("payload is not a GossipMessage: {e}"),
        )
    })?;
    let conn = match msg.content {
        Some(gossip_message::Content::Conn(c)) => c,
        other => {
            return Err(HandshakeError::new(
                F::BadMessage,
                format!(
                    "expected a ConnEstablish, got {}",
                    content_name(other.as_ref())
                ),
            ))
        }
    };
    if conn.pki_id.is_empty() {
        return Err(HandshakeError::new(
            F::MissingPkiId,
            "ConnEstablish without a PKI-ID",
        ));
    }
    crypto
        .mcs
        .validate_identity(&conn.identity)
        .map_err(|e| HandshakeError::new(F::InvalidIdentity, format!("identity refused: {e}")))?;
    let computed = crypto.mcs.pki_id_of(&conn.identity).map_err(|e| {
        HandshakeError::new(F::InvalidIdentity, format!("no PKI-ID for identity: {e}"))
    })?;
    if computed.0 != conn.pki_id {
        return Err(HandshakeError::new(
            F::PkiIdMismatch,
            format!(
                "claimed PKI-ID {} but the identity's is {}",
                hex::encode(&conn.pki_id),
                computed
            ),
        ));
    }
    if tls_on {
        let cert = remote_cert.ok_or_else(|| {
            HandshakeError::new(F::NoTlsCert, "remote presented no TLS certificate")
        })?;
        let seen = super::tls::cert_hash(cert);
        if seen != conn.tls_cert_hash {
            return Err(HandshakeError::new(
                F::CertHashMismatch,
                format!(
                    "TLS certificate hash {} does not match the ConnEstablish's {}",
                    hex::encode(&seen),
                    hex::encode(&conn.tls_cert_hash)
                ),
            ));
        }
    }
    crypto
        .mcs
        .verify(&conn.identity, &env.signature, &env.payload)
        .map_err(|e| {
            HandshakeError::new(F::BadSignature, format!("ConnEstablish signature: {e}"))
        })?;
    Ok(RemoteIdentity {
        pki_id: PkiId(conn.pki_id),
        identity: conn.identity,
        probe: conn.probe,
        auth: AuthInfo {
            signed_data: env.payload.clone(),
            signature: env.signature.clone(),
        },
    })
}

/// Name of a message's content kind, for logs.
pub(crate) fn content_name(c: Option<&gossip_message::Content>) -> &'static str {
    use gossip_message::Content as C;
    match c {
        None => "no content",
        Some(C::AliveMsg(_)) => "alive_msg",
        Some(C::MemReq(_)) => "mem_req",
        Some(C::MemRes(_)) => "mem_res",
        Some(C::DataMsg(_)) => "data_msg",
        Some(C::Hello(_)) => "hello",
        Some(C::DataDig(_)) => "data_dig",
        Some(C::DataReq(_)) => "data_req",
        Some(C::DataUpdate(_)) => "data_update",
        Some(C::Empty(_)) => "empty",
        Some(C::Conn(_)) => "conn",
        Some(C::StateInfo(_)) => "state_info",
        Some(C::StateSnapshot(_)) => "state_snapshot",
        Some(C::StateInfoPullReq(_)) => "state_info_pull_req",
        Some(C::StateRequest(_)) => "state_request",
        Some(C::StateResponse(_)) => "state_response",
        Some(C::LeadershipMsg(_)) => "leadership_msg",
        Some(C::PeerIdentity(_)) => "peer_identity",
        Some(C::Ack(_)) => "ack",
        Some(C::PrivateReq(_)) => "private_req",
        Some(C::PrivateRes(_)) => "private_res",
        Some(C::PrivateData(_)) => "private_data",
    }
}
