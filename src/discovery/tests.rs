//! Unit tests of the discovery machine: virtual time, seeded RNG, a signer that does no crypto.

use std::time::{Duration, Instant};

use prost::Message;

use super::alive::{sign_secret, sign_self_alive, SelfAliveParts};
use super::*;
use crate::crypto::CryptoError;
use crate::proto::gossip::{gossip_message, Envelope, GossipMessage};
use crate::types::{PkiId, RemotePeer};

const ORG1: &str = "Org1MSP";
const ORG2: &str = "Org2MSP";

/// A remote peer as tests see it.
#[derive(Clone)]
struct Peer {
    pki: PkiId,
    org: String,
    endpoint: String,
    internal: String,
}

fn peer(n: u8, org: &str, external: bool) -> Peer {
    let internal = format!("10.0.0.{n}:7051");
    Peer {
        pki: PkiId(vec![n; 4]),
        org: org.into(),
        endpoint: if external {
            format!("ext{n}:7051")
        } else {
            String::new()
        },
        internal,
    }
}

fn fake_signer() -> Box<dyn Signer> {
    Box::new(|p: &[u8]| -> Result<Vec<u8>, CryptoError> { Ok(vec![p.len() as u8]) })
}

/// A signed alive of `p` with timestamp (inc, seq), with its secret envelope.
fn alive_of(p: &Peer, inc: u64, seq: u64) -> VerifiedAlive {
    let signer = fake_signer();
    let secret = sign_secret(&p.internal, signer.as_ref()).unwrap();
    let parts = SelfAliveParts {
        pki_id: &p.pki,
        endpoint: &p.endpoint,
        metadata: b"",
        timestamp: PeerTime {
            inc_num: inc,
            seq_num: seq,
        },
        identity: None,
    };
    let env = sign_self_alive(&parts, Some(&secret), signer.as_ref()).unwrap();
    VerifiedAlive::new(env, p.org.clone()).unwrap()
}

fn me_info(org: &str, external: &str) -> SelfInfo {
    SelfInfo {
        pki_id: PkiId(vec![0xEE; 4]),
        org: org.into(),
        endpoint: external.into(),
        internal_endpoint: "10.0.0.254:7051".into(),
        identity: b"my-identity".to_vec(),
        metadata: Vec::new(),
    }
}

struct Fixture {
    d: Discovery,
    t0: Instant,
    now: Instant,
}

impl Fixture {
    fn new(org: &str, external: &str, bootstrap: &[&str]) -> Self {
        Self::with_config(DiscoveryConfig::default(), org, external, bootstrap)
    }

    fn with_config(cfg: DiscoveryConfig, org: &str, external: &str, bootstrap: &[&str]) -> Self {
        let t0 = Instant::now();
        let d = Discovery::new(
            cfg,
            me_info(org, external),
            bootstrap.iter().map(|s| s.to_string()).collect(),
            fake_signer(),
            t0,
            1_000,
            7,
        )
        .unwrap();
        Fixture { d, t0, now: t0 }
    }

    fn at(&mut self, ms: u64) -> Instant {
        self.now = self.t0 + Duration::from_millis(ms);
        self.now
    }

    fn input(&mut self, i: Input) -> Vec<Output> {
        self.d.handle(self.now, i)
    }

    /// Advances virtual time in 100 ms ticks, collecting every output.
    fn run_until(&mut self, ms: u64) -> Vec<Output> {
        let mut out = Vec::new();
        let end = self.t0 + Duration::from_millis(ms);
        while self.now < end {
            self.now = (self.now + Duration::from_millis(100)).min(end);
            out.extend(self.d.handle(self.now, Input::Tick));
        }
        out
    }

    /// Makes `p` known and alive through a pushed alive from itself.
    fn learn(&mut self, p: &Peer, seq: u64) -> Vec<Output> {
        let a = alive_of(p, 100, seq);
        self.input(Input::Alive {
            from: p.pki.clone(),
            alive: a,
        })
    }
}

fn content(env: &Envelope) -> gossip_message::Content {
    GossipMessage::decode(env.payload.clone())
        .unwrap()
        .content
        .unwrap()
}

fn nonce_of(env: &Envelope) -> u64 {
    GossipMessage::decode(env.payload.clone()).unwrap().nonce
}

/// (target, envelope) of every Send.
fn sends(out: &[Output]) -> Vec<(&RemotePeer, &Envelope)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { to, envelope } => Some((to, envelope)),
            _ => None,
        })
        .collect()
}

fn mem_reqs(out: &[Output]) -> Vec<(&RemotePeer, &Envelope)> {
    sends(out)
        .into_iter()
        .filter(|(_, e)| matches!(content(e), gossip_message::Content::MemReq(_)))
        .collect()
}

fn alive_sends(out: &[Output]) -> Vec<(&RemotePeer, AliveFields)> {
    sends(out)
        .into_iter()
        .filter(|(_, e)| matches!(content(e), gossip_message::Content::AliveMsg(_)))
        .map(|(t, e)| (t, decode_alive(e).unwrap()))
        .collect()
}

fn mem_res(
    out: &[Output],
) -> (
    RemotePeer,
    u64,
    Vec<AliveFields>,
    Vec<AliveFields>,
    Vec<Envelope>,
) {
    let (to, env) = sends(out)
        .into_iter()
        .find(|(_, e)| matches!(content(e), gossip_message::Content::MemRes(_)))
        .expect("a membership response");
    let gossip_message::Content::MemRes(r) = content(env) else {
        unreachable!()
    };
    let alive: Vec<_> = r.alive.iter().map(|e| decode_alive(e).unwrap()).collect();
    let dead: Vec<_> = r.dead.iter().map(|e| decode_alive(e).unwrap()).collect();
    let mut all = r.alive.clone();
    all.extend(r.dead.clone());
    (to.clone(), nonce_of(env), alive, dead, all)
}

fn has(out: &[Output], o: &Output) -> bool {
    out.iter().any(|x| x == o)
}

