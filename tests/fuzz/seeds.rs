//! Seed inputs: Fabric's own wire vectors and valid messages built here the way peers build
//! them (signed alives, StateInfo, blocks, ledgers).

use std::sync::{Arc, OnceLock};

use fabgossip::crypto::ed25519::Ed25519Crypto;
use fabgossip::proto::gossip::Envelope;
use prost::Message;
use serde_json::Value;

/// The wire vectors of `tests/fabric-wire-vectors.json` (made by Fabric's Go code).
pub struct Vector {
    pub name: String,
    pub kind: String,
    pub bytes: Vec<u8>,
    pub extra: Value,
}

pub fn vectors() -> &'static [Vector] {
    static V: OnceLock<Vec<Vector>> = OnceLock::new();
    V.get_or_init(|| {
        // Compiled in, so the cargo-fuzz targets (another crate) find them too.
        let text = include_str!("../fabric-wire-vectors.json");
        let doc: Value = serde_json::from_str(text).expect("wire vectors are JSON");
        doc["vectors"]
            .as_array()
            .expect("vectors list")
            .iter()
            .map(|v| Vector {
                name: v["name"].as_str().unwrap_or_default().to_string(),
                kind: v["kind"].as_str().unwrap_or_default().to_string(),
                bytes: hex::decode(v["hex"].as_str().unwrap_or_default()).expect("hex"),
                extra: v["extra"].clone(),
            })
            .collect()
    })
}

pub fn of_kind(kind: &str) -> Vec<Vec<u8>> {
    vectors()
        .iter()
        .filter(|v| v.kind == kind)
        .map(|v| v.bytes.clone())
        .collect()
}

pub fn named(name: &str) -> &'static Vector {
    vectors()
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no wire vector {name}"))
}

/// The Ed25519 seed of a vector identity.
pub fn vector_seed(name: &str) -> [u8; 32] {
    let hex_seed = named(name).extra["ed25519_seed_hex"]
        .as_str()
        .expect("seed of a vector identity");
    hex::decode(hex_seed)
        .expect("seed hex")
        .try_into()
        .expect("32 bytes")
}

/// The receiving peer of the decoder targets: Org1MSP, trusting Org1MSP and Org2MSP.
pub fn receiver() -> &'static Arc<Ed25519Crypto> {
    static C: OnceLock<Arc<Ed25519Crypto>> = OnceLock::new();
    C.get_or_init(|| {
        Ed25519Crypto::new(
            "Org1MSP".into(),
            [0x51; 32],
            vec!["Org1MSP".into(), "Org2MSP".into()],
        )
    })
}

/// A GossipMessage's bytes in an unsigned envelope.
pub fn wrap(msg_bytes: &[u8]) -> Vec<u8> {
    Envelope {
        payload: msg_bytes.to_vec().into(),
        signature: Vec::new(),
        secret_envelope: None,
    }
    .encode_to_vec()
}
