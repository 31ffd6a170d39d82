//! Unit tests of the channel registry, and a small in-memory network of registries.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::*;
use crate::crypto::ed25519::Ed25519Crypto;
use crate::crypto::{CryptoError, MessageCryptoService};
use crate::discovery::{Liveness, MemberView, PeerTime as DiscTime};
use crate::message::{
    channel_mac, state_info_msg, state_info_pull_req_msg, Content, SignedGossipMessage,
};
use crate::proto::gossip::{Chaincode, Envelope, PeerTime, Properties};
use crate::types::{OrgId, PkiId};

const T0_NS: u64 = 1_000_000_000_000;

/// A test identity: built-in Ed25519 crypto from a seed derived from a label.
#[derive(Clone)]
struct Peer {
    crypto: Arc<Ed25519Crypto>,
    pki: PkiId,
    org: OrgId,
    endpoint: String,
    internal: String,
}

fn peer(org: &str, i: u16, external: bool) -> Peer {
    let seed: [u8; 32] = Sha256::digest(format!("{org}/{i}").as_bytes()).into();
    let crypto = Ed25519Crypto::new(org.to_string(), seed, vec![]);
    let pki = crypto.pki_id_of(&crypto.serialized_identity()).unwrap();
    let internal = format!("{}.{org}:{}", i, 7000 + i);
    Peer {
        crypto,
        pki,
        org: org.to_string(),
        endpoint: if external {
            internal.clone()
        } else {
            String::new()
        },
        internal,
    }
}

fn member(p: &Peer, now: Instant) -> MemberView {
    MemberView {
        pki_id: p.pki.clone(),
        org: p.org.clone(),
        endpoint: p.endpoint.clone(),
        internal_endpoint: p.internal.clone(),
        metadata: vec![],
        liveness: Liveness::Alive,
        last_seen: now,
        timestamp: DiscTime::default(),
    }
}

/// Membership as a plain map.
#[derive(Default, Clone)]
struct View(BTreeMap<PkiId, MemberView>);

impl View {
    fn of(peers: &[&Peer], now: Instant) -> View {
        View(
            peers
                .iter()
                .map(|p| (p.pki.clone(), member(p, now)))
                .collect(),
        )
    }
    fn set_dead(&mut self, p: &Peer) {
        self.0.get_mut(&p.pki).unwrap().liveness = Liveness::Dead;
    }
}

impl MembershipView for View {
    fn lookup(&self, pki_id: &PkiId) -> Option<MemberView> {
        self.0.get(pki_id).cloned()
    }
    fn alive_members(&self) -> Vec<MemberView> {
        self.0
            .values()
            .filter(|m| m.liveness == Liveness::Alive)
            .cloned()
            .collect()
    }
}

/// Identity mapper + `verify_by_channel` of the verifying peer's crypto.
struct Verifier {
    ids: BTreeMap<PkiId, (OrgId, Vec<u8>)>,
    mcs: Arc<Ed25519Crypto>,
}

impl StateInfoVerifier for Verifier {
    fn org_of(&self, pki_id: &PkiId) -> Option<OrgId> {
        self.ids.get(pki_id).map(|(o, _)| o.clone())
    }
    fn verify(
        &self,
        channel: Option<&str>,
        pki_id: &PkiId,
        signature: &[u8],
        payload: &[u8],
    ) -> Result<(), CryptoError> {
        let (_, id) = self
            .ids
            .get(pki_id)
            .ok_or_else(|| CryptoError::MalformedIdentity("unknown PKI-ID".into()))?;
        match channel {
            Some(ch) => self.mcs.verify_by_channel(ch, id, signature, payload),
            None => self.mcs.verify(id, signature, payload),
        }
    }
}

fn registry(me: &Peer, known: &[&Peer], now: Instant, seed: u64) -> Channels {
    registry_with(ChannelConfig::default(), me, known, now, seed)
}

fn registry_with(
    cfg: ChannelConfig,
    me: &Peer,
    known: &[&Peer],
    now: Instant,
    seed: u64,
) -> Channels {
    let ids = known
        .iter()
        .chain(std::iter::once(&me))
        .map(|p| {
            (
                p.pki.clone(),
                (p.org.clone(), p.crypto.serialized_identity()),
            )
        })
        .collect();
    let c = me.crypto.clone();
    Channels::new(
        cfg,
        ChannelSelf {
            pki_id: me.pki.clone(),
            org: me.org.clone(),
            endpoint: me.endpoint.clone(),
        },
        Box::new(move |p: &[u8]| c.sign(p)),
        Box::new(Verifier {
            ids,
            mcs: me.crypto.clone(),
        }),
        now,
        T0_NS,
        seed,
    )
    .unwrap()
}

fn join_msg(seq: u64, orgs: &[&str]) -> JoinChannelMessage {
    JoinChannelMessage {
        sequence: seq,
        members: orgs.iter().map(|o| o.to_string()).collect(),
        anchor_peers: vec![],
        orderers: vec![],
    }
}

/// Joins, telling the peer's crypto the channel's orgs (its `verify_by_channel` needs them).
fn join(
    r: &mut Channels,
    me: &Peer,
    now: Instant,
    view: &View,
    ch: &str,
    seq: u64,
    orgs: &[&str],
) -> Vec<Output> {
    me.crypto
        .set_channel_orgs(ch, orgs.iter().map(|o| o.to_string()).collect());
    r.handle(
        now,
        view,
        Input::Join {
            channel: ch.into(),
            msg: join_msg(seq, orgs),
        },
    )
    .unwrap()
}

/// The decoded messages sent, with their targets.
fn sends(out: &[Output]) -> Vec<(PkiId, SignedGossipMessage)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { to, envelope } => Some((
                to.pki_id.clone(),
                SignedGossipMessage::from_envelope(envelope.clone()).unwrap(),
            )),
            _ => None,
        })
        .collect()
}

fn state_infos(out: &[Output]) -> Vec<(PkiId, crate::proto::gossip::StateInfo)> {
    sends(out)
        .into_iter()
        .filter_map(|(to, sm)| match sm.msg.content {
            Some(Content::StateInfo(si)) => Some((to, si)),
            _ => None,
        })
        .collect()
}

/// A StateInfo signed by `p` for `channel`.
fn signed_si(
    p: &Peer,
    channel: &str,
    inc: u64,
    seq: u64,
    height: u64,
    left: bool,
) -> SignedGossipMessage {
    let msg = state_info_msg(
        &p.pki,
        channel.as_bytes(),
        PeerTime {
            inc_num: inc,
            seq_num: seq,
        },
        Properties {
            ledger_height: height,
            left_channel: left,
            chaincodes: vec![],
        },
    );
    SignedGossipMessage::sign(msg, |b| p.crypto.sign(b)).unwrap()
}

fn recv(from: &Peer, message: SignedGossipMessage) -> Input {
    Input::Message(Box::new(Received {
        from: from.pki.clone(),
        from_org: from.org.clone(),
        message,
    }))
}

// -------------------------------------------------------------------------------------------

