//! Targets of the block path: `common.Block` with its metadata (orderer signatures, last
//! config) through `VerifyBlock`, the orderer's `DeliverResponse` as the delivery client reads
//! it, and the seek request. Invariant besides no panic: a block accepted with orderer keys
//! configured carries a signature by one of those keys over Fabric's signed bytes, and its
//! data hashes to its header's data hash (both checked here independently).

use std::sync::{Arc, OnceLock};

use fabgossip::crypto::block::{
    block_data_hash, block_header_bytes, block_signed_bytes, new_block, orderer_block_metadata,
    sign_block, signature_header, verify_block,
};
use fabgossip::crypto::ed25519::{decode_identity, verify_signature, verifying_key, Ed25519Crypto};
use fabgossip::crypto::MessageCryptoService;
use fabgossip::deliver::seek::parse_seek_envelope;
use fabgossip::proto::common::{
    Block, BlockHeader, BlockMetadataIndex, Envelope, LastConfig, Metadata, SignatureHeader, Status,
};
use fabgossip::state::{McsVerifier, Payload, Source, VerifiedPayload};
use prost::Message;

use super::engine::{Cov, Target};
use super::seeds;

const CHANNEL: &str = "mychannel";

/// The orderer of the vectors, whose key signs their block.
fn orderer_key() -> [u8; 32] {
    let hex_key = seeds::named("identity_orderer0").extra["public_key_hex"]
        .as_str()
        .expect("orderer key");
    hex::decode(hex_key).unwrap().try_into().unwrap()
}

/// An orderer of our own, to sign further seed blocks.
fn orderer() -> &'static Arc<Ed25519Crypto> {
    static O: OnceLock<Arc<Ed25519Crypto>> = OnceLock::new();
    O.get_or_init(|| {
        Ed25519Crypto::new(
            "OrdererMSP".into(),
            seeds::vector_seed("identity_orderer0"),
            vec![],
        )
    })
}

fn block_seeds() -> Vec<Vec<u8>> {
    let mut s = seeds::of_kind("common.Block");
    let mut b = new_block(3, vec![9; 32], vec![b"tx one".to_vec(), b"tx two".to_vec()]);
    // A fixed nonce keeps the seed the same from run to run.
    let o = orderer();
    let header = signature_header(&o.serialized_identity(), &[7; 24]);
    sign_block(&mut b, orderer_block_metadata(0), header, |m| o.sign(m)).unwrap();
    s.push(b.encode_to_vec());
    s.push(new_block(0, Vec::new(), vec![Vec::new()]).encode_to_vec());
    s
}

/// Checks what `verify_block` accepted with orderer keys, without its code.
fn assert_signed_by_orderer(block: &Block, keys: &[[u8; 32]]) {
    let header = block
        .header
        .as_ref()
        .expect("an accepted block has a header");
    let data = block.data.as_ref().expect("an accepted block has data");
    assert_eq!(
        block_data_hash(data),
        header.data_hash,
        "accepted a block whose data hash differs"
    );
    let md = block
        .metadata
        .as_ref()
        .expect("an accepted block has metadata");
    let raw = &md.metadata[BlockMetadataIndex::Signatures as usize];
    let sigs = Metadata::decode(raw.as_slice()).expect("accepted SIGNATURES metadata decodes");
    let signed = sigs.signatures.iter().any(|ms| {
        let Ok(sh) = SignatureHeader::decode(ms.signature_header.as_slice()) else {
            return false;
        };
        let Ok(sid) = decode_identity(&sh.creator) else {
            return false;
        };
        let Ok(key) = verifying_key(&sid.id_bytes) else {
            return false;
        };
        keys.iter().any(|k| k[..] == sid.id_bytes[..])
            && verify_signature(
                &key,
                &ms.signature,
                &block_signed_bytes(&sigs.value, &ms.signature_header, header),
            )
            .is_ok()
    });
    assert!(signed, "accepted a block no configured orderer signed");
}

