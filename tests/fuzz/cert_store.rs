//! The cert store (identity pull and validation) fed random sequences: hellos, digests,
//! requests and updates carrying genuine identities, identities signed by another key,
//! identities under a PKI-ID they do not hash to, identities of an untrusted org and raw
//! fuzzed items; cut-offs, forgets, re-validation and time. Invariants after each step: no
//! panic; every identity the mapper holds is valid, of a trusted org, and hashes to its
//! PKI-ID; no cut-off PKI-ID is held; an identity sent to a peer of another org is of our org
//! or of that peer's org, and its owner has an external endpoint.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use fabgossip::config::GossipConfig;
use fabgossip::crypto::ed25519::Ed25519Crypto;
use fabgossip::crypto::{MessageCryptoService, SecurityAdvisor};
use fabgossip::identity::{CertStore, CutOffReason, IdentityDisclosure, IdentityMapper};
use fabgossip::message::{peer_identity_msg, Content, SignedGossipMessage};
use fabgossip::proto::gossip::Envelope;
use fabgossip::pull::{Input, Output, PullConfig};
use fabgossip::types::PkiId;
use prost::Message;

use super::actors::{self, cast};
use super::engine::{Cov, Target};

fn receiver() -> &'static Arc<Ed25519Crypto> {
    static C: OnceLock<Arc<Ed25519Crypto>> = OnceLock::new();
    C.get_or_init(|| {
        Ed25519Crypto::new(
            "Org1MSP".into(),
            [0x54; 32],
            vec!["Org1MSP".into(), "Org2MSP".into()],
        )
    })
}

/// Odd cast members have no external endpoint.
struct Disclosure;

impl IdentityDisclosure for Disclosure {
    fn has_external_endpoint(&self, pki_id: &PkiId) -> bool {
        cast()
            .iter()
            .position(|a| a.pki == *pki_id)
            .is_none_or(|i| i % 2 == 0)
    }
}

/// An identity item of cast member `who`, genuine or spoiled.
fn item(u: &mut Unstructured) -> arbitrary::Result<Envelope> {
    let who = u.int_in_range(0..=cast().len() - 1)?;
    let a = &cast()[who];
    let attacker = &cast()[actors::ATTACKER];
    let (pki, cert, signer) = match u.int_in_range(0..=6u8)? {
        0 => (a.pki.clone(), a.identity.clone(), attacker),
        1 => (a.pki.clone(), attacker.identity.clone(), attacker),
        2 => (actors::ghost(), a.identity.clone(), a),
        3 => {
            let bytes: Vec<u8> = u.arbitrary()?;
            return Ok(Envelope::decode(bytes.as_slice()).unwrap_or_default());
        }
        _ => (a.pki.clone(), a.identity.clone(), a),
    };
    let sm = SignedGossipMessage::sign(peer_identity_msg(&pki, &cert), |p| signer.crypto.sign(p))
        .unwrap();
    Ok(sm.envelope)
}

fn pki(u: &mut Unstructured) -> arbitrary::Result<PkiId> {
    let i = u.int_in_range(0..=cast().len())?;
    Ok(cast().get(i).map_or_else(actors::ghost, |a| a.pki.clone()))
}