#[test]
fn join_creates_channel_with_initial_state_info_and_anchors() {
    let t0 = Instant::now();
    let me = peer("Org1MSP", 0, true);
    let mut r = registry(&me, &[], t0, 1);
    let msg = JoinChannelMessage {
        sequence: 1,
        members: vec!["Org1MSP".into(), "Org2MSP".into()],
        anchor_peers: vec![
            AnchorPeer {
                org: "Org2MSP".into(),
                host: "peer0.org2".into(),
                port: 9051,
            },
            AnchorPeer {
                org: "Org2MSP".into(),
                host: "::1".into(),
                port: 9052,
            },
            AnchorPeer {
                org: "Org2MSP".into(),
                host: "".into(),
                port: 9053,
            },
        ],
        orderers: vec![],
    };
    me.crypto.set_channel_orgs("ch", msg.members.clone());
    let out = r
        .handle(
            t0,
            &View::default(),
            Input::Join {
                channel: "ch".into(),
                msg,
            },
        )
        .unwrap();
    assert_eq!(
        out,
        vec![
            Output::AddAnchor {
                endpoint: "peer0.org2:9051".into(),
                org: "Org2MSP".into()
            },
            Output::AddAnchor {
                endpoint: "[::1]:9052".into(),
                org: "Org2MSP".into()
            },
        ]
    );
    assert_eq!(r.counters().anchor_invalid, 1);
    assert!(r.is_joined("ch"));
    assert_eq!(r.sequence("ch"), Some(1));
    assert_eq!(r.ledger_height("ch"), Some(1));

    let own = r.own_state_info("ch").unwrap();
    assert_eq!(own.tag(), crate::message::Tag::ChanOrOrg);
    assert!(
        own.msg.channel.is_empty(),
        "StateInfo names its channel by MAC only"
    );
    let Some(Content::StateInfo(si)) = &own.msg.content else {
        panic!("not a StateInfo")
    };
    assert_eq!(si.channel_mac, channel_mac(&me.pki, b"ch"));
    assert_eq!(si.pki_id, me.pki.0);
    let ts = si.timestamp.unwrap();
    assert_eq!((ts.inc_num, ts.seq_num), (T0_NS, T0_NS));
    assert_eq!(si.properties.as_ref().unwrap().ledger_height, 1);
    own.verify(|p, s| me.crypto.verify(&me.crypto.serialized_identity(), s, p))
        .unwrap();
    assert_eq!(r.channel_of_mac(&me.pki, &si.channel_mac), Some("ch"));
}

#[test]
fn bad_join_messages_are_refused() {
    let t0 = Instant::now();
    let me = peer("Org1MSP", 0, true);
    let mut r = registry(&me, &[], t0, 1);
    let v = View::default();
    let mut j = |ch: &str, orgs: &[&str]| {
        r.handle(
            t0,
            &v,
            Input::Join {
                channel: ch.into(),
                msg: join_msg(1, orgs),
            },
        )
    };
    assert!(matches!(
        j("", &["Org1MSP"]),
        Err(ChannelError::InvalidJoin { .. })
    ));
    assert!(matches!(
        j("ch", &[]),
        Err(ChannelError::InvalidJoin { .. })
    ));
    assert!(matches!(
        j("ch", &["Org2MSP"]),
        Err(ChannelError::NotInChannel { .. })
    ));
    assert!(!r.is_joined("ch"));
    assert_eq!(r.counters().join_invalid, 3);
    assert_eq!(
        r.handle(
            t0,
            &v,
            Input::UpdateLedgerHeight {
                channel: "nope".into(),
                height: 3
            }
        ),
        Err(ChannelError::UnknownChannel("nope".into()))
    );
}

#[test]
fn older_sequence_is_ignored_newer_reconfigures_and_revalidates() {
    let t0 = Instant::now();
    let me = peer("Org1MSP", 0, true);
    let p2 = peer("Org2MSP", 1, true);
    let view = View::of(&[&p2], t0);
    let mut r = registry(&me, &[&p2], t0, 1);
    join(&mut r, &me, t0, &view, "ch", 5, &["Org1MSP", "Org2MSP"]);
    r.handle(t0, &view, recv(&p2, signed_si(&p2, "ch", 10, 1, 3, false)))
        .unwrap();
    assert!(r.state_info("ch", &p2.pki).is_some());
    assert_eq!(r.peers_of_channel(&view, "ch").len(), 1);

    // Older config: nothing changes.
    join(&mut r, &me, t0, &view, "ch", 4, &["Org1MSP"]);
    assert_eq!(r.counters().join_stale, 1);
    assert_eq!(r.sequence("ch"), Some(5));
    assert_eq!(
        r.member_orgs("ch").unwrap(),
        vec!["Org1MSP".to_string(), "Org2MSP".to_string()]
    );
    assert!(r.state_info("ch", &p2.pki).is_some());

    // Newer config without Org2: its StateInfo is dropped, its new ones refused.
    join(&mut r, &me, t0, &view, "ch", 6, &["Org1MSP"]);
    assert_eq!(r.sequence("ch"), Some(6));
    assert_eq!(r.member_orgs("ch").unwrap(), vec!["Org1MSP".to_string()]);
    assert!(r.state_info("ch", &p2.pki).is_none());
    assert!(r.state_info("ch", &me.pki).is_some(), "own entry stays");
    assert_eq!(r.counters().revalidation_dropped, 1);
    assert_eq!(r.counters().reconfigured, 1);
    assert!(r.peers_of_channel(&view, "ch").is_empty());
    r.handle(t0, &view, recv(&p2, signed_si(&p2, "ch", 10, 2, 3, false)))
        .unwrap();
    assert_eq!(r.counters().sender_not_in_channel, 1);
    assert!(r.state_info("ch", &p2.pki).is_none());

    // A newer config without our own org is refused; the current one stays.
    me.crypto.set_channel_orgs("ch", vec!["Org2MSP".into()]);
    let res = r.handle(
        t0,
        &view,
        Input::Join {
            channel: "ch".into(),
            msg: join_msg(7, &["Org2MSP"]),
        },
    );
    assert!(matches!(res, Err(ChannelError::NotInChannel { .. })));
    assert_eq!(r.sequence("ch"), Some(6));
    // An older one without our org is only stale.
    join(&mut r, &me, t0, &view, "ch", 2, &["Org2MSP"]);
    assert_eq!(r.counters().join_stale, 2);
    assert_eq!(r.counters().join_invalid, 1);
}

#[test]
fn a_failing_signer_is_counted_and_retried() {
    use std::sync::atomic::{AtomicU32, Ordering};
    let t0 = Instant::now();
    let me = peer("Org1MSP", 0, true);
    let p1 = peer("Org1MSP", 1, true);
    let view = View::of(&[&p1], t0);
    let failures = Arc::new(AtomicU32::new(2));
    let (c, f) = (me.crypto.clone(), failures.clone());
    let signer = move |p: &[u8]| {
        if f.load(Ordering::SeqCst) > 0 {
            f.fetch_sub(1, Ordering::SeqCst);
            return Err(CryptoError::Host("HSM offline".into()));
        }
        c.sign(p)
    };
    let mut r = Channels::new(
        ChannelConfig::default(),
        ChannelSelf {
            pki_id: me.pki.clone(),
            org: me.org.clone(),
            endpoint: me.endpoint.clone(),
        },
        Box::new(signer),
        Box::new(Verifier {
            ids: BTreeMap::new(),
            mcs: me.crypto.clone(),
        }),
        t0,
        T0_NS,
        1,
    )
    .unwrap();
    // Creation and the immediate publish round both fail: nothing sent, no panic.
    let out = join(&mut r, &me, t0, &view, "ch", 1, &["Org1MSP"]);
    assert!(state_infos(&out).is_empty());
    assert!(r.own_state_info("ch").is_none());
    assert_eq!(r.counters().sign_failed, 2);
    // The next round signs and publishes.
    let out = r
        .handle(t0 + Duration::from_secs(4), &view, Input::Tick)
        .unwrap();
    assert_eq!(state_infos(&out).len(), 1);
    assert!(r.own_state_info("ch").is_some());
}

