//! The `SeekInfo` envelope a peer sends to `AtomicBroadcast.Deliver`: a `DELIVER_SEEK_INFO`
//! channel header, a signature header with this peer's identity and a fresh nonce, and a
//! `SeekInfo` from a block number to the end of time, blocking until blocks are ready.

use prost::Message;
use rand::RngCore;

use crate::crypto::{CryptoError, MessageCryptoService};
use crate::proto::common::{ChannelHeader, Envelope, Header, HeaderType, Payload, SignatureHeader};
use crate::proto::orderer::seek_info::{SeekBehavior, SeekContentType, SeekErrorResponse};
use crate::proto::orderer::seek_position::Type as SeekType;
use crate::proto::orderer::{SeekInfo, SeekPosition, SeekSpecified};

/// Nonce length Fabric's signers use.
const NONCE_LEN: usize = 24;

/// `SeekInfo{start: Specified{from}, stop: Specified{u64::MAX}, BLOCK_UNTIL_READY, BLOCK}`.
pub fn seek_from(from: u64) -> SeekInfo {
    let specified = |number| SeekPosition {
        r#type: Some(SeekType::Specified(SeekSpecified { number })),
    };
    SeekInfo {
        start: Some(specified(from)),
        stop: Some(specified(u64::MAX)),
        behavior: SeekBehavior::BlockUntilReady as i32,
        error_response: SeekErrorResponse::Strict as i32,
        content_type: SeekContentType::Block as i32,
    }
}

/// The signed envelope asking `channel`'s blocks from `from` on. `tls_cert_hash` is the
/// SHA-256 of this peer's TLS client certificate when the orderer requires mutual TLS
/// (empty otherwise).
pub fn seek_envelope(
    channel: &str,
    from: u64,
    creator: &[u8],
    tls_cert_hash: Vec<u8>,
    mcs: &dyn MessageCryptoService,
) -> Result<Envelope, CryptoError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let channel_header = ChannelHeader {
        r#type: HeaderType::DeliverSeekInfo as i32,
        version: 0,
        timestamp: Some(prost_types::Timestamp {
            seconds: now.as_secs() as i64,
            nanos: now.subsec_nanos() as i32,
        }),
        channel_id: channel.to_string(),
        tx_id: String::new(),
        epoch: 0,
        extension: Vec::new(),
        tls_cert_hash,
    };
    let mut nonce = vec![0u8; NONCE_LEN];
    rand::rngs::OsRng
        .try_fill_bytes(&mut nonce)
        .map_err(|e| CryptoError::Host(format!("no randomness for the nonce: {e}")))?;
    let payload = Payload {
        header: Some(Header {
            channel_header: channel_header.encode_to_vec(),
            signature_header: SignatureHeader {
                creator: creator.to_vec(),
                nonce,
            }
            .encode_to_vec(),
        }),
        data: seek_from(from).encode_to_vec(),
    }
    .encode_to_vec();
    let signature = mcs.sign(&payload)?;
    Ok(Envelope { payload, signature })
}

/// What an orderer reads from a seek envelope (the test orderer uses it).
#[derive(Debug, Clone, PartialEq)]
pub struct SeekRequest {
    pub channel: String,
    pub creator: Vec<u8>,
    pub seek: SeekInfo,
    /// The channel header's `tls_cert_hash` (empty when the client sent none).
    pub tls_cert_hash: Vec<u8>,
}

/// Decodes a seek envelope; the signature is not checked here.
pub fn parse_seek_envelope(env: &Envelope) -> Result<SeekRequest, String> {
    let payload = Payload::decode(env.payload.as_slice()).map_err(|e| format!("payload: {e}"))?;
    let header = payload.header.ok_or("payload without header")?;
    let ch = ChannelHeader::decode(header.channel_header.as_slice())
        .map_err(|e| format!("channel header: {e}"))?;
    if ch.r#type != HeaderType::DeliverSeekInfo as i32 {
        return Err(format!(
            "header type {} is not DELIVER_SEEK_INFO",
            ch.r#type
        ));
    }
    let sh = SignatureHeader::decode(header.signature_header.as_slice())
        .map_err(|e| format!("signature header: {e}"))?;
    let seek = SeekInfo::decode(payload.data.as_slice()).map_err(|e| format!("seek info: {e}"))?;
    Ok(SeekRequest {
        channel: ch.channel_id,
        creator: sh.creator,
        seek,
        tls_cert_hash: ch.tls_cert_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::ed25519::Ed25519Crypto;

    #[test]
    fn seek_envelope_is_signed_and_round_trips() {
        let ed = Ed25519Crypto::new("Org1MSP".into(), [4; 32], vec![]);
        let id = ed.serialized_identity();
        let env = seek_envelope("ch1", 42, &id, Vec::new(), &*ed).unwrap();
        ed.verify(&id, &env.signature, &env.payload).unwrap();
        let req = parse_seek_envelope(&env).unwrap();
        assert_eq!(req.channel, "ch1");
        assert_eq!(req.creator, id);
        assert_eq!(req.seek, seek_from(42));
        let Some(SeekType::Specified(s)) = req.seek.start.unwrap().r#type else {
            panic!("start is not Specified");
        };
        assert_eq!(s.number, 42);
        let Some(SeekType::Specified(s)) = req.seek.stop.unwrap().r#type else {
            panic!("stop is not Specified");
        };
        assert_eq!(s.number, u64::MAX);
        // Two envelopes never share a nonce.
        let env2 = seek_envelope("ch1", 42, &id, Vec::new(), &*ed).unwrap();
        assert_ne!(env.payload, env2.payload);
    }

    #[test]
    fn other_header_types_are_refused() {
        let ch = ChannelHeader {
            r#type: HeaderType::EndorserTransaction as i32,
            ..Default::default()
        };
        let env = Envelope {
            payload: Payload {
                header: Some(Header {
                    channel_header: ch.encode_to_vec(),
                    signature_header: Vec::new(),
                }),
                data: Vec::new(),
            }
            .encode_to_vec(),
            signature: Vec::new(),
        };
        assert!(parse_seek_envelope(&env)
            .unwrap_err()
            .contains("DELIVER_SEEK_INFO"));
        assert!(parse_seek_envelope(&Envelope {
            payload: vec![0xff],
            signature: vec![]
        })
        .is_err());
    }
}