fn probes(out: &[Output]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::Probe { endpoint } => Some(endpoint.clone()),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------- wire

/// Our own alive, membership request and response encode exactly as Fabric's vectors.
#[test]
fn self_alive_and_membership_messages_match_fabric_vectors() {
    use ed25519_dalek::{Signer as _, SigningKey};
    let seed: [u8; 32] =
        hex::decode("241ba616dfb9e26332812ff6c4e1783ff6181d8e42cb2f00f85584968585f2ff")
            .unwrap()
            .try_into()
            .unwrap();
    let key = SigningKey::from_bytes(&seed);
    let signer: Box<dyn Signer> = Box::new(move |p: &[u8]| -> Result<Vec<u8>, CryptoError> {
        Ok(key.sign(p).to_bytes().to_vec())
    });
    let identity = hex::decode(
        "0a074f7267314d53501220fd4234df927a5f1a453c65de62d96774e80fd86388145a9f5a23af3619bac96f",
    )
    .unwrap();
    let pki = PkiId(
        hex::decode("a99507394f08624c16fb3533986112270bdd09a0c55f0b6812e7156832d8fcfe").unwrap(),
    );
    let secret = sign_secret("peer0.org1:7051", signer.as_ref()).unwrap();
    let parts = SelfAliveParts {
        pki_id: &pki,
        endpoint: "peer0.org1.example.com:7051",
        metadata: b"",
        timestamp: PeerTime {
            inc_num: 1_700_000_000_000_000_000,
            seq_num: 7,
        },
        identity: Some(&identity),
    };
    let env = sign_self_alive(&parts, Some(&secret), signer.as_ref()).unwrap();
    let expected_env = "0a800118012a7c0a3f0a1b70656572302e6f7267312e6578616d706c652e636f6d3a373035311a20a99507394f08624c16fb3533986112270bdd09a0c55f0b6812e7156832d8fcfe120c088080a8b1e39fe7cb171007222b0a074f7267314d53501220fd4234df927a5f1a453c65de62d96774e80fd86388145a9f5a23af3619bac96f12407645da49390793e255e2dd06cfa95aa4d8f4ee6e1636dfb1c5cb5dd14c56796b5ba4bfff4df67bf62309fa99a801f6f353bd0ed925722d9c78394d0fcabe97031a550a110a0f70656572302e6f7267313a373035311240b2680085d9bc3f13bc6e1018ed16557e7b33e0d64814dd802883ef2be584c4eaaf10f9aa596fc653300d14fd000d857631b5b27cf25643e95251abad7fc1fc00";
    assert_eq!(hex::encode(env.encode_to_vec()), expected_env);

    let req = membership_msg::mem_req_envelope(42, env.clone());
    assert_eq!(
        hex::encode(&req.payload),
        format!("082a1801329f020a9c02{expected_env}")
    );
    assert!(req.signature.is_empty());
    let res = membership_msg::mem_res_envelope(42, vec![env.clone()], vec![]);
    assert_eq!(
        hex::encode(&res.payload),
        format!("082a18013a9f020a9c02{expected_env}")
    );

    let f = decode_alive(&env).unwrap();
    assert_eq!(f.pki_id, pki);
    assert_eq!(f.endpoint, "peer0.org1.example.com:7051");
    assert_eq!(f.internal_endpoint.as_deref(), Some("peer0.org1:7051"));
    assert_eq!(
        f.timestamp,
        PeerTime {
            inc_num: 1_700_000_000_000_000_000,
            seq_num: 7
        }
    );
    assert_eq!(f.identity, Some(identity));
}

#[test]
fn malformed_alive_envelopes_are_errors() {
    let garbage = Envelope {
        payload: vec![0xff, 0xff, 0xff].into(),
        signature: vec![],
        secret_envelope: None,
    };
    assert!(matches!(decode_alive(&garbage), Err(AliveError::Decode(_))));
    let not_alive = membership_msg::mem_res_envelope(1, vec![], vec![]);
    assert_eq!(decode_alive(&not_alive), Err(AliveError::NotAlive));
    let mut no_pki = alive_of(&peer(1, ORG1, false), 1, 1).envelope;
    let mut msg = GossipMessage::decode(no_pki.payload.clone()).unwrap();
    if let Some(gossip_message::Content::AliveMsg(a)) = &mut msg.content {
        a.membership.as_mut().unwrap().pki_id.clear();
    }
    no_pki.payload = msg.encode_to_vec().into();
    assert_eq!(decode_alive(&no_pki), Err(AliveError::EmptyPkiId));
    let mut bad_secret = alive_of(&peer(1, ORG1, false), 1, 1).envelope;
    bad_secret.secret_envelope.as_mut().unwrap().payload = vec![0x0a, 0x05, 0x01];
    assert!(matches!(
        decode_alive(&bad_secret),
        Err(AliveError::BadSecret(_))
    ));
}

#[test]
fn bad_config_and_self_info_are_errors() {
    let t0 = Instant::now();
    let cfg = DiscoveryConfig {
        alive_time_interval: Duration::ZERO,
        ..Default::default()
    };
    let e = Discovery::new(cfg, me_info(ORG1, ""), vec![], fake_signer(), t0, 1, 1)
        .err()
        .unwrap();
    assert!(matches!(e, DiscoveryError::InvalidConfig(_)), "{e}");
    let cfg = DiscoveryConfig {
        alive_expiration_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    assert!(Discovery::new(cfg, me_info(ORG1, ""), vec![], fake_signer(), t0, 1, 1).is_err());
    let mut me = me_info(ORG1, "");
    me.internal_endpoint = "no-port".into();
    let e = Discovery::new(
        DiscoveryConfig::default(),
        me,
        vec![],
        fake_signer(),
        t0,
        1,
        1,
    )
    .err()
    .unwrap();
    assert!(matches!(e, DiscoveryError::InvalidSelf(_)), "{e}");
    let mut me = me_info(ORG1, "");
    me.pki_id = PkiId(vec![]);
    assert!(Discovery::new(
        DiscoveryConfig::default(),
        me,
        vec![],
        fake_signer(),
        t0,
        1,
        1
    )
    .is_err());
}

#[test]
fn signing_failure_is_counted_and_nothing_is_sent() {
    let t0 = Instant::now();
    let failing: Box<dyn Signer> = Box::new(|_: &[u8]| -> Result<Vec<u8>, CryptoError> {
        Err(CryptoError::Host("hsm down".into()))
    });
    let mut d = Discovery::new(
        DiscoveryConfig::default(),
        me_info(ORG1, ""),
        vec![],
        failing,
        t0,
        1,
        1,
    )
    .unwrap();
    let b = peer(1, ORG1, false);
    let out = d.handle(
        t0,
        Input::Connected {
            pki_id: b.pki.clone(),
            org: ORG1.into(),
            endpoint: b.internal,
        },
    );
    assert!(sends(&out).is_empty());
    assert_eq!(d.counters().sign_failed, 1);
}

// ---------------------------------------------------------------- learning

#[test]
fn membership_is_bounded_new_members_beyond_the_cap_are_refused() {
    let cfg = DiscoveryConfig {
        max_members: 3,
        ..DiscoveryConfig::default()
    };
    let mut f = Fixture::with_config(cfg, ORG1, "", &[]);
    let peers: Vec<_> = (1..=4).map(|i| peer(i, ORG1, false)).collect();
    for p in &peers[..3] {
        f.learn(p, 1);
    }
    let out = f.input(Input::Alive {
        from: peers[0].pki.clone(),
        alive: alive_of(&peers[3], 100, 1),
    });
    assert!(
        f.d.lookup(&peers[3].pki).is_none(),
        "a fourth member was stored"
    );
    assert!(
        alive_sends(&out)
            .iter()
            .all(|(_, a)| a.pki_id != peers[3].pki),
        "a refused alive was forwarded"
    );
    assert_eq!(f.d.counters().members_full, 1);
    // Known members still update while full.
    f.learn(&peers[0], 2);
    assert_eq!(f.d.alive_count(), 3);
}

#[test]
fn alive_from_a_new_peer_is_learned_and_forwarded() {
    let mut f = Fixture::new(ORG1, "", &[]);
    let (b, c, d, e) = (
        peer(1, ORG1, false),
        peer(2, ORG1, false),
        peer(3, ORG1, false),
        peer(4, ORG1, false),
    );
    for p in [&b, &c, &d, &e] {
        f.learn(p, 1);
    }
    assert_eq!(f.d.alive_count(), 4);
    let x = peer(9, ORG1, false);
    let out = f.input(Input::Alive {
        from: b.pki.clone(),
        alive: alive_of(&x, 100, 1),
    });
    assert!(has(&out, &Output::PeerUp(x.pki.clone())));
    let v = f.d.lookup(&x.pki).unwrap();
    assert_eq!(v.liveness, Liveness::Alive);
    assert_eq!(v.internal_endpoint, x.internal);
    assert_eq!(v.org, ORG1);

    let alives = alive_sends(&out);
    let forwarded: Vec<_> = alives.iter().filter(|(_, a)| a.pki_id == x.pki).collect();
    assert_eq!(forwarded.len(), 3, "forwarded to propagatePeerNum peers");
    for (to, _) in &forwarded {
        assert_ne!(to.pki_id, b.pki, "never back to the sender");
        assert_ne!(to.pki_id, x.pki, "never to its subject");
    }
    // X learned of us only through B: we introduce ourselves to it.
    let intro: Vec<_> = alives.iter().filter(|(to, _)| to.pki_id == x.pki).collect();
    assert_eq!(intro.len(), 1);
    assert_eq!(intro[0].1.pki_id, f.d.self_info().pki_id);
    assert_eq!(
        intro[0].0.endpoint, x.internal,
        "same-org peers are reached on their internal endpoint"
    );
}

#[test]
fn membership_response_with_several_members_is_learned() {
    let mut f = Fixture::new(ORG1, "", &[]);
    let peers: Vec<_> = (1..=5).map(|n| peer(n, ORG1, n % 2 == 0)).collect();
    let from = peers[0].pki.clone();
    let dead_peer = peer(7, ORG1, false);
    let out = f.input(Input::MemRes {
        from: from.clone(),
        nonce: 5,
        alive: peers.iter().map(|p| alive_of(p, 100, 3)).collect(),
        dead: vec![alive_of(&dead_peer, 100, 2)],
    });
    assert_eq!(f.d.alive_count(), 5);
    for p in &peers {
        assert!(has(&out, &Output::PeerUp(p.pki.clone())));
        assert_eq!(f.d.lookup(&p.pki).unwrap().endpoint, p.endpoint);
    }
    assert_eq!(f.d.lookup(&dead_peer.pki).unwrap().liveness, Liveness::Dead);
    assert_eq!(f.d.counters().dead_learned, 1);
    // Entries of a response are not forwarded; only our introduction to the 4 others goes out.
    let alives = alive_sends(&out);
    assert!(alives
        .iter()
        .all(|(_, a)| a.pki_id == f.d.self_info().pki_id));
    assert_eq!(alives.len(), 4);
    assert!(alives.iter().all(|(to, _)| to.pki_id != from));
}

#[test]
fn duplicate_and_older_alives_are_ignored_and_not_forwarded() {
    let mut f = Fixture::new(ORG1, "", &[]);
    let (b, c, x) = (
        peer(1, ORG1, false),
        peer(2, ORG1, false),
        peer(9, ORG1, false),
    );
    f.learn(&b, 1);
    f.learn(&c, 1);
    f.input(Input::Alive {
        from: b.pki.clone(),
        alive: alive_of(&x, 100, 5),
    });

    let out = f.input(Input::Alive {
        from: c.pki.clone(),
        alive: alive_of(&x, 100, 5),
    });
    assert!(sends(&out).is_empty(), "duplicate not forwarded: {out:?}");
    let out = f.input(Input::Alive {
        from: c.pki.clone(),
        alive: alive_of(&x, 100, 4),
    });
    assert!(sends(&out).is_empty(), "older not forwarded");
    let out = f.input(Input::Alive {
        from: c.pki.clone(),
        alive: alive_of(&x, 99, 50),
    });
    assert!(sends(&out).is_empty(), "older incarnation not forwarded");
    let c1 = f.d.counters();
    assert_eq!((c1.alive_duplicate, c1.alive_stale), (1, 2));
    assert_eq!(
        f.d.lookup(&x.pki).unwrap().timestamp,
        PeerTime {
            inc_num: 100,
            seq_num: 5
        }
    );

    // A newer one (higher seq, then a new incarnation) updates and is forwarded.
    let out = f.input(Input::Alive {
        from: c.pki.clone(),
        alive: alive_of(&x, 100, 6),
    });
    assert_eq!(
        alive_sends(&out).len(),
        1,
        "forwarded to B (C sent it, X is its subject)"
    );
    let out = f.input(Input::Alive {
        from: c.pki.clone(),
        alive: alive_of(&x, 101, 1),
    });
    assert_eq!(alive_sends(&out).len(), 1);
    assert_eq!(f.d.counters().alive_updated, 2);
}

#[test]
fn news_screen_passes_exactly_the_alives_membership_would_learn() {
    let mut f = Fixture::new(ORG1, "", &[]);
    let (b, x, unknown) = (
        peer(1, ORG1, false),
        peer(9, ORG1, false),
        peer(7, ORG1, false),
    );
    f.learn(&b, 1);
    f.input(Input::Alive {
        from: b.pki.clone(),
        alive: alive_of(&x, 100, 5),
    });
    let ts = |inc_num, seq_num| PeerTime { inc_num, seq_num };
    for (t, news) in [
        (ts(100, 5), false),
        (ts(100, 4), false),
        (ts(99, 50), false),
        (ts(100, 6), true),
        (ts(101, 0), true),
    ] {
        assert_eq!(f.d.alive_is_news(&x.pki, &t), news, "{t:?}");
        let before = f.d.counters();
        let out = f.input(Input::Alive {
            from: b.pki.clone(),
            alive: alive_of(&x, t.inc_num, t.seq_num),
        });
        let learned = f.d.counters().alive_updated > before.alive_updated;
        assert_eq!(
            learned, news,
            "screen and membership disagree on {t:?}: {out:?}"
        );
    }
    assert!(f.d.alive_is_news(&unknown.pki, &ts(1, 1)));
    // About ourselves: verified, so a conflict is only reported for a genuine alive.
    assert!(f.d.alive_is_news(&me_info(ORG1, "").pki_id, &ts(0, 0)));

    assert!(f.d.dead_is_news(&unknown.pki));
    assert!(
        !f.d.dead_is_news(&x.pki),
        "a held peer is not replaced by a dead report"
    );
    assert!(!f.d.dead_is_news(&me_info(ORG1, "").pki_id));
}

#[test]
fn alive_about_ourselves_is_ignored_and_conflicts_counted() {
    let mut f = Fixture::new(ORG1, "", &[]);
    let b = peer(1, ORG1, false);
    f.learn(&b, 1);
    let clone = Peer {
        pki: f.d.self_info().pki_id.clone(),
        org: ORG1.into(),
        endpoint: String::new(),
        internal: "10.9.9.9:1".into(),
    };
    let out = f.input(Input::Alive {
        from: b.pki.clone(),
        alive: alive_of(&clone, 5, 5),
    });
    assert!(sends(&out).is_empty());
    assert!(f.d.lookup(&clone.pki).is_none());
    let c = f.d.counters();
    assert_eq!((c.alive_about_self, c.self_conflict), (1, 1));
}

// ---------------------------------------------------------------- expiration

#[test]
fn silent_peer_expires_and_its_connection_is_closed() {
    let mut f = Fixture::new(ORG1, "", &[]);
    let b = peer(1, ORG1, false);
    f.learn(&b, 1);
    let out = f.run_until(25_000);
    assert!(
        !has(&out, &Output::PeerDead(b.pki.clone())),
        "not dead at exactly 25 s"
    );
    let out = f.run_until(27_600);
    assert!(has(&out, &Output::PeerDead(b.pki.clone())));
    assert!(has(
        &out,
        &Output::CloseConn {
            pki_id: b.pki.clone()
        }
    ));
    assert_eq!(f.d.lookup(&b.pki).unwrap().liveness, Liveness::Dead);
    assert_eq!(f.d.alive_count(), 0);
}

#[test]
fn fresh_alives_keep_a_peer_alive() {
    let mut f = Fixture::new(ORG1, "", &[]);
    let b = peer(1, ORG1, false);
    for (i, t) in (0..60_000).step_by(5_000).enumerate() {
        f.run_until(t);
        f.learn(&b, i as u64 + 1);
    }
    assert_eq!(f.d.lookup(&b.pki).unwrap().liveness, Liveness::Alive);
    assert_eq!(f.d.counters().expired, 0);
}

#[test]
fn presumed_dead_expires_at_once() {
    let mut f = Fixture::new(ORG1, "", &[]);
    let b = peer(1, ORG1, false);
    f.learn(&b, 1);
    let out = f.input(Input::PresumedDead {
        pki_id: b.pki.clone(),
    });
    assert!(has(&out, &Output::PeerDead(b.pki.clone())));
    let out = f.input(Input::PresumedDead {
        pki_id: b.pki.clone(),
    });
    assert!(out.is_empty(), "already dead");
}

#[test]
fn newer_alive_resurrects_a_dead_peer_older_does_not() {
    let mut f = Fixture::new(ORG1, "", &[]);
    let (b, c) = (peer(1, ORG1, false), peer(2, ORG1, false));
    f.learn(&b, 3);
    f.input(Input::PresumedDead {
        pki_id: b.pki.clone(),
    });
    f.learn(&c, 1);

    let out = f.input(Input::Alive {
        from: c.pki.clone(),
        alive: alive_of(&b, 100, 3),
    });
    assert!(out.is_empty(), "same timestamp as when it died: {out:?}");
    assert_eq!(f.d.lookup(&b.pki).unwrap().liveness, Liveness::Dead);

    let out = f.input(Input::Alive {
        from: c.pki.clone(),
        alive: alive_of(&b, 100, 4),
    });
    assert!(has(&out, &Output::PeerUp(b.pki.clone())));
    assert_eq!(f.d.lookup(&b.pki).unwrap().liveness, Liveness::Alive);
    assert_eq!(f.d.counters().resurrected, 1);
}

#[test]
fn dead_peers_are_pinged_and_asked_for_membership_when_they_answer() {
    let mut f = Fixture::new(ORG1, "", &[]);
    let b = peer(1, ORG1, false);
    f.learn(&b, 1);
    f.input(Input::PresumedDead {
        pki_id: b.pki.clone(),
    });
    let out = f.run_until(25_000);
    assert!(has(
        &out,
        &Output::Ping {
            pki_id: b.pki.clone(),
            endpoint: b.internal.clone()
        }
    ));
    let out = f.input(Input::PingResult {
        pki_id: b.pki.clone(),
        ok: false,
    });
    assert!(out.is_empty());
    let out = f.input(Input::PingResult {
        pki_id: b.pki.clone(),
        ok: true,
    });
    let reqs = mem_reqs(&out);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].0.pki_id, b.pki);
}

