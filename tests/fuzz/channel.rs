//! The channel registry (StateInfo) fed random sequences: joins and reconfigurations, leaves,
//! height and chaincode updates, StateInfo messages (genuine, forged, replayed, stale, of
//! channels not joined, raw fuzzed envelopes), pull requests and snapshots, and time.
//! Invariants after each step: no panic; the store of unjoined channels stays under its cap;
//! every peer reported for the channel sent a genuine StateInfo, and the StateInfo held for
//! it verifies with its identity.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use fabgossip::channel::{
    AnchorPeer, ChannelConfig, ChannelSelf, Channels, Input, JoinChannelMessage, MapperVerifier,
    MembershipView, Received,
};
use fabgossip::crypto::ed25519::Ed25519Crypto;
use fabgossip::crypto::{CryptoError, MessageCryptoService};
use fabgossip::discovery::{Liveness, MemberView, PeerTime as DiscTime};
use fabgossip::identity::IdentityMapper;
use fabgossip::message::{
    channel_mac, state_info_msg, state_info_pull_req_msg, state_snapshot_msg, SignedGossipMessage,
};
use fabgossip::proto::gossip::{Chaincode, Envelope, PeerTime, Properties};
use fabgossip::types::PkiId;
use prost::Message;

use super::actors::{self, cast, Spoil};
use super::engine::{Cov, Target};
use super::wire::assert_genuine;

const CHANNEL: &str = "mychannel";
const UNJOINED_MAX: usize = 3;

/// The receiver of this target: Org1MSP, whose channel admits Org1MSP and Org2MSP.
fn receiver() -> &'static Arc<Ed25519Crypto> {
    static C: OnceLock<Arc<Ed25519Crypto>> = OnceLock::new();
    C.get_or_init(|| {
        let c = Ed25519Crypto::new(
            "Org1MSP".into(),
            [0x53; 32],
            vec!["Org1MSP".into(), "Org2MSP".into()],
        );
        c.set_channel_orgs(CHANNEL, vec!["Org1MSP".into(), "Org2MSP".into()]);
        c
    })
}

/// Membership: every trusted peer of the cast, alive.
struct View(BTreeMap<PkiId, MemberView>);

impl View {
    fn new(now: Instant) -> View {
        View(
            cast()
                .iter()
                .take(actors::HONEST)
                .map(|a| {
                    let m = MemberView {
                        pki_id: a.pki.clone(),
                        org: a.org.clone(),
                        endpoint: a.external.clone(),
                        internal_endpoint: a.internal.clone(),
                        metadata: Vec::new(),
                        liveness: Liveness::Alive,
                        last_seen: now,
                        timestamp: DiscTime::default(),
                    };
                    (a.pki.clone(), m)
                })
                .collect(),
        )
    }
}

impl MembershipView for View {
    fn lookup(&self, pki_id: &PkiId) -> Option<MemberView> {
        self.0.get(pki_id).cloned()
    }
    fn alive_members(&self) -> Vec<MemberView> {
        self.0.values().cloned().collect()
    }
}

fn registry(now: Instant) -> (Channels, Arc<IdentityMapper>) {
    let crypto = receiver().clone();
    let ctx = crypto.context();
    let mapper = Arc::new(IdentityMapper::new(ctx.mcs.clone(), &ctx.self_identity).unwrap());
    for a in cast() {
        // The untrusted org's identity is refused here, as the handshake would refuse it.
        let _ = mapper.put(&a.pki, &a.identity);
    }
    let verifier = MapperVerifier {
        mapper: mapper.clone(),
        mcs: ctx.mcs.clone(),
        advisor: ctx.advisor.clone(),
    };
    let signer = Box::new(move |p: &[u8]| -> Result<Vec<u8>, CryptoError> { crypto.sign(p) });
    let cfg = ChannelConfig {
        unjoined_max: UNJOINED_MAX,
        ..ChannelConfig::default()
    };
    let me = ChannelSelf {
        pki_id: ctx.self_pki_id.clone(),
        org: ctx.self_org.clone(),
        endpoint: "peer0.org1:7051".into(),
    };
    let ch = Channels::new(cfg, me, signer, Box::new(verifier), now, 1_000_000, 3).unwrap();
    (ch, mapper)
}

