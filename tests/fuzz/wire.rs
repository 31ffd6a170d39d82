//! Targets of the gossip wire: the Envelope, every GossipMessage kind, and the ConnEstablish
//! of the handshake. Invariants: no panic; a decoded envelope re-encodes to the same message;
//! an alive or ConnEstablish accepted as genuine carries a valid signature by the identity
//! that hashes to its PKI-ID (checked here independently of the code under test).

use std::sync::Arc;

use fabgossip::comm::handshake::verify_conn_establish;
use fabgossip::crypto::ed25519::{
    decode_identity, pki_id_of_identity, verify_signature, verifying_key,
};
use fabgossip::crypto::MessageCryptoService;
use fabgossip::discovery::decode_alive;
use fabgossip::identity::IdentityMapper;
use fabgossip::message::{
    is_channel_restricted, is_org_restricted, is_pull_msg, is_tag_legal, kind_name, pull_msg_type,
    Content, SignedGossipMessage,
};
use fabgossip::node::alive_check::verify_alive;
use fabgossip::proto::gossip::{
    gossip_message, ConnEstablish, Envelope, GossipMessage, PullMsgType,
};
use fabgossip::pull::{block_envelope_digest, identity_envelope_digest, pull_input};
use fabgossip::state::{check_response, McsVerifier, Payload, Source, VerifiedPayload};
use prost::Message;

use super::engine::{Cov, Target};
use super::seeds;

const CHANNEL: &str = "mychannel";

/// Fails unless `signature` over `payload` verifies with the Ed25519 key of `identity` and
/// `identity` hashes to `pki_id`: the independent check of an accepted message.
pub fn assert_genuine(identity: &[u8], pki_id: &[u8], signature: &[u8], payload: &[u8]) {
    let computed = pki_id_of_identity(identity).expect("an accepted identity decodes");
    assert_eq!(
        computed.0, pki_id,
        "accepted a PKI-ID its identity does not hash to"
    );
    let sid = decode_identity(identity).expect("an accepted identity decodes");
    let key = verifying_key(&sid.id_bytes).expect("an accepted identity holds a key");
    assert!(
        verify_signature(&key, signature, payload).is_ok(),
        "accepted a message whose signature does not verify"
    );
}

fn envelope_seeds() -> Vec<Vec<u8>> {
    let mut s = seeds::of_kind("gossip.Envelope");
    s.extend(
        seeds::of_kind("gossip.GossipMessage")
            .iter()
            .map(|m| seeds::wrap(m)),
    );
    s
}

fn run_envelope(data: &[u8], cov: &mut Cov) {
    let sm = match SignedGossipMessage::from_bytes(data) {
        Ok(sm) => sm,
        Err(e) => return cov.error(&e),
    };
    cov.hit(kind_name(&sm.msg));
    if let Err(e) = is_tag_legal(&sm.msg) {
        cov.error(&e);
    }
    cov.hit((
        sm.is_signed(),
        is_channel_restricted(&sm.msg),
        is_org_restricted(&sm.msg),
        is_pull_msg(&sm.msg),
        pull_msg_type(&sm.msg) as i32,
        sm.tag() as i32,
    ));
    let _ = sm.internal_endpoint();
    let again = SignedGossipMessage::from_bytes(&sm.envelope_bytes())
        .expect("a re-encoded envelope decodes");
    assert_eq!(again.msg, sm.msg, "re-encoding changed the message");

    if let Some(Content::AliveMsg(_)) = &sm.msg.content {
        let ctx = seeds::receiver().context();
        let mapper = IdentityMapper::new(ctx.mcs.clone(), &ctx.self_identity).unwrap();
        match verify_alive(&sm.envelope, &ctx, &mapper, |_| true) {
            Ok((alive, bad_secret)) => {
                cov.hit(("alive accepted", bad_secret));
                let identity = mapper
                    .get(&alive.pki_id)
                    .expect("identity of an accepted alive");
                assert_genuine(
                    &identity,
                    &alive.pki_id.0,
                    &sm.envelope.signature,
                    &sm.envelope.payload,
                );
                if let Some(secret) = &alive.envelope.secret_envelope {
                    assert_genuine(
                        &identity,
                        &alive.pki_id.0,
                        &secret.signature,
                        &secret.payload,
                    );
                }
            }
            Err(e) => cov.hit(e.as_str()),
        }
    }
}

pub const ENVELOPE: Target = Target {
    name: "envelope",
    max_len: 16 << 10,
    seeds: envelope_seeds,
    run: run_envelope,
};