#[test]
fn registry_can_move_to_a_driver_thread() {
    fn is_send<T: Send>() {}
    is_send::<Channels>();
}

#[test]
fn state_info_is_published_only_when_changed() {
    let t0 = Instant::now();
    let me = peer("Org1MSP", 0, true);
    let p1 = peer("Org1MSP", 1, true);
    let mut view = View::default();
    let mut r = registry(&me, &[&p1], t0, 1);
    // Nobody to tell: the first StateInfo waits.
    let out = join(&mut r, &me, t0, &view, "ch", 1, &["Org1MSP"]);
    assert!(state_infos(&out).is_empty());
    assert_eq!(r.counters().state_info_published, 0);

    view = View::of(&[&p1], t0);
    let t1 = t0 + Duration::from_secs(4);
    let out = r.handle(t1, &view, Input::Tick).unwrap();
    let si = state_infos(&out);
    assert_eq!(si.len(), 1);
    assert_eq!(si[0].0, p1.pki);
    assert_eq!(si[0].1.properties.as_ref().unwrap().ledger_height, 1);

    // Unchanged: nothing on the next rounds (pull requests still go out).
    let t2 = t1 + Duration::from_secs(4);
    let out = r.handle(t2, &view, Input::Tick).unwrap();
    assert!(state_infos(&out).is_empty());
    assert!(!sends(&out).is_empty(), "the pull request goes out");

    // A new height waits for the publish round, then goes out once.
    let seq_before = r
        .state_info("ch", &me.pki)
        .unwrap()
        .fields
        .timestamp
        .seq_num;
    let out = r
        .handle(
            t2 + Duration::from_secs(1),
            &view,
            Input::UpdateLedgerHeight {
                channel: "ch".into(),
                height: 7,
            },
        )
        .unwrap();
    assert!(state_infos(&out).is_empty());
    assert_eq!(r.ledger_height("ch"), Some(7));
    // Not signed per height change: the stored own StateInfo still says 1 until it is
    // published or pulled.
    let stored = |r: &Channels| {
        r.state_info("ch", &me.pki)
            .unwrap()
            .fields
            .properties
            .ledger_height
    };
    assert_eq!(stored(&r), 1);
    let t3 = t2 + Duration::from_secs(4);
    let si = state_infos(&r.handle(t3, &view, Input::Tick).unwrap());
    assert_eq!(si.len(), 1);
    assert_eq!(si[0].1.properties.as_ref().unwrap().ledger_height, 7);
    let ts = si[0].1.timestamp.unwrap();
    assert_eq!(ts.inc_num, T0_NS);
    assert!(ts.seq_num > seq_before);
    assert_eq!(
        ts.seq_num,
        T0_NS + 12_000_000_000,
        "seq = wall clock in ns when signed"
    );
    assert_eq!(stored(&r), 7);

    // The same height again is no change.
    r.handle(
        t3,
        &view,
        Input::UpdateLedgerHeight {
            channel: "ch".into(),
            height: 7,
        },
    )
    .unwrap();
    let si = state_infos(
        &r.handle(t3 + Duration::from_secs(4), &view, Input::Tick)
            .unwrap(),
    );
    assert!(si.is_empty());
    assert_eq!(r.counters().state_info_published, 2);
}

#[test]
fn a_pull_between_rounds_gets_the_current_height() {
    let t0 = Instant::now();
    let me = peer("Org1MSP", 0, true);
    let p1 = peer("Org1MSP", 1, true);
    let view = View::of(&[&p1], t0);
    let mut r = registry(&me, &[&p1], t0, 1);
    join(&mut r, &me, t0, &view, "ch", 1, &["Org1MSP"]);
    let t1 = t0 + Duration::from_secs(1);
    r.handle(
        t1,
        &view,
        Input::UpdateLedgerHeight {
            channel: "ch".into(),
            height: 42,
        },
    )
    .unwrap();
    let req =
        SignedGossipMessage::sign(state_info_pull_req_msg(channel_mac(&p1.pki, b"ch")), |b| {
            p1.crypto.sign(b)
        })
        .unwrap();
    let out = r.handle(t1, &view, recv(&p1, req)).unwrap();
    let heights: Vec<u64> = sends(&out)
        .iter()
        .flat_map(|(_, sm)| carried_state_infos(sm))
        .filter(|si| si.pki_id == me.pki.0)
        .map(|si| si.properties.unwrap().ledger_height)
        .collect();
    assert_eq!(heights, vec![42], "the snapshot carries the new height");
}

#[test]
fn update_chaincodes_publishes_at_once() {
    let t0 = Instant::now();
    let me = peer("Org1MSP", 0, true);
    let p1 = peer("Org1MSP", 1, true);
    let view = View::of(&[&p1], t0);
    let mut r = registry(&me, &[&p1], t0, 1);
    join(&mut r, &me, t0, &view, "ch", 1, &["Org1MSP"]);
    let t1 = t0 + Duration::from_millis(10);
    let out = r
        .handle(
            t1,
            &view,
            Input::UpdateChaincodes {
                channel: "ch".into(),
                chaincodes: vec![Chaincode {
                    name: "basic".into(),
                    version: "1.0".into(),
                    metadata: vec![],
                }],
            },
        )
        .unwrap();
    let si = state_infos(&out);
    assert_eq!(si.len(), 1);
    let props = si[0].1.properties.clone().unwrap();
    assert_eq!(props.chaincodes[0].name, "basic");
    assert_eq!(si[0].1.timestamp.unwrap().seq_num, T0_NS + 10_000_000);
}

