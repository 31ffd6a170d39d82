//! What `VerifyBlock` costs per block: a real orderer-signed block of a stock Fabric network
//! through the built-in Fabric MSP (the channel's MSPs and `/Channel/Orderer/BlockValidation`
//! from its genesis block: X.509 chain to the orderer org's CA, ECDSA P-256), beside a block
//! of the same transactions signed with Ed25519 and checked by the built-in Ed25519 crypto,
//! and the structure checks alone (decode, number, data hash) that both include. The X.509 cost
//! is then taken apart: validating the orderer's identity against the channel MSPs (chain to
//! the orderer org's CA; the MSP caches it, so after the first call this is a cache hit), the
//! one ECDSA P-256 verification of the block signature as the MSP does it (low-S rule, then
//! `ring`), and `ring`'s verification alone.
//!
//! Usage: `verify_cost GENESIS_BLOCK BLOCK MSP_DIR MSPID [ITERATIONS]`: MSP_DIR/MSPID is the
//! local MSP of the verifying peer; prints one JSON object (CPU microseconds of the calling
//! thread per call, so that the figures hold on a loaded machine).

use std::path::Path;

use fabgossip::channelconfig::ChannelConfig;
use fabgossip::crypto::block::{self, new_block};
use fabgossip::crypto::ed25519::Ed25519Crypto;
use fabgossip::crypto::msp::MspCrypto;
use fabgossip::crypto::MessageCryptoService;
use fabgossip::proto::common::{Block, BlockMetadataIndex, Metadata, SignatureHeader};
use fabgossip::proto::msp::SerializedIdentity;
use prost::Message;
use serde_json::json;

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("verify_cost: {what}: {e}");
    std::process::exit(1)
}

/// This thread's CPU time in µs: on a shared machine the wall time of a call measures the
/// other processes as much as the call.
fn thread_cpu_us() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given and nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        fail("clock_gettime", std::io::Error::last_os_error());
    }
    ts.tv_sec as f64 * 1e6 + ts.tv_nsec as f64 / 1e3
}

/// Per-call CPU times in µs of `iterations` calls of `f`, after one warm-up call whose time
/// is returned apart (the first call pays for cold caches).
fn time_calls(iterations: usize, mut f: impl FnMut()) -> (f64, Vec<f64>) {
    let t = thread_cpu_us();
    f();
    let first = thread_cpu_us() - t;
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = thread_cpu_us();
        f();
        times.push(thread_cpu_us() - t);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    (first, times)
}