/// Every kind, through the code that reads that kind on receipt.
fn run_gossip_message(data: &[u8], cov: &mut Cov) {
    let msg = match GossipMessage::decode(data) {
        Ok(m) => m,
        Err(e) => return cov.error(&e),
    };
    cov.hit(kind_name(&msg));
    let env = Envelope {
        payload: data.to_vec().into(),
        signature: vec![1; 64],
        secret_envelope: None,
    };
    let sm = SignedGossipMessage {
        envelope: env.clone(),
        msg: msg.clone(),
    };
    let crypto = seeds::receiver();
    let mcs: Arc<dyn MessageCryptoService> = crypto.clone();
    let verifier = McsVerifier(mcs.clone());
    let alive = |e: &Envelope, cov: &mut Cov| match decode_alive(e) {
        Ok(f) => cov.hit(("alive", f.identity.is_some(), f.internal_endpoint.is_some())),
        Err(e) => cov.error(&e),
    };
    match &msg.content {
        Some(Content::AliveMsg(_)) => alive(&env, cov),
        Some(Content::MemReq(r)) => {
            if let Some(e) = &r.self_information {
                alive(e, cov);
            }
        }
        Some(Content::MemRes(r)) => {
            for e in r.alive.iter().chain(&r.dead) {
                alive(e, cov);
            }
        }
        Some(Content::DataMsg(d)) => {
            cov.hit(("data digest", block_envelope_digest(&env).is_some()));
            if let Some(p) = &d.payload {
                let payload = Payload::from_proto(p.clone(), Source::Gossip);
                match VerifiedPayload::verify(&verifier, CHANNEL, payload) {
                    Ok(_) => cov.hit("data verified"),
                    Err((_, e)) => cov.error(&e),
                }
            }
        }
        Some(
            Content::Hello(_) | Content::DataDig(_) | Content::DataReq(_) | Content::DataUpdate(_),
        ) => {
            let from = fabgossip::types::PkiId(vec![7; 32]);
            for (ty, ch) in [
                (PullMsgType::BlockMsg, CHANNEL.as_bytes()),
                (PullMsgType::IdentityMsg, &[][..]),
            ] {
                match pull_input(from.clone(), &msg, ty, ch) {
                    Ok(_) => cov.hit(("pull input", ty as i32)),
                    Err(e) => cov.error(&e),
                }
            }
        }
        Some(Content::StateInfo(_)) => match fabgossip::channel::state_info::read_state_info(&sm) {
            Ok(f) => cov.hit(("state info", f.properties.left_channel)),
            Err(e) => cov.error(&e),
        },
        Some(Content::StateSnapshot(s)) => {
            for e in &s.elements {
                match SignedGossipMessage::from_envelope(e.clone()) {
                    Ok(sm) => match fabgossip::channel::state_info::read_state_info(&sm) {
                        Ok(_) => cov.hit("snapshot element"),
                        Err(e) => cov.error(&e),
                    },
                    Err(e) => cov.error(&e),
                }
            }
        }
        Some(Content::StateResponse(r)) => {
            let payloads = r
                .payloads
                .iter()
                .map(|p| Payload::from_proto(p.clone(), Source::StateTransfer))
                .collect();
            for c in check_response(&verifier, CHANNEL, (0, 8), payloads) {
                cov.hit(std::mem::discriminant(&c));
            }
        }
        Some(Content::PeerIdentity(p)) => {
            cov.hit(("identity digest", identity_envelope_digest(&env).is_some()));
            match mcs.validate_identity(&p.cert) {
                Ok(()) => {
                    let pki = mcs
                        .pki_id_of(&p.cert)
                        .expect("a valid identity has a PKI-ID");
                    cov.hit(("identity valid", pki.0 == p.pki_id));
                }
                Err(e) => cov.error(&e),
            }
        }
        Some(Content::Conn(_)) => {
            let ctx = crypto.context();
            match verify_conn_establish(&ctx, &env, false, None) {
                Ok(_) => cov.hit("conn accepted"),
                Err(e) => cov.hit(e.reason.to_string()),
            }
        }
        _ => {}
    }
}

pub const GOSSIP_MESSAGE: Target = Target {
    name: "gossip_message",
    max_len: 16 << 10,
    seeds: || seeds::of_kind("gossip.GossipMessage"),
    run: run_gossip_message,
};

/// A ConnEstablish of the Org2 vector identity, signed, as a second valid seed.
fn conn_seeds() -> Vec<Vec<u8>> {
    let mut s = vec![seeds::named("env_conn_signed").bytes.clone()];
    let peer = fabgossip::crypto::ed25519::Ed25519Crypto::new(
        "Org2MSP".into(),
        seeds::vector_seed("identity_org2_peer0"),
        vec![],
    );
    let identity = peer.serialized_identity();
    let pki = peer.pki_id_of(&identity).unwrap();
    let msg = GossipMessage {
        nonce: 0,
        channel: Vec::new(),
        tag: gossip_message::Tag::Empty as i32,
        content: Some(Content::Conn(ConnEstablish {
            pki_id: pki.0,
            identity,
            tls_cert_hash: fabgossip::comm::tls::cert_hash(b"a TLS certificate"),
            probe: false,
        })),
    };
    let env = SignedGossipMessage::sign(msg, |p| peer.sign(p))
        .unwrap()
        .envelope;
    s.push(env.encode_to_vec());
    s
}

fn run_conn_establish(data: &[u8], cov: &mut Cov) {
    let env = match Envelope::decode(data) {
        Ok(e) => e,
        Err(e) => return cov.error(&e),
    };
    let ctx = seeds::receiver().context();
    for (tls_on, cert) in [
        (false, None),
        (true, None),
        (true, Some(&b"a TLS certificate"[..])),
    ] {
        match verify_conn_establish(&ctx, &env, tls_on, cert) {
            Ok(remote) => {
                cov.hit(("accepted", tls_on, remote.probe));
                assert_genuine(
                    &remote.identity,
                    &remote.pki_id.0,
                    &env.signature,
                    &env.payload,
                );
                if let Some(cert) = cert {
                    let conn = match GossipMessage::decode(env.payload.clone()).unwrap().content {
                        Some(gossip_message::Content::Conn(c)) => c,
                        _ => panic!("accepted a handshake that is not a ConnEstablish"),
                    };
                    assert_eq!(
                        conn.tls_cert_hash,
                        fabgossip::comm::tls::cert_hash(cert),
                        "accepted a handshake bound to another TLS certificate"
                    );
                }
            }
            Err(e) => cov.hit((e.reason.to_string(), tls_on)),
        }
    }
}

pub const CONN_ESTABLISH: Target = Target {
    name: "conn_establish",
    max_len: 4 << 10,
    seeds: conn_seeds,
    run: run_conn_establish,
};