#[test]
fn own_state_info_matches_the_fabric_wire_vector() {
    // Same inputs as Fabric's vector: identity_org1_peer0, channel "mychannel",
    // timestamp {1700000000000000000, 7}, height 6, chaincode basic 1.0.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fabric-wire-vectors.json"
    ))
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let find = |name: &str| {
        json["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap()
            .clone()
    };
    let id = find("identity_org1_peer0");
    let seed: [u8; 32] = hex::decode(id["extra"]["ed25519_seed_hex"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let crypto = Ed25519Crypto::new("Org1MSP".into(), seed, vec![]);
    let pki = crypto.pki_id_of(&crypto.serialized_identity()).unwrap();
    let expected = hex::decode(find("env_state_info_signed")["hex"].as_str().unwrap()).unwrap();

    let t0 = Instant::now();
    let signer = move |p: &[u8]| crypto.sign(p);
    let mut ch = super::gossip_channel::GossipChannel::new(
        "mychannel",
        &join_msg(1, &["Org1MSP"]),
        1_700_000_000_000_000_000,
        t0,
        t0,
        t0,
    );
    let org: OrgId = "Org1MSP".into();
    ch.sign_own(&pki, &org, t0, 5, &signer).unwrap();
    assert!(ch.set_ledger_height(6));
    ch.sign_own(&pki, &org, t0, 6, &signer).unwrap();
    ch.set_chaincodes(vec![Chaincode {
        name: "basic".into(),
        version: "1.0".into(),
        metadata: vec![],
    }]);
    ch.sign_own(&pki, &org, t0, 7, &signer).unwrap();
    assert_eq!(ch.own.as_ref().unwrap().envelope_bytes(), expected);
}

/// A node of the in-memory network: its identity, registry and view of the others.
struct Node {
    me: Peer,
    reg: Channels,
    view: View,
}

/// Peers exchanging channel messages through a queue, in virtual time.
struct Net {
    nodes: Vec<Node>,
    now: Instant,
    queue: VecDeque<(usize, PkiId, Envelope)>,
    /// Every delivery: (sender index, receiver index, message).
    log: Vec<(usize, usize, SignedGossipMessage)>,
}

impl Net {
    fn new(peers: Vec<Peer>, t0: Instant) -> Net {
        let refs: Vec<&Peer> = peers.iter().collect();
        let nodes = peers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let others: Vec<&Peer> = refs.iter().copied().filter(|q| q.pki != p.pki).collect();
                Node {
                    me: p.clone(),
                    reg: registry(p, &others, t0, i as u64 + 1),
                    view: View::of(&others, t0),
                }
            })
            .collect();
        Net {
            nodes,
            now: t0,
            queue: VecDeque::new(),
            log: Vec::new(),
        }
    }

    fn input(&mut self, i: usize, input: Input) -> Result<(), ChannelError> {
        let n = &mut self.nodes[i];
        let out = n.reg.handle(self.now, &n.view, input)?;
        self.enqueue(i, out);
        self.flush();
        Ok(())
    }

    fn join(&mut self, i: usize, ch: &str, orgs: &[&str]) {
        let n = &mut self.nodes[i];
        let out = join(&mut n.reg, &n.me, self.now, &n.view, ch, 1, orgs);
        self.enqueue(i, out);
        self.flush();
    }

    fn enqueue(&mut self, from: usize, out: Vec<Output>) {
        for o in out {
            if let Output::Send { to, envelope } = o {
                self.queue.push_back((from, to.pki_id, envelope));
            }
        }
    }

    fn flush(&mut self) {
        while let Some((from, to, env)) = self.queue.pop_front() {
            let Some(j) = self.nodes.iter().position(|n| n.me.pki == to) else {
                continue;
            };
            let message = SignedGossipMessage::from_envelope(env).unwrap();
            self.log.push((from, j, message.clone()));
            let sender = self.nodes[from].me.clone();
            let n = &mut self.nodes[j];
            let out = n
                .reg
                .handle(self.now, &n.view, recv(&sender, message))
                .unwrap();
            self.enqueue(j, out);
        }
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now += Duration::from_millis(500);
            for i in 0..self.nodes.len() {
                let n = &mut self.nodes[i];
                let out = n.reg.handle(self.now, &n.view, Input::Tick).unwrap();
                self.enqueue(i, out);
            }
            self.flush();
        }
    }

    fn peers_of(&self, i: usize, ch: &str) -> Vec<PkiId> {
        let n = &self.nodes[i];
        n.reg
            .peers_of_channel(&n.view, ch)
            .into_iter()
            .map(|p| p.pki_id)
            .collect()
    }
}

/// The StateInfo envelopes a message carries (pushed, or in a snapshot).
fn carried_state_infos(sm: &SignedGossipMessage) -> Vec<crate::proto::gossip::StateInfo> {
    match &sm.msg.content {
        Some(Content::StateInfo(si)) => vec![si.clone()],
        Some(Content::StateSnapshot(s)) => s
            .elements
            .iter()
            .filter_map(|e| {
                match SignedGossipMessage::from_envelope(e.clone())
                    .ok()?
                    .msg
                    .content
                {
                    Some(Content::StateInfo(si)) => Some(si),
                    _ => None,
                }
            })
            .collect(),
        _ => vec![],
    }
}

#[test]
fn leave_publishes_left_channel_and_empties_peers_of_channel() {
    let t0 = Instant::now();
    let peers = vec![
        peer("Org1MSP", 0, true),
        peer("Org1MSP", 1, true),
        peer("Org1MSP", 2, false),
    ];
    let mut net = Net::new(peers, t0);
    for i in 0..3 {
        net.join(i, "ch", &["Org1MSP"]);
    }
    net.run_for(Duration::from_secs(10));
    for i in 0..3 {
        assert_eq!(net.peers_of(i, "ch").len(), 2, "node {i} sees the others");
    }
    let leaver = net.nodes[2].me.pki.clone();
    net.input(
        2,
        Input::Leave {
            channel: "ch".into(),
        },
    )
    .unwrap();
    assert!(net.nodes[2].reg.has_left("ch"));
    assert!(net.peers_of(2, "ch").is_empty(), "after leave, no peers");
    let own = net.nodes[2].reg.own_state_info("ch").unwrap().clone();
    let Some(Content::StateInfo(si)) = own.msg.content else {
        panic!()
    };
    assert!(si.properties.unwrap().left_channel);
    assert!(matches!(
        net.input(
            2,
            Input::UpdateLedgerHeight {
                channel: "ch".into(),
                height: 2
            }
        ),
        Err(ChannelError::LeftChannel(_))
    ));
    // Leaving twice is harmless.
    net.input(
        2,
        Input::Leave {
            channel: "ch".into(),
        },
    )
    .unwrap();
    assert_eq!(net.nodes[2].reg.counters().left, 1);

    net.run_for(Duration::from_secs(10));
    for i in 0..2 {
        let seen = net.peers_of(i, "ch");
        assert_eq!(seen.len(), 1, "node {i}");
        assert!(!seen.contains(&leaver), "node {i} sees the leaver gone");
        let held = net.nodes[i].reg.state_info("ch", &leaver).unwrap();
        assert!(held.fields.properties.left_channel);
    }
    assert!(net.peers_of(2, "ch").is_empty());
    assert_eq!(net.nodes[2].reg.counters().pull_req_sent, {
        // No pulling after leave: the count stays what it was at leave time.
        net.run_for(Duration::from_secs(8));
        net.nodes[2].reg.counters().pull_req_sent
    });
}

