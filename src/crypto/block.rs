//! Fabric's block rules as pure functions: the data hash, the header's ASN.1 bytes, the
//! orderer's metadata signature, and the checks `VerifyBlock` applies to every block gossip
//! receives (pushed, pulled or state-transferred).
//!
//! Layouts, as Fabric v3 defines them:
//! - data hash = SHA-256 of the concatenated `BlockData.data` entries;
//! - header bytes = DER of `SEQUENCE { INTEGER number, OCTET STRING previous_hash,
//!   OCTET STRING data_hash }`, and a block's hash (the next block's `previous_hash`) is the
//!   SHA-256 of those bytes;
//! - `metadata[SIGNATURES]` is a `common.Metadata{value, signatures}`; each
//!   `MetadataSignature` signs `value ‖ signature_header ‖ header bytes`, and its
//!   `signature_header` is a `common.SignatureHeader{creator, nonce}` naming the signer.

use prost::Message;
use sha2::{Digest, Sha256};

use super::ed25519::{decode_identity, verify_signature, verifying_key};
use super::CryptoError;
use crate::proto::common::{
    Block, BlockData, BlockHeader, BlockMetadata, BlockMetadataIndex, ChannelHeader, Envelope,
    LastConfig, Metadata, MetadataSignature, Payload, SignatureHeader,
};

/// Number of metadata slots Fabric gives a block (SIGNATURES … COMMIT_HASH).
pub const METADATA_SLOTS: usize = 5;

/// `orderer.OrdererBlockMetadata`, the value the orderer signs in `metadata[SIGNATURES]`.
/// Kept here because only its encoding matters to gossip.
#[derive(Clone, PartialEq, Message)]
struct OrdererBlockMetadata {
    #[prost(message, optional, tag = "1")]
    last_config: Option<LastConfig>,
    #[prost(bytes = "vec", tag = "2")]
    consenter_metadata: Vec<u8>,
}

/// Fabric v3's block data hash: SHA-256 over the data entries laid end to end.
pub fn block_data_hash(data: &BlockData) -> Vec<u8> {
    let mut h = Sha256::new();
    for entry in &data.data {
        h.update(entry);
    }
    h.finalize().to_vec()
}

/// The DER encoding of the header that orderers sign and that chains blocks together.
pub fn block_header_bytes(header: &BlockHeader) -> Vec<u8> {
    let mut body = Vec::with_capacity(16 + header.previous_hash.len() + header.data_hash.len());
    der_unsigned_integer(header.number, &mut body);
    der_octet_string(&header.previous_hash, &mut body);
    der_octet_string(&header.data_hash, &mut body);
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(0x30); // SEQUENCE, constructed
    der_length(body.len(), &mut out);
    out.extend_from_slice(&body);
    out
}

/// The block's hash: SHA-256 of [`block_header_bytes`]; the next block's `previous_hash`.
pub fn block_header_hash(header: &BlockHeader) -> Vec<u8> {
    Sha256::digest(block_header_bytes(header)).to_vec()
}

fn der_length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let be = len.to_be_bytes();
    let skip = be.iter().take_while(|b| **b == 0).count();
    out.push(0x80 | (be.len() - skip) as u8);
    out.extend_from_slice(&be[skip..]);
}

fn der_unsigned_integer(n: u64, out: &mut Vec<u8>) {
    let be = n.to_be_bytes();
    // Minimal two's complement: drop leading zero bytes, keep one byte for zero, and
    // put a zero back in front when the top bit would make the number negative.
    let skip = be.iter().take_while(|b| **b == 0).count().min(7);
    let digits = &be[skip..];
    let pad = digits[0] & 0x80 != 0;
    out.push(0x02);
    der_length(digits.len() + pad as usize, out);
    if pad {
        out.push(0);
    }
    out.extend_from_slice(digits);
}

fn der_octet_string(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(0x04);
    der_length(bytes.len(), out);
    out.extend_from_slice(bytes);
}

/// The bytes a metadata signature covers: value ‖ signature_header ‖ header bytes.
pub fn block_signed_bytes(value: &[u8], signature_header: &[u8], header: &BlockHeader) -> Vec<u8> {
    let hb = block_header_bytes(header);
    let mut out = Vec::with_capacity(value.len() + signature_header.len() + hb.len());
    out.extend_from_slice(value);
    out.extend_from_slice(signature_header);
    out.extend_from_slice(&hb);
    out
}

/// Encodes `common.SignatureHeader{creator, nonce}`.
pub fn signature_header(creator: &[u8], nonce: &[u8]) -> Vec<u8> {
    SignatureHeader {
        creator: creator.to_vec(),
        nonce: nonce.to_vec(),
    }
    .encode_to_vec()
}