fn run_cert_store(data: &[u8], cov: &mut Cov) {
    let mut u = Unstructured::new(data);
    let crypto = receiver();
    let ctx = crypto.context();
    let mcs: Arc<dyn MessageCryptoService> = ctx.mcs.clone();
    let advisor: Arc<dyn SecurityAdvisor> = ctx.advisor.clone();
    let mapper = Arc::new(IdentityMapper::new(mcs.clone(), &ctx.self_identity).unwrap());
    // The handshake made the honest peers known.
    for a in cast().iter().take(actors::HONEST).step_by(2) {
        mapper.put(&a.pki, &a.identity).unwrap();
    }
    let mut now = Instant::now();
    let cfg = PullConfig::identities(&GossipConfig::default());
    let mut store =
        CertStore::new(cfg, mapper.clone(), mcs.clone(), advisor.clone(), now, 9).unwrap();
    let mut nonces: Vec<u64> = Vec::new();
    for _ in 0..96 {
        if u.is_empty() {
            break;
        }
        let Ok(op) = u.int_in_range(0..=10u8) else {
            break;
        };
        let Ok(from) = pki(&mut u) else { break };
        let nonce = match (nonces.is_empty(), u.ratio(3u8, 4)) {
            (false, Ok(true)) => nonces[u.int_in_range(0..=nonces.len() - 1).unwrap_or(0)],
            _ => u.arbitrary().unwrap_or(0),
        };
        let mut digests = Vec::new();
        for _ in 0..u.int_in_range(0..=4usize).unwrap_or(0) {
            if let Ok(p) = pki(&mut u) {
                digests.push(p.0);
            }
        }
        let input = match op {
            0 | 1 => {
                now += Duration::from_millis(u.int_in_range(0..=5_000u64).unwrap_or(0));
                let peers = cast()
                    .iter()
                    .take(actors::HONEST)
                    .map(|a| a.pki.clone())
                    .collect();
                Input::Tick { peers }
            }
            2 => Input::Hello { from, nonce },
            3 => Input::Digest {
                from,
                nonce,
                digests,
            },
            4 => Input::Request {
                from,
                nonce,
                digests,
            },
            5 | 6 => {
                let mut items = Vec::new();
                for _ in 0..u.int_in_range(0..=3usize).unwrap_or(0) {
                    match item(&mut u) {
                        Ok(i) => items.push(i),
                        Err(_) => break,
                    }
                }
                Input::Update { from, nonce, items }
            }
            7 => {
                let identity = mapper.peek(&from);
                store.cut_off(&from, identity, CutOffReason::Revoked);
                continue;
            }
            8 => {
                store.forget(&from);
                continue;
            }
            9 => {
                cov.hit(("expired", store.check_expired().len().min(2)));
                continue;
            }
            _ => {
                cov.hit(("revalidated", store.revalidate().len().min(2)));
                continue;
            }
        };
        for o in store.handle(now, input, &Disclosure) {
            match o {
                Output::Send { to, msg } => match &msg.content {
                    Some(Content::Hello(h)) => nonces.push(h.nonce),
                    Some(Content::DataReq(r)) => nonces.push(r.nonce),
                    Some(Content::DataUpdate(up)) => {
                        cov.hit(("update sent", up.data.len().min(3)));
                        let to_org = mapper
                            .peek(&to)
                            .and_then(|i| advisor.org_by_peer_identity(&i));
                        for it in &up.data {
                            let sm = SignedGossipMessage::from_envelope(it.clone()).unwrap();
                            let Some(Content::PeerIdentity(p)) = &sm.msg.content else {
                                panic!("sent an identity item that is not a PeerIdentity");
                            };
                            let org = advisor.org_by_peer_identity(&p.cert);
                            if to_org.as_deref() != Some("Org1MSP") {
                                assert!(
                                    org.as_deref() == Some("Org1MSP") || org == to_org,
                                    "sent an identity of a third org to a peer of another org"
                                );
                                assert!(
                                    Disclosure.has_external_endpoint(&PkiId(p.pki_id.clone())),
                                    "disclosed an identity without external endpoint to another org"
                                );
                            }
                        }
                    }
                    _ => cov.hit("send"),
                },
                Output::UpdateRejected { reason, .. } => cov.error(&reason),
                Output::Received { .. } => panic!("the cert store leaked a Received output"),
            }
        }
        for (pki, identity) in mapper.identities() {
            assert_eq!(
                mcs.pki_id_of(&identity).unwrap(),
                pki,
                "the mapper holds an identity under another PKI-ID"
            );
            assert!(
                mcs.validate_identity(&identity).is_ok(),
                "the mapper holds an invalid identity"
            );
            assert!(!store.is_cut_off(&pki), "a cut-off identity is held");
        }
        cov.hit(("identities", mapper.len().min(8)));
    }
}

fn cert_store_seeds() -> Vec<Vec<u8>> {
    vec![
        vec![
            0, 0, 0, 0, 200, 2, 1, 0, 0, 3, 1, 0, 2, 1, 2, 3, 5, 1, 0, 0, 2, 1, 1, 6, 5, 2, 0,
        ],
        vec![
            5, 2, 0, 0, 0, 3, 0, 5, 1, 0, 4, 6, 3, 6, 7, 4, 0, 0, 10, 0, 0, 9, 0, 0,
        ],
        (0..=255u8).collect(),
    ]
}

pub const CERT_STORE: Target = Target {
    name: "cert_store",
    max_len: 2048,
    seeds: cert_store_seeds,
    run: run_cert_store,
};