#[test]
fn data_isolation_between_two_channels() {
    // Channel A = {Org1, Org2}, channel B = {Org1, Org3}; two peers per org, one of each
    // org without an external endpoint.
    let t0 = Instant::now();
    let mut peers = Vec::new();
    for org in ["Org1MSP", "Org2MSP", "Org3MSP"] {
        peers.push(peer(org, 0, true));
        peers.push(peer(org, 1, false));
    }
    let mut net = Net::new(peers, t0);
    for i in 0..6 {
        match net.nodes[i].me.org.as_str() {
            "Org1MSP" => {
                net.join(i, "A", &["Org1MSP", "Org2MSP"]);
                net.join(i, "B", &["Org1MSP", "Org3MSP"]);
            }
            "Org2MSP" => net.join(i, "A", &["Org1MSP", "Org2MSP"]),
            _ => net.join(i, "B", &["Org1MSP", "Org3MSP"]),
        }
    }
    net.run_for(Duration::from_secs(30));

    let channel_of = |si: &crate::proto::gossip::StateInfo| {
        let pki = PkiId(si.pki_id.clone());
        ["A", "B"]
            .into_iter()
            .find(|c| channel_mac(&pki, c.as_bytes()) == si.channel_mac)
            .unwrap()
    };
    let mut carried = 0;
    let orgs_of = |ch: &str| match ch {
        "A" => ["Org1MSP", "Org2MSP"],
        _ => ["Org1MSP", "Org3MSP"],
    };
    let mut pull_reqs = 0;
    for (from, j, sm) in &net.log {
        let org = net.nodes[*j].me.org.as_str();
        for si in carried_state_infos(sm) {
            carried += 1;
            let ch = channel_of(&si);
            assert!(
                !(ch == "A" && org == "Org3MSP" || ch == "B" && org == "Org2MSP"),
                "StateInfo of {ch} reached a peer of {org}"
            );
        }
        if let Some(Content::StateInfoPullReq(req)) = &sm.msg.content {
            // Pull requests go to channel members only.
            pull_reqs += 1;
            let requester = &net.nodes[*from].me.pki;
            let ch = ["A", "B"]
                .into_iter()
                .find(|c| channel_mac(requester, c.as_bytes()) == req.channel_mac)
                .unwrap();
            assert!(orgs_of(ch).contains(&org), "pull request of {ch} to {org}");
        }
        if let Some(Content::StateSnapshot(_)) = &sm.msg.content {
            let ch = std::str::from_utf8(&sm.msg.channel).unwrap();
            assert!(orgs_of(ch).contains(&org), "snapshot of {ch} to {org}");
        }
    }
    assert!(carried > 0 && pull_reqs > 0);

    // Everyone sees the channel's other peers; Org1 peers see both channels.
    let pk = |i: usize| net.nodes[i].me.pki.clone();
    let mut a = net.peers_of(0, "A");
    a.sort();
    let mut want: Vec<PkiId> = vec![pk(1), pk(2), pk(3)];
    want.sort();
    // The Org2 peer without an external endpoint keeps its StateInfo in Org2.
    want.retain(|p| *p != pk(3));
    assert_eq!(a, want);
    let b = net.peers_of(0, "B");
    assert!(b.contains(&pk(1)) && b.contains(&pk(4)) && !b.contains(&pk(2)));
    assert!(net.peers_of(2, "A").contains(&pk(0)));
    assert!(net.peers_of(2, "A").contains(&pk(3)));
    assert!(net.peers_of(2, "B").is_empty());
    for i in 0..6 {
        let c = net.nodes[i].reg.counters();
        assert_eq!(c.state_info_bad_signature, 0, "node {i}");
        assert_eq!(c.sender_not_in_channel, 0, "node {i}");
    }
}

fn targets(out: &[Output]) -> Vec<PkiId> {
    let mut t: Vec<PkiId> = sends(out).into_iter().map(|(to, _)| to).collect();
    t.sort();
    t
}

fn sorted(mut v: Vec<PkiId>) -> Vec<PkiId> {
    v.sort();
    v
}

#[test]
fn acceptance_rules_count_each_rejection() {
    let t0 = Instant::now();
    let me = peer("Org1MSP", 0, true);
    let o1 = peer("Org1MSP", 1, true);
    let o2 = peer("Org2MSP", 2, true);
    let o3 = peer("Org3MSP", 3, true);
    let stranger = peer("Org2MSP", 9, true);
    let view = View::of(&[&o1, &o2, &o3, &stranger], t0);
    let mut r = registry(&me, &[&o1, &o2, &o3], t0, 1);
    join(&mut r, &me, t0, &view, "ch", 1, &["Org1MSP", "Org2MSP"]);
    let mut feed =
        |from: &Peer, sm: SignedGossipMessage| r.handle(t0, &view, recv(from, sm)).unwrap();

    // Accepted and forwarded to channel members (o2 has an external endpoint), never to
    // the sender, which is also the originator here (o3's org is not in the channel).
    let out = feed(&o2, signed_si(&o2, "ch", 10, 5, 3, false));
    assert_eq!(
        targets(&out),
        sorted(vec![o1.pki.clone(), stranger.pki.clone()])
    );
    // Duplicate and older: stale, not forwarded.
    assert!(feed(&o2, signed_si(&o2, "ch", 10, 5, 3, false)).is_empty());
    assert!(feed(&o2, signed_si(&o2, "ch", 10, 4, 3, false)).is_empty());
    // Sender of an org outside the channel.
    feed(&o3, signed_si(&o2, "ch", 10, 6, 3, false));
    // Originator of an org outside the channel.
    feed(&o2, signed_si(&o3, "ch", 10, 1, 3, false));
    // Originator unknown to the identity mapper.
    feed(&o2, signed_si(&stranger, "ch", 10, 1, 3, false));
    // Signed by someone else.
    let mut forged = signed_si(&o2, "ch", 10, 7, 3, false);
    forged.envelope.signature = o1.crypto.sign(&forged.envelope.payload).unwrap();
    feed(&o2, forged);
    // MAC of a channel we are not in, from another org.
    feed(&o2, signed_si(&o2, "other", 10, 8, 3, false));
    // Malformed: no timestamp, unsigned, wrong tag.
    let mut no_ts = signed_si(&o2, "ch", 10, 9, 3, false).msg;
    if let Some(Content::StateInfo(si)) = &mut no_ts.content {
        si.timestamp = None;
    }
    feed(
        &o2,
        SignedGossipMessage::sign(no_ts, |b| o2.crypto.sign(b)).unwrap(),
    );
    feed(
        &o2,
        SignedGossipMessage::unsigned(signed_si(&o2, "ch", 10, 9, 3, false).msg),
    );
    let mut bad_tag = signed_si(&o2, "ch", 10, 9, 3, false).msg;
    bad_tag.tag = crate::message::Tag::Empty as i32;
    feed(
        &o2,
        SignedGossipMessage::sign(bad_tag, |b| o2.crypto.sign(b)).unwrap(),
    );
    // Our own StateInfo coming back.
    feed(&o1, signed_si(&me, "ch", 10, 99, 3, false));
    // Something else entirely.
    feed(
        &o2,
        SignedGossipMessage::unsigned(crate::message::empty_msg()),
    );

    let c = r.counters();
    assert_eq!(c.state_info_accepted, 1);
    assert_eq!(c.state_info_forwarded, 2);
    assert_eq!(c.state_info_stale, 2);
    assert_eq!(c.sender_not_in_channel, 1);
    assert_eq!(c.state_info_org_not_in_channel, 1);
    assert_eq!(c.state_info_unknown_org, 1);
    assert_eq!(c.state_info_bad_signature, 1);
    assert_eq!(c.state_info_unknown_channel, 1);
    assert_eq!(c.state_info_malformed, 3);
    assert_eq!(c.state_info_about_self, 1);
    assert_eq!(c.not_channel_state, 1);
    // Only the good one is held, with its height.
    let held = r.state_info("ch", &o2.pki).unwrap();
    assert_eq!(held.fields.timestamp.seq_num, 5);
    assert!(r.state_info("ch", &o3.pki).is_none());
    assert!(r.state_info("ch", &stranger.pki).is_none());
    let seen = r.peers_of_channel(&view, "ch");
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (
            seen[0].pki_id.clone(),
            seen[0].org.as_str(),
            seen[0].ledger_height
        ),
        (o2.pki.clone(), "Org2MSP", 3)
    );
    assert_eq!(seen[0].endpoint, o2.endpoint);

    // After leaving, nothing is accepted.
    r.handle(
        t0,
        &view,
        Input::Leave {
            channel: "ch".into(),
        },
    )
    .unwrap();
    r.handle(t0, &view, recv(&o2, signed_si(&o2, "ch", 11, 1, 3, false)))
        .unwrap();
    assert_eq!(r.counters().after_leave, 1);
}