/// The join target's check of a parsed join message: the registry takes or refuses it.
pub fn apply_join(msg: JoinChannelMessage, cov: &mut Cov) {
    let now = Instant::now();
    let (mut ch, _) = registry(now);
    let view = View::new(now);
    match ch.handle(
        now,
        &view,
        Input::Join {
            channel: CHANNEL.into(),
            msg,
        },
    ) {
        Ok(out) => cov.hit(("joined", out.len().min(4))),
        Err(e) => cov.error(&e),
    }
}

fn join_msg(u: &mut Unstructured) -> arbitrary::Result<JoinChannelMessage> {
    let orgs = ["Org1MSP", "Org2MSP", "Org3MSP", ""];
    let mut members = Vec::new();
    for _ in 0..u.int_in_range(0..=3usize)? {
        members.push(orgs[u.int_in_range(0..=3usize)?].to_string());
    }
    let mut anchor_peers = Vec::new();
    for _ in 0..u.int_in_range(0..=2usize)? {
        anchor_peers.push(AnchorPeer {
            org: orgs[u.int_in_range(0..=3usize)?].to_string(),
            host: ["peer0.org2", "", "10.0.0.2"][u.int_in_range(0..=2usize)?].to_string(),
            port: u.arbitrary()?,
        });
    }
    Ok(JoinChannelMessage {
        sequence: u.int_in_range(0..=3u64)?,
        members,
        anchor_peers,
        orderers: Vec::new(),
    })
}

struct Run {
    ch: Channels,
    mapper: Arc<IdentityMapper>,
    view: View,
    now: Instant,
    ts: u64,
    /// PKI-IDs of which a genuine StateInfo of the channel went in.
    delivered: BTreeSet<PkiId>,
}

impl Run {
    /// A StateInfo of cast member `who` (or the ghost) for `channel`, spoiled as asked.
    fn state_info(&mut self, u: &mut Unstructured) -> arbitrary::Result<Envelope> {
        let who = u.int_in_range(0..=6usize)?;
        let channel = if u.ratio(1u8, 5)? { "other" } else { CHANNEL };
        let spoil = Spoil::pick(u);
        self.ts += 1;
        let ts = PeerTime {
            inc_num: 1,
            seq_num: if u.ratio(1u8, 4)? { 1 } else { self.ts },
        };
        let props = Properties {
            ledger_height: u.int_in_range(0..=20u64)?,
            left_channel: u.ratio(1u8, 8)?,
            chaincodes: if u.ratio(1u8, 4)? {
                vec![Chaincode {
                    name: "mycc".into(),
                    version: "1.0".into(),
                    metadata: Vec::new(),
                }]
            } else {
                Vec::new()
            },
        };
        let attacker = &cast()[actors::ATTACKER];
        let (pki, victim) = match cast().get(who) {
            Some(a) => (a.pki.clone(), a),
            None => (actors::ghost(), attacker),
        };
        let signer = match spoil {
            Spoil::ForeignKey | Spoil::WrongIdentity => attacker,
            _ => victim,
        };
        let msg = state_info_msg(&pki, channel.as_bytes(), ts, props);
        let mut env = SignedGossipMessage::sign(msg, |p| signer.crypto.sign(p))
            .unwrap()
            .envelope;
        match spoil {
            Spoil::Signature => env.signature[9] ^= 0x20,
            Spoil::Payload => {
                let mut p = env.payload.to_vec();
                let i = p.len() / 2;
                p[i] ^= 0x04;
                env.payload = p.into();
            }
            _ => {}
        }
        if actors::genuine(who, spoil) && channel == CHANNEL {
            self.delivered.insert(pki);
        }
        Ok(env)
    }

    fn from(&self, u: &mut Unstructured) -> arbitrary::Result<(PkiId, String)> {
        let a = &cast()[u.int_in_range(0..=cast().len() - 1)?];
        Ok((a.pki.clone(), a.org.clone()))
    }

    fn message(&mut self, env: Envelope, u: &mut Unstructured) -> arbitrary::Result<Option<Input>> {
        let (from, from_org) = self.from(u)?;
        Ok(SignedGossipMessage::from_envelope(env).ok().map(|message| {
            Input::Message(Box::new(Received {
                from,
                from_org,
                message,
            }))
        }))
    }

