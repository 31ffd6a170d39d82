//! Discovery with the driver's alive check in front of it, fed random event sequences:
//! pushed alives, membership requests and responses (genuine, forged, replayed, stale, of an
//! untrusted org, or raw fuzzed envelopes), connections, probes, pings and time.
//! Invariants after each step: no panic; at most `max_members` members; every member is a
//! peer whose genuine alive was delivered, and the alive held for it verifies with its
//! identity; no member of an untrusted org, no member under a PKI-ID nobody owns.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use fabgossip::crypto::CryptoError;
use fabgossip::discovery::{
    decode_alive, Discovery, DiscoveryConfig, Input, Output, SelfInfo, VerifiedAlive,
};
use fabgossip::identity::IdentityMapper;
use fabgossip::node::alive_check::verify_alive;
use fabgossip::proto::gossip::Envelope;
use fabgossip::types::PkiId;
use prost::Message;

use super::actors::{self, cast, Spoil};
use super::engine::{Cov, Target};
use super::seeds;
use super::wire::assert_genuine;

const MAX_MEMBERS: usize = 4;

struct Run {
    d: Discovery,
    mapper: IdentityMapper,
    ctx: fabgossip::crypto::CryptoContext,
    now: Instant,
    /// PKI-IDs of which a genuine alive went in.
    delivered: BTreeSet<PkiId>,
}

impl Run {
    /// The driver's path: check the alive (screened by `alive_is_news`), then hand it over.
    fn check(&mut self, env: &Envelope, cov: &mut Cov) -> Option<VerifiedAlive> {
        let d = &self.d;
        match verify_alive(env, &self.ctx, &self.mapper, |f| {
            d.alive_is_news(&f.pki_id, &f.timestamp)
        }) {
            Ok((a, bad_secret)) => {
                cov.hit(("alive ok", bad_secret));
                Some(a)
            }
            Err(e) => {
                cov.hit(e.as_str());
                None
            }
        }
    }

    fn made_alive(&mut self, u: &mut Unstructured, cov: &mut Cov) -> Option<VerifiedAlive> {
        let who = u.int_in_range(0..=6usize).ok()?;
        let inc = u.int_in_range(1..=3u64).ok()?;
        let seq = u.int_in_range(0..=6u64).ok()?;
        let with_identity = u.ratio(1u8, 2).ok()?;
        let spoil = Spoil::pick(u);
        if actors::genuine(who, spoil) {
            self.delivered.insert(cast()[who].pki.clone());
        }
        let env = actors::alive(who, inc, seq, with_identity, spoil);
        self.check(&env, cov)
    }

    fn raw_alive(&mut self, u: &mut Unstructured, cov: &mut Cov) -> Option<VerifiedAlive> {
        let bytes: Vec<u8> = u.arbitrary().ok()?;
        match Envelope::decode(bytes.as_slice()) {
            Ok(env) => self.check(&env, cov),
            Err(_) => None,
        }
    }

    fn pki(&self, u: &mut Unstructured) -> PkiId {
        match u.int_in_range(0..=7usize).unwrap_or(0) {
            i if i < cast().len() => cast()[i].pki.clone(),
            6 => actors::ghost(),
            _ => self.ctx.self_pki_id.clone(),
        }
    }

    fn org(&self, u: &mut Unstructured) -> String {
        ["Org1MSP", "Org2MSP", "Org3MSP", ""][u.int_in_range(0..=3usize).unwrap_or(0)].into()
    }

    fn endpoint(&self, u: &mut Unstructured) -> String {
        let eps = [
            "10.0.0.0:7051",
            "10.0.0.2:7051",
            "peer0.example:7051",
            "10.0.0.254:7051",
            "no-port",
            "",
        ];
        eps[u.int_in_range(0..=5usize).unwrap_or(0)].into()
    }