#[test]
fn forwarding_follows_the_originator_endpoint() {
    let t0 = Instant::now();
    let me = peer("Org1MSP", 0, true);
    let o1a = peer("Org1MSP", 1, true);
    let o1b = peer("Org1MSP", 2, false);
    let o2a = peer("Org2MSP", 3, true);
    let o2b = peer("Org2MSP", 4, true);
    let o2n = peer("Org2MSP", 5, false);
    let all = [&o1a, &o1b, &o2a, &o2b, &o2n];
    let view = View::of(&all, t0);
    let mut r = registry(&me, &all, t0, 7);
    join(&mut r, &me, t0, &view, "ch", 1, &["Org1MSP", "Org2MSP"]);

    // Originator without an external endpoint: our org only, not back to the sender.
    let out = r
        .handle(t0, &view, recv(&o1a, signed_si(&o2n, "ch", 1, 1, 1, false)))
        .unwrap();
    assert_eq!(targets(&out), vec![o1b.pki.clone()]);
    // With one: channel members, minus sender and originator.
    let out = r
        .handle(t0, &view, recv(&o1a, signed_si(&o2a, "ch", 1, 1, 1, false)))
        .unwrap();
    assert_eq!(
        targets(&out),
        sorted(vec![o1b.pki.clone(), o2b.pki.clone(), o2n.pki.clone()])
    );
    // Target endpoints: the internal one where known.
    for o in &out {
        let Output::Send { to, .. } = o else { panic!() };
        assert_eq!(to.endpoint, view.0[&to.pki_id].internal_endpoint);
    }

    // Our own StateInfo, without an external endpoint, stays in our org.
    let me_in = peer("Org1MSP", 6, false);
    let mut r2 = registry(&me_in, &all, t0, 7);
    let out = join(&mut r2, &me_in, t0, &view, "ch", 1, &["Org1MSP", "Org2MSP"]);
    assert_eq!(
        targets(&out),
        sorted(vec![o1a.pki.clone(), o1b.pki.clone()])
    );
}

#[test]
fn snapshot_is_filtered_for_a_foreign_requester() {
    let t0 = Instant::now();
    let o1e = peer("Org1MSP", 1, true);
    let o1n = peer("Org1MSP", 2, false);
    let o2 = peer("Org2MSP", 3, true);
    let o3 = peer("Org3MSP", 4, true);
    let all = [&o1e, &o1n, &o2, &o3];
    let view = View::of(&all, t0);
    for me_external in [true, false] {
        let me = peer("Org1MSP", 0, me_external);
        let mut r = registry(&me, &all, t0, 1);
        join(&mut r, &me, t0, &view, "ch", 1, &["Org1MSP", "Org2MSP"]);
        for p in [&o1e, &o1n, &o2] {
            r.handle(t0, &view, recv(p, signed_si(p, "ch", 1, 1, 2, false)))
                .unwrap();
        }
        let ask = |r: &mut Channels, from: &Peer| {
            let req = SignedGossipMessage::unsigned(crate::message::state_info_pull_req_msg(
                channel_mac(&from.pki, b"ch"),
            ));
            sends(&r.handle(t0, &view, recv(from, req)).unwrap())
        };
        let snap_of = |s: &[(PkiId, SignedGossipMessage)]| {
            assert_eq!(s.len(), 1);
            assert_eq!(s[0].1.msg.channel, b"ch".to_vec());
            assert_eq!(s[0].1.tag(), crate::message::Tag::ChanOrOrg);
            sorted(
                carried_state_infos(&s[0].1)
                    .into_iter()
                    .map(|si| PkiId(si.pki_id))
                    .collect(),
            )
        };
        // Foreign requester: our org's peers only with an external endpoint.
        let s = ask(&mut r, &o2);
        assert_eq!(s[0].0, o2.pki);
        let mut want = vec![o1e.pki.clone(), o2.pki.clone()];
        if me_external {
            want.push(me.pki.clone());
        }
        assert_eq!(snap_of(&s), sorted(want), "me external: {me_external}");
        // Same-org requester: everything.
        let s = ask(&mut r, &o1n);
        assert_eq!(
            snap_of(&s),
            sorted(vec![
                me.pki.clone(),
                o1e.pki.clone(),
                o1n.pki.clone(),
                o2.pki.clone()
            ])
        );
        // A requester of an org outside the channel gets nothing.
        assert!(ask(&mut r, &o3).is_empty());
        assert_eq!(r.counters().sender_not_in_channel, 1);
        // A MAC naming no channel of ours.
        let req = SignedGossipMessage::unsigned(crate::message::state_info_pull_req_msg(
            channel_mac(&o2.pki, b"other"),
        ));
        assert!(sends(&r.handle(t0, &view, recv(&o2, req)).unwrap()).is_empty());
        assert_eq!(r.counters().pull_req_unknown_channel, 1);
        assert_eq!(r.counters().snapshot_sent, 2);
    }
}