    fn step(&mut self, u: &mut Unstructured, cov: &mut Cov) -> arbitrary::Result<()> {
        let op = u.int_in_range(0..=9u8)?;
        let input = match op {
            0 => {
                self.now += Duration::from_millis(u.int_in_range(0..=20_000u64)?);
                Some(Input::Tick)
            }
            1 => Some(Input::Join {
                channel: if u.ratio(1u8, 6)? { "" } else { CHANNEL }.into(),
                msg: join_msg(u)?,
            }),
            2 if u.ratio(1u8, 4)? => Some(Input::Leave {
                channel: CHANNEL.into(),
            }),
            3 => Some(Input::UpdateLedgerHeight {
                channel: CHANNEL.into(),
                height: u.arbitrary()?,
            }),
            4 => Some(Input::UpdateChaincodes {
                channel: CHANNEL.into(),
                chaincodes: Vec::new(),
            }),
            5 | 6 => {
                let env = self.state_info(u)?;
                self.message(env, u)?
            }
            7 => {
                let mut elements = Vec::new();
                for _ in 0..u.int_in_range(0..=3usize)? {
                    elements.push(self.state_info(u)?);
                }
                let env = SignedGossipMessage::unsigned(state_snapshot_msg(&[], elements)).envelope;
                self.message(env, u)?
            }
            8 => {
                let (pki, _) = self.from(u)?;
                let mac = channel_mac(&pki, CHANNEL.as_bytes());
                let env = SignedGossipMessage::unsigned(state_info_pull_req_msg(mac)).envelope;
                self.message(env, u)?
            }
            _ => {
                let bytes: Vec<u8> = u.arbitrary()?;
                match Envelope::decode(bytes.as_slice()) {
                    Ok(env) => self.message(env, u)?,
                    Err(_) => None,
                }
            }
        };
        let Some(input) = input else {
            return Ok(());
        };
        match self.ch.handle(self.now, &self.view, input) {
            Ok(out) => cov.hit(("out", op, out.len().min(4))),
            Err(e) => cov.error(&e),
        }
        self.check_invariants(cov);
        Ok(())
    }

    fn check_invariants(&self, cov: &mut Cov) {
        assert!(
            self.ch.unjoined_len() <= UNJOINED_MAX,
            "{} StateInfo of unjoined channels held, over the cap",
            self.ch.unjoined_len()
        );
        let peers = self.ch.peers_of_channel(&self.view, CHANNEL);
        cov.hit(("peers", peers.len(), self.ch.is_joined(CHANNEL)));
        for p in peers {
            assert!(
                self.delivered.contains(&p.pki_id),
                "peer {} reported in the channel without a genuine StateInfo",
                p.pki_id
            );
            let identity = self
                .mapper
                .get(&p.pki_id)
                .expect("identity of a channel peer");
            assert_genuine(
                &identity,
                &p.pki_id.0,
                &p.envelope.signature,
                &p.envelope.payload,
            );
        }
    }
}

fn run_channel(data: &[u8], cov: &mut Cov) {
    let mut u = Unstructured::new(data);
    let now = Instant::now();
    let (ch, mapper) = registry(now);
    let mut run = Run {
        ch,
        mapper,
        view: View::new(now),
        now,
        ts: 0,
        delivered: BTreeSet::new(),
    };
    for _ in 0..64 {
        if u.is_empty() || run.step(&mut u, cov).is_err() {
            break;
        }
    }
}

fn channel_seeds() -> Vec<Vec<u8>> {
    vec![
        vec![
            1, 0, 2, 0, 1, 1, 0, 1, 5, 0, 1, 5, 9, 3, 0, 0, 5, 2, 0, 9, 5, 0, 6, 3, 1, 0, 0,
        ],
        vec![
            1, 0, 2, 0, 1, 0, 1, 7, 2, 0, 0, 9, 5, 1, 0, 0, 9, 5, 0, 8, 0, 8, 2, 0, 0, 0, 9, 9,
        ],
        (0..=255u8).rev().collect(),
    ]
}

pub const CHANNEL_TARGET: Target = Target {
    name: "channel",
    max_len: 2048,
    seeds: channel_seeds,
    run: run_channel,
};