    fn step(&mut self, u: &mut Unstructured, cov: &mut Cov) -> arbitrary::Result<()> {
        let op = u.int_in_range(0..=12u8)?;
        let input = match op {
            0 => {
                self.now += Duration::from_millis(u.int_in_range(0..=30_000u64)?);
                Some(Input::Tick)
            }
            1 | 2 => self.made_alive(u, cov).map(|alive| Input::Alive {
                from: self.pki(u),
                alive,
            }),
            3 => self.raw_alive(u, cov).map(|alive| Input::Alive {
                from: self.pki(u),
                alive,
            }),
            4 => {
                let mut alive = Vec::new();
                let mut dead = Vec::new();
                for _ in 0..u.int_in_range(0..=4usize)? {
                    if let Some(a) = self.made_alive(u, cov) {
                        if u.ratio(1u8, 4)? {
                            dead.push(a)
                        } else {
                            alive.push(a)
                        }
                    }
                }
                Some(Input::MemRes {
                    from: self.pki(u),
                    nonce: u.int_in_range(0..=3u64)?,
                    alive,
                    dead,
                })
            }
            5 => {
                let from = self.pki(u);
                let from_org = self.org(u);
                let nonce = u.arbitrary()?;
                self.made_alive(u, cov).map(|alive| Input::MemReq {
                    from,
                    from_org,
                    nonce,
                    alive,
                })
            }
            6 => Some(Input::Connected {
                pki_id: self.pki(u),
                org: self.org(u),
                endpoint: self.endpoint(u),
            }),
            7 => Some(Input::Disconnected {
                pki_id: self.pki(u),
            }),
            8 => Some(Input::PresumedDead {
                pki_id: self.pki(u),
            }),
            9 => Some(Input::IdentitySwitch {
                old_pki_id: self.pki(u),
            }),
            10 => Some(Input::ProbeResult {
                endpoint: self.endpoint(u),
                result: if u.ratio(1u8, 2)? {
                    Ok((self.pki(u), self.org(u)))
                } else {
                    Err("refused".into())
                },
            }),
            11 => Some(Input::PingResult {
                pki_id: self.pki(u),
                ok: u.arbitrary()?,
            }),
            _ => Some(Input::AddAnchor {
                endpoint: self.endpoint(u),
                org: self.org(u),
            }),
        };
        let Some(input) = input else {
            return Ok(());
        };
        cov.hit(("op", op));
        for out in self.d.handle(self.now, input) {
            cov.hit((
                op,
                match out {
                    Output::Send { .. } => "send",
                    Output::Probe { .. } => "probe",
                    Output::Ping { .. } => "ping",
                    Output::CloseConn { .. } => "close",
                    Output::PeerUp(_) => "up",
                    Output::PeerDead(_) => "dead",
                    Output::PeerPurged(_) => "purged",
                },
            ));
        }
        self.check_invariants(cov);
        Ok(())
    }

    fn check_invariants(&self, cov: &mut Cov) {
        let members = self.d.members();
        assert!(
            members.len() <= MAX_MEMBERS,
            "{} members over the cap of {MAX_MEMBERS}",
            members.len()
        );
        cov.hit(("members", members.len(), self.d.alive_count()));
        for m in &members {
            assert!(
                self.delivered.contains(&m.pki_id),
                "member {} admitted without a genuine alive",
                m.pki_id
            );
            assert_ne!(
                m.pki_id,
                cast()[actors::UNTRUSTED].pki,
                "a member of an untrusted org was admitted"
            );
            let env = self
                .d
                .alive_envelope(&m.pki_id)
                .expect("a member has an alive");
            let f = decode_alive(env).expect("a member's alive decodes");
            assert_eq!(f.pki_id, m.pki_id);
            let identity = self
                .mapper
                .get(&m.pki_id)
                .expect("a member's identity is known");
            assert_genuine(&identity, &m.pki_id.0, &env.signature, &env.payload);
        }
    }
}

fn run_discovery(data: &[u8], cov: &mut Cov) {
    let mut u = Unstructured::new(data);
    let ctx = seeds::receiver().context();
    let mapper = IdentityMapper::new(ctx.mcs.clone(), &ctx.self_identity).unwrap();
    let cfg = DiscoveryConfig {
        max_members: MAX_MEMBERS,
        ..DiscoveryConfig::default()
    };
    let me = SelfInfo {
        pki_id: ctx.self_pki_id.clone(),
        org: ctx.self_org.clone(),
        endpoint: "peer0.org1:7051".into(),
        internal_endpoint: "10.0.0.254:7051".into(),
        identity: ctx.self_identity.clone(),
        metadata: Vec::new(),
    };
    let crypto = seeds::receiver().clone();
    let signer = Box::new(move |p: &[u8]| -> Result<Vec<u8>, CryptoError> {
        use fabgossip::crypto::MessageCryptoService;
        crypto.sign(p)
    });
    let now = Instant::now();
    let bootstrap = vec!["10.0.0.0:7051".into(), "10.0.0.254:7051".into()];
    let d = Discovery::new(cfg, me, bootstrap, signer, now, 1_000, 7).unwrap();
    let mut run = Run {
        d,
        mapper,
        ctx,
        now,
        delivered: BTreeSet::new(),
    };
    for _ in 0..64 {
        if u.is_empty() || run.step(&mut u, cov).is_err() {
            break;
        }
    }
}

/// Byte strings that read as a few useful sequences (genuine alives of each peer, then time).
fn discovery_seeds() -> Vec<Vec<u8>> {
    vec![
        vec![1, 0, 1, 2, 1, 9, 0, 1, 2, 0, 0, 255, 255],
        vec![4, 4, 0, 1, 1, 0, 9, 0, 2, 1, 1, 0, 9, 0, 0, 0, 0, 200, 200],
        vec![
            2, 3, 1, 0, 0, 0, 2, 2, 1, 0, 1, 0, 6, 1, 0, 0, 0, 255, 255, 0, 255,
        ],
        (0..=255u8).collect(),
    ]
}

pub const DISCOVERY: Target = Target {
    name: "discovery",
    max_len: 2048,
    seeds: discovery_seeds,
    run: run_discovery,
};