// ---------------------------------------------------------------- purge

#[test]
fn dead_peer_is_purged_after_expiration_times_factor() {
    let mut f = Fixture::new(ORG1, "", &[]);
    let b = peer(1, ORG1, false);
    f.learn(&b, 1);
    // Dead at ~27.5 s; forgotten when not heard of for 500 s.
    let out = f.run_until(499_000);
    assert!(!has(&out, &Output::PeerPurged(b.pki.clone())));
    let out = f.run_until(503_000);
    assert!(has(&out, &Output::PeerPurged(b.pki.clone())));
    assert!(f.d.lookup(&b.pki).is_none());
    // A purged peer is a new member again.
    let out = f.learn(&b, 2);
    assert!(has(&out, &Output::PeerUp(b.pki.clone())));
}

#[test]
fn bootstrap_and_anchor_peers_are_never_purged() {
    let mut f = Fixture::new(ORG1, "me:7051", &["10.0.0.1:7051"]);
    let (boot, anchor, other) = (
        peer(1, ORG1, false),
        peer(2, ORG2, true),
        peer(3, ORG1, false),
    );
    f.input(Input::Tick);
    f.input(Input::ProbeResult {
        endpoint: boot.internal.clone(),
        result: Ok((boot.pki.clone(), ORG1.into())),
    });
    f.input(Input::AddAnchor {
        endpoint: anchor.endpoint.clone(),
        org: ORG2.into(),
    });
    f.input(Input::ProbeResult {
        endpoint: anchor.endpoint.clone(),
        result: Ok((anchor.pki.clone(), ORG2.into())),
    });
    for p in [&boot, &anchor, &other] {
        f.learn(p, 1);
    }
    let out = f.run_until(1_000_000);
    assert!(has(&out, &Output::PeerPurged(other.pki.clone())));
    assert!(!has(&out, &Output::PeerPurged(boot.pki.clone())));
    assert!(!has(&out, &Output::PeerPurged(anchor.pki.clone())));
    assert_eq!(f.d.lookup(&boot.pki).unwrap().liveness, Liveness::Dead);
    assert_eq!(f.d.lookup(&anchor.pki).unwrap().liveness, Liveness::Dead);
}