fn summary(first: f64, times: &[f64]) -> serde_json::Value {
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    json!({
        "first": first,
        "mean": times.iter().sum::<f64>() / times.len() as f64,
        "p50": at(0.5),
        "p99": at(0.99),
        "min": times[0],
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: verify_cost GENESIS_BLOCK BLOCK MSP_DIR MSPID [ITERATIONS]");
        std::process::exit(2);
    }
    let iterations: usize = match args.get(5).map(|s| s.parse()) {
        None => 2000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => fail("ITERATIONS", "not a positive number"),
    };
    let genesis = std::fs::read(&args[1]).unwrap_or_else(|e| fail(&args[1], e));
    let real = std::fs::read(&args[2]).unwrap_or_else(|e| fail(&args[2], e));
    let decoded = Block::decode(real.as_slice()).unwrap_or_else(|e| fail(&args[2], e));
    let header = decoded.header.clone().unwrap_or_default();
    let seq = header.number;

    let (config_block, config) =
        ChannelConfig::from_block_bytes(&genesis).unwrap_or_else(|e| fail("genesis block", e));
    let channel = config_block.channel_id.clone();
    let msp = MspCrypto::open(Path::new(&args[3]), &args[4]).unwrap_or_else(|e| fail(&args[3], e));
    msp.set_channel(
        &channel,
        config
            .channel_msps()
            .unwrap_or_else(|e| fail("channel MSPs", e)),
    );
    if let Err(e) = msp.verify_block(&channel, seq, &real) {
        fail("the real block does not verify", e);
    }
    let (first, ecdsa) = time_calls(iterations, || {
        let _ = std::hint::black_box(msp.verify_block(&channel, seq, &real));
    });
    let ecdsa = summary(first, &ecdsa);

    // The same transactions and header links in a block an Ed25519 orderer signed.
    let orderer = Ed25519Crypto::new("OrdererMSP".into(), [7u8; 32], vec![]);
    let mut twin = new_block(
        seq,
        header.previous_hash.clone(),
        decoded.data.clone().unwrap_or_default().data,
    );
    orderer
        .sign_block(&mut twin)
        .unwrap_or_else(|e| fail("Ed25519 signing", e));
    let twin = twin.encode_to_vec();
    let verifier = Ed25519Crypto::new("Org1MSP".into(), [9u8; 32], vec!["OrdererMSP".into()]);
    verifier.set_orderer_keys(&channel, vec![orderer.public_key()]);
    if let Err(e) = verifier.verify_block(&channel, seq, &twin) {
        fail("the Ed25519 block does not verify", e);
    }
    let (first, ed) = time_calls(iterations, || {
        let _ = std::hint::black_box(verifier.verify_block(&channel, seq, &twin));
    });
    let ed = summary(first, &ed);

    let (first, structure) = time_calls(iterations, || {
        let _ = std::hint::black_box(block::verify_block(&channel, seq, &real, &[]));
    });
    let structure = summary(first, &structure);

    // The X.509 cost taken apart, on the block's first orderer signature.
    let md = decoded
        .metadata
        .as_ref()
        .and_then(|m| m.metadata.get(BlockMetadataIndex::Signatures as usize))
        .and_then(|b| Metadata::decode(b.as_slice()).ok())
        .unwrap_or_else(|| fail("block", "no SIGNATURES metadata"));
    let sig = md
        .signatures
        .first()
        .unwrap_or_else(|| fail("block", "no orderer signature"));
    let creator = SignatureHeader::decode(sig.signature_header.as_slice())
        .unwrap_or_else(|e| fail("signature header", e))
        .creator;
    let signed = block::block_signed_bytes(&md.value, &sig.signature_header, &header);
    let msps = config
        .msp_manager()
        .unwrap_or_else(|e| fail("channel MSPs", e));
    let orderer_id = msps
        .validate(&creator)
        .unwrap_or_else(|e| fail("orderer identity", e));
    let (first, validate) = time_calls(iterations, || {
        let _ = std::hint::black_box(msps.validate(&creator));
    });
    let validate = summary(first, &validate);
    let (first, p256) = time_calls(iterations, || {
        let _ = std::hint::black_box(orderer_id.verify(&signed, &sig.signature));
    });
    let p256 = summary(first, &p256);
    let cert_pem = SerializedIdentity::decode(creator.as_slice())
        .unwrap_or_else(|e| fail("creator", e))
        .id_bytes;
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(&cert_pem).unwrap_or_else(|e| fail("orderer PEM", e));
    let cert = pem
        .parse_x509()
        .unwrap_or_else(|e| fail("orderer certificate", e));
    let point = cert.public_key().subject_public_key.data.to_vec();
    let ring_key =
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, point);
    if let Err(e) = ring_key.verify(&signed, &sig.signature) {
        fail(
            "ring verification of the orderer signature",
            format!("{e:?}"),
        );
    }
    let (first, ring_times) = time_calls(iterations, || {
        let _ = std::hint::black_box(ring_key.verify(&signed, &sig.signature));
    });
    let ring_verify = summary(first, &ring_times);

    println!(
        "{}",
        json!({
            "channel": channel,
            "block": seq,
            "iterations": iterations,
            "unit": "thread CPU µs per call",
            "ecdsa_block_bytes": real.len(),
            "ed25519_block_bytes": twin.len(),
            "ecdsa_p256_x509_us": ecdsa,
            "ed25519_us": ed,
            "structure_only_us": structure,
            "orderer_signatures": md.signatures.len(),
            "msp_validate_orderer_identity_us": validate,
            "p256_verify_us": p256,
            "ring_p256_verify_us": ring_verify,
        })
    );
}
