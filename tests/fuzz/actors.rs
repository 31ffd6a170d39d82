//! The cast of the state-machine targets: honest peers of trusted orgs, a peer of an
//! untrusted org, and an attacker who signs with its own key what others' PKI-IDs claim.

use std::sync::{Arc, OnceLock};

use arbitrary::Unstructured;
use fabgossip::crypto::ed25519::Ed25519Crypto;
use fabgossip::crypto::MessageCryptoService;
use fabgossip::message::{alive_msg, sign_secret_internal_endpoint, SignedGossipMessage};
use fabgossip::proto::gossip::{Envelope, PeerTime};
use fabgossip::types::PkiId;

pub struct Actor {
    pub crypto: Arc<Ed25519Crypto>,
    pub identity: Vec<u8>,
    pub pki: PkiId,
    pub org: String,
    pub internal: String,
    pub external: String,
}

/// Peers 0..=3 are honest (Org1MSP, Org1MSP, Org2MSP, Org2MSP); 4 is of Org3MSP, which the
/// receiver does not trust; 5 is the attacker (Org1MSP key, but it forges).
pub fn cast() -> &'static [Actor] {
    static C: OnceLock<Vec<Actor>> = OnceLock::new();
    C.get_or_init(|| {
        let orgs = [
            "Org1MSP", "Org1MSP", "Org2MSP", "Org2MSP", "Org3MSP", "Org1MSP",
        ];
        orgs.iter()
            .enumerate()
            .map(|(i, org)| {
                let crypto = Ed25519Crypto::new(org.to_string(), [0x60 + i as u8; 32], vec![]);
                let identity = crypto.serialized_identity();
                let pki = crypto.pki_id_of(&identity).unwrap();
                Actor {
                    crypto,
                    identity,
                    pki,
                    org: org.to_string(),
                    internal: format!("10.0.0.{i}:7051"),
                    external: if i % 2 == 0 {
                        format!("peer{i}.example:7051")
                    } else {
                        String::new()
                    },
                }
            })
            .collect()
    })
}

pub const HONEST: usize = 4;
pub const UNTRUSTED: usize = 4;
pub const ATTACKER: usize = 5;

/// A PKI-ID nobody owns: what a forger may claim.
pub fn ghost() -> PkiId {
    PkiId(vec![0x6f; 32])
}

/// How an alive is spoiled, if at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Spoil {
    None,
    /// Signed by the attacker while naming the victim's PKI-ID (and identity, if carried).
    ForeignKey,
    /// A bit of the signature flipped.
    Signature,
    /// A payload byte changed after signing.
    Payload,
    /// The attacker's identity carried under the victim's PKI-ID.
    WrongIdentity,
    /// The secret envelope's signature spoiled, the payload's intact.
    Secret,
}

impl Spoil {
    pub fn pick(u: &mut Unstructured) -> Spoil {
        match u.int_in_range(0..=9u8).unwrap_or(0) {
            0 => Spoil::ForeignKey,
            1 => Spoil::Signature,
            2 => Spoil::Payload,
            3 => Spoil::WrongIdentity,
            4 => Spoil::Secret,
            _ => Spoil::None,
        }
    }
}

/// An alive of `who` (an index into the cast, or the ghost for an out-of-range index),
/// signed as `spoil` says.
pub fn alive(who: usize, inc: u64, seq: u64, with_identity: bool, spoil: Spoil) -> Envelope {
    let cast = cast();
    let attacker = &cast[ATTACKER];
    let (pki, victim) = match cast.get(who) {
        Some(a) => (a.pki.clone(), a),
        None => (ghost(), attacker),
    };
    let identity = match spoil {
        Spoil::WrongIdentity => Some(attacker.identity.as_slice()),
        _ => with_identity.then_some(victim.identity.as_slice()),
    };
    let msg = alive_msg(
        &victim.external,
        b"",
        &pki,
        PeerTime {
            inc_num: inc,
            seq_num: seq,
        },
        identity,
    );
    let signer = match spoil {
        Spoil::ForeignKey | Spoil::WrongIdentity => attacker,
        _ => victim,
    };
    let mut env = SignedGossipMessage::sign(msg, |p| signer.crypto.sign(p))
        .unwrap()
        .envelope;
    sign_secret_internal_endpoint(&mut env, &victim.internal, |p| signer.crypto.sign(p)).unwrap();
    match spoil {
        Spoil::Signature => env.signature[7] ^= 0x10,
        Spoil::Payload => {
            let mut p = env.payload.to_vec();
            let last = p.len() - 1;
            p[last] ^= 1;
            env.payload = p.into();
        }
        Spoil::Secret => {
            if let Some(s) = env.secret_envelope.as_mut() {
                s.signature[3] ^= 0x01;
            }
        }
        _ => {}
    }
    env
}

/// Whether the alive is genuine: signed by the owner of the PKI-ID it names, of a trusted
/// org. The attacker's forgeries of itself are genuine too: it signs its own alive.
pub fn genuine(who: usize, spoil: Spoil) -> bool {
    match who {
        ATTACKER => !matches!(spoil, Spoil::Signature | Spoil::Payload),
        w if w < HONEST => matches!(spoil, Spoil::None | Spoil::Secret),
        _ => false,
    }
}