#[test]
fn identity_switch_forgets_the_old_pki_id() {
    let mut f = Fixture::new(ORG1, "", &[]);
    let b = peer(1, ORG1, false);
    f.learn(&b, 1);
    let out = f.input(Input::IdentitySwitch {
        old_pki_id: b.pki.clone(),
    });
    assert!(has(&out, &Output::PeerPurged(b.pki.clone())));
    assert!(f.d.lookup(&b.pki).is_none());
}

// ---------------------------------------------------------------- membership requests

#[test]
fn membership_request_is_answered_with_the_view_and_our_alive() {
    let mut f = Fixture::new(ORG1, "", &[]);
    let (b, c, r) = (
        peer(1, ORG1, false),
        peer(2, ORG1, false),
        peer(5, ORG1, false),
    );
    f.learn(&b, 1);
    f.learn(&c, 1);
    f.input(Input::PresumedDead {
        pki_id: c.pki.clone(),
    });
    let out = f.input(Input::MemReq {
        from: r.pki.clone(),
        from_org: ORG1.into(),
        nonce: 77,
        alive: alive_of(&r, 100, 1),
    });
    assert!(
        has(&out, &Output::PeerUp(r.pki.clone())),
        "the requester is learned"
    );
    let (to, nonce, alive, dead, envs) = mem_res(&out);
    assert_eq!(to.pki_id, r.pki);
    assert_eq!(nonce, 77);
    let alive_ids: Vec<_> = alive.iter().map(|a| a.pki_id.clone()).collect();
    assert_eq!(
        alive_ids,
        vec![b.pki.clone(), f.d.self_info().pki_id.clone()]
    );
    assert_eq!(
        dead.iter().map(|a| a.pki_id.clone()).collect::<Vec<_>>(),
        vec![c.pki.clone()]
    );
    assert!(
        envs.iter().all(|e| e.secret_envelope.is_some()),
        "same org keeps internal endpoints"
    );
    let res = sends(&out)
        .into_iter()
        .find(|(_, e)| matches!(content(e), gossip_message::Content::MemRes(_)))
        .unwrap();
    let tag = GossipMessage::decode(res.1.payload.clone()).unwrap().tag;
    assert_eq!(tag, gossip_message::Tag::Empty as i32);
}