/// Encodes the `OrdererBlockMetadata{last_config{index}}` an orderer signs.
pub fn orderer_block_metadata(last_config_index: u64) -> Vec<u8> {
    OrdererBlockMetadata {
        last_config: Some(LastConfig {
            index: last_config_index,
        }),
        consenter_metadata: Vec::new(),
    }
    .encode_to_vec()
}

/// A block as an orderer cuts it, before signing: header with Fabric's data hash, the five
/// metadata slots, and a TRANSACTIONS_FILTER marking every transaction valid (Fabric's state
/// provider requires that filter to have one byte per transaction).
pub fn new_block(number: u64, previous_hash: Vec<u8>, data: Vec<Vec<u8>>) -> Block {
    let data = BlockData { data };
    let header = BlockHeader {
        number,
        previous_hash,
        data_hash: block_data_hash(&data),
    };
    let mut metadata = vec![Vec::new(); METADATA_SLOTS];
    metadata[BlockMetadataIndex::TransactionsFilter as usize] = vec![0u8; data.data.len()];
    Block {
        header: Some(header),
        data: Some(data),
        metadata: Some(BlockMetadata { metadata }),
    }
}

/// Adds an orderer signature to `metadata[SIGNATURES]`: `signer` signs
/// `value ‖ signature_header ‖ header bytes`. When the slot already holds a `Metadata` with the
/// same value the signature is appended (several orderers), otherwise the slot is replaced.
pub fn sign_block(
    block: &mut Block,
    value: Vec<u8>,
    signature_header: Vec<u8>,
    signer: impl FnOnce(&[u8]) -> Result<Vec<u8>, CryptoError>,
) -> Result<(), CryptoError> {
    let header = block
        .header
        .as_ref()
        .ok_or_else(|| CryptoError::InvalidBlock("cannot sign a block without a header".into()))?;
    let signature = signer(&block_signed_bytes(&value, &signature_header, header))?;
    let slots = &mut block.metadata.get_or_insert_with(Default::default).metadata;
    let idx = BlockMetadataIndex::Signatures as usize;
    if slots.len() <= idx {
        slots.resize(idx + 1, Vec::new());
    }
    let mut md = match Metadata::decode(slots[idx].as_slice()) {
        Ok(existing) if existing.value == value && !slots[idx].is_empty() => existing,
        _ => Metadata {
            value,
            signatures: Vec::new(),
        },
    };
    md.signatures.push(MetadataSignature {
        signature_header,
        signature,
        identifier_header: Vec::new(),
    });
    slots[idx] = md.encode_to_vec();
    Ok(())
}

fn invalid(reason: impl Into<String>) -> CryptoError {
    CryptoError::InvalidBlock(reason.into())
}

/// Fabric's `VerifyBlock` for the built-in crypto. Checks, in order: the bytes decode as a
/// `common.Block`; a header is present; its number equals `seq`; data is present and hashes to
/// `header.data_hash`; metadata is present; the block does not name another channel; and, when
/// `orderer_keys` is non-empty, `metadata[SIGNATURES]` carries a valid Ed25519 signature whose
/// signature header's creator holds one of those keys. Returns the decoded block.
pub fn verify_block(
    channel: &str,
    seq: u64,
    block_bytes: &[u8],
    orderer_keys: &[[u8; 32]],
) -> Result<Block, CryptoError> {
    let block =
        Block::decode(block_bytes).map_err(|e| invalid(format!("undecodable block: {e}")))?;
    let header = block
        .header
        .as_ref()
        .ok_or_else(|| invalid("block has no header"))?;
    if header.number != seq {
        return Err(invalid(format!(
            "block number {} but sequence {seq} was claimed",
            header.number
        )));
    }
    let data = block
        .data
        .as_ref()
        .ok_or_else(|| invalid(format!("block {seq} has no data")))?;
    if block_data_hash(data) != header.data_hash {
        return Err(invalid(format!(
            "block {seq} data hash does not match its header"
        )));
    }
    let metadata = match block.metadata.as_ref() {
        Some(m) if !m.metadata.is_empty() => m,
        _ => return Err(invalid(format!("block {seq} has no metadata"))),
    };
    if let Some(other) = channel_of_block(data) {
        if other != channel {
            return Err(invalid(format!(
                "block {seq} belongs to channel {other:?}, not {channel:?}"
            )));
        }
    }
    if !orderer_keys.is_empty() {
        check_orderer_signature(seq, header, metadata, orderer_keys)?;
    }
    Ok(block)
}