fn run_block(data: &[u8], cov: &mut Cov) {
    let claimed = match Block::decode(data) {
        Ok(b) => b.header.map_or(0, |h| h.number),
        Err(e) => return cov.error(&e),
    };
    let keys = [orderer_key()];
    for keys in [&[][..], &keys[..]] {
        match verify_block(CHANNEL, claimed, data, keys) {
            Ok(block) => {
                cov.hit(("verified", keys.len()));
                if !keys.is_empty() {
                    assert_signed_by_orderer(&block, keys);
                }
                let _ = block_header_bytes(block.header.as_ref().unwrap());
            }
            Err(e) => cov.error(&e),
        }
    }
    // The other metadata a peer reads: LAST_CONFIG (index 1) as Fabric writes it.
    if let Ok(b) = Block::decode(data) {
        if let Some(raw) = b.metadata.as_ref().and_then(|m| m.metadata.get(1)) {
            match Metadata::decode(raw.as_slice()) {
                Ok(md) => match LastConfig::decode(md.value.as_slice()) {
                    Ok(lc) => cov.hit(("last config", lc.index == 0)),
                    Err(e) => cov.error(&e),
                },
                Err(e) => cov.error(&e),
            }
        }
    }
}

pub const BLOCK: Target = Target {
    name: "block",
    max_len: 32 << 10,
    seeds: block_seeds,
    run: run_block,
};

/// `orderer.DeliverResponse` as the delivery client reads it: the block is kept as bytes.
#[derive(Clone, PartialEq, Message)]
struct RawDeliverResponse {
    #[prost(oneof = "RawResponse", tags = "1, 2")]
    r#type: Option<RawResponse>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum RawResponse {
    #[prost(int32, tag = "1")]
    Status(i32),
    #[prost(bytes = "vec", tag = "2")]
    Block(Vec<u8>),
}

#[derive(Clone, PartialEq, Message)]
struct BlockHeaderOnly {
    #[prost(message, optional, tag = "1")]
    header: Option<BlockHeader>,
}

/// The built-in crypto of a peer whose channel names the vector orderer.
fn deliver_crypto() -> &'static Arc<Ed25519Crypto> {
    static C: OnceLock<Arc<Ed25519Crypto>> = OnceLock::new();
    C.get_or_init(|| {
        let c = Ed25519Crypto::new("Org1MSP".into(), [0x52; 32], vec!["Org1MSP".into()]);
        c.set_orderer_keys(CHANNEL, vec![orderer_key()]);
        c
    })
}

/// The steps the delivery client takes on each response: kind, status name, header-only
/// decode of the block, sequence check, `VerifyBlock` through the MCS.
fn run_deliver_response(data: &[u8], cov: &mut Cov) {
    let full = fabgossip::proto::orderer::DeliverResponse::decode(data);
    let raw = match RawDeliverResponse::decode(data) {
        Ok(r) => r,
        Err(e) => {
            assert!(
                full.is_err(),
                "the lean decoder refused a valid DeliverResponse"
            );
            return cov.error(&e);
        }
    };
    let block = match raw.r#type {
        Some(RawResponse::Status(s)) => {
            let name = Status::try_from(s).map_or("unknown status", |s| s.as_str_name());
            return cov.hit(name);
        }
        Some(RawResponse::Block(b)) => b,
        None => return cov.hit("empty response"),
    };
    let seq = match BlockHeaderOnly::decode(block.as_slice()) {
        Ok(BlockHeaderOnly { header: Some(h) }) => h.number,
        Ok(_) => return cov.hit("no header"),
        Err(e) => return cov.error(&e),
    };
    let mcs: Arc<dyn MessageCryptoService> = deliver_crypto().clone();
    let payload = Payload::new(seq, block.clone(), Vec::new(), Source::Deliverer);
    match VerifiedPayload::verify(&McsVerifier(mcs), CHANNEL, payload) {
        Ok(v) => {
            cov.hit("delivered");
            let b = Block::decode(v.payload().block.clone()).expect("a verified block decodes");
            assert_eq!(b.header.unwrap().number, seq);
            assert_signed_by_orderer(&Block::decode(block.as_slice()).unwrap(), &[orderer_key()]);
        }
        Err((_, e)) => cov.error(&e),
    }
}

pub const DELIVER_RESPONSE: Target = Target {
    name: "deliver_response",
    max_len: 32 << 10,
    seeds: || seeds::of_kind("orderer.DeliverResponse"),
    run: run_deliver_response,
};

/// The seek request, as the test orderer reads what the delivery client sends.
fn run_seek(data: &[u8], cov: &mut Cov) {
    let env = match Envelope::decode(data) {
        Ok(e) => e,
        Err(e) => return cov.error(&e),
    };
    match parse_seek_envelope(&env) {
        Ok(req) => cov.hit(("seek", req.seek.start.is_some(), req.channel == CHANNEL)),
        Err(e) => cov.error(&e),
    }
}

pub const SEEK: Target = Target {
    name: "seek",
    max_len: 4 << 10,
    seeds: || seeds::of_kind("common.Envelope"),
    run: run_seek,
};