#[test]
fn spoofed_membership_request_is_dropped_and_counted() {
    let mut f = Fixture::new(ORG1, "", &[]);
    let (attacker, victim) = (peer(1, ORG1, false), peer(2, ORG1, false));
    let out = f.input(Input::MemReq {
        from: attacker.pki.clone(),
        from_org: ORG1.into(),
        nonce: 1,
        alive: alive_of(&victim, 100, 1),
    });
    assert!(out.is_empty(), "{out:?}");
    assert!(f.d.lookup(&victim.pki).is_none());
    assert_eq!(f.d.counters().mem_req_spoofed, 1);
}

#[test]
fn disclosure_to_a_foreign_requester() {
    // Me: Org1 with an external endpoint. Known: a1 (Org1, internal only), a2 (Org1, external),
    // b1 (Org2, external), c1 (Org3, external).
    let mut f = Fixture::new(ORG1, "me.org1:7051", &[]);
    let (a1, a2, b1, c1) = (
        peer(1, ORG1, false),
        peer(2, ORG1, true),
        peer(3, ORG2, true),
        peer(4, "Org3MSP", true),
    );
    for p in [&a1, &a2, &b1, &c1] {
        f.learn(p, 1);
    }
    let r = peer(9, ORG2, true);
    let out = f.input(Input::MemReq {
        from: r.pki.clone(),
        from_org: ORG2.into(),
        nonce: 3,
        alive: alive_of(&r, 1, 1),
    });
    let (_, _, alive, _, envs) = mem_res(&out);
    let mut ids: Vec<_> = alive.iter().map(|a| a.pki_id.clone()).collect();
    ids.sort();
    let mut expected = vec![
        a2.pki.clone(),
        b1.pki.clone(),
        f.d.self_info().pki_id.clone(),
    ];
    expected.sort();
    assert_eq!(
        ids, expected,
        "no peer without external endpoint, no third org"
    );
    assert!(
        envs.iter().all(|e| e.secret_envelope.is_none()),
        "secrets stripped for a foreign requester"
    );
}

#[test]
fn disclosure_to_a_same_org_requester_excludes_foreign_orgs() {
    let mut f = Fixture::new(ORG1, "me.org1:7051", &[]);
    let (a1, b1) = (peer(1, ORG1, false), peer(3, ORG2, true));
    f.learn(&a1, 1);
    f.learn(&b1, 1);
    let r = peer(9, ORG1, false);
    let out = f.input(Input::MemReq {
        from: r.pki.clone(),
        from_org: ORG1.into(),
        nonce: 3,
        alive: alive_of(&r, 1, 1),
    });
    let (_, _, alive, _, _) = mem_res(&out);
    let ids: Vec<_> = alive.iter().map(|a| a.pki_id.clone()).collect();
    assert!(ids.contains(&a1.pki));
    assert!(
        !ids.contains(&b1.pki),
        "Fabric discloses an alive only to its own org or from mine"
    );
}

#[test]
fn foreign_peer_without_external_endpoint_is_never_disclosed_or_forwarded() {
    let mut f = Fixture::new(ORG1, "me.org1:7051", &[]);
    let r_no_ep = peer(8, ORG2, false);
    let b_hidden = peer(3, ORG2, false);
    let b_ext = peer(4, ORG2, true);
    let a_no_ep = peer(5, ORG1, false);
    f.learn(&b_ext, 1);
    f.learn(&a_no_ep, 1);
    // An Org2 alive without endpoint reaches us (we are not of its org): forwarded to nobody
    // of Org1 without external endpoint, and only to Org2 peers with one.
    let out = f.input(Input::Alive {
        from: b_ext.pki.clone(),
        alive: alive_of(&b_hidden, 1, 1),
    });
    for (to, a) in alive_sends(&out) {
        if a.pki_id == b_hidden.pki {
            assert_ne!(
                to.pki_id, a_no_ep.pki,
                "foreign alive to a peer without external endpoint"
            );
        }
    }
    // A foreign requester without an external endpoint: our alive (with one) is not disclosable
    // to it, so the connection is closed.
    let out = f.input(Input::MemReq {
        from: r_no_ep.pki.clone(),
        from_org: ORG2.into(),
        nonce: 1,
        alive: alive_of(&r_no_ep, 1, 1),
    });
    assert!(has(
        &out,
        &Output::CloseConn {
            pki_id: r_no_ep.pki.clone()
        }
    ));
    assert_eq!(f.d.counters().mem_req_not_disclosable, 1);
}