/// The channel named by the first transaction's channel header, when it has a readable one.
/// Blocks whose entries are not Fabric envelopes (test chains) name no channel.
fn channel_of_block(data: &BlockData) -> Option<String> {
    let env = Envelope::decode(data.data.first()?.as_slice()).ok()?;
    let payload = Payload::decode(env.payload.as_slice()).ok()?;
    let ch = ChannelHeader::decode(payload.header?.channel_header.as_slice()).ok()?;
    (!ch.channel_id.is_empty()).then_some(ch.channel_id)
}

fn check_orderer_signature(
    seq: u64,
    header: &BlockHeader,
    metadata: &BlockMetadata,
    orderer_keys: &[[u8; 32]],
) -> Result<(), CryptoError> {
    let raw = metadata
        .metadata
        .get(BlockMetadataIndex::Signatures as usize)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| invalid(format!("block {seq} has no SIGNATURES metadata")))?;
    let md = Metadata::decode(raw.as_slice())
        .map_err(|e| invalid(format!("block {seq} SIGNATURES metadata undecodable: {e}")))?;
    let header_bytes = block_header_bytes(header);
    for ms in &md.signatures {
        // Signatures naming their signer only by a BFT identifier cannot be mapped to a key here.
        let Ok(sh) = SignatureHeader::decode(ms.signature_header.as_slice()) else {
            continue;
        };
        let Ok(creator) = decode_identity(&sh.creator) else {
            continue;
        };
        if !orderer_keys
            .iter()
            .any(|k| k.as_slice() == creator.id_bytes.as_slice())
        {
            continue;
        }
        let Ok(key) = verifying_key(&creator.id_bytes) else {
            continue;
        };
        let mut signed =
            Vec::with_capacity(md.value.len() + ms.signature_header.len() + header_bytes.len());
        signed.extend_from_slice(&md.value);
        signed.extend_from_slice(&ms.signature_header);
        signed.extend_from_slice(&header_bytes);
        if verify_signature(&key, &ms.signature, &signed).is_ok() {
            return Ok(());
        }
    }
    Err(invalid(format!(
        "block {seq} carries no valid signature from a trusted orderer"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn der_integers_are_minimal() {
        let enc = |n| {
            let mut v = Vec::new();
            der_unsigned_integer(n, &mut v);
            v
        };
        assert_eq!(enc(0), [0x02, 0x01, 0x00]);
        assert_eq!(enc(5), [0x02, 0x01, 0x05]);
        assert_eq!(enc(0x7f), [0x02, 0x01, 0x7f]);
        assert_eq!(enc(0x80), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(enc(0x1234), [0x02, 0x02, 0x12, 0x34]);
        assert_eq!(
            enc(u64::MAX),
            [0x02, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn der_long_lengths() {
        let h = BlockHeader {
            number: 1,
            previous_hash: vec![1; 200],
            data_hash: vec![2; 32],
        };
        let b = block_header_bytes(&h);
        // 3 (integer) + 3+200 (0x81 length form) + 2+32 = 240 → long form 0x81 0xf0.
        assert_eq!(&b[..3], &[0x30, 0x81, 240]);
        assert_eq!(&b[6..9], &[0x04, 0x81, 200]);
        assert_eq!(b.len(), 3 + 240);
        let empty = BlockHeader::default();
        assert_eq!(
            block_header_bytes(&empty),
            [0x30, 0x07, 0x02, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00]
        );
    }

    fn orderer() -> (SigningKey, Vec<u8>) {
        let key = SigningKey::from_bytes(&[9; 32]);
        let id = super::super::ed25519::serialize_identity(
            "OrdererMSP",
            &key.verifying_key().to_bytes(),
        );
        (key, id)
    }

    fn signed_block(number: u64) -> (Block, [u8; 32]) {
        let (key, id) = orderer();
        let mut b = new_block(
            number,
            vec![0; 32],
            vec![b"tx-a".to_vec(), b"tx-b".to_vec()],
        );
        sign_block(
            &mut b,
            orderer_block_metadata(0),
            signature_header(&id, b"nonce"),
            |m| Ok(key.sign(m).to_bytes().to_vec()),
        )
        .unwrap();
        (b, key.verifying_key().to_bytes())
    }

    #[test]
    fn verify_accepts_a_signed_chain_block() {
        let (b, pk) = signed_block(3);
        let bytes = b.encode_to_vec();
        assert_eq!(verify_block("ch", 3, &bytes, &[pk]).unwrap(), b);
        assert!(verify_block("ch", 3, &bytes, &[]).is_ok());
        assert_eq!(b.metadata.as_ref().unwrap().metadata[2], vec![0, 0]);
    }

    #[test]
    fn verify_failures_are_distinct() {
        let (b, pk) = signed_block(3);
        let reason = |r: Result<Block, CryptoError>| match r {
            Err(CryptoError::InvalidBlock(s)) => s,
            other => panic!("expected InvalidBlock, got {other:?}"),
        };
        let bytes = b.encode_to_vec();
        assert!(reason(verify_block("ch", 3, &[0xff, 0xff, 0xff], &[pk])).contains("undecodable"));
        assert!(reason(verify_block("ch", 4, &bytes, &[pk])).contains("sequence 4"));

        let mut nohdr = b.clone();
        nohdr.header = None;
        assert!(reason(verify_block("ch", 3, &nohdr.encode_to_vec(), &[pk])).contains("no header"));

        let mut tampered = b.clone();
        tampered.data.as_mut().unwrap().data[0][0] ^= 1;
        assert!(
            reason(verify_block("ch", 3, &tampered.encode_to_vec(), &[pk])).contains("data hash")
        );

        let mut nodata = b.clone();
        nodata.data = None;
        assert!(reason(verify_block("ch", 3, &nodata.encode_to_vec(), &[pk])).contains("no data"));

        let mut nomd = b.clone();
        nomd.metadata = None;
        assert!(reason(verify_block("ch", 3, &nomd.encode_to_vec(), &[pk])).contains("no metadata"));

        let mut nosig = b.clone();
        nosig.metadata.as_mut().unwrap().metadata[0].clear();
        assert!(
            reason(verify_block("ch", 3, &nosig.encode_to_vec(), &[pk])).contains("no SIGNATURES")
        );

        let mut garbage = b.clone();
        garbage.metadata.as_mut().unwrap().metadata[0] = vec![0xff, 0xff];
        assert!(
            reason(verify_block("ch", 3, &garbage.encode_to_vec(), &[pk])).contains("undecodable")
        );

        let other = SigningKey::from_bytes(&[8; 32]).verifying_key().to_bytes();
        assert!(reason(verify_block("ch", 3, &bytes, &[other])).contains("no valid signature"));

        // A signature over a different header (renumbered block) does not carry over.
        let mut renumbered = b.clone();
        renumbered.header.as_mut().unwrap().number = 4;
        assert!(
            reason(verify_block("ch", 4, &renumbered.encode_to_vec(), &[pk]))
                .contains("no valid signature")
        );
    }

    #[test]
    fn verify_rejects_a_block_of_another_channel() {
        let ch = ChannelHeader {
            channel_id: "other".into(),
            ..Default::default()
        };
        let payload = Payload {
            header: Some(crate::proto::common::Header {
                channel_header: ch.encode_to_vec(),
                signature_header: Vec::new(),
            }),
            data: b"x".to_vec(),
        };
        let env = Envelope {
            payload: payload.encode_to_vec(),
            signature: b"s".to_vec(),
        };
        let b = new_block(1, Vec::new(), vec![env.encode_to_vec()]);
        let bytes = b.encode_to_vec();
        assert!(
            matches!(verify_block("mine", 1, &bytes, &[]), Err(CryptoError::InvalidBlock(s)) if s.contains("channel"))
        );
        assert!(verify_block("other", 1, &bytes, &[]).is_ok());
    }

    #[test]
    fn second_orderer_signature_is_appended() {
        let (mut b, pk1) = signed_block(7);
        let key2 = SigningKey::from_bytes(&[10; 32]);
        let id2 = super::super::ed25519::serialize_identity(
            "OrdererMSP",
            &key2.verifying_key().to_bytes(),
        );
        sign_block(
            &mut b,
            orderer_block_metadata(0),
            signature_header(&id2, b"n2"),
            |m| Ok(key2.sign(m).to_bytes().to_vec()),
        )
        .unwrap();
        let md = Metadata::decode(b.metadata.as_ref().unwrap().metadata[0].as_slice()).unwrap();
        assert_eq!(md.signatures.len(), 2);
        let bytes = b.encode_to_vec();
        verify_block("ch", 7, &bytes, &[pk1]).unwrap();
        verify_block("ch", 7, &bytes, &[key2.verifying_key().to_bytes()]).unwrap();
    }

    #[test]
    fn chained_blocks_link_by_header_hash() {
        let b0 = new_block(0, Vec::new(), vec![b"genesis".to_vec()]);
        let b1 = new_block(
            1,
            block_header_hash(b0.header.as_ref().unwrap()),
            vec![b"t".to_vec()],
        );
        assert_eq!(b1.header.as_ref().unwrap().previous_hash.len(), 32);
        assert_eq!(orderer_block_metadata(0), vec![0x0a, 0x00]);
        assert_eq!(orderer_block_metadata(3), vec![0x0a, 0x02, 0x08, 0x03]);
    }
}
