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
pub struct RemoteIdentity {
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
        payload: payload.into(),
        signature,
        secret_envelope: None,
    })
}

/// Checks a received ConnEstablish envelope.
///
/// `tls_on` says whether this peer runs TLS; `remote_cert` is the DER certificate the remote
/// presented on this connection (`None` when it presented none).
pub fn verify_conn_establish(
    crypto: &CryptoContext,
    env: &Envelope,
    tls_on: bool,
    remote_cert: Option<&[u8]>,
) -> Result<RemoteIdentity, HandshakeError> {
    use HandshakeFailure as F;
    let msg = GossipMessage::decode(env.payload.clone()).map_err(|e| {
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
            signed_data: env.payload.to_vec(),
            signature: env.signature.clone(),
        },
    })
}

/// Classifies a gRPC error met while reading the ConnEstablish: bytes that are not an
/// Envelope are a bad message, anything else a transport failure.
pub(crate) fn read_failure(status: &tonic::Status) -> HandshakeFailure {
    if status.code() == tonic::Code::Internal && status.message().contains("decode") {
        HandshakeFailure::BadMessage
    } else {
        HandshakeFailure::Transport
    }
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::SystemTime;

    use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::crypto::{CryptoError, MessageCryptoService, SecurityAdvisor};
    use crate::proto::msp::SerializedIdentity;

    // From tests/fabric-wire-vectors.json (produced by Fabric's own Go code):
    // identity_org1_peer0, msg_conn and env_conn_signed.
    const SEED: &str = "241ba616dfb9e26332812ff6c4e1783ff6181d8e42cb2f00f85584968585f2ff";
    const IDENTITY: &str =
        "0a074f7267314d53501220fd4234df927a5f1a453c65de62d96774e80fd86388145a9f5a23af3619bac96f";
    const TLS_CERT_HASH: &str = "83106be6ec9b7e381320f08834874c76da7720cb7872eb24530500a2ebcf5e8c";
    const ENV_CONN_SIGNED: &str = "0a75180172710a20a99507394f08624c16fb3533986112270bdd09a0c55f0b6812e7156832d8fcfe122b0a074f7267314d53501220fd4234df927a5f1a453c65de62d96774e80fd86388145a9f5a23af3619bac96f1a2083106be6ec9b7e381320f08834874c76da7720cb7872eb24530500a2ebcf5e8c12408e4f7d745866c6e06c2e80e3bf179d3121aab66c52a0bfd1809a9cfdf41c826ae3226d7d837d2881f60ee116e5cb99103b7ef40124d1d818ca9c42628a302b0c";

    /// Ed25519 with the built-in identity scheme, trusting Org1MSP only.
    struct Mcs(SigningKey);

    fn key_of(identity: &[u8]) -> Result<(String, VerifyingKey), CryptoError> {
        let sid = SerializedIdentity::decode(identity)
            .map_err(|e| CryptoError::MalformedIdentity(e.to_string()))?;
        let raw: [u8; 32] = sid
            .id_bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::MalformedIdentity("key length".into()))?;
        let vk = VerifyingKey::from_bytes(&raw)
            .map_err(|e| CryptoError::MalformedIdentity(e.to_string()))?;
        Ok((sid.mspid, vk))
    }

    impl MessageCryptoService for Mcs {
        fn pki_id_of(&self, identity: &[u8]) -> Result<PkiId, CryptoError> {
            let (mspid, vk) = key_of(identity)?;
            Ok(PkiId(
                Sha256::new()
                    .chain_update(mspid)
                    .chain_update(vk.as_bytes())
                    .finalize()
                    .to_vec(),
            ))
        }
        fn verify_block(&self, _: &str, _: u64, _: &[u8]) -> Result<(), CryptoError> {
            Err(CryptoError::InvalidBlock("not used here".into()))
        }
        fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
            Ok(self.0.sign(msg).to_bytes().to_vec())
        }
        fn verify(&self, identity: &[u8], signature: &[u8], msg: &[u8]) -> Result<(), CryptoError> {
            let (_, vk) = key_of(identity)?;
            let sig = ed25519_dalek::Signature::from_slice(signature)
                .map_err(|_| CryptoError::BadSignature)?;
            vk.verify_strict(msg, &sig)
                .map_err(|_| CryptoError::BadSignature)
        }
        fn verify_by_channel(
            &self,
            _: &str,
            i: &[u8],
            s: &[u8],
            m: &[u8],
        ) -> Result<(), CryptoError> {
            self.verify(i, s, m)
        }
        fn validate_identity(&self, identity: &[u8]) -> Result<(), CryptoError> {
            match key_of(identity)?.0.as_str() {
                "Org1MSP" => Ok(()),
                other => Err(CryptoError::UntrustedIdentity(other.into())),
            }
        }
        fn expiration(&self, _: &[u8]) -> Result<Option<SystemTime>, CryptoError> {
            Ok(None)
        }
    }

    struct Advisor;
    impl SecurityAdvisor for Advisor {
        fn org_by_peer_identity(&self, identity: &[u8]) -> Option<String> {
            key_of(identity).ok().map(|(m, _)| m)
        }
    }

    fn crypto() -> CryptoContext {
        let seed: [u8; 32] = hex::decode(SEED).unwrap().try_into().unwrap();
        let mcs = Arc::new(Mcs(SigningKey::from_bytes(&seed)));
        CryptoContext::new(mcs, Arc::new(Advisor), hex::decode(IDENTITY).unwrap()).unwrap()
    }

    #[test]
    fn our_conn_establish_is_fabrics_byte_for_byte() {
        let env = conn_establish(&crypto(), hex::decode(TLS_CERT_HASH).unwrap(), false).unwrap();
        assert_eq!(hex::encode(env.encode_to_vec()), ENV_CONN_SIGNED);
    }

    #[test]
    fn fabrics_conn_establish_verifies() {
        let env = Envelope::decode(hex::decode(ENV_CONN_SIGNED).unwrap().as_slice()).unwrap();
        let r = verify_conn_establish(&crypto(), &env, false, None).unwrap();
        assert_eq!(
            r.pki_id.to_hex(),
            "a99507394f08624c16fb3533986112270bdd09a0c55f0b6812e7156832d8fcfe"
        );
        assert_eq!(r.identity, hex::decode(IDENTITY).unwrap());
        assert!(!r.probe);
        assert_eq!(r.auth.signed_data, env.payload);
        assert_eq!(r.auth.signature, env.signature);
        // With TLS on, the hash binds the certificate actually seen.
        let e = verify_conn_establish(&crypto(), &env, true, None).unwrap_err();
        assert_eq!(e.reason, HandshakeFailure::NoTlsCert);
        let e =
            verify_conn_establish(&crypto(), &env, true, Some(b"another certificate")).unwrap_err();
        assert_eq!(e.reason, HandshakeFailure::CertHashMismatch);
    }

    #[test]
    fn each_check_has_its_reason() {
        let c = crypto();
        let good = conn_establish(&c, vec![], false).unwrap();
        let reason = |env: &Envelope| {
            verify_conn_establish(&c, env, false, None)
                .unwrap_err()
                .reason
        };

        let mut bad_sig = good.clone();
        bad_sig.signature[10] ^= 0x80;
        assert_eq!(reason(&bad_sig), HandshakeFailure::BadSignature);

        let garbage = Envelope {
            payload: vec![0xff, 0xff].into(),
            ..good.clone()
        };
        assert_eq!(reason(&garbage), HandshakeFailure::BadMessage);

        let tweak = |f: &dyn Fn(&mut ConnEstablish)| {
            let mut msg = GossipMessage::decode(good.payload.clone()).unwrap();
            if let Some(gossip_message::Content::Conn(ce)) = msg.content.as_mut() {
                f(ce);
            }
            let payload = msg.encode_to_vec();
            let signature = c.mcs.sign(&payload).unwrap();
            Envelope {
                payload: payload.into(),
                signature,
                secret_envelope: None,
            }
        };
        assert_eq!(
            reason(&tweak(&|ce| ce.pki_id.clear())),
            HandshakeFailure::MissingPkiId
        );
        assert_eq!(
            reason(&tweak(&|ce| ce.pki_id[0] ^= 1)),
            HandshakeFailure::PkiIdMismatch
        );
        assert_eq!(
            reason(&tweak(&|ce| ce.identity.truncate(5))),
            HandshakeFailure::InvalidIdentity
        );
        let org2 = SerializedIdentity {
            mspid: "Org2MSP".into(),
            id_bytes: c.self_identity[11..].to_vec(),
        };
        let org2 = org2.encode_to_vec();
        assert_eq!(
            reason(&tweak(&|ce| ce.identity = org2.clone())),
            HandshakeFailure::InvalidIdentity
        );

        let empty = GossipMessage {
            tag: gossip_message::Tag::Empty as i32,
            ..Default::default()
        };
        let payload = empty.encode_to_vec();
        let env = Envelope {
            signature: c.mcs.sign(&payload).unwrap(),
            payload: payload.into(),
            secret_envelope: None,
        };
        assert_eq!(reason(&env), HandshakeFailure::BadMessage);
    }
}