#[test]
fn our_alive_not_disclosable_closes_the_connection() {
    let mut f = Fixture::new(ORG1, "", &[]); // no external endpoint
    let r = peer(9, ORG2, true);
    let out = f.input(Input::MemReq {
        from: r.pki.clone(),
        from_org: ORG2.into(),
        nonce: 1,
        alive: alive_of(&r, 1, 1),
    });
    assert!(has(
        &out,
        &Output::CloseConn {
            pki_id: r.pki.clone()
        }
    ));
    assert!(mem_res_absent(&out));
}

fn mem_res_absent(out: &[Output]) -> bool {
    sends(out)
        .iter()
        .all(|(_, e)| !matches!(content(e), gossip_message::Content::MemRes(_)))
}

#[test]
fn pushed_alives_strip_the_secret_for_foreign_targets() {
    let mut f = Fixture::new(ORG1, "me.org1:7051", &[]);
    let (a, b) = (peer(1, ORG1, true), peer(2, ORG2, true));
    f.learn(&a, 1);
    f.learn(&b, 1);
    let out = f.run_until(5_000);
    let pushes: Vec<_> = sends(&out)
        .into_iter()
        .filter(|(_, e)| matches!(content(e), gossip_message::Content::AliveMsg(_)))
        .collect();
    assert_eq!(pushes.len(), 2, "own alive pushed to both: {out:?}");
    for (to, e) in pushes {
        assert_eq!(e.secret_envelope.is_some(), to.pki_id == a.pki);
    }
}

#[test]
fn own_alive_carries_identity_only_during_publish_cert_period() {
    let mut f = Fixture::new(ORG1, "", &[]);
    let b = peer(1, ORG1, false);
    f.learn(&b, 1);
    let out = f.run_until(5_000);
    let a = alive_sends(&out)
        .into_iter()
        .find(|(to, _)| to.pki_id == b.pki)
        .unwrap()
        .1;
    assert_eq!(a.identity.as_deref(), Some(&b"my-identity"[..]));
    assert_eq!(a.timestamp.inc_num, 1_000);
    f.learn(&b, 2);
    f.learn(&b, 3);
    let out = f.run_until(15_000);
    let later: Vec<_> = alive_sends(&out)
        .into_iter()
        .filter(|(to, _)| to.pki_id == b.pki)
        .collect();
    assert!(!later.is_empty());
    let last = &later.last().unwrap().1;
    assert_eq!(last.identity, None);
    assert!(last.timestamp.seq_num > a.timestamp.seq_num);
}

#[test]
fn metadata_update_goes_out_with_the_next_alive() {
    let mut f = Fixture::new(ORG1, "", &[]);
    let b = peer(1, ORG1, false);
    f.learn(&b, 1);
    f.d.update_metadata(b"v2".to_vec());
    let out = f.input(Input::MemReq {
        from: b.pki.clone(),
        from_org: ORG1.into(),
        nonce: 1,
        alive: alive_of(&b, 100, 2),
    });
    let (_, _, alive, _, _) = mem_res(&out);
    let own = alive
        .iter()
        .find(|a| a.pki_id == f.d.self_info().pki_id)
        .unwrap();
    assert_eq!(own.metadata, b"v2");
}

#[test]
fn periodic_membership_requests_go_to_random_alive_peers() {
    let mut f = Fixture::new(ORG1, "", &[]);
    let peers: Vec<_> = (1..=6).map(|n| peer(n, ORG1, false)).collect();
    for p in &peers {
        f.learn(p, 1);
    }
    let out = f.run_until(4_000);
    let reqs = mem_reqs(&out);
    assert_eq!(reqs.len(), 3);
    let mut targets: Vec<_> = reqs.iter().map(|(t, _)| t.pki_id.clone()).collect();
    targets.sort();
    targets.dedup();
    assert_eq!(targets.len(), 3, "three distinct peers");
}

// ---------------------------------------------------------------- connections

#[test]
fn membership_request_right_after_connected() {
    let mut f = Fixture::new(ORG1, "", &[]);
    let b = peer(1, ORG1, false);
    let out = f.input(Input::Connected {
        pki_id: b.pki.clone(),
        org: ORG1.into(),
        endpoint: b.internal.clone(),
    });
    let reqs = mem_reqs(&out);
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].0,
        &RemotePeer {
            pki_id: b.pki.clone(),
            endpoint: b.internal.clone()
        }
    );
    let gossip_message::Content::MemReq(req) = content(reqs[0].1) else {
        unreachable!()
    };
    let own = req.self_information.unwrap();
    assert!(
        own.secret_envelope.is_some(),
        "same org gets our internal endpoint"
    );
    assert_eq!(decode_alive(&own).unwrap().pki_id, f.d.self_info().pki_id);

    // Not again while the first request is pending on the same connection...
    f.at(1_000);
    let connected = Input::Connected {
        pki_id: b.pki.clone(),
        org: ORG1.into(),
        endpoint: b.internal.clone(),
    };
    let out = f.input(connected.clone());
    assert!(mem_reqs(&out).is_empty());
    // ...but again when that connection dropped (the request may be lost)...
    f.input(Input::Disconnected {
        pki_id: b.pki.clone(),
    });
    let out = f.input(connected);
    assert_eq!(mem_reqs(&out).len(), 1);
    // ...and not once the peer is known alive.
    f.learn(&b, 1);
    f.at(3_000); // before the periodic request at 4 s
    let out = f.input(Input::Connected {
        pki_id: b.pki.clone(),
        org: ORG1.into(),
        endpoint: b.internal.clone(),
    });
    assert!(mem_reqs(&out).is_empty());
}

#[test]
fn membership_request_to_foreign_peer_has_no_secret() {
    let mut f = Fixture::new(ORG1, "me:7051", &[]);
    let b = peer(1, ORG2, true);
    let out = f.input(Input::Connected {
        pki_id: b.pki.clone(),
        org: ORG2.into(),
        endpoint: b.endpoint.clone(),
    });
    let reqs = mem_reqs(&out);
    let gossip_message::Content::MemReq(req) = content(reqs[0].1) else {
        unreachable!()
    };
    assert!(req.self_information.unwrap().secret_envelope.is_none());
    // Without an external endpoint we would be refused: no request at all.
    let mut f = Fixture::new(ORG1, "", &[]);
    let out = f.input(Input::Connected {
        pki_id: b.pki.clone(),
        org: ORG2.into(),
        endpoint: b.endpoint.clone(),
    });
    assert!(mem_reqs(&out).is_empty());
}