#[test]
fn snapshot_elements_are_checked_one_by_one() {
    let t0 = Instant::now();
    let me = peer("Org1MSP", 0, true);
    let o1 = peer("Org1MSP", 1, true);
    let o2 = peer("Org2MSP", 2, true);
    let gone = peer("Org2MSP", 3, true);
    let o3 = peer("Org3MSP", 4, true);
    let view = View::of(&[&o1, &o2, &o3], t0);
    let mut r = registry(&me, &[&o1, &o2, &gone, &o3], t0, 1);
    join(&mut r, &me, t0, &view, "ch", 1, &["Org1MSP", "Org2MSP"]);

    let mut forged = signed_si(&o1, "ch", 1, 1, 4, false);
    forged.envelope.signature[0] ^= 1;
    let elements = vec![
        signed_si(&o1, "ch", 1, 1, 4, false).envelope,
        signed_si(&o2, "ch", 1, 1, 9, false).envelope,
        signed_si(&gone, "ch", 1, 1, 9, false).envelope,
        signed_si(&o2, "other", 1, 2, 9, false).envelope,
        signed_si(&me, "ch", 1, u64::MAX, 9, false).envelope,
        forged.envelope,
        Envelope {
            payload: vec![0xff, 0xff].into(),
            signature: vec![1],
            secret_envelope: None,
        },
    ];
    let snap = |ch: &str, els: Vec<Envelope>| {
        SignedGossipMessage::unsigned(crate::message::state_snapshot_msg(ch.as_bytes(), els))
    };
    let out = r
        .handle(t0, &view, recv(&o2, snap("ch", elements.clone())))
        .unwrap();
    assert!(out.is_empty(), "snapshot elements are not forwarded");
    let c = r.counters();
    assert_eq!(c.state_info_accepted, 2);
    assert_eq!(c.snapshot_not_member, 1);
    assert_eq!(c.state_info_bad_mac, 1);
    assert_eq!(c.state_info_about_self, 1);
    assert_eq!(
        c.state_info_bad_signature, 0,
        "the forged copy is older than the good one"
    );
    assert_eq!(c.state_info_stale, 1);
    assert_eq!(c.state_info_malformed, 1);
    assert_eq!(r.peers_of_channel(&view, "ch").len(), 2);
    assert_eq!(
        r.state_info("ch", &me.pki)
            .unwrap()
            .fields
            .properties
            .ledger_height,
        1
    );

    // A forged newer element is refused by signature.
    let mut forged = signed_si(&o1, "ch", 1, 2, 4, false);
    forged.envelope.signature[0] ^= 1;
    r.handle(t0, &view, recv(&o2, snap("ch", vec![forged.envelope])))
        .unwrap();
    assert_eq!(r.counters().state_info_bad_signature, 1);
    // Snapshots of unknown channels and from outside the channel are dropped whole.
    r.handle(t0, &view, recv(&o2, snap("other", elements.clone())))
        .unwrap();
    assert_eq!(r.counters().snapshot_unknown_channel, 1);
    r.handle(t0, &view, recv(&o3, snap("ch", elements)))
        .unwrap();
    assert_eq!(r.counters().sender_not_in_channel, 1);
    assert_eq!(r.counters().state_info_accepted, 2);
}

#[test]
fn entries_of_peers_gone_from_membership_are_swept() {
    let t0 = Instant::now();
    let me = peer("Org1MSP", 0, true);
    let o1 = peer("Org1MSP", 1, true);
    let o2 = peer("Org1MSP", 2, true);
    let mut view = View::of(&[&o1, &o2], t0);
    let mut r = registry(&me, &[&o1, &o2], t0, 1);
    join(&mut r, &me, t0, &view, "ch", 1, &["Org1MSP"]);
    for p in [&o1, &o2] {
        r.handle(t0, &view, recv(p, signed_si(p, "ch", 1, 1, 2, false)))
            .unwrap();
    }
    assert_eq!(r.peers_of_channel(&view, "ch").len(), 2);
    // o1 dead: not a peer of the channel, but its entry is kept while it is a member.
    view.set_dead(&o1);
    assert_eq!(r.peers_of_channel(&view, "ch").len(), 1);
    // o2 purged: its entry goes at the next sweep (pullInterval × 5 = 20 s).
    view.0.remove(&o2.pki);
    r.handle(t0 + Duration::from_secs(19), &view, Input::Tick)
        .unwrap();
    assert!(r.state_info("ch", &o2.pki).is_some());
    r.handle(t0 + Duration::from_secs(20), &view, Input::Tick)
        .unwrap();
    assert!(r.state_info("ch", &o2.pki).is_none());
    assert!(r.state_info("ch", &o1.pki).is_some());
    assert!(r.state_info("ch", &me.pki).is_some());
    assert_eq!(r.counters().swept, 1);
}

#[test]
fn state_info_of_unjoined_channels_from_our_org_is_kept_and_passed_on_in_our_org() {
    let t0 = Instant::now();
    let me = peer("Org1MSP", 0, true);
    let o1a = peer("Org1MSP", 1, true);
    let o1b = peer("Org1MSP", 2, true);
    let o2 = peer("Org2MSP", 3, true);
    let all = [&o1a, &o1b, &o2];
    let view = View::of(&all, t0);
    let cfg = ChannelConfig {
        unjoined_max: 2,
        ..ChannelConfig::default()
    };
    let mut r = registry_with(cfg, &me, &all, t0, 1);
    join(&mut r, &me, t0, &view, "ch", 1, &["Org1MSP", "Org2MSP"]);

    // Same-org sender: stored and forwarded inside our org, even for a foreign originator
    // with an external endpoint.
    let out = r
        .handle(
            t0,
            &view,
            recv(&o1a, signed_si(&o2, "other", 1, 1, 1, false)),
        )
        .unwrap();
    assert_eq!(targets(&out), vec![o1b.pki.clone()]);
    assert_eq!(r.unjoined_len(), 1);
    // Again: stale.
    let out = r
        .handle(
            t0,
            &view,
            recv(&o1a, signed_si(&o2, "other", 1, 1, 1, false)),
        )
        .unwrap();
    assert!(out.is_empty());
    // Foreign sender: dropped.
    r.handle(
        t0,
        &view,
        recv(&o2, signed_si(&o2, "third", 1, 1, 1, false)),
    )
    .unwrap();
    assert_eq!(r.counters().state_info_unknown_channel, 1);
    // Bad signature: refused.
    let mut forged = signed_si(&o1b, "other", 1, 1, 1, false);
    forged.envelope.signature[3] ^= 1;
    r.handle(t0, &view, recv(&o1a, forged)).unwrap();
    assert_eq!(r.counters().state_info_bad_signature, 1);
    // Bounded.
    r.handle(
        t0,
        &view,
        recv(&o1a, signed_si(&o1b, "other", 1, 1, 1, false)),
    )
    .unwrap();
    r.handle(
        t0,
        &view,
        recv(&o1a, signed_si(&o1a, "other", 1, 1, 1, false)),
    )
    .unwrap();
    assert_eq!(r.unjoined_len(), 2);
    assert_eq!(r.counters().state_info_unjoined_full, 1);
    assert_eq!(r.counters().state_info_unjoined_stored, 2);
    // Nothing of it reaches the joined channel's view.
    assert!(r.state_info("ch", &o2.pki).is_none());
    // Expired after publishStateInfoInterval × 100.
    r.handle(t0 + Duration::from_secs(401), &view, Input::Tick)
        .unwrap();
    assert_eq!(r.unjoined_len(), 0);
}