#[test]
fn bootstrap_probe_then_membership_request_then_done() {
    let mut f = Fixture::new(
        ORG1,
        "",
        &["10.0.0.1:7051", "127.0.0.1:7051", "10.0.0.254:7051"],
    );
    let b = peer(1, ORG1, false);
    let out = f.input(Input::Tick);
    assert_eq!(
        probes(&out),
        vec![b.internal.clone()],
        "own endpoints skipped"
    );
    assert_eq!(f.d.counters().connect_to_self, 2);
    let out = f.input(Input::ProbeResult {
        endpoint: b.internal.clone(),
        result: Ok((b.pki.clone(), ORG1.into())),
    });
    let reqs = mem_reqs(&out);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].0.endpoint, b.internal);
    let nonce = nonce_of(reqs[0].1);
    // The connection that carries the request does not trigger a second one.
    let out = f.input(Input::Connected {
        pki_id: b.pki.clone(),
        org: ORG1.into(),
        endpoint: b.internal.clone(),
    });
    assert!(mem_reqs(&out).is_empty());
    let out = f.input(Input::MemRes {
        from: b.pki.clone(),
        nonce,
        alive: vec![alive_of(&b, 1, 1)],
        dead: vec![],
    });
    assert!(has(&out, &Output::PeerUp(b.pki.clone())));
    let out = f.run_until(60_000);
    assert!(probes(&out).is_empty(), "done after the response");
}

#[test]
fn bootstrap_without_response_is_retried() {
    let mut f = Fixture::new(ORG1, "", &["10.0.0.1:7051"]);
    let b = peer(1, ORG1, false);
    f.input(Input::Tick);
    let out = f.input(Input::ProbeResult {
        endpoint: b.internal.clone(),
        result: Ok((b.pki.clone(), ORG1.into())),
    });
    let nonce = nonce_of(mem_reqs(&out)[0].1);
    // The right nonce from another peer does not complete the attempt.
    let stranger = peer(6, ORG1, false);
    f.input(Input::MemRes {
        from: stranger.pki.clone(),
        nonce,
        alive: vec![],
        dead: vec![],
    });
    let out = f.run_until(5_400);
    assert!(probes(&out).is_empty());
    let out = f.run_until(6_000);
    assert_eq!(
        probes(&out),
        vec![b.internal.clone()],
        "re-probed after the response timeout and backoff"
    );
}

#[test]
fn bootstrap_probe_failures_back_off_and_give_up() {
    let cfg = DiscoveryConfig {
        max_connection_attempts: 4,
        ..Default::default()
    };
    let mut f = Fixture::with_config(cfg, ORG1, "", &["10.0.0.1:7051"]);
    let ep = "10.0.0.1:7051".to_string();
    let mut probe_times = Vec::new();
    for step in 0..2_000u64 {
        let now = f.at(step * 100);
        let out = f.input(Input::Tick);
        if !probes(&out).is_empty() {
            probe_times.push(now - f.t0);
            f.input(Input::ProbeResult {
                endpoint: ep.clone(),
                result: Err("connection refused".into()),
            });
        }
    }
    let ms: Vec<_> = probe_times.iter().map(|d| d.as_millis()).collect();
    assert_eq!(
        ms,
        vec![0, 500, 1_500, 3_500],
        "backoff 0.5 s, 1 s, 2 s, then gave up"
    );
    let c = f.d.counters();
    assert_eq!((c.probe_failed, c.connect_gave_up), (4, 1));
}

#[test]
fn bootstrap_probe_rejects_a_foreign_org() {
    let cfg = DiscoveryConfig {
        max_connection_attempts: 3,
        ..Default::default()
    };
    let mut f = Fixture::with_config(cfg, ORG1, "me:1", &["10.0.0.1:7051"]);
    let foreign = peer(1, ORG2, true);
    let mut n_probes = 0;
    for step in 0..1_000u64 {
        f.at(step * 100);
        let out = f.input(Input::Tick);
        assert!(mem_reqs(&out).is_empty());
        if !probes(&out).is_empty() {
            n_probes += 1;
            let out = f.input(Input::ProbeResult {
                endpoint: foreign.internal.clone(),
                result: Ok((foreign.pki.clone(), ORG2.into())),
            });
            assert!(
                mem_reqs(&out).is_empty(),
                "no membership request to a foreign bootstrap peer"
            );
        }
    }
    assert_eq!(
        n_probes, 3,
        "retried up to maxConnectionAttempts, not forever"
    );
    let c = f.d.counters();
    assert_eq!((c.probe_wrong_org, c.connect_gave_up), (3, 1));
}

#[test]
fn probe_that_never_answers_times_out() {
    let mut f = Fixture::new(ORG1, "", &["10.0.0.1:7051"]);
    assert_eq!(probes(&f.input(Input::Tick)).len(), 1);
    let out = f.run_until(15_400);
    assert!(probes(&out).is_empty());
    let out = f.run_until(16_000);
    assert_eq!(
        probes(&out).len(),
        1,
        "re-probed after probe timeout + backoff"
    );
    let out = f.input(Input::ProbeResult {
        endpoint: "nobody:1".into(),
        result: Err("x".into()),
    });
    assert!(out.is_empty());
    assert_eq!(f.d.counters().unexpected_result, 1);
}