#[test]
fn pull_requests_go_to_channel_members_on_the_request_interval() {
    let t0 = Instant::now();
    let me = peer("Org1MSP", 0, true);
    let o1 = peer("Org1MSP", 1, true);
    let o2 = peer("Org2MSP", 2, true);
    let o3 = peer("Org3MSP", 3, true);
    let view = View::of(&[&o1, &o2, &o3], t0);
    let mut r = registry(&me, &[&o1, &o2, &o3], t0, 1);
    join(&mut r, &me, t0, &view, "ch", 1, &["Org1MSP", "Org2MSP"]);
    assert!(r.next_deadline() <= t0 + Duration::from_secs(4));
    let out = r
        .handle(t0 + Duration::from_millis(3999), &view, Input::Tick)
        .unwrap();
    assert!(out.is_empty());
    let out = r
        .handle(t0 + Duration::from_secs(4), &view, Input::Tick)
        .unwrap();
    let reqs = sends(&out);
    assert_eq!(
        sorted(reqs.iter().map(|(to, _)| to.clone()).collect()),
        sorted(vec![o1.pki.clone(), o2.pki.clone()])
    );
    for (_, sm) in &reqs {
        assert!(!sm.is_signed());
        let Some(Content::StateInfoPullReq(req)) = &sm.msg.content else {
            panic!("not a pull request")
        };
        assert_eq!(req.channel_mac, channel_mac(&me.pki, b"ch"));
    }
    assert_eq!(r.counters().pull_req_sent, 2);
}

#[test]
fn ten_peers_converge_and_a_new_height_spreads_without_a_storm() {
    let t0 = Instant::now();
    let mut peers = Vec::new();
    for i in 0..10u16 {
        let org = if i < 5 { "Org1MSP" } else { "Org2MSP" };
        peers.push(peer(org, i, true));
    }
    let mut net = Net::new(peers, t0);
    for i in 0..10 {
        net.join(i, "ch", &["Org1MSP", "Org2MSP"]);
    }
    // The first StateInfo of early joiners reached peers not yet in the channel; the
    // pull rounds (every 4 s) carry them.
    net.run_for(Duration::from_secs(20));
    for i in 0..10 {
        assert_eq!(net.peers_of(i, "ch").len(), 9, "node {i}");
    }

    let source = net.nodes[0].me.pki.clone();
    let before = net.log.len();
    net.input(
        0,
        Input::UpdateLedgerHeight {
            channel: "ch".into(),
            height: 42,
        },
    )
    .unwrap();
    net.run_for(Duration::from_secs(4));
    for i in 1..10 {
        let n = &net.nodes[i];
        let p = n
            .reg
            .peers_of_channel(&n.view, "ch")
            .into_iter()
            .find(|p| p.pki_id == source)
            .unwrap();
        assert_eq!(p.ledger_height, 42, "node {i}");
    }
    // Each peer forwards the new StateInfo once, to at most propagatePeerNum peers.
    let pushes = net.log[before..]
        .iter()
        .filter(|(_, _, sm)| {
            matches!(&sm.msg.content, Some(Content::StateInfo(si)) if si.pki_id == source.0)
        })
        .count();
    assert!(pushes <= 10 * 3, "{pushes} pushes");
}

#[test]
fn reconfiguration_reverifies_stored_state_info_by_channel() {
    let t0 = Instant::now();
    let me = peer("Org1MSP", 0, true);
    let p2 = peer("Org2MSP", 1, true);
    let p3 = peer("Org1MSP", 2, true);
    let view = View::of(&[&p2, &p3], t0);
    let mut r = registry(&me, &[&p2, &p3], t0, 1);
    join(&mut r, &me, t0, &view, "ch", 1, &["Org1MSP", "Org2MSP"]);
    r.handle(t0, &view, recv(&p2, signed_si(&p2, "ch", 10, 1, 3, false)))
        .unwrap();
    r.handle(t0, &view, recv(&p3, signed_si(&p3, "ch", 10, 1, 3, false)))
        .unwrap();
    assert_eq!(r.peers_of_channel(&view, "ch").len(), 2);
    // Org2 stays a member org, but the readers policy no longer admits it: the stored
    // StateInfo is checked again with `VerifyByChannel` and dropped.
    me.crypto.set_channel_orgs("ch", vec!["Org1MSP".into()]);
    r.handle(
        t0,
        &view,
        Input::Join {
            channel: "ch".into(),
            msg: join_msg(2, &["Org1MSP", "Org2MSP"]),
        },
    )
    .unwrap();
    assert!(r.state_info("ch", &p2.pki).is_none());
    assert!(r.state_info("ch", &p3.pki).is_some());
    assert!(r.state_info("ch", &me.pki).is_some(), "own entry stays");
    assert_eq!(r.counters().revalidation_dropped, 1);
    let seen: Vec<PkiId> = r
        .peers_of_channel(&view, "ch")
        .into_iter()
        .map(|p| p.pki_id)
        .collect();
    assert_eq!(seen, vec![p3.pki.clone()]);
}

#[test]
fn remove_peer_drops_its_state_info_everywhere() {
    let t0 = Instant::now();
    let me = peer("Org1MSP", 0, true);
    let p2 = peer("Org1MSP", 1, true);
    let view = View::of(&[&p2], t0);
    let mut r = registry(&me, &[&p2], t0, 1);
    join(&mut r, &me, t0, &view, "a", 1, &["Org1MSP"]);
    join(&mut r, &me, t0, &view, "b", 1, &["Org1MSP"]);
    for ch in ["a", "b", "unjoined"] {
        r.handle(t0, &view, recv(&p2, signed_si(&p2, ch, 10, 1, 3, false)))
            .unwrap();
    }
    assert_eq!(r.unjoined_len(), 1);
    assert_eq!(r.remove_peer(&me.pki), 0, "never our own");
    assert_eq!(r.remove_peer(&p2.pki), 3);
    assert!(r.state_info("a", &p2.pki).is_none());
    assert!(r.state_info("b", &p2.pki).is_none());
    assert_eq!(r.unjoined_len(), 0);
    assert!(r.peers_of_channel(&view, "a").is_empty());
    assert!(r.state_info("a", &me.pki).is_some());
}

#[test]
fn rejoin_after_leave_works_again_and_is_seen() {
    let t0 = Instant::now();
    let peers = vec![
        peer("Org1MSP", 0, true),
        peer("Org1MSP", 1, true),
        peer("Org1MSP", 2, true),
    ];
    let mut net = Net::new(peers, t0);
    for i in 0..3 {
        net.join(i, "ch", &["Org1MSP"]);
    }
    net.run_for(Duration::from_secs(10));
    let leaver = net.nodes[2].me.pki.clone();
    net.input(
        2,
        Input::Leave {
            channel: "ch".into(),
        },
    )
    .unwrap();
    net.run_for(Duration::from_secs(10));
    assert!(!net.peers_of(0, "ch").contains(&leaver));

    // A stale config does not rejoin.
    let n = &mut net.nodes[2];
    join(&mut n.reg, &n.me, net.now, &n.view, "ch", 0, &["Org1MSP"]);
    assert!(net.nodes[2].reg.has_left("ch"));

    net.join(2, "ch", &["Org1MSP"]);
    assert!(!net.nodes[2].reg.has_left("ch"));
    net.run_for(Duration::from_secs(10));
    for i in 0..3 {
        assert_eq!(net.peers_of(i, "ch").len(), 2, "node {i} sees the others");
    }
    let own = net.nodes[2].reg.own_state_info("ch").unwrap().clone();
    let Some(Content::StateInfo(si)) = own.msg.content else {
        panic!()
    };
    assert!(!si.properties.unwrap().left_channel);
    net.input(
        2,
        Input::UpdateLedgerHeight {
            channel: "ch".into(),
            height: 5,
        },
    )
    .unwrap();
    assert_eq!(net.nodes[2].reg.counters().joined, 2);
}