#[test]
fn anchor_peers_follow_the_org_rules() {
    // Foreign anchor while we have no external endpoint: skipped.
    let mut f = Fixture::new(ORG1, "", &[]);
    let out = f.input(Input::AddAnchor {
        endpoint: "anchor.org2:7051".into(),
        org: ORG2.into(),
    });
    assert!(probes(&out).is_empty());
    assert_eq!(f.d.counters().anchor_skipped, 1);
    // Own endpoint: skipped.
    let out = f.input(Input::AddAnchor {
        endpoint: "localhost:7051".into(),
        org: ORG1.into(),
    });
    assert!(probes(&out).is_empty());

    // Claimed same-org anchor that turns out foreign: rejected.
    let a = peer(1, ORG2, true);
    let out = f.input(Input::AddAnchor {
        endpoint: a.internal.clone(),
        org: ORG1.into(),
    });
    assert_eq!(probes(&out), vec![a.internal.clone()]);
    let out = f.input(Input::ProbeResult {
        endpoint: a.internal.clone(),
        result: Ok((a.pki.clone(), ORG2.into())),
    });
    assert!(mem_reqs(&out).is_empty());
    assert_eq!(f.d.counters().probe_wrong_org, 1);

    // Foreign anchor with an external endpoint of ours: request without the secret.
    let mut f = Fixture::new(ORG1, "me.org1:7051", &[]);
    let out = f.input(Input::AddAnchor {
        endpoint: a.endpoint.clone(),
        org: ORG2.into(),
    });
    assert_eq!(probes(&out), vec![a.endpoint.clone()]);
    let out = f.input(Input::ProbeResult {
        endpoint: a.endpoint.clone(),
        result: Ok((a.pki.clone(), ORG2.into())),
    });
    let reqs = mem_reqs(&out);
    assert_eq!(reqs.len(), 1);
    let gossip_message::Content::MemReq(req) = content(reqs[0].1) else {
        unreachable!()
    };
    assert!(req.self_information.unwrap().secret_envelope.is_none());
    // Adding it again does not start a second attempt.
    let out = f.input(Input::AddAnchor {
        endpoint: a.endpoint.clone(),
        org: ORG2.into(),
    });
    assert!(probes(&out).is_empty());

    // Same-org anchor: request with the secret.
    let s = peer(2, ORG1, false);
    let out = f.input(Input::AddAnchor {
        endpoint: s.internal.clone(),
        org: ORG1.into(),
    });
    assert_eq!(probes(&out), vec![s.internal.clone()]);
    let out = f.input(Input::ProbeResult {
        endpoint: s.internal.clone(),
        result: Ok((s.pki.clone(), ORG1.into())),
    });
    let gossip_message::Content::MemReq(req) = content(mem_reqs(&out)[0].1) else {
        unreachable!()
    };
    assert!(req.self_information.unwrap().secret_envelope.is_some());
}

#[test]
fn next_deadline_tracks_the_earliest_timer() {
    let mut f = Fixture::new(ORG1, "", &["10.0.0.1:7051"]);
    assert_eq!(f.d.next_deadline(), f.t0, "bootstrap probe is due at once");
    f.input(Input::Tick);
    assert_eq!(
        f.d.next_deadline(),
        f.t0 + Duration::from_millis(2_500),
        "alive check"
    );
}

#[test]
fn discovery_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<Discovery>();
    assert_send::<Input>();
    assert_send::<Output>();
}

#[test]
fn update_keeps_the_org_when_the_new_alive_has_none() {
    let mut f = Fixture::new(ORG1, "", &[]);
    let b = peer(1, ORG1, false);
    f.learn(&b, 1);
    let mut a = alive_of(&b, 100, 2);
    a.org = String::new();
    f.input(Input::Alive {
        from: b.pki.clone(),
        alive: a,
    });
    assert_eq!(f.d.lookup(&b.pki).unwrap().org, ORG1);
}

#[test]
fn without_external_endpoint_foreign_peers_are_not_asked_nor_pinged() {
    let mut f = Fixture::new(ORG1, "", &[]);
    let (a, b) = (peer(1, ORG1, false), peer(2, ORG2, true));
    f.learn(&a, 1);
    f.learn(&b, 1);
    let out = f.run_until(4_000);
    let targets: Vec<_> = mem_reqs(&out)
        .iter()
        .map(|(t, _)| t.pki_id.clone())
        .collect();
    assert_eq!(targets, vec![a.pki.clone()]);
    f.input(Input::PresumedDead {
        pki_id: b.pki.clone(),
    });
    let out = f.run_until(25_000);
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::Ping { pki_id, .. } if *pki_id == b.pki)));
}

#[test]
fn no_alive_is_signed_while_alone() {
    let mut f = Fixture::new(ORG1, "", &[]);
    let out = f.run_until(30_000);
    assert!(sends(&out).is_empty());
    let b = peer(1, ORG1, false);
    f.learn(&b, 1);
    let out = f.run_until(35_000);
    assert_eq!(alive_sends(&out).len(), 1);
}

#[test]
fn internal_endpoint_of_a_foreign_peer_is_dropped_on_receipt() {
    let mut f = Fixture::new(ORG1, "me.org1:7051", &[]);
    let (b, a) = (peer(2, ORG2, true), peer(1, ORG1, true));
    f.learn(&a, 1);
    // A Fabric peer of Org2 sends its membership request with its secret envelope.
    let out = f.input(Input::MemReq {
        from: b.pki.clone(),
        from_org: ORG2.into(),
        nonce: 1,
        alive: alive_of(&b, 1, 1),
    });
    let v = f.d.lookup(&b.pki).unwrap();
    assert_eq!(v.internal_endpoint, "");
    assert_eq!(v.preferred_endpoint(), b.endpoint);
    assert!(f
        .d
        .alive_envelope(&b.pki)
        .unwrap()
        .secret_envelope
        .is_none());
    // Its alive forwarded to our own org carries no secret either.
    let forwarded: Vec<_> = sends(&out)
        .into_iter()
        .filter(|(_, e)| matches!(content(e), gossip_message::Content::AliveMsg(_)))
        .collect();
    assert_eq!(forwarded.len(), 1);
    assert_eq!(forwarded[0].0.pki_id, a.pki);
    assert!(forwarded[0].1.secret_envelope.is_none());
}

#[test]
fn random_bytes_never_panic_and_clock_going_back_is_harmless() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    let good = alive_of(&peer(1, ORG1, false), 1, 1).envelope;
    let mut rejected = 0;
    for _ in 0..2_000 {
        let mut env = good.clone();
        // Flip a few bytes of the payload or the secret, or replace them outright.
        match rng.gen_range(0..3) {
            0 => {
                let i = rng.gen_range(0..env.payload.len());
                let mut payload = env.payload.to_vec();
                payload[i] ^= rng.gen::<u8>() | 1;
                env.payload = payload.into();
            }
            1 => {
                let se = env.secret_envelope.as_mut().unwrap();
                let i = rng.gen_range(0..se.payload.len());
                se.payload[i] ^= rng.gen::<u8>() | 1;
            }
            _ => {
                let n = rng.gen_range(0..64);
                env.payload = (0..n).map(|_| rng.gen()).collect();
            }
        }
        if let Ok(fields) = decode_alive(&env) {
            // Whatever decodes is a usable alive: PKI-ID present.
            assert!(!fields.pki_id.is_empty());
        } else {
            rejected += 1;
        }
    }
    assert!(rejected > 500, "corruption is mostly detected: {rejected}");

    let mut f = Fixture::new(ORG1, "", &["10.0.0.1:7051"]);
    f.run_until(10_000);
    let earlier = f.t0.checked_sub(Duration::from_secs(5)).unwrap_or(f.t0);
    let b = peer(1, ORG1, false);
    f.d.handle(earlier, Input::Tick);
    f.d.handle(
        earlier,
        Input::Alive {
            from: b.pki.clone(),
            alive: alive_of(&b, 1, 1),
        },
    );
    f.d.handle(earlier, Input::PresumedDead { pki_id: b.pki });
    f.run_until(40_000);
}
